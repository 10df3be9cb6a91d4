//! Which clock an instance gets when none is given.

mod support;

use seawall::prelude::*;

/// The default clock: tokio's inside a paused runtime (so paused time
/// drives every pattern built there), the CPU's time-stamp counter
/// elsewhere (a cheaper read, as governor's default).
#[test]
fn the_default_clock_follows_paused_tokio_time_and_reads_the_tsc_elsewhere() {
    // Without the `quanta` feature, tokio's everywhere.
    let tsc = if cfg!(feature = "quanta") {
        "ClockHandle(quanta)"
    } else {
        "ClockHandle(tokio)"
    };
    let outside = format!("{:?}", seawall::ClockHandle::default());
    assert_eq!(outside, tsc);
    let paused = support::paused_runtime();
    let inside = paused.block_on(async { format!("{:?}", seawall::ClockHandle::default()) });
    assert_eq!(inside, "ClockHandle(tokio)");
    let running = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let unpaused = running.block_on(async { format!("{:?}", seawall::ClockHandle::default()) });
    assert_eq!(unpaused, tsc);
    // A breaker built in paused time opens and half-opens on it.
    paused.block_on(async {
        let b = CircuitBreaker::builder("paused")
            .sliding_window(SlidingWindow::count(2))
            .minimum_number_of_calls(2)
            .wait_duration_in_open_state(Duration::from_secs(30))
            .build()
            .unwrap();
        for _ in 0..2 {
            b.try_acquire().unwrap().record(Outcome::Failure);
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(b.try_acquire().is_ok(), "30 s of paused time passed");
    });
}
