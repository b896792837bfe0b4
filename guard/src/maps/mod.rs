//! The guarded map types. Each wraps the plain map and a detector state.

pub mod btree_map;
pub mod dashmap;
#[cfg(feature = "rayon")]
mod dashmap_rayon;
mod dashmap_safe;
pub mod hash_map;
pub mod snapshot;
mod std_safe;

/// The per-map settings methods every guarded map has (they need a `guard` field).
macro_rules! settings_methods {
    () => {
        /// The name findings use for this map.
        #[inline]
        pub fn name(&self) -> &str {
            self.guard.name()
        }

        /// Renames the map (a `&'static str` or a `String`).
        #[inline]
        pub fn with_name(mut self, name: impl Into<$crate::MapName>) -> Self {
            self.guard.set_name(name.into());
            self
        }

        /// Checks this map in `scope`, whatever the global setting. Use
        /// [`Scope::Key`](crate::Scope::Key) for a map that is concurrent by design.
        #[inline]
        pub fn with_scope(mut self, scope: $crate::Scope) -> Self {
            self.guard.set_scope(scope);
            self
        }

        /// Uses `window` for this map instead of the global window, brought into the
        /// range [`Config::window`](crate::Config::window) accepts (1 ms to 1 hour).
        #[inline]
        pub fn with_window(mut self, window: ::std::time::Duration) -> Self {
            self.guard.set_window(window);
            self
        }

        /// Records reads too ([`Mode::Accesses`](crate::Mode::Accesses)) or only
        /// writes, for this map. Mode `accesses` sends every access down the
        /// general path (the fast path books nothing it would need).
        #[inline]
        pub fn with_mode(mut self, mode: $crate::Mode) -> Self {
            self.guard.set_mode(mode);
            self
        }

        /// Checks only `rules` on this map. A map that is concurrent by design uses
        /// `Rules::ALL.without(FindingKind::ConcurrentWrite)`. `lost_update` and
        /// `reentrant_access` book every read and every returned guard: a map
        /// without them does less per call (a `get` without both: 31 instructions
        /// over the raw call, against 41 with the defaults), though its calls test
        /// the settings one by one rather than as one bit per scope.
        #[inline]
        pub fn with_rules(mut self, rules: $crate::Rules) -> Self {
            self.guard.set_rules(rules);
            self
        }

        /// Captures stacks for this map as `mode` says.
        #[inline]
        pub fn with_backtrace(mut self, mode: $crate::BacktraceMode) -> Self {
            self.guard.set_backtrace(mode);
            self
        }

        /// Reacts to findings on this map with `reaction`.
        #[inline]
        pub fn with_reaction(mut self, reaction: $crate::Reaction) -> Self {
            self.guard.set_reaction(reaction);
            self
        }

        /// Tracks `n` key slots (rounded up to a power of two, 40 bytes each) in
        /// key scope; `n` is brought into 1 to 2^20, the range of
        /// [`Config::key_slots`](crate::Config::key_slots), which says when they
        /// are allocated.
        #[inline]
        pub fn with_key_slots(mut self, n: usize) -> Self {
            self.guard.set_key_slots(n);
            self
        }

        /// Measures time on `clock` instead of the shared clock: for deterministic
        /// tests. Reading it costs a few instructions more per call than the
        /// shared clock's one load (a map with a manual clock runs the fast path's
        /// copy that tests each setting). The map forgets the accesses it
        /// remembered (they were timed on the other clock), as a fresh map would.
        #[inline]
        pub fn with_clock(mut self, clock: $crate::ManualClock) -> Self {
            self.guard.set_clock(clock);
            self
        }
    };
}
pub(crate) use settings_methods;
