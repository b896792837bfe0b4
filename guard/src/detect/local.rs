//! What the detector keeps per thread: recent reads (for `lost_update`) and the
//! guards the thread holds into maps (for `reentrant_access`). Plain `Cell`s kept
//! field by field, so that remembering an access is a handful of stores and finding
//! one compares a few `u64`s; they live in the one thread-local of
//! [`crate::thread::Local`]: no lock, no allocation.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

use super::record::{FunctionRef, SiteRef, Stamp};
use crate::finding::Op;
use crate::function::{FUNCTION_SHIFT, Function};
use crate::thread::{Accessor, ThreadCounters};

pub(crate) const READS: usize = 4;
pub(crate) const HELD: usize = 8;
/// Where `held_live` keeps its slot bits: above its low 16 bits, which stay clear.
/// A guard's drop ands its token's low word into `held_live` in one instruction,
/// and that word carries the owner's id in its low 16 bits, where the drop compares
/// it with the thread's in one more (see `state::pack`).
const SLOT_SHIFT: u32 = crate::thread::ID_BITS;
/// The low bits of `held_live`, always clear: where a token's owner id lands.
const OWNER_BITS: u32 = (1 << SLOT_SHIFT) - 1;
/// Slot 0's bit in `held_live`: the token of the guard in slot 0.
pub(crate) const SLOT0: u32 = 1 << SLOT_SHIFT;
/// The bits a held-guard token can have: one per slot.
pub(crate) const HELD_BITS: u32 = ((1 << HELD) - 1) << SLOT_SHIFT;
/// Where `held_live` keeps "slot 0's guard is the read in read slot `r`", as `r + 1`
/// (see [`PerThread::hold_borrowing`]).
const BORROW_SHIFT: u32 = SLOT_SHIFT + HELD as u32;
const BORROW_MASK: u32 = 0x7 << BORROW_SHIFT;
/// In `held_live`: mapguard's own code runs on this thread (see [`crate::thread::busy`]).
pub(crate) const GATE_BUSY: u32 = 1 << 27;
/// In `held_live`: the thread has no accessor id (not yet, or no more).
pub(crate) const GATE_UNREGISTERED: u32 = 1 << 28;
/// Any of these set in `held_live` sends the thread's accesses to the general path.
/// Bit 0 is never set: it is in the mask so that the test spans both half-words
/// of `held_live`, which the compiler then tests in memory in one instruction
/// (with only upper bits it loads the upper half-word first).
const GATE_CLOSED: u32 = HELD_BITS | GATE_BUSY | GATE_UNREGISTERED | 1;
const _: () = assert!(
    READS < 7
        && HELD_BITS & BORROW_MASK == 0
        && (HELD_BITS | BORROW_MASK) & (GATE_BUSY | GATE_UNREGISTERED) == 0
        && (HELD_BITS | BORROW_MASK | GATE_BUSY | GATE_UNREGISTERED) & OWNER_BITS == 0
        && (HELD_BITS | BORROW_MASK | GATE_BUSY | GATE_UNREGISTERED) & 1 << 31 == 0
);

/// One access this thread remembers: a read of a key (until the thread writes it)
/// or a guard it holds into a map (until the guard is dropped).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mine {
    pub(crate) map: u64,
    pub(crate) key: u64,
    /// This thread, the op and the time of the access.
    pub(crate) stamp: Stamp,
    pub(crate) site: Option<SiteRef>,
    pub(crate) function: Option<FunctionRef>,
}

/// A remembered read: the access, and what the key's write record held then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Read {
    pub(crate) access: Mine,
    /// The accessor and write number of the stamp the record held (its
    /// [`Stamp::fingerprint`]).
    snapshot: u64,
}

impl Read {
    /// True if the record, holding `now`, was written since this read: its writer
    /// or write number is not the one seen then, or it was written after the
    /// read's millisecond. The read's millisecond is never before the one seen
    /// then (see [`PerThread::remember_read`]), so an unchanged record never says
    /// yes. Missed (a missed finding, never an invented one): a multiple of 32
    /// writes to the record since, the last of them by the thread seen (or one
    /// given its id later), all stamped at or before the read's millisecond.
    pub(crate) fn written_since(&self, now: Stamp) -> bool {
        now.fingerprint() != self.snapshot || now.ms() > self.access.stamp.ms()
    }
}

