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
    Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .backtrace(BacktraceMode::Off)
        .install()
        .expect("install said Ok");
    conflict(&DashMap::named("after").with_clock(ManualClock::new()));
    assert!(
        mapguard::flush_timeout(std::time::Duration::from_secs(60)),
        "flush failed: the reporter is gone"
    );
    assert_eq!(memory.on_map("after").len(), 1, "{:?}", mapguard::stats());
}
