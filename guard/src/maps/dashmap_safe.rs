//! The defensive half of [`DashMap`]'s API: operations that do their reading and
//! writing in one call under one shard lock and hand out no guard, so they cannot
//! lose an update or hold a lock across other calls; and [`DashMap::snapshot`], a
//! copy consistent across shards to iterate without holding any lock.
//!
//! These are mapguard's own methods (dashmap has no such names); each is checked
//! like the dashmap methods, and none of them is ever the stale write of a
//! `lost_update`.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::panic::Location;

use super::dashmap::DashMap;
use super::snapshot::Snapshot;
use crate::Op;
use crate::detect::op;

impl<K: Eq + Hash, V, S: BuildHasher + Clone> DashMap<K, V, S> {
    /// A consistent point-in-time copy of the whole map, to read and iterate without
    /// holding any lock of the map.
    ///
    /// It read-locks every shard in index order and holds them all at once. Once
    /// the last one is taken, it copies each shard (cloning every key and value) and
    /// releases that shard's lock as soon as its copy is done. Then, with no lock
    /// held, it builds the snapshot's table (hashing every key again with the map's
    /// hasher).
    ///
    /// **What it guarantees:** the snapshot is the map as it was at one instant
    /// (when the last shard lock was taken). A write to a key is either in it or not,
    /// and if a write is in it, so is every write the same thread made before that
    /// one. dashmap's own `iter` does not promise this: it locks one shard at a time,
    /// so a write to a shard it has already passed is missed while a later write to a
    /// shard ahead of it is seen (dashmap #97). What no snapshot can do is make two
    /// writes atomic together: a thread that moves a unit from key `a` to key `b`
    /// with two calls can be caught between them (taken from `a`, not yet added to
    /// `b`), never the other way round. Put the two values under one key if they
    /// must change together.
    ///
    /// **Cost:** O(n) time and memory: every key and value is cloned once under the
    /// locks and hashed once after. Writers pay for it: a write to shard `i` waits
    /// from the moment the snapshot read-locks shard `i` until that shard's copy is
    /// done, which is at most the time to take the other locks plus the time to
    /// copy shards `0..=i`; a writer already inside a shard delays the snapshot, and
    /// with it every shard locked before it. Readers are never blocked (the locks are
    /// shared). Measured on a 2-core machine (release build, `DashMap<u64, u64>`,
    /// 8 shards, `cargo bench -p mapguard-benches --bench snapshot`): 14 µs for
    /// 1,000 entries, of which under 2 µs under the locks, and 1.7 ms for 100,000,
    /// of which 0.18 ms under the locks; about what collecting dashmap's `iter`
    /// into a `Vec` costs. Values that are expensive to clone lengthen the locked
    /// part: take snapshots of big maps rarely, or keep what must be walked in a
    /// smaller map.
    ///
    /// **Locking behaviour:** deadlocks if the calling thread holds a `RefMut`,
    /// `Entry` or `IterMut` item into the map (it waits for a write lock its own
    /// thread holds); mapguard reports that as `reentrant_access` before a lock is
    /// taken (with reaction `panic`, it panics instead of deadlocking). A held `Ref`
    /// or `iter` item is fine: those are read locks, and readers share. It can also deadlock with another thread that holds
    /// a `RefMut` or `Entry` into shard `j` and, still holding it, writes a key of a
    /// shard `i < j`; that call is itself reported as `reentrant_access` on its
    /// thread. Two snapshots, or a snapshot and any number of calls made without a
    /// held guard, never deadlock: every multi-shard lock is taken in index order.
    ///
    /// Checked as a read of every key (`read_write`, in mode `accesses`). It is not
    /// a live iteration: writes while the snapshot is being read are not
    /// `write_during_iteration`.
    ///
    /// ```
    /// use mapguard::DashMap;
    /// let orders: DashMap<u64, &str> = DashMap::named("orders");
    /// orders.insert(1, "book");
    /// let snap = orders.snapshot();
    /// orders.insert(2, "pen"); // not in the snapshot
    /// for (id, item) in &snap {
    ///     // no lock held here: other threads write `orders` freely meanwhile
    ///     assert_eq!((*id, *item), (1, "book"));
    /// }
    /// assert_eq!((snap.len(), orders.len()), (1, 2));
    /// ```
    #[track_caller]
    pub fn snapshot(&self) -> Snapshot<K, V, S>
    where
        K: Clone,
        V: Clone,
    {
        self.guard.whole(Op::Snapshot, Location::caller());
        let shards = self.inner.shards();
        // Growing phase: every read lock, in index order (the one order every
        // multi-shard lock here uses, so two snapshots cannot deadlock).
        let locked: Vec<_> = shards.iter().map(|shard| shard.read()).collect();
        // Shrinking phase: copy a shard, release it. All locks were held together
        // before the first release, so the copies are of one instant.
        let copies: Vec<_> = locked
            .into_iter()
            .map(|shard| {
                let copy = (*shard).clone();
                drop(shard);
                copy
            })
            .collect();
        let len = copies.iter().map(|c| c.len()).sum();
        let mut table =
            std::collections::HashMap::with_capacity_and_hasher(len, self.inner.hasher().clone());
        for copy in copies {
            table.extend(copy.into_iter().map(|(k, v)| (k, v.into_inner())));
        }
        Snapshot::from_table(table)
    }

