//! The InfluxDB writer's wire contract, against a local stand-in receiver that validates every request
//! against InfluxDB's published OpenAPI documents (`../shared/schemas/`) and answers as scripted: the v2
//! write path (which Debian's influxd 1.6 does not serve), and the retry rules: 5xx and 429 (with
//! `Retry-After`) retried, 400 never, an unreachable server returned at once for the spool; and the query
//! answers' two encodings (MessagePack, which influxd 1.4+ sends when asked, and JSON, which other servers
//! send) read the same.

use crate::common;

use common::openapi::Operation;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchpost_core::config::{InfluxApi, InfluxAuth, InfluxConfig, Secret};
use watchpost_core::model::{Point, ProbePoint, SeriesKey};
use watchpost_core::store::{influx::InfluxStore, Store, StoreError};

#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
    at: Instant,
}

/// Serves `answers` in order (status, extra header line), then 204; records every request.
fn receiver(answers: Vec<(u16, &'static str)>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut answers = answers.into_iter();
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            let head_end = loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.lines();
            let request_line = lines.next().unwrap_or_default().to_string();
            let headers: Vec<(String, String)> =
                lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
            let len: usize =
                headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
            while buf.len() < head_end + len {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut body = String::new();
            let raw = &buf[head_end..(head_end + len).min(buf.len())];
            if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip") {
                flate2::read::GzDecoder::new(raw).read_to_string(&mut body).unwrap();
            } else {
                body = String::from_utf8_lossy(raw).into_owned();
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or_default();
            let query = target
                .split_once('?')
                .map(|(_, q)| q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
                .unwrap_or_default();
            log.lock().unwrap().push(Seen { request_line: request_line.clone(), query, headers, body, at: Instant::now() });
            let (status, extra) = answers.next().unwrap_or((204, ""));
            let reason = match status {
                204 => "No Content",
                400 => "Bad Request",
                429 => "Too Many Requests",
                _ => "Service Unavailable",
            };
            let payload =
                if status == 400 { "{\"error\":\"partial write: field type conflict: input field \\\"ok\\\" dropped=2\"}" } else { "" };
            let _ =
                write!(c, "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{payload}", payload.len());
        }
    });
    (port, seen)
}

fn store(port: u16, api: InfluxApi) -> InfluxStore {
    let (database, org, bucket, auth) = match api {
        InfluxApi::V1 => ("watchpost".to_string(), None, None, InfluxAuth::Basic { username: "agent".into(), password: Secret::new("pw") }),
        InfluxApi::V2 => {
            ("watchpost".to_string(), Some("ops".to_string()), Some("watchpost".to_string()), InfluxAuth::Token(Secret::new("t0k")))
        }
    };
    InfluxStore::new(&InfluxConfig {
        url: format!("http://127.0.0.1:{port}"),
        api,
        database,
        retention_policy: None,
        rollup_retention_policy: None,
        org,
        bucket,
        auth,
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn batch(n: usize) -> Vec<Point> {
    let s = Arc::new(SeriesKey { endpoint: "api".into(), region: "eu".into(), component: "web".into(), environment: "prod".into() });
    (0..n as i64)
        .map(|i| {
            Point::Probe(ProbePoint {
                series: s.clone(),
                ts: 1_700_000_000_000_000_000 + i,
                availability: 100.0,
                ok: true,
                latency_ms: 5.0,
                dns_ms: None,
                connect_ms: Some(0.5),
                tls_ms: None,
                ttfb_ms: Some(4.0),
                status_code: Some(200),
                cert_days_left: None,
                error: None,
                confirmed_down: false,
                failed_step: None,
            })
        })
        .collect()
}

#[tokio::test]
async fn v2_writes_match_the_published_schema() {
    let (port, seen) = receiver(vec![]);
    store(port, InfluxApi::V2).write(&batch(3)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    // The points with the write log's part (ARCHITECTURE.md, "The read path"), then the log's commit.
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert!(r.request_line.starts_with("POST /api/v2/write?"), "{}", r.request_line);
        Operation::load("influxdb-v2.openapi.yaml", "/api/v2/write", "post").validate(&r.query, &r.headers).unwrap();
        assert_eq!(r.query, vec![("org".into(), "ops".into()), ("bucket".into(), "watchpost".into()), ("precision".into(), "ns".into())]);
        assert!(r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == "Token t0k"));
    }
    // Three probe lines, then the write log's one packed part (three points) in the same body.
    let lines: Vec<&str> = seen[0].body.lines().collect();
    assert_eq!(lines.len(), 4, "{}", seen[0].body);
    for line in &lines[..3] {
        assert!(line.starts_with("probe,component=web,endpoint=api,environment=prod,region=eu "), "{}", seen[0].body);
    }
    assert!(
        lines[3].starts_with("feed,seg=")
            && lines[3].contains(",writer=")
            && lines[3].contains(" data=\"")
            && lines[3].contains(",points=3i "),
        "{}",
        seen[0].body
    );
    assert_eq!(seen[1].body.lines().count(), 1);
    assert!(
        seen[1].body.starts_with("feed_commit,writer=")
            && seen[1].body.contains("points=3i")
            && seen[1].body.contains("segments=60i")
            && seen[1].body.contains(&format!("encoding=\"{}\"", watchpost_core::store::influx::FEED_ENCODING)),
        "{}",
        seen[1].body
    );
}

#[tokio::test]
async fn v1_writes_match_the_published_schema() {
    let (port, seen) = receiver(vec![]);
    store(port, InfluxApi::V1).write(&batch(2)).await.unwrap();
    let r = seen.lock().unwrap()[0].clone();
    assert!(r.request_line.starts_with("POST /write?"), "{}", r.request_line);
    Operation::load("influxdb-v1.openapi.yaml", "/write", "post").validate(&r.query, &r.headers).unwrap();
    assert!(r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.starts_with("Basic ")));
}

#[tokio::test]
async fn a_server_error_is_retried_and_retry_after_honoured() {
    let (port, seen) = receiver(vec![(503, ""), (429, "Retry-After: 1\r\n")]);
    store(port, InfluxApi::V2).write(&batch(1)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen[..3].iter().all(|r| r.body.starts_with("probe,")), "503, then 429, then success, all the points");
    assert_eq!(seen.len(), 4, "then the write log's commit");
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(950), "waited for Retry-After: {:?}", seen[2].at - seen[1].at);
}

