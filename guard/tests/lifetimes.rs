//! Process-wide state over a process's life: forked children, thread ids reused,
//! guards dropped on other threads by many threads, `#[guarded]` functions before
//! the environment is read, and sinks whose `Drop` switches the guard. Each case
//! runs in a child process (the switch, the registry and the reporter are global).
#![cfg(target_os = "linux")]

use std::sync::mpsc;

use mapguard::{Config, DashMap, Finding, FindingKind, ManualClock, Memory, Sink};

mod common;

// A forked child that installed a Config switched off may switch on later.

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_fork_install_off_then_enable() {
    common::install_into(&Memory::new()); // the parent's clock starts
    // At the fork: one test thread; no finding was ever made (no reporter).
    common::fork_and_wait(|| {
        Config::new()
            .enabled(false)
            .outputs(vec![])
            .install()
            .unwrap();
        mapguard::set_enabled(true);
        println!("child enabled={}", mapguard::is_enabled());
    });
}

#[test]
fn a_forked_child_with_an_installed_config_can_be_switched_on() {
    let (out, err) = common::run_child("child_fork_install_off_then_enable");
    assert!(out.contains("child enabled=true"), "{out}\n{err}");
}

// An exited thread's id is not handed to a new thread while its accesses may still
// be part of a finding (it used to be, after 256 more exits, and the earlier access
// then carried the new thread's name).

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_id_reuse() {
    let memory = Memory::new();
    common::install_into(&memory);
    let other: DashMap<u64, u64> = DashMap::named("other");
    other.get(&0); // registers this thread first
    let map: DashMap<u64, u64> = DashMap::named("reused").with_clock(ManualClock::new());
    common::on("old-writer", || map.insert(1, 1));
    for i in 0..300 {
        common::on(&format!("filler-{i}"), || other.get(&0));
    }
    common::on("newcomer", || other.get(&0));
    map.insert(1, 2); // concurrent_write against old-writer's insert
    mapguard::flush();
    let f = memory.of(FindingKind::ConcurrentWrite, "reused");
    let names: Vec<_> = f[0]
        .accesses
        .iter()
        .map(|a| a.thread_name.clone())
        .collect();
    println!("names={names:?}");
}

#[test]
fn a_reused_thread_id_does_not_rename_an_earlier_access() {
    let (out, err) = common::run_child("child_id_reuse");
    assert!(out.contains("names=[Some(\"old-writer\")"), "{out}\n{err}");
}

// However many guards are dropped on other threads, none is forgotten: a list of
// them used to evict the oldest past 4096, leaving its owner's slot taken for good.

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_orphan_overflow() {
    let memory = Memory::new();
    common::install_into(&memory);
    let map: DashMap<u64, u64> = DashMap::named("orphans").with_clock(ManualClock::new());
    let filler_map: DashMap<u64, u64> = DashMap::named("filler");
    for k in 0..8 {
        map.insert(k, k);
        filler_map.insert(k, k);
    }
    const FILLERS: usize = 512; // 512 * 8 = 4096 orphans after the victim's 8
    std::thread::scope(|s| {
        let (refs_tx, refs_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let mut stays = Vec::new();
        // The victim: 8 Refs moved to this thread and dropped here, then it waits.
        let victim = {
            let map = &map;
            let refs_tx = refs_tx.clone();
            s.spawn(move || {
                let refs: Vec<_> = (0..8).map(|k| map.get(&k).unwrap()).collect();
                refs_tx.send(refs).unwrap();
                go_rx.recv().unwrap();
                // Holds nothing now: a plain insert.
                map.insert(100, 1);
            })
        };
        drop(refs_rx.recv().unwrap());
        for _ in 0..FILLERS {
            let (stay_tx, stay_rx) = mpsc::channel::<()>();
            let filler_map = &filler_map;
            let refs_tx = refs_tx.clone();
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn_scoped(s, move || {
                    let refs: Vec<_> = (0..8).map(|k| filler_map.get(&k).unwrap()).collect();
                    refs_tx.send(refs).unwrap();
                    let _ = stay_rx.recv(); // alive until the victim has written
                })
                .unwrap();
            drop(refs_rx.recv().unwrap());
            stays.push(stay_tx);
        }
        go_tx.send(()).unwrap();
        victim.join().unwrap();
        drop(stays);
    });
    mapguard::flush();
    println!(
        "reentrant={}",
        memory.of(FindingKind::ReentrantAccess, "orphans").len()
    );
}

#[test]
fn guards_dropped_on_other_threads_are_never_forgotten() {
    let (out, err) = common::run_child("child_orphan_overflow");
    assert!(out.contains("reentrant=0"), "{out}\n{err}");
}

// Before the environment is read, a #[guarded] fn with the guard off is not current.

#[mapguard::guarded]
fn current_inside() -> Option<&'static str> {
    mapguard::current_function()
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_function_before_env() {
    // MAPGUARD unset: the guard is off. Nothing has read the environment yet.
    let inside = current_inside();
    println!("inside={inside:?} enabled={}", mapguard::is_enabled());
}

#[test]
fn a_guarded_fn_with_the_guard_off_is_never_current() {
    let (out, err) = common::run_child("child_function_before_env");
    assert!(out.contains("inside=None enabled=false"), "{out}\n{err}");
}

// A replaced sink whose Drop switches the guard does not deadlock the install that
// replaced it (its sinks are dropped once the install lock is released).

struct Restores;
impl Sink for Restores {
    fn report(&mut self, _: &Finding) -> std::io::Result<()> {
        Ok(())
    }
}
impl Drop for Restores {
    fn drop(&mut self) {
        mapguard::set_enabled(true);
    }
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_replaced_sink_drop() {
    // Before any finding: the first config's sinks wait for the reporter.
    Config::new()
        .outputs(vec![])
        .sink(Restores)
        .install()
        .unwrap();
    Config::new().outputs(vec![]).install().unwrap();
    // With the reporter running, the old sinks drop on its thread.
    Config::new()
        .outputs(vec![])
        .sink(Restores)
        .install()
        .unwrap();
    common::conflict(&DashMap::named("start-reporter").with_clock(ManualClock::new()));
    mapguard::flush();
    Config::new().outputs(vec![]).install().unwrap();
    println!("reinstalled");
}

#[test]
fn replacing_a_sink_whose_drop_calls_set_enabled_does_not_hang() {
    let (out, err) = common::run_child("child_replaced_sink_drop");
    assert!(out.contains("reinstalled"), "{out}\n{err}");
    // Nor does the replacement on the reporter's thread wait out its 5 s bound.
    assert!(!err.contains("within 5 s"), "{err}");
}
