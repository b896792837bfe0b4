//! The pipeline from a finding on the user's thread to the sinks: the dedup table
//! the user's thread checks, the bounded queue, and the reporter thread that builds
//! [`Finding`](crate::Finding)s, resolves stacks once per unique stack, rate-limits and fans out.

mod reporter;
mod seen;

use std::collections::HashSet;
use std::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed},
};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use std::time::Duration;

use crate::sink::Sink;

#[cfg(not(feature = "compile-out"))]
pub(crate) use reporter::finding_now;
#[cfg(not(feature = "compile-out"))]
pub(crate) use seen::{defer, observe};

#[cfg(not(feature = "compile-out"))]
use crate::detect::Candidate;

/// What [`crate::Config::install`] hands the reporter.
pub(crate) struct ReporterSettings {
    pub(crate) sinks: Vec<Box<dyn Sink>>,
    pub(crate) queue_capacity: usize,
    pub(crate) summary_interval: Duration,
    pub(crate) rate_limit: u32,
}

pub(crate) enum Msg {
    #[cfg(not(feature = "compile-out"))]
    Candidate(Box<Candidate>),
    Flush(mpsc::SyncSender<()>),
    Configure(ReporterSettings, mpsc::SyncSender<()>),
}

static QUEUED: AtomicUsize = AtomicUsize::new(0);
static CAPACITY: AtomicUsize = AtomicUsize::new(1024);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Findings the reporter holds back for the rate limit, as it last published.
static PENDING_LEN: AtomicUsize = AtomicUsize::new(0);
static REPORTED: AtomicU64 = AtomicU64::new(0);
static SINK_ERRORS: AtomicU64 = AtomicU64::new(0);
static STACKS_SKIPPED: AtomicU64 = AtomicU64::new(0);

/// The sender to this process's reporter thread (`None` if it could not start).
struct Queue {
    pid: u32,
    tx: Option<Sender<Msg>>,
}

static QUEUE: ArcSwapOption<Queue> = ArcSwapOption::const_empty();

/// The queue to the reporter thread, which is started on first use in each
/// process (a forked child has none of its parent's threads). A few atomic loads
/// and a `getpid`; a lock only to start the thread. `Sender` is `Sync`: sending
/// takes no lock.
fn queue() -> Arc<Queue> {
    let pid = std::process::id();
    if let Some(q) = QUEUE.load_full().filter(|q| q.pid == pid) {
        return q;
    }
    static START: Mutex<()> = Mutex::new(());
    let _one = START.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(q) = QUEUE.load_full().filter(|q| q.pid == pid) {
        return q;
    }
    let (tx, rx) = mpsc::channel();
    // Held until the reporter counts as started, so `configure` either stashes
    // before this take or sends to the running reporter.
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let tx = match reporter::spawn(rx, pending.take()) {
        Ok(()) => Some(tx),
        Err(e) => {
            say(format_args!(
                "cannot start the reporter thread ({e}); findings are counted as dropped"
            ));
            None
        }
    };
    let q = Arc::new(Queue { pid, tx });
    // A parent's queue is never dropped here: dropping its sender would take the
    // channel's lock, which a thread the fork left behind may have held.
    std::mem::forget(QUEUE.swap(Some(q.clone())));
    q
}

/// In a forked child, when its clock starts (before the guard can be on there, so
/// before any place is reserved): the places its parent's findings took in the
/// queue and the backlog are not this process's (they would keep `room` false for
/// ever).
pub(crate) fn forget_parent_queue() {
    QUEUED.store(0, Relaxed);
    PENDING_LEN.store(0, Relaxed);
    #[cfg(not(feature = "compile-out"))]
    seen::forget_all();
    #[cfg(feature = "otel")]
    crate::sink::otel::forget_exported_duplicates();
}

fn send(msg: Msg) -> bool {
    queue().tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok())
}

