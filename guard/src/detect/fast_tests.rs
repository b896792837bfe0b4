//! The fast path against the general one: the same script of accesses, played by
//! two real threads on a manual clock, once as shipped and once with the fast path
//! declined on every access, must yield the same findings. Also on the ticked clock
//! with a window of an hour (every access within it, whatever the machine's speed),
//! where a map with the default settings takes the fast path's `PLAIN` copy.

use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

use crate::{BacktraceMode, Config, DashMap, Finding, FindingKind, ManualClock, Memory, Scope};

thread_local! {
    /// Set on a thread: its accesses all take the general path.
    pub(crate) static GENERAL_ONLY: Cell<bool> = const { Cell::new(false) };
    /// Accesses the fast path took on this thread.
    pub(crate) static FAST_TAKEN: Cell<u64> = const { Cell::new(0) };
    /// Accesses on this thread that entered the fast path's copy for the default
    /// settings (its `PLAIN` copy), which may still decline them.
    pub(crate) static PLAIN_TAKEN: Cell<u64> = const { Cell::new(0) };
    /// Run (once) by this thread's next build of a map's key slots, between its
    /// read of the map's last write and the table's publication.
    static SLOTS_HOOK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs and clears this thread's [`SLOTS_HOOK`], if it has one.
pub(crate) fn run_slots_hook() {
    if let Some(hook) = SLOTS_HOOK
        .try_with(|h| h.borrow_mut().take())
        .ok()
        .flatten()
    {
        hook();
    }
}

/// Sets this thread's [`SLOTS_HOOK`].
pub(crate) fn on_next_slots_build(hook: impl FnOnce() + 'static) {
    SLOTS_HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
}

/// A thread named `name` in scope `s`.
fn spawn_named<'s, T: Send + 's>(
    s: &'s std::thread::Scope<'s, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 's,
) -> std::thread::ScopedJoinHandle<'s, T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(s, f)
        .unwrap()
}

/// A key-scope `DashMap` named `name` on a manual clock.
fn key_scope_map(name: &'static str) -> DashMap<u64, u64> {
    DashMap::named(name)
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key)
}

/// After a flush, whether `name` has a `concurrent_write` from `first` to `then`.
fn conflict(name: &str, first: &str, then: &str) -> bool {
    crate::flush();
    memory()
        .of(FindingKind::ConcurrentWrite, name)
        .iter()
        .any(|f| {
            let who = |i: usize| f.accesses[i].thread_name.as_deref();
            (who(0), who(1)) == (Some(first), Some(then))
        })
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Get(u64),
    TryGet(u64),
    ContainsKey(u64),
    Insert(u64),
    Remove(u64),
    GetMut(u64),
    EntryAdd(u64),
    GetOrInsertWith(u64),
    /// Takes a `Ref` and keeps it until `Release`.
    Hold(u64),
    Release,
    Iterate,
    StopIterating,
    Advance(u64),
    /// `clear`: a write of every key.
    Clear,
}

fn step() -> impl Strategy<Value = (usize, Step)> {
    // Few keys and short clock steps, so that accesses meet within the window.
    let key = 0u64..2;
    let s = prop_oneof![
        4 => key.clone().prop_map(Step::Get),
        1 => key.clone().prop_map(Step::TryGet),
        1 => key.clone().prop_map(Step::ContainsKey),
        4 => key.clone().prop_map(Step::Insert),
        1 => key.clone().prop_map(Step::Remove),
        1 => key.clone().prop_map(Step::GetMut),
        2 => key.clone().prop_map(Step::EntryAdd),
        1 => key.clone().prop_map(Step::GetOrInsertWith),
        1 => key.prop_map(Step::Hold),
        1 => Just(Step::Release),
        1 => Just(Step::Iterate),
        1 => Just(Step::StopIterating),
        1 => Just(Step::Clear),
        1 => (0u64..150).prop_map(Step::Advance),
    ];
    (0usize..2, s)
}

/// A map's settings for one script.
#[derive(Clone, Copy, Debug)]
struct Setup {
    scope: Scope,
    rules: crate::Rules,
    accesses: bool,
    always: bool,
    /// The ticked clock and a window of an hour instead of a manual clock: the
    /// script's clock steps change nothing.
    ticked: bool,
    /// One key slot instead of the default 1024 (key scope): the script's keys
    /// share it, so a write finds the other key's write there.
    one_slot: bool,
}

