//! The cheap monotonic clock: a millisecond counter ticked by a background thread,
//! read with one relaxed load, and [`ManualClock`], the injectable clock for tests.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the ticker thread advances the shared clock while the guard is on.
/// While it is off the ticker parks until [`wake`]: nothing reads the clock then,
/// and a ticker that slept on (it used to wake every 100 ms) left the clock frozen
/// after the switch came back on, so that writes far apart looked simultaneous.
const TICK: Duration = Duration::from_millis(1);

/// How far the ticked clock's reading is shifted where it is kept: by as many bits
/// as an access stamp keeps below its milliseconds (its op and write number), so
/// that a stamp is the reading as loaded, or'ed with the op and the accessor (the
/// op above the time took a 64-bit constant, one instruction more per access).
pub(crate) const MS_SHIFT: u32 = 11;

/// Milliseconds since [`Epoch::instant`], plus one so that a stamp is never 0,
/// shifted left by [`MS_SHIFT`].
static NOW: AtomicU64 = AtomicU64::new(1 << MS_SHIFT);

/// Moves the ticked clock to `ms`, never back: the ticker and a switch-on may race
/// with readings taken a moment apart, and a remembered read relies on the clock
/// only going forward (`Read::written_since`).
fn set_now(ms: u64) {
    NOW.fetch_max(ms << MS_SHIFT, Relaxed);
}

/// The largest ms any clock reads (about 4.4 years): access stamps keep 37 bits of
/// it, so clocks stop here instead of wrapping. At this reading the rules that
/// compare times stop finding anything (a stopped clock would make every pair of
/// accesses look simultaneous).
pub(crate) const MAX_MS: u64 = (1 << 37) - 1;

/// Milliseconds since `epoch`, plus one (0 means "never"), capped at [`MAX_MS`].
fn elapsed_ms(epoch: &Epoch) -> u64 {
    (epoch.instant.elapsed().as_millis() as u64)
        .saturating_add(1)
        .min(MAX_MS)
}

/// The ticked clock's current ms: one relaxed load and a shift.
#[inline(always)]
pub(crate) fn ticked_ms() -> u64 {
    NOW.load(Relaxed) >> MS_SHIFT
}

/// The ticked clock's current ms, shifted left by [`MS_SHIFT`] (where an access
/// stamp keeps them): one relaxed load.
#[inline(always)]
pub(crate) fn ticked_ms_shifted() -> u64 {
    NOW.load(Relaxed)
}
/// The process whose ticker thread runs, 0 before one started. A forked child
/// inherits the parent's value but not its thread: [`running_here`] tells.
static TICKER_PID: AtomicU32 = AtomicU32::new(0);

/// Whether this process's ticker runs: false in a child forked from a process
/// whose ticker ran, until a `Config` is installed there (or, after one, the guard
/// is switched on). A `getpid`
/// call: only where a finding is made, never per operation.
pub(crate) fn running_here() -> bool {
    TICKER_PID.load(Relaxed) == std::process::id()
}

/// Whether this is a child forked from a process whose ticker ran, and its own
/// has not started: the guard may only come back on here through an installed
/// `Config` (the parent's sinks did not come with the fork).
pub(crate) fn forked_before_start() -> bool {
    let pid = TICKER_PID.load(Relaxed);
    pid != 0 && pid != std::process::id()
}

/// Where a clock's zero lies on the wall clock, for `time_unix_ns` in reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epoch {
    instant: Instant,
    unix_ns: u64,
}

impl Epoch {
    fn now() -> Self {
        let unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Epoch {
            instant: Instant::now(),
            unix_ns,
        }
    }

    /// The wall-clock time of a reading `ms` of a clock with this epoch.
    pub(crate) fn unix_ns(&self, ms: u64) -> u64 {
        self.unix_ns
            .saturating_add(ms.saturating_sub(1).saturating_mul(1_000_000))
    }
}

fn global_epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(Epoch::now)
}

/// Starts the ticker thread, once per process (again in a forked child, which has
/// no thread of its parent's). Returns false if the thread could not be spawned,
/// in which case the caller keeps the guard off (a frozen clock would make every
/// pair of accesses look simultaneous), and always with feature `compile-out`, where
/// nothing is checked: no thread is started and the guard stays off.
pub(crate) fn start() -> bool {
    if cfg!(feature = "compile-out") {
        return false;
    }
    let epoch = *global_epoch();
    if running_here() {
        // Switching on again: the ticker may have been idling.
        set_now(elapsed_ms(&epoch));
        return true;
    }
    static START: Mutex<()> = Mutex::new(());
    let _one = START.lock().unwrap_or_else(|p| p.into_inner());
    if running_here() {
        set_now(elapsed_ms(&epoch));
        return true;
    }
    if TICKER_PID.load(Relaxed) != 0 {
        // A forked child, switching on: before any finding can be made here, the
        // places its parent had taken in the reporter's queue go.
        crate::report::forget_parent_queue();
    }
    let spawned = std::thread::Builder::new()
        .name("mapguard-clock".into())
        .spawn(move || {
            loop {
                set_now(elapsed_ms(&epoch));
                if crate::config::word() & crate::config::ENABLED != 0 {
                    std::thread::park_timeout(TICK);
                } else {
                    IDLE.store(true, Relaxed);
                    // Until the switch comes on ([`wake`]); a wake that came first
                    // makes this return at once.
                    std::thread::park();
                    IDLE.store(false, Relaxed);
                }
            }
        });
    match spawned {
        Ok(handle) => {
            *TICKER.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.thread().clone());
            set_now(elapsed_ms(&epoch));
            TICKER_PID.store(std::process::id(), Relaxed);
            true
        }
        Err(e) => {
            crate::report::say(format_args!(
                "cannot start the clock thread ({e}); the guard stays off"
            ));
            false
        }
    }
}

