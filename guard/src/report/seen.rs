//! The dedup table the user's thread checks before it builds a finding: a fixed
//! open-addressed table of (finding key, occurrences). Lock-free, never allocates,
//! 256 KiB of zeroed static memory in all (a page becomes resident when a finding
//! first lands in it). Occurrences of a known finding are counted here and nothing
//! else happens on the user's thread.
//!
//! A new finding is built (its stack captured) and queued only when the reporter has
//! room for it ([`super::room`]). Otherwise it waits in its slot, counted, and the
//! first occurrence that finds room offers it again. While a storm of new findings
//! outruns the reporter, each finding's stack is captured once per time the reporter
//! makes room for it, never per occurrence.
//!
//! Findings that find the table full (more than 16384 distinct ones, or 64 colliding
//! on one probe sequence) are sampled: one occurrence in [`OVERFLOW_SAMPLE`] is
//! offered, and the reporter counts each as that many. Their counts are estimates,
//! and one that happens less often than that may never be reported.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SLOTS: usize = 16384;
/// Slots a key may take, from the one its low bits name. With 8, a quarter-full
/// table (4096 findings, keys made from code addresses) put some finding past its
/// probe sequence in about one process in five, and that finding was then only
/// sampled. With 64, none of 200 simulated random sets of 8192 keys ran past it, and
/// a lookup still stops at the first empty slot, one or two slots on at those loads.
const PROBES: usize = 64;
/// Set in a slot's count while its finding waits for room at the reporter.
const WAITING: u64 = 1 << 63;
/// Of the occurrences of findings that find the table full, one in this many is
/// offered to the reporter, which counts it as this many occurrences.
pub(crate) const OVERFLOW_SAMPLE: u64 = 256;

struct Slot {
    key: AtomicU64,
    count: AtomicU64,
}

struct Table {
    slots: [Slot; SLOTS],
    /// Occurrences of findings that found the table full.
    overflow: AtomicU64,
}

impl Table {
    const fn new() -> Table {
        Table {
            slots: [const {
                Slot {
                    key: AtomicU64::new(0),
                    count: AtomicU64::new(0),
                }
            }; SLOTS],
            overflow: AtomicU64::new(0),
        }
    }
}

static TABLE: Table = Table::new();

/// What the user's thread does with one occurrence.
#[derive(Debug, PartialEq, Eq)]
enum Offer {
    /// Build and queue it: a new finding, or a waiting one, with room now.
    Build,
    /// Counted; nothing else to do.
    Count,
    /// A new finding without room: counted and waiting, no stack captured.
    HeldBack,
}

impl Table {
    fn probe(&self, key: u64) -> impl Iterator<Item = &Slot> {
        let start = (key as usize) & (SLOTS - 1);
        (0..PROBES).map(move |i| &self.slots[(start + i) & (SLOTS - 1)])
    }

    /// The slot of `key`, if it has one. Slots are claimed in probe order and never
    /// freed, so the key is not past the first empty slot of its sequence.
    fn find(&self, key: u64) -> Option<&Slot> {
        for slot in self.probe(key) {
            match slot.key.load(Relaxed) {
                k if k == key => return Some(slot),
                0 => return None,
                _ => {}
            }
        }
        None
    }

    fn observe(&self, key: u64, room: impl Fn() -> bool) -> Offer {
        // A counted occurrence: offered again if it waits and there is room now (one
        // thread wins the flag).
        let repeat = |slot: &Slot| {
            if slot.count.fetch_add(1, Relaxed) & WAITING != 0
                && room()
                && slot.count.fetch_and(!WAITING, Relaxed) & WAITING != 0
            {
                Offer::Build
            } else {
                Offer::Count
            }
        };
        // A slot, once taken, is never freed: the key is either found on the way to
        // the first empty slot or claims it (or loses the race for it to itself).
        if let Some(slot) = self.find(key) {
            return repeat(slot);
        }
        for slot in self.probe(key) {
            match slot.key.load(Relaxed) {
                0 => {}
                // Another thread making the same finding claimed it since `find`.
                k if k == key => return repeat(slot),
                _ => continue,
            }
            match slot.key.compare_exchange(0, key, Relaxed, Relaxed) {
                Ok(_) => {
                    if room() {
                        slot.count.fetch_add(1, Relaxed);
                        return Offer::Build;
                    }
                    slot.count.fetch_or(WAITING, Relaxed);
                    slot.count.fetch_add(1, Relaxed);
                    return Offer::HeldBack;
                }
                Err(other) if other == key => return repeat(slot),
                Err(_) => {}
            }
        }
        if self.overflow.fetch_add(1, Relaxed) % OVERFLOW_SAMPLE == 0 && room() {
            Offer::Build
        } else {
            Offer::Count
        }
    }

