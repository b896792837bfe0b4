use std::sync::LazyLock;

#[mapguard::guarded]
static ORDERS: LazyLock<Vec<u64>> = LazyLock::new(Vec::new);

fn main() {}
