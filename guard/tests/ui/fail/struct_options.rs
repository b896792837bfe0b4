#[mapguard::guarded(scope = "key")]
struct S {
    #[guard]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
