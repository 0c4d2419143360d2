//! Compression bombs: 50 targets at once each answering with 100 MB of zeros gzipped to some 100 KB. The
//! decoded size counts against `max_body`, so each probe ends as `body_too_large` holding at most the cap. In
//! its own test binary, so that the process's peak memory belongs to this test alone.

use std::io::Write;
mod common;

use common::peak_rss;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use watchpost_agent::probe::{self, run_attempt, Shared};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::ErrorClass;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_gzip_bombs_at_once_cost_at_most_the_cap_each() {
    const PROBES: usize = 50;
    const CAP: u64 = 256 * 1024;
    const DECODED: usize = 100_000_000;
    let bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..DECODED / zeros.len() {
            e.write_all(&zeros).unwrap();
        }
        Arc::new(e.finish().unwrap())
    };
    assert!((bomb.len() as u64) < CAP, "the bomb itself passes the wire cap: {}", bomb.len());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = bomb.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let bomb = served.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", bomb.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&bomb).await;
            });
        }
    });
    let text =
        format!("[[endpoints]]\nid = \"t\"\ntimeout = \"5s\"\nurl = \"http://127.0.0.1:{port}/\"\nmax_body = \"{}KiB\"\n", CAP / 1024);
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let e = Arc::new(cfg.endpoints[0].clone());
    let shared = Shared::new();
    let p = probe::build(&e, &shared, &probe::push::Registry::default());
    let first = run_attempt(&*p, &e.assertions, e.timeout).await;
    assert_eq!(first.error, Some(ErrorClass::BodyTooLarge), "{first:?}");
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
    // Each probe holds the cap, the compressed bytes (under the cap), the inflater's window and hyper's read
    // buffer; the bombs would be 5 GB decoded.
    let bound = (2 * CAP + (64 << 10) + (64 << 10)) * PROBES as u64;
    println!("peak memory grew {:.1} MiB for {PROBES} bombs at once (bound {:.1} MiB)", grew as f64 / 1048576.0, bound as f64 / 1048576.0);
    assert!(grew <= bound * 2, "peak memory grew {grew} bytes, more than twice the bound ({bound})");
}
