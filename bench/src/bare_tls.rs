//! The floor of HTTPS probing (issue 19, figure 5): the anchor's bare probe (`shared/bench-anchors/bare_probe`:
//! N fresh-connection HTTP/1.1 GETs a second, nothing stored) with the TLS handshake a Watchpost probe makes:
//! tokio-rustls over the same rustls client configuration (`ring`, no resumption, the certificate accepted
//! but the handshake signature checked, as `tls_skip_verify = true`), then hyper. No timing by phase, no
//! certificate parsing, no assertion, no point: what is left is the handshake and the exchange.
//!
//! Usage: bare_tls RATE SECONDS [HOST:PORT]   (default 127.0.0.1:18443); prints "ok/total ok in S s".

use http_body_util::{BodyExt, Empty};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: bare_tls RATE SECONDS [HOST:PORT]");
        return Ok(());
    }
    let rate: u64 = args[1].parse().map_err(|e| format!("RATE {:?}: {e}", args[1]))?;
    let secs: u64 = args[2].parse().map_err(|e| format!("SECONDS {:?}: {e}", args[2]))?;
    let addr: &'static str = Box::leak(args.get(3).cloned().unwrap_or_else(|| "127.0.0.1:18443".into()).into_boxed_str());
    let connector = tokio_rustls::TlsConnector::from(watchpost_agent::probe::tls::probe_config(true, false));
    let total = rate.max(1) * secs;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(usize::try_from(total)?);
    for i in 0..total {
        tokio::time::sleep_until((start + Duration::from_nanos(i * 1_000_000_000 / rate.max(1))).into()).await;
        let connector = connector.clone();
        handles.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
            let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
            let tls = connector.connect(name, tcp).await.ok()?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.ok()?;
            tokio::spawn(conn);
            let req = hyper::Request::get(format!("/?id={i}"))
                .header("host", "localhost")
                .header("connection", "close")
                .body(Empty::<bytes::Bytes>::new())
                .ok()?;
            let resp = sender.send_request(req).await.ok()?;
            let status = resp.status().as_u16();
            resp.into_body().collect().await.ok()?;
            Some(status)
        }));
    }
    let mut ok = 0u64;
    for h in handles {
        if let Ok(Some(200)) = h.await {
            ok += 1;
        }
    }
    println!("{ok}/{total} ok in {:.2}s", start.elapsed().as_secs_f64());
    Ok(())
}
