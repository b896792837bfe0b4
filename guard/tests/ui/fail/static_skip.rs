use std::sync::LazyLock;

#[mapguard::guarded(skip)]
static ORDERS: LazyLock<dashmap::DashMap<u64, u64>> = LazyLock::new(dashmap::DashMap::new);

fn main() {}
