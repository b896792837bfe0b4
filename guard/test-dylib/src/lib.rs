//! A library built as a Rust `dylib` that keeps a guarded map. Its tests
//! (`tests/dylib.rs`) write to the map from both sides of the shared object's
//! boundary: through [`Inventory::restock`], compiled here, and through
//! [`Inventory::map`], whose calls are compiled (and mapguard's hot path inlined)
//! in the test binary.

pub use mapguard;

use mapguard::{DashMap, ManualClock};

/// A stock count per item, in a guarded map.
pub struct Inventory {
    stock: DashMap<u64, u64>,
}

impl Inventory {
    /// An empty inventory on a map named `inventory`, whose time is a
    /// [`ManualClock`] that never moves: any two writes fall in one window.
    pub fn new() -> Self {
        Inventory {
            stock: DashMap::named("inventory").with_clock(ManualClock::new()),
        }
    }

    /// Sets `item`'s stock. A write made by this dylib's code.
    #[inline(never)]
    pub fn restock(&self, item: u64, count: u64) {
        self.stock.insert(item, count);
    }

    /// The map itself, for callers that write to it in their own code.
    pub fn map(&self) -> &DashMap<u64, u64> {
        &self.stock
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Self::new()
    }
}
