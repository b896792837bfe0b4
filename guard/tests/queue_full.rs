//! A full queue drops (and counts) findings instead of blocking the user's thread,
//! and a dropped finding waits, counted, until a later occurrence finds room.

mod common;

use common::conflict;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use mapguard::{Config, DashMap, Finding, ManualClock, Memory, Sink};

/// A sink that says when it is entered, then blocks every report until the gate opens.
struct Gate(Arc<(Mutex<bool>, Condvar)>, std::sync::mpsc::Sender<()>);

impl Sink for Gate {
    fn report(&mut self, _: &Finding) -> std::io::Result<()> {
        let _ = self.1.send(());
        let (open, cv) = &*self.0;
        let mut o = open.lock().unwrap();
        while !*o {
            o = cv.wait(o).unwrap();
        }
        Ok(())
    }
}

#[test]
fn full_queue_counts_drops_and_never_blocks_writers() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let memory = Memory::new();
    let (entered_tx, entered) = std::sync::mpsc::channel();
    Config::new()
        .outputs(vec![])
        .sink(Gate(gate.clone(), entered_tx))
        .sink(memory.clone())
        .queue_capacity(2)
        .install()
        .unwrap();
    let maps: Vec<DashMap<u64, u64>> = (0..10)
        .map(|i| DashMap::named(format!("q{i}")).with_clock(ManualClock::new()))
        .collect();
    // The first finding reaches the sink, which blocks the reporter.
    conflict(&maps[0]);
    entered
        .recv_timeout(Duration::from_secs(60))
        .expect("the sink was entered");
    // With the reporter stuck, every one of these writes still returns; two
    // findings fit in the queue and the other seven are dropped.
    for map in &maps[1..] {
        conflict(map);
    }
    let stats = mapguard::stats();
    assert_eq!(stats.dropped, 7, "{stats:?}");
    assert_eq!(
        stats.findings, 10,
        "dropped findings are still counted: {stats:?}"
    );
    // While the queue stays full, more occurrences of the dropped findings are only
    // counted: nothing is captured or offered again (dropped stays 7). Each
    // `conflict` on a map that already has one is two more occurrences.
    for map in &maps[1..] {
        for _ in 0..5 {
            conflict(map);
        }
    }
    let stats = mapguard::stats();
    assert_eq!(stats.dropped, 7, "offered again while full: {stats:?}");
    assert_eq!(stats.findings, 10 + 9 * 5 * 2, "{stats:?}");
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    assert!(mapguard::flush_timeout(Duration::from_secs(30)));
    let delivered = memory.findings().len() as u64;
    assert_eq!(delivered + mapguard::stats().dropped, 10);
    // A dropped finding waits in the dedup table: its next occurrence, with room now,
    // reports it, with every occurrence counted while it waited.
    let missing: Vec<_> = maps
        .iter()
        .filter(|m| memory.on_map(m.name()).is_empty())
        .collect();
    assert_eq!(missing.len(), 7);
    for map in &missing {
        // One at a time: the queue holds two.
        conflict(map);
        mapguard::flush();
    }
    for map in &missing {
        let found = memory.on_map(map.name());
        assert_eq!(found.len(), 1, "{}: {found:#?}", map.name());
        // 1 + 5 * 2 counted while it waited, the one that offered it and the second
        // write of that `conflict` (the flush's repeat summary brings the count up
        // to date if the reporter read it in between).
        assert_eq!(found[0].occurrences, 13, "{}", map.name());
    }
    assert_eq!(mapguard::stats().dropped, 7);
}
