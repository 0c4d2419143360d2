//! A small local API of the kind multi-step checks exercise (a live-stream service): `POST /streams` creates a
//! stream and answers 201 with its id, playback URL and a `Location`; `GET /streams/{id}` serves its details;
//! `DELETE /streams/{id}` removes it. Requests need `Authorization: Bearer <token>` with one of the tokens.
//! It can be told to break in several ways, and counts what is left behind.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the API misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Healthy = 0,
    /// `POST` answers 500.
    CreateFails,
    /// `GET` serves a playback URL different from the one `POST` returned.
    WrongPlaybackUrl,
    /// `GET` answers 404.
    ReadMissing,
    /// `GET` answers after 3 s.
    ReadSlow,
    /// `POST` answers 201 without an id.
    NoId,
    /// `DELETE` answers 500 and keeps the stream.
    DeleteFails,
}

pub struct Api {
    pub port: u16,
    mode: Arc<AtomicU8>,
    streams: Arc<Mutex<BTreeMap<u64, String>>>,
    pub requests: Arc<AtomicUsize>,
}

impl Api {
    pub fn start(tokens: &'static [&'static str]) -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind api");
        let port = listener.local_addr().expect("addr").port();
        let api = Api { port, mode: Arc::new(AtomicU8::new(0)), streams: Default::default(), requests: Default::default() };
        let (mode, streams, requests) = (api.mode.clone(), api.streams.clone(), api.requests.clone());
        let next_id = Arc::new(AtomicUsize::new(100));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (mode, streams, requests, next_id) = (mode.clone(), streams.clone(), requests.clone(), next_id.clone());
                std::thread::spawn(move || serve(conn, tokens, &mode, &streams, &requests, &next_id));
            }
        });
        api
    }

    pub fn set(&self, m: Mode) {
        self.mode.store(m as u8, Ordering::SeqCst);
    }

    /// Streams that exist now (created and not deleted).
    pub fn live(&self) -> usize {
        self.streams.lock().unwrap().len()
    }

    pub fn clear(&self) {
        self.streams.lock().unwrap().clear();
    }
}

fn serve(
    mut conn: TcpStream,
    tokens: &[&str],
    mode: &AtomicU8,
    streams: &Mutex<BTreeMap<u64, String>>,
    requests: &AtomicUsize,
    next_id: &AtomicUsize,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((method, path, headers, body)) = read(&mut conn) else { return };
    requests.fetch_add(1, Ordering::SeqCst);
    let mode = mode.load(Ordering::SeqCst);
    let m = |x: Mode| mode == x as u8;
    let authorized = headers.get("authorization").is_some_and(|v| tokens.iter().any(|t| v == &format!("Bearer {t}")));
    let (status, extra, body): (&str, String, String) = if !authorized {
        ("401 Unauthorized", String::new(), r#"{"error":"unauthorized"}"#.into())
    } else if method == "POST" && path == "/streams" {
        let name = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["name"].as_str().map(str::to_string));
        match name {
            _ if m(Mode::CreateFails) => ("500 Internal Server Error", String::new(), r#"{"error":"boom"}"#.into()),
            None => ("400 Bad Request", String::new(), r#"{"error":"name is required"}"#.into()),
            Some(name) => {
                let id = next_id.fetch_add(1, Ordering::SeqCst) as u64;
                streams.lock().unwrap().insert(id, name.clone());
                let json = if m(Mode::NoId) {
                    serde_json::json!({"name": name, "playback_url": format!("rtmp://live.test/{id}")})
                } else {
                    serde_json::json!({"id": id, "name": name, "playback_url": format!("rtmp://live.test/{id}")})
                };
                ("201 Created", format!("Location: /streams/{id}\r\n"), json.to_string())
            }
        }
    } else if let Some(id) = path.strip_prefix("/streams/").and_then(|i| i.parse::<u64>().ok()) {
        let name = streams.lock().unwrap().get(&id).cloned();
        match (method.as_str(), name) {
            ("GET", _) if m(Mode::ReadMissing) => ("404 Not Found", String::new(), r#"{"error":"not found"}"#.into()),
            ("GET", Some(name)) => {
                if m(Mode::ReadSlow) {
                    std::thread::sleep(Duration::from_secs(3));
                }
                let url = if m(Mode::WrongPlaybackUrl) { format!("rtmp://other.test/{id}") } else { format!("rtmp://live.test/{id}") };
                ("200 OK", String::new(), serde_json::json!({"id": id, "name": name, "playback_url": url, "state": "idle"}).to_string())
            }
            ("DELETE", Some(_)) if m(Mode::DeleteFails) => ("500 Internal Server Error", String::new(), "{}".into()),
            ("DELETE", Some(_)) => {
                streams.lock().unwrap().remove(&id);
                ("204 No Content", String::new(), String::new())
            }
            _ => ("404 Not Found", String::new(), r#"{"error":"not found"}"#.into()),
        }
    } else {
        ("404 Not Found", String::new(), "{}".into())
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(resp.as_bytes());
}

pub type Request = (String, String, BTreeMap<String, String>, String);

/// One HTTP/1.1 request: method, path with query, lower-cased headers, body.
pub fn read(conn: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: BTreeMap<String, String> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// Answers with `status`, JSON `body` and `extra` header lines (each ending in CRLF), then closes.
pub fn respond(conn: &mut TcpStream, status: u16, extra: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(resp.as_bytes());
}

/// Binds a loopback port and serves each connection on its own thread with `handle`; returns the port.
pub fn serve_each(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a stand-in");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || handle(conn));
        }
    });
    port
}
