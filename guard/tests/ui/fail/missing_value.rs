#[mapguard::guarded]
struct S {
    #[guard(scope)]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
