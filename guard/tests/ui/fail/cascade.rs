// One bad option value per declaration, and code that uses the guarded maps: one
// error each, no cascade (the item still expands, the option at its global setting).
use dashmap::DashMap;

#[mapguard::guarded]
#[derive(Default)]
struct Shop {
    #[guard(scope = "shard")]
    cache: DashMap<u64, u64>,
}

#[mapguard::guarded(scope = "shard")]
static SESSIONS: std::sync::LazyLock<DashMap<u8, u8>> = std::sync::LazyLock::new(DashMap::new);

fn main() {
    let s = Shop::default();
    let _ = s.cache.get_cloned(&1);
    println!("{}", s.cache.name());
    SESSIONS.update(&1, |v| *v += 1);
}
