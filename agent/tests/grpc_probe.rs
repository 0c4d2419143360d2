//! The grpc probe against a real gRPC server with the standard health service (Python's grpcio and
//! grpcio-health-checking, started here on loopback), plaintext and over TLS with the fixtures' private CA.

mod common;

use common::{python_server, Served};
use watchpost_agent::probe::Attempt;
use watchpost_core::model::ErrorClass;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The server as a whole SERVING, `orders` SERVING, `billing` NOT_SERVING; TLS when `tls`.
fn server(tls: bool) -> Served {
    let script = format!(
        r#"
import sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
h = health.HealthServicer()
h.set("", health_pb2.HealthCheckResponse.SERVING)
h.set("orders", health_pb2.HealthCheckResponse.SERVING)
h.set("billing", health_pb2.HealthCheckResponse.NOT_SERVING)
health_pb2_grpc.add_HealthServicer_to_server(h, server)
if {tls}:
    key = open("{dir}/leaf.key", "rb").read()
    chain = open("{dir}/leaf.crt", "rb").read() + open("{dir}/inter.crt", "rb").read()
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, chain)]))
else:
    port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()
"#,
        tls = if tls { "True" } else { "False" },
        dir = FIXTURES
    );
    python_server(&script, "pip install grpcio grpcio-health-checking")
}

async fn attempt(keys: &str) -> Attempt {
    let keys = keys.replace("\"ca.crt\"", &format!("\"{FIXTURES}/ca.crt\""));
    common::attempt(&format!("type = \"grpc\"\ntimeout = \"2s\"\n{keys}")).await
}

#[tokio::test]
async fn serving_not_serving_and_unknown_services_over_plaintext() {
    let s = server(false);
    let at = format!("address = \"127.0.0.1:{}\"", s.port);
    let a = attempt(&format!("{at}\nassert = [{{ body_contains = \"SERVING\" }}]")).await;
    assert!(a.ok, "{a:?}");
    assert!(a.timings.connect_ms.is_some() && a.timings.ttfb_ms.is_some(), "{a:?}");
    assert!(attempt(&format!("{at}\nservice = \"orders\"")).await.ok);
    let a = attempt(&format!("{at}\nservice = \"billing\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Status), "{a:?}");
    assert!(a.detail.contains("NOT_SERVING"), "{}", a.detail);
    let a = attempt(&format!("{at}\nservice = \"nope\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Status), "{a:?}");
    assert!(a.detail.contains("grpc-status 5 (NOT_FOUND)"), "{}", a.detail);
    // TLS against a plaintext server: the handshake fails.
    let a = attempt(&format!("{at}\ntls = true\ntls_skip_verify = true")).await;
    assert_eq!(a.error, Some(ErrorClass::Tls), "{a:?}");
}

#[tokio::test]
async fn over_tls_with_a_private_ca() {
    let s = server(true);
    let a = attempt(&format!(
        "address = \"127.0.0.1:{}\"\ntls = true\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"\nservice = \"orders\"",
        s.port
    ))
    .await;
    assert!(a.ok, "{a:?}");
    assert!(a.timings.tls_ms.is_some() && a.cert_days_left.is_some_and(|d| d > 20_000.0), "{a:?}");
    // Plaintext HTTP/2 to a TLS port: not a gRPC answer.
    let a = attempt(&format!("address = \"127.0.0.1:{}\"", s.port)).await;
    assert!(!a.ok, "{a:?}");
}
