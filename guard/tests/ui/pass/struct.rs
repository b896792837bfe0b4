use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;

#[mapguard::guarded]
#[derive(Default)]
pub struct OrderService<T> {
    #[guard(scope = "key", window_ms = 50, mode = "accesses", backtrace = "always", reaction = "report")]
    cache: DashMap<u64, T>,
    #[guard(name = "stock")]
    stock: RwLock<HashMap<u32, u32>>,
    #[guard(reaction = "panic", backtrace = "off")]
    pub history: Arc<Mutex<BTreeMap<u64, u64>>>,
    #[guard]
    sessions: Arc<DashMap<u64, String>>,
    #[guard(backtrace = "on_finding", scope = "map", mode = "writes")]
    locked: parking_lot::RwLock<HashMap<u8, u8>>,
    #[guard(name = "async-stock")]
    async_stock: tokio::sync::RwLock<HashMap<u32, u32>>,
    #[guard]
    async_sorted: Arc<tokio::sync::Mutex<BTreeMap<u32, u32>>>,
    #[guard(skip)]
    skipped: HashMap<u32, u32>,
    config: HashMap<String, String>,
}

#[mapguard::guarded]
struct Pair(#[guard] DashMap<u8, u8>, u8);

// A raw identifier is named without its `r#`.
#[mapguard::guarded]
#[derive(Default)]
struct Catalog {
    #[guard]
    r#type: DashMap<u8, u8>,
}

// Two alternatives of one field under `cfg`s: one marker each, under the same cfg.
#[mapguard::guarded]
#[derive(Default)]
struct Cached {
    #[cfg(unix)]
    #[guard]
    cache: DashMap<u8, u8>,
    #[cfg(not(unix))]
    #[guard]
    cache: DashMap<u8, u8>,
}

// Struct and field names that join the same way with `_` stay apart.
#[mapguard::guarded]
#[derive(Default)]
#[allow(non_camel_case_types)]
struct A_b {
    #[guard]
    c: DashMap<u8, u8>,
}

#[mapguard::guarded]
#[derive(Default)]
struct A {
    #[guard]
    b_c: DashMap<u8, u8>,
}

// A stand-in: only the type's last path segment matters to the attribute.
mod parking_lot {
    pub type RwLock<T> = std::sync::RwLock<T>;
}

fn main() {
    assert_eq!(Catalog::default().r#type.name(), "Catalog.type");
    assert_eq!(Cached::default().cache.name(), "Cached.cache");
    assert_eq!(A_b::default().c.name(), "A_b.c");
    assert_eq!(A::default().b_c.name(), "A.b_c");
    let svc: OrderService<u8> = OrderService::default();
    svc.cache.insert(1, 2);
    assert_eq!(svc.cache.name(), "OrderService.cache");
    svc.stock.write().unwrap().insert(1, 1);
    svc.history.lock().unwrap().insert(1, 1);
    let _ = svc.sessions.get_cloned(&1);
    let _ = svc.locked.read().unwrap().len();
    let _ = (&svc.skipped, &svc.config);
    assert_eq!(svc.async_stock.try_read().unwrap().name(), "async-stock");
    assert_eq!(
        svc.async_sorted.try_lock().unwrap().name(),
        "OrderService.async_sorted"
    );
    let built: OrderService<u8> = OrderService {
        cache: DashMap::new().into(),
        stock: RwLock::new(HashMap::new().into()),
        history: Arc::new(Mutex::new(BTreeMap::new().into())),
        sessions: Arc::new(DashMap::new().into()),
        locked: RwLock::new(Default::default()),
        async_stock: tokio::sync::RwLock::new(HashMap::new().into()),
        async_sorted: Default::default(),
        skipped: HashMap::new(),
        config: HashMap::new(),
    };
    assert_eq!(built.sessions.name(), "OrderService.sessions");
    let pair = Pair(DashMap::new().into(), 1);
    assert_eq!(pair.0.name(), "Pair.0");
}
