//! mapguard catches concurrency misuse of shared maps in running services.
//!
//! Safe Rust rules out data races, not logical ones. mapguard wraps a map in a
//! proxy with the same API ([`DashMap`], [`HashMap`], [`BTreeMap`]); each sensitive
//! operation records the accessor, a coarse timestamp, the call site and a hash of
//! the key, and five rules turn suspicious patterns into [`Finding`]s:
//!
//! | rule | fires when |
//! |---|---|
//! | `concurrent_write` | two threads write the same map (scope `map`) or key (scope `key`) within the window (100 ms) |
//! | `read_write` | mode `accesses` only: a read and a write from different threads within the window |
//! | `lost_update` | thread A reads key k, thread B writes k, then A writes k (blindly), within the window |
//! | `write_during_iteration` | thread B writes while thread A holds a live iterator |
//! | `reentrant_access` | a thread holding a `Ref`/`RefMut`/`Entry`/iterator into a `DashMap` calls a method that waits for it (a write under any guard, a read under a write guard) |
//!
//! Findings go through a bounded queue to a reporter thread, which deduplicates
//! them, resolves stacks and hands them to the [`Sink`]s ([`Stderr`],
//! [`JsonLines`], [`Memory`], `Otel` with feature `otel`, your own).
//!
//! ```
//! use mapguard::DashMap;
//! let orders: DashMap<u64, &str> = DashMap::named("orders");
//! orders.insert(1, "book");
//! assert_eq!(*orders.get(&1).unwrap(), "book");
//! ```
//!
//! # The attribute
//!
//! [`guarded`] declares what to guard where the data lives, so findings name the
//! struct field, static or function instead of `file:line`:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::RwLock;
//!
//! #[mapguard::guarded]
//! #[derive(Default)]
//! struct Shop {
//!     #[guard(scope = "key", window_ms = 50)]
//!     orders: dashmap::DashMap<u64, String>,   // named "Shop.orders"
//!     #[guard(name = "stock")]
//!     stock: RwLock<HashMap<u32, u32>>,        // the map inside the lock
//! }
//!
//! impl Shop {
//!     #[mapguard::guarded]                     // findings carry `code.function.name`
//!     fn place_order(&self, id: u64, sku: u32) {
//!         self.orders.insert(id, format!("sku {sku}"));
//!         self.stock.write().unwrap().entry(sku).and_modify(|n| *n -= 1);
//!     }
//! }
//!
//! let shop = Shop::default();                  // or `orders: dashmap::DashMap::new().into()`
//! shop.place_order(1, 7);
//! # #[cfg(not(feature = "compile-out"))] {
//! assert_eq!(shop.orders.name(), "Shop.orders");
//! assert_eq!(shop.stock.read().unwrap().name(), "stock");
//! # }
//! ```
//!
//! # Switching it on
//!
//! Off unless `MAPGUARD=on` (or `panic`) is set, or a [`Config`] is installed. The
//! environment is read on the first guarded operation. Off costs one relaxed atomic
//! load per operation. The first operation in the process also reads the environment
//! and, if that switches the guard on, starts the clock thread (`mapguard-clock`: it
//! wakes every millisecond while the guard is on, to advance the clock the hot path
//! reads with one load, and parks while it is off); the first finding starts the
//! reporter thread. Feature `compile-out` removes everything: the guarded types
//! become the plain maps in a zero-sized shell.
//!
//! # Exit
//!
//! Findings are written by a background thread. Keep a [`flush_on_drop`] guard in
//! `main` (or call [`flush`] before exiting) so the last ones are not lost.
// One audited block: the stack capture in `detect/unwind.rs`, which does not wait
// for the backtrace crate's lock (its `SAFETY` comment, and its tests).
#![deny(unsafe_code)]
#![cfg_attr(feature = "compile-out", allow(dead_code, unused_imports))]
#![warn(missing_docs)]

mod clock;
mod config;
mod declare;
mod detect;
mod finding;
mod function;
mod maps;
mod report;
mod sink;
mod thread;

pub use clock::ManualClock;
pub use declare::Guarded;
pub use function::current_function;
/// The attribute macro: `#[mapguard::guarded]` on a struct (its `#[guard]` fields), a
/// `static` map or a function. See [the crate docs](crate#the-attribute) and the
/// README's "The attribute". Costs: on a struct, nothing beyond the maps; on a
/// static, the map is built on first access (as a `LazyLock`: threads arriving then
/// wait for it); on a fn, each call (each poll of an `async fn`) one relaxed load with
/// the guard off and a thread-local swap in and out with it on. Nothing with
/// `compile-out`.
pub use mapguard_macros::guarded;

/// What the `#[guarded]` expansion names. Not a public API: it may change in any
/// release, in step with `mapguard-macros` (pinned `=` by mapguard).
#[doc(hidden)]
pub mod __private {
    pub use crate::declare::{Declaration, Declare, Declared, Guard};
    pub use crate::function::{Attributed, Function, FunctionScope, attribute};

    /// Whether the clock thread is parked, the guard off (for mapguard's tests).
    pub fn clock_idle() -> bool {
        crate::clock::idle()
    }

    /// The shared clock's reading in ms (for mapguard's tests).
    pub fn clock_ms() -> u64 {
        crate::clock::ticked_ms()
    }
}
pub use config::{
    BacktraceMode, Config, ConfigError, KeyHash, Mode, Output, Reaction, Rules, Scope, is_enabled,
    set_enabled,
};
pub use detect::MapName;
pub use finding::{Access, Finding, FindingKind, Frame, Op, Site};
pub use maps::btree_map::{self, BTreeMap};
pub use maps::dashmap::{self as dashmap, DashMap};
pub use maps::hash_map::{self, HashMap};
pub use maps::snapshot::{self, Snapshot};
pub use report::{FlushGuard, Stats, flush, flush_on_drop, flush_timeout, stats};
pub use sink::{JsonLines, Memory, Sink, Stderr};

/// The OpenTelemetry sink and its names (feature `otel`): [`Otel`] reports findings
/// as the `mapguard.findings` counter and `mapguard.finding` log events.
#[cfg(feature = "otel")]
pub use sink::otel;
#[cfg(feature = "otel")]
pub use sink::otel::Otel;

/// True when mapguard was built with feature `compile-out`: every guarded type is
/// then the plain map and nothing is ever checked.
pub const fn is_compiled_out() -> bool {
    cfg!(feature = "compile-out")
}
