//! The detector: per-map state ([`MapState`]), the five rules, and the candidate
//! findings they hand to the reporter. With feature `compile-out` every type here is
//! an empty shell whose methods compile to nothing.

#[cfg(not(feature = "compile-out"))]
mod local;
#[cfg(not(feature = "compile-out"))]
mod record;
#[cfg(not(feature = "compile-out"))]
mod state;
#[cfg(not(feature = "compile-out"))]
mod unwind;
/// Whether a stack is captured without the backtrace crate's lock (`unwind`):
/// where the crate walks stacks with the system unwinder (its own condition for its
/// `libunwind` backend: Unix but emscripten and 32-bit ARM iOS).
pub(crate) const LOCK_FREE_CAPTURE: bool = cfg!(all(
    unix,
    not(target_os = "emscripten"),
    not(all(target_os = "ios", target_arch = "arm"))
));
#[cfg(all(test, not(feature = "compile-out")))]
pub(crate) use unwind::capture as capture_stack;

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

use crate::finding::{Finding, Op};

/// A keyed op named by a type. The checked maps pass one ([`op::Insert`], ...) where
/// they would pass the [`Op`], so that the detector's out-of-line code for a keyed
/// access is compiled once per op with the op a constant: it needs neither the op
/// nor the settings word as an argument, and so fewer registers to save (8 to 16
/// instructions fewer per keyed write with the guard on and nothing found, in
/// callgrind: `DashMap` `insert` measured +104 over raw, against +120 with the op
/// and the word as arguments).
pub(crate) trait KeyedOp: Copy {
    /// The op.
    const OP: Op;
}

/// Declares one type per keyed op, each a [`KeyedOp`] for the [`Op`] of its name.
macro_rules! keyed_ops {
    ($($name:ident),+ $(,)?) => {
        /// The keyed ops as types (see [`KeyedOp`]).
        pub(crate) mod op {
            $(
                #[doc = concat!("[`Op::", stringify!($name), "`](crate::Op::", stringify!($name), ") as a type.")]
                #[derive(Clone, Copy, Debug)]
                pub(crate) struct $name;
                impl super::KeyedOp for $name {
                    const OP: crate::finding::Op = crate::finding::Op::$name;
                }
                // The detector's keyed paths take every class but `Write` for `Read`.
                const _: () = assert!(matches!(
                    crate::finding::Op::$name.class(),
                    crate::finding::Class::Read | crate::finding::Class::Write
                ));
            )+
        }
    };
}

keyed_ops!(
    Alter,
    Compute,
    ContainsKey,
    Entry,
    FirstEntry,
    FirstKeyValue,
    Get,
    GetCloned,
    GetKeyValue,
    GetMut,
    GetOrDefault,
    GetOrInsertWith,
    Insert,
    InsertIfAbsent,
    LastEntry,
    LastKeyValue,
    Remove,
    RemoveIf,
    RemoveIfEq,
    TryEntry,
    TryGet,
    TryGetMut,
    Update,
    View,
);

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
/// Never 0 (0 means "no key"): bit 30 is set, one `or` with a 32-bit constant
/// (`max(1)` took two instructions, and bit 63 a 64-bit constant). Key slots (at
/// most 2^20) and read slots are picked by lower bits, so they spread as before.
#[inline]
pub(crate) fn key_hash<Q: Hash + ?Sized>(key: &Q) -> u64 {
    const STATE: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(KEY_SEED);
    STATE.hash_one(key) | 1 << 30
}

/// The seed of [`key_hash`]. foldhash xors a fixed state's seed with a constant of
/// its own and starts from the result; this seed is that constant, so it starts
/// from 0, and a number key's hash is the fold of the key times foldhash's
/// multiplier, without the xor with a 64-bit constant first (two instructions
/// fewer per keyed op; with another foldhash the seed is as good as any, only
/// those two instructions come back). The stable key hash ([`crate::KeyHash`])
/// names it.
pub(crate) const KEY_SEED: u64 = 0x082e_fa98_ec4e_6c89;

const _: () = assert!(crate::config::MAX_KEY_SLOTS <= 1 << 30);
