//! The reporter thread: turns candidates into [`Finding`]s (thread names, resolved
//! stacks, fingerprints), dedups by fingerprint, applies the rate limit, sends repeat
//! summaries once per interval, and isolates sinks from each other.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{
    AtomicU32,
    Ordering::{Relaxed, Release},
};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Msg, QUEUED, REPORTED, SINK_ERRORS, seen};
use crate::finding::{Finding, Frame};
use crate::sink::{Sink, Stderr};

/// The process whose reporter thread runs, 0 before one started (a forked child
/// inherits the value, not the thread).
static STARTED_PID: AtomicU32 = AtomicU32::new(0);

/// Whether this process's reporter thread runs. A `getpid` call.
pub(crate) fn started() -> bool {
    STARTED_PID.load(Relaxed) == std::process::id()
}

pub(crate) fn spawn(
    rx: Receiver<Msg>,
    initial: Option<super::ReporterSettings>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("mapguard-reporter".into())
        .spawn(move || {
            let _busy = crate::thread::busy();
            let mut r = Reporter::new();
            if let Some(settings) = initial {
                drop_sinks(r.apply(settings));
            }
            r.run(rx)
        })?;
    STARTED_PID.store(std::process::id(), Relaxed);
    Ok(())
}

/// Counts a sink that failed outside the reporter's own calls (see
/// [`super::drop_sinks`]).
pub(crate) fn count_sink_error() {
    SINK_ERRORS.fetch_add(1, Relaxed);
}

fn drop_sinks(old: Vec<SinkSlot>) {
    super::drop_sinks(old.into_iter().map(|slot| slot.sink));
}

/// Unique findings remembered for dedup and summaries; past this the oldest go.
const KNOWN_MAX: usize = 4096;
/// Unique stacks whose resolved frames are cached.
const STACKS_MAX: usize = 1024;
/// How long after its last stack resolution the reporter gives back the debug info
/// it loaded to resolve stacks (the backtrace crate's symbol cache: about 7 of the
/// 13 MiB a build with line tables grew by over its first 400 findings here). An
/// incident's findings come in bursts; the next incident's first stack loads the
/// debug info again, on this thread.
const SYMBOLS_IDLE: Duration = Duration::from_secs(30);
/// Findings waiting for the rate limit, at most.
pub(super) const PENDING_MAX: usize = 4096;
const MAX_FRAMES: usize = 64;

struct SinkSlot {
    sink: Box<dyn Sink>,
    complained: bool,
}

struct Known {
    finding: Finding,
    /// Occurrences already told to the sinks.
    told: u64,
    /// Occurrences counted here rather than in the dedup table: each candidate that
    /// found the table full stands for `seen::OVERFLOW_SAMPLE` (an estimate), and
    /// aliases past `ALIASES_MAX` bring their counts.
    extra: u64,
    local_key: u64,
    /// Other dedup keys with the same fingerprint: the same call sites compiled
    /// into several places (generic or inlined code), each counted in its own slot.
    aliases: Vec<u64>,
    /// Handed to the sinks' `report` (until then it waits for the rate limit and
    /// summaries skip it).
    released: bool,
}

impl Known {
    fn total(&self) -> u64 {
        (seen::count(self.local_key)
            + self.aliases.iter().map(|a| seen::count(*a)).sum::<u64>()
            + self.extra)
            .max(1)
    }
}

/// Aliases kept per finding; past this, an alias's occurrences so far are added to
/// `extra` and its later ones are counted in `stats()` only.
const ALIASES_MAX: usize = 16;

struct Reporter {
    sinks: Vec<SinkSlot>,
    known: HashMap<String, Known>,
    order: VecDeque<String>,
    stacks: HashMap<u64, Arc<Vec<Frame>>>,
    /// Findings waiting for the rate limit, with where each was made.
    pending: VecDeque<(Finding, crate::sink::Origin)>,
    interval: Duration,
    next_summary: Instant,
    rate: f64,
    tokens: f64,
    refilled: Instant,
    /// A panic outside the sinks was caught (and said) once.
    recovered: bool,
    /// When a stack was last resolved, if the debug info has not been given back
    /// since ([`SYMBOLS_IDLE`]).
    symbols_used: Option<Instant>,
}

