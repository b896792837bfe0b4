//! The OpenTelemetry sink (feature `otel`): findings as counters through the global
//! meter and as `mapguard.finding` log events through `tracing` or a `LoggerProvider`
//! the app hands in; and the span context a user's thread had when it made a finding.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::panic::catch_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::{Context, ContextGuard, InstrumentationScope, Key, KeyValue, global};

use super::Sink;
use crate::finding::{Access, Finding, FindingKind, Frame};

/// The event name of every log event this sink emits.
pub const EVENT_NAME: &str = "mapguard.finding";
/// The `tracing` target of the events (and the log record's target on the
/// `LoggerProvider` path): filter on it to route or silence them.
pub const TARGET: &str = "mapguard";
/// The counter of every occurrence of a finding, by kind and map.
pub const FINDINGS: &str = "mapguard.findings";
/// The counter of times a new finding was held back because the reporter had no room
/// (`stats().dropped`): it waits, counted, and a later occurrence offers it again.
pub const DROPPED: &str = "mapguard.dropped_findings";
/// The counter of occurrences that repeated a reported finding (not reported again).
pub const DUPLICATES: &str = "mapguard.duplicate_findings";

/// Reports findings to OpenTelemetry: a counter for alerting, a log event to read.
///
/// **Metrics**, through the global meter (`opentelemetry::global::meter_provider()`,
/// scope `mapguard`), taken at first use on mapguard's reporter thread and taken
/// again whenever the app installs another global provider, so an instrument is never
/// stuck on the no-op provider that is global before the app installs its own:
///
/// | instrument | unit | attributes | counts |
/// |---|---|---|---|
/// | `mapguard.findings` | `{finding}` | `mapguard.finding.kind`, `mapguard.map.name` | every occurrence, repeats that dedup kept from the log included |
/// | `mapguard.dropped_findings` | `{finding}` | none | times a new finding met a full queue or backlog at the reporter (held back, offered again by a later occurrence) |
/// | `mapguard.duplicate_findings` | `{finding}` | none | occurrences that repeated an earlier finding, reported or still waiting |
///
/// Repeats are added when the reporter summarises them (every summary interval, 10 s
/// by default, and on [`crate::flush`]); the other two counters follow
/// [`crate::stats`] after each batch.
///
/// **Events**: one log event per reported finding (not per repeat), event name
/// `mapguard.finding`, severity WARN, target `mapguard`, the one-line
/// [`Finding::summary`] as body and the attributes listed in the README ("OpenTelemetry").
/// [`Otel::new`] emits it as a `tracing` event, which the app bridges to its
/// `LoggerProvider` with `opentelemetry-appender-tracing`;
/// [`Otel::with_logger_provider`] emits it to a provider directly.
///
/// **Spans**: a thread that makes a new finding notes the OpenTelemetry span current
/// on it (the ids only, so the span's end is not delayed). While the sinks handle
/// that finding, the reporter makes a context with that span current, so the event
/// carries its trace and span id: the log-to-trace correlation OpenTelemetry
/// recommends instead of span events.
///
/// **Feedback loops**: a finding made where telemetry is suppressed (the SDK's own
/// export threads, `Context::is_current_telemetry_suppressed()`) is counted but
/// emits no event.
///
/// **Costs and blocking**: the sink runs on mapguard's reporter thread; the thread
/// that made a finding only notes its span (about 20 ns, once per new finding), so a
/// slow or unreachable collector never slows a map operation. On the reporter, a
/// report builds one log record (about 30 attributes; some 6 µs measured) and adds to
/// a counter; with the SDK's batch processors and periodic reader these only queue
/// in memory. With a `SimpleLogProcessor` the export runs on the reporter thread and
/// delays other findings (never map operations); findings that then overflow the
/// queue are counted as dropped. Each report, summary and flush also looks up the
/// global meter provider (a read lock and an `Arc` clone), and each flush reads
/// [`crate::stats`]. With the feature compiled in, each thread's first guarded call
/// registers a thread-local next to OpenTelemetry's context (so a finding made at
/// thread exit is safe), whether or not an `Otel` sink is installed.
pub struct Otel {
    events: Events,
    instruments: Option<Instruments>,
}

