//! Every finding carries its fix: one finding of each kind, made for real, and its
//! `hint` checked in the `Finding`, in the JSON line and in the stderr block.

mod common;

use common::on;

use std::sync::OnceLock;

use mapguard::{
    BacktraceMode, Config, DashMap, Finding, FindingKind, ManualClock, Memory, Mode, Output,
    Reaction, Stderr,
};

/// This process's JSON lines file (see [`common::scratch_file`]).
fn jsonl_path() -> std::path::PathBuf {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| common::scratch_file("hints")).clone()
}

fn memory() -> &'static Memory {
    static M: OnceLock<Memory> = OnceLock::new();
    M.get_or_init(|| {
        let m = Memory::new();
        let _ = std::fs::remove_file(jsonl_path());
        Config::new()
            .outputs(vec![Output::JsonLines(jsonl_path())])
            .sink(m.clone())
            .backtrace(BacktraceMode::Off)
            .install()
            .unwrap();
        m
    })
}

fn map(name: &'static str) -> DashMap<u32, u32> {
    DashMap::named(name).with_clock(ManualClock::new())
}

/// Makes one finding of `kind` on a map named `name`.
fn make(kind: FindingKind, name: &'static str) {
    match kind {
        FindingKind::ConcurrentWrite => {
            let m = map(name);
            on("a", || m.insert(1, 1));
            on("b", || m.insert(1, 2));
        }
        FindingKind::ReadWrite => {
            let m = map(name).with_mode(Mode::Accesses);
            m.insert(1, 1);
            on("reader", || m.get_cloned(&1));
        }
        FindingKind::LostUpdate => {
            let m = map(name);
            m.insert(1, 1);
            let (tx, rx) = std::sync::mpsc::channel();
            let (go, wait) = std::sync::mpsc::channel();
            std::thread::scope(|s| {
                let m = &m;
                s.spawn(move || {
                    let seen = m.get_cloned(&1).unwrap();
                    tx.send(()).unwrap();
                    wait.recv().unwrap();
                    m.insert(1, seen + 1);
                });
                rx.recv().unwrap();
                on("other", || m.insert(1, 5));
                go.send(()).unwrap();
            });
        }
        FindingKind::WriteDuringIteration => {
            let m = map(name);
            m.insert(1, 1);
            let it = m.iter();
            on("writer", || m.insert(2, 2));
            drop(it);
        }
        FindingKind::ReentrantAccess => {
            // A write under a Ref, which waits for ever on its own shard's read
            // lock: reaction panic stops it before the lock.
            let m = map(name).with_reaction(Reaction::Panic);
            m.insert(1, 1);
            let r = m.get(&1);
            let write = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.insert(1, 2)));
            assert!(write.is_err(), "the write stopped before the lock");
            drop(r);
        }
    }
}

fn name_of(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::ConcurrentWrite => "hint-concurrent-write",
        FindingKind::ReadWrite => "hint-read-write",
        FindingKind::LostUpdate => "hint-lost-update",
        FindingKind::WriteDuringIteration => "hint-write-during-iteration",
        FindingKind::ReentrantAccess => "hint-reentrant-access",
    }
}

fn the_finding(kind: FindingKind) -> Finding {
    let name = name_of(kind);
    make(kind, name);
    mapguard::flush();
    let f = memory().of(kind, name);
    assert_eq!(f.len(), 1, "{kind}: {f:#?}");
    f.into_iter().next().unwrap()
}

#[test]
fn every_kind_carries_its_hint_in_the_finding_json_and_stderr() {
    memory();
    let findings: Vec<Finding> = FindingKind::ALL.into_iter().map(the_finding).collect();
    let text = std::fs::read_to_string(jsonl_path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    for f in &findings {
        let hint = f.kind.hint();
        assert_eq!(f.hint, hint, "{}", f.kind);
        let line = lines
            .iter()
            .find(|l| l["map"] == f.map.as_str() && l["kind"] == f.kind.name())
            .unwrap_or_else(|| panic!("{} is in the JSON lines", f.map));
        assert_eq!(line["hint"], hint, "{}", f.kind);
        let block = Stderr::format(f);
        assert!(block.contains(&format!("\n  hint: {hint}\n")), "{block}");
    }
    // The texts users see, pinned: change them on purpose, with the README.
    let by_kind = |k: FindingKind| findings.iter().find(|f| f.kind == k).unwrap();
    assert!(
        by_kind(FindingKind::LostUpdate)
            .hint
            .contains("update(), compute() or entry()")
    );
    assert!(
        by_kind(FindingKind::WriteDuringIteration)
            .hint
            .starts_with("iterate a snapshot()")
    );
    assert!(
        by_kind(FindingKind::ReentrantAccess)
            .hint
            .starts_with("drop the Ref")
    );
    assert!(
        by_kind(FindingKind::ReentrantAccess)
            .hint
            .contains("get_cloned()")
    );
    assert!(
        by_kind(FindingKind::ConcurrentWrite)
            .hint
            .starts_with("one writer per map")
    );
    assert!(by_kind(FindingKind::ReadWrite).hint.contains("snapshot()"));
    let _ = std::fs::remove_file(jsonl_path());
}
