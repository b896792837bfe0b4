#[mapguard::guarded]
enum E {
    A,
}

fn main() {}