    fn count(&self, key: u64) -> u64 {
        self.find(key)
            .map_or(0, |s| s.count.load(Relaxed) & !WAITING)
    }

    fn defer(&self, key: u64) {
        if let Some(s) = self.find(key) {
            s.count.fetch_or(WAITING, Relaxed);
        }
    }

    /// Empties every slot in use; an unused one is only read, so that its page,
    /// never touched, stays out of the process's memory.
    fn forget_all(&self) {
        for s in &self.slots {
            if s.key.load(Relaxed) != 0 || s.count.load(Relaxed) != 0 {
                s.key.store(0, Relaxed);
                s.count.store(0, Relaxed);
            }
        }
        self.overflow.store(0, Relaxed);
    }

    fn totals(&self) -> (u64, u64) {
        let mut all = self.overflow.load(Relaxed);
        let mut repeats = 0;
        for s in &self.slots {
            if s.key.load(Relaxed) != 0 {
                let c = s.count.load(Relaxed) & !WAITING;
                all += c;
                repeats += c.saturating_sub(1);
            }
        }
        (all, repeats)
    }
}

/// Counts one occurrence of finding `key`; true if the caller should build and
/// queue it: its first occurrence, or one that finds room for a finding that has
/// been waiting. A new finding without room is counted as dropped (held back).
pub(crate) fn observe(key: u64) -> bool {
    match TABLE.observe(key, super::room) {
        Offer::Build => true,
        Offer::Count => false,
        Offer::HeldBack => {
            super::DROPPED.fetch_add(1, Relaxed);
            false
        }
    }
}

/// Occurrences of `key` counted so far (0 if it is not in the table).
pub(crate) fn count(key: u64) -> u64 {
    TABLE.count(key)
}

/// Marks `key` as waiting: its finding could not be queued after all. Its
/// occurrences stay counted, and a later one that finds room offers it again.
pub(crate) fn defer(key: u64) {
    TABLE.defer(key)
}

/// Empties the table: in a forked child, before its guard comes on, so that the
/// findings its parent made are new to the child's own reporter.
pub(crate) fn forget_all() {
    TABLE.forget_all()
}

