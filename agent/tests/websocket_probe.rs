//! The websocket probe against a real WebSocket server (Python's `websockets`, started here on loopback):
//! the handshake, a message and its reply, a server that closes, and a server that is not one.

mod common;

use common::{free_port, python_server, Served};
use watchpost_agent::probe::Attempt;
use watchpost_core::model::ErrorClass;

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

fn server() -> Served {
    python_server(SCRIPT, "pip install websockets")
}

async fn attempt(keys: &str) -> Attempt {
    common::attempt(&format!("type = \"websocket\"\ntimeout = \"2s\"\n{keys}")).await
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
