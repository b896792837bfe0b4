// A `crate` value that is no path.
#[mapguard::guarded(crate = 7)]
fn place() {}

#[mapguard::guarded(crate = "not a path")]
fn take() {}

fn main() {}
