// `window_ms = 2s`: a literal with a unit suffix; rustc rejects `2s` as an integer,
// the attribute silently takes it as 2 ms.
#[mapguard::guarded]
struct Shop {
    #[guard(window_ms = 2s)]
    cache: dashmap::DashMap<u8, u8>,
}

#[mapguard::guarded(window_ms = 1h)]
static S: std::sync::LazyLock<dashmap::DashMap<u8, u8>> = std::sync::LazyLock::new(dashmap::DashMap::new);

fn main() {}
