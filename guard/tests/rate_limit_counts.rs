//! A finding waiting behind the rate limit is not summarised before it is reported,
//! and is reported with every occurrence counted up to its release: the sinks'
//! count is the true one (before, they kept the count from when it was queued).

mod common;

use common::conflict;

use std::sync::mpsc;
use std::time::Duration;

use mapguard::{BacktraceMode, Config, DashMap, Finding, ManualClock, Memory, Sink};

/// Says which call the reporter made, for which map.
struct Calls(mpsc::Sender<(&'static str, String)>);

impl Sink for Calls {
    fn report(&mut self, f: &Finding) -> std::io::Result<()> {
        let _ = self.0.send(("report", f.map.clone()));
        Ok(())
    }
    fn repeats(&mut self, f: &Finding, _new: u64) -> std::io::Result<()> {
        let _ = self.0.send(("repeats", f.map.clone()));
        Ok(())
    }
}

#[test]
fn a_rate_limited_finding_is_reported_with_its_full_count() {
    let memory = Memory::new();
    let (tx, calls) = mpsc::channel();
    Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .sink(Calls(tx))
        .rate_limit(1) // one new finding a second: the rest wait in the backlog
        .summary_interval(Duration::from_millis(1))
        .backtrace(BacktraceMode::Off)
        .install()
        .unwrap();
    // 200 new findings: the last one waits about 200 s for its turn.
    let maps: Vec<DashMap<u64, u64>> = (0..200)
        .map(|i| DashMap::named(format!("sb-{i}")).with_clock(ManualClock::new()))
        .collect();
    for m in &maps {
        conflict(m);
    }
    let wait_for = |want: (&str, &str)| loop {
        let (call, map) = calls
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no {want:?}"));
        if (call, map.as_str()) == want {
            break;
        }
    };
    wait_for(("report", "sb-0")); // the first took the one token
    let last = maps.last().unwrap();
    conflict(last); // two more occurrences of the last: 3 in all
    conflict(&maps[0]); // and of the first, reported already
    // Wait (bounded, not timed) for a summary after both: it sees the last's too.
    wait_for(("repeats", "sb-0"));
    mapguard::flush();
    let f = memory.on_map(last.name());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].occurrences, 3, "the sinks' count of {}", last.name());
}