enum Events {
    Tracing,
    Logger(Box<dyn FnMut(&Finding) + Send>),
}

// What every Otel sink of the process (all on the reporter thread) has added to the
// dropped and duplicates counters already: `stats()` counts from the start of the
// process, a sink from its creation.
static EXPORTED_DROPPED: AtomicU64 = AtomicU64::new(0);
static EXPORTED_DUPLICATES: AtomicU64 = AtomicU64::new(0);

/// In a forked child whose dedup table was emptied (its `stats().duplicates` start
/// again from 0): the child's counters start from 0 too.
pub(crate) fn forget_exported_duplicates() {
    EXPORTED_DUPLICATES.store(0, Relaxed);
}

/// The global meter provider as `global::meter_provider` hands it out.
type GlobalProvider = dyn opentelemetry::metrics::MeterProvider + Send + Sync;

struct Instruments {
    /// The global provider these were made from. Weak: it keeps the allocation, so
    /// that a provider installed later cannot land at the same address and pass for
    /// this one, without keeping a replaced provider alive.
    provider: std::sync::Weak<GlobalProvider>,
    findings: Counter<u64>,
    dropped: Counter<u64>,
    duplicates: Counter<u64>,
}

impl std::fmt::Debug for Otel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otel")
            .field(
                "events",
                &match self.events {
                    Events::Tracing => "tracing",
                    Events::Logger(_) => "logger provider",
                },
            )
            .field("instruments_taken", &self.instruments.is_some())
            .finish()
    }
}

impl Default for Otel {
    fn default() -> Self {
        Otel::new()
    }
}

impl Otel {
    /// Events as `tracing` events (target `mapguard`), metrics through the global
    /// meter. Takes nothing from OpenTelemetry yet: construct it whenever you like.
    ///
    /// The app bridges the events with `opentelemetry-appender-tracing`; with no
    /// `tracing` subscriber they go nowhere (the counters still count).
    pub fn new() -> Self {
        Otel {
            events: Events::Tracing,
            instruments: None,
        }
    }

    /// Events emitted straight to a logger of `provider` (scope `mapguard`), not
    /// through `tracing`; metrics through the global meter as with [`Otel::new`].
    ///
    /// For apps that do not use `tracing`. Takes the logger now: it keeps the
    /// provider's pipeline alive until the sink is dropped.
    pub fn with_logger_provider<P>(provider: &P) -> Self
    where
        P: LoggerProvider,
        P::Logger: Send + 'static,
    {
        let logger = provider.logger_with_scope(scope());
        Otel {
            events: Events::Logger(Box::new(move |f| emit_to_logger(&logger, f))),
            ..Otel::new()
        }
    }

    /// The instruments, taken from the global provider now if it is not the one they
    /// were taken from.
    fn instruments(&mut self) -> &Instruments {
        let provider = global::meter_provider();
        if self
            .instruments
            .as_ref()
            .is_none_or(|i| !std::ptr::addr_eq(i.provider.as_ptr(), Arc::as_ptr(&provider)))
        {
            let meter = provider.meter_with_scope(scope());
            self.instruments = Some(Instruments::new(&meter, Arc::downgrade(&provider)));
        }
        self.instruments.as_ref().expect("just set")
    }

    /// Adds to the dropped / duplicates counters what `stats()` counted since.
    fn follow_stats(&mut self) {
        let s = crate::stats();
        let (dropped, duplicates) = (s.dropped, s.duplicates);
        let seen_dropped = EXPORTED_DROPPED.fetch_max(dropped, Relaxed);
        let seen_duplicates = EXPORTED_DUPLICATES.fetch_max(duplicates, Relaxed);
        let i = self.instruments();
        if dropped > seen_dropped {
            i.dropped.add(dropped - seen_dropped, &[]);
        }
        if duplicates > seen_duplicates {
            i.duplicates.add(duplicates - seen_duplicates, &[]);
        }
    }
}

