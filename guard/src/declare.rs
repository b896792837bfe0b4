//! What `#[mapguard::guarded]` on a struct field or a static turns a map into:
//! [`Guarded`], the guarded map plus a zero-sized [`Declaration`] that carries the
//! name and options written in the attribute, applied by `Default` and `From`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::config::{BacktraceMode, Mode, Reaction, Scope};

/// The name and options of one `#[guard(...)]` field or `#[guarded(...)]` static, as
/// written; `None` keeps the global setting.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Declared {
    /// The map's name.
    pub name: &'static str,
    /// `scope = "map" | "key"`.
    pub scope: Option<Scope>,
    /// `mode = "writes" | "accesses"`.
    pub mode: Option<Mode>,
    /// `window_ms = N`.
    pub window_ms: Option<u64>,
    /// `backtrace = "off" | "on_finding" | "always"`.
    pub backtrace: Option<BacktraceMode>,
    /// `reaction = "report"` (false) or `"panic"` (true).
    pub panic: Option<bool>,
}

/// Implemented by the marker type the macro emits for each declaration.
#[doc(hidden)]
pub trait Declaration: 'static {
    /// The declared name and options.
    fn declared() -> Declared;
}

/// A guarded map that takes its settings from a declaration.
#[doc(hidden)]
pub trait Declare: Sized {
    /// Applies `d` through the `with_*` methods.
    fn declare(self, d: &Declared) -> Self;
}

macro_rules! declare_impl {
    ($($t:tt)*) => {
        impl $($t)* {
            fn declare(self, d: &Declared) -> Self {
                let mut m = self.with_name(d.name);
                if let Some(s) = d.scope {
                    m = m.with_scope(s);
                }
                if let Some(x) = d.mode {
                    m = m.with_mode(x);
                }
                if let Some(w) = d.window_ms {
                    m = m.with_window(Duration::from_millis(w));
                }
                if let Some(b) = d.backtrace {
                    m = m.with_backtrace(b);
                }
                if let Some(p) = d.panic {
                    m = m.with_reaction(if p { Reaction::Panic } else { Reaction::Report });
                }
                m
            }
        }
    };
}

declare_impl!(<K, V, S> Declare for crate::DashMap<K, V, S>);
declare_impl!(<K, V, S> Declare for crate::HashMap<K, V, S>);
declare_impl!(<K, V> Declare for crate::BTreeMap<K, V>);

/// A guarded map (`M`: [`DashMap`](crate::DashMap), [`HashMap`](crate::HashMap) or
/// [`BTreeMap`](crate::BTreeMap)) named and set up as its `#[guard(...)]` field or
/// `#[guarded(...)]` static declares (`D`, a marker type the macro emits).
///
/// `Default::default()` and `From`/`.into()` of the plain map (`dashmap::DashMap`,
/// std's `HashMap` or `BTreeMap`) apply the declaration, so a constructor repeats
/// nothing. It derefs to `M`: every method of the guarded map, safe calls included,
/// each costing and blocking as `M`'s does; the deref itself is free. Same size as
/// `M`. Construction renames the map and applies the options (a small settings block
/// is boxed once if an option needs one, such as `window_ms`).
pub struct Guarded<M, D> {
    map: M,
    declaration: PhantomData<fn() -> D>,
}

impl<M: Declare, D: Declaration> Guarded<M, D> {
    /// Applies the declaration to `map` (renames it and sets its options).
    pub fn new(map: M) -> Self {
        Guarded {
            map: map.declare(&D::declared()),
            declaration: PhantomData,
        }
    }
}

impl<M, D> Guarded<M, D> {
    /// Changes the map at construction, for what the attribute has no option for:
    /// `.with(|m| m.with_rules(..))`, `.with(|m| m.with_clock(clock))`.
    pub fn with(self, f: impl FnOnce(M) -> M) -> Self {
        Guarded {
            map: f(self.map),
            declaration: PhantomData,
        }
    }

