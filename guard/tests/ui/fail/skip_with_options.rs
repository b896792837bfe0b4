#[mapguard::guarded]
struct S {
    #[guard(skip, scope = "key")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
