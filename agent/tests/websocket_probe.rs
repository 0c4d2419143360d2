//! The websocket probe against a real WebSocket server (Python's `websockets`, started here on loopback):
//! the handshake, a message and its reply, a server that closes, and a server that is not one.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use watchpost_agent::probe::{self, run_attempt, Attempt, Shared};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::ErrorClass;

struct Server {
    port: u16,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/echo` answers each message with `{"echo": MESSAGE}`, `/hello` greets first, `/close` closes at once
/// with code 1011.
const SCRIPT: &str = r#"
import asyncio, json, sys
from websockets.asyncio.server import serve

async def handler(ws):
    path = ws.request.path
    if path == "/hello":
        await ws.send("hello from the server")
        await asyncio.sleep(1)
    elif path == "/close":
        await ws.close(1011, "going away")
    else:
        async for message in ws:
            await ws.send(json.dumps({"echo": message, "path": path}))

async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
"#;

fn server() -> Server {
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the WebSocket server");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let Ok(port) = line.trim().parse() else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the WebSocket server did not start (run scripts/test.sh, or pip install websockets): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    Server { port, child }
}

async fn attempt(endpoint_toml: &str) -> Attempt {
    let text = format!("[[endpoints]]\nid = \"t\"\ntype = \"websocket\"\ntimeout = \"2s\"\n{endpoint_toml}");
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let e = &cfg.endpoints[0];
    let shared: Arc<Shared> = Shared::new();
    let p = probe::build(e, &shared, &probe::push::Registry::default());
    run_attempt(&*p, &e.assertions, e.timeout).await
}

#[tokio::test]
async fn a_message_and_its_reply_after_a_verified_handshake() {
    let s = server();
    let a = attempt(&format!("url = \"ws://127.0.0.1:{}/echo?x=1\"", s.port)).await;
    assert!(a.ok, "the handshake alone: {a:?}");
    assert!(a.timings.connect_ms.is_some() && a.timings.ttfb_ms.is_some(), "{a:?}");
    let a = attempt(&format!(
        "url = \"ws://127.0.0.1:{}/echo\"\nsend = \"ping 42\"\nassert = [{{ json = \"$.echo\", value = \"ping 42\" }}, {{ latency_below = \"1s\" }}]",
        s.port
    ))
    .await;
    assert!(a.ok, "{a:?}");
    // A reply over 200 bytes, bounded to 16.
    let a = attempt(&format!("url = \"ws://127.0.0.1:{}/echo\"\nsend = \"{}\"\nmax_body = \"16B\"", s.port, "x".repeat(200))).await;
    assert_eq!(a.error, Some(ErrorClass::BodyTooLarge), "{a:?}");
    // A server that speaks first.
    let a = attempt(&format!("url = \"ws://127.0.0.1:{}/hello\"\nreceive = true\nassert = [{{ body_contains = \"hello from\" }}]", s.port))
        .await;
    assert!(a.ok, "{a:?}");
    let a = attempt(&format!("url = \"ws://127.0.0.1:{}/echo\"\nsend = \"x\"\nassert = [{{ json = \"$.echo\", value = \"y\" }}]", s.port))
        .await;
    assert_eq!(a.error, Some(ErrorClass::Assertion), "{a:?}");
}

#[tokio::test]
async fn a_closing_server_and_a_plain_http_server_are_protocol_misses() {
    let s = server();
    let a = attempt(&format!("url = \"ws://127.0.0.1:{}/close\"\nreceive = true", s.port)).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert!(a.detail.contains("code Some(1011)"), "{}", a.detail);
    // An HTTP server that answers 200: not a WebSocket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut c, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf).await;
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        }
    });
    let a = attempt(&format!("url = \"ws://127.0.0.1:{port}/\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert!(a.detail.contains("expected 101 Switching Protocols"), "{}", a.detail);
    let a = attempt(&format!("url = \"ws://127.0.0.1:{}/\"", free_port())).await;
    assert_eq!(a.error, Some(ErrorClass::ConnectRefused), "{a:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
