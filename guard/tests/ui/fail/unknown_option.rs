#[mapguard::guarded]
struct S {
    #[guard(scpe = "key")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
