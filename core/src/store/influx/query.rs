//! Reads: InfluxQL over `POST /query`, answers parsed into points.

use super::*;

impl InfluxStore {
    /// Runs InfluxQL statements (joined by `;`) and returns one result per statement.
    pub(super) async fn query(&self, q: &str) -> Result<Vec<StatementResult>, StoreError> {
        let io = |reason: String, retryable: bool| StoreError::Io { op: "query", reason, retryable };
        // POST with a form body: many statements do not fit in a URL, and 1.x, 2.x and 3.x all take it.
        let url = &self.query_url;
        // MessagePack when the server speaks it (influxd 1.4+): encoding the answer as JSON was influxd's
        // largest single cost of the consumers' reads (`bench/fullstack.py --profile`: `encoding/json` by
        // reflection, then compacted), and it is dearer for us to parse. influxd compares the `Accept` header
        // whole (a list or a q-value makes it answer JSON), so it names one type. A server that answers JSON
        // anyway is read as JSON; one that refuses with 406 is asked for JSON from then on.
        let mut ask_msgpack = !self.msgpack_refused.load(std::sync::atomic::Ordering::Relaxed);
        let started = std::time::Instant::now();
        let resp = loop {
            let accept = if ask_msgpack { "application/x-msgpack" } else { "application/json" };
            let req = self
                .client
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", accept)
                .body(format!("q={}", percent_encode(q)));
            let resp = self.authorize(req).send().await.map_err(|e| io(crate::http::error_text(&e), true))?;
            if ask_msgpack && resp.status() == reqwest::StatusCode::NOT_ACCEPTABLE {
                self.msgpack_refused.store(true, std::sync::atomic::Ordering::Relaxed);
                ask_msgpack = false;
                continue;
            }
            break resp;
        };
        let status = resp.status();
        let msgpack = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-msgpack"));
        let body = resp.bytes().await.map_err(|e| io(crate::http::error_text(&e), true))?;
        if msgpack {
            self.msgpack_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // What each read costs, for finding the dear ones (`RUST_LOG=watchpost_core::store=trace`).
        tracing::trace!(ms = started.elapsed().as_millis() as u64, bytes = body.len(), msgpack, query = %q.chars().take(300).collect::<String>(), "influxdb query");
        let parsed: Result<QueryResponse, String> = match msgpack {
            true => rmp_serde::from_slice(&body).map_err(|e| e.to_string()),
            false => serde_json::from_slice(&body).map_err(|e| e.to_string()),
        };
        let parsed = parsed.map_err(|e| {
            let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            io(format!("HTTP {status}: unreadable answer ({e}): {start}"), status.is_server_error())
        })?;
        if let Some(e) = parsed.error {
            return Err(io(e, status.is_server_error()));
        }
        for r in &parsed.results {
            if let Some(e) = &r.error {
                // A missing measurement is no error, only no data; anything else is.
                return Err(io(e.clone(), false));
            }
        }
        Ok(parsed.results)
    }

    /// The earliest time a `first(…)` statement answers, over every series it returns.
    pub(super) async fn first_time(&self, q: &str) -> Result<Option<Nanos>, StoreError> {
        let results = self.query(q).await?;
        Ok(results.iter().flat_map(|r| r.series.iter().flatten()).filter_map(|s| s.first_row().map(|(t, _)| t)).min())
    }

    /// The `WHERE` prefixes (`"endpoint" = 'a' OR … AND `) that read the series `select` covers in
    /// `source`, each a statement's worth; none when it covers no series. A shard's endpoints are those
    /// of the tag index (`SHOW TAG VALUES`, no data read) that hash to it, so influxd reads only their points.
    ///
    /// `source` is what a `FROM` names: a quoted measurement, with its retention policy when it has its own.
    pub(super) async fn filters(&self, source: &str, select: Select<'_>) -> Result<Vec<String>, StoreError> {
        let shard = match select {
            Select::All => return Ok(vec![String::new()]),
            Select::Endpoint(e) => return Ok(vec![format!("\"endpoint\" = {} AND ", lit(e))]),
            Select::Region(r) => return Ok(vec![format!("\"region\" = {} AND ", lit(r))]),
            Select::Shard(s) => s,
        };
        let owned: Vec<String> = self.endpoints(source).await?.into_iter().filter(|e| shard.owns(e)).collect();
        Ok(conditions(&owned))
    }

    /// The endpoints of `source` (see [`Self::filters`]), from the tag index (`SHOW TAG VALUES`: no data read).
    async fn endpoints(&self, source: &str) -> Result<Vec<String>, StoreError> {
        let q = format!("SHOW TAG VALUES FROM {source} WITH KEY = \"endpoint\"");
        let mut out = Vec::new();
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let vi = s.col("value");
                out.extend(
                    s.values.iter().filter_map(|row| vi.and_then(|i| row.get(i)).and_then(serde_json::Value::as_str)).map(str::to_string),
                );
            }
        }
        Ok(out)
    }

    pub(super) async fn maintenance_where(&self, filter: &str, range: TimeRange) -> Result<Vec<MaintenancePoint>, StoreError> {
        let mut out = Vec::new();
        for (from, to) in windows(range) {
            let q = format!(
                "SELECT \"active\" FROM \"maintenance\" WHERE {filter}time >= {from} AND time < {to} GROUP BY \"endpoint\", \"region\""
            );
            for r in self.query(&q).await? {
                for s in r.series.unwrap_or_default() {
                    let (ti, ai) = (s.col("time"), s.col("active"));
                    for row in &s.values {
                        let v = |i: Option<usize>| i.and_then(|i| row.get(i));
                        if let Some(ts) = v(ti).and_then(|x| x.as_i64()) {
                            let active = v(ai).and_then(|x| x.as_bool()).unwrap_or(false);
                            out.push(MaintenancePoint { endpoint: s.tag("endpoint"), region: s.tag("region"), ts, active });
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| (a.ts, &a.endpoint, &a.region).cmp(&(b.ts, &b.endpoint, &b.region)));
        Ok(out)
    }

    /// The probe points of the series `select` names in `range`, reading `fields` (`*`, or a list that holds
    /// at least [`SAMPLE_FIELDS`]).
    pub(super) async fn probe_points_selected(
        &self,
        range: TimeRange,
        select: Select<'_>,
        fields: &str,
    ) -> Result<Vec<ProbePoint>, StoreError> {
        let filters = self.filters("\"probe\"", select).await?;
        if let [filter] = filters.as_slice() {
            return self.probe_points_where(filter, range, fields).await;
        }
        let mut out = Vec::new();
        for filter in &filters {
            out.extend(self.probe_points_where(filter, range, fields).await?);
        }
        out.sort_by(|a, b| (a.ts, &a.series.region, &a.series.environment).cmp(&(b.ts, &b.series.region, &b.series.environment)));
        Ok(out)
    }

    pub(super) async fn probe_points_where(&self, filter: &str, range: TimeRange, fields: &str) -> Result<Vec<ProbePoint>, StoreError> {
        let mut out = Vec::new();
        for (from, to) in windows(range) {
            let q = format!("SELECT {fields} FROM \"probe\" WHERE {filter}time >= {from} AND time < {to} GROUP BY {PROBE_TAGS}");
            for r in self.query(&q).await? {
                for s in r.series.unwrap_or_default() {
                    super::super::reads::count(s.values.len());
                    let skipped = probe_rows(&s, &mut out);
                    self.count_incomplete(skipped);
                }
            }
        }
        // Series come one after the other; callers want time order (ties by series, as SQLite answers).
        out.sort_by(|a, b| (a.ts, &a.series.region, &a.series.environment).cmp(&(b.ts, &b.series.region, &b.series.environment)));
        Ok(out)
    }
}

/// `"endpoint" = 'a' OR …` prefixes of [`SELECT_CHUNK`] endpoints each: a statement's worth, each condition a
/// set lookup in the tag index.
fn conditions(endpoints: &[String]) -> Vec<String> {
    let conds: Vec<String> = endpoints.iter().map(|e| format!("\"endpoint\" = {}", lit(e))).collect();
    conds.chunks(SELECT_CHUNK).map(|c| format!("({}) AND ", c.join(" OR "))).collect()
}

/// `range` cut into consecutive windows of at most [`READ_WINDOW`], so no single answer grows with the range.
pub(super) fn windows(range: TimeRange) -> impl Iterator<Item = (Nanos, Nanos)> {
    let mut from = range.from;
    std::iter::from_fn(move || {
        (from < range.to).then(|| {
            let to = from.saturating_add(READ_WINDOW).min(range.to);
            let w = (from, to);
            from = to;
            w
        })
    })
}

/// The fields [`Store::probe_samples`] reads: what a probe point cannot be without (see [`ProbeColumns::point`]).
pub(super) const SAMPLE_FIELDS: &str = "\"availability\", \"ok\", \"latency_ms\"";
pub(super) const PROBE_TAGS: &str = "\"endpoint\", \"region\", \"component\", \"environment\"";

/// An InfluxQL string literal: single quotes, with `\` and `'` escaped by a backslash.
/// A double-quoted identifier.
pub(super) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[derive(Deserialize)]
pub(super) struct QueryResponse {
    #[serde(default)]
    pub(super) results: Vec<StatementResult>,
    pub(super) error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct StatementResult {
    pub(super) series: Option<Vec<SeriesResult>>,
    pub(super) error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct SeriesResult {
    #[serde(default)]
    pub(super) tags: HashMap<String, String>,
    pub(super) columns: Vec<String>,
    #[serde(default)]
    pub(super) values: Vec<Vec<serde_json::Value>>,
}

impl SeriesResult {
    pub(super) fn tag(&self, k: &str) -> String {
        self.tags.get(k).cloned().unwrap_or_default()
    }

    pub(super) fn key(&self) -> SeriesKey {
        SeriesKey {
            endpoint: self.tag("endpoint"),
            region: self.tag("region"),
            component: self.tag("component"),
            environment: self.tag("environment"),
        }
    }

    pub(super) fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The first row's `(time, value)` of a one-selector result such as `SELECT last(x)`.
    pub(super) fn first_row(&self) -> Option<(Nanos, &serde_json::Value)> {
        let row = self.values.first()?;
        Some((row.first()?.as_i64()?, row.get(1)?))
    }
}

/// Appends the rows of one `probe` series; returns how many it skipped as incomplete.
///
/// influxd can answer a series' newest row with some fields still missing while a write is being applied. A
/// row without `availability`, `ok` or `latency_ms` (every agent writes all three) is therefore incomplete,
/// never a miss: read as 0 it paged endpoints that were up. It is skipped; the next read, which overlaps,
/// finds it whole.
pub(super) fn probe_rows(s: &SeriesResult, out: &mut Vec<ProbePoint>) -> u64 {
    let series = Arc::new(s.key());
    let cols = ProbeColumns::of(s, "time");
    let mut skipped = 0;
    for row in &s.values {
        match cols.point(row, &series) {
            Some(Some(p)) => out.push(p),
            Some(None) => skipped += 1,
            None => {}
        }
    }
    skipped
}

/// Where a probe point's fields are in an answer's rows (`probe`, or `feed` where the probe time is a field).
pub(super) struct ProbeColumns([Option<usize>; 13]);

impl ProbeColumns {
    /// `time`: the column holding the time the point was probed.
    pub(super) fn of(s: &SeriesResult, time: &str) -> ProbeColumns {
        // The probe fields, in the order `point` reads them: the first twelve of the write log's.
        let mut names = [time; 13];
        names[1..].copy_from_slice(&crate::lineproto::FEED_FIELDS[..12]);
        ProbeColumns(names.map(|c| s.col(c)))
    }

    /// The point of one row: `None` for a row without a time, `Some(None)` for an incomplete one (see
    /// [`probe_rows`]).
    pub(super) fn point(&self, row: &[serde_json::Value], series: &Arc<SeriesKey>) -> Option<Option<ProbePoint>> {
        let get = |i: usize| self.0[i].and_then(|c| row.get(c)).filter(|v| !v.is_null());
        let f = |i: usize| get(i).and_then(serde_json::Value::as_f64);
        let ts = get(0).and_then(serde_json::Value::as_i64)?;
        let (Some(availability), Some(ok), Some(latency_ms)) = (f(1), get(2).and_then(serde_json::Value::as_bool), f(3)) else {
            return Some(None);
        };
        Some(Some(ProbePoint {
            series: series.clone(),
            ts,
            availability,
            ok,
            latency_ms,
            dns_ms: f(4),
            connect_ms: f(5),
            tls_ms: f(6),
            ttfb_ms: f(7),
            status_code: get(8).and_then(serde_json::Value::as_i64),
            cert_days_left: f(9),
            error: get(10).and_then(serde_json::Value::as_str).and_then(ErrorClass::parse),
            confirmed_down: get(11).and_then(serde_json::Value::as_bool).unwrap_or(false),
            failed_step: get(12).and_then(serde_json::Value::as_str).map(str::to_string),
        }))
    }
}
