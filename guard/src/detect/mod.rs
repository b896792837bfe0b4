//! The detector: per-map state ([`MapState`]), the five rules, and the candidate
//! findings they hand to the reporter. With feature `compile-out` every type here is
//! an empty shell whose methods compile to nothing.

#[cfg(not(feature = "compile-out"))]
mod local;
#[cfg(not(feature = "compile-out"))]
mod record;
#[cfg(not(feature = "compile-out"))]
mod state;

#[cfg(all(test, not(feature = "compile-out")))]
mod fast_tests;
#[cfg(feature = "compile-out")]
mod off;

#[cfg(not(feature = "compile-out"))]
pub(crate) use local::{GATE_BUSY, GATE_UNREGISTERED, PerThread};
#[cfg(feature = "compile-out")]
pub(crate) use off::*;
#[cfg(not(feature = "compile-out"))]
pub(crate) use state::*;

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex};

use crate::finding::Finding;

/// A map's name: a `&'static str` or a `String` (anything `Into<Cow<'static, str>>`).
pub type MapName = Cow<'static, str>;

type Callback = Arc<dyn Fn(&Finding) + Send + Sync>;
static CALLBACK: Mutex<Option<Callback>> = Mutex::new(None);

pub(crate) fn set_callback(f: Option<Callback>) {
    *CALLBACK.lock().unwrap_or_else(|p| p.into_inner()) = f;
}

pub(crate) fn callback() -> Option<Callback> {
    CALLBACK.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The 64-bit key hash that findings carry: foldhash with a fixed seed, so the same
/// key hashes the same in every run. Calls the key's `Hash` impl, as the map does.
#[inline]
pub(crate) fn key_hash<Q: Hash + ?Sized>(key: &Q) -> u64 {
    const STATE: foldhash::fast::FixedState =
        foldhash::fast::FixedState::with_seed(0x6d61_7067_7561_7264);
    STATE.hash_one(key).max(1)
}
