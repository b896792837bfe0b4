//! A bad `MAPGUARD*` value leaves the guard off with the default settings: a later
//! `set_enabled(true)` checks with them (before, the settings word was zeroed and the
//! guard came on with no rule at all).

mod common;

use mapguard::{DashMap, ManualClock};

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_bad_env_then_set_enabled() {
    assert!(!mapguard::is_enabled(), "the bad value kept it off");
    mapguard::set_enabled(true);
    let map: DashMap<u64, u64> = DashMap::named("re-enabled").with_clock(ManualClock::new());
    common::conflict(&map);
    mapguard::flush();
    println!(
        "enabled={} findings={}",
        mapguard::is_enabled(),
        mapguard::stats().findings
    );
}

#[test]
fn set_enabled_after_a_bad_env_value_checks_with_the_defaults() {
    let mut cmd = common::child_command("child_bad_env_then_set_enabled");
    cmd.env("MAPGUARD", "on").env("MAPGUARD_SCOPE", "shard");
    let o = common::output_within(cmd, std::time::Duration::from_secs(120), "child hung");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("enabled=true findings=1"), "{out}\n{err}");
}