#[tokio::test]
async fn a_rejected_batch_is_not_retried() {
    let (port, seen) = receiver(vec![(400, "")]);
    let err = store(port, InfluxApi::V2).write(&batch(5)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Rejected { points: 2, message } if message.contains("field type conflict")), "{err:?}");
    assert!(!err.is_retryable());
    let probe_bodies = seen.lock().unwrap().iter().filter(|r| r.body.starts_with("probe,")).count();
    assert_eq!(probe_bodies, 1, "sent once");
}

#[tokio::test]
async fn an_unreachable_server_is_returned_at_once_for_the_spool() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again
    let t = Instant::now();
    let err = store(port, InfluxApi::V2).write(&batch(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(t.elapsed() < Duration::from_millis(500), "no retries in place: {:?}", t.elapsed());
    assert!(!err.to_string().contains("t0k"), "no secret in errors: {err}");
}

/// Answers every request with `body` as `content_type`, or, when `refuse_msgpack`, a request that asks for
/// MessagePack with 406; records the requests' heads.
fn query_server(content_type: &'static str, body: Vec<u8>, refuse_msgpack: bool) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut chunk) {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            log.lock().unwrap().push(head.clone());
            if refuse_msgpack && head.contains("accept: application/x-msgpack") {
                let _ = write!(c, "HTTP/1.1 406 Not Acceptable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let _ =
                write!(c, "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = c.write_all(&body);
        }
    });
    (port, seen)
}

/// Issue 19: the store asks for MessagePack (influxd's JSON encoding was its largest cost of the consumers'
/// reads) and reads JSON from a server that answers it instead (InfluxDB 2.x and 3.x's v1 query API): the
/// same answer in either encoding gives the same points, and an answer that is neither is an error naming
/// the status, not a panic or an empty read.
#[tokio::test]
async fn query_answers_in_messagepack_and_in_json_read_the_same() {
    use watchpost_core::model::MaintenancePoint;
    use watchpost_core::store::Select;
    use watchpost_core::time::TimeRange;
    let answer = serde_json::json!({"results": [{"statement_id": 0, "series": [
        {"name": "maintenance", "tags": {"endpoint": "api", "region": "eu"}, "columns": ["time", "active"], "values": [[5, true], [7, false]]},
        {"name": "maintenance", "tags": {"endpoint": "db", "region": "us"}, "columns": ["time", "active"], "values": [[6, true]]}
    ]}]});
    let expected = vec![
        MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: 5, active: true },
        MaintenancePoint { endpoint: "db".into(), region: "us".into(), ts: 6, active: true },
        MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: 7, active: false },
    ];
    let msgpack = rmp_serde::to_vec_named(&answer).unwrap();
    let json = serde_json::to_vec(&answer).unwrap();
    for (content_type, body) in [("application/x-msgpack", msgpack), ("application/json", json.clone())] {
        let (port, seen) = query_server(content_type, body, false);
        let store = store(port, InfluxApi::V1);
        let got = store.maintenance_points_all(TimeRange::new(0, 10), Select::All).await.unwrap();
        assert_eq!(got, expected, "read from {content_type}");
        assert_eq!(store.msgpack_answers(), u64::from(content_type == "application/x-msgpack"));
        // influxd compares the header whole: one type, no list, no q-value.
        let request = seen.lock().unwrap()[0].clone();
        assert!(request.contains("\r\naccept: application/x-msgpack\r\n"), "{request}");
    }
    // A server that refuses MessagePack is asked for JSON, then and from then on.
    let (port, seen) = query_server("application/json", json, true);
    let store = store(port, InfluxApi::V1);
    for _ in 0..2 {
        assert_eq!(store.maintenance_points_all(TimeRange::new(0, 10), Select::All).await.unwrap(), expected);
    }
    let asked: Vec<bool> = seen.lock().unwrap().iter().map(|h| h.contains("accept: application/x-msgpack")).collect();
    assert_eq!(asked, [true, false, false], "406 once, then JSON");
    let (port, _) = query_server("application/x-msgpack", b"\xc1 not msgpack".to_vec(), false);
    let err = store_err(port).await;
    assert!(err.contains("HTTP 200 OK: unreadable answer"), "{err}");
}

async fn store_err(port: u16) -> String {
    use watchpost_core::store::Select;
    use watchpost_core::time::TimeRange;
    store(port, InfluxApi::V1).maintenance_points_all(TimeRange::new(0, 10), Select::All).await.unwrap_err().to_string()
}
