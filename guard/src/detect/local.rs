//! What the detector keeps per thread: recent reads (for `lost_update`) and the
//! guards the thread holds into maps (for `reentrant_access`). Plain `Cell`s kept
//! field by field, so a scan compares a few `u64`s and copies nothing; they live in
//! the one thread-local of [`crate::thread::Local`]: no lock, no allocation.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::record::{FunctionRef, SiteRef};
use crate::finding::Op;
use crate::thread::Accessor;

pub(crate) const READS: usize = 4;
pub(crate) const HELD: usize = 8;

/// A read of one key, remembered until the same thread writes that key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Read {
    pub(crate) map: u64,
    pub(crate) key: u64,
    /// The stamp of the record this key's writes go to, as it was at the read.
    pub(crate) snapshot: u64,
    pub(crate) ms: u64,
    pub(crate) op: Op,
    pub(crate) site: Option<SiteRef>,
    pub(crate) function: Option<FunctionRef>,
}

/// A guard (Ref, RefMut, Entry, iterator) this thread holds into a map.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) map: u64,
    pub(crate) key: u64,
    pub(crate) op: Op,
    pub(crate) ms: u64,
    pub(crate) site: Option<SiteRef>,
    pub(crate) function: Option<FunctionRef>,
}

/// Details kept per slot but never scanned.
#[derive(Clone, Copy)]
struct Detail {
    a: u64,
    ms: u64,
    op: Op,
    site: Option<SiteRef>,
    function: Option<FunctionRef>,
}

const NO_DETAIL: Detail = Detail {
    a: 0,
    ms: 0,
    op: Op::Get,
    site: None,
    function: None,
};

/// The detector's per-thread state.
pub(crate) struct PerThread {
    read_map: [Cell<u64>; READS],
    read_key: [Cell<u64>; READS],
    /// `a` is the snapshot stamp.
    read_detail: [Cell<Detail>; READS],
    read_live: Cell<usize>,
    held_map: [Cell<u64>; HELD],
    held_token: [Cell<u64>; HELD],
    /// `a` is the key hash.
    held_detail: [Cell<Detail>; HELD],
    held_len: Cell<usize>,
    next_token: Cell<u64>,
}

impl PerThread {
    pub(crate) const fn new() -> Self {
        PerThread {
            read_map: [const { Cell::new(0) }; READS],
            read_key: [const { Cell::new(0) }; READS],
            read_detail: [const { Cell::new(NO_DETAIL) }; READS],
            read_live: Cell::new(0),
            held_map: [const { Cell::new(0) }; HELD],
            held_token: [const { Cell::new(0) }; HELD],
            held_detail: [const { Cell::new(NO_DETAIL) }; HELD],
            held_len: Cell::new(0),
            next_token: Cell::new(1),
        }
    }

    /// The slot a read of `key` in `map` lives in: direct-mapped, so remembering
    /// and finding a read is one probe. Two reads that share a slot replace each
    /// other (a missed finding at worst, never an invented one).
    #[inline]
    fn read_slot(map: u64, key: u64) -> usize {
        ((key ^ map.rotate_left(17)) as usize) % READS
    }

    /// Remembers a read, replacing whatever read shared its slot.
    #[inline]
    pub(crate) fn remember_read(&self, read: Read) {
        let i = Self::read_slot(read.map, read.key);
        if self.read_map[i].get() == 0 {
            self.read_live.set(self.read_live.get() + 1);
        }
        self.read_map[i].set(read.map);
        self.read_key[i].set(read.key);
        self.read_detail[i].set(Detail {
            a: read.snapshot,
            ms: read.ms,
            op: read.op,
            site: read.site,
            function: read.function,
        });
    }

    /// Takes (and forgets) this thread's read of `key` in `map`, if there is one.
    #[inline]
    pub(crate) fn take_read(&self, map: u64, key: u64) -> Option<Read> {
        if self.read_live.get() == 0 {
            return None;
        }
        let i = Self::read_slot(map, key);
        if self.read_map[i].get() != map || self.read_key[i].get() != key {
            return None;
        }
        self.read_map[i].set(0);
        self.read_key[i].set(0);
        self.read_live.set(self.read_live.get() - 1);
        let d = self.read_detail[i].get();
        Some(Read {
            map,
            key,
            snapshot: d.a,
            ms: d.ms,
            op: d.op,
            site: d.site,
            function: d.function,
        })
    }

    #[inline]
    pub(crate) fn holds_any(&self) -> bool {
        self.held_len.get() != 0
    }

    /// The oldest guard this thread holds into `map`.
    pub(crate) fn held_in(&self, map: u64) -> Option<Held> {
        let i = (0..self.held_len.get()).find(|&i| self.held_map[i].get() == map)?;
        let d = self.held_detail[i].get();
        Some(Held {
            map,
            key: d.a,
            op: d.op,
            ms: d.ms,
            site: d.site,
            function: d.function,
        })
    }

