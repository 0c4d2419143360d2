//! The icmp probe against the loopback addresses (IPv4 and IPv6), its assertions, and the error an agent
//! without the right to ping gets (run as `nobody` through setpriv).

mod common;

use watchpost_agent::probe::Attempt;
use watchpost_core::model::ErrorClass;

async fn attempt(keys: &str) -> Attempt {
    common::attempt(&format!("type = \"icmp\"\ntimeout = \"2s\"\n{keys}")).await
}

/// Whether this process may ping at all (root, CAP_NET_RAW, or its group in ping_group_range).
fn may_ping(gid: u32) -> bool {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let v: Vec<u32> = range.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    v.len() == 2 && v[0] <= gid && gid <= v[1]
}

#[tokio::test]
async fn loopback_answers_over_ipv4_and_ipv6_with_round_trips_and_no_loss() {
    if std::env::var_os("WATCHPOST_ICMP_UNPRIVILEGED").is_some() {
        return; // the child of the test below runs only that test
    }
    for host in ["127.0.0.1", "::1", "localhost"] {
        let a = attempt(&format!(
            "host = \"{host}\"\ncount = 3\npacket_interval = \"50ms\"\nsize = 100\n\
             assert = [{{ packet_loss_below = 1 }}, {{ latency_below = \"500ms\" }}, {{ body_contains = \"3 packets transmitted\" }}]"
        ))
        .await;
        assert!(a.ok, "{host}: {a:?}");
        assert!(a.latency_ms > 0.0 && a.latency_ms < 500.0, "the latency is the average round trip: {a:?}");
    }
    let a = attempt("host = \"localhost\"\nip_protocol = \"ip6\"\nassert = [{ body_contains = \"to ::1\" }]").await;
    assert!(a.ok, "{a:?}");
}

#[tokio::test]
async fn an_address_that_does_not_answer_is_a_miss() {
    if std::env::var_os("WATCHPOST_ICMP_UNPRIVILEGED").is_some() {
        return;
    }
    // A private address nothing here holds: no route is a `connect` miss; dropped or refused as unreachable, `timeout`.
    let a = attempt("host = \"10.255.255.1\"\ncount = 2\npacket_interval = \"100ms\"").await;
    assert!(!a.ok, "{a:?}");
    assert!(matches!(a.error, Some(ErrorClass::Timeout | ErrorClass::Connect)), "{a:?}");
}

#[test]
fn an_agent_that_may_not_ping_says_which_sysctl_or_capability_would_allow_it() {
    if let Some(expect) = std::env::var_os("WATCHPOST_ICMP_UNPRIVILEGED") {
        // The child, as nobody without capabilities.
        let a = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(attempt("host = \"127.0.0.1\""));
        if expect == "allowed" {
            assert!(a.ok, "nobody's group is in ping_group_range, so the ping socket serves: {a:?}");
        } else {
            assert_eq!(a.error, Some(ErrorClass::Internal), "{a:?}");
            assert!(a.detail.contains("net.ipv4.ping_group_range") && a.detail.contains("CAP_NET_RAW"), "{}", a.detail);
        }
        return;
    }
    let Some(setpriv) = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        panic!("setpriv is needed (util-linux): run scripts/test.sh");
    };
    let expect = if may_ping(65534) { "allowed" } else { "refused" };
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "an_agent_that_may_not_ping_says_which_sysctl_or_capability_would_allow_it", "--nocapture"])
        .env("WATCHPOST_ICMP_UNPRIVILEGED", expect)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "as nobody ({expect}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "{}", String::from_utf8_lossy(&out.stdout));
}
