#[mapguard::guarded]
struct S {
    #[guard(scope = "key", scope = "map")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
