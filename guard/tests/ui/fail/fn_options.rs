#[mapguard::guarded(name = "orders")]
fn place_order() {}

fn main() {}
