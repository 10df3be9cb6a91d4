//! One limit for a fleet: two "instances" (tasks with handles of their
//! own, as two processes would have) share 50 calls a second through a
//! `redis-server` this example starts on 127.0.0.1; each prints its share.
//! Then Redis is stopped and each falls back to its local half.
//!
//! `cargo run --features redis --example fleet_limit` (needs `redis-server`
//! installed: Debian/Ubuntu `apt-get install redis-server`).

use seawall::prelude::*;
use seawall::redis::{Degraded, Redis, RedisRateLimiter};
use std::process::{Command, Stdio};

/// Two seconds of calls as fast as they come, every 2 ms: what was admitted.
async fn run(instance: RedisRateLimiter, seconds: u64) -> u64 {
    let mut admitted = 0;
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        if instance.try_acquire().await.is_ok() {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    admitted
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("seawall-fleet-{port}"));
    std::fs::create_dir_all(&dir)?;
    let mut server = match Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("redis-server not found ({e}): install it to run this example");
            return Ok(());
        }
    };
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("redis://127.0.0.1:{port}/");

    // Each instance builds the same limiter, as each process would.
    let instance = |n: u32| -> Result<RedisRateLimiter, BoxError> {
        Ok(RateLimiter::builder("checkout-api")
            .rate(50, Duration::from_secs(1))
            .burst(5)
            .on_event(move |e| {
                if let EventKind::FleetLimitDegraded { degraded, reason } = &e.kind {
                    println!("  instance {n}: degraded={degraded} ({reason})");
                }
            })
            .build_on_redis(&Redis::connect(&url)?)?
            .degraded(Degraded::Local { fleet_size: 2 }))
    };
    let (a, b) = (instance(1)?, instance(2)?);
    let (x, y) = tokio::join!(run(a.clone(), 2), run(b.clone(), 2));
    println!("with Redis, 2 s at 50/s shared (a burst of 5): instance 1 admitted {x}, instance 2 {y}, {} in all", x + y);

    let _ = server.kill();
    let _ = server.wait();
    println!("Redis stopped:");
    let (x, y) = tokio::join!(run(a, 2), run(b, 2));
    println!("without Redis, each at its local half (25/s): instance 1 admitted {x}, instance 2 {y}, {} in all", x + y);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
