//! The dedup table the user's thread checks before it builds a finding: a fixed
//! open-addressed table of (finding key, occurrences). Lock-free, never allocates,
//! 256 KiB of zeroed static memory in all (a page becomes resident when a finding
//! first lands in it). Occurrences of a known finding are counted here and nothing
//! else happens on the user's thread.
//!
//! A new finding is built (its stack captured) and queued only when the reporter has
//! room for it. Otherwise it waits in its slot, counted, and the first occurrence
//! that finds room offers it again: however long a storm of new findings outruns the
//! reporter, each finding's stack is captured about once, never per occurrence.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SLOTS: usize = 16384;
const PROBES: usize = 8;
/// Set in a slot's count while its finding waits for room at the reporter.
const WAITING: u64 = 1 << 63;
/// Of the occurrences of findings that find the table full, one in this many is
/// offered to the reporter (which deduplicates them by fingerprint).
const OVERFLOW_SAMPLE: u64 = 256;

struct Slot {
    key: AtomicU64,
    count: AtomicU64,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        key: AtomicU64::new(0),
        count: AtomicU64::new(0),
    }
}; SLOTS];

/// Occurrences of findings that found the table full: one in [`OVERFLOW_SAMPLE`] is
/// offered to the reporter, which deduplicates them by fingerprint.
static OVERFLOW: AtomicU64 = AtomicU64::new(0);
/// Occurrences of findings forgotten because their report was dropped.
static FORGOTTEN: AtomicU64 = AtomicU64::new(0);

fn probe(key: u64) -> impl Iterator<Item = &'static Slot> {
    let start = (key as usize) & (SLOTS - 1);
    (0..PROBES).map(move |i| &TABLE[(start + i) & (SLOTS - 1)])
}

/// Counts one occurrence of finding `key`; true if the caller should build and
/// queue it: its first occurrence, or one that finds room for a finding that has
/// been waiting. Whether the reporter has room is [`super::room`].
pub(crate) fn observe(key: u64) -> bool {
    observe_with(key, super::room)
}

fn observe_with(key: u64, room: impl Fn() -> bool) -> bool {
    // A counted occurrence: offered again if it waits and there is room now (one
    // thread wins the flag).
    let repeat = |slot: &Slot| {
        slot.count.fetch_add(1, Relaxed) & WAITING != 0
            && room()
            && slot.count.fetch_and(!WAITING, Relaxed) & WAITING != 0
    };
    // Two passes: a key whose earlier slot was freed by `forget` may sit further on.
    if let Some(slot) = probe(key).find(|s| s.key.load(Relaxed) == key) {
        return repeat(slot);
    }
    for slot in probe(key) {
        if slot.key.load(Relaxed) != 0 {
            continue;
        }
        match slot.key.compare_exchange(0, key, Relaxed, Relaxed) {
            Ok(_) => {
                if room() {
                    slot.count.fetch_add(1, Relaxed);
                    return true;
                }
                // No room: no stack is captured; it waits, counted.
                slot.count.fetch_add(1 | WAITING, Relaxed);
                super::DROPPED.fetch_add(1, Relaxed);
                return false;
            }
            Err(other) if other == key => return repeat(slot),
            Err(_) => {}
        }
    }
    OVERFLOW.fetch_add(1, Relaxed) % OVERFLOW_SAMPLE == 0 && room()
}

/// Occurrences of `key` counted so far (0 if it is not in the table).
pub(crate) fn count(key: u64) -> u64 {
    probe(key)
        .find(|s| s.key.load(Relaxed) == key)
        .map_or(0, |s| s.count.load(Relaxed) & !WAITING)
}

/// Marks `key` as waiting: its finding could not be queued. Its occurrences stay
/// counted, and a later one that finds room offers it again.
pub(crate) fn defer(key: u64) {
    if let Some(s) = probe(key).find(|s| s.key.load(Relaxed) == key) {
        s.count.fetch_or(WAITING, Relaxed);
    }
}

/// Forgets `key`, moving its occurrences to the totals of forgotten ones.
pub(crate) fn forget(key: u64) {
    if let Some(s) = probe(key).find(|s| s.key.load(Relaxed) == key) {
        FORGOTTEN.fetch_add(s.count.swap(0, Relaxed) & !WAITING, Relaxed);
        s.key.store(0, Relaxed);
    }
}

/// (all occurrences, occurrences that repeated a known finding).
pub(crate) fn totals() -> (u64, u64) {
    let mut all = OVERFLOW.load(Relaxed) + FORGOTTEN.load(Relaxed);
    let mut repeats = 0;
    for s in &TABLE {
        if s.key.load(Relaxed) != 0 {
            let c = s.count.load(Relaxed) & !WAITING;
            all += c;
            repeats += c.saturating_sub(1);
        }
    }
    (all, repeats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_new_then_counted() {
        let key = 0xdead_beef_0001;
        assert!(observe(key));
        assert!(!observe(key));
        assert!(!observe(key));
        assert_eq!(count(key), 3);
        forget(key);
        assert_eq!(count(key), 0);
        assert!(observe(key));
        forget(key);
    }

    #[test]
    fn without_room_a_finding_waits_counted_and_is_offered_once_when_there_is_room() {
        let key = 0xdead_beef_0002;
        let full = || false;
        let room = || true;
        // First occurrence, no room: not built, counted, waiting.
        assert!(!observe_with(key, full));
        assert!(!observe_with(key, full));
        assert_eq!(count(key), 2);
        // The first occurrence that finds room builds it; the next ones only count.
        assert!(observe_with(key, room));
        assert!(!observe_with(key, room));
        assert_eq!(count(key), 4);
        // Queued, then dropped after all: waiting again until there is room.
        defer(key);
        assert!(!observe_with(key, full));
        assert!(observe_with(key, room));
        assert!(!observe_with(key, room));
        assert_eq!(count(key), 7);
        forget(key);
    }

    #[test]
    fn a_full_table_offers_one_occurrence_in_the_sample() {
        // Fill every slot of one probe sequence with other keys.
        let base = 0x55_0000_0000_0020u64;
        let fillers: Vec<u64> = (1..=PROBES as u64)
            .map(|i| base + i * SLOTS as u64)
            .collect();
        let fill_count = fillers
            .iter()
            .filter(|k| observe_with(**k, || true))
            .count();
        assert_eq!(fill_count, PROBES);
        let before = OVERFLOW.load(Relaxed);
        let offered = (0..4 * OVERFLOW_SAMPLE)
            .filter(|_| observe_with(base, || true))
            .count() as u64;
        // Other tests may overflow other sequences at the same time: at most a few more.
        assert!((3..=5).contains(&offered), "{offered}");
        assert!(OVERFLOW.load(Relaxed) - before >= 4 * OVERFLOW_SAMPLE);
        assert!(!(0..4 * OVERFLOW_SAMPLE).any(|_| observe_with(base, || false)));
        fillers.iter().for_each(|k| forget(*k));
    }

    #[test]
    fn colliding_keys_probe_onward() {
        let a = 0x77_0000_0000_0010u64;
        let b = a + SLOTS as u64; // same start slot
        assert!(observe(a));
        assert!(observe(b));
        assert!(!observe(b));
        assert_eq!(count(a), 1);
        assert_eq!(count(b), 2);
        forget(a);
        forget(b);
    }
}