    /// A clone of the value of `key`, or `None` if absent. Unlike
    /// [`DashMap::get`] it returns no guard, so no lock is held after the call and
    /// the value can be kept across other calls on the map: the safe way to read a
    /// value and then call the map again.
    ///
    /// A read (recorded for `lost_update`: `get_cloned` followed by an `insert` of a
    /// value computed from it, after another thread wrote the key, is still a lost
    /// update; use [`DashMap::update`] for read-modify-write).
    ///
    /// **Cost:** the shard's read lock for the time of one `V::clone` (which runs
    /// under it: a `Clone` impl that writes this map would deadlock, unreported).
    ///
    /// **Locking behaviour:** may deadlock if called when holding a mutable
    /// reference into the map (reported as `reentrant_access`).
    #[track_caller]
    pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.guard.keyed(op::GetCloned, key, Location::caller());
        self.inner.get(key).map(|r| r.value().clone())
    }

    /// A clone of the value of `key`, or `V::default()` if absent. Does not insert
    /// the default (use [`DashMap::get_or_insert_with`] with `V::default` for that).
    /// Returns no guard.
    ///
    /// A read (recorded for `lost_update`, like [`DashMap::get_cloned`]).
    ///
    /// **Cost:** the shard's read lock for the time of one `V::clone`.
    ///
    /// **Locking behaviour:** may deadlock if called when holding a mutable
    /// reference into the map (reported as `reentrant_access`).
    #[track_caller]
    pub fn get_or_default<Q>(&self, key: &Q) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone + Default,
    {
        self.guard.keyed(op::GetOrDefault, key, Location::caller());
        self.inner
            .get(key)
            .map(|r| r.value().clone())
            .unwrap_or_default()
    }

    /// Changes the value of `key` in place with `f`, under the shard's write lock,
    /// and returns what `f` returns; `None` (and `f` is not called) if the key is
    /// absent.
    ///
    /// The atomic read-modify-write: no other thread can write the key between
    /// `f`'s read and its write, so it is the fix for a `lost_update`, never a cause.
    /// `update(&k, |v| *v += 1)` replaces `let v = *map.get(&k)?; map.insert(k, v +
    /// 1)`. If `f` panics, the panic goes on with the lock released and the value as
    /// `f` left it (dashmap's `alter` aborts the process instead).
    ///
    /// A write. **Cost:** the shard's write lock for the time of `f`.
    ///
    /// **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map, and if `f` calls the map (both reported as
    /// `reentrant_access` before the lock is taken). `f` runs under the shard's
    /// write lock: if it takes another lock (another map's shard, a mutex) that a
    /// second thread holds while waiting for this shard, the two deadlock, and
    /// mapguard does not see lock order across locks.
    ///
    /// ```
    /// use mapguard::DashMap;
    /// let stock: DashMap<&str, u32> = DashMap::named("stock");
    /// stock.insert("pen", 10);
    /// assert_eq!(stock.update("pen", |left| { *left -= 1; *left }), Some(9));
    /// assert_eq!(stock.update("ink", |left| *left -= 1), None);
    /// ```
    #[track_caller]
    pub fn update<Q, R>(&self, key: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _held = self.guard.keyed_hold(op::Update, key, Location::caller());
        self.inner.get_mut(key).map(|mut r| f(r.value_mut()))
    }

    /// Decides the value of `key` in one step, under the shard's write lock: `f`
    /// sees the current value (`None` if absent) and returns the new one. `Some(v)`
    /// inserts or replaces, `None` removes the key (or leaves it absent).
    ///
    /// Returns the value the key had before, if it had one (replaced or removed),
    /// as [`DashMap::insert`] and [`DashMap::remove`] do; `f` already saw it, so this
    /// costs nothing extra and hands back ownership. Java's `compute`, with
    /// insert, replace and remove in one atomic call: never a `lost_update`.
    ///
    /// A write. **Cost:** the shard's write lock for the time of `f`. If `f` panics,
    /// the map is unchanged.
    ///
    /// **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map, and if `f` calls the map (both reported as
    /// `reentrant_access` before the lock is taken). `f` runs under the shard's
    /// write lock: if it takes another lock (another map's shard, a mutex) that a
    /// second thread holds while waiting for this shard, the two deadlock, and
    /// mapguard does not see lock order across locks.
    ///
    /// ```
    /// use mapguard::DashMap;
    /// let counts: DashMap<&str, u32> = DashMap::named("counts");
    /// // Count up; the third count removes the key.
    /// let bump = |v: Option<&u32>| match v {
    ///     None => Some(1),
    ///     Some(2) => None,
    ///     Some(n) => Some(n + 1),
    /// };
    /// assert_eq!(counts.compute("a", bump), None); // inserted 1
    /// assert_eq!(counts.compute("a", bump), Some(1)); // replaced by 2
    /// assert_eq!(counts.compute("a", bump), Some(2)); // removed
    /// assert!(!counts.contains_key("a"));
    /// ```
    #[track_caller]
    pub fn compute(&self, key: K, f: impl FnOnce(Option<&V>) -> Option<V>) -> Option<V> {
        let (_held, key) = self
            .guard
            .keyed_hold_owned(op::Compute, key, Location::caller());
        match self.inner.entry(key) {
            dashmap::Entry::Occupied(mut e) => match f(Some(e.get())) {
                Some(new) => Some(e.insert(new)),
                None => Some(e.remove()),
            },
            dashmap::Entry::Vacant(e) => {
                if let Some(new) = f(None) {
                    e.insert(new);
                }
                None
            }
        }
    }

    /// The value of `key`, inserting `f()` first if the key is absent, as a clone:
    /// no guard is returned, so no lock is held after the call. `f` runs at most
    /// once per call, under the shard's write lock and only if the key is absent,
    /// so racing callers agree on one value and `f` runs once per key.
    ///
    /// For a guard to the value instead (holding the write lock), use
    /// `entry(key).or_insert_with(f)`.
    ///
    /// A write, and then a read of the value it returns (a later `insert` of a
    /// value computed from it, after another thread wrote the key, is a
    /// `lost_update`). **Cost:** the shard's write lock for the time of `f` (if
    /// called) and one `V::clone`.
    ///
    /// **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map, and if `f` calls the map (both reported as
    /// `reentrant_access` before the lock is taken). `f` runs under the shard's
    /// write lock: if it takes another lock (another map's shard, a mutex) that a
    /// second thread holds while waiting for this shard, the two deadlock, and
    /// mapguard does not see lock order across locks.
    ///
    /// ```
    /// use mapguard::DashMap;
    /// let sessions: DashMap<u64, String> = DashMap::named("sessions");
    /// let s = sessions.get_or_insert_with(7, || "new".to_string());
    /// let again = sessions.get_or_insert_with(7, || unreachable!("present"));
    /// sessions.insert(8, s.clone()); // no guard held: safe to call the map
    /// assert_eq!((s, again), ("new".to_string(), "new".to_string()));
    /// ```
    #[track_caller]
    pub fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        let (_held, key) =
            self.guard
                .keyed_hold_owned(op::GetOrInsertWith, key, Location::caller());
        self.inner.entry(key).or_insert_with(f).value().clone()
    }

    /// Inserts the pair only if `key` is absent; returns true if it did. If the key
    /// is present, the map is unchanged and `value` is dropped.
    ///
    /// The atomic check-then-insert: replaces `if !map.contains_key(&k) {
    /// map.insert(k, v) }`, which two threads can both pass. Never a `lost_update`.
    ///
    /// A write. **Cost:** the shard's write lock for one lookup (and an insert); a
    /// rejected `value` is dropped under it (a `Drop` that calls this map would
    /// deadlock, unreported).
    ///
    /// **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map (reported as `reentrant_access`).
    #[track_caller]
    pub fn insert_if_absent(&self, key: K, value: V) -> bool {
        self.guard
            .keyed(op::InsertIfAbsent, &key, Location::caller());
        match self.inner.entry(key) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(e) => {
                e.insert(value);
                true
            }
        }
    }

    /// Removes `key` only if its value equals `value`; returns true if it did (Java's
    /// `remove(key, value)`).
    ///
    /// The atomic compare-and-remove: a key read earlier (from a [`Snapshot`], say)
    /// is removed only if its value still compares equal (a change and a change
    /// back in between is not seen). Never a `lost_update`.
    ///
    /// A write. **Cost:** the shard's write lock for one lookup and one `==` (which
    /// runs under it: a `PartialEq` that calls this map would deadlock, unreported).
    ///
    /// **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map (reported as `reentrant_access`).
    #[track_caller]
    pub fn remove_if_eq<Q>(&self, key: &Q, value: &V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        self.guard.keyed(op::RemoveIfEq, key, Location::caller());
        self.inner.remove_if(key, |_, v| v == value).is_some()
    }
}
