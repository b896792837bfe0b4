//! [`Snapshot`]: an immutable, point-in-time copy of a map's contents, shared
//! through an `Arc`, to read and iterate without holding any lock of the map.

use std::borrow::Borrow;
use std::collections::hash_map::{self, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;
use std::sync::Arc;

type Table<K, V, S> = std::collections::HashMap<K, V, S>;

/// An immutable copy of a map's contents at one instant, made by
/// [`DashMap::snapshot`](crate::DashMap::snapshot) (consistent across shards) or
/// [`HashMap::snapshot`](crate::HashMap::snapshot).
///
/// Reading it takes no lock and never blocks, so it is the safe thing to iterate
/// while other threads write the map: the walk sees exactly the copied contents,
/// however long it takes. Lookups use the map's hasher (`S`).
///
/// **Cost:** making one copies every key and value (see the map's `snapshot`).
/// After that, `Clone` is one atomic increment (the contents sit behind an `Arc`),
/// so one snapshot can be handed to many threads; the copy is freed when the last
/// clone is dropped.
///
/// Reads through a snapshot are not checked by mapguard. A value read here and
/// written back with `insert` after another thread wrote the key is a lost update
/// the guard cannot see: write with `update` or `compute` instead.
pub struct Snapshot<K, V, S = RandomState> {
    table: Arc<Table<K, V, S>>,
}

impl<K, V, S> Snapshot<K, V, S> {
    pub(crate) fn from_table(table: Table<K, V, S>) -> Self {
        Snapshot {
            table: Arc::new(table),
        }
    }

    /// The number of pairs in the copy.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if the copy holds no pair.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Iterates over the pairs as `(&K, &V)`, in no particular order (as std's
    /// `HashMap::iter`). Takes no lock.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            inner: self.table.iter(),
        }
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> Snapshot<K, V, S> {
    /// The value `key` had when the snapshot was taken. Takes no lock.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.table.get(key)
    }

    /// True if the map held `key` when the snapshot was taken. Takes no lock.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.table.contains_key(key)
    }
}

impl<K, V, S> Clone for Snapshot<K, V, S> {
    /// Another handle to the same copy: one atomic increment, no copy of the
    /// contents.
    fn clone(&self) -> Self {
        Snapshot {
            table: Arc::clone(&self.table),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for Snapshot<K, V, S> {
    /// Formats the pairs as a map (`{k: v, ...}`), in iteration order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.table.iter()).finish()
    }
}

impl<'a, K, V, S> IntoIterator for &'a Snapshot<K, V, S> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

/// An iterator over a [`Snapshot`]'s pairs, as `(&K, &V)`. Holds no lock.
pub struct Iter<'a, K, V> {
    inner: hash_map::Iter<'a, K, V>,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<K, V> FusedIterator for Iter<'_, K, V> {}

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        Iter {
            inner: self.inner.clone(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.inner.clone()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot<&'static str, u32> {
        Snapshot::from_table(Table::from_iter([("a", 1), ("b", 2)]))
    }

    #[test]
    fn reads_and_iterates_the_copy() {
        let s = snap();
        assert_eq!((s.len(), s.is_empty()), (2, false));
        assert_eq!(s.get("a"), Some(&1));
        assert_eq!(s.get("z"), None);
        assert!(s.contains_key("b") && !s.contains_key("z"));
        let mut pairs: Vec<(&str, u32)> = s.iter().map(|(k, v)| (*k, *v)).collect();
        pairs.sort_unstable();
        assert_eq!(pairs, [("a", 1), ("b", 2)]);
        assert_eq!((&s).into_iter().len(), 2);
        let empty: Snapshot<u8, u8> = Snapshot::from_table(Table::default());
        assert!(empty.is_empty() && empty.iter().next().is_none());
    }

    #[test]
    fn clones_share_one_copy() {
        let s = snap();
        let t = s.clone();
        assert!(Arc::ptr_eq(&s.table, &t.table));
        assert_eq!(Arc::strong_count(&s.table), 2);
        drop(s);
        assert_eq!(Arc::strong_count(&t.table), 1);
    }

    #[test]
    fn debug_prints_a_map() {
        let s: Snapshot<u8, u8> = Snapshot::from_table(Table::from_iter([(1, 2)]));
        assert_eq!(format!("{s:?}"), "{1: 2}");
        assert_eq!(format!("{:?}", s.iter()), "[(1, 2)]");
    }
}
