//! The defensive operations on [`HashMap`] and [`BTreeMap`], the maps that live
//! inside the program's own lock. Under that lock every call is atomic already;
//! what these add is that each one reads and writes in one call, so the guard knows
//! it saw the current value (never the stale write of a `lost_update`), and that
//! reads can return owned values, so the lock can be released before they are used.
//!
//! `snapshot` is on `HashMap` only: a [`Snapshot`] is a hash map, and a `BTreeMap`'s
//! copy would lose its order (clone `inner()` under the lock for an ordered copy).

use std::borrow::Borrow;
use std::collections::btree_map::Entry as BEntry;
use std::collections::hash_map::Entry as HEntry;
use std::hash::{BuildHasher, Hash};
use std::panic::Location;

use super::btree_map::BTreeMap;
use super::hash_map::HashMap;
use super::snapshot::Snapshot;
use crate::Op;
use crate::detect::op;

/// The operations both std maps share, written once: `$q` is the bound on a
/// borrowed key (`Hash + Eq` or `Ord + Hash`), `$entry` the map's entry enum.
macro_rules! std_safe_methods {
    ([$($q:tt)+], $($entry:ident)::+) => {
        /// A clone of the value of `key`, or `None` if absent: an owned value, so the
        /// lock around the map can be released before it is used.
        ///
        /// A read (recorded for `lost_update`). **Cost:** one lookup and one
        /// `V::clone`. Never blocks.
        #[track_caller]
        pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
        where
            K: Borrow<Q>,
            Q: $($q)+ + ?Sized,
            V: Clone,
        {
            self.guard.keyed(op::GetCloned, key, Location::caller());
            self.inner.get(key).cloned()
        }

        /// A clone of the value of `key`, or `V::default()` if absent. Does not insert
        /// the default.
        ///
        /// A read (recorded for `lost_update`). **Cost:** one lookup and one
        /// `V::clone`. Never blocks.
        #[track_caller]
        pub fn get_or_default<Q>(&self, key: &Q) -> V
        where
            K: Borrow<Q>,
            Q: $($q)+ + ?Sized,
            V: Clone + Default,
        {
            self.guard.keyed(op::GetOrDefault, key, Location::caller());
            self.inner.get(key).cloned().unwrap_or_default()
        }

        /// Changes the value of `key` in place with `f` and returns what `f` returns;
        /// `None` (and `f` is not called) if the key is absent.
        ///
        /// The read-modify-write in one call, under the lock the caller holds: never
        /// a `lost_update`. Prefer it to `get_mut`, which the guard cannot tell from a
        /// blind write. **Cost:** one lookup. Never blocks.
        #[track_caller]
        pub fn update<Q, R>(&mut self, key: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
        where
            K: Borrow<Q>,
            Q: $($q)+ + ?Sized,
        {
            self.guard.keyed(op::Update, key, Location::caller());
            self.inner.get_mut(key).map(f)
        }

        /// Decides the value of `key` in one step: `f` sees the current value (`None`
        /// if absent) and returns the new one; `Some(v)` inserts or replaces, `None`
        /// removes the key (or leaves it absent). Returns the value the key had
        /// before, if any (replaced or removed), as `insert` and `remove` do.
        ///
        /// Never a `lost_update`. **Cost:** one lookup (and an insert or remove).
        /// Never blocks. If `f` panics, the map is unchanged.
        #[track_caller]
        pub fn compute(&mut self, key: K, f: impl FnOnce(Option<&V>) -> Option<V>) -> Option<V> {
            self.guard.keyed(op::Compute, &key, Location::caller());
            match self.inner.entry(key) {
                $($entry)::+::Occupied(mut e) => match f(Some(e.get())) {
                    Some(new) => Some(e.insert(new)),
                    None => Some(e.remove()),
                },
                $($entry)::+::Vacant(e) => {
                    if let Some(new) = f(None) {
                        e.insert(new);
                    }
                    None
                }
            }
        }

        /// The value of `key`, inserting `f()` first if the key is absent (`f` runs
        /// only then). Returns `&mut V` like std's `entry(key).or_insert_with(f)`:
        /// under your lock a borrow holds nothing more than the lock itself.
        /// (`DashMap::get_or_insert_with` returns a clone, because a borrow there
        /// would hold a shard lock.)
        ///
        /// A write, then a read of the value it returns (for `lost_update`).
        /// **Cost:** one lookup (and an insert). Never blocks.
        #[track_caller]
        pub fn get_or_insert_with(&mut self, key: K, f: impl FnOnce() -> V) -> &mut V {
            self.guard
                .keyed(op::GetOrInsertWith, &key, Location::caller());
            self.inner.entry(key).or_insert_with(f)
        }

        /// Inserts the pair only if `key` is absent; returns true if it did. If the
        /// key is present, the map is unchanged and `value` is dropped.
        ///
        /// Never a `lost_update`. **Cost:** one lookup (and an insert). Never blocks.
        #[track_caller]
        pub fn insert_if_absent(&mut self, key: K, value: V) -> bool {
            self.guard
                .keyed(op::InsertIfAbsent, &key, Location::caller());
            match self.inner.entry(key) {
                $($entry)::+::Occupied(_) => false,
                $($entry)::+::Vacant(e) => {
                    e.insert(value);
                    true
                }
            }
        }

        /// Removes `key` only if its value equals `value`; returns true if it did
        /// (Java's `remove(key, value)`): a value read under an earlier lock is
        /// removed only if it still compares equal (a change and a change back in
        /// between is not seen).
        ///
        /// Never a `lost_update`. **Cost:** one lookup and one `==`, and a second
        /// lookup to remove. Never blocks.
        #[track_caller]
        pub fn remove_if_eq<Q>(&mut self, key: &Q, value: &V) -> bool
        where
            K: Borrow<Q>,
            Q: $($q)+ + ?Sized,
            V: PartialEq,
        {
            self.guard.keyed(op::RemoveIfEq, key, Location::caller());
            if self.inner.get(key).is_some_and(|v| v == value) {
                self.inner.remove(key);
                true
            } else {
                false
            }
        }
    };
}

impl<K: Eq + Hash, V, S: BuildHasher> HashMap<K, V, S> {
    std_safe_methods!([Hash + Eq], HEntry);

    /// A copy of the contents, to read and iterate after releasing the lock around
    /// the map: hold the lock only for the copy (`let s = map.read()?.snapshot();`),
    /// then hand the [`Snapshot`] (cheap to clone) to whoever needs it.
    ///
    /// Checked as a read of every key (in mode `accesses`). **Cost:** O(n): std's
    /// clone of the table (every key and value cloned, nothing hashed again).
    /// Never blocks.
    #[track_caller]
    pub fn snapshot(&self) -> Snapshot<K, V, S>
    where
        K: Clone,
        V: Clone,
        S: Clone,
    {
        self.guard.whole(Op::Snapshot, Location::caller());
        Snapshot::from_table(self.inner.clone())
    }
}

impl<K: Ord + Hash, V> BTreeMap<K, V> {
    std_safe_methods!([Ord + Hash], BEntry);
}