impl Reporter {
    fn new() -> Self {
        Reporter {
            sinks: vec![SinkSlot {
                sink: Box::new(Stderr::new()),
                complained: false,
            }],
            known: HashMap::new(),
            order: VecDeque::new(),
            stacks: HashMap::new(),
            pending: VecDeque::new(),
            recovered: false,
            interval: Duration::from_secs(10),
            next_summary: Instant::now() + Duration::from_secs(10),
            rate: 100.0,
            tokens: 100.0,
            refilled: Instant::now(),
            symbols_used: None,
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let wait = self
                .next_summary
                .saturating_duration_since(Instant::now())
                .min(if self.pending.is_empty() {
                    Duration::from_secs(3600)
                } else {
                    Duration::from_millis(10)
                })
                .min(symbols_wait(self.symbols_used, Instant::now()));
            let msg = match rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Sinks run under `catch_unwind` each; this is the net under the rest,
            // so that no panic ends the thread and with it every later report.
            let round = catch_unwind(AssertUnwindSafe(|| {
                if let Some(msg) = msg {
                    self.handle(msg);
                    // Take whatever else is queued before flushing the sinks.
                    while let Ok(msg) = rx.try_recv() {
                        self.handle(msg);
                    }
                }
                self.release_pending(false);
                if Instant::now() >= self.next_summary {
                    self.summarize();
                    self.next_summary = Instant::now() + self.interval;
                }
                // After the summary too, so that its lines do not wait in a sink's
                // buffer for the next round.
                self.each_sink(|s| s.flush());
                self.release_symbols_if_idle(Instant::now());
            }));
            if round.is_err() && !self.recovered {
                self.recovered = true;
                super::say(format_args!(
                    "the reporter recovered from a panic and goes on (said once)"
                ));
            }
        }
    }