/// (all occurrences, occurrences that repeated a known finding).
pub(crate) fn totals() -> (u64, u64) {
    TABLE.totals()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of the test's own, so other tests' findings cannot fill its slots.
    fn table() -> Box<Table> {
        Box::new(Table::new())
    }

    #[test]
    fn first_is_new_then_counted() {
        let t = table();
        let key = 0xdead_beef_0001;
        assert_eq!(t.observe(key, || true), Offer::Build);
        assert_eq!(t.observe(key, || true), Offer::Count);
        assert_eq!(t.observe(key, || true), Offer::Count);
        assert_eq!(t.count(key), 3);
        assert_eq!(t.count(key + 1), 0);
        assert_eq!(t.totals(), (3, 2));
    }

    #[test]
    fn without_room_a_finding_waits_counted_and_is_offered_once_when_there_is_room() {
        let t = table();
        let key = 0xdead_beef_0002;
        let full = || false;
        let room = || true;
        // First occurrence, no room: not built, counted, waiting.
        assert_eq!(t.observe(key, full), Offer::HeldBack);
        assert_eq!(t.observe(key, full), Offer::Count);
        assert_eq!(t.count(key), 2);
        // The first occurrence that finds room builds it; the next ones only count.
        assert_eq!(t.observe(key, room), Offer::Build);
        assert_eq!(t.observe(key, room), Offer::Count);
        assert_eq!(t.count(key), 4);
        // Queued, then dropped after all: waiting again until there is room.
        t.defer(key);
        assert_eq!(t.observe(key, full), Offer::Count);
        assert_eq!(t.observe(key, room), Offer::Build);
        assert_eq!(t.observe(key, room), Offer::Count);
        // The waiting flag never shows in the counts.
        assert_eq!(t.count(key), 7);
        t.defer(key);
        assert_eq!(t.totals(), (7, 6));
    }

    #[test]
    fn a_full_table_offers_one_occurrence_in_the_sample() {
        let t = table();
        // Fill every slot of one probe sequence with other keys.
        let base = 0x55_0000_0000_0020u64;
        for i in 1..=PROBES as u64 {
            assert_eq!(t.observe(base + i * SLOTS as u64, || true), Offer::Build);
        }
        let offered = (0..4 * OVERFLOW_SAMPLE)
            .filter(|_| t.observe(base, || true) == Offer::Build)
            .count();
        assert_eq!(offered, 4);
        assert_eq!(t.count(base), 0);
        // Every occurrence counts in the totals; none is offered without room.
        assert_eq!(t.totals().0, PROBES as u64 + 4 * OVERFLOW_SAMPLE);
        assert!(!(0..4 * OVERFLOW_SAMPLE).any(|_| t.observe(base, || false) == Offer::Build));
    }

    #[test]
    fn colliding_keys_probe_onward() {
        let t = table();
        let a = 0x77_0000_0000_0010u64;
        let b = a + SLOTS as u64; // same start slot
        assert_eq!(t.observe(a, || true), Offer::Build);
        assert_eq!(t.observe(b, || true), Offer::Build);
        assert_eq!(t.observe(b, || true), Offer::Count);
        assert_eq!(t.count(a), 1);
        assert_eq!(t.count(b), 2);
        assert_eq!(t.totals(), (3, 1));
    }

    #[test]
    fn threads_making_the_same_new_findings_at_once_share_one_slot_each() {
        // Two threads that hit the same conflict make the same finding at the same
        // moment. Each key must end up in one slot, built once, with every
        // occurrence counted, however the claims interleave.
        let t = table();
        const THREADS: usize = 4;
        // 16 keys on each start slot, start slots 64 apart: claims race on every
        // slot, and every key fits in its probe sequence.
        let keys: Vec<u64> = (0..(SLOTS / PROBES) as u64)
            .flat_map(|g| (1..=16u64).map(move |j| g * PROBES as u64 + j * SLOTS as u64))
            .collect();
        let barrier = std::sync::Barrier::new(THREADS);
        let built: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        keys.iter()
                            .filter(|&&k| t.observe(k, || true) == Offer::Build)
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(t.overflow.load(Relaxed), 0);
        let mut slots_of = std::collections::HashMap::new();
        for slot in &t.slots {
            *slots_of.entry(slot.key.load(Relaxed)).or_insert(0) += 1;
        }
        for &k in &keys {
            assert_eq!(slots_of.get(&k), Some(&1), "{k:#x}");
            assert_eq!(t.count(k), THREADS as u64, "{k:#x}");
        }
        assert_eq!(built, keys.len(), "each finding built once");
    }

    #[test]
    fn dozens_of_keys_on_one_start_slot_each_get_a_slot() {
        let t = table();
        let base = 0x31_0000_0000_0040u64;
        let keys: Vec<u64> = (0..40).map(|i| base + i * SLOTS as u64).collect();
        for &k in &keys {
            assert_eq!(t.observe(k, || true), Offer::Build, "{k:#x}");
        }
        for &k in &keys {
            assert_eq!(t.observe(k, || true), Offer::Count, "{k:#x}");
            assert_eq!(t.count(k), 2, "{k:#x}");
        }
        assert_eq!(t.overflow.load(Relaxed), 0);
    }

    #[test]
    fn a_half_full_table_of_spread_keys_samples_none() {
        // Keys spread like `local_key`'s (a multiply and a rotate of addresses), a
        // fixed sequence so the test is the same on every run.
        let t = table();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let keys: Vec<u64> = (0..SLOTS / 2)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.max(1)
            })
            .collect();
        for &k in &keys {
            assert_eq!(t.observe(k, || true), Offer::Build, "{k:#x}");
        }
        assert_eq!(t.overflow.load(Relaxed), 0, "a finding was only sampled");
        assert!(keys.iter().all(|&k| t.count(k) == 1));
    }
}
