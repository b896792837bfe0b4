// `crate = "path"`: mapguard reached through a facade crate's re-export (or under a
// renamed dependency), on a struct, a static and a fn.
mod facade {
    pub use mapguard as checks;
}

use dashmap::DashMap;
use std::sync::LazyLock;

#[mapguard::guarded(crate = "facade::checks")]
#[derive(Default)]
struct Shop {
    #[guard(scope = "key")]
    cache: DashMap<u8, u8>,
}

#[mapguard::guarded(crate = "crate::facade::checks", name = "sessions")]
static SESSIONS: LazyLock<DashMap<u8, u8>> = LazyLock::new(DashMap::new);

#[mapguard::guarded(crate = "facade::checks")]
fn place(shop: &Shop) {
    shop.cache.insert(1, 1);
}

#[mapguard::guarded(crate = "facade::checks")]
async fn place_later(shop: &Shop) {
    shop.cache.insert(2, 2);
}

fn main() {
    let shop = Shop::default();
    place(&shop);
    drop(place_later(&shop));
    assert_eq!(shop.cache.name(), "Shop.cache");
    assert_eq!(SESSIONS.name(), "sessions");
}
