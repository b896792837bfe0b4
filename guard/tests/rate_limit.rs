//! The global rate limit holds new findings back instead of losing them; flush
//! delivers what it held.

use mapguard::{Config, DashMap, ManualClock, Memory};

fn on<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

#[test]
fn findings_over_the_rate_wait_and_flush_delivers_them() {
    let memory = Memory::new();
    Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .rate_limit(1)
        .install()
        .unwrap();
    let maps: Vec<DashMap<u64, u64>> = (0..50)
        .map(|i| DashMap::named(format!("rl-{i}")).with_clock(ManualClock::new()))
        .collect();
    for map in &maps {
        on("a", || map.insert(1, 1));
        on("b", || map.insert(1, 2));
    }
    // At one a second, a handful at most can be out before the flush (this bound
    // only fails if the 100 writes above took tens of seconds).
    let early = mapguard::stats().reported;
    assert!(early <= 10, "reported {early} before flush");
    mapguard::flush();
    assert_eq!(memory.findings().len(), 50);
    assert_eq!(mapguard::stats().reported, 50);
    assert_eq!(mapguard::stats().dropped, 0);
}
