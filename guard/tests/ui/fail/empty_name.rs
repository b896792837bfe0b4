#[mapguard::guarded]
struct S {
    #[guard(name = "")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
