#[mapguard::guarded]
struct S {
    #[guard]
    m: Vec<(u64, u64)>,
}

fn main() {}