    /// The guarded map.
    pub fn into_inner(self) -> M {
        self.map
    }
}

impl<M: Declare + Default, D: Declaration> Default for Guarded<M, D> {
    /// An empty map, named and set up as declared.
    fn default() -> Self {
        Guarded::new(M::default())
    }
}

/// Maps `#[guard]` can guard, and what they become: `Guarded` of their mapguard
/// counterpart. The macro names a field's type as written through this trait.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[guard]` cannot guard `{Self}`: accepted dashmap's `DashMap`, std's `HashMap` and `BTreeMap` (and mapguard's own)",
    label = "not a map mapguard can guard"
)]
pub trait Guard<D> {
    /// The guarded type.
    type Guarded;
}

impl<K, V, S, D> Guard<D> for dashmap::DashMap<K, V, S> {
    type Guarded = Guarded<crate::DashMap<K, V, S>, D>;
}
impl<K, V, S, D> Guard<D> for std::collections::HashMap<K, V, S> {
    type Guarded = Guarded<crate::HashMap<K, V, S>, D>;
}
impl<K, V, D> Guard<D> for std::collections::BTreeMap<K, V> {
    type Guarded = Guarded<crate::BTreeMap<K, V>, D>;
}
impl<K, V, S, D> Guard<D> for crate::DashMap<K, V, S> {
    type Guarded = Guarded<crate::DashMap<K, V, S>, D>;
}
impl<K, V, S, D> Guard<D> for crate::HashMap<K, V, S> {
    type Guarded = Guarded<crate::HashMap<K, V, S>, D>;
}
impl<K, V, D> Guard<D> for crate::BTreeMap<K, V> {
    type Guarded = Guarded<crate::BTreeMap<K, V>, D>;
}

impl<K, V, S, D: Declaration> From<dashmap::DashMap<K, V, S>>
    for Guarded<crate::DashMap<K, V, S>, D>
{
    /// Guards `map`, named and set up as declared.
    fn from(map: dashmap::DashMap<K, V, S>) -> Self {
        Guarded::new(map.into())
    }
}

impl<K, V, S, D: Declaration> From<std::collections::HashMap<K, V, S>>
    for Guarded<crate::HashMap<K, V, S>, D>
{
    /// Guards `map`, named and set up as declared.
    fn from(map: std::collections::HashMap<K, V, S>) -> Self {
        Guarded::new(map.into())
    }
}

impl<K, V, D: Declaration> From<std::collections::BTreeMap<K, V>>
    for Guarded<crate::BTreeMap<K, V>, D>
{
    /// Guards `map`, named and set up as declared.
    fn from(map: std::collections::BTreeMap<K, V>) -> Self {
        Guarded::new(map.into())
    }
}

macro_rules! from_guarded {
    ($src:ty, [$($g:tt)*]) => {
        impl<$($g)*, D: Declaration> From<$src> for Guarded<$src, D> {
            /// Applies the declaration to a map already guarded (renames it and sets
            /// its options; settings the declaration leaves out are kept).
            fn from(map: $src) -> Self {
                Guarded::new(map)
            }
        }
    };
}
from_guarded!(crate::DashMap<K, V, S>, [K, V, S]);
from_guarded!(crate::HashMap<K, V, S>, [K, V, S]);
from_guarded!(crate::BTreeMap<K, V>, [K, V]);

impl<M, D> Deref for Guarded<M, D> {
    type Target = M;
    #[inline(always)]
    fn deref(&self) -> &M {
        &self.map
    }
}

impl<M, D> DerefMut for Guarded<M, D> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut M {
        &mut self.map
    }
}

/// The map's own iteration, so `for (k, v) in &guarded` works as on the map (a `for`
/// loop does not deref).
impl<M: IntoIterator, D> IntoIterator for Guarded<M, D> {
    type Item = M::Item;
    type IntoIter = M::IntoIter;
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.map.into_iter()
    }
}

