use std::sync::LazyLock;

#[mapguard::guarded(scope = "key")]
static ORDERS: LazyLock<dashmap::DashMap<u64, u64>> = make();

const fn make() -> LazyLock<dashmap::DashMap<u64, u64>> {
    LazyLock::new(dashmap::DashMap::new)
}

fn main() {}
