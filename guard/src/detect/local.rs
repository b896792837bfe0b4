//! What the detector keeps per thread: recent reads (for `lost_update`) and the
//! guards the thread holds into maps (for `reentrant_access`). Plain `Cell`s in a
//! const thread-local: no lock, no allocation, no sharing.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::record::SiteRef;
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
}

const NO_READ: Read = Read {
    map: 0,
    key: 0,
    snapshot: 0,
    ms: 0,
    op: Op::Get,
    site: None,
};

/// A guard (Ref, RefMut, Entry, iterator) this thread holds into a map.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub(crate) map: u64,
    pub(crate) key: u64,
    pub(crate) token: u64,
    pub(crate) op: Op,
    pub(crate) ms: u64,
    pub(crate) site: Option<SiteRef>,
}

const NO_HELD: Held = Held {
    map: 0,
    key: 0,
    token: 0,
    op: Op::Get,
    ms: 0,
    site: None,
};

pub(crate) struct Local {
    reads: [Cell<Read>; READS],
    next_read: Cell<usize>,
    held: [Cell<Held>; HELD],
    held_len: Cell<usize>,
    next_token: Cell<u64>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            reads: [const { Cell::new(NO_READ) }; READS],
            next_read: Cell::new(0),
            held: [const { Cell::new(NO_HELD) }; HELD],
            held_len: Cell::new(0),
            next_token: Cell::new(1),
        }
    };
}

#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL.try_with(f).ok()
}

impl Local {
    /// Remembers a read, replacing an older read of the same key or the oldest one.
    #[inline]
    pub(crate) fn remember_read(&self, read: Read) {
        for cell in &self.reads {
            let r = cell.get();
            if r.map == read.map && r.key == read.key {
                cell.set(read);
                return;
            }
        }
        let i = self.next_read.get();
        self.reads[i % READS].set(read);
        self.next_read.set(i.wrapping_add(1));
    }

    /// Takes (and forgets) this thread's read of `key` in `map`, if there is one.
    #[inline]
    pub(crate) fn take_read(&self, map: u64, key: u64) -> Option<Read> {
        for cell in &self.reads {
            let r = cell.get();
            if r.map == map && r.key == key && r.ms != 0 {
                cell.set(NO_READ);
                return Some(r);
            }
        }
        None
    }

    #[inline]
    pub(crate) fn holds_any(&self) -> bool {
        self.held_len.get() != 0
    }

    /// The oldest guard this thread holds into `map`.
    pub(crate) fn held_in(&self, map: u64) -> Option<Held> {
        self.held[..self.held_len.get().min(HELD)]
            .iter()
            .map(Cell::get)
            .find(|h| h.map == map)
    }

    /// Registers a guard; returns its token (0 if the table is full: that guard is
    /// then not tracked, which can hide a finding but never invent one).
    #[inline]
    pub(crate) fn hold(&self, mut held: Held) -> u64 {
        let n = self.held_len.get();
        if n >= HELD {
            return 0;
        }
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        held.token = token;
        self.held[n].set(held);
        self.held_len.set(n + 1);
        token
    }

    /// Forgets the guard with `token`; false if this thread does not hold it.
    #[inline]
    pub(crate) fn release(&self, token: u64) -> bool {
        let n = self.held_len.get();
        for i in (0..n).rev() {
            if self.held[i].get().token == token {
                self.held[i].set(self.held[n - 1].get());
                self.held_len.set(n - 1);
                return true;
            }
        }
        false
    }
}

/// Guards dropped on another thread than the one that took them (a `Ref` moved into
/// another thread, or held across an `.await` on a multi-threaded runtime). Their
/// owner forgets them the next time it would report a reentrant access. Touched only
/// on that cross-thread drop and on the finding path, never on the hot path.
static ORPHANS: Mutex<Vec<(Accessor, u64)>> = Mutex::new(Vec::new());
static ORPHANS_PENDING: AtomicBool = AtomicBool::new(false);
const ORPHANS_KEPT: usize = 4096;

pub(crate) fn orphan(owner: Accessor, token: u64) {
    let mut o = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
    if o.len() >= ORPHANS_KEPT {
        o.remove(0);
    }
    o.push((owner, token));
    ORPHANS_PENDING.store(true, Relaxed);
}

/// Forgets this thread's guards that were dropped elsewhere.
pub(crate) fn reconcile(local: &Local, me: Accessor) {
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
        Held { map, ..NO_HELD }
    }

    #[test]
    fn hold_and_release_in_any_order() {
        with(|l| {
            let a = l.hold(held(1));
            let b = l.hold(held(2));
            assert!(l.held_in(1).is_some());
            assert!(l.release(a));
            assert!(l.held_in(1).is_none());
            assert!(l.held_in(2).is_some());
            assert!(!l.release(a));
            assert!(l.release(b));
            assert!(!l.holds_any());
        });
    }

    #[test]
    fn full_table_stops_tracking_without_harm() {
        with(|l| {
            let tokens: Vec<u64> = (0..HELD as u64 + 2)
                .map(|m| l.hold(held(m + 100)))
                .collect();
            assert_eq!(tokens.iter().filter(|t| **t == 0).count(), 2);
            for t in tokens.into_iter().filter(|t| *t != 0) {
                assert!(l.release(t));
            }
            assert!(!l.holds_any());
        });
    }

    #[test]
    fn reads_are_taken_once() {
        with(|l| {
            let r = Read {
                map: 9,
                key: 3,
                ms: 5,
                ..NO_READ
            };
            l.remember_read(r);
            assert!(l.take_read(9, 3).is_some());
            assert!(l.take_read(9, 3).is_none());
        });
    }

    #[test]
    fn orphans_are_reconciled_by_their_owner() {
        let me = crate::thread::with_identity(|i| i.id).unwrap();
        with(|l| {
            let t = l.hold(held(42));
            orphan(me, t);
            reconcile(l, me);
            assert!(l.held_in(42).is_none());
        });
    }
}