/// This process's ticker thread, for [`wake`].
static TICKER: Mutex<Option<std::thread::Thread>> = Mutex::new(None);
/// True while the ticker is parked with the guard off.
static IDLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// After the settings word says "on": a ticker parked while the guard was off
/// ticks again at once. Takes a short lock; never on a map operation.
pub(crate) fn wake() {
    if running_here() {
        if let Some(t) = &*TICKER.lock().unwrap_or_else(|p| p.into_inner()) {
            t.unpark();
        }
    }
}

/// Whether the ticker is parked, the guard off (for tests).
pub(crate) fn idle() -> bool {
    IDLE.load(Relaxed)
}

/// The clock a map reads: the shared ticked clock, or a [`ManualClock`].
#[derive(Clone, Debug, Default)]
pub(crate) enum Clock {
    #[default]
    Ticked,
    Manual(ManualClock),
}

impl Clock {
    /// Milliseconds on this clock. One relaxed load.
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        match self {
            Clock::Ticked => ticked_ms(),
            Clock::Manual(m) => m.inner.ms.load(Relaxed),
        }
    }

    pub(crate) fn epoch(&self) -> Epoch {
        match self {
            Clock::Ticked => *global_epoch(),
            Clock::Manual(m) => m.inner.epoch,
        }
    }
}

/// A clock that moves only when told to: the injectable clock for deterministic tests.
///
/// Give it to a map with `with_clock`; that map then measures every gap against this
/// clock instead of the shared ticked one. Cloning gives another handle to the same clock.
/// Reading it costs one relaxed atomic load; advancing it never blocks.
///
/// ```
/// use mapguard::ManualClock;
/// use std::time::Duration;
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(150));
/// assert_eq!(clock.now() - t0, Duration::from_millis(150));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    ms: AtomicU64,
    epoch: Epoch,
}

impl ManualClock {
    /// A new clock, reading a fixed start time until advanced.
    pub fn new() -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                ms: AtomicU64::new(1_000),
                epoch: Epoch::now(),
            }),
        }
    }

    /// Moves the clock forward by `by`, rounded down to whole milliseconds (the
    /// resolution of every clock mapguard reads). The clock stops about 4.4 years
    /// (2^37 ms) after its start, as the ticked clock does; from then on the rules
    /// that compare times (`concurrent_write`, `read_write`, `lost_update`) find
    /// nothing, since a stopped clock cannot tell accesses apart. Never blocks.
    pub fn advance(&self, by: Duration) {
        let by = by.as_millis().min(MAX_MS as u128) as u64;
        let _ = self.inner.ms.fetch_update(Relaxed, Relaxed, |ms| {
            Some(ms.saturating_add(by).min(MAX_MS))
        });
    }

    /// The time since this clock was created, as far as it has been advanced.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.inner.ms.load(Relaxed) - 1_000)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new();
        let clock = Clock::Manual(c.clone());
        let a = clock.now_ms();
        assert_eq!(clock.now_ms(), a);
        c.advance(Duration::from_millis(42));
        assert_eq!(clock.now_ms() - a, 42);
        assert_eq!(c.now(), Duration::from_millis(42));
    }

    #[test]
    fn manual_clock_stops_at_the_largest_stamp_time() {
        let c = ManualClock::new();
        let clock = Clock::Manual(c.clone());
        c.advance(Duration::MAX);
        assert_eq!(clock.now_ms(), MAX_MS);
        c.advance(Duration::from_millis(5));
        assert_eq!(clock.now_ms(), MAX_MS);
    }

    #[test]
    fn epoch_maps_readings_to_wall_clock() {
        let e = Epoch {
            instant: Instant::now(),
            unix_ns: 5_000_000_000,
        };
        assert_eq!(e.unix_ns(1), 5_000_000_000);
        assert_eq!(e.unix_ns(11), 5_010_000_000);
    }

    #[test]
    fn ticker_advances() {
        assert!(start());
        let a = Clock::Ticked.now_ms();
        let t = Instant::now();
        // Bounded wait for a tick; this asserts progress, not a duration.
        while Clock::Ticked.now_ms() == a && t.elapsed() < Duration::from_secs(10) {
            std::thread::yield_now();
        }
        assert!(Clock::Ticked.now_ms() > a);
        // The reading as kept is the ms, shifted: nothing below, and between the
        // readings in ms taken around it (give or take one: another test's
        // `start` may store its own reading a moment behind the ticker's).
        let before = ticked_ms();
        let shifted = ticked_ms_shifted();
        let after = ticked_ms();
        assert_eq!(shifted & ((1 << MS_SHIFT) - 1), 0, "{shifted:#x}");
        let ms = shifted >> MS_SHIFT;
        assert!(before <= ms + 1 && ms <= after + 1, "{before} {ms} {after}");
    }
}
