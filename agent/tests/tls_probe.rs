//! The tls probe and the TLS client files, against TLS servers on loopback: a private CA with an
//! intermediate (fixtures/README.md), OCSP stapling, client certificates, STARTTLS through a real SMTP server
//! (Python's aiosmtpd), real Dovecot (IMAP, POP3) and OpenLDAP (LDAP) servers, and in-test servers that
//! speak the RFCs' exchanges for the cases a real server will not show.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use watchpost_agent::probe::{self, run_attempt, Attempt, Shared};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::ErrorClass;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// When `inter.crt`, the chain's first certificate to expire, does (2095-05-15T17:30:58Z).
const INTER_NOT_AFTER: i64 = 3_956_319_058;

fn chain() -> Vec<CertificateDer<'static>> {
    ["leaf.crt", "inter.crt"].iter().map(|f| CertificateDer::from_pem_file(format!("{FIXTURES}/{f}")).unwrap()).collect()
}

/// What the server does before its TLS handshake.
#[derive(Clone, Copy)]
enum Plain {
    None,
    Imap,
    Pop3,
    Ldap,
}

struct Server {
    ocsp: Option<Vec<u8>>,
    client_auth: bool,
    plain: Plain,
}

impl Server {
    fn tls() -> Server {
        Server { ocsp: None, client_auth: false, plain: Plain::None }
    }

    /// Serves the fixtures' chain; each connection: the plain preamble, the handshake, then `200 OK` to an
    /// HTTP request (for https endpoints) or close.
    async fn start(self) -> u16 {
        let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/leaf.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
        let builder = if self.client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_file(format!("{FIXTURES}/ca.crt")).unwrap()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let cfg = match self.ocsp {
            Some(ocsp) => builder.with_single_cert_with_ocsp(chain(), key, ocsp).unwrap(),
            None => builder.with_single_cert(chain(), key).unwrap(),
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let plain = self.plain;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if !preamble(&mut s, plain).await {
                        return;
                    }
                    let Ok(mut tls) = acceptor.accept(s).await else { return };
                    let mut buf = [0u8; 4096];
                    if let Ok(n) = tls.read(&mut buf).await {
                        if n > 0 {
                            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                        }
                    }
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }
}

async fn line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).await.unwrap_or(0) == 1 {
        out.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server's side of STARTTLS; `false` when the client did not ask as the RFC says.
async fn preamble(s: &mut TcpStream, plain: Plain) -> bool {
    match plain {
        Plain::None => true,
        Plain::Imap => {
            let _ = s.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n").await;
            let cmd = line(s).await;
            let Some(tag) = cmd.strip_suffix(" STARTTLS\r\n") else { return false };
            let _ = s.write_all(format!("* Note: untagged lines come first\r\n{tag} OK Begin TLS negotiation now\r\n").as_bytes()).await;
            true
        }
        Plain::Pop3 => {
            let _ = s.write_all(b"+OK POP3 ready\r\n").await;
            if line(s).await != "STLS\r\n" {
                return false;
            }
            let _ = s.write_all(b"+OK Begin TLS negotiation\r\n").await;
            true
        }
        Plain::Ldap => {
            // The ExtendedRequest for 1.3.6.1.4.1.1466.20037 (31 bytes), then a success ExtendedResponse.
            let mut req = [0u8; 31];
            if s.read_exact(&mut req).await.is_err() || &req[9..] != b"1.3.6.1.4.1.1466.20037" {
                return false;
            }
            let _ = s.write_all(&[0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]).await;
            true
        }
    }
}

/// One attempt of the endpoint; file names given bare are the fixtures'.
async fn attempt(endpoint_toml: &str) -> Attempt {
    let mut text = format!("[[endpoints]]\nid = \"t\"\ntimeout = \"2s\"\n{endpoint_toml}");
    for f in ["ca.crt", "client.crt", "client.key"] {
        text = text.replace(&format!("\"{f}\""), &format!("\"{FIXTURES}/{f}\""));
    }
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let e = &cfg.endpoints[0];
    let p = probe::build(e, &Shared::new(), &probe::push::Registry::default());
    run_attempt(&*p, &e.assertions, e.timeout).await
}

fn days_to(unix: i64) -> f64 {
    (unix - watchpost_core::time::now_nanos() / 1_000_000_000) as f64 / 86_400.0
}

#[tokio::test]
async fn a_private_chain_is_verified_and_its_earliest_expiry_version_and_issuer_are_checked() {
    let port = Server::tls().start().await;
    let at = format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"");
    let a = attempt(&format!(
        "{at}\nassert = [{{ tls_version_at_least = \"1.3\" }}, {{ issuer_contains = \"Watchpost Test Intermediate\" }}, \
         {{ cert_days_left_above = 20000 }}, {{ ocsp_stapled = false }}, {{ body_contains = \"cipher TLS13_\" }}]"
    ))
    .await;
    assert!(a.ok, "{a:?}");
    // The intermediate expires before the leaf: the chain's earliest, as blackbox_exporter reports it.
    let days = a.cert_days_left.unwrap();
    assert!((days - days_to(INTER_NOT_AFTER)).abs() < 0.01, "{days}");
    assert!(a.timings.connect_ms.is_some() && a.timings.tls_ms.is_some(), "{a:?}");

    // The same server without the private CA (Mozilla's roots): the handshake fails, a `tls` miss.
    let a = attempt(&format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Tls), "{a:?}");
    // A name the certificate does not carry.
    let a =
        attempt(&format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"other.test\"\ntls_ca_file = \"ca.crt\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Tls), "{a:?}");
    assert!(a.detail.contains("not valid for name \"other.test\""), "{}", a.detail);
    // Skipping verification accepts it, and the assertions still see it all.
    let a = attempt(&format!(
        "type = \"tls\"\naddress = \"127.0.0.1:{port}\"\ntls_skip_verify = true\nassert = [{{ cert_days_left_above = 100000 }}]"
    ))
    .await;
    assert_eq!(a.error, Some(ErrorClass::Assertion), "{a:?}");
    assert!(a.detail.contains("expected more than 100000 days left"), "{}", a.detail);
    let a = attempt(&format!("{at}\nassert = [{{ issuer_contains = \"Let's Encrypt\" }}]")).await;
    assert!(a.detail.contains("CN=Watchpost Test Intermediate, O=Watchpost Test"), "the issuer is shown: {}", a.detail);
}

