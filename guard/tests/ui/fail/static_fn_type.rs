use std::sync::LazyLock;

use dashmap::DashMap;

#[mapguard::guarded]
static NAMED_FN: LazyLock<DashMap<u8, u8>, fn() -> DashMap<u8, u8>> = LazyLock::new(DashMap::new);

fn main() {}