    /// Gives back the debug info loaded to resolve stacks once none has been
    /// resolved for [`SYMBOLS_IDLE`]. Only where a capture does not wait for the
    /// backtrace crate's lock ([`crate::detect::LOCK_FREE_CAPTURE`]): elsewhere the
    /// next load would make the user's captures wait for it again.
    fn release_symbols_if_idle(&mut self, now: Instant) {
        if symbols_idle(self.symbols_used, now) {
            self.symbols_used = None;
            if crate::detect::LOCK_FREE_CAPTURE {
                backtrace::clear_symbol_cache();
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            #[cfg(not(feature = "compile-out"))]
            Msg::Candidate(c) => {
                self.candidate(*c);
                // Counted as queued until it is in the backlog (or known, or
                // dropped), so that `room()` never sees a place that is not free.
                // Release: a thread that sees this decrement (`stack_room`, with
                // Acquire) sees the backlog's new length too.
                QUEUED.fetch_sub(1, Release);
            }
            Msg::Flush(ack) => {
                self.release_pending(true);
                self.summarize();
                self.each_sink(|s| s.flush());
                let _ = ack.send(());
            }
            Msg::Configure(settings, ack) => {
                self.release_pending(true);
                self.summarize();
                self.each_sink(|s| s.flush());
                let old = self.apply(settings);
                // The installer waits for this after releasing the install lock, so
                // an old sink's `Drop` may call `set_enabled` or `install`; `install`
                // returns once the old sinks are gone.
                drop_sinks(old);
                let _ = ack.send(());
            }
        }
    }

    /// Takes new settings; returns the sinks they replace, for [`drop_sinks`].
    #[must_use = "the replaced sinks go to drop_sinks"]
    fn apply(&mut self, settings: super::ReporterSettings) -> Vec<SinkSlot> {
        let new: Vec<SinkSlot> = settings
            .sinks
            .into_iter()
            .map(|sink| SinkSlot {
                sink,
                complained: false,
            })
            .collect();
        self.interval = settings.summary_interval;
        self.next_summary = Instant::now() + self.interval;
        self.rate = settings.rate_limit as f64;
        self.tokens = self.tokens.min(self.rate);
        std::mem::replace(&mut self.sinks, new)
    }

    #[cfg(not(feature = "compile-out"))]
    fn candidate(&mut self, mut c: crate::detect::Candidate) {
        let origin = std::mem::take(&mut c.origin);
        // Stacks are resolved (the costly part) only once the finding is known to be
        // new and kept: the fingerprint does not depend on them.
        let mut finding = build(&c);
        if let Some(k) = self.known.get_mut(&finding.fingerprint) {
            // Same kind, map and sites as a finding already reported (another copy
            // of a call site's code, or the dedup table was full): a repeat.
            let in_table = seen::count(c.local_key);
            if in_table == 0 {
                // Not in the dedup table (it was full): a sample standing for
                // OVERFLOW_SAMPLE occurrences.
                k.extra += seen::OVERFLOW_SAMPLE;
            } else if k.local_key != c.local_key && !k.aliases.contains(&c.local_key) {
                if k.aliases.len() < ALIASES_MAX {
                    // Its slot keeps counting on the user's thread, like the first.
                    k.aliases.push(c.local_key);
                } else {
                    // Its occurrences so far go to this finding; its slot stays, so
                    // later ones are only counted (in `stats()`, not in this
                    // finding's summaries): freeing it would make every later
                    // occurrence new again, each capturing a stack.
                    k.extra += in_table;
                }
            }
            return;
        }
        if self.pending.len() >= PENDING_MAX {
            // Not reported yet and no room to hold it (the user's threads check for
            // room first, so this is a race for the last places): it waits in the
            // dedup table, counted, for a later occurrence that finds room.
            super::DROPPED.fetch_add(1, Relaxed);
            seen::defer(c.local_key);
            return;
        }
        for (access, raw) in finding.accesses.iter_mut().zip(&c.accesses) {
            if let Some(s) = &raw.stack {
                access.backtrace = Some(resolve(&s.trace, &mut self.stacks).as_ref().clone());
                self.symbols_used = Some(Instant::now());
            }
        }
        // Not in the dedup table: it found the table full, a sample (see `seen`).
        let in_table = seen::count(c.local_key);
        let extra = if in_table == 0 {
            seen::OVERFLOW_SAMPLE
        } else {
            0
        };
        finding.occurrences = in_table + extra;
        if self.known.len() >= KNOWN_MAX {
            if let Some(old) = self.order.pop_front() {
                self.known.remove(&old);
            }
        }
        self.order.push_back(finding.fingerprint.clone());
        self.known.insert(
            finding.fingerprint.clone(),
            Known {
                finding: finding.clone(),
                told: finding.occurrences,
                extra,
                local_key: c.local_key,
                aliases: Vec::new(),
                released: false,
            },
        );
        self.pending.push_back((finding, origin));
        super::PENDING_LEN.store(self.pending.len(), Relaxed);
    }

    /// Reports held-back findings as the rate limit allows (all of them on flush).
    fn release_pending(&mut self, all: bool) {
        let now = Instant::now();
        let dt = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        while !self.pending.is_empty() {
            if !all && self.tokens < 1.0 {
                break;
            }
            self.tokens = (self.tokens - 1.0).max(0.0);
            let Some((mut f, origin)) = self.pending.pop_front() else {
                break;
            };
            if let Some(k) = self.known.get_mut(&f.fingerprint) {
                let total = k.total();
                k.told = total;
                k.finding.occurrences = total;
                k.released = true;
                f.occurrences = total;
            }
            super::PENDING_LEN.store(self.pending.len(), Relaxed);
            REPORTED.fetch_add(1, Relaxed);
            // The sinks see the span the finding was made in as current (feature otel).
            let _entered = origin.enter();
            self.each_sink(|s| s.report(&f));
        }
    }

    /// Tells the sinks about occurrences counted since the last summary.
    fn summarize(&mut self) {
        let mut repeats = Vec::new();
        for k in self.known.values_mut().filter(|k| k.released) {
            let total = k.total();
            if total > k.told {
                let new = total - k.told;
                k.told = total;
                k.finding.occurrences = total;
                repeats.push((k.finding.clone(), new));
            }
        }
        repeats.sort_by(|a, b| a.0.fingerprint.cmp(&b.0.fingerprint));
        for (f, new) in repeats {
            self.each_sink(|s| s.repeats(&f, new));
        }
    }

    /// Calls every sink; a sink that errors or panics is reported once on stderr and
    /// the others go on.
    fn each_sink(&mut self, mut call: impl FnMut(&mut dyn Sink) -> std::io::Result<()>) {
        for slot in &mut self.sinks {
            let outcome = catch_unwind(AssertUnwindSafe(|| call(slot.sink.as_mut())));
            let problem = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => format!("returned an error: {e}"),
                Err(p) => format!(
                    "panicked: {}",
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".into())
                ),
            };
            SINK_ERRORS.fetch_add(1, Relaxed);
            if !slot.complained {
                slot.complained = true;
                let name = catch_unwind(AssertUnwindSafe(|| slot.sink.name().to_owned()))
                    .unwrap_or_else(|_| "(name panicked)".into());
                super::say(format_args!(
                    "sink {name} {problem}; the other sinks go on (said once)"
                ));
            }
        }
    }
}

