//! Memory stays bounded while many hostile targets are probed at once: 100 endless bodies in parallel cost at
//! most the body cap per probe, not what the targets send. In its own test binary, so that the process's peak
//! memory belongs to this test alone.

mod common;

use common::peak_rss;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use watchpost_agent::probe::{self, run_attempt, Shared};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::ErrorClass;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_endless_bodies_at_once_cost_at_most_the_cap_each() {
    const PROBES: usize = 100;
    const CAP: u64 = 256 * 1024;
    // An endless chunked body: 16 KiB chunks for as long as the client reads.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
                let chunk: Vec<u8> = b"4000\r\n".iter().copied().chain(std::iter::repeat_n(b'x', 0x4000)).chain(*b"\r\n").collect();
                while s.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    let text =
        format!("[[endpoints]]\nid = \"t\"\ntimeout = \"5s\"\nurl = \"http://127.0.0.1:{port}/\"\nmax_body = \"{}KiB\"\n", CAP / 1024);
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let e = Arc::new(cfg.endpoints[0].clone());
    let shared = Shared::new();
    let p = probe::build(&e, &shared, &probe::push::Registry::default());
    // Warm up (runtime, resolver, allocator arenas) before taking the baseline.
    let _ = run_attempt(&*p, &e.assertions, e.timeout).await;
    let before = peak_rss();
    let tasks: Vec<_> = (0..PROBES)
        .map(|_| {
            let (p, e) = (p.clone(), e.clone());
            tokio::spawn(async move { run_attempt(&*p, &e.assertions, e.timeout).await })
        })
        .collect();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.error, Some(ErrorClass::BodyTooLarge), "{a:?}");
    }
    let grew = peak_rss().saturating_sub(before);
    // Each probe in flight holds at most the body cap plus hyper's read buffer (64 KiB, `MAX_HEADER_BYTES`);
    // the targets would send gigabytes in the probes' 5 s if nothing stopped reading.
    let bound = (CAP + (64 << 10)) * PROBES as u64;
    println!(
        "peak memory grew {:.1} MiB for {PROBES} endless bodies at once; (body cap {} KiB + 64 KiB read buffer) × {PROBES} = {:.1} MiB",
        grew as f64 / 1048576.0,
        CAP >> 10,
        bound as f64 / 1048576.0
    );
    // Twice that for tasks, sockets and the allocator: buffers that grow by reallocation on two worker threads
    // leave freed space in per-thread arenas, so the peak varies from run to run (measured 29 to 47 MiB).
    // Unbounded reading would be gigabytes.
    assert!(grew <= bound * 2, "peak memory grew {grew} bytes, more than 2 × (cap + read buffer) × probes ({bound})");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