/// Entries of four words each, one field per array: this thread's remembered
/// reads ([`READS`] of them) and the guards it holds ([`HELD`]). Booking one is
/// four stores. A word carries two things where the other one's bits are free: the
/// map's id (below 2^48) with the function's number above it ([`Function::bits`]),
/// and the stamp, which may be kept without its accessor (every entry is this
/// thread's own access, so readers put back the id their caller names). A read's
/// stamp keeps no write number either, and holds the [`Stamp::fingerprint`] of the
/// stamp the key's write record held. With six words (two more stores a read) a
/// `DashMap` `get` with the guard on took 1.33x the raw `get`'s time on an AMD EPYC
/// (Zen 3), with four 1.21x: fastest of 150 one-loop runs each, both builds side
/// by side.
struct Table<const N: usize> {
    map: [Cell<u64>; N],
    key: [Cell<u64>; N],
    stamp: [Cell<u64>; N],
    site: [Cell<Option<SiteRef>>; N],
}

/// The map ids below the function's number in [`Table::map`].
const MAP_MASK: u64 = (1 << FUNCTION_SHIFT) - 1;

impl<const N: usize> Table<N> {
    const fn new() -> Self {
        Table {
            map: [const { Cell::new(0) }; N],
            key: [const { Cell::new(0) }; N],
            stamp: [const { Cell::new(0) }; N],
            site: [const { Cell::new(None) }; N],
        }
    }

    /// Puts `m` in entry `i`: its map with `function_bits` ([`Function::bits`] of
    /// `m.function`) above, and `stamp` (its stamp as this table keeps it). Four
    /// stores.
    #[inline(always)]
    fn put(&self, i: usize, m: &Mine, function_bits: u64, stamp: u64) {
        debug_assert!(m.map & !MAP_MASK == 0 && function_bits & MAP_MASK == 0);
        self.map[i].set(m.map | function_bits);
        self.key[i].set(m.key);
        self.stamp[i].set(stamp);
        self.site[i].set(m.site);
    }

    /// The map's id in entry `i`.
    #[inline(always)]
    fn map(&self, i: usize) -> u64 {
        self.map[i].get() & MAP_MASK
    }

    /// The function's number in entry `i`, as [`Function::bits`] gives it.
    fn function_bits(&self, i: usize) -> u64 {
        self.map[i].get() & !MAP_MASK
    }

    /// Entry `i`, with `stamp` (made by the caller from the kept one).
    fn get(&self, i: usize, stamp: Stamp) -> Mine {
        let map = self.map[i].get();
        Mine {
            map: map & MAP_MASK,
            key: self.key[i].get(),
            stamp,
            site: self.site[i].get(),
            function: Function::from_bits(map),
        }
    }
}

/// The detector's per-thread state.
pub(crate) struct PerThread {
    reads: Table<READS>,
    held: Table<HELD>,
    /// The order guards were taken in (smaller: older). [`PerThread::hold_first`]
    /// leaves its slot's old number, which is smaller than any number given since.
    held_seq: [Cell<u64>; HELD],
    next_seq: Cell<u64>,
    /// Bit `SLOT_SHIFT + i` set: held slot `i` is in use. In [`BORROW_MASK`]: 0, or
    /// `r + 1` if slot 0's guard is described by read slot `r` instead of slot 0
    /// (valid while [`SLOT0`] is set, until [`PerThread::settle`]). The low 16 bits
    /// are always clear. And the flags [`GATE_BUSY`] and
    /// [`GATE_UNREGISTERED`], so that the fast path tests one word.
    held_live: Cell<u32>,
    /// The token of a guard this thread holds in slot 0 (the fast path's only
    /// slot), 0 while the thread is not registered: so the fast path makes it in
    /// one load.
    first_token: Cell<u64>,
}

impl PerThread {
    pub(crate) const fn new() -> Self {
        PerThread {
            reads: Table::new(),
            held: Table::new(),
            held_seq: [const { Cell::new(0) }; HELD],
            next_seq: Cell::new(1),
            held_live: Cell::new(GATE_UNREGISTERED),
            first_token: Cell::new(0),
        }
    }