/// A finding from a candidate, with stacks unresolved (`backtrace: null`): what a
/// reaction callback receives on the user's thread.
#[cfg(not(feature = "compile-out"))]
pub(crate) fn finding_now(c: &crate::detect::Candidate) -> Finding {
    build(c)
}

#[cfg(not(feature = "compile-out"))]
/// The finding a candidate describes, without stacks (`backtrace: None`).
fn build(c: &crate::detect::Candidate) -> Finding {
    use crate::finding::{Access, Site, fingerprint};
    let accesses: Vec<Access> = c
        .accesses
        .iter()
        .map(|a| Access {
            thread_id: a.who.bits(),
            thread_name: crate::thread::name_of(a.who),
            op: a.op,
            site: a.site.map(Site::from).unwrap_or(Site {
                file: "<unknown>".into(),
                line: 0,
                column: 0,
            }),
            function: a.function.map(|f| f.name().to_owned()),
            time_unix_ns: c.epoch.unix_ns(a.ms),
            backtrace: None,
            backtrace_skipped: a.stack_skipped,
        })
        .collect();
    // An access made in a `#[guarded]` function is placed by that function, so its
    // findings group by function rather than by line.
    let places: Vec<String> = accesses
        .iter()
        .map(|a| match &a.function {
            Some(f) => format!("fn {f}"),
            None => a.site.to_string(),
        })
        .collect();
    Finding {
        kind: c.kind,
        map: c.map.to_string(),
        scope: c.scope,
        key_hash: (c.key != 0).then(|| format!("{:016x}", crate::config::shown_key_hash(c.key))),
        same_key: c.same_key,
        window_ms: c.window_ms,
        gap_ms: c.gap_ms,
        fingerprint: fingerprint(c.kind, &c.map, &places),
        accesses,
        occurrences: 1,
        hint: c.kind.hint().to_owned(),
    }
}

/// Whether the debug info last used at `used` has been idle for [`SYMBOLS_IDLE`].
fn symbols_idle(used: Option<Instant>, now: Instant) -> bool {
    used.is_some_and(|t| now.saturating_duration_since(t) >= SYMBOLS_IDLE)
}

/// How long the reporter may sleep before the debug info last used at `used` is
/// due to be given back (an hour when none is loaded; the loop's other bounds are
/// shorter).
fn symbols_wait(used: Option<Instant>, now: Instant) -> Duration {
    used.map_or(Duration::from_secs(3600), |t| {
        (t + SYMBOLS_IDLE).saturating_duration_since(now)
    })
}

