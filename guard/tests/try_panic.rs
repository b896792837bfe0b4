//! Reaction `panic` on a finding of `try_get`, `try_get_mut` or `try_entry`. These
//! calls record after they took the shard lock; the panic must come after they let
//! go of it, so that the panic hook (the user's, process-wide) and the unwinding run
//! with the map usable, as they do for a call recorded before its lock. (They used
//! to panic with the lock held: a hook that read the map found its shard locked.)
//! And a call that panics returns no guard, so its access never happened: it must
//! not be recorded either, as a blocking call's is not.
//!
//! One test in this binary: it sets the process's panic hook.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use mapguard::dashmap::TryResult;
use mapguard::{DashMap, FindingKind, ManualClock, Mode, Reaction};

mod common;

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

/// Writes: two threads' `try_get_mut`/`try_entry` on key 1 are a `concurrent_write`.
static WRITES: LazyLock<DashMap<u64, u64>> = LazyLock::new(|| {
    DashMap::named("try-panic")
        .with_clock(CLOCK.clone())
        .with_reaction(Reaction::Panic)
});

/// Reads: in mode `accesses`, a `try_get` of key 1 after another thread's write is
/// a `read_write`.
static READS: LazyLock<DashMap<u64, u64>> = LazyLock::new(|| {
    DashMap::named("try-panic-reads")
        .with_clock(CLOCK.clone())
        .with_mode(Mode::Accesses)
        .with_reaction(Reaction::Panic)
});

/// How often the panic hook ran on thread "b", and whether it ever found key 1's
/// shard locked (it looks through `inner()`, which mapguard does not check). Once
/// and never: a hook run inside the record, under the lock, would count too.
static HOOK_RUNS: AtomicU32 = AtomicU32::new(0);
static HOOK_SAW_LOCKED: AtomicBool = AtomicBool::new(false);

/// The hook ran once on "b", with the shard free.
fn hook_ran_once_unlocked(what: &str) {
    assert_eq!(
        (HOOK_RUNS.load(SeqCst), HOOK_SAW_LOCKED.load(SeqCst)),
        (1, false),
        "{what}: the panic hook's runs on \"b\" and whether one found the shard locked"
    );
}

#[track_caller]
fn try_get_mut(m: &DashMap<u64, u64>) {
    if let TryResult::Present(mut r) = m.try_get_mut(&1) {
        *r += 1;
    }
}

#[track_caller]
fn try_entry(m: &DashMap<u64, u64>) {
    *m.try_entry(1)
        .expect("nobody else holds the shard")
        .or_insert(0) += 1;
}

/// `op` on `WRITES` from a line of its own for each thread: each writer has its
/// own call site.
fn write(op: &str, who: &str) {
    let m = &*WRITES;
    match (op, who) {
        ("try_get_mut", "a") => try_get_mut(m),
        ("try_get_mut", "b") => try_get_mut(m),
        ("try_get_mut", _) => try_get_mut(m),
        ("try_entry", "a") => try_entry(m),
        ("try_entry", "b") => try_entry(m),
        _ => try_entry(m),
    }
}

fn try_get(m: &DashMap<u64, u64>) {
    assert!(matches!(m.try_get(&1), TryResult::Present(_)));
}

/// Runs `op` on a new thread named `name`, which must panic: returns the message.
fn panics_on(name: &str, what: &str, op: impl FnOnce() + Send + 'static) -> String {
    HOOK_RUNS.store(0, SeqCst);
    HOOK_SAW_LOCKED.store(false, SeqCst);
    let name = name.to_owned();
    let payload = common::must_panic(what, move || {
        std::thread::Builder::new()
            .name(name)
            .spawn(op)
            .expect("spawn")
            .join()
            .map_err(std::panic::resume_unwind)
            .unwrap();
    });
    common::message(&*payload)
}

/// Past the window, thread "a" writes key 1 with `op`; then thread "b" does (the
/// clock stands still between them: a `concurrent_write`), which must panic with
/// the shard free and leave no record; then thread "c" does: its finding pairs it
/// with "a"'s write, not with the one that panicked.
fn writers(op: &'static str) {
    CLOCK.advance(Duration::from_secs(1));
    common::on("a", || write(op, "a"));
    let before = common::found(FindingKind::ConcurrentWrite, "try-panic").len();
    let msg = panics_on("b", op, move || write(op, "b"));
    assert!(msg.contains("concurrent_write"), "{op}: {msg:?}");
    hook_ran_once_unlocked(op);
    // Reported before the panic; the map is usable after it.
    let found = common::found(FindingKind::ConcurrentWrite, "try-panic");
    assert_eq!(found.len(), before + 1, "{op}");
    assert!(matches!(WRITES.try_get(&1), TryResult::Present(_)), "{op}");
    let lines: Vec<u32> = found[before].accesses.iter().map(|a| a.site.line).collect();
    let [a_line, b_line] = lines[..] else {
        panic!("{op}: two accesses expected: {:?}", found[before])
    };
    assert_ne!(a_line, b_line, "{op}: the writers have separate lines");
    // "b" got no guard, so wrote nothing: "c" follows "a".
    let msg = panics_on("c", op, move || write(op, "c"));
    let at = |line: u32| msg.contains(&format!("try_panic.rs:{line}:"));
    assert!(
        at(a_line) && !at(b_line),
        "{op}: the third write was not paired with the first: {msg}"
    );
}

#[test]
fn a_try_calls_panic_comes_after_it_releases_the_shard_lock_and_records_nothing() {
    common::memory();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("b") {
            let locked = [&*WRITES, &*READS]
                .iter()
                .any(|m| matches!(m.inner().try_get_mut(&1), TryResult::Locked));
            HOOK_RUNS.fetch_add(1, SeqCst);
            HOOK_SAW_LOCKED.fetch_or(locked, SeqCst);
        }
        default(info);
    }));
    WRITES.insert(1, 0);
    writers("try_get_mut");
    writers("try_entry");

    // A read: "a" writes, "b" reads with try_get, holding a read guard.
    CLOCK.advance(Duration::from_secs(1));
    common::on("a", || READS.insert(1, 1));
    let msg = panics_on("b", "try_get", || try_get(&READS));
    assert!(msg.contains("read_write"), "try_get: {msg:?}");
    hook_ran_once_unlocked("try_get");
    assert_eq!(
        common::found(FindingKind::ReadWrite, "try-panic-reads").len(),
        1,
        "try_get: reported before the panic"
    );
}
