// `scope("key")` instead of `scope = "key"`: one error, not two.
#[mapguard::guarded]
struct Shop {
    #[guard(scope("key"))]
    cache: dashmap::DashMap<u8, u8>,
}

fn main() {}