    /// Records that this thread is accessor `id` (0: not registered).
    pub(crate) fn set_owner(&self, id: u32) {
        self.first_token.set(match id {
            0 => 0,
            id => super::state::pack(u64::from(id), u64::from(SLOT0)),
        });
    }

    /// The token of a guard this thread holds in slot 0 (slot token [`SLOT0`] of
    /// [`PerThread::hold_first`] and [`PerThread::hold_borrowing`], packed with the
    /// thread's id); 0, which no tracked token is, while the thread is not
    /// registered.
    #[inline(always)]
    pub(crate) fn first_token(&self) -> u64 {
        self.first_token.get()
    }

    /// The slot a read of `key` (a key hash, in any map) lives in: direct-mapped,
    /// so remembering and finding a read is one probe. Two reads that share a slot
    /// replace each other (a missed finding at worst, never an invented one). The
    /// key's hash alone picks it: mixing in the map's id (a small counter) spreads
    /// nothing more in practice, and cost two instructions per access.
    #[inline(always)]
    fn read_slot(key: u64) -> usize {
        key as usize % READS
    }

    /// Remembers a read, replacing whatever read shared its slot; returns the slot
    /// (for [`PerThread::hold_borrowing`]). `function_bits`: `read.function`'s
    /// [`Function::bits`]; `snapshot`: the stamp the key's write record held,
    /// loaded before the read's time was (so `read`'s millisecond is not before
    /// the snapshot's: [`Read::written_since`] relies on it; the caller sees to
    /// it). Four plain stores: comparing first to skip unchanged fields measured
    /// no faster, and mispredicts where the fields vary.
    #[inline(always)]
    pub(crate) fn remember_read(&self, read: &Mine, function_bits: u64, snapshot: u64) -> usize {
        debug_assert!(read.map & !MAP_MASK == 0 && function_bits & MAP_MASK == 0);
        debug_assert!(
            Stamp(snapshot).ms() <= read.stamp.ms(),
            "{snapshot:#x} {read:?}"
        );
        // As a read's stamp is kept: without the accessor and write number, where
        // the fingerprint goes (the caller leaves them out, the fast path at no cost).
        debug_assert_eq!(read.stamp.fingerprint(), 0, "{read:?}");
        let i = Self::read_slot(read.key);
        let stamp = read.stamp.0 | Stamp(snapshot).fingerprint();
        self.reads.put(i, read, function_bits, stamp);
        i
    }

    /// Takes (and forgets) this thread's read of `key` in `map`, if there is one; `me`
    /// is this thread.
    #[inline]
    pub(crate) fn take_read(&self, map: u64, key: u64, me: Accessor) -> Option<Read> {
        let i = Self::read_slot(key);
        if !self.has_read(map, key) {
            return None;
        }
        let (access, snapshot) = self.read_at(i, Stamp::who_bits(me));
        self.reads.map[i].set(0);
        Some(Read { access, snapshot })
    }

    /// Read entry `i`, its stamp with `who` (the owner's [`Stamp::who_bits`]) in
    /// place of the fingerprint, and the fingerprint.
    fn read_at(&self, i: usize, who: u64) -> (Mine, u64) {
        let kept = Stamp(self.reads.stamp[i].get());
        let stamp = Stamp(kept.without_fingerprint().0 | who);
        (self.reads.get(i, stamp), kept.fingerprint())
    }

    #[inline(always)]
    pub(crate) fn holds_any(&self) -> bool {
        self.held_live.get() & HELD_BITS != 0
    }

    /// True if the fast path may run: the thread is registered, not running
    /// mapguard's own code, and holds no guard. One load and a test.
    #[inline(always)]
    pub(crate) fn gate_open(&self) -> bool {
        self.held_live.get() & GATE_CLOSED == 0
    }

    /// Sets or clears a `GATE_*` flag; returns whether it was set.
    #[inline]
    pub(crate) fn replace_flag(&self, flag: u32, on: bool) -> bool {
        let live = self.held_live.get();
        self.held_live
            .set(if on { live | flag } else { live & !flag });
        live & flag != 0
    }

    /// Whether a `GATE_*` flag is set.
    #[inline]
    pub(crate) fn flag(&self, flag: u32) -> bool {
        self.held_live.get() & flag != 0
    }

