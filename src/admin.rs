//! The command-line side of the status page's admin API: `watchpost incident …` and `watchpost maintenance
//! start|end`. They talk HTTP to a running status page (the one in the configuration, or `--url`), so the
//! page, its subscribers and the agents learn of the change exactly as they would from any other client.

use anyhow::Context as _;
use serde_json::{json, Value};
use std::process::ExitCode;
use watchpost::settings::Settings;

#[derive(clap::Args)]
pub struct Target {
    /// Base URL of the status page (default: http:// + statuspage.listen).
    #[arg(long, env = "WATCHPOST_STATUSPAGE_URL")]
    url: Option<String>,
    /// Admin token (default: statuspage.admin_token of the configuration).
    #[arg(long, env = "WATCHPOST_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum IncidentCommand {
    /// Open an incident.
    Create {
        #[command(flatten)]
        target: Target,
        /// Its title on the page (at most 255 characters).
        #[arg(long)]
        name: String,
        /// investigating, identified, monitoring or resolved.
        #[arg(long, default_value = "investigating")]
        status: String,
        /// The first update's text.
        #[arg(long)]
        message: Option<String>,
        /// none, minor, major or critical (default: from the worst component status).
        #[arg(long)]
        impact: Option<String>,
        /// An affected component and the status it has, `api=partial_outage`; repeat for several.
        #[arg(long = "component", value_parser = component_status)]
        components: Vec<(String, String)>,
    },
    /// Post an update: a new status, a message, component statuses.
    Update {
        #[command(flatten)]
        target: Target,
        /// The incident's id (from `create` or `list`).
        id: String,
        /// The new status: investigating, identified, monitoring or resolved.
        #[arg(long)]
        status: Option<String>,
        /// The update's text, shown on the page under the incident.
        #[arg(long)]
        message: Option<String>,
        /// A new title (at most 255 characters).
        #[arg(long)]
        name: Option<String>,
        /// A new impact: none, minor, major or critical.
        #[arg(long)]
        impact: Option<String>,
        /// An affected component and its status now, `api=operational`; repeat for several.
        #[arg(long = "component", value_parser = component_status)]
        components: Vec<(String, String)>,
    },
    /// Resolve an incident (a shortcut for `update ID --status resolved`).
    Resolve {
        #[command(flatten)]
        target: Target,
        /// The incident's id (from `create` or `list`).
        id: String,
        /// The closing update's text.
        #[arg(long, default_value = "This incident has been resolved.")]
        message: String,
    },
    /// List incidents, newest first.
    List {
        #[command(flatten)]
        target: Target,
    },
}

fn component_status(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, st)) if !c.is_empty() && !st.is_empty() => Ok((c.to_string(), st.to_string())),
        _ => Err(format!("{s:?}: expected COMPONENT=STATUS, like api=partial_outage")),
    }
}

/// `maintenance start` and `maintenance end`'s arguments.
#[derive(clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub target: Target,
    /// What is done, for the page and the logs.
    #[arg(long)]
    pub title: String,
    /// A longer text for the page.
    #[arg(long)]
    pub message: Option<String>,
    /// A component it covers; repeat for several.
    #[arg(long = "component")]
    pub components: Vec<String>,
    /// An endpoint or check it covers; repeat for several.
    #[arg(long = "endpoint")]
    pub endpoints: Vec<String>,
    /// Cover everything.
    #[arg(long)]
    pub all: bool,
    /// When it starts, RFC 3339 (default: now).
    #[arg(long)]
    pub start: Option<String>,
    /// How long it lasts (`90m`, `2h`); or `--end`.
    #[arg(long, conflicts_with = "end")]
    pub duration: Option<String>,
    /// When it ends, RFC 3339.
    #[arg(long)]
    pub end: Option<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(settings: &Settings, target: Target) -> anyhow::Result<Self> {
        let page = &settings.page;
        let base = target.url.unwrap_or_else(|| format!("http://{}", page.listen)).trim_end_matches('/').to_string();
        let token = match target.token.or_else(|| page.admin_token.as_ref().map(|t| t.expose().to_string())) {
            Some(t) => t,
            None => anyhow::bail!("{}: no admin token: set statuspage.admin_token, WATCHPOST_ADMIN_TOKEN or --token", settings.core.file),
        };
        let http = watchpost_core::http::client(std::time::Duration::from_secs(15)).build().context("cannot build the HTTP client")?;
        Ok(Client { http, base, token })
    }

    /// Sends one request; prints the API's error and returns `Ok(None)` when it refuses.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Option<Value>> {
        let url = format!("{}/api/v1/admin{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.with_context(|| format!("cannot reach the status page at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(Some(value))
        } else {
            let msg = value.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| value.to_string());
            eprintln!("error: the status page answered {status}: {msg}");
            Ok(None)
        }
    }
}

