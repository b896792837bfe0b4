//! `Config::install` while a sink hangs (a blocking exporter whose collector never
//! answers): the reporter is stuck in the sink, so it cannot take new settings. The
//! install must come back (it waited for ever), and so must `set_enabled`, which
//! waits for the same install lock.

use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use mapguard::{Config, DashMap, Finding, ManualClock, Sink};

/// A sink that never returns from its first report.
struct Hangs(mpsc::Sender<()>, Arc<(Mutex<()>, Condvar)>);

impl Sink for Hangs {
    fn report(&mut self, _: &Finding) -> std::io::Result<()> {
        let _ = self.0.send(());
        let (lock, cv) = &*self.1;
        let mut g = lock.lock().unwrap();
        loop {
            g = cv.wait(g).unwrap();
        }
    }
}

#[test]
fn install_returns_while_a_sink_hangs() {
    let (entered_tx, entered) = mpsc::channel();
    Config::new()
        .outputs(vec![])
        .sink(Hangs(entered_tx, Arc::default()))
        .install()
        .unwrap();
    let map: DashMap<u64, u64> = DashMap::named("hang").with_clock(ManualClock::new());
    for _ in 0..2 {
        std::thread::scope(|s| {
            s.spawn(|| map.insert(1, 1));
        });
    }
    entered
        .recv_timeout(Duration::from_secs(60))
        .expect("the reporter reached the sink");
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        Config::new().outputs(vec![]).install().unwrap();
        mapguard::set_enabled(true);
        let _ = done_tx.send(());
    });
    // The install waits 5 s for the stuck reporter, then returns; 60 s is far
    // beyond that and any scheduling delay, so a failure here is a hang.
    done.recv_timeout(Duration::from_secs(60))
        .expect("Config::install hung behind a stuck sink");
    assert!(mapguard::is_enabled());
}
