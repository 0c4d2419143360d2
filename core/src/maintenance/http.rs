//! Windows started through a status page on another machine: an agent that does not share the status
//! page's state database asks its admin API (`GET /api/v1/admin/maintenance`, with the admin token) at
//! every refresh. When the page does not answer, the last answer stands (for at most [`KEEP_LAST`]): a
//! status page restarting must not make the agent probe, and page for, what is in maintenance.

use super::{MaintenanceError, MaintenanceSource, Scope, Window};
use crate::config::Secret;
use crate::time::{Nanos, TimeRange};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the last good answer is used while the page does not answer.
pub const KEEP_LAST: Duration = Duration::from_secs(600);
const TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpSource {
    base: String,
    token: Secret,
    client: Option<reqwest::Client>,
    last: Mutex<Option<(Instant, Vec<Window>)>>,
}

impl HttpSource {
    pub fn new(base: &str, token: Secret) -> Self {
        HttpSource {
            base: base.trim_end_matches('/').to_string(),
            token,
            client: crate::http::client(TIMEOUT).build().ok(),
            last: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<Vec<Window>, String> {
        let client = self.client.as_ref().ok_or("cannot build an HTTP client")?;
        let resp = client
            .get(format!("{}/api/v1/admin/maintenance", self.base))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| crate::http::error_text(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("the status page answered {status}"));
        }
        let text = resp.text().await.map_err(|e| crate::http::error_text(&e))?;
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not the admin API's JSON: {e}"))?;
        parse(&body)
    }
}

/// The admin API's list (`{"maintenance": [{"id", "title", "scope", "components"|"endpoints", "start", "end"}]}`).
pub fn parse(body: &serde_json::Value) -> Result<Vec<Window>, String> {
    let list = body.get("maintenance").and_then(|v| v.as_array()).ok_or("no `maintenance` list")?;
    let time = |v: Option<&serde_json::Value>| -> Option<Nanos> {
        v?.as_str()?.parse::<jiff::Timestamp>().ok().and_then(|t| i64::try_from(t.as_nanosecond()).ok())
    };
    let mut out = Vec::new();
    for m in list {
        let str_of = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let set = |k: &str| m.get(k).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect());
        let scope = match str_of("scope").as_str() {
            "all" => Scope::All,
            "components" => Scope::Components(set("components").unwrap_or_default()),
            "endpoints" => Scope::Endpoints(set("endpoints").unwrap_or_default()),
            other => return Err(format!("unknown scope `{other}`")),
        };
        let (Some(start), Some(end)) = (time(m.get("start")), time(m.get("end"))) else {
            return Err("a window without start or end".into());
        };
        if end > start {
            out.push(Window {
                id: str_of("id"),
                title: str_of("title"),
                detail: str_of("message"),
                start,
                end,
                scope,
                source: "admin".into(),
            });
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl MaintenanceSource for HttpSource {
    async fn windows(&self, range: TimeRange) -> Result<Vec<Window>, MaintenanceError> {
        let in_range = |w: &Vec<Window>| w.iter().filter(|w| w.start < range.to && w.end > range.from).cloned().collect::<Vec<_>>();
        match self.fetch().await {
            Ok(windows) => {
                let answer = in_range(&windows);
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), windows));
                Ok(answer)
            }
            Err(reason) => {
                let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                match last.as_ref().filter(|(at, _)| at.elapsed() < KEEP_LAST) {
                    // Logged by the caller; the windows it had stay in force.
                    Some((_, windows)) => {
                        tracing::debug!(source = %self.describe(), %reason, "using the last answer");
                        Ok(in_range(windows))
                    }
                    None => Err(MaintenanceError::Unavailable { source_name: self.describe(), reason }),
                }
            }
        }
    }

    fn describe(&self) -> String {
        format!("admin API windows at {}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_admin_apis_list() {
        let body = serde_json::json!({"maintenance": [
            {"id": "a", "title": "DB", "scope": "components", "components": ["db"], "start": "2026-11-23T10:00:00Z", "end": "2026-11-23T11:00:00Z"},
            {"id": "b", "title": "All", "scope": "all", "start": "2026-11-23T10:00:00Z", "end": "2026-11-23T10:00:00Z"},
            {"id": "c", "title": "One", "scope": "endpoints", "endpoints": ["api"], "start": "2026-11-23T12:00:00Z", "end": "2026-11-23T13:00:00Z"}
        ]});
        let w = parse(&body).unwrap();
        assert_eq!(w.len(), 2, "a cancelled (zero-length) window silences nothing");
        assert_eq!(w[0].scope, Scope::Components(["db".to_string()].into()));
        assert!(w[1].scope.covers("api", ""));
        assert!(parse(&serde_json::json!({"maintenance": [{"scope": "galaxy"}]})).is_err());
        assert!(parse(&serde_json::json!({})).is_err());
    }
}
