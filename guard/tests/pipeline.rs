//! The reporting pipeline seen from outside: dedup and repeat counts, a sink that
//! panics, JSON lines, stacks on finding, stats. One config for this binary.

mod common;

use common::{conflict, on};

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use mapguard::{Config, DashMap, Finding, FindingKind, ManualClock, Memory, Output, Sink, Stderr};

struct Panicker(&'static AtomicUsize);

impl Sink for Panicker {
    fn report(&mut self, _: &Finding) -> std::io::Result<()> {
        self.0.fetch_add(1, SeqCst);
        panic!("this sink always panics");
    }
    fn name(&self) -> &str {
        "panicker"
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// This process's JSON lines file (see [`common::scratch_file`]).
fn jsonl_path() -> std::path::PathBuf {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::scratch_file("pipeline"))
        .clone()
}

fn memory() -> &'static Memory {
    static M: OnceLock<Memory> = OnceLock::new();
    M.get_or_init(|| {
        let m = Memory::new();
        let _ = std::fs::remove_file(jsonl_path());
        Config::new()
            .outputs(vec![Output::JsonLines(jsonl_path())])
            .sink(Panicker(&PANICS))
            .sink(m.clone())
            .summary_interval(Duration::from_secs(3600))
            .install()
            .unwrap();
        m
    })
}

#[test]
fn repeats_are_counted_not_reported_again() {
    let m = memory();
    let map: DashMap<u64, u64> = DashMap::named("dedup").with_clock(ManualClock::new());
    let before = mapguard::stats();
    for _ in 0..50 {
        on("a", || map.insert(1, 1));
        on("b", || map.insert(1, 2));
    }
    mapguard::flush();
    let f = m.of(FindingKind::ConcurrentWrite, "dedup");
    assert_eq!(f.len(), 1, "one report for one fingerprint");
    // 100 writes alternating threads: every write after the first conflicts.
    assert_eq!(f[0].occurrences, 99);
    let after = mapguard::stats();
    assert!(after.duplicates - before.duplicates >= 98);
    assert!(after.findings - before.findings >= 99);
    assert!(after.operations - before.operations >= 100);
}

#[test]
fn a_panicking_sink_does_not_stop_the_others() {
    let m = memory();
    let map: DashMap<u64, u64> = DashMap::named("panicky").with_clock(ManualClock::new());
    conflict(&map);
    mapguard::flush();
    assert_eq!(m.on_map("panicky").len(), 1);
    assert!(PANICS.load(SeqCst) >= 1);
    assert!(mapguard::stats().sink_errors >= 1);
}

#[test]
fn json_lines_follow_the_schema_and_the_file_is_private() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("jsonl-schema").with_clock(ManualClock::new());
    conflict(&map);
    mapguard::flush();
    let text = std::fs::read_to_string(jsonl_path()).unwrap();
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("each line is JSON"))
        .find(|v| v["map"] == "jsonl-schema")
        .expect("the finding is in the file");
    assert_eq!(line["kind"], "concurrent_write");
    assert_eq!(line["scope"], "map");
    assert_eq!(line["same_key"], true);
    assert_eq!(line["window_ms"], 100);
    assert_eq!(line["gap_ms"], 0);
    assert_eq!(line["occurrences"], 1);
    assert!(line["key_hash"].as_str().unwrap().len() == 16);
    assert!(line["fingerprint"].as_str().unwrap().len() == 16);
    let acc = line["accesses"].as_array().unwrap();
    assert_eq!(acc.len(), 2);
    for a in acc {
        assert!(a["thread_id"].is_u64());
        assert!(a["thread_name"].is_string());
        assert_eq!(a["op"], "insert");
        assert!(
            a["site"]["file"]
                .as_str()
                .unwrap()
                .ends_with("tests/common/mod.rs")
        );
        assert!(a["site"]["line"].is_u64() && a["site"]["column"].is_u64());
        assert!(a["time_unix_ns"].as_u64().unwrap() > 1_600_000_000_000_000_000);
    }
    assert!(
        acc[0]["backtrace"].is_null(),
        "the earlier access has no stack"
    );
    assert!(
        acc[1]["backtrace"].is_array(),
        "the thread that completed it captured one"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(jsonl_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[inline(never)]
fn write_from_a_named_function(map: &DashMap<u64, u64>) {
    map.insert(9, 9);
}

#[test]
fn stacks_are_resolved_and_app_frames_marked() {
    let m = memory();
    let map: DashMap<u64, u64> = DashMap::named("stacks").with_clock(ManualClock::new());
    on("a", || map.insert(9, 1));
    on("b", || write_from_a_named_function(&map));
    mapguard::flush();
    let f = &m.on_map("stacks")[0];
    let frames = f.accesses[1].backtrace.as_ref().expect("a stack");
    let app: Vec<_> = frames.iter().filter(|fr| fr.in_app).collect();
    assert!(
        app.iter().any(|fr| fr
            .function
            .as_deref()
            .is_some_and(|n| n.contains("write_from_a_named_function"))),
        "{app:#?}"
    );
    assert!(
        frames
            .iter()
            .filter(|fr| fr
                .function
                .as_deref()
                .is_some_and(|n| n.starts_with("mapguard::")))
            .all(|fr| !fr.in_app)
    );
}

#[test]
fn stderr_block_names_kind_map_sites_threads_and_gap() {
    let m = memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("stderr-block").with_clock(clock.clone());
    on("first-writer", || map.insert(1, 1));
    clock.advance(Duration::from_millis(7));
    on("second-writer", || map.insert(1, 2));
    mapguard::flush();
    let f = &m.on_map("stderr-block")[0];
    let block = Stderr::format(f);
    assert!(
        block.contains("mapguard: concurrent_write on map \"stderr-block\""),
        "{block}"
    );
    assert!(block.contains("7 ms apart"), "{block}");
    assert!(block.contains("write insert by thread"), "{block}");
    assert!(block.contains("\"second-writer\""), "{block}");
    assert!(block.contains("previous write insert by thread"), "{block}");
    assert!(block.contains("\"first-writer\""), "{block}");
    assert!(block.contains("7 ms earlier"), "{block}");
    assert!(
        block.contains(&format!("at {}", f.accesses[0].site)),
        "{block}"
    );
    assert!(
        block.contains(&format!("at {}", f.accesses[1].site)),
        "{block}"
    );
    assert!(block.contains(&f.fingerprint), "{block}");
}

#[test]
fn flush_delivers_everything_queued_before_it() {
    let m = memory();
    let maps: Vec<DashMap<u64, u64>> = (0..20)
        .map(|i| DashMap::named(format!("flush-{i}")).with_clock(ManualClock::new()))
        .collect();
    for map in &maps {
        conflict(map);
    }
    mapguard::flush();
    for i in 0..20 {
        assert_eq!(m.on_map(&format!("flush-{i}")).len(), 1, "flush-{i}");
    }
}

#[test]
fn always_mode_keeps_a_stack_for_both_sides() {
    let m = memory();
    let map: DashMap<u64, u64> = DashMap::named("always")
        .with_clock(ManualClock::new())
        .with_backtrace(mapguard::BacktraceMode::Always);
    on("a", || write_from_a_named_function(&map));
    on("b", || map.insert(9, 2));
    mapguard::flush();
    let f = &m.on_map("always")[0];
    let first = f.accesses[0]
        .backtrace
        .as_ref()
        .expect("the earlier write kept its stack");
    assert!(
        first.iter().any(|fr| fr.in_app
            && fr
                .function
                .as_deref()
                .is_some_and(|n| n.contains("write_from_a_named_function"))),
        "{first:#?}"
    );
    assert!(f.accesses[1].backtrace.is_some());
}

#[test]
fn backtrace_off_per_map_captures_nothing() {
    let m = memory();
    let map: DashMap<u64, u64> = DashMap::named("no-stacks")
        .with_clock(ManualClock::new())
        .with_backtrace(mapguard::BacktraceMode::Off);
    conflict(&map);
    mapguard::flush();
    let f = &m.on_map("no-stacks")[0];
    assert!(f.accesses.iter().all(|a| a.backtrace.is_none()));
}