/// Resolves a stack once per unique list of frame addresses.
#[cfg(not(feature = "compile-out"))]
fn resolve(
    trace: &backtrace::Backtrace,
    cache: &mut HashMap<u64, Arc<Vec<Frame>>>,
) -> Arc<Vec<Frame>> {
    let ips: Vec<u64> = trace
        .frames()
        .iter()
        .map(|f| f.ip() as usize as u64)
        .collect();
    let id = ips.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, ip| {
        (h ^ ip).wrapping_mul(0x0000_0100_0000_01b3)
    });
    if let Some(frames) = cache.get(&id) {
        return frames.clone();
    }
    // Frame by frame (each takes the backtrace crate's lock for itself), innermost
    // first, and no further than needed: past the thread's Rust entry
    // (`__rust_begin_short_backtrace`, where Rust's own short backtraces stop) are
    // the runtime's and the C library's frames, and resolving those would load the
    // C library's debug info where the system has it (+31 MiB here); past the
    // frames kept, nothing is shown.
    let mut frames = Vec::new();
    let mut first_app = None;
    for frame in trace.frames() {
        let mut entry = false;
        backtrace::resolve(frame.ip(), |sym| {
            let function = sym.name().map(|n| format!("{n:#}"));
            let file = sym.filename().map(|p| p.display().to_string());
            let in_app =
                function.as_deref().is_some_and(in_app) && file.as_deref().is_none_or(file_in_app);
            entry |= function
                .as_deref()
                .is_some_and(|f| f.contains("__rust_begin_short_backtrace"));
            if in_app && first_app.is_none() {
                first_app = Some(frames.len());
            }
            frames.push(Frame {
                function,
                file,
                line: sym.lineno(),
                in_app,
            });
        });
        if entry || first_app.is_some_and(|start| frames.len() >= start + MAX_FRAMES) {
            break;
        }
    }
    // Drop the capture machinery at the top: everything before the first app frame
    // is backtrace, mapguard and dashmap.
    let start = first_app.unwrap_or(0);
    let frames: Vec<Frame> = frames.into_iter().skip(start).take(MAX_FRAMES).collect();
    let frames = Arc::new(frames);
    if cache.len() >= STACKS_MAX {
        cache.clear();
    }
    cache.insert(id, frames.clone());
    frames
}

/// False for source files of mapguard itself, of dashmap and backtrace from the
/// registry, and of the standard library. Needed beside [`in_app`] because with
/// line tables only, inlined frames carry short names without their module path.
pub(crate) fn file_in_app(file: &str) -> bool {
    const OWN_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    let registry =
        |krate: &str| file.contains("/.cargo/registry/") && file.contains(&format!("/{krate}-"));
    !(file.starts_with(OWN_SRC)
        || file.starts_with("/rustc/")
        || file.contains("/library/std/src/")
        || file.contains("/library/core/src/")
        || registry("dashmap")
        || registry("backtrace")
        || registry("mapguard"))
}