/// Hands a new finding to the reporter without waiting. If the queue is full it is
/// counted as dropped and waits in the dedup table, so that a later occurrence offers
/// it again once there is room.
#[cfg(not(feature = "compile-out"))]
pub(crate) fn submit(c: Candidate) {
    let q = queue();
    if !reserve(&QUEUED, CAPACITY.load(Relaxed), &DROPPED, c.local_key) {
        return;
    }
    let sent =
        q.tx.as_ref()
            .is_some_and(|tx| tx.send(Msg::Candidate(Box::new(c))).is_ok());
    if !sent {
        // No reporter to take it (its thread could not be started): dropped. Not
        // offered again, as a finding the full queue refused is: no later occurrence
        // could be taken either, and each would capture a stack for nothing.
        QUEUED.fetch_sub(1, Relaxed);
        DROPPED.fetch_add(1, Relaxed);
    }
}

/// Takes one of `cap` places in the queue. Without one, the finding `local_key` is
/// counted as dropped and waits in the dedup table for a later occurrence.
fn reserve(queued: &AtomicUsize, cap: usize, dropped: &AtomicU64, local_key: u64) -> bool {
    if queued.fetch_add(1, Relaxed) < cap {
        return true;
    }
    queued.fetch_sub(1, Relaxed);
    seen::defer(local_key);
    dropped.fetch_add(1, Relaxed);
    false
}

/// Whether the reporter can take a new finding now: its queue has room, and what is
/// queued fits in its backlog of findings waiting for the rate limit. Three relaxed
/// loads; checked only when a finding is made, before its stack is captured.
pub(crate) fn room() -> bool {
    room_with(
        QUEUED.load(Relaxed),
        CAPACITY.load(Relaxed),
        PENDING_LEN.load(Relaxed),
    )
}

/// New findings capture their stack (backtrace `on_finding`) only while fewer than
/// this many findings are queued for the reporter or waiting in its backlog for the
/// rate limit (100 a second by default). Past it, in a burst of new findings, each
/// is still built, queued and reported with its call sites, without a stack: a stack
/// costs the user's thread microseconds, for a report that may be seconds away.
pub(crate) const STACKS_AHEAD: usize = 256;
// Stacks stop before the findings do: a burst past it still has room to be reported.
const _: () = assert!(STACKS_AHEAD < reporter::PENDING_MAX);

/// Whether a new finding may capture its stack now (see [`STACKS_AHEAD`]). Two
/// loads, one of them Acquire (a plain load on x86); checked only when a new
/// finding is made.
pub(crate) fn stack_room() -> bool {
    // Queue first, with Acquire: the reporter publishes the backlog's length before
    // it releases the finding's place in the queue.
    let queued = QUEUED.load(Acquire);
    stack_room_with(queued, PENDING_LEN.load(Relaxed))
}

/// [`stack_room`] for these counts. A finding the reporter is moving from its queue
/// to its backlog may be counted in both for a moment (never in neither), so the
/// count errs towards fewer stacks, not more. It bounds the stacks waiting, not the
/// stacks a burst captures: each finding reported frees a place, and threads that
/// check at once may each take the last one.
fn stack_room_with(queued: usize, pending: usize) -> bool {
    queued + pending < STACKS_AHEAD
}

/// Counts a new finding made without its stack ([`Stats::stacks_skipped`]).
pub(crate) fn stack_skipped() {
    STACKS_SKIPPED.fetch_add(1, Relaxed);
}

/// [`room`] for these counts: each queued finding may still join the backlog, so
/// both count against it.
fn room_with(queued: usize, capacity: usize, pending: usize) -> bool {
    queued < capacity && queued + pending < reporter::PENDING_MAX
}

/// Settings installed before the reporter started: it starts with them. Until a
/// finding is made there is no reporter thread at all.
static PENDING: Mutex<Option<ReporterSettings>> = Mutex::new(None);