impl Setup {
    fn map(scope: Scope) -> Self {
        Setup {
            scope,
            rules: crate::Rules::ALL,
            accesses: false,
            always: false,
            ticked: false,
            one_slot: false,
        }
    }
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        prop_oneof![3 => Just(0x1fu32), 1 => 0u32..0x20],
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.1),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(key, rules, accesses, always, ticked, one_slot)| Setup {
            scope: if key { Scope::Key } else { Scope::Map },
            rules: crate::Rules::from_bits(rules),
            // Not on the ticked clock: a map-wide read in mode `accesses` reports the
            // latest keyed write by its millisecond, which there depends on how fast
            // the machine runs the script (and the fast path declines that mode).
            accesses: accesses && !ticked,
            always,
            ticked,
            one_slot: key && one_slot,
        })
}

/// Worker 1 runs its steps inside this `#[guarded]`-style function.
static WORKER_FN: crate::function::Function = crate::function::Function::new("diff::worker1");

fn memory() -> &'static Memory {
    static MEMORY: std::sync::OnceLock<Memory> = std::sync::OnceLock::new();
    MEMORY.get_or_init(|| {
        let m = Memory::new();
        Config::new()
            .outputs(vec![])
            .sink(m.clone())
            .backtrace(BacktraceMode::Off)
            .summary_interval(Duration::from_secs(3600))
            .install()
            .expect("valid test config");
        m
    })
}

/// Plays `script` on a fresh map named `name`; returns its findings, each reduced
/// to what does not depend on the run: kind, same_key, and per access the op, the
/// thread and the source line.
/// True if `found` (as [`play`] returns it) has a finding of `kind`.
fn has(found: &[String], kind: FindingKind) -> bool {
    let kind = kind.to_string();
    found.iter().any(|f| f.starts_with(&kind))
}

fn play(name: &str, setup: Setup, script: &[(usize, Step)], general_only: bool) -> Vec<String> {
    play_counting(name, setup, script, general_only).0
}

