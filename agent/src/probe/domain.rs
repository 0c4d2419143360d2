//! `type = "domain"`: how long a domain's registration has left, from the registry's RDAP service.
//!
//! - The service is found in the IANA bootstrap registry (RFC 9224) by the longest matching label suffix
//!   of the domain, unless `rdap_server` names it. The registry is fetched (or read from a file) at most
//!   once a day per source and shared by every domain endpoint; a stale copy is used while a refresh fails.
//! - The answer is an RFC 9083 domain object; its `expiration` event gives the days left. A registry that
//!   publishes none (several ccTLDs) is a `protocol` miss that says so, not a silent pass.
//! - Requests go through the HTTP probe (same phases, caps, TLS and error classes) with
//!   `Accept: application/rdap+json`, following redirects (RFC 7480 §5.2: RDAP redirects are normal).

use super::http::HttpProbe;
use super::{Observation, Probe, ProbeFailure, Shared};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_core::config::{DomainProbeConfig, HttpProbeConfig, RdapSource};
use watchpost_core::model::ErrorClass;

/// How long a fetched bootstrap registry is used before it is fetched again (IANA updates it rarely).
const BOOTSTRAP_TTL: Duration = Duration::from_secs(86_400);
/// The most of an RDAP answer or a bootstrap file that is read.
const MAX_RDAP_BODY: u64 = 1 << 20;
const MAX_BOOTSTRAP_BODY: u64 = 4 << 20;

/// The bootstrap registries read so far, by source, with when they were read.
#[derive(Default)]
pub struct BootstrapCache(tokio::sync::Mutex<HashMap<String, (Instant, Arc<Bootstrap>)>>);

/// RFC 9224 §4: `services` is a list of [[labels…], [base URLs…]].
#[derive(Debug, Default)]
pub struct Bootstrap {
    services: Vec<(Vec<String>, Vec<String>)>,
}

impl Bootstrap {
    pub fn parse(json: &[u8]) -> Result<Bootstrap, String> {
        let v: Value = serde_json::from_slice(json).map_err(|e| format!("the bootstrap registry is not JSON: {e}"))?;
        let services = v["services"].as_array().ok_or("the bootstrap registry has no `services` list (RFC 9224 §4)")?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect()).unwrap_or_default()
        };
        let services = services.iter().map(|s| (strings(&s[0]), s[1].as_array().map_or(vec![], |_| strings(&s[1])))).collect();
        Ok(Bootstrap { services })
    }

    /// The base URL for `domain`: the entry with the longest label suffix of it; HTTPS preferred (§5).
    pub fn base_for(&self, domain: &str) -> Option<String> {
        let labels: Vec<&str> = domain.split('.').collect();
        (0..labels.len()).find_map(|i| {
            let suffix = labels[i..].join(".");
            let (_, urls) = self.services.iter().find(|(entries, _)| entries.contains(&suffix))?;
            let url = urls.iter().find(|u| u.starts_with("https://")).or(urls.first())?;
            Some(if url.ends_with('/') { url.clone() } else { format!("{url}/") })
        })
    }
}

pub struct DomainProbe {
    cfg: DomainProbeConfig,
    shared: Arc<Shared>,
}

impl DomainProbe {
    pub fn new(cfg: DomainProbeConfig, shared: Arc<Shared>) -> Self {
        DomainProbe { cfg, shared }
    }

    async fn get(&self, url: &str, max_body: u64) -> Result<Observation, ProbeFailure> {
        let uri = watchpost_core::http::parse_http_url(url).map_err(|e| ProbeFailure::new(ErrorClass::Internal, e))?;
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/rdap+json, application/json"));
        let cfg = HttpProbeConfig {
            url: uri,
            method: http::Method::GET,
            headers,
            body: None,
            follow_redirects: 5,
            max_body,
            tls: Default::default(),
            tls_resume: false,
            http2: true,
        };
        HttpProbe::new(cfg, self.shared.clone()).observe().await
    }

    /// The bootstrap registry from `source`, fetched at most once a day.
    async fn bootstrap(&self, source: &str) -> Result<Arc<Bootstrap>, ProbeFailure> {
        let cache = &self.shared.rdap_bootstrap;
        let stale = {
            let held = cache.0.lock().await;
            match held.get(source) {
                Some((at, b)) if at.elapsed() < BOOTSTRAP_TTL => return Ok(b.clone()),
                other => other.map(|(_, b)| b.clone()),
            }
        };
        let fetched = if source.starts_with("http://") || source.starts_with("https://") {
            match self.get(source, MAX_BOOTSTRAP_BODY).await {
                Ok(obs) if obs.status.is_some_and(|s| (200..300).contains(&s)) => {
                    Bootstrap::parse(&obs.body).map_err(|e| ProbeFailure::new(ErrorClass::Protocol, format!("{source}: {e}")))
                }
                Ok(obs) => Err(ProbeFailure::new(
                    ErrorClass::Status,
                    format!("the bootstrap registry {source} answered {}", obs.status.unwrap_or(0)),
                )),
                Err(f) => Err(ProbeFailure { detail: format!("the bootstrap registry {source}: {}", f.detail), ..f }),
            }
        } else {
            // A small local file: read inline rather than pull in tokio's `fs` for one read a day.
            match std::fs::read(source) {
                Ok(bytes) => Bootstrap::parse(&bytes).map_err(|e| ProbeFailure::new(ErrorClass::Internal, format!("{source}: {e}"))),
                Err(e) => Err(ProbeFailure::new(ErrorClass::Internal, format!("cannot read the bootstrap registry {source}: {e}"))),
            }
        };
        match (fetched, stale) {
            (Ok(b), _) => {
                let b = Arc::new(b);
                cache.0.lock().await.insert(source.to_string(), (Instant::now(), b.clone()));
                Ok(b)
            }
            (Err(f), Some(old)) => {
                tracing::warn!(source, error = %f.detail, "the RDAP bootstrap registry could not be refreshed; using the copy read earlier");
                Ok(old)
            }
            (Err(f), None) => Err(f),
        }
    }
}

