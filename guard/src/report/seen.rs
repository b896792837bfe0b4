//! The dedup table the user's thread checks before it builds a finding: a fixed
//! open-addressed table of finding keys with their occurrences, counted in rows by
//! thread. Lock-free, never allocates: 32 KiB of keys and 8 rows of 32 KiB of
//! counts, static, whose pages are touched only where findings are counted.
//! Occurrences of a known finding are counted here and nothing else happens on the
//! user's thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SLOTS: usize = 4096;
const PROBES: usize = 8;
/// Rows of occurrence counts: a thread counts in row `accessor % STRIPES`, so that
/// threads repeating one finding (a finding storm) do not take one cache line from
/// each other on every occurrence.
const STRIPES: usize = 8;

static KEYS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Zeroed static memory: a row's pages are touched only where findings are counted.
static COUNTS: [[AtomicU64; SLOTS]; STRIPES] =
    [const { [const { AtomicU64::new(0) }; SLOTS] }; STRIPES];

/// Findings that found the table full: each is treated as new here and deduplicated
/// by the reporter instead.
static OVERFLOW: AtomicU64 = AtomicU64::new(0);
/// Occurrences of findings forgotten because their report was dropped.
static FORGOTTEN: AtomicU64 = AtomicU64::new(0);

fn probe(key: u64) -> impl Iterator<Item = usize> {
    let start = (key as usize) & (SLOTS - 1);
    (0..PROBES).map(move |i| (start + i) & (SLOTS - 1))
}

fn find(key: u64) -> Option<usize> {
    probe(key).find(|&i| KEYS[i].load(Relaxed) == key)
}

fn total(i: usize) -> u64 {
    COUNTS.iter().map(|row| row[i].load(Relaxed)).sum()
}

/// Counts one occurrence of finding `key`, seen by accessor `who` (any number: it
/// picks the row the count goes to); true if it is the first (the caller then
/// builds and queues it).
pub(crate) fn observe(key: u64, who: u64) -> bool {
    let row = &COUNTS[(who as usize) % STRIPES];
    // Two passes: a key whose earlier slot was freed by `forget` may sit further on.
    if let Some(i) = find(key) {
        row[i].fetch_add(1, Relaxed);
        return false;
    }
    for i in probe(key) {
        if KEYS[i].load(Relaxed) != 0 {
            continue;
        }
        match KEYS[i].compare_exchange(0, key, Relaxed, Relaxed) {
            Ok(_) => {
                row[i].fetch_add(1, Relaxed);
                return true;
            }
            Err(other) if other == key => {
                row[i].fetch_add(1, Relaxed);
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
    find(key).map_or(0, total)
}

/// Forgets `key` (its first occurrence could not be queued).
pub(crate) fn forget(key: u64) {
    if let Some(i) = find(key) {
        let n: u64 = COUNTS.iter().map(|row| row[i].swap(0, Relaxed)).sum();
        FORGOTTEN.fetch_add(n, Relaxed);
        KEYS[i].store(0, Relaxed);
    }
}

/// (all occurrences, occurrences that repeated a known finding).
pub(crate) fn totals() -> (u64, u64) {
    let mut all = OVERFLOW.load(Relaxed) + FORGOTTEN.load(Relaxed);
    let mut repeats = 0;
    for (i, k) in KEYS.iter().enumerate() {
        if k.load(Relaxed) != 0 {
            let c = total(i);
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
        assert!(observe(key, 1));
        assert!(!observe(key, 2));
        assert!(!observe(key, 2 + STRIPES as u64));
        // Counted in two rows, summed.
        assert_eq!(count(key), 3);
        forget(key);
        assert_eq!(count(key), 0);
        assert!(observe(key, 3));
        assert_eq!(count(key), 1);
        forget(key);
    }

    #[test]
    fn colliding_keys_probe_onward() {
        let a = 0x77_0000_0000_0010u64;
        let b = a + SLOTS as u64; // same start slot
        assert!(observe(a, 1));
        assert!(observe(b, 1));
        assert!(!observe(b, 5));
        assert_eq!(count(a), 1);
        assert_eq!(count(b), 2);
        forget(a);
        forget(b);
    }
}