    /// Makes the held table describe every guard itself: copies a read that a guard
    /// borrowed ([`PerThread::hold_borrowing`]) into slot 0. Called, while a guard is
    /// held, before anything but the fast path reads the held table or changes the
    /// reads (the fast path declines while a guard is held); one load when nothing is
    /// borrowed.
    #[inline]
    pub(crate) fn settle(&self) {
        let live = self.held_live.get();
        let borrowed = (live & BORROW_MASK) >> BORROW_SHIFT;
        if borrowed == 0 {
            return;
        }
        if live & SLOT0 != 0 {
            // Copied as kept: the held table puts the id back when read, and keeps
            // the function's number as the read does.
            let i = borrowed as usize - 1;
            let read = self.read_at(i, 0).0;
            self.held
                .put(0, &read, self.reads.function_bits(i), read.stamp.0);
        }
        self.held_live.set(live & !BORROW_MASK);
    }

    /// True unless a held guard borrows a read (see [`PerThread::settle`]); stale
    /// borrow bits of a released slot 0 mean nothing.
    fn settled(&self) -> bool {
        let live = self.held_live.get();
        live & SLOT0 == 0 || live & BORROW_MASK == 0
    }

    /// True if this thread is inside a call that holds a guard of an `op` for which
    /// `is` says yes, in any map (settled first).
    pub(crate) fn holds_op(&self, is: impl Fn(Op) -> bool) -> bool {
        debug_assert!(self.settled());
        let live = self.held_live.get();
        (0..HELD).any(|i| live & (SLOT0 << i) != 0 && is(Stamp(self.held.stamp[i].get()).op()))
    }

    /// The guard this thread holds into `map` that it took first; with
    /// `write_locks_only`, the first of those that hold a write lock
    /// ([`crate::finding::Op::locks_exclusive`]). `me` is this thread.
    pub(crate) fn held_in(&self, map: u64, write_locks_only: bool, me: Accessor) -> Option<Mine> {
        debug_assert!(self.settled());
        let live = self.held_live.get();
        (0..HELD)
            .filter(|&i| live & (SLOT0 << i) != 0 && self.held.map(i) == map)
            .map(|i| {
                (
                    self.held_seq[i].get(),
                    self.held
                        .get(i, Stamp(self.held.stamp[i].get() | Stamp::who_bits(me))),
                )
            })
            .filter(|(_, h)| !write_locks_only || h.stamp.op().locks_exclusive())
            .min_by_key(|(seq, _)| *seq)
            .map(|(_, h)| h)
    }

    /// A guard this thread holds (`token`: its slot bits) is now of `op`, taken at
    /// `site` in `function`: a `RefMut` downgraded to a `Ref` holds a read lock from
    /// there on. It keeps the time it was first taken.
    pub(crate) fn rewrite_held(
        &self,
        token: u64,
        op: Op,
        site: SiteRef,
        function: Option<FunctionRef>,
    ) {
        self.settle();
        let live = u64::from(self.held_live.get() & HELD_BITS);
        let mut bits = token & live;
        while bits != 0 {
            let i = (bits.trailing_zeros() - SLOT_SHIFT) as usize;
            bits &= bits - 1;
            let stamp = Stamp(self.held.stamp[i].get()).with_op(op);
            self.held.stamp[i].set(stamp.0);
            self.held.site[i].set(Some(site));
            self.held.map[i].set(self.held.map(i) | function.map_or(0, Function::bits));
        }
    }

    /// Registers a guard; returns its token, the bit of its slot (0 if all slots
    /// are taken: that guard is then not tracked, which can hide a finding but never
    /// invent one).
    #[inline(always)]
    pub(crate) fn hold(&self, held: &Mine) -> u64 {
        debug_assert!(self.settled());
        // Drops stale borrow bits: slot 0, if free, may be taken here.
        let live = self.held_live.get() & !BORROW_MASK;
        let i = ((!live & HELD_BITS) >> SLOT_SHIFT).trailing_zeros() as usize;
        if i >= HELD {
            return 0;
        }
        self.held.put(
            i,
            held,
            held.function.map_or(0, Function::bits),
            held.stamp.0,
        );
        let seq = self.next_seq.get();
        self.held_seq[i].set(seq);
        self.next_seq.set(seq + 1);
        self.held_live.set(live | (SLOT0 << i));
        u64::from(SLOT0 << i)
    }