fn components_map(list: &[(String, String)]) -> Option<Value> {
    (!list.is_empty()).then(|| Value::Object(list.iter().map(|(c, s)| (c.clone(), json!(s))).collect()))
}

fn print_incident(x: &Value) {
    let s = |k: &str| x.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    println!("{}  {:<13} {:<8} {}", s("id"), s("status"), s("impact"), s("name"));
}

/// Drops keys whose value is null, so an update sends only what was given.
fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        v => v,
    }
}

pub async fn incident(settings: &Settings, cmd: IncidentCommand) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let (target, method, path, body) = match cmd {
        IncidentCommand::Create { target, name, status, message, impact, components } => (
            target,
            Method::POST,
            "/incidents".to_string(),
            Some(compact(
                json!({"name": name, "status": status, "message": message, "impact": impact, "components": components_map(&components)}),
            )),
        ),
        IncidentCommand::Update { target, id, status, message, name, impact, components } => (
            target,
            Method::PATCH,
            format!("/incidents/{id}"),
            Some(compact(
                json!({"name": name, "status": status, "message": message, "impact": impact, "components": components_map(&components)}),
            )),
        ),
        IncidentCommand::Resolve { target, id, message } => {
            (target, Method::PATCH, format!("/incidents/{id}"), Some(json!({"status": "resolved", "message": message})))
        }
        IncidentCommand::List { target } => (target, Method::GET, "/incidents".to_string(), None),
    };
    let client = Client::new(settings, target)?;
    let Some(answer) = client.send(method, &path, body).await? else { return Ok(ExitCode::FAILURE) };
    match answer.get("incidents").and_then(Value::as_array) {
        Some(list) if list.is_empty() => println!("no incidents"),
        Some(list) => list.iter().for_each(print_incident),
        None => print_incident(&answer),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn start_maintenance(settings: &Settings, a: StartArgs) -> anyhow::Result<ExitCode> {
    let body = compact(json!({
        "title": a.title,
        "message": a.message,
        "components": (!a.components.is_empty()).then_some(&a.components),
        "endpoints": (!a.endpoints.is_empty()).then_some(&a.endpoints),
        "all": a.all.then_some(true),
        "start": a.start,
        "end": a.end,
        "duration": if a.end.is_none() { Some(a.duration.unwrap_or_else(|| "1h".into())) } else { None },
    }));
    let client = Client::new(settings, a.target)?;
    let Some(m) = client.send(reqwest::Method::POST, "/maintenance", Some(body)).await? else { return Ok(ExitCode::FAILURE) };
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    println!("{}  {} to {}  {}", s("id"), s("start"), s("end"), s("title"));
    Ok(ExitCode::SUCCESS)
}

pub async fn end_maintenance(settings: &Settings, target: Target, id: &str) -> anyhow::Result<ExitCode> {
    let client = Client::new(settings, target)?;
    let Some(m) = client.send(reqwest::Method::POST, &format!("/maintenance/{id}/end"), None).await? else { return Ok(ExitCode::FAILURE) };
    println!("{} ended at {}", m.get("id").and_then(Value::as_str).unwrap_or(id), m.get("end").and_then(Value::as_str).unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}