/// False for frames of mapguard, dashmap, backtrace, the standard library and the
/// runtime's entry points.
pub(crate) fn in_app(function: &str) -> bool {
    const NOT_APP: [&str; 12] = [
        "mapguard::",
        "dashmap::",
        "backtrace::",
        "std::",
        "core::",
        "alloc::",
        "__rust",
        "__libc",
        "_start",
        "start_thread",
        "clone",
        "__clone",
    ];
    let f = function.trim_start_matches('<');
    !NOT_APP.iter().any(|p| f.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_info_is_given_back_after_30_idle_seconds() {
        let t = Instant::now();
        assert!(!symbols_idle(None, t), "nothing loaded");
        assert!(!symbols_idle(Some(t), t));
        assert!(!symbols_idle(
            Some(t),
            t + SYMBOLS_IDLE - Duration::from_millis(1)
        ));
        assert!(symbols_idle(Some(t), t + SYMBOLS_IDLE));
        // A clock read before the last use (another thread's `now`) is not idle.
        assert!(!symbols_idle(Some(t + Duration::from_secs(1)), t));
        // The loop wakes when it is due, and not before.
        assert_eq!(symbols_wait(Some(t), t), SYMBOLS_IDLE);
        assert_eq!(
            symbols_wait(Some(t), t + Duration::from_secs(10)),
            SYMBOLS_IDLE - Duration::from_secs(10)
        );
        assert_eq!(symbols_wait(Some(t), t + SYMBOLS_IDLE * 2), Duration::ZERO);
        assert_eq!(symbols_wait(None, t), Duration::from_secs(3600));
    }

    #[test]
    #[cfg(not(feature = "compile-out"))]
    fn a_stack_resolves_again_after_the_debug_info_is_given_back() {
        #[inline(never)]
        fn resolved_here(cache: &mut HashMap<u64, Arc<Vec<Frame>>>) -> Arc<Vec<Frame>> {
            let trace = crate::detect::capture_stack();
            resolve(&trace, cache)
        }
        let names = |frames: &[Frame]| {
            frames
                .iter()
                .filter_map(|f| f.function.clone())
                .collect::<Vec<_>>()
        };
        let mut r = Reporter::new();
        let first = resolved_here(&mut r.stacks);
        assert!(
            names(&first).iter().any(|n| n.contains("resolved_here")),
            "{first:#?}"
        );
        r.symbols_used = Some(Instant::now());
        r.release_symbols_if_idle(Instant::now() + SYMBOLS_IDLE);
        assert_eq!(r.symbols_used, None, "given back");
        // Not from the reporter's own cache of resolved stacks: resolved anew.
        r.stacks.clear();
        let again = resolved_here(&mut r.stacks);
        assert_eq!(names(&first), names(&again));
    }

    #[test]
    #[cfg(not(feature = "compile-out"))]
    fn a_stack_is_resolved_down_to_the_threads_rust_entry_only() {
        #[inline(never)]
        fn captured_here() -> backtrace::Backtrace {
            let trace = crate::detect::capture_stack();
            // Not a tail call, and code of its own: in an optimized build
            // `capture_stack` replaced this frame, then the linker folded it into
            // another test's identical function, whose name the stack showed.
            std::hint::black_box((&trace, "captured_here"));
            trace
        }
        let trace = std::thread::spawn(captured_here).join().unwrap();
        let frames = resolve(&trace, &mut HashMap::new());
        let names: Vec<&str> = frames
            .iter()
            .filter_map(|f| f.function.as_deref())
            .collect();
        // (This test's own frames are mapguard's, so none is an app frame and the
        // capture machinery stays at the top.)
        assert!(
            names.iter().any(|n| n.contains("captured_here")),
            "{names:#?}"
        );
        assert!(
            names
                .last()
                .is_some_and(|n| n.contains("__rust_begin_short_backtrace")),
            "ends at the thread's Rust entry: {names:#?}"
        );
        // The walk itself went on into the runtime and the C library.
        assert!(trace.frames().len() > frames.len(), "{names:#?}");
    }

    #[test]
    fn in_app_marks_library_frames() {
        assert!(!in_app("mapguard::detect::state::MapState::found"));
        assert!(!in_app("<dashmap::DashMap<K,V,S>>::insert"));
        assert!(!in_app("std::rt::lang_start"));
        assert!(!in_app("start_thread"));
        assert!(!in_app("clone3"));
        assert!(!in_app(
            "<alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once"
        ));
        assert!(in_app("order_service::place_order"));
        assert!(in_app("mapguard_examples::worker"));
        assert!(in_app("<myapp::Cache as mapguard::Sink>::report"));
    }

    #[test]
    fn file_in_app_marks_library_sources() {
        let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/detect/state.rs");
        assert!(!file_in_app(own));
        assert!(!file_in_app(
            "/root/.cargo/registry/src/index.crates.io-1/dashmap-6.2.1/src/lib.rs"
        ));
        assert!(!file_in_app(
            "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/thread/local.rs"
        ));
        assert!(file_in_app("examples/src/bin/order-service.rs"));
        assert!(file_in_app("/srv/app/src/main.rs"));
    }
}
