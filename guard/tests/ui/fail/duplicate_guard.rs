#[mapguard::guarded]
struct S {
    #[guard]
    #[guard(scope = "key")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
