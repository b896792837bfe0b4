#[mapguard::guarded]
struct S {
    #[guard(skip = true)]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
