//! Reaction `panic` on a finding of `try_get_mut` or `try_entry`. These calls
//! record after they took the shard lock; the panic must come after they let go of
//! it, so that the panic hook (the user's, process-wide) and the unwinding run with
//! the map usable, as they do for a call recorded before its lock. (They used to
//! panic with the lock held: a hook that read the map found its shard locked.)
//!
//! One test in this binary: it sets the process's panic hook.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::time::Duration;

use mapguard::dashmap::TryResult;
use mapguard::{DashMap, FindingKind, ManualClock, Reaction};

mod common;

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

static MAP: LazyLock<DashMap<u64, u64>> = LazyLock::new(|| {
    DashMap::named("try-panic")
        .with_clock(CLOCK.clone())
        .with_reaction(Reaction::Panic)
});

/// What the panic hook saw of key 1 on thread "b": 0 not run, 1 locked, 2 free.
static HOOK_SAW: AtomicU8 = AtomicU8::new(0);

/// Past the window, thread "a" writes key 1 with `op`, then thread "b" does: the
/// second write is a `concurrent_write` (the clock stands still between them), and
/// must panic with the shard free.
fn second_writer_panics_unlocked(what: &str, op: fn()) {
    HOOK_SAW.store(0, SeqCst);
    CLOCK.advance(Duration::from_secs(1));
    common::on("a", op);
    let before = common::found(FindingKind::ConcurrentWrite, "try-panic").len();
    let payload = common::must_panic(what, || {
        std::thread::Builder::new()
            .name("b".into())
            .spawn(op)
            .expect("spawn")
            .join()
            .map_err(std::panic::resume_unwind)
            .unwrap();
    });
    let msg = common::message(&*payload);
    assert!(
        msg.contains("concurrent_write"),
        "{what}: panicked with {msg:?}"
    );
    assert_eq!(
        HOOK_SAW.load(SeqCst),
        2,
        "{what}: the panic hook ran with key 1's shard locked (1) or not at all (0)"
    );
    // The finding was reported before the panic, and the map is usable after it.
    assert_eq!(
        common::found(FindingKind::ConcurrentWrite, "try-panic").len(),
        before + 1,
        "{what}"
    );
    assert!(matches!(MAP.try_get(&1), TryResult::Present(_)), "{what}");
}

#[test]
fn a_try_calls_panic_comes_after_it_releases_the_shard_lock() {
    common::memory();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("b") {
            let saw = match MAP.try_get(&1) {
                TryResult::Locked => 1,
                _ => 2,
            };
            HOOK_SAW.store(saw, SeqCst);
        }
        default(info);
    }));
    MAP.insert(1, 0);
    second_writer_panics_unlocked("try_get_mut", || {
        if let TryResult::Present(mut r) = MAP.try_get_mut(&1) {
            *r += 1;
        }
    });
    second_writer_panics_unlocked("try_entry", || {
        *MAP.try_entry(1)
            .expect("nobody else holds the shard")
            .or_insert(0) += 1;
    });
}
