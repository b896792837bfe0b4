//! In a burst of new findings, stacks stop being captured once 256 findings wait for
//! the reporter; the findings themselves are all reported, with their call sites,
//! and stacks come back once the reporter has caught up.

mod common;

use common::{STACKS_AHEAD, conflict, fresh_maps, install_backlogged};

use mapguard::{BacktraceMode, DashMap, ManualClock, Memory, Stderr};

#[test]
fn a_burst_of_new_findings_is_reported_whole_with_stacks_for_the_first_256() {
    let memory = Memory::new();
    // One release a second: the findings pile up behind the rate limit.
    install_backlogged(&memory, BacktraceMode::OnFinding);
    let burst = STACKS_AHEAD + 60;
    let maps = fresh_maps("burst", burst);
    for map in &maps {
        conflict(map);
    }
    let after = mapguard::stats();
    assert_eq!(after.findings, burst as u64, "{after:?}");
    assert_eq!(after.dropped, 0, "{after:?}");
    let skipped = after.stacks_skipped as usize;
    // Finding i sees i findings made before it, less those reported since (and a
    // finding moving from the queue to the backlog may count twice for a moment):
    // the first 255 always get a stack, and each report frees one place.
    let with_stacks = burst - skipped;
    assert!(
        (STACKS_AHEAD - 1..=STACKS_AHEAD + after.reported as usize).contains(&with_stacks),
        "{with_stacks} stacks captured in a burst of {burst}: {after:?}"
    );

    // Nothing is lost: the flush lets the backlog out, every finding with it.
    mapguard::flush();
    let mut stackless = 0;
    for (i, map) in maps.iter().enumerate() {
        let found = memory.on_map(map.name());
        assert_eq!(found.len(), 1, "{}: {found:#?}", map.name());
        let f = &found[0];
        let last = f.accesses.last().unwrap();
        assert!(f.accesses.iter().all(|a| a.site.line > 0), "{f:#?}");
        // Only the access that completes a finding captures a stack (on_finding).
        assert!(!f.accesses[0].backtrace_skipped, "{f:#?}");
        if i < STACKS_AHEAD - 1 {
            assert!(last.backtrace.is_some(), "finding {i}: {f:#?}");
        }
        assert_eq!(last.backtrace.is_none(), last.backtrace_skipped, "{f:#?}");
        if last.backtrace_skipped {
            stackless += 1;
            assert!(
                Stderr::format(f).contains("stack not captured: a burst of new findings"),
                "{}",
                Stderr::format(f)
            );
            let json = serde_json::to_string(f).unwrap();
            assert!(json.contains(r#""backtrace_skipped":true"#), "{json}");
        }
    }
    assert_eq!(stackless, skipped);
    // The last ones of the burst were made with 256 waiting: they have no stack.
    assert!(maps[burst - 1..].iter().all(|m| {
        memory.on_map(m.name())[0]
            .accesses
            .last()
            .unwrap()
            .backtrace_skipped
    }));

    // Once the reporter has caught up, a new finding gets its stack again.
    let late = DashMap::<u64, u64>::named("burst-after").with_clock(ManualClock::new());
    conflict(&late);
    mapguard::flush();
    let found = memory.on_map("burst-after");
    let last = found[0].accesses.last().unwrap();
    assert!(
        last.backtrace.is_some() && !last.backtrace_skipped,
        "{found:#?}"
    );
    assert_eq!(mapguard::stats().stacks_skipped, skipped as u64);
}