    /// [`PerThread::hold`] when this thread holds no guard: the guard takes slot 0
    /// (token [`SLOT0`]). `function_bits`: [`Function::bits`] of `held.function`
    /// (the thread keeps its current function's). Five stores.
    #[inline(always)]
    pub(crate) fn hold_first(&self, held: &Mine, function_bits: u64) -> u64 {
        debug_assert!(self.gate_open());
        debug_assert_eq!(function_bits, held.function.map_or(0, Function::bits));
        self.held.put(0, held, function_bits, held.stamp.0);
        self.held_live.set(SLOT0);
        u64::from(SLOT0)
    }

    /// [`PerThread::hold_first`] for a guard whose access was just remembered as a
    /// read in read slot `r` ([`PerThread::remember_read`]): slot 0 points at
    /// that read instead of copying it, so taking the guard is one store.
    #[inline(always)]
    pub(crate) fn hold_borrowing(&self, r: usize) -> u64 {
        debug_assert!(self.gate_open() && r < READS);
        self.held_live.set(SLOT0 | ((r as u32 + 1) << BORROW_SHIFT));
        u64::from(SLOT0)
    }

    /// True if this thread remembers a read of `key` in `map`. The key first: it
    /// nearly always differs, and the map's id is compared under a mask.
    #[inline(always)]
    pub(crate) fn has_read(&self, map: u64, key: u64) -> bool {
        let i = Self::read_slot(key);
        self.reads.key[i].get() == key && self.reads.map(i) == map
    }

    /// [`PerThread::release`] at the drop of a guard on the thread that took it,
    /// where its slot is in use by construction (a token is unique while its slot
    /// is in use). `keep` has every bit above the low 16 set but the slot's (a
    /// tracked token carries its slot's bit inverted, and its owner's id in the low
    /// 16 bits, which `held_live` leaves clear), so this is one `and` into memory.
    #[inline(always)]
    pub(crate) fn release_own(&self, keep: u32) {
        debug_assert!(
            !keep & !HELD_BITS & !OWNER_BITS == 0 && (!keep & HELD_BITS).count_ones() == 1,
            "{keep:#x}"
        );
        self.held_live.set(self.held_live.get() & keep);
    }

    /// Forgets the guard whose token (its slot's bit) is `token`; false if that slot
    /// is not in use. A load, a test and a store.
    #[inline(always)]
    pub(crate) fn release(&self, token: u64) -> bool {
        let bit = token as u32 & HELD_BITS;
        let live = self.held_live.get();
        if live & bit == 0 {
            return false;
        }
        self.held_live.set(live & !bit);
        true
    }
}

/// Guards dropped on another thread than the one that took them (a `Ref` moved into
/// another thread, or held across an `.await` on a multi-threaded runtime) are
/// handed to their owner as the bits of their held slots, or-ed into the owner's
/// `ThreadCounters::orphans`. The owner forgets them the next time one of its
/// accesses takes the general path while it holds guards; until then it takes that
/// path. One word per thread: nothing to evict, however many are orphaned (a list
/// with a cap used to evict the oldest, which left its slot taken for good and
/// invented a `reentrant_access`). Touched only on that cross-thread drop (under the
/// thread registry's lock) and at the owner's [`reconcile`]; never on the fast path.
#[cold]
#[inline(never)]
pub(crate) fn orphan(owner: Accessor, token: u64) {
    crate::thread::with_counters(|live| {
        // An owner that is gone held nothing any more.
        if let Some(counters) = live(owner) {
            counters
                .orphans
                .fetch_or(token & u64::from(HELD_BITS), Relaxed);
        }
    });
}