impl Instruments {
    fn new(meter: &Meter, provider: std::sync::Weak<GlobalProvider>) -> Self {
        let i = Instruments {
            provider,
            findings: meter
                .u64_counter(FINDINGS)
                .with_unit("{finding}")
                .with_description(
                    "Concurrency misuse of shared maps found by mapguard, every occurrence; \
                     the mapguard.finding log events hold the call sites",
                )
                .build(),
            dropped: meter
                .u64_counter(DROPPED)
                .with_unit("{finding}")
                .with_description(
                    "New findings held back because mapguard's reporter had no room; \
                     each is offered again by its next occurrence",
                )
                .build(),
            duplicates: meter
                .u64_counter(DUPLICATES)
                .with_unit("{finding}")
                .with_description(
                    "Occurrences that repeated a finding mapguard already reported (counted, not logged again)",
                )
                .build(),
        };
        // Zero from the start, so these series exist before anything is dropped.
        i.dropped.add(0, &[]);
        i.duplicates.add(0, &[]);
        i
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("mapguard")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The low-cardinality attributes of the `mapguard.findings` counter.
fn metric_attributes(f: &Finding) -> [KeyValue; 2] {
    [
        KeyValue::new("mapguard.finding.kind", f.kind.name()),
        KeyValue::new("mapguard.map.name", f.map.clone()),
    ]
}

impl Sink for Otel {
    fn report(&mut self, finding: &Finding) -> io::Result<()> {
        let attrs = metric_attributes(finding);
        self.instruments().findings.add(finding.occurrences, &attrs);
        if Context::is_current_telemetry_suppressed() {
            return Ok(());
        }
        match &mut self.events {
            Events::Tracing => emit_to_tracing(finding),
            Events::Logger(emit) => emit(finding),
        }
        Ok(())
    }

    fn repeats(&mut self, finding: &Finding, new: u64) -> io::Result<()> {
        let attrs = metric_attributes(finding);
        self.instruments().findings.add(new, &attrs);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.follow_stats();
        Ok(())
    }

    fn name(&self) -> &str {
        "otel"
    }
}

// ---- the event ----------------------------------------------------------------

/// One access as the event shows it.
struct AccessView<'a> {
    thread_id: u64,
    thread_name: Option<&'a str>,
    file: &'a str,
    line: u32,
    column: u32,
    function: Option<&'a str>,
    stacktrace: Option<String>,
    op: &'static str,
}

impl<'a> AccessView<'a> {
    fn of(a: &'a Access) -> Self {
        AccessView {
            thread_id: a.thread_id,
            thread_name: a.thread_name.as_deref(),
            file: &a.site.file,
            line: a.site.line,
            column: a.site.column,
            // The declared `#[guarded]` function first; else the first app frame.
            function: a.function.as_deref().or_else(|| {
                a.backtrace
                    .as_deref()
                    .and_then(|fr| fr.iter().find(|f| f.in_app))
                    .and_then(|f| f.function.as_deref())
            }),
            stacktrace: a.backtrace.as_deref().map(stacktrace),
            op: a.op.name(),
        }
    }
}

/// The accesses of a finding by role: the one that completed it (plain names), the
/// other thread's (`mapguard.other.*`) and, for `lost_update`, the read the stale
/// write was based on (`mapguard.read.*`).
struct Roles<'a> {
    last: Option<AccessView<'a>>,
    other: Option<AccessView<'a>>,
    read: Option<AccessView<'a>>,
}

impl<'a> Roles<'a> {
    fn of(f: &'a Finding) -> Self {
        let n = f.accesses.len();
        let at = |i: Option<usize>| i.and_then(|i| f.accesses.get(i)).map(AccessView::of);
        Roles {
            last: at(n.checked_sub(1)),
            other: at(n.checked_sub(2)),
            read: if f.kind == FindingKind::LostUpdate && n >= 3 {
                at(n.checked_sub(3))
            } else {
                None
            },
        }
    }
}