/// Hands new sinks and settings to the reporter (under the install lock, so that
/// installs reach it in order). If it runs, the returned [`Configured`] waits until
/// it has flushed the old sinks, taken the new ones and dropped the old; if not, the
/// settings are kept for when it starts, and [`Configured`] drops the ones they
/// replace. Call [`Configured::finish`] once the install lock is released: a
/// replaced sink's `Drop` may call `set_enabled` or `install`.
pub(crate) fn configure(settings: ReporterSettings) -> Configured {
    CAPACITY.store(settings.queue_capacity, Relaxed);
    if !reporter::started() {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if !reporter::started() {
            return Configured::Replaced(pending.replace(settings));
        }
    }
    let (ack, done) = mpsc::sync_channel(1);
    if send(Msg::Configure(settings, ack)) && !crate::thread::is_busy() {
        Configured::Sent(done)
    } else {
        Configured::Replaced(None)
    }
}

/// What [`configure`] left to do outside the install lock.
#[must_use = "call finish() once the install lock is released"]
pub(crate) enum Configured {
    /// Settings that waited for the reporter and were replaced: to drop.
    Replaced(Option<ReporterSettings>),
    /// Sent to the running reporter: its answer to wait for.
    Sent(mpsc::Receiver<()>),
}

impl Configured {
    /// Drops what was replaced (each sink under `catch_unwind`), or waits up to
    /// [`CONFIGURE_WAIT`] for the reporter to have taken the new settings and
    /// dropped the old sinks.
    pub(crate) fn finish(self) {
        match self {
            Configured::Replaced(replaced) => {
                drop_sinks(replaced.into_iter().flat_map(|r| r.sinks));
            }
            Configured::Sent(done) => {
                if done.recv_timeout(CONFIGURE_WAIT) == Err(mpsc::RecvTimeoutError::Timeout) {
                    note_once(
                        "the reporter did not take new settings within 5 s (a sink is slow or stuck); \
                         they apply once it does",
                    );
                }
            }
        }
    }
}

/// Drops replaced sinks, each under `catch_unwind`: a sink whose `Drop` panics (an
/// exporter that unwraps its shutdown) is counted in `stats().sink_errors` and said,
/// on whichever thread drops it.
pub(crate) fn drop_sinks(sinks: impl IntoIterator<Item = Box<dyn Sink>>) {
    for sink in sinks {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(sink))).is_err() {
            reporter::count_sink_error();
            say(format_args!("a replaced sink panicked when dropped"));
        }
    }
}

/// How long [`configure`] waits for the reporter to take new settings: a sink that
/// hangs (a collector that never answers a blocking exporter) must not hang the
/// caller of `Config::install`, nor, behind the install lock, a thread's first
/// guarded call.
const CONFIGURE_WAIT: Duration = Duration::from_secs(5);

/// Prints `mapguard: <msg>` on stderr the first time it is asked to.
pub(crate) fn note_once(msg: &'static str) {
    static SAID: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if said.get_or_insert_with(HashSet::new).insert(msg) {
        say(format_args!("{msg}"));
    }
}

/// Prints `mapguard: <msg>` on stderr, ignoring a failed write: unlike `eprintln!`,
/// which panics when stderr is a closed pipe or a full disk, this never panics in
/// the user's service (or kills the reporter) over a message nobody can read.
pub(crate) fn say(msg: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "mapguard: {msg}");
}

/// Waits until every finding queued before this call has reached the sinks and
/// the sinks have flushed. Also delivers the findings waiting for the rate limit and
/// pending repeat summaries. (Findings held back because the reporter had no room
/// are not queued: they wait for their next occurrence.)
///
/// Blocks the caller for as long as the sinks take; a sink that never returns
/// makes this never return (see [`flush_timeout`]). Call it before a normal exit:
/// findings still queued when the process exits are lost. Returns at once if no
/// finding has been made in this process yet (the first one starts the reporter; a
/// forked child has none until it installs a `Config`). Calling it from a sink, a
/// callback or a thread-local destructor does nothing.
pub fn flush() {
    flush_timeout(Duration::MAX);
}

