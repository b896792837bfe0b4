use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, OnceLock};

use dashmap::DashMap;

#[mapguard::guarded(scope = "key")]
static SESSIONS: LazyLock<DashMap<u64, String>> = LazyLock::new(DashMap::new);

#[mapguard::guarded(name = "prices", window_ms = 20)]
pub static PRICES: LazyLock<DashMap<u64, u64>> = LazyLock::new(|| {
    let m = DashMap::new();
    m.insert(1, 100);
    m
});

#[mapguard::guarded]
static TOKENS: OnceLock<HashMap<u64, u64>> = OnceLock::new();

#[mapguard::guarded(mode = "accesses")]
static ORDERS: once_cell::sync::Lazy<DashMap<u64, u64>> = once_cell::sync::Lazy::new(DashMap::new);

#[mapguard::guarded]
static SORTED: OnceLock<BTreeMap<u64, u64>> = OnceLock::new();

// An initialiser whose map type comes from the static's type.
#[mapguard::guarded]
static DEFAULTED: LazyLock<HashMap<u64, u64>> = LazyLock::new(Default::default);

#[mapguard::guarded]
#[allow(non_upper_case_globals)]
static r#type: LazyLock<DashMap<u8, u8>> = LazyLock::new(DashMap::new);

fn main() {
    SESSIONS.insert(1, "a".into());
    assert_eq!(SESSIONS.name(), module_path!().to_owned() + "::SESSIONS");
    assert_eq!(PRICES.name(), "prices");
    assert_eq!(PRICES.get_cloned(&1), Some(100));
    assert_eq!(TOKENS.get_or_init(Default::default).name(), module_path!().to_owned() + "::TOKENS");
    ORDERS.insert(1, 1);
    assert_eq!(SORTED.get_or_init(|| BTreeMap::new().into()).len(), 0);
    assert_eq!(DEFAULTED.len(), 0);
    assert_eq!(r#type.name(), module_path!().to_owned() + "::type");
}
