//! Guards taken with the runtime switch off, dropped after it is switched on: they
//! were never tracked, so their drops must leave alone a guard taken after the
//! switch, whose deadlock is then still reported.
//!
//! Such a guard carries the settings word it tested as its token, and only that
//! word's `ENABLED` bit, clear, may count at its drop. Key scope, accesses mode,
//! backtraces and every rule set the word's other bits. (The bit logic itself is
//! checked by `tracked_tokens_are_live_and_off_words_are_not` in the library.)

mod common;

use mapguard::{BacktraceMode, Config, DashMap, FindingKind, Memory, Mode, Reaction, Rules, Scope};

/// The only test in this binary, so the order of the steps is the order they run.
#[test]
fn a_guard_taken_off_releases_nothing_when_dropped_on() {
    let memory = Memory::new();
    Config::new()
        .enabled(true)
        .scope(Scope::Key)
        .mode(Mode::Accesses)
        .backtrace(BacktraceMode::Always)
        .rules(Rules::ALL)
        .outputs(vec![])
        .sink(memory.clone())
        .install()
        .unwrap();
    let map: DashMap<u64, u64> = DashMap::named("held-across-switch")
        .with_rules(Rules::NONE.with(FindingKind::ReentrantAccess))
        .with_reaction(Reaction::Panic);
    map.insert(1, 1);

    // On one thread, as the held slots are per thread.
    common::must_panic("insert under a guard taken after the switch", || {
        mapguard::set_enabled(false);
        // Taken off: untracked. Several, so that several off tokens are dropped.
        let off: Vec<_> = (0..4).map(|_| map.get(&1).unwrap()).collect();
        mapguard::set_enabled(true);
        // Taken on: tracked, in the thread's first free held slot.
        let on = map.get(&1).unwrap();
        drop(off);
        // Writing the key under `on` would deadlock: reported, and stopped by
        // the panic. Had a drop above released `on`'s slot, this would hang.
        map.insert(1, 2);
        drop(on);
    });
    mapguard::flush();
    let found = memory.of(FindingKind::ReentrantAccess, "held-across-switch");
    assert_eq!(found.len(), 1, "{found:#?}");
}
