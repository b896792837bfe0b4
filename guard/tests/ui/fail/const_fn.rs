#[mapguard::guarded]
const fn place_order() {}

fn main() {}