/// [`play`], and how many accesses took the fast path, and how many entered its
/// `PLAIN` copy (which may still decline one).
fn play_counting(
    name: &str,
    setup: Setup,
    script: &[(usize, Step)],
    general_only: bool,
) -> (Vec<String>, u64, u64) {
    let memory = memory();
    crate::set_enabled(true);
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::new()
        .with_name(name.to_owned())
        .with_scope(setup.scope)
        .with_rules(setup.rules)
        .with_mode(if setup.accesses {
            crate::Mode::Accesses
        } else {
            crate::Mode::Writes
        })
        .with_backtrace(if setup.always {
            BacktraceMode::Always
        } else {
            BacktraceMode::Off
        });
    let map = if setup.one_slot {
        map.with_key_slots(1)
    } else {
        map
    };
    let map = if setup.ticked {
        map.with_window(Duration::from_secs(3600))
    } else {
        map.with_clock(clock.clone())
    };
    let fast_taken = std::sync::atomic::AtomicU64::new(0);
    let plain_taken = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (tx, rx) = mpsc::channel::<Step>();
                let (done_tx, done_rx) = mpsc::channel::<()>();
                let map = &map;
                let fast_taken = &fast_taken;
                let plain_taken = &plain_taken;
                std::thread::Builder::new()
                    .name(format!("w{w}"))
                    .spawn_scoped(s, move || {
                        // Registers the thread first, as a thread that has used
                        // any guarded map before is.
                        drop(DashMap::<u64, u64>::new().get(&0));
                        GENERAL_ONLY.with(|g| g.set(general_only));
                        FAST_TAKEN.with(|f| f.set(0));
                        PLAIN_TAKEN.with(|f| f.set(0));
                        let _in_fn =
                            (w == 1).then(|| crate::function::FunctionScope::enter(&WORKER_FN));
                        let mut held = Vec::new();
                        let mut iters = Vec::new();
                        for step in rx {
                            match step {
                                Step::Get(k) => drop(map.get(&k)),
                                Step::TryGet(k) => drop(map.try_get(&k)),
                                Step::GetOrInsertWith(k) => drop(map.get_or_insert_with(k, || 0)),
                                Step::ContainsKey(k) => drop(map.contains_key(&k)),
                                Step::Insert(k) => drop(map.insert(k, k)),
                                Step::Remove(k) => drop(map.remove(&k)),
                                Step::GetMut(k) => drop(map.get_mut(&k)),
                                Step::EntryAdd(k) => *map.entry(k).or_insert(0) += 1,
                                Step::Hold(k) => held.extend(map.get(&k)),
                                Step::Release => held.clear(),
                                Step::Iterate => iters.push(map.iter()),
                                Step::StopIterating => iters.clear(),
                                Step::Clear => map.clear(),
                                Step::Advance(_) => {}
                            }
                            done_tx.send(()).expect("driver alive");
                        }
                        fast_taken.fetch_add(
                            FAST_TAKEN.with(|f| f.replace(0)),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        plain_taken.fetch_add(
                            PLAIN_TAKEN.with(|f| f.replace(0)),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                    })
                    .expect("spawn");
                (tx, done_rx)
            })
            .collect();
        for &(who, step) in script {
            if let Step::Advance(ms) = step {
                clock.advance(Duration::from_millis(ms));
                continue;
            }
            // A step that would block on a lock another worker holds is skipped in
            // both runs alike: writes while the other worker holds anything.
            let (tx, done) = &workers[who];
            tx.send(step).expect("worker alive");
            done.recv().expect("worker alive");
        }
    });
    crate::flush();
    let mut found: Vec<String> = memory
        .on_map(name)
        .iter()
        .map(|f: &Finding| {
            let accesses: Vec<String> = f
                .accesses
                .iter()
                .map(|a| {
                    format!(
                        "{}@{}:{}/{}",
                        a.op,
                        a.thread_name.as_deref().unwrap_or("?"),
                        a.site.line,
                        a.function.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            format!("{} same_key={} {}", f.kind, f.same_key, accesses.join(" "))
        })
        .collect();
    found.sort();
    (found, fast_taken.into_inner(), plain_taken.into_inner())
}

/// Drops the steps that would deadlock: a locking write while either worker holds a
/// `Ref` (on a shard we cannot predict). Iterators are never advanced, so they hold
/// no lock and writes go on beside them. Both runs play the script as filtered.
fn without_deadlocks(script: Vec<(usize, Step)>) -> Vec<(usize, Step)> {
    let mut refs = [false; 2];
    script
        .into_iter()
        .filter(|&(who, step)| {
            match step {
                Step::Release => refs[who] = false,
                Step::Hold(_) => refs[who] = true,
                Step::Advance(_)
                | Step::Get(_)
                | Step::TryGet(_)
                | Step::ContainsKey(_)
                | Step::Iterate
                | Step::StopIterating => {}
                _ => return !refs.iter().any(|h| *h),
            }
            true
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_finds_what_the_general_path_finds(
        script in proptest::collection::vec(step(), 1..40),
        setup in setup(),
    ) {
        static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut script = without_deadlocks(script);
        if setup.ticked {
            // In key scope a `clear` is checked against the latest keyed write by its
            // millisecond, which on the ticked clock depends on how fast the machine
            // runs the script (as for mode `accesses`, in `setup`).
            script.retain(|(_, step)| !matches!(step, Step::Clear));
        }
        let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fast = play(&format!("diff-fast-{n}"), setup, &script, false);
        let general = play(&format!("diff-general-{n}"), setup, &script, true);
        prop_assert_eq!(fast, general);
    }
}

#[test]
fn the_switch_routes_around_the_fast_path_and_both_find() {
    // Guards the test above against comparing the general path with itself, and
    // shows which copy of the fast path each setup runs.
    let script = [
        (0, Step::Get(1)),
        (1, Step::Insert(1)),
        (0, Step::Insert(1)),
    ];
    for scope in [Scope::Map, Scope::Key] {
        for ticked in [false, true] {
            for general_only in [false, true] {
                let name = format!("diff-switch-{scope:?}-{ticked}-{general_only}");
                let setup = Setup {
                    ticked,
                    ..Setup::map(scope)
                };
                let (found, fast, plain) = play_counting(&name, setup, &script, general_only);
                assert_eq!(fast == 0, general_only, "{name}: {fast} fast accesses");
                // A manual clock is a setting the plain copy does not cover.
                assert_eq!(
                    plain != 0,
                    ticked && !general_only,
                    "{name}: {plain} plain accesses"
                );
                // The read was remembered (on the fast path, when it is on) and the
                // other thread's write in between makes the last write a lost update.
                assert!(has(&found, FindingKind::LostUpdate), "{name}: {found:?}");
            }
        }
    }
}

#[test]
fn maps_that_change_a_setting_the_plain_copy_decides_take_the_other_copy() {
    // Each map overrides one setting; the script is run on the ticked clock. Those
    // that keep the defaults' values take the plain copy, the rest the other one,
    // and both find what the general path finds.
    let script = [
        (0, Step::Get(1)),
        (1, Step::Insert(1)),
        (0, Step::Insert(1)),
    ];
    let ticked = |rules| Setup {
        ticked: true,
        rules,
        ..Setup::map(Scope::Map)
    };
    for (what, setup, plain) in [
        ("all rules", ticked(crate::Rules::ALL), true),
        (
            "the two rules only",
            ticked(
                crate::Rules::NONE
                    .with(FindingKind::LostUpdate)
                    .with(FindingKind::ReentrantAccess),
            ),
            true,
        ),
        (
            "no lost_update",
            ticked(crate::Rules::ALL.without(FindingKind::LostUpdate)),
            false,
        ),
        (
            "no reentrant_access",
            ticked(crate::Rules::ALL.without(FindingKind::ReentrantAccess)),
            false,
        ),
    ] {
        let name = format!("diff-plain-{what}");
        let (found, fast, plain_taken) = play_counting(&name, setup, &script, false);
        assert_ne!(fast, 0, "{what}");
        assert_eq!(plain_taken != 0, plain, "{what}: {plain_taken}");
        let general = play(&format!("{name}-general"), setup, &script, true);
        assert_eq!(found, general, "{what}");
        assert_eq!(
            has(&found, FindingKind::LostUpdate),
            setup.rules.contains(FindingKind::LostUpdate),
            "{what}: {found:?}"
        );
    }
}

#[test]
fn a_read_after_the_other_threads_write_is_not_a_lost_update_on_either_path() {
    // The read's snapshot must be the record as the read saw it: the write that
    // follows overwrites what it read, which is a concurrent write, not a lost update.
    let script = [
        (1, Step::Insert(1)),
        (0, Step::Get(1)),
        (0, Step::Insert(1)),
    ];
    for scope in [Scope::Map, Scope::Key] {
        let fast = play(
            &format!("diff-snapshot-{scope:?}-fast"),
            Setup::map(scope),
            &script,
            false,
        );
        let general = play(
            &format!("diff-snapshot-{scope:?}-general"),
            Setup::map(scope),
            &script,
            true,
        );
        assert_eq!(fast, general);
        assert!(!has(&fast, FindingKind::LostUpdate), "{fast:?}");
        assert!(has(&fast, FindingKind::ConcurrentWrite), "{fast:?}");
    }
}

#[test]
fn a_write_over_the_other_threads_write_of_another_key_stays_on_the_fast_path() {
    // Key scope with one slot: keys 0 and 1 share it. Worker 0's write of key 0
    // allocates the slots (on the general path). Worker 1's write of key 1 finds
    // it there, which no rule compares with a write of key 1: the fast path stores
    // over it (it used to decline, and the general path did only that). Worker 0's
    // write of key 1 then finds worker 1's write of the same key: declined, and a
    // concurrent write on both paths.
    let script = [
        (0, Step::Insert(0)),
        (1, Step::Insert(1)),
        (0, Step::Insert(1)),
    ];
    let one_slot = Setup {
        one_slot: true,
        ..Setup::map(Scope::Key)
    };
    let (found, fast, _) = play_counting("diff-other-key-fast", one_slot, &script, false);
    let general = play("diff-other-key-general", one_slot, &script, true);
    assert_eq!(found, general);
    assert_eq!(fast, 1, "worker 1's write only: {found:?}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("concurrent_write same_key=true"),
        "{found:?}"
    );

    // In map scope every write is the map's: the second write conflicts already.
    let map_scope = Setup::map(Scope::Map);
    let (found, fast, _) = play_counting("diff-other-key-map", map_scope, &script, false);
    assert_eq!(fast, 1, "the first write only: {found:?}");
    assert!(has(&found, FindingKind::ConcurrentWrite), "{found:?}");
}

#[test]
fn a_second_write_in_the_same_millisecond_still_makes_the_read_stale() {
    // Worker 1 writes key 1 twice from one call site within one millisecond (the
    // manual clock never moves here); worker 0 read between the two and then writes
    // blind: a lost update, which only the write number in the stamp can show.
    let script = [
        (1, Step::Insert(1)),
        (0, Step::Get(1)),
        (1, Step::Insert(1)),
        (0, Step::Insert(1)),
    ];
    assert_lost_update_in_both_scopes_and_paths("diff-same-ms", &script);
}

/// Plays `script` in each scope, on the fast path and on the general path alone,
/// and asserts a `lost_update` in each.
fn assert_lost_update_in_both_scopes_and_paths(prefix: &str, script: &[(usize, Step)]) {
    for scope in [Scope::Map, Scope::Key] {
        for general_only in [false, true] {
            let name = format!("{prefix}-{scope:?}-{general_only}");
            let found = play(&name, Setup::map(scope), script, general_only);
            assert!(has(&found, FindingKind::LostUpdate), "{name}: {found:?}");
        }
    }
}

#[test]
fn a_clear_in_the_same_millisecond_makes_the_read_stale() {
    // Worker 1 writes key 1, worker 0 reads it, worker 1 clears the map within the
    // same millisecond, worker 0 writes key 1 blind: a lost update. In key scope
    // the clear stamps every key slot; each slot's write number must follow its
    // own (the map's record, first written here, would give the slot the very
    // number the read saw).
    let script = [
        (1, Step::Insert(1)),
        (0, Step::Get(1)),
        (1, Step::Clear),
        (0, Step::Insert(1)),
    ];
    assert_lost_update_in_both_scopes_and_paths("diff-clear-same-ms", &script);
}

#[test]
fn a_std_get_is_booked_on_the_fast_path_and_still_makes_a_lost_update() {
    // `HashMap::get` (a read without a guard) takes the fast path in the caller's
    // code; the read it books must still make the later blind write a lost update.
    let memory = memory();
    crate::set_enabled(true);
    for general_only in [false, true] {
        let name = format!("std-get-{general_only}");
        let map = std::sync::RwLock::new(
            crate::HashMap::<u64, u64>::new()
                .with_name(name.clone())
                .with_clock(ManualClock::new()),
        );
        let fast = std::thread::scope(|s| {
            s.spawn(|| {
                // Registers the thread first, as a thread that has used any guarded
                // map before is.
                drop(DashMap::<u64, u64>::new().get(&0));
                GENERAL_ONLY.with(|g| g.set(general_only));
                FAST_TAKEN.with(|f| f.set(0));
                let seen = map.read().expect("lock").get(&1).copied();
                let fast = FAST_TAKEN.with(Cell::get);
                s.spawn(|| map.write().expect("lock").insert(1, 5))
                    .join()
                    .expect("writer");
                map.write().expect("lock").insert(1, seen.unwrap_or(0) + 1);
                fast
            })
            .join()
            .expect("worker")
        });
        crate::flush();
        assert_eq!(
            fast,
            u64::from(!general_only),
            "general_only={general_only}"
        );
        let found = memory.on_map(&name);
        assert!(
            found.iter().any(|f| f.kind == FindingKind::LostUpdate),
            "general_only={general_only}: {found:?}"
        );
    }
}

#[test]
fn std_writes_record_the_callers_line_on_both_paths() {
    // A std map's `insert`, `remove` and `remove_entry` record in a function of
    // their own (`MapState::write_then_on`). Each write must still take the fast
    // path when it can, hash its key as `insert` does (key scope finds the pair
    // only then), conflict with the other thread's write, and name the user's op
    // and line.
    let memory = memory();
    crate::set_enabled(true);
    for scope in [Scope::Map, Scope::Key] {
        for general_only in [false, true] {
            let name = format!("std-write-{scope:?}-{general_only}");
            let map = std::sync::RwLock::new(
                crate::HashMap::<u64, u64>::new()
                    .with_name(name.clone())
                    .with_scope(scope)
                    .with_clock(ManualClock::new()),
            );
            let (fast, lines) = std::thread::scope(|s| {
                s.spawn(|| {
                    drop(DashMap::<u64, u64>::new().get(&0));
                    GENERAL_ONLY.with(|g| g.set(general_only));
                    FAST_TAKEN.with(|f| f.set(0));
                    map.write().expect("lock").insert(1, 1);
                    // Their record last saw this thread: fast-path writes too.
                    map.write().expect("lock").remove(&1);
                    let remove_line = line!() + 1;
                    map.write().expect("lock").remove_entry(&1);
                    let fast = FAST_TAKEN.with(Cell::get);
                    let insert_line = line!() + 1;
                    s.spawn(|| map.write().expect("lock").insert(1, 2))
                        .join()
                        .expect("writer");
                    (fast, [remove_line, insert_line])
                })
                .join()
                .expect("worker")
            });
            crate::flush();
            let case = format!("{scope:?}, general_only={general_only}");
            // In key scope the first write allocates the key slots: general path.
            let expect = match (general_only, scope) {
                (true, _) => 0,
                (false, Scope::Map) => 3,
                (false, Scope::Key) => 2,
            };
            assert_eq!(fast, expect, "{case}");
            let found = memory.on_map(&name);
            let cw: Vec<_> = found
                .iter()
                .filter(|f| f.kind == FindingKind::ConcurrentWrite)
                .collect();
            assert_eq!(cw.len(), 1, "{case}: {found:?}");
            assert!(cw[0].same_key, "{case}: {:?}", cw[0]);
            let mut seen: Vec<(u32, &str)> = cw[0]
                .accesses
                .iter()
                .map(|a| (a.site.line, a.op.name()))
                .collect();
            seen.sort_unstable();
            // This thread's `remove_entry` (a remove), then the other's insert.
            let want = vec![(lines[0], "remove"), (lines[1], "insert")];
            assert_eq!(seen, want, "{case}");
            assert!(
                cw[0]
                    .accesses
                    .iter()
                    .all(|a| a.site.file.ends_with("fast_tests.rs")),
                "{case}: {:?}",
                cw[0].accesses
            );
        }
    }
}

#[test]
fn the_plain_copy_holds_guards_for_reentrant_access() {
    // Most tests run on manual clocks, which the plain copy does not cover: here the
    // default settings on the ticked clock, as a service runs them. Relies, as the
    // PLAIN counts above do, on the global config `memory()` installs being plain
    // (the defaults).
    memory();
    crate::set_enabled(true);
    let holds = || crate::thread::with_local(|t| t.detect.holds_any()).expect("thread alive");
    for scope in [Scope::Map, Scope::Key] {
        let name = format!("plain-reentrant-{scope:?}");
        let map: DashMap<u64, u64> = DashMap::new()
            .with_name(name.clone())
            .with_scope(scope)
            .with_reaction(crate::Reaction::Panic);
        map.insert(1, 1);
        let lean: DashMap<u64, u64> = DashMap::new()
            .with_name(format!("plain-lean-{scope:?}"))
            .with_scope(scope)
            .with_rules(crate::Rules::ALL.without(FindingKind::ReentrantAccess));
        lean.insert(1, 1);
        assert!(!holds());

        PLAIN_TAKEN.with(|p| p.set(0));
        let r = map.get(&1).expect("inserted");
        assert_eq!(PLAIN_TAKEN.with(Cell::get), 1, "{name}: the plain copy");
        assert!(holds(), "{name}: a Ref from the plain copy is held");
        // Checked above, so that a guard left untracked fails there instead of
        // deadlocking here: shrink_to_fit write-locks every shard, this one's too.
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| map.shrink_to_fit()));
        assert!(
            waited.is_err(),
            "{name}: reaction panic stops the call first"
        );
        drop(r);
        assert!(!holds(), "{name}: dropping the Ref releases it");
        crate::flush();
        let found = memory().on_map(&name);
        let f = found
            .iter()
            .find(|f| f.kind == FindingKind::ReentrantAccess)
            .unwrap_or_else(|| panic!("{name}: {found:?}"));
        // The guard's access, as the fast path booked it (its stamp kept without
        // the thread's id, which the thread's table puts back), and the call.
        let (held, call) = (&f.accesses[0], &f.accesses[1]);
        assert_eq!(
            (held.op, call.op),
            (crate::Op::Get, crate::Op::ShrinkToFit),
            "{name}"
        );
        assert_eq!(held.thread_id, call.thread_id, "{name}: {f:?}");
        assert_eq!(held.thread_name, call.thread_name, "{name}: {f:?}");

        // Without the rule the other copy runs, and holds nothing.
        PLAIN_TAKEN.with(|p| p.set(0));
        let r = lean.get(&1).expect("inserted");
        assert_eq!(PLAIN_TAKEN.with(Cell::get), 0, "{name}");
        assert!(!holds(), "{name}");
        drop(r);
    }
}

// Three races between a map's first keyed access, which builds the key slots
// (reading the map's last write, then publishing the table), and a `clear`, a write
// of every key, which must end up in the table that is kept exactly once. A
// test-only hook stops a build between its read and its publication.

#[test]
fn a_clear_made_while_another_thread_builds_the_key_slots_reaches_them() {
    // The builder has read the last write (nothing yet) when the cleaner clears
    // the map and is done (building, and keeping, a table of its own). The clear
    // must be the last write of key 2: "late"'s write of it conflicts with it.
    // (The clear used to fill only slots that existed, none then, and the
    // builder's table, published after, never had it.)
    memory();
    let name = "race-clear-while-building";
    let map = key_scope_map(name);
    let (go, go_rx) = mpsc::channel::<()>();
    let (done, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let map = &map;
        spawn_named(s, "cleaner", move || {
            go_rx.recv().unwrap();
            map.clear();
            done.send(()).unwrap();
        });
        spawn_named(s, "builder", move || {
            on_next_slots_build(move || {
                go.send(()).unwrap();
                done_rx.recv().expect("the cleaner finished");
            });
            map.insert(1, 1);
        });
    });
    std::thread::scope(|s| spawn_named(s, "late", || map.insert(2, 2)).join().unwrap());
    assert!(conflict(name, "cleaner", "late"));
}

#[test]
fn a_clear_whose_own_table_loses_fills_the_table_kept() {
    // As above, but the cleaner's own build stops too, until the builder's table
    // is published and its write made: the cleaner's table is dropped, and the
    // clear must fill the builder's, built from before it.
    memory();
    let name = "race-clear-loses";
    let map = key_scope_map(name);
    let (go, go_rx) = mpsc::channel::<()>();
    let (built, built_rx) = mpsc::channel::<()>();
    let (published, published_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let map = &map;
        spawn_named(s, "cleaner", move || {
            go_rx.recv().unwrap();
            on_next_slots_build(move || {
                built.send(()).unwrap();
                published_rx.recv().unwrap();
            });
            map.clear();
        });
        spawn_named(s, "builder", move || {
            on_next_slots_build(move || {
                go.send(()).unwrap();
                built_rx.recv().unwrap();
            });
            map.insert(1, 1);
            published.send(()).unwrap();
        });
    });
    std::thread::scope(|s| spawn_named(s, "late", || map.insert(2, 2)).join().unwrap());
    assert!(conflict(name, "cleaner", "late"));
}

