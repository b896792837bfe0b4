// The path given is the one the expansion uses: a wrong one fails where it is used.
#[mapguard::guarded(crate = "nowhere")]
struct Shop {
    #[guard]
    cache: dashmap::DashMap<u8, u8>,
}

fn main() {}