/// `code.stacktrace`: the frames as Rust's own backtraces print them.
fn stacktrace(frames: &[Frame]) -> String {
    let mut s = String::new();
    for (i, fr) in frames.iter().enumerate() {
        let _ = writeln!(
            s,
            "{i:4}: {}",
            fr.function.as_deref().unwrap_or("<unknown>")
        );
        if let (Some(file), Some(line)) = (&fr.file, fr.line) {
            let _ = writeln!(s, "             at {file}:{line}");
        }
    }
    s
}

fn scope_name(f: &Finding) -> &'static str {
    match f.scope {
        crate::Scope::Map => "map",
        crate::Scope::Key => "key",
    }
}

/// Every attribute of the event, in one place: the `LoggerProvider` path adds these;
/// the `tracing` path names the same keys in its macro (a test checks both agree).
fn event_attributes(f: &Finding, mut put: impl FnMut(&'static str, AnyValue)) {
    put("mapguard.finding.kind", f.kind.name().into());
    put("mapguard.map.name", f.map.clone().into());
    put("mapguard.scope", scope_name(f).into());
    put("mapguard.same_key", f.same_key.into());
    put("mapguard.window_ms", int(f.window_ms));
    put("mapguard.gap_ms", int(f.gap_ms));
    put("mapguard.fingerprint", f.fingerprint.clone().into());
    put("mapguard.hint", f.hint.clone().into());
    if let Some(k) = &f.key_hash {
        put("mapguard.key_hash", k.clone().into());
    }
    put("mapguard.occurrences", int(f.occurrences));
    if skipped_stack(f) {
        put("mapguard.backtrace_skipped", true.into());
    }
    let roles = Roles::of(f);
    macro_rules! access {
        ($a:expr, $p:literal, $op:literal) => {
            if let Some(a) = $a {
                put(concat!($p, "thread.id"), int(a.thread_id));
                if let Some(n) = a.thread_name {
                    put(concat!($p, "thread.name"), n.to_owned().into());
                }
                put(concat!($p, "code.file.path"), a.file.to_owned().into());
                put(concat!($p, "code.line.number"), int(a.line.into()));
                put(concat!($p, "code.column.number"), int(a.column.into()));
                if let Some(func) = a.function {
                    put(concat!($p, "code.function.name"), func.to_owned().into());
                }
                if let Some(st) = a.stacktrace {
                    put(concat!($p, "code.stacktrace"), st.into());
                }
                put($op, a.op.into());
            }
        };
    }
    access!(roles.last, "", "mapguard.op");
    access!(roles.other, "mapguard.other.", "mapguard.other.op");
    access!(roles.read, "mapguard.read.", "mapguard.read.op");
}

/// Whether an access's stack was asked for and not captured (a burst of new
/// findings; see [`Access::backtrace_skipped`]).
fn skipped_stack(f: &Finding) -> bool {
    f.accesses.iter().any(|a| a.backtrace_skipped)
}

fn int(v: u64) -> AnyValue {
    AnyValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn emit_to_logger<L: Logger>(logger: &L, f: &Finding) {
    if !logger.event_enabled(Severity::Warn, TARGET, Some(EVENT_NAME)) {
        return;
    }
    let mut r = logger.create_log_record();
    r.set_event_name(EVENT_NAME);
    r.set_target(TARGET);
    r.set_severity_number(Severity::Warn);
    r.set_severity_text("WARN");
    if let Some(last) = f.accesses.last() {
        r.set_timestamp(UNIX_EPOCH + Duration::from_nanos(last.time_unix_ns));
    }
    r.set_body(f.summary().into());
    event_attributes(f, |k, v| r.add_attribute(Key::from_static_str(k), v));
    Context::map_current(|cx| {
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            r.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
        }
    });
    logger.emit(r);
}

fn emit_to_tracing(f: &Finding) {
    let roles = Roles::of(f);
    let (last, other, read) = (
        roles.last.as_ref(),
        roles.other.as_ref(),
        roles.read.as_ref(),
    );
    tracing::event!(
        name: "mapguard.finding",
        target: "mapguard",
        tracing::Level::WARN,
        "mapguard.finding.kind" = f.kind.name(),
        "mapguard.map.name" = f.map.as_str(),
        "mapguard.scope" = scope_name(f),
        "mapguard.same_key" = f.same_key,
        "mapguard.window_ms" = f.window_ms,
        "mapguard.gap_ms" = f.gap_ms,
        "mapguard.fingerprint" = f.fingerprint.as_str(),
        "mapguard.hint" = f.hint.as_str(),
        "mapguard.key_hash" = f.key_hash.as_deref(),
        "mapguard.occurrences" = f.occurrences,
        "mapguard.backtrace_skipped" = skipped_stack(f).then_some(true),
        "thread.id" = last.map(|a| a.thread_id),
        "thread.name" = last.and_then(|a| a.thread_name),
        "code.file.path" = last.map(|a| a.file),
        "code.line.number" = last.map(|a| a.line),
        "code.column.number" = last.map(|a| a.column),
        "code.function.name" = last.and_then(|a| a.function),
        "code.stacktrace" = last.and_then(|a| a.stacktrace.as_deref()),
        "mapguard.op" = last.map(|a| a.op),
        "mapguard.other.thread.id" = other.map(|a| a.thread_id),
        "mapguard.other.thread.name" = other.and_then(|a| a.thread_name),
        "mapguard.other.code.file.path" = other.map(|a| a.file),
        "mapguard.other.code.line.number" = other.map(|a| a.line),
        "mapguard.other.code.column.number" = other.map(|a| a.column),
        "mapguard.other.code.function.name" = other.and_then(|a| a.function),
        "mapguard.other.code.stacktrace" = other.and_then(|a| a.stacktrace.as_deref()),
        "mapguard.other.op" = other.map(|a| a.op),
        "mapguard.read.thread.id" = read.map(|a| a.thread_id),
        "mapguard.read.thread.name" = read.and_then(|a| a.thread_name),
        "mapguard.read.code.file.path" = read.map(|a| a.file),
        "mapguard.read.code.line.number" = read.map(|a| a.line),
        "mapguard.read.code.column.number" = read.map(|a| a.column),
        "mapguard.read.code.function.name" = read.and_then(|a| a.function),
        "mapguard.read.code.stacktrace" = read.and_then(|a| a.stacktrace.as_deref()),
        "mapguard.read.op" = read.map(|a| a.op),
        "{}",
        f.summary()
    );
}

// ---- the span a finding was made in -----------------------------------------------

thread_local! {
    /// True once this thread's thread-locals are being destroyed, from before
    /// OpenTelemetry's context is ([`Origin::prepare_thread`]). No destructor, so
    /// always readable.
    static CONTEXT_GONE: Cell<bool> = const { Cell::new(false) };
    /// Sets [`CONTEXT_GONE`] when destroyed.
    static SENTINEL: Sentinel = const { Sentinel };
}

struct Sentinel;

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = CONTEXT_GONE.try_with(|g| g.set(true));
    }
}

