//! A full backlog behind the rate limit holds new findings back, counted and without
//! offering them again at every occurrence, and they are reported once it has room.

mod common;

use common::{conflict, fresh_maps, install_backlogged};

use std::time::{Duration, Instant};

use mapguard::{BacktraceMode, Memory};

/// The reporter's backlog of findings held back by the rate limit (the README's
/// "full backlog behind the rate limit (4096)").
const BACKLOG: u64 = 4096;

#[test]
fn a_full_backlog_holds_new_findings_back_until_it_has_room() {
    let memory = Memory::new();
    install_backlogged(&memory, BacktraceMode::Off);
    let started = Instant::now();
    let maps = fresh_maps("bl", BACKLOG as usize + 40);
    for map in &maps {
        conflict(map);
    }
    // Every finding is new, one a map. A finding is built only while the queue and
    // the backlog behind the rate limit (one release a second) have a place for it:
    // the rest are held back on the user's thread at once, without waiting for the
    // reporter. Every built finding is queued, in the backlog or released.
    let total = maps.len() as u64;
    let before = mapguard::stats();
    assert!(
        before.dropped >= 1 && before.dropped + BACKLOG + before.reported >= total,
        "{before:?}"
    );

    // The last maps' findings are among the held-back ones (the first ones took the
    // places). For a second and a half, so that the rate limit lets at least one
    // finding out of the backlog, they keep happening: they are counted, and each
    // place a release frees goes to one of them, not to all.
    let last = &maps[maps.len() - 10..];
    let repeats_from = Instant::now();
    let mut rounds = 0;
    while repeats_from.elapsed() < Duration::from_millis(1500) || rounds < 3 {
        for map in last {
            conflict(map);
        }
        rounds += 1;
    }
    let after = mapguard::stats();
    // Each release (a finding reported) frees one place, which one of them takes:
    // at most one drop per release, from a race for it, and none otherwise.
    let released = after.reported - before.reported;
    assert!(
        after.dropped - before.dropped <= released + 1,
        "offered again while the backlog was full: {} more dropped for {released} \
         released ({before:?} -> {after:?})",
        after.dropped - before.dropped
    );
    assert_eq!(
        after.findings,
        before.findings + 10 * rounds * 2,
        "{after:?}"
    );
    // Released at one a second, however slow this machine is today.
    assert!(
        after.reported <= 1 + started.elapsed().as_secs() + 1,
        "{after:?}"
    );

    // Flush lets the backlog out; then the held-back findings are offered again by
    // their next occurrence, and reported.
    mapguard::flush();
    for map in last {
        conflict(map);
    }
    mapguard::flush();
    for map in last {
        let found = memory.on_map(map.name());
        assert_eq!(found.len(), 1, "{}: {found:#?}", map.name());
        // Everything counted while it waited: at least a conflict's worth per round.
        assert!(
            found[0].occurrences >= 2 * rounds,
            "{}: {found:#?}",
            map.name()
        );
    }
}
