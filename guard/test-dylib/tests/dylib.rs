//! mapguard inside a Rust dylib: the test binary links `mapguard_test_dylib`
//! (and mapguard with it) as a shared object. A write from the dylib's code and
//! one from this file's code, on two threads, make one `concurrent_write`
//! finding that names both sites: the two sides share the settings, the map's
//! state and the reporter.

use mapguard_test_dylib::Inventory;
use mapguard_test_dylib::mapguard::{self, BacktraceMode, Config, FindingKind, Memory};

#[test]
fn a_write_in_the_dylib_and_one_here_make_one_finding() {
    let memory = Memory::new();
    Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .backtrace(BacktraceMode::Off)
        .install()
        .expect("a valid config");
    mapguard::set_enabled(true);
    assert!(mapguard::is_enabled(), "set_enabled(true) turns it on");

    let inventory = Inventory::new();
    std::thread::scope(|s| {
        s.spawn(|| inventory.restock(7, 1)).join().unwrap();
        s.spawn(|| inventory.map().insert(7, 2)).join().unwrap();
    });
    mapguard::flush();

    let found = memory.of(FindingKind::ConcurrentWrite, "inventory");
    assert_eq!(found.len(), 1, "{found:#?}");
    let files: Vec<&str> = found[0]
        .accesses
        .iter()
        .map(|a| a.site.file.as_str())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("src/lib.rs")),
        "the dylib's write site: {files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("tests/dylib.rs")),
        "this file's write site: {files:?}"
    );
    assert_eq!(mapguard::stats().operations, 2, "both writes were counted");
}