/// Like [`flush`], blocking at most `timeout` (`Duration::MAX`: no limit). Returns
/// true if the sinks flushed in time or there was nothing to wait for (also from a
/// sink, callback or thread-local destructor, where it does nothing), false on
/// timeout or if there is no reporter to deliver this process's findings (its
/// thread could not be started: those findings were counted as dropped). A flush
/// that timed out still runs later, when the reporter gets to it.
pub fn flush_timeout(timeout: Duration) -> bool {
    flush_within(timeout) == Flushed::Done
}

/// What a flush came to.
#[derive(PartialEq, Eq)]
enum Flushed {
    Done,
    TimedOut,
    NoReporter,
}

/// Delivers what is queued, up to 5 s, from a finding about to abort the process
/// (reaction `panic` inside dashmap's `alter`): mapguard's own code runs on this
/// thread, which [`flush`] takes for a sink or callback and skips.
#[cfg(not(feature = "compile-out"))]
pub(crate) fn flush_before_abort() {
    flush_within_checked(Duration::from_secs(5), false);
}

fn flush_within(timeout: Duration) -> Flushed {
    flush_within_checked(timeout, true)
}

fn flush_within_checked(timeout: Duration, skip_if_busy: bool) -> Flushed {
    if skip_if_busy && crate::thread::is_busy() {
        return Flushed::Done;
    }
    if !reporter::started() {
        // Nothing was queued, unless findings were made and the thread to take them
        // could not be started.
        let pid = std::process::id();
        let failed = QUEUE
            .load_full()
            .is_some_and(|q| q.pid == pid && q.tx.is_none());
        return if failed {
            Flushed::NoReporter
        } else {
            Flushed::Done
        };
    }
    let (ack, done) = mpsc::sync_channel(1);
    if !send(Msg::Flush(ack)) {
        return Flushed::NoReporter;
    }
    let answered = if timeout == Duration::MAX {
        done.recv().map_err(|_| RecvTimeoutError::Disconnected)
    } else {
        done.recv_timeout(timeout)
    };
    match answered {
        Ok(()) => Flushed::Done,
        Err(RecvTimeoutError::Timeout) => Flushed::TimedOut,
        Err(RecvTimeoutError::Disconnected) => Flushed::NoReporter,
    }
}

/// Flushes (waiting up to 5 s) when dropped: keep one alive in `main` so that the
/// findings made just before a normal exit reach the sinks.
///
/// ```
/// let _flush = mapguard::flush_on_drop(); // first line of `main`
/// // ... the service ...
/// // end of `main`: `_flush` drops and the last findings reach the sinks
/// ```
#[must_use = "the guard flushes when it is dropped; bind it to a variable in main"]
#[derive(Debug)]
pub struct FlushGuard(());

/// Returns a [`FlushGuard`]. Free; the guard blocks only when it drops, for at most
/// 5 s.
pub fn flush_on_drop() -> FlushGuard {
    FlushGuard(())
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        match flush_within(Duration::from_secs(5)) {
            Flushed::Done => {}
            Flushed::TimedOut => say(format_args!(
                "sinks did not finish within 5 s at exit; some findings may be lost"
            )),
            Flushed::NoReporter => say(format_args!(
                "no reporter thread at exit; findings it did not take are lost"
            )),
        }
    }
}

