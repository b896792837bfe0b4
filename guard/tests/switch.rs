//! The runtime switch in code, in a process whose first mapguard call is
//! `set_enabled` (which must not deadlock on the first-use environment read).

mod common;

use common::conflict;

use std::sync::OnceLock;

use mapguard::{DashMap, FindingKind, ManualClock, Memory};

/// The only test in this binary, so the order of the steps is the order they run.
#[test]
fn set_enabled_switches_checking_off_and_on() {
    static FIRST: OnceLock<()> = OnceLock::new();
    FIRST.get_or_init(|| mapguard::set_enabled(true));
    assert!(
        mapguard::is_enabled(),
        "MAPGUARD is unset, set_enabled(true) turns it on"
    );

    let memory = Memory::new();
    mapguard::Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .install()
        .unwrap();

    mapguard::set_enabled(false);
    assert!(!mapguard::is_enabled());
    let quiet: DashMap<u64, u64> = DashMap::named("switch-off").with_clock(ManualClock::new());
    let before = mapguard::stats().operations;
    conflict(&quiet);
    assert_eq!(
        mapguard::stats().operations,
        before,
        "nothing is recorded when off"
    );

    mapguard::set_enabled(true);
    let loud: DashMap<u64, u64> = DashMap::named("switch-on").with_clock(ManualClock::new());
    conflict(&loud);
    mapguard::flush();
    assert!(memory.on_map("switch-off").is_empty());
    assert_eq!(
        memory.of(FindingKind::ConcurrentWrite, "switch-on").len(),
        1
    );
}