#[test]
fn a_table_built_from_the_clear_is_not_filled_with_it_twice() {
    // The cleaner has stored its clear and is building a table, stopped; the
    // reader's first access reads key 1, building (from the clear) and keeping
    // the table; then the cleaner's own table is dropped. Filling the kept table
    // with the clear again would count a second write in key 1's slot, after the
    // reader saw the first: its write of key 1 would look like a lost update.
    memory();
    let name = "race-clear-twice";
    let map = key_scope_map(name);
    let (built, built_rx) = mpsc::channel::<()>();
    let (read, read_rx) = mpsc::channel::<()>();
    let (cleared, cleared_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let map = &map;
        spawn_named(s, "cleaner", move || {
            on_next_slots_build(move || {
                built.send(()).unwrap();
                read_rx.recv().unwrap();
            });
            map.clear();
            cleared.send(()).unwrap();
        });
        spawn_named(s, "reader", move || {
            built_rx.recv().unwrap();
            drop(map.get(&1));
            read.send(()).unwrap();
            cleared_rx.recv().unwrap();
            map.insert(1, 1);
        });
    });
    crate::flush();
    assert!(
        memory().of(FindingKind::LostUpdate, name).is_empty(),
        "{:#?}",
        memory().of(FindingKind::LostUpdate, name)
    );
    // The clear did reach the table: the reader's write conflicts with it.
    assert!(conflict(name, "cleaner", "reader"));
}

