// An `async fn` that never returns (a server's main loop): valid Rust.
#[mapguard::guarded]
async fn serve_forever() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

fn main() {
    let f = serve_forever();
    drop(f);
}