/// What the user's thread knew when it made a new finding, beyond the finding: the
/// OpenTelemetry span current there (its ids only) and whether telemetry was
/// suppressed there.
#[derive(Debug, Default)]
pub(crate) struct Origin {
    span: Option<SpanContext>,
    suppressed: bool,
}

impl Origin {
    /// Reads the current OpenTelemetry context. Runs on the user's thread, only when
    /// a new finding was made (never on the no-finding path): a thread-local read and,
    /// with a span current, a copy of its ids (plus its trace state, if any).
    #[cold]
    pub(crate) fn capture() -> Origin {
        // The context's thread-local may already be gone when a guarded map is used
        // from another thread-local's destructor; the finding then goes without.
        // Reading it then would panic inside OpenTelemetry (which has no `try_with`):
        // caught, but the application's panic hook would still run, and with
        // `panic = "abort"` the process would end. The sentinel says so first.
        if CONTEXT_GONE.try_with(Cell::get).unwrap_or(true) {
            return Origin::default();
        }
        catch_unwind(|| {
            Context::map_current(|cx| Origin {
                span: Some(cx.span().span_context().clone()).filter(SpanContext::is_valid),
                suppressed: cx.is_telemetry_suppressed(),
            })
        })
        .unwrap_or_default()
    }

    /// When a thread first uses a guarded map (once per thread): makes sure
    /// OpenTelemetry's context thread-local exists, then registers a sentinel after
    /// it. Thread-locals are destroyed in the reverse order of their registration,
    /// so at the thread's exit the sentinel marks the context gone before it is.
    pub(crate) fn prepare_thread() {
        let _ = catch_unwind(|| Context::map_current(|_| ()));
        let _ = SENTINEL.try_with(|_| ());
    }