/// Forgets this thread's guards that were dropped elsewhere. One load of the thread's
/// own orphan bits when there are none; no lock.
pub(crate) fn reconcile(local: &PerThread, counters: &ThreadCounters) {
    if counters.orphans.load(Relaxed) == 0 {
        return;
    }
    let bits = counters.orphans.swap(0, Relaxed);
    if bits != 0 {
        local.release(bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::record::SEQ_SHIFT;
    use crate::finding::Op;

    /// The thread the tables under test belong to.
    const ME: Accessor = Accessor::from_bits(3);

    /// The state of a registered thread that is not running mapguard code.
    fn registered() -> PerThread {
        let l = PerThread::new();
        l.replace_flag(GATE_UNREGISTERED, false);
        assert!(l.gate_open());
        l
    }

    fn mine(map: u64, key: u64, ms: u64) -> Mine {
        Mine {
            map,
            key,
            stamp: Stamp::new(ME, Op::Get, ms),
            site: None,
            function: None,
        }
    }

    /// Remembers `m` as a read, its stamp kept as the fast path keeps one.
    fn remember(l: &PerThread, m: &Mine, snapshot: u64) -> usize {
        let read = Mine {
            stamp: m.stamp.without_fingerprint(),
            ..*m
        };
        l.remember_read(&read, 0, snapshot)
    }

    #[test]
    fn hold_and_release_in_any_order() {
        let l = registered();
        let a = l.hold(&mine(1, 0, 1));
        let b = l.hold(&mine(2, 0, 1));
        let c = l.hold(&mine(3, 0, 1));
        assert!(l.held_in(1, false, ME).is_some());
        assert!(l.release(a));
        assert!(l.held_in(1, false, ME).is_none());
        assert!(l.held_in(2, false, ME).is_some() && l.held_in(3, false, ME).is_some());
        assert!(!l.release(a));
        assert!(l.release(c));
        assert!(l.release(b));
        assert!(!l.holds_any());
        assert!(!l.release(0) && !l.release(u64::from(SLOT0) << HELD));
    }

    #[test]
    fn full_table_stops_tracking_without_harm() {
        let l = registered();
        let tokens: Vec<u64> = (0..HELD as u64 + 2)
            .map(|m| l.hold(&mine(m + 100, 0, 1)))
            .collect();
        assert_eq!(tokens.iter().filter(|t| **t == 0).count(), 2);
        for t in tokens.into_iter().filter(|t| *t != 0) {
            assert!(l.release(t));
        }
        assert!(!l.holds_any());
    }

    #[test]
    fn a_stamp_kept_without_the_thread_comes_back_with_it() {
        // As the fast path books a read: no accessor in the stamp.
        let l = registered();
        let read = Mine {
            stamp: Stamp::at(0, Op::Get, 7 << crate::clock::MS_SHIFT),
            ..mine(9, 3, 0)
        };
        remember(&l, &read, 0);
        let r = l.take_read(9, 3, ME).expect("remembered");
        assert_eq!((r.access.stamp.who(), r.access.stamp.ms()), (ME, 7));
        // A guard that borrows such a read, once settled into the held table.
        let slot = remember(&l, &read, 0);
        l.hold_borrowing(slot);
        l.settle();
        let held = l.held_in(9, false, ME).expect("held");
        assert_eq!((held.stamp.who(), held.stamp.op()), (ME, Op::Get));
    }

    #[test]
    fn reads_are_taken_once_and_replaced_per_key() {
        let l = registered();
        remember(&l, &mine(9, 3, 5), 0);
        remember(&l, &mine(9, 3, 6), 0);
        assert_eq!(l.take_read(9, 3, ME).map(|r| r.access.stamp.ms()), Some(6));
        assert!(l.take_read(9, 3, ME).is_none());
        // Keys in different slots are all kept, each with the writer and write
        // number of the record it saw.
        let seen =
            |k: u64| Stamp::new(Accessor::from_bits(k + 2), Op::Insert, 0).with_seq(k << SEQ_SHIFT);
        for k in 0..READS as u64 {
            remember(&l, &mine(9, k, k + 1), seen(k).0);
        }
        for k in 0..READS as u64 {
            let r = l.take_read(9, k, ME).unwrap();
            assert_eq!(r.access.stamp.ms(), k + 1);
            assert_eq!(r.snapshot, seen(k).fingerprint());
            assert!(!r.written_since(seen(k)) && r.written_since(seen(k + 1)));
        }
        // A key sharing a slot replaces the older read.
        remember(&l, &mine(9, 1, 1), 0);
        remember(&l, &mine(9, 1 + READS as u64, 2), 0);
        assert!(l.take_read(9, 1, ME).is_none());
        assert!(l.take_read(9, 1 + READS as u64, ME).is_some());
    }

    #[test]
    fn a_read_keeps_its_function_and_map_in_one_word() {
        static F: Function = Function::new("app::handler");
        let l = registered();
        let map = MAP_MASK; // the largest id a map gets
        let read = Mine {
            function: Some(&F),
            stamp: Stamp::at(0, Op::Get, 7 << crate::clock::MS_SHIFT),
            ..mine(map, 3, 0)
        };
        l.remember_read(&read, F.bits(), 0);
        assert!(l.has_read(map, 3) && !l.has_read(map - 1, 3) && !l.has_read(map, 4));
        // Borrowed by a guard, it describes the guard with both once settled.
        let slot = l.remember_read(&read, F.bits(), 0);
        l.hold_borrowing(slot);
        l.settle();
        let held = l.held_in(map, false, ME).expect("held");
        assert_eq!(held.function.map(Function::name), Some("app::handler"));
        assert!(l.release(u64::from(SLOT0)));
        let r = l.take_read(map, 3, ME).expect("remembered");
        assert_eq!((r.access.map, r.access.key), (map, 3));
        assert_eq!(r.access.function.map(Function::name), Some("app::handler"));
        assert_eq!((r.access.stamp.who(), r.access.stamp.ms()), (ME, 7));
    }

    #[test]
    fn a_read_tells_a_write_since_from_the_one_it_saw() {
        let l = registered();
        let other = Accessor::from_bits(9);
        let w = |who, ms, seq: u64| Stamp::new(who, Op::Insert, ms).with_seq(seq << SEQ_SHIFT);
        let seen = w(other, 5, 3);
        let read = Mine {
            stamp: Stamp::at(0, Op::Get, 6 << crate::clock::MS_SHIFT),
            ..mine(1, 2, 0)
        };
        remember(&l, &read, seen.0);
        let r = l.take_read(1, 2, ME).unwrap();
        // The kept fingerprint is not the read's own stamp.
        assert_eq!((r.access.stamp.who(), r.access.stamp.op()), (ME, Op::Get));
        assert!(!r.written_since(seen), "unchanged");
        assert!(r.written_since(w(other, 5, 4)), "the next write, same ms");
        assert!(r.written_since(w(ME, 5, 3)), "another writer");
        assert!(
            r.written_since(w(other, 7, 3)),
            "32 writes to the record later, a later ms"
        );
        assert!(r.written_since(Stamp(0)), "a record holding another stamp");
        // The one miss: the same writer last, 32 writes on, within the read's ms.
        assert!(!r.written_since(w(other, 6, 3)));
    }

    #[test]
    fn a_guard_keeps_its_function_and_map_in_one_word() {
        static F: Function = Function::new("app::holder");
        static G: Function = Function::new("app::downgrader");
        let l = registered();
        let map = MAP_MASK; // the largest id a map gets
        let guard = Mine {
            function: Some(&F),
            ..mine(map, 3, 4)
        };
        // Both ways a guard is taken: the fast path's first, and any slot.
        let first = l.hold_first(&guard, F.bits());
        let second = l.hold(&Mine { key: 5, ..guard });
        let held = l.held_in(map, false, ME).expect("held");
        assert_eq!((held.map, held.key), (map, 3));
        assert_eq!(held.function.map(Function::name), Some("app::holder"));
        assert!(l.held_in(map - 1, false, ME).is_none());
        assert!(l.release(first));
        let held = l.held_in(map, false, ME).expect("the second");
        assert_eq!(
            (held.key, held.function.map(Function::name)),
            (5, Some("app::holder"))
        );
        // Rewritten in another function, or in none: the function goes, the map stays.
        l.rewrite_held(second, Op::Get, std::panic::Location::caller(), Some(&G));
        let held = l.held_in(map, false, ME).expect("rewritten");
        assert_eq!(held.function.map(Function::name), Some("app::downgrader"));
        l.rewrite_held(second, Op::Get, std::panic::Location::caller(), None);
        let held = l.held_in(map, false, ME).expect("rewritten again");
        assert_eq!((held.map, held.function.is_none()), (map, true));
    }

    #[test]
    fn a_borrowed_read_is_settled_before_the_reads_change() {
        let l = registered();
        let r = remember(&l, &mine(7, 3, 5), 11);
        assert_eq!(l.hold_borrowing(r), u64::from(SLOT0));
        assert!(l.holds_any());
        l.settle();
        // A read sharing the slot replaces the read, not the guard's description.
        remember(&l, &mine(7, 3 + READS as u64, 6), 0);
        let held = l.held_in(7, false, ME).unwrap();
        assert_eq!((held.key, held.stamp.ms()), (3, 5));
        assert!(l.take_read(7, 3 + READS as u64, ME).is_some());
        assert_eq!(l.held_in(7, false, ME).map(|m| m.key), Some(3));
        assert!(l.release(u64::from(SLOT0)));
        assert!(!l.holds_any());

        // A borrowed guard released before anything settled it leaves stale borrow
        // bits; they must not describe the next guard that takes slot 0.
        let l = registered();
        let r = remember(&l, &mine(7, 3, 5), 11);
        l.hold_borrowing(r);
        l.release_own(!SLOT0);
        assert!(!l.holds_any());
        remember(&l, &mine(7, 3, 6), 0);
        assert_eq!(l.hold(&mine(8, 1, 9)), u64::from(SLOT0));
        l.settle();
        let held = l.held_in(8, false, ME).unwrap();
        assert_eq!((held.map, held.key, held.stamp.ms()), (8, 1, 9));
        assert!(l.held_in(7, false, ME).is_none());
    }

    #[test]
    fn orphans_are_reconciled_by_their_owner() {
        let l = registered();
        let me = crate::thread::with_local(|t| t.identity().unwrap()).unwrap();
        let t = l.hold(&mine(42, 0, 1));
        let u = l.hold(&mine(43, 0, 1));
        orphan(me.id, t);
        orphan(me.id, u);
        assert_eq!(me.counters.orphans.load(Relaxed), t | u);
        reconcile(&l, me.counters);
        assert!(l.held_in(43, false, ME).is_none());
        assert!(l.held_in(42, false, ME).is_none());
        assert_eq!(me.counters.orphans.load(Relaxed), 0);
    }

    #[test]
    fn an_orphan_of_an_exited_thread_is_dropped() {
        let gone =
            std::thread::spawn(|| crate::thread::with_local(|t| t.identity().unwrap().id).unwrap())
                .join()
                .unwrap();
        // Its counters went back to the pool with no orphan bit; the next thread to
        // register may take them, and must start clean.
        orphan(gone, u64::from(SLOT0));
        assert!(crate::thread::with_counters(|live| live(gone).is_none()));
        let next = std::thread::spawn(|| {
            let me = crate::thread::with_local(|t| t.identity().unwrap()).unwrap();
            me.counters.orphans.load(Relaxed)
        })
        .join()
        .unwrap();
        assert_eq!(next, 0);
    }

    #[test]
    fn held_in_names_the_oldest_guard_within_one_millisecond() {
        let l = registered();
        let a = l.hold(&mine(1, 10, 5));
        l.hold(&mine(1, 11, 5));
        assert!(l.release(a));
        // Slot 0 is free again and goes to a newer guard, in the same ms.
        l.hold(&mine(1, 12, 5));
        assert_eq!(l.held_in(1, false, ME).map(|m| m.key), Some(11));
        // hold_first (nothing held) keeps an older number than any later guard.
        let l = registered();
        l.hold(&mine(2, 1, 5));
        assert!(l.release(u64::from(SLOT0)));
        let first = l.hold_first(&mine(2, 20, 5), 0);
        l.hold(&mine(2, 21, 5));
        assert_eq!(first, u64::from(SLOT0));
        assert_eq!(l.held_in(2, false, ME).map(|m| m.key), Some(20));
    }

    #[test]
    fn held_in_write_locks_only_skips_read_guards() {
        let l = registered();
        let write = |map, key| Mine {
            stamp: Stamp::new(Accessor::from_bits(1), Op::GetMut, 5),
            ..mine(map, key, 5)
        };
        l.hold(&mine(3, 30, 5)); // a Ref, taken first
        l.hold(&write(3, 31)); // a RefMut
        l.hold(&write(4, 40)); // a RefMut into another map
        assert_eq!(l.held_in(3, false, ME).map(|m| m.key), Some(30));
        assert_eq!(l.held_in(3, true, ME).map(|m| m.key), Some(31));
        let l = registered();
        l.hold(&mine(3, 30, 5));
        assert!(l.held_in(3, true, ME).is_none());
        assert!(l.held_in(3, false, ME).is_some());
    }
}