#[tokio::test]
async fn a_stapled_ocsp_response_is_seen() {
    let port = Server { ocsp: Some(vec![0x30, 0x03, 0x0a, 0x01, 0x00]), ..Server::tls() }.start().await;
    let at = format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"");
    assert!(attempt(&format!("{at}\nassert = [{{ ocsp_stapled = true }}]")).await.ok);
    let a = attempt(&format!("{at}\nassert = [{{ ocsp_stapled = false }}]")).await;
    assert!(!a.ok && a.detail.contains("expected stapled = false, got true"), "{a:?}");
}

#[tokio::test]
async fn https_with_a_private_ca_and_a_client_certificate() {
    let port = Server { client_auth: true, ..Server::tls() }.start().await;
    let url = format!("url = \"https://localhost:{port}/\"\ntls_ca_file = \"ca.crt\"");
    // The server asks for a client certificate: without one the request fails…
    let a = attempt(&url).await;
    assert!(!a.ok, "{a:?}");
    // …with the CA's client certificate it is answered.
    let a = attempt(&format!("{url}\ntls_cert_file = \"client.crt\"\ntls_key_file = \"client.key\"\nassert = [{{ body_contains = \"ok\" }}, {{ issuer_contains = \"Intermediate\" }}]")).await;
    assert!(a.ok, "{a:?}");
    assert!((a.cert_days_left.unwrap() - days_to(INTER_NOT_AFTER)).abs() < 0.01, "https too reports the chain's earliest expiry");
    // A tls endpoint presents it as well.
    let a = attempt(&format!(
        "type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"\ntls_cert_file = \"client.crt\"\ntls_key_file = \"client.key\""
    ))
    .await;
    assert!(a.ok, "{a:?}");
}

#[tokio::test]
async fn starttls_upgrades_imap_pop3_and_ldap() {
    for (plain, protocol) in [(Plain::Imap, "imap"), (Plain::Pop3, "pop3"), (Plain::Ldap, "ldap")] {
        let port = Server { plain, ..Server::tls() }.start().await;
        let a = attempt(&format!(
            "type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"\nstarttls = \"{protocol}\"\nassert = [{{ issuer_contains = \"Intermediate\" }}]"
        ))
        .await;
        assert!(a.ok, "{protocol}: {a:?}");
    }
    // A server that speaks another protocol: a `protocol` miss that shows what it said.
    let port = Server { plain: Plain::Pop3, ..Server::tls() }.start().await;
    let a = attempt(&format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nstarttls = \"imap\"")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert!(a.detail.contains("+OK POP3 ready"), "{}", a.detail);
}

#[tokio::test]
async fn starttls_upgrades_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("chain.pem");
    let text: String = ["leaf.crt", "inter.crt"].iter().map(|f| std::fs::read_to_string(format!("{FIXTURES}/{f}")).unwrap()).collect();
    std::fs::write(&pem, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // aiosmtpd offers STARTTLS in its EHLO reply when given a TLS context.
    let script = format!(
        "import ssl, sys\nfrom aiosmtpd.controller import Controller\nclass H:\n    async def handle_DATA(self, s, se, e): return '250 OK'\n\
         ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)\nctx.load_cert_chain({:?}, {:?})\n\
         c = Controller(H(), hostname='127.0.0.1', port={port}, tls_context=ctx)\nc.start()\nprint('ready', flush=True)\nsys.stdin.read()\n",
        pem.to_str().unwrap(),
        format!("{FIXTURES}/leaf.key"),
    );
    let mut child =
        Command::new("python3").arg("-c").arg(script).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut ready = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready);
    if ready.trim() != "ready" {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("aiosmtpd did not start (run scripts/test.sh, or pip install aiosmtpd): {}", String::from_utf8_lossy(&out.stderr));
    }
    let at = format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"");
    let a =
        attempt(&format!("{at}\nstarttls = \"smtp\"\nassert = [{{ tls_version_at_least = \"1.2\" }}, {{ cert_days_left_above = 20000 }}]"))
            .await;
    let b = attempt(&format!("{at}\nstarttls = \"pop3\"")).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(a.ok, "{a:?}");
    assert_eq!(b.error, Some(ErrorClass::Protocol), "an SMTP greeting is not POP3's +OK: {b:?}");
}

