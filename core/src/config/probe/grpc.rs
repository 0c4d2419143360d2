//! `type = "grpc"`: the standard health checking protocol (`grpc.health.v1.Health/Check`).

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use serde::Deserialize;

/// The keys of a grpc endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `host:port` of the server.
    address: Option<String>,
    /// The service to ask about (default `""`: the server as a whole).
    service: Option<String>,
    /// Speak TLS (ALPN `h2`); default false: plaintext HTTP/2 (prior knowledge), as gRPC's insecure channels.
    tls: Option<bool>,
    /// The name sent in SNI and verified (default: the host of `address`).
    server_name: Option<String>,
    #[serde(alias = "insecure_skip_verify")]
    tls_skip_verify: Option<bool>,
    tls_ca_file: Option<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GrpcProbeConfig {
    pub host: String,
    pub port: u16,
    pub service: String,
    /// `None`: plaintext.
    pub tls: Option<super::TlsClientOptions>,
    pub server_name: String,
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let files =
            super::tls::RawTlsFiles { tls_ca_file: self.tls_ca_file, tls_cert_file: self.tls_cert_file, tls_key_file: self.tls_key_file };
        let uses_tls = self.tls.unwrap_or(false);
        if !uses_tls {
            let given = [
                ("tls_skip_verify", self.tls_skip_verify.is_some()),
                ("tls_ca_file", files.tls_ca_file.is_some()),
                ("tls_cert_file", files.tls_cert_file.is_some()),
                ("tls_key_file", files.tls_key_file.is_some()),
            ];
            if let Some((key, _)) = given.iter().find(|(_, set)| *set) {
                t.error(key, format!("`{key}` applies to TLS, which this endpoint does not speak: add `tls = true`"));
            }
        }
        let tls_opts = super::tls::load_files(t, files, self.tls_skip_verify.unwrap_or(false));
        let Some(address) = self.address else {
            t.missing("address", "missing key `address` (required for a grpc endpoint, as host:port)");
            return None;
        };
        let Some((host, port)) = super::tcp::host_port(&address) else {
            t.error("address", format!("invalid address {address:?}: expected host:port such as \"api.internal:50051\""));
            return None;
        };
        let server_name = self.server_name.unwrap_or_else(|| host.clone());
        let tls = match (uses_tls, tls_opts) {
            (true, Some(o)) => Some(o),
            (true, None) => return None,
            (false, _) => None,
        };
        let probe = ProbeConfig::Grpc(GrpcProbeConfig { host, port, service: self.service.unwrap_or_default(), tls, server_name });
        Some(Checked { probe, schedule: None })
    }
}