/// Iterates `&M`: checked as the map's `iter()` at the caller's line.
impl<'a, M, D> IntoIterator for &'a Guarded<M, D>
where
    &'a M: IntoIterator,
{
    type Item = <&'a M as IntoIterator>::Item;
    type IntoIter = <&'a M as IntoIterator>::IntoIter;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        (&self.map).into_iter()
    }
}

/// Iterates `&mut M`: checked as the map's `iter_mut()` at the caller's line.
impl<'a, M, D> IntoIterator for &'a mut Guarded<M, D>
where
    &'a mut M: IntoIterator,
{
    type Item = <&'a mut M as IntoIterator>::Item;
    type IntoIter = <&'a mut M as IntoIterator>::IntoIter;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        (&mut self.map).into_iter()
    }
}

/// Compares the contents, as the map does (not checked).
impl<M: PartialEq, D> PartialEq for Guarded<M, D> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<M: Eq, D> Eq for Guarded<M, D> {}

/// Orders by the contents, as the map does (`BTreeMap`; not checked).
impl<M: PartialOrd, D> PartialOrd for Guarded<M, D> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.map.partial_cmp(&other.map)
    }
}

/// Orders by the contents, as the map does (`BTreeMap`; not checked).
impl<M: Ord, D> Ord for Guarded<M, D> {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.map.cmp(&other.map)
    }
}

/// Hashes the contents, as the map does (`BTreeMap`; not checked).
impl<M: std::hash::Hash, D> std::hash::Hash for Guarded<M, D> {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.map.hash(state);
    }
}

/// `DashMap`'s operator shorthands on a `#[guard]` field (operators do not deref):
/// each is the guarded map's, checked at the caller's line as the call it stands for.
macro_rules! forward_operator {
    ($($op:ident $method:ident $symbol:literal),*) => {$(
        #[doc = concat!("`&field ", $symbol, " rhs`: the map's `", $symbol, "`, checked as it is.")]
        impl<'a, M, D, R> std::ops::$op<R> for &'a Guarded<M, D>
        where
            &'a M: std::ops::$op<R>,
        {
            type Output = <&'a M as std::ops::$op<R>>::Output;
            #[track_caller]
            #[inline]
            fn $method(self, rhs: R) -> Self::Output {
                std::ops::$op::$method(&self.map, rhs)
            }
        }
    )*};
}
forward_operator!(Shl shl "<<", Shr shr ">>", BitOr bitor "|", Sub sub "-", BitAnd bitand "&");

impl<M: fmt::Debug, D> fmt::Debug for Guarded<M, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map.fmt(f)
    }
}

impl<M: Clone, D> Clone for Guarded<M, D> {
    /// A copy with the same name and settings and no history.
    fn clone(&self) -> Self {
        Guarded {
            map: self.map.clone(),
            declaration: PhantomData,
        }
    }
}

#[cfg(feature = "serde")]
impl<M: serde::Serialize, D> serde::Serialize for Guarded<M, D> {
    /// Serialises the map's contents, as the guarded map does.
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.map.serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de, M: serde::Deserialize<'de> + Declare, D: Declaration> serde::Deserialize<'de>
    for Guarded<M, D>
{
    /// Deserialises the contents into a map named and set up as declared.
    fn deserialize<De: serde::Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        M::deserialize(d).map(Guarded::new)
    }
}

#[cfg(all(test, feature = "serde", not(feature = "compile-out")))]
mod tests {
    use super::*;

    struct Orders;
    impl Declaration for Orders {
        fn declared() -> Declared {
            Declared {
                name: "Shop.orders",
                scope: Some(Scope::Key),
                mode: None,
                window_ms: Some(50),
                backtrace: None,
                panic: None,
            }
        }
    }

    #[test]
    fn deserialised_maps_take_the_declaration() {
        let m: Guarded<crate::DashMap<u64, u64>, Orders> =
            serde_json::from_str(r#"{"1": 2}"#).unwrap();
        assert_eq!(m.name(), "Shop.orders");
        assert_eq!(m.get_cloned(&1), Some(2));
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"1":2}"#);
    }
}
