//! A `#[guarded]` function with the guard off touches nothing: no current function
//! is set (the scope guard only loads the switch), so nothing can be attributed; on,
//! the same function is current while it runs. Its own binary: it flips the switch.

#[mapguard::guarded]
fn current_inside() -> Option<&'static str> {
    mapguard::current_function()
}

#[mapguard::guarded]
async fn current_inside_async() -> Option<&'static str> {
    mapguard::current_function()
}

fn poll_once<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("pending"),
    }
}

/// The only test in this binary, so its steps run in order.
#[test]
fn the_scope_follows_the_runtime_switch() {
    mapguard::set_enabled(false);
    assert_eq!(current_inside(), None);
    assert_eq!(poll_once(current_inside_async()), None);

    mapguard::set_enabled(true);
    assert_eq!(current_inside(), Some("function_off::current_inside"));
    assert_eq!(
        poll_once(current_inside_async()),
        Some("function_off::current_inside_async")
    );
    assert_eq!(mapguard::current_function(), None);

    mapguard::set_enabled(false);
    assert_eq!(current_inside(), None);
}
