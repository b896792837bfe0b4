#[mapguard::guarded]
struct S {
    #[guard(window_ms = "50ms")]
    m: dashmap::DashMap<u64, u64>,
}

fn main() {}
