//! The dns probe against a real DNS server (Debian's dnsmasq on loopback, started here) and against
//! servers that misbehave: every record type the issue names, UDP and TCP, a truncated answer, response
//! codes, and each failure classified.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
mod common;

use common::free_port;
use std::sync::Arc;

use watchpost_agent::probe::Attempt;
use watchpost_core::model::ErrorClass;

struct Dnsmasq {
    port: u16,
    child: Child,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// dnsmasq serving a `test.` zone of its own, nothing forwarded: `a.test` (two A, one AAAA), `alias.test`
/// (CNAME), `test` (MX), `txt.test`, `_http._tcp.test` (SRV), and `big.test` with 60 A records, more than
/// its 512-byte datagrams hold.
fn dnsmasq() -> Dnsmasq {
    let port = free_port();
    let mut args: Vec<String> = [
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--user=root",
        "--pid-file=",
        "--edns-packet-max=512",
        "--local=/test/",
        "--host-record=a.test,127.0.0.1,::1",
        "--host-record=a.test,127.0.0.2",
        "--cname=alias.test,a.test",
        "--mx-host=test,mx.test,10",
        "--txt-record=txt.test,v=spf1 -all",
        "--srv-host=_http._tcp.test,a.test,8080,1,5",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(format!("--port={port}"));
    args.extend((1..=60).map(|i| format!("--host-record=big.test,127.0.1.{i}")));
    // Debian puts it in /usr/sbin, which a non-root PATH may lack.
    let program = if std::path::Path::new("/usr/sbin/dnsmasq").exists() { "/usr/sbin/dnsmasq" } else { "dnsmasq" };
    let child = match Command::new(program).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(e) => panic!("dnsmasq is needed for the dns probe tests ({e}): run scripts/test.sh, or apt-get install dnsmasq-base"),
    };
    let server = Dnsmasq { port, child };
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "dnsmasq did not listen on port {port} within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

async fn attempt(keys: &str) -> Attempt {
    common::attempt(&format!("type = \"dns\"\ntimeout = \"1s\"\n{keys}")).await
}

#[tokio::test]
async fn every_record_type_is_asked_and_checked_over_udp_and_tcp() {
    let s = dnsmasq();
    let at = format!("server = \"127.0.0.1:{}\"", s.port);
    let cases = [
        "query_name = \"a.test\"\nassert = [{ answers_equal = [\"127.0.0.2\", \"127.0.0.1\"] }, { answer_count = 2 }]",
        "query_name = \"a.test\"\nrecord_type = \"AAAA\"\nassert = [{ answers_contain = \"0:0:0:0:0:0:0:1\" }]",
        "query_name = \"alias.test\"\nrecord_type = \"cname\"\nassert = [{ answers_equal = \"A.TEST\" }]",
        "query_name = \"test\"\nrecord_type = \"MX\"\nassert = [{ answers_contain = \"10 mx.test\" }]",
        "query_name = \"txt.test\"\nrecord_type = \"TXT\"\nassert = [{ answers_contain = \"v=spf1 -all\" }]",
        "query_name = \"_http._tcp.test\"\nrecord_type = \"SRV\"\nassert = [{ answers_contain = \"1 5 8080 a.test\" }]",
        // The answer section is the body: what `dig` prints, for body assertions.
        "query_name = \"alias.test\"\nassert = [{ body_matches = \"alias.test. [0-9]+ IN CNAME a.test.\" }, { answer_count = 2 }]",
    ];
    for transport in ["udp", "tcp"] {
        for case in cases {
            let a = attempt(&format!("{at}\ntransport = \"{transport}\"\n{case}")).await;
            assert!(a.ok, "{transport}: {case}: {a:?}");
            assert!(a.timings.ttfb_ms.is_some(), "the lookup time is kept: {a:?}");
            assert_eq!(a.timings.connect_ms.is_some(), transport == "tcp", "{a:?}");
        }
    }
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp_and_counted_whole() {
    let s = dnsmasq();
    let a = attempt(&format!("server = \"127.0.0.1:{}\"\nquery_name = \"big.test\"\nassert = [{{ answer_count = 60 }}]", s.port)).await;
    assert!(a.ok, "{a:?}");
    assert!(a.timings.connect_ms.is_some(), "the second question went over TCP: {a:?}");
}

#[tokio::test]
async fn response_codes_and_answers_that_differ_are_misses_that_say_what_came() {
    let s = dnsmasq();
    let at = format!("server = \"127.0.0.1:{}\"", s.port);
    // NXDOMAIN misses by default, as a `status` miss (DNS's response code is its status)…
    let a = attempt(&format!("{at}\nquery_name = \"nope.test\"")).await;
    assert!(!a.ok);
    assert_eq!(a.error, Some(ErrorClass::Status), "{a:?}");
    assert!(a.detail.contains("expected NOERROR, got NXDOMAIN"), "{}", a.detail);
    // …unless the endpoint expects it (a name that must stay gone).
    assert!(attempt(&format!("{at}\nquery_name = \"nope.test\"\nassert = [{{ rcode = \"nxdomain\" }}]")).await.ok);
    let a = attempt(&format!("{at}\nquery_name = \"a.test\"\nassert = [{{ answers_contain = \"10.9.9.9\" }}]")).await;
    assert_eq!(a.error, Some(ErrorClass::Assertion), "{a:?}");
    assert!(a.detail.contains("10.9.9.9") && a.detail.contains("127.0.0.1"), "names the missing and the answers: {}", a.detail);
    let a =
        attempt(&format!("{at}\nquery_name = \"a.test\"\nassert = [{{ answer_count = 1, op = \">=\" }}, {{ answer_count = 3 }}]")).await;
    assert!(!a.ok && a.detail.contains("answer count == 3") && a.detail.contains("got 2"), "{a:?}");
    let a = attempt(&format!("{at}\nquery_name = \"a.test\"\nassert = [{{ answers_equal = \"127.0.0.1\" }}]")).await;
    assert!(!a.ok && a.detail.contains("expected exactly [127.0.0.1]"), "{a:?}");
    assert!(attempt(&format!("{at}\nquery_name = \"a.test\"\nassert = [{{ latency_below = \"900ms\" }}]")).await.ok);
}

#[tokio::test]
async fn silent_refusing_and_garbage_servers_are_classified() {
    // Nothing listens: the kernel's port unreachable reads as refused.
    let closed = free_port();
    let a = attempt(&format!("server = \"127.0.0.1:{closed}\"\nquery_name = \"a.test\"")).await;
    assert_eq!(a.error, Some(ErrorClass::ConnectRefused), "{a:?}");
    let a = attempt(&format!("server = \"127.0.0.1:{closed}\"\ntransport = \"tcp\"\nquery_name = \"a.test\"")).await;
    assert_eq!(a.error, Some(ErrorClass::ConnectRefused), "{a:?}");

    // A server that reads and never answers: the timeout.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = attempt(&format!("server = \"{}\"\nquery_name = \"a.test\"", silent.local_addr().unwrap())).await;
    assert_eq!(a.error, Some(ErrorClass::Timeout), "{a:?}");

    // A server answering with garbage carrying the question's id: a protocol error, not a panic.
    let garbage = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = garbage.local_addr().unwrap();
    let g = garbage.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = g.recv_from(&mut buf).await {
            let mut reply = buf[..2.min(n)].to_vec(); // the id, then a header cut short and noise
            reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 5, 0xff, 0xff, 0xff]);
            let _ = g.send_to(&reply, from).await;
        }
    });
    let a = attempt(&format!("server = \"{addr}\"\nquery_name = \"a.test\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert!(a.detail.contains("malformed"), "{}", a.detail);
}
