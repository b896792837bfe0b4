#[mapguard::guarded]
struct S {
    #[guard = "orders"]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
