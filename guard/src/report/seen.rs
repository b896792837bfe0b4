//! The dedup table the user's thread checks before it builds a finding: a fixed
//! open-addressed table of (finding key, occurrences). Lock-free, never allocates,
//! 64 KiB in all. Occurrences of a known finding are counted here and nothing else
//! happens on the user's thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SLOTS: usize = 4096;
const PROBES: usize = 8;

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

/// Findings that found the table full: each is treated as new here and deduplicated
/// by the reporter instead.
static OVERFLOW: AtomicU64 = AtomicU64::new(0);
/// Occurrences of findings forgotten because their report was dropped.
static FORGOTTEN: AtomicU64 = AtomicU64::new(0);

fn probe(key: u64) -> impl Iterator<Item = &'static Slot> {
    let start = (key as usize) & (SLOTS - 1);
    (0..PROBES).map(move |i| &TABLE[(start + i) & (SLOTS - 1)])
}

/// Counts one occurrence of finding `key`; true if it is the first (the caller then
/// builds and queues it).
pub(crate) fn observe(key: u64) -> bool {
    // Two passes: a key whose earlier slot was freed by `forget` may sit further on.
    if let Some(slot) = probe(key).find(|s| s.key.load(Relaxed) == key) {
        slot.count.fetch_add(1, Relaxed);
        return false;
    }
    for slot in probe(key) {
        if slot.key.load(Relaxed) != 0 {
            continue;
        }
        match slot.key.compare_exchange(0, key, Relaxed, Relaxed) {
            Ok(_) => {
                slot.count.fetch_add(1, Relaxed);
                return true;
            }
            Err(other) if other == key => {
                slot.count.fetch_add(1, Relaxed);
                return false;
            }
            Err(_) => {}
        }
    }
    OVERFLOW.fetch_add(1, Relaxed);
    true
}

/// Occurrences of `key` counted so far (0 if it is not in the table).
pub(crate) fn count(key: u64) -> u64 {
    probe(key)
        .find(|s| s.key.load(Relaxed) == key)
        .map_or(0, |s| s.count.load(Relaxed))
}

/// Forgets `key` (its first occurrence could not be queued).
pub(crate) fn forget(key: u64) {
    if let Some(s) = probe(key).find(|s| s.key.load(Relaxed) == key) {
        FORGOTTEN.fetch_add(s.count.swap(0, Relaxed), Relaxed);
        s.key.store(0, Relaxed);
    }
}

/// (all occurrences, occurrences that repeated a known finding).
pub(crate) fn totals() -> (u64, u64) {
    let mut all = OVERFLOW.load(Relaxed) + FORGOTTEN.load(Relaxed);
    let mut repeats = 0;
    for s in &TABLE {
        if s.key.load(Relaxed) != 0 {
            let c = s.count.load(Relaxed);
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