    /// On the reporter thread: makes that span (and suppression) current until the
    /// guard drops. Nothing to do when there was neither.
    pub(crate) fn enter(&self) -> Option<ContextGuard> {
        if self.span.is_none() && !self.suppressed {
            return None;
        }
        let mut cx = Context::new();
        if let Some(sc) = &self.span {
            cx = cx.with_remote_span_context(sc.clone());
        }
        if self.suppressed {
            cx = cx.with_telemetry_suppressed();
        }
        Some(cx.attach())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Op, Site};

    fn access(id: u64, name: &str, op: Op, line: u32, stack: bool) -> Access {
        Access {
            thread_id: id,
            thread_name: Some(name.into()),
            op,
            site: Site {
                file: "src/main.rs".into(),
                line,
                column: 9,
            },
            function: None,
            time_unix_ns: 1_700_000_000_000_000_000,
            backtrace_skipped: false,
            backtrace: stack.then(|| {
                vec![
                    Frame {
                        function: Some("app::handler".into()),
                        file: Some("/srv/app/src/main.rs".into()),
                        line: Some(line),
                        in_app: true,
                    },
                    Frame {
                        function: Some("std::rt::lang_start".into()),
                        file: None,
                        line: None,
                        in_app: false,
                    },
                ]
            }),
        }
    }

    fn finding(kind: FindingKind, accesses: Vec<Access>) -> Finding {
        Finding {
            kind,
            map: "orders".into(),
            scope: crate::Scope::Map,
            key_hash: Some("00000000000000ab".into()),
            same_key: true,
            window_ms: 100,
            gap_ms: 3,
            accesses,
            fingerprint: "0123456789abcdef".into(),
            occurrences: 7,
            hint: kind.hint().into(),
        }
    }

    fn attrs(f: &Finding) -> Vec<(&'static str, AnyValue)> {
        let mut v = Vec::new();
        event_attributes(f, |k, a| v.push((k, a)));
        v
    }

