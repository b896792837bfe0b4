mod other {
    pub struct HashMap<K, V>(pub Vec<(K, V)>);
}

#[mapguard::guarded]
struct S {
    #[guard]
    m: other::HashMap<u64, u64>,
}

fn main() {}
