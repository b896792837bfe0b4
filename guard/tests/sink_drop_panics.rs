//! A sink whose `Drop` panics (an exporter that unwraps its shutdown), dropped on
//! the reporter thread when a new `Config` replaces it: the panic is caught and
//! counted, and the reporter goes on delivering to the new sinks.

mod common;

use common::conflict;

use mapguard::{BacktraceMode, Config, DashMap, Finding, ManualClock, Memory, Sink};

struct PanicsOnDrop;

impl Sink for PanicsOnDrop {
    fn report(&mut self, _: &Finding) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("exporter shutdown failed");
    }
}

#[test]
fn a_sink_that_panics_when_dropped_does_not_stop_the_reporter() {
    Config::new()
        .outputs(vec![])
        .sink(PanicsOnDrop)
        .backtrace(BacktraceMode::Off)
        .install()
        .unwrap();
    // A finding starts the reporter, which now owns the sink.
    conflict(&DashMap::named("before").with_clock(ManualClock::new()));
    assert!(mapguard::flush_timeout(std::time::Duration::from_secs(60)));

    let memory = Memory::new();
    common::install_into(&memory);
    conflict(&DashMap::named("after").with_clock(ManualClock::new()));
    assert!(
        mapguard::flush_timeout(std::time::Duration::from_secs(60)),
        "flush failed: the reporter is gone"
    );
    assert_eq!(memory.on_map("after").len(), 1, "{:?}", mapguard::stats());
}

/// Before the first finding the replaced sinks are dropped by the install that
/// replaces them, on the caller's thread: their panic is caught and counted there
/// too, and `install` neither panics nor fails. (A child process: this binary's
/// other test starts the reporter.)
#[test]
#[ignore = "run as a child by the test below"]
fn child_replace_before_any_finding() {
    Config::new()
        .outputs(vec![])
        .sink(PanicsOnDrop)
        .install()
        .unwrap();
    let replaced = std::panic::catch_unwind(|| Config::new().outputs(vec![]).install());
    assert!(matches!(replaced, Ok(Ok(()))));
    println!(
        "replaced without a panic, sink_errors={}",
        mapguard::stats().sink_errors
    );
}

#[test]
fn a_sink_that_panics_when_dropped_before_any_finding_does_not_panic_install() {
    let (out, err) = common::run_child("child_replace_before_any_finding");
    assert!(
        out.contains("replaced without a panic, sink_errors=1"),
        "{out}\n{err}"
    );
}