#[test]
fn a_clear_with_the_stamp_the_table_was_built_from_still_fills_it() {
    // The cleaner's first clear builds the table (from itself). Its 33rd clear,
    // in the same millisecond, carries the very same stamp: the map's record counts
    // writes modulo 32. The reader reads key 1 between the 32nd and the 33rd, then
    // writes it: a lost update, which the 33rd clear's pass over the slots must
    // make visible although its stamp is the one the table was built from.
    memory();
    let name = "race-clear-wrapped";
    let map = key_scope_map(name);
    let (cleared, cleared_rx) = mpsc::channel::<()>();
    let (read, read_rx) = mpsc::channel::<()>();
    let (last, last_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let map = &map;
        spawn_named(s, "cleaner", move || {
            for _ in 0..32 {
                map.clear();
            }
            cleared.send(()).unwrap();
            read_rx.recv().unwrap();
            map.clear();
            last.send(()).unwrap();
        });
        spawn_named(s, "reader", move || {
            cleared_rx.recv().unwrap();
            drop(map.get(&1));
            read.send(()).unwrap();
            last_rx.recv().unwrap();
            map.insert(1, 1);
        });
    });
    crate::flush();
    let lost = memory().of(FindingKind::LostUpdate, name);
    assert_eq!(lost.len(), 1, "{lost:#?}");
}

