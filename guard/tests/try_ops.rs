//! `try_get`, `try_get_mut` and `try_entry` with a finding whose callback reads the
//! same map. The callback runs on the user's thread; it must not run while the call
//! holds the shard lock, or the callback's read waits for a lock its own thread
//! holds, for ever. (They used to record the access after taking the lock.)

use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::time::Duration;

use mapguard::{DashMap, FindingKind, ManualClock, Mode, Reaction};

mod common;

/// The op of the last access of each finding the callback saw.
static CALLS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// A map whose findings call back into it: the callback counts the map's entries
/// (a read lock on every shard).
static MAP: LazyLock<DashMap<u64, u64>> = LazyLock::new(|| {
    DashMap::named("try-ops")
        .with_clock(ManualClock::new())
        .with_mode(Mode::Accesses)
        .with_reaction(Reaction::Call(Arc::new(|f| {
            let _ = MAP.len();
            let op = match f.kind {
                FindingKind::ReentrantAccess => "reentrant",
                _ => f.accesses.last().map_or("none", |a| a.op.name()),
            };
            CALLS.lock().unwrap().push(op);
        })))
});

/// Runs `op` on a new thread after another thread wrote key 1, and waits for it.
/// (The inserts find the `try_*` call before them too, and a call may make two
/// findings, one per earlier access: the checks count callbacks per op, before
/// and after.)
/// A deadlock shows as a thread that never answers: 60 s is far beyond any
/// scheduling delay, so a failure here is a hang, not a slow machine.
fn after_a_write_elsewhere(op: fn()) {
    common::memory();
    std::thread::spawn(|| MAP.insert(1, 1)).join().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        op();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the call deadlocked: its finding's callback ran under the shard lock");
}

fn called(op: &str) -> usize {
    CALLS.lock().unwrap().iter().filter(|o| **o == op).count()
}

#[test]
fn a_try_calls_callback_waits_for_its_guard_to_let_go_of_the_lock() {
    after_a_write_elsewhere(|| {
        let before = called("try_entry");
        let e = MAP.try_entry(1).expect("nobody else holds the shard");
        assert_eq!(
            called("try_entry"),
            before,
            "not while the entry holds the lock"
        );
        let r = e.or_insert(2);
        assert_eq!(called("try_entry"), before);
        drop(r);
        assert!(
            called("try_entry") > before,
            "at the drop, after the unlock"
        );
        // The guard's hold went with it: a write now is no reentrant_access.
        MAP.insert(1, 3);
        assert_eq!(called("reentrant"), 0);
    });
    after_a_write_elsewhere(|| {
        let before = called("try_get_mut");
        if let mapguard::dashmap::TryResult::Present(mut r) = MAP.try_get_mut(&1) {
            *r += 1;
        }
        assert!(called("try_get_mut") > before);
    });
    // A read: mode `accesses` makes it a read_write against the other thread's write.
    after_a_write_elsewhere(|| {
        let before = called("try_get");
        let r = MAP.try_get(&1);
        assert_eq!(
            called("try_get"),
            before,
            "not while the guard holds the lock"
        );
        drop(r);
        assert!(called("try_get") > before);
    });
    // A guard moved to another thread calls back there, at its drop.
    after_a_write_elsewhere(|| {
        let before = called("try_get_mut");
        let r = MAP.try_get_mut(&1).unwrap();
        assert_eq!(called("try_get_mut"), before);
        std::thread::scope(|s| {
            s.spawn(move || drop(r));
        });
        assert!(called("try_get_mut") > before);
        // The owner's hold went with the guard, on the other thread.
        MAP.insert(1, 4);
        assert_eq!(called("reentrant"), 0);
    });
    // A guard whose callbacks wait for its drop, downgraded: a read under it is a
    // read under a read guard, no reentrant_access (the waiting hold was not
    // rewritten before).
    after_a_write_elsewhere(|| {
        let before = called("try_get_mut");
        let r = MAP.try_get_mut(&1).unwrap().downgrade();
        assert_eq!(called("try_get_mut"), before, "still waiting for the drop");
        assert!(MAP.contains_key(&1));
        assert_eq!(called("reentrant"), 0);
        drop(r);
        assert!(called("try_get_mut") > before);
    });
}
