//! `type = "domain"`: a domain's registration expiry, from the registry's RDAP service (RFC 9083), found
//! through the IANA bootstrap registry (RFC 9224) or named directly.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use serde::Deserialize;

/// The keys of a domain endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The registered domain (`example.com`; a subdomain is checked as the domain it belongs to only if
    /// the registry answers for it).
    domain: Option<String>,
    /// The RDAP service's base URL (ending in `/`; `domain/NAME` is appended). Default: found in the
    /// bootstrap registry by the domain's top-level label.
    rdap_server: Option<String>,
    /// Where the bootstrap registry is read: a URL or a file (default IANA's `dns.json`).
    rdap_bootstrap: Option<String>,
}

/// IANA's RDAP bootstrap registry for domain names (RFC 9224).
pub const IANA_BOOTSTRAP: &str = "https://data.iana.org/rdap/dns.json";

#[derive(Debug, Clone)]
pub struct DomainProbeConfig {
    /// Lower case, without a trailing dot, in A-labels (`xn--…`) as the registry expects.
    pub domain: String,
    /// Where to ask: the service's base URL, or the bootstrap registry to find it in.
    pub rdap: RdapSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdapSource {
    Server(String),
    /// A URL (`http://`, `https://`) or a file path.
    Bootstrap(String),
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let rdap = match (self.rdap_server, self.rdap_bootstrap) {
            (Some(_), Some(_)) => {
                t.error("rdap_bootstrap", "`rdap_server` names the service; `rdap_bootstrap` is for finding it: give one");
                None
            }
            (Some(s), None) => match crate::http::parse_http_url(&s) {
                Ok(_) => Some(RdapSource::Server(if s.ends_with('/') { s } else { format!("{s}/") })),
                Err(e) => {
                    t.error("rdap_server", e);
                    None
                }
            },
            (None, Some(b)) if b.starts_with("http://") || b.starts_with("https://") => match crate::http::parse_http_url(&b) {
                Ok(_) => Some(RdapSource::Bootstrap(b)),
                Err(e) => {
                    t.error("rdap_bootstrap", e);
                    None
                }
            },
            // A file is read when the probe runs (IANA updates it; a file kept current by cron is picked up).
            (None, Some(file)) => Some(RdapSource::Bootstrap(t.doc.path(&file).display().to_string())),
            (None, None) => Some(RdapSource::Bootstrap(IANA_BOOTSTRAP.into())),
        };
        let Some(domain) = self.domain else {
            t.missing("domain", "missing key `domain` (required for a domain endpoint: the registered name, such as \"example.com\")");
            return None;
        };
        let name = match domain_name(&domain) {
            Ok(n) => n,
            Err(e) => {
                t.error("domain", e);
                return None;
            }
        };
        Some(Checked { probe: ProbeConfig::Domain(DomainProbeConfig { domain: name, rdap: rdap? }), schedule: None })
    }
}

/// A registered name as written (`Example.COM.`) in the form registries look up (`example.com`).
pub fn domain_name(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = name.contains('.')
        && name.len() <= 253
        && name.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if valid {
        Ok(name)
    } else {
        Err(format!("invalid domain {text:?}: expected a registered name such as \"example.com\" (IDNs in xn-- form)"))
    }
}
