//! The pipeline from a finding on the user's thread to the sinks: the dedup table
//! the user's thread checks, the bounded queue, and the reporter thread that builds
//! [`Finding`]s, resolves stacks once per unique stack, rate-limits and fans out.

mod reporter;
mod seen;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::sink::Sink;

#[cfg(not(feature = "compile-out"))]
pub(crate) use reporter::finding_now;
#[cfg(not(feature = "compile-out"))]
pub(crate) use seen::observe;

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
/// Set by the reporter while its backlog of rate-limited findings is full.
static BACKLOG_FULL: AtomicBool = AtomicBool::new(false);
static REPORTED: AtomicU64 = AtomicU64::new(0);
static SINK_ERRORS: AtomicU64 = AtomicU64::new(0);

/// The sender to the reporter thread, which is started on first use. `Sender` is
/// `Sync`: sending takes no lock.
fn queue() -> Option<&'static Sender<Msg>> {
    static QUEUE: OnceLock<Option<Sender<Msg>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            // Held until the reporter counts as started, so `configure` either
            // stashes before this take or sends to the running reporter.
            let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
            match reporter::spawn(rx, pending.take()) {
                Ok(()) => Some(tx),
                Err(e) => {
                    eprintln!(
                        "mapguard: cannot start the reporter thread ({e}); findings are counted as dropped"
                    );
                    None
                }
            }
        })
        .as_ref()
}

fn send(msg: Msg) -> bool {
    queue().is_some_and(|tx| tx.send(msg).is_ok())
}

/// Hands a new finding to the reporter without waiting. If the queue is full it is
/// counted as dropped and waits in the dedup table, so that a later occurrence offers
/// it again once there is room.
#[cfg(not(feature = "compile-out"))]
pub(crate) fn submit(c: Candidate) {
    let cap = CAPACITY.load(Relaxed);
    if QUEUED.fetch_add(1, Relaxed) >= cap {
        QUEUED.fetch_sub(1, Relaxed);
        seen::defer(c.local_key);
        DROPPED.fetch_add(1, Relaxed);
        return;
    }
    if !send(Msg::Candidate(Box::new(c))) {
        QUEUED.fetch_sub(1, Relaxed);
        DROPPED.fetch_add(1, Relaxed);
    }
}

/// Whether the reporter can take a new finding now: its queue has room and its
/// backlog (findings held back by the rate limit) is not full. Two relaxed loads;
/// checked only when a finding is made, before its stack is captured.
pub(crate) fn room() -> bool {
    QUEUED.load(Relaxed) < CAPACITY.load(Relaxed) && !BACKLOG_FULL.load(Relaxed)
}

/// Settings installed before the reporter started: it starts with them. Until a
/// finding is made there is no reporter thread at all.
static PENDING: Mutex<Option<ReporterSettings>> = Mutex::new(None);

/// Hands new sinks and settings to the reporter. If it runs, waits until it has
/// flushed the old sinks and taken the new ones (unless called from the reporter
/// thread itself, from a sink); if not, keeps them for when it starts.
pub(crate) fn configure(settings: ReporterSettings) {
    CAPACITY.store(settings.queue_capacity, Relaxed);
    if !reporter::started() {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if !reporter::started() {
            *pending = Some(settings);
            return;
        }
    }
    let (ack, done) = mpsc::sync_channel(1);
    if send(Msg::Configure(settings, ack)) && !crate::thread::is_busy() {
        let _ = done.recv();
    }
}

/// Prints `mapguard: <msg>` on stderr the first time it is asked to.
pub(crate) fn note_once(msg: &'static str) {
    static SAID: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if said.get_or_insert_with(HashSet::new).insert(msg) {
        eprintln!("mapguard: {msg}");
    }
}

/// Waits until every finding queued before this call has reached the sinks and
/// the sinks have flushed. Also delivers findings held back by the rate limit and
/// pending repeat summaries.
///
/// Blocks the caller for as long as the sinks take; a sink that never returns
/// makes this never return (see [`flush_timeout`]). Call it before a normal exit:
/// findings still queued when the process exits are lost. Returns at once if
/// nothing was ever reported. Calling it from a sink or callback does nothing.
pub fn flush() {
    flush_timeout(Duration::MAX);
}

/// Like [`flush`], waiting at most `timeout`. Returns true if everything reached
/// the sinks in time.
pub fn flush_timeout(timeout: Duration) -> bool {
    if crate::thread::is_busy() || !reporter::started() {
        return true;
    }
    let (ack, done) = mpsc::sync_channel(1);
    if !send(Msg::Flush(ack)) {
        return false;
    }
    if timeout == Duration::MAX {
        done.recv().is_ok()
    } else {
        done.recv_timeout(timeout).is_ok()
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

/// Returns a [`FlushGuard`].
pub fn flush_on_drop() -> FlushGuard {
    FlushGuard(())
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if !flush_timeout(Duration::from_secs(5)) {
            eprintln!(
                "mapguard: sinks did not finish within 5 s at exit; some findings may be lost"
            );
        }
    }
}

/// Counters since the process started. Cheap to call (it sums per-thread counters
/// and scans the dedup table under short locks); never blocks on the reporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Guarded map operations checked while the guard was on.
    pub operations: u64,
    /// Findings made, every occurrence counted.
    pub findings: u64,
    /// Unique findings handed to the sinks.
    pub reported: u64,
    /// Occurrences not reported on their own because they repeat an earlier finding
    /// (they are counted in the repeat summaries).
    pub duplicates: u64,
    /// Times a new finding could not be handed to the reporter because its queue or
    /// its backlog of rate-limited findings was full. No stack is captured for it then;
    /// its occurrences stay counted, and the first later occurrence that finds room
    /// offers it again. It is lost only if it never happens again.
    pub dropped: u64,
    /// Errors and panics from sinks.
    pub sink_errors: u64,
}

/// Returns the current [`Stats`].
pub fn stats() -> Stats {
    let (findings, duplicates) = seen::totals();
    Stats {
        operations: crate::thread::operations(),
        findings,
        reported: REPORTED.load(Relaxed),
        duplicates,
        dropped: DROPPED.load(Relaxed),
        sink_errors: SINK_ERRORS.load(Relaxed),
    }
}
