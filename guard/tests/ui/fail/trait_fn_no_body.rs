trait Shop {
    #[mapguard::guarded]
    fn place_order(&self);
}

fn main() {}
