//! The global rate limit holds new findings back instead of losing them; flush
//! delivers what it held.

mod common;

use common::on;

use mapguard::{Config, DashMap, ManualClock, Memory};

#[test]
fn findings_over_the_rate_wait_and_flush_delivers_them() {
    let memory = Memory::new();
    Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .rate_limit(1)
        .install()
        .unwrap();
    let started = std::time::Instant::now();
    let maps: Vec<DashMap<u64, u64>> = (0..50)
        .map(|i| DashMap::named(format!("rl-{i}")).with_clock(ManualClock::new()))
        .collect();
    for map in &maps {
        on("a", || map.insert(1, 1));
        on("b", || map.insert(1, 2));
    }
    // At one a second the reporter can have let out at most one finding plus one
    // per second elapsed, however slow this machine is today.
    let early = mapguard::stats().reported;
    let allowed = 1 + started.elapsed().as_secs() + 1;
    assert!(
        early <= allowed,
        "reported {early} before flush, allowed {allowed}"
    );
    mapguard::flush();
    assert_eq!(memory.findings().len(), 50);
    assert_eq!(mapguard::stats().reported, 50);
    assert_eq!(mapguard::stats().dropped, 0);
}