/// Counters since the process started. [`stats`] sums the per-thread counters under
/// the thread registry's mutex (shared with thread start and exit, held briefly) and
/// reads the dedup table's 16384 slots (about 256 KiB of relaxed loads, no lock);
/// it never waits for the reporter or the sinks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Guarded map operations checked while the guard was on.
    pub operations: u64,
    /// Findings made, every occurrence counted.
    pub findings: u64,
    /// Unique findings handed to the sinks.
    pub reported: u64,
    /// Occurrences not reported on their own because they repeat an earlier finding.
    /// The sinks hear of them in the repeat summaries, for the findings the reporter
    /// still keeps (the latest 4096, each with up to 16 aliases); the rest are
    /// counted only here.
    pub duplicates: u64,
    /// Times a new finding was held back because the reporter's queue or its backlog
    /// of rate-limited findings was full: usually before its stack was captured,
    /// sometimes (a race for the last place) after. Its occurrences stay counted, and
    /// the first later occurrence that finds room offers it again; so a finding is
    /// lost only if it never happens again (and findings past the dedup table's
    /// 16384 are sampled, see the README). Also counts the new findings made when
    /// the reporter thread could not be started; those are not offered again.
    pub dropped: u64,
    /// Errors and panics from sinks.
    pub sink_errors: u64,
    /// Times a new finding was made without its stack although backtrace
    /// `on_finding` asked for one: made in a burst, while 256 findings were already
    /// queued for the reporter or waiting for its rate limit. Such a finding is
    /// reported with its call sites and `backtrace_skipped` set on the access (unless
    /// it repeats one already reported); one held back and offered again counts
    /// again.
    pub stacks_skipped: u64,
}

/// Returns the current [`Stats`] (cost: see [`Stats`]).
pub fn stats() -> Stats {
    let (findings, duplicates) = seen::totals();
    Stats {
        operations: crate::thread::operations(),
        findings,
        reported: REPORTED.load(Relaxed),
        duplicates,
        dropped: DROPPED.load(Relaxed),
        sink_errors: SINK_ERRORS.load(Relaxed),
        stacks_skipped: STACKS_SKIPPED.load(Relaxed),
    }
}

#[cfg(all(test, not(feature = "compile-out")))]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_captured_while_fewer_than_256_findings_wait() {
        assert!(stack_room_with(0, 0));
        assert!(stack_room_with(STACKS_AHEAD - 1, 0), "queued only");
        assert!(
            stack_room_with(0, STACKS_AHEAD - 1),
            "waiting for the rate limit only"
        );
        assert!(stack_room_with(100, STACKS_AHEAD - 101));
        assert!(!stack_room_with(100, STACKS_AHEAD - 100), "both count");
        assert!(!stack_room_with(STACKS_AHEAD, 0));
        assert!(!stack_room_with(0, reporter::PENDING_MAX));
    }

    #[test]
    fn room_counts_queued_findings_against_the_backlog() {
        let max = reporter::PENDING_MAX;
        assert!(room_with(0, 1024, 0));
        assert!(!room_with(1024, 1024, 0), "queue full");
        assert!(room_with(0, 1024, max - 1), "one place left in the backlog");
        assert!(!room_with(0, 1024, max), "backlog full");
        // One place freed and already taken by a queued finding: no room for more
        // until the reporter frees another (a freed place goes to one finding).
        assert!(!room_with(1, 1024, max - 1));
    }

    #[test]
    fn a_finding_that_finds_the_queue_full_waits_in_the_dedup_table() {
        let key = 0x0123_4567_89ab_cdef; // this test's own finding
        let queued = AtomicUsize::new(0);
        let dropped = AtomicU64::new(0);
        assert!(seen::observe(key), "a new finding is built");
        // The last place in a queue of one goes to it; a second offer finds none.
        assert!(reserve(&queued, 1, &dropped, key));
        assert!(!reserve(&queued, 1, &dropped, key));
        assert_eq!(
            (queued.load(Relaxed), dropped.load(Relaxed)),
            (1, 1),
            "the failed offer gave its place back and counted a drop"
        );
        // It waits, counted: the next occurrence offers it again and the count goes
        // on.
        assert!(seen::observe(key));
        assert_eq!(seen::count(key), 2);
        assert!(!seen::observe(key));
        assert_eq!(seen::count(key), 3);
    }
}