#[test]
fn a_keyed_write_leaves_no_guard_held_on_either_path() {
    // `MapState::keyed` does not drop the token of a blocking keyed write: asked for
    // none, `on_keyed` makes none. If it ever made one, its held slot would stay
    // taken for good: the thread would leave the fast path, and a later blocking
    // access to the same map would be reported as a `reentrant_access` that is not
    // there. Both paths (the fast one counted), both scopes, with `reentrant_access`
    // on (the default), and with a real guard held around it.
    memory();
    crate::set_enabled(true);
    let holds = || crate::thread::with_local(|t| t.detect.holds_any()).expect("thread alive");
    for general_only in [false, true] {
        GENERAL_ONLY.with(|g| g.set(general_only));
        for scope in [Scope::Map, Scope::Key] {
            let what = format!("scope {scope:?}, general only {general_only}");
            let mut std_map: crate::HashMap<u64, u64> = crate::HashMap::new()
                .with_name(format!("keyed-write-std-{scope:?}-{general_only}"))
                .with_scope(scope);
            let mut tree: crate::BTreeMap<u64, u64> = crate::BTreeMap::new()
                .with_name(format!("keyed-write-tree-{scope:?}-{general_only}"))
                .with_scope(scope);
            let dash: DashMap<u64, u64> = DashMap::new()
                .with_name(format!("keyed-write-dash-{scope:?}-{general_only}"))
                .with_scope(scope);
            FAST_TAKEN.with(|f| f.set(0));
            for k in 0..3 {
                *std_map.entry(k).or_insert(0) += 1;
                std_map.get_mut(&k);
                tree.insert(k, k);
                *tree.entry(k).or_insert(0) += 1;
                tree.get_mut(&k);
                tree.remove(&k);
                dash.insert(k, k);
                dash.remove(&k);
                dash.insert(k, k);
                assert!(!holds(), "{what}: key {k}");
            }
            let fast = FAST_TAKEN.with(Cell::get);
            if general_only {
                assert_eq!(fast, 0, "{what}");
            } else {
                // The first access of each map makes its first-use work on the
                // general path; most of the rest take the fast one.
                assert!(fast >= 12, "{what}: {fast} on the fast path");
            }
            // With a guard held the access goes to the general path's held-guard
            // checks; the write to another map must not add a guard of its own.
            let r = dash.get(&0).expect("inserted");
            assert!(holds(), "{what}: the Ref is held");
            *std_map.entry(7).or_insert(0) += 1;
            tree.insert(7, 7);
            drop(r);
            assert!(!holds(), "{what}: only the Ref was held");
        }
    }
    GENERAL_ONLY.with(|g| g.set(false));
}