#[async_trait::async_trait]
impl Probe for DomainProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let domain = &self.cfg.domain;
        let base = match &self.cfg.rdap {
            RdapSource::Server(s) => s.clone(),
            RdapSource::Bootstrap(source) => self.bootstrap(source).await?.base_for(domain).ok_or_else(|| {
                ProbeFailure::new(
                    ErrorClass::Internal,
                    format!(
                        "no RDAP service for {domain} in the bootstrap registry {source} (its registry publishes none); set `rdap_server`"
                    ),
                )
            })?,
        };
        let obs = self.get(&format!("{base}domain/{domain}"), MAX_RDAP_BODY).await?;
        match obs.status {
            Some(404) => {
                return Err(ProbeFailure {
                    status: Some(404),
                    timings: obs.timings,
                    ..ProbeFailure::new(
                        ErrorClass::Status,
                        format!("the registry does not know {domain} (404): not registered, or expired and deleted"),
                    )
                })
            }
            Some(s) if !(200..300).contains(&s) => {
                return Err(ProbeFailure {
                    status: Some(s),
                    timings: obs.timings,
                    ..ProbeFailure::new(ErrorClass::Status, format!("the RDAP service answered {s} for {domain}"))
                })
            }
            _ => {}
        }
        let fail =
            |detail: String| ProbeFailure { status: obs.status, timings: obs.timings, ..ProbeFailure::new(ErrorClass::Protocol, detail) };
        let doc: Value = serde_json::from_slice(&obs.body).map_err(|e| fail(format!("the RDAP answer for {domain} is not JSON: {e}")))?;
        let expires = expiration(&doc).map_err(|e| fail(format!("{domain}: {e}")))?;
        let days = (expires - watchpost_core::time::now_nanos()) as f64 / 86_400e9;
        Ok(Observation { domain_days_left: Some(days), ..obs })
    }
}

/// The `expiration` event of an RFC 9083 domain object (§4.5), as nanoseconds.
fn expiration(doc: &Value) -> Result<i64, String> {
    if doc["objectClassName"].as_str().is_some_and(|c| c != "domain") {
        return Err(format!("the answer is a {:?} object, not a domain", doc["objectClassName"].as_str().unwrap_or_default()));
    }
    let events = doc["events"].as_array().ok_or("the RDAP answer has no events (RFC 9083 §4.5)")?;
    let event = events
        .iter()
        .find(|e| e["eventAction"].as_str() == Some("expiration"))
        .ok_or("the registry publishes no expiration event for this domain (some registries do not)")?;
    let date = event["eventDate"].as_str().ok_or("the expiration event has no eventDate")?;
    watchpost_core::time::parse_rfc3339(date).ok_or_else(|| format!("the expiration date {date:?} is not RFC 3339"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_label_suffix_wins_and_https_is_preferred() {
        let b = Bootstrap::parse(
            br#"{"version":"1.0","services":[[["uk"],["http://a/"]],[["co.uk"],["http://b","https://b/"]],[["COM","net"],["https://c/v1"]]]}"#,
        )
        .unwrap();
        assert_eq!(b.base_for("shop.example.co.uk").as_deref(), Some("https://b/"));
        assert_eq!(b.base_for("example.uk").as_deref(), Some("http://a/"));
        assert_eq!(b.base_for("example.com").as_deref(), Some("https://c/v1/"));
        assert_eq!(b.base_for("example.org"), None);
        assert!(Bootstrap::parse(b"{}").unwrap_err().contains("services"));
    }

    #[test]
    fn expiration_events_are_read_and_their_absence_explained() {
        let doc = serde_json::json!({"objectClassName": "domain", "events": [
            {"eventAction": "registration", "eventDate": "2001-01-01T00:00:00Z"},
            {"eventAction": "expiration", "eventDate": "2030-01-02T00:00:00Z"}]});
        assert_eq!(expiration(&doc).unwrap(), 1_893_542_400_000_000_000);
        let none = serde_json::json!({"objectClassName": "domain", "events": []});
        assert!(expiration(&none).unwrap_err().contains("no expiration event"));
        let entity = serde_json::json!({"objectClassName": "entity"});
        assert!(expiration(&entity).unwrap_err().contains("not a domain"));
    }
}
