// `skip = true` is an error, but taken as `skip`: on a map or on a field that is no
// map, one error each and no cascade (the struct still expands).
#[mapguard::guarded]
#[derive(Default)]
struct S {
    #[guard(skip = true)]
    m: dashmap::DashMap<u64, u64>,
    #[guard(skip = true)]
    count: u64,
    #[guard]
    cache: dashmap::DashMap<u64, u64>,
}

fn main() {
    let s = S::default();
    let _ = s.cache.get_cloned(&1);
    let _ = (s.m.len(), s.count);
}