    /// Registers a guard; returns its token (0 if the table is full: that guard is
    /// then not tracked, which can hide a finding but never invent one).
    #[inline]
    pub(crate) fn hold(&self, held: Held) -> u64 {
        let n = self.held_len.get();
        if n >= HELD {
            return 0;
        }
        // Tokens fit the 44 bits a packed held-guard keeps, and are never 0.
        let token = self.next_token.get();
        self.next_token
            .set(if token >= (1 << 44) - 1 { 1 } else { token + 1 });
        self.held_map[n].set(held.map);
        self.held_token[n].set(token);
        self.held_detail[n].set(Detail {
            a: held.key,
            ms: held.ms,
            op: held.op,
            site: held.site,
            function: held.function,
        });
        self.held_len.set(n + 1);
        token
    }

    /// Forgets the guard with `token`; false if this thread does not hold it.
    #[inline]
    pub(crate) fn release(&self, token: u64) -> bool {
        let n = self.held_len.get();
        let Some(i) = (0..n).rev().find(|&i| self.held_token[i].get() == token) else {
            return false;
        };
        let last = n - 1;
        if i != last {
            self.held_map[i].set(self.held_map[last].get());
            self.held_token[i].set(self.held_token[last].get());
            self.held_detail[i].set(self.held_detail[last].get());
        }
        self.held_len.set(last);
        true
    }
}

/// Guards dropped on another thread than the one that took them (a `Ref` moved into
/// another thread, or held across an `.await` on a multi-threaded runtime). Their
/// owner forgets them the next time it would report a reentrant access. Touched only
/// on that cross-thread drop and on the finding path, never on the hot path.
static ORPHANS: Mutex<Vec<(Accessor, u64)>> = Mutex::new(Vec::new());
static ORPHANS_PENDING: AtomicBool = AtomicBool::new(false);
const ORPHANS_KEPT: usize = 4096;

#[cold]
#[inline(never)]
pub(crate) fn orphan(owner: Accessor, token: u64) {
    let mut o = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
    if o.len() >= ORPHANS_KEPT {
        o.remove(0);
    }
    o.push((owner, token));
    ORPHANS_PENDING.store(true, Relaxed);
}

/// Forgets this thread's guards that were dropped elsewhere.
pub(crate) fn reconcile(local: &PerThread, me: Accessor) {
    if !ORPHANS_PENDING.load(Relaxed) {
        return;
    }
    let mut o = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
    o.retain(|(owner, token)| !(*owner == me && local.release(*token)));
    if o.is_empty() {
        ORPHANS_PENDING.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(map: u64) -> Held {
        Held {
            map,
            key: 0,
            op: Op::Get,
            ms: 1,
            site: None,
            function: None,
        }
    }

    #[test]
    fn hold_and_release_in_any_order() {
        let l = PerThread::new();
        let a = l.hold(held(1));
        let b = l.hold(held(2));
        let c = l.hold(held(3));
        assert!(l.held_in(1).is_some());
        assert!(l.release(a));
        assert!(l.held_in(1).is_none());
        assert!(l.held_in(2).is_some() && l.held_in(3).is_some());
        assert!(!l.release(a));
        assert!(l.release(c));
        assert!(l.release(b));
        assert!(!l.holds_any());
    }

    #[test]
    fn full_table_stops_tracking_without_harm() {
        let l = PerThread::new();
        let tokens: Vec<u64> = (0..HELD as u64 + 2)
            .map(|m| l.hold(held(m + 100)))
            .collect();
        assert_eq!(tokens.iter().filter(|t| **t == 0).count(), 2);
        for t in tokens.into_iter().filter(|t| *t != 0) {
            assert!(l.release(t));
        }
        assert!(!l.holds_any());
    }

    #[test]
    fn reads_are_taken_once_and_replaced_per_key() {
        let l = PerThread::new();
        let r = |key, ms| Read {
            map: 9,
            key,
            snapshot: 0,
            ms,
            op: Op::Get,
            site: None,
            function: None,
        };
        l.remember_read(r(3, 5));
        l.remember_read(r(3, 6));
        assert_eq!(l.take_read(9, 3).map(|r| r.ms), Some(6));
        assert!(l.take_read(9, 3).is_none());
        // Keys in different slots are all kept.
        for k in 0..READS as u64 {
            l.remember_read(r(k, k + 1));
        }
        for k in 0..READS as u64 {
            assert_eq!(l.take_read(9, k).map(|r| r.ms), Some(k + 1));
        }
        // A key sharing a slot replaces the older read.
        l.remember_read(r(1, 1));
        l.remember_read(r(1 + READS as u64, 2));
        assert!(l.take_read(9, 1).is_none());
        assert!(l.take_read(9, 1 + READS as u64).is_some());
    }

    #[test]
    fn orphans_are_reconciled_by_their_owner() {
        let l = PerThread::new();
        let me = Accessor::from_bits(77);
        let t = l.hold(held(42));
        orphan(me, t);
        reconcile(&l, me);
        assert!(l.held_in(42).is_none());
    }
}