/// A server started from Debian's package for the test, in the foreground, killed when dropped.
struct Daemon {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `port` accepts, or fails with `log`'s text.
fn wait_listening(port: u16, what: &str, log: &std::path::Path) {
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > std::time::Duration::from_secs(15) {
            panic!("{what} did not listen on {port}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The private chain and key in `dir` as servers want them.
fn chain_files(dir: &std::path::Path) -> (String, String) {
    let text: String = ["leaf.crt", "inter.crt"].iter().map(|f| std::fs::read_to_string(format!("{FIXTURES}/{f}")).unwrap()).collect();
    std::fs::write(dir.join("chain.crt"), text).unwrap();
    std::fs::copy(format!("{FIXTURES}/leaf.key"), dir.join("leaf.key")).unwrap();
    (dir.join("chain.crt").display().to_string(), dir.join("leaf.key").display().to_string())
}

/// Dovecot (Debian's dovecot-imapd and dovecot-pop3d) serving IMAP and POP3 with STARTTLS/STLS.
fn dovecot() -> (Daemon, u16, u16) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (cert, key) = chain_files(dir.path());
    let (imap, pop3) = (free_port(), free_port());
    let conf = format!(
        "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\ninstance_name = watchpost-test-{imap}\n\
         protocols = imap pop3\nlisten = 127.0.0.1\nssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n\
         passdb {{\n  driver = static\n  args = password=unused\n}}\nuserdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/home\n}}\n\
         service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    port = {pop3}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
         service anvil {{\n  chroot =\n}}\n"
    );
    std::fs::write(dir.path().join("dovecot.conf"), conf).unwrap();
    let child = Command::new("dovecot")
        .args(["-F", "-c", &format!("{d}/dovecot.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dovecot is needed (apt install dovecot-imapd dovecot-pop3d, or run scripts/test.sh)");
    let log = dir.path().join("dovecot.log");
    let daemon = Daemon { child, _dir: dir };
    wait_listening(imap, "dovecot (imap)", &log);
    wait_listening(pop3, "dovecot (pop3)", &log);
    (daemon, imap, pop3)
}

/// OpenLDAP's slapd (Debian's slapd) with the private chain for StartTLS, no database needed.
fn slapd() -> (Daemon, u16) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (cert, key) = chain_files(dir.path());
    let port = free_port();
    let conf = format!(
        "include /etc/ldap/schema/core.schema\npidfile {d}/slapd.pid\nargsfile {d}/slapd.args\n\
         TLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n"
    );
    std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
    let log = dir.path().join("slapd.log");
    let child = Command::new("slapd")
        .args(["-d", "0", "-h", &format!("ldap://127.0.0.1:{port}/"), "-f", &format!("{d}/slapd.conf")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("slapd is needed (apt install slapd, or run scripts/test.sh)");
    let daemon = Daemon { child, _dir: dir };
    wait_listening(port, "slapd", &log);
    (daemon, port)
}

/// STARTTLS against the servers people run: Dovecot for IMAP and POP3, OpenLDAP for LDAP. Each handshake
/// verifies the private chain; asking one protocol of another's port is a `protocol` miss.
#[tokio::test]
async fn starttls_upgrades_real_dovecot_and_openldap_servers() {
    let (_dovecot, imap, pop3) = dovecot();
    let (_slapd, ldap) = slapd();
    let at = |port: u16| format!("type = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\ntls_ca_file = \"ca.crt\"");
    for (port, protocol) in [(imap, "imap"), (pop3, "pop3"), (ldap, "ldap")] {
        let a = attempt(&format!(
            "{}\nstarttls = \"{protocol}\"\nassert = [{{ issuer_contains = \"Intermediate\" }}, {{ cert_days_left_above = 20000 }}]",
            at(port)
        ))
        .await;
        assert!(a.ok, "{protocol}: {a:?}");
        assert!(a.timings.tls_ms.is_some(), "{protocol}: the handshake is timed");
    }
    let a = attempt(&format!("{}\nstarttls = \"pop3\"", at(imap))).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "IMAP's greeting is not POP3's: {a:?}");
    assert!(a.detail.contains("Dovecot"), "shows what the server said: {}", a.detail);
    let a = attempt(&format!("{}\nstarttls = \"imap\"", at(ldap))).await;
    assert!(matches!(a.error, Some(ErrorClass::Protocol | ErrorClass::Timeout)), "LDAP does not greet: {a:?}");
}
