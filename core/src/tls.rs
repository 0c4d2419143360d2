//! TLS client configuration shared by every outbound connection (probes, the InfluxDB client): rustls with
//! the `ring` provider, the one crypto provider in the binary (rustls refuses to pick a default when two are
//! compiled in), and Mozilla's roots from `webpki-roots`, so behaviour does not depend on the host's store.

use std::sync::Arc;

/// The crypto provider every TLS configuration uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Mozilla's root store.
pub fn mozilla_roots() -> rustls::RootCertStore {
    rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// A client configuration that verifies certificates against Mozilla's root store.
pub fn verified_config() -> rustls::ClientConfig {
    let roots = mozilla_roots();
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots.clone()).with_no_client_auth())
        // ring supports the default protocol versions; this arm exists only for the type checker.
        .unwrap_or_else(|_| rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}
