//! The shared clock after the switch comes back on: while the guard is off its
//! thread parks, and switching on wakes it, so the clock moves again at once. (It
//! used to sleep 100 ms between checks, leaving the clock frozen for up to 100 ms
//! after switching on: writes 30 ms apart looked simultaneous to a 5 ms window.)
//! Each case runs in a child process: the switch and the clock are process-wide.

mod common;

use std::time::{Duration, Instant};

use mapguard::__private::{clock_idle, clock_ms};

/// Waits (bounded far beyond any scheduling delay) until `done`.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::yield_now();
    }
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_switch_off_then_on() {
    // Switching on refreshes the clock once; only the woken thread keeps it moving.
    let ticks_again = |how: &str| {
        // Without the wake the parked thread never runs again: these never end.
        wait_for(&format!("the clock thread runs again after {how}"), || {
            !clock_idle()
        });
        let now = clock_ms();
        wait_for(&format!("the clock ticks after {how}"), || clock_ms() > now);
    };
    mapguard::set_enabled(true);
    mapguard::set_enabled(false);
    wait_for("the clock thread parks with the guard off", clock_idle);
    mapguard::set_enabled(true);
    ticks_again("set_enabled(true)");
    // Installing a config that is on wakes it too.
    mapguard::set_enabled(false);
    wait_for("the clock thread parks again", clock_idle);
    mapguard::Config::new().outputs(vec![]).install().unwrap();
    ticks_again("install");
    println!("clock woke twice");
}

#[test]
fn switching_on_again_wakes_the_clock() {
    // Each of the child's six waits may take up to 60 s before it fails itself.
    let (out, err) = common::run_child_within("child_switch_off_then_on", Duration::from_secs(180));
    assert!(out.contains("clock woke twice"), "{out}\n{err}");
}