    fn get<'a>(v: &'a [(&'static str, AnyValue)], k: &str) -> Option<&'a AnyValue> {
        v.iter().find(|(key, _)| *key == k).map(|(_, a)| a)
    }

    #[test]
    fn a_declared_function_wins_over_the_stack() {
        let mut last = access(2, "worker-2", Op::Insert, 20, true);
        last.function = Some("shop::place_order".into());
        let mut first = access(1, "worker-1", Op::Insert, 10, false);
        first.function = Some("shop::restock".into());
        let f = finding(FindingKind::ConcurrentWrite, vec![first, last]);
        let v = attrs(&f);
        assert_eq!(
            get(&v, "code.function.name"),
            Some(&AnyValue::from("shop::place_order"))
        );
        assert_eq!(
            get(&v, "mapguard.other.code.function.name"),
            Some(&AnyValue::from("shop::restock"))
        );
    }

    #[test]
    fn two_accesses_name_the_last_plainly_and_the_first_other() {
        let f = finding(
            FindingKind::ConcurrentWrite,
            vec![
                access(1, "worker-1", Op::Insert, 10, false),
                access(2, "worker-2", Op::Remove, 20, true),
            ],
        );
        let v = attrs(&f);
        assert_eq!(get(&v, "thread.name"), Some(&AnyValue::from("worker-2")));
        assert_eq!(get(&v, "code.line.number"), Some(&AnyValue::Int(20)));
        assert_eq!(get(&v, "mapguard.op"), Some(&AnyValue::from("remove")));
        assert_eq!(
            get(&v, "code.function.name"),
            Some(&AnyValue::from("app::handler"))
        );
        let st = get(&v, "code.stacktrace").expect("a stack was captured");
        assert_eq!(
            st,
            &AnyValue::from(
                "   0: app::handler\n             at /srv/app/src/main.rs:20\n   1: std::rt::lang_start\n"
            )
        );
        assert_eq!(
            get(&v, "mapguard.other.thread.name"),
            Some(&AnyValue::from("worker-1"))
        );
        assert_eq!(
            get(&v, "mapguard.other.code.line.number"),
            Some(&AnyValue::Int(10))
        );
        assert_eq!(get(&v, "mapguard.other.code.stacktrace"), None);
        assert_eq!(get(&v, "mapguard.backtrace_skipped"), None);
        assert!(v.iter().all(|(k, _)| !k.starts_with("mapguard.read.")));
        assert_eq!(get(&v, "mapguard.occurrences"), Some(&AnyValue::Int(7)));
        assert_eq!(
            get(&v, "mapguard.key_hash"),
            Some(&AnyValue::from("00000000000000ab"))
        );
    }

    #[test]
    fn a_stack_skipped_in_a_burst_is_said() {
        let mut last = access(2, "worker-2", Op::Insert, 20, false);
        last.backtrace_skipped = true;
        let f = finding(
            FindingKind::ConcurrentWrite,
            vec![access(1, "worker-1", Op::Insert, 10, false), last],
        );
        let v = attrs(&f);
        assert_eq!(
            get(&v, "mapguard.backtrace_skipped"),
            Some(&AnyValue::Boolean(true))
        );
        assert_eq!(get(&v, "code.stacktrace"), None);
        assert_eq!(get(&v, "code.line.number"), Some(&AnyValue::Int(20)));
    }

    #[test]
    fn lost_update_names_its_read() {
        let f = finding(
            FindingKind::LostUpdate,
            vec![
                access(1, "worker-1", Op::Get, 10, false),
                access(2, "worker-2", Op::Insert, 20, false),
                access(1, "worker-1", Op::Insert, 30, false),
            ],
        );
        let v = attrs(&f);
        assert_eq!(get(&v, "code.line.number"), Some(&AnyValue::Int(30)));
        assert_eq!(
            get(&v, "mapguard.other.thread.name"),
            Some(&AnyValue::from("worker-2"))
        );
        assert_eq!(
            get(&v, "mapguard.read.code.line.number"),
            Some(&AnyValue::Int(10))
        );
        assert_eq!(get(&v, "mapguard.read.op"), Some(&AnyValue::from("get")));
    }

    #[test]
    fn origin_without_a_span_enters_nothing() {
        let o = Origin::capture();
        assert!(o.span.is_none());
        assert!(!o.suppressed);
        assert!(o.enter().is_none());
        let _s = Context::enter_telemetry_suppressed_scope();
        let o = Origin::capture();
        assert!(o.suppressed);
        let other = std::thread::spawn(move || {
            let _g = o.enter();
            Context::is_current_telemetry_suppressed()
        });
        assert!(other.join().unwrap(), "suppression travels to the reporter");
    }
}
