// `#[guard]` behind `cfg_attr` is not seen by `#[guarded]`: one clear error.
use dashmap::DashMap;

#[mapguard::guarded]
#[derive(Default)]
struct Shop {
    #[cfg_attr(all(), guard(scope = "key"))]
    cache: DashMap<u64, u64>,
}

fn main() {}
