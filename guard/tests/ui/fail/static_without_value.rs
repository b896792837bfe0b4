// A bodiless static (no initialiser) is not a fn without a body: the message says
// what the attribute applies to.
#[mapguard::guarded]
static S: fn();

fn main() {}
