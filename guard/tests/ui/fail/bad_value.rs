#[mapguard::guarded]
struct S {
    #[guard(scope = "shard")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
