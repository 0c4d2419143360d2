//! `[statuspage]`: what the public status page shows and how it is reached (DESIGN.md §5.7), checked against
//! the shared names of the core configuration. Its components and groups are shared vocabulary (the
//! publishers and reports use them too) and are read by core; their keys are listed here for the file's
//! documentation. Raw structs (phase one) and their validation (phase two) side by side.

use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use watchpost_core::config::check::{secret_or_file, section, shares_port};
use watchpost_core::config::defaults as d;
use watchpost_core::config::smtp::{smtp, RawSmtp};
use watchpost_core::config::{ComponentConfig, Config, ConfigErrors, Document, GroupConfig, Origin, Secret, SmtpConfig};
use watchpost_core::http::parse_http_url;

/// `[statuspage]`: the public status page, its JSON API and its admin API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatusPage {
    /// Address the status page listens on (default `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// The page's title (default `Status`).
    pub title: Option<String>,
    /// A sentence under the title.
    pub description: Option<String>,
    /// The public base URL (`https://status.example.com`), for feeds, badges and links in emails (default
    /// `http://` + `listen`).
    pub url: Option<String>,
    /// A logo file (SVG or PNG, at most 256 KiB) shown beside the title; served by the page itself.
    pub logo: Option<String>,
    /// IANA time zone in which the page shows times and days (default `UTC`).
    pub timezone: Option<String>,
    /// Links in the page's header: `[{ title = "Home", url = "https://example.com" }]`.
    pub links: Option<Vec<RawLink>>,
    /// Bearer token of the admin API (incidents, maintenance). Without it the admin API answers 401 to
    /// everything. Use `${ENV_VAR}` or `admin_token_file`.
    pub admin_token: Option<Secret>,
    /// A file holding the admin token (instead of `admin_token`).
    pub admin_token_file: Option<String>,
    /// How much a second of `partial_outage` counts against a component's uptime (default 0.3; a second of
    /// `major_outage` counts fully).
    pub partial_outage_weight: Option<f64>,
    /// Days of uptime bars (default 90).
    pub history_days: Option<u32>,
    /// `[[statuspage.groups]]`: headings that components sit under (read by core: shared).
    pub groups: Option<Value>,
    /// `[[statuspage.components]]`: what the page lists (default: one per endpoint `component`; read by
    /// core: shared).
    pub components: Option<Value>,
    /// `[statuspage.subscriptions]`: email (double opt-in) and webhook subscribers.
    pub subscriptions: Option<RawSubscriptions>,
}

/// `[statuspage.subscriptions]`: who is told of incidents and maintenance.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscriptions {
    /// Key that signs confirmation and unsubscribe links and webhook bodies (at least 32 characters; keep it
    /// stable, or earlier unsubscribe links stop working). Use `${ENV_VAR}` or `secret_file`.
    pub secret: Option<Secret>,
    pub secret_file: Option<String>,
    /// SMTP server for subscriber email; without it the page offers no email subscription.
    pub smtp_host: Option<String>,
    /// Default 587 (`starttls`), 465 (`tls`) or 25 (`none`).
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (only for a relay on the same host).
    pub smtp_tls: Option<String>,
    pub smtp_username: Option<String>,
    /// Use `${ENV_VAR}` or `smtp_password_file`.
    pub smtp_password: Option<Secret>,
    pub smtp_password_file: Option<String>,
    /// Sender, `Acme Status <status@acme.example>` (required with `smtp_host`).
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct StatusPageConfig {
    /// Whether the file has a `[statuspage]` section: `watchpost run` starts the page only then (a public
    /// page is something to opt into); `watchpost statuspage` runs it either way.
    pub configured: bool,
    pub listen: SocketAddr,
    pub title: String,
    pub description: String,
    /// Public base URL without a trailing slash.
    pub url: String,
    pub logo: Option<PathBuf>,
    pub tz: jiff::tz::TimeZone,
    pub tz_name: String,
    pub links: Vec<(String, String)>,
    pub admin_token: Option<Secret>,
    pub partial_outage_weight: f64,
    pub history_days: u32,
    /// The shared groups and components (core's), which the page lists.
    pub groups: Vec<GroupConfig>,
    pub components: Vec<ComponentConfig>,
    pub subscriptions: Option<SubscriptionsConfig>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionsConfig {
    pub secret: Secret,
    pub smtp: Option<SmtpConfig>,
}

impl StatusPageConfig {
    /// The `status:` line of `watchpost check-config`'s summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let sp = self;
        let private = sp.components.iter().filter(|c| c.private).count();
        if !sp.configured {
            out.push_str("status:    no [statuspage] section (`watchpost run` serves no page)\n");
        } else {
            out.push_str(&format!(
                "status:    http://{} \"{}\": {} component(s) ({} private) in {} group(s), times in {}, admin API {}\n",
                sp.listen,
                sp.title,
                sp.components.len(),
                private,
                sp.groups.len(),
                sp.tz_name,
                if sp.admin_token.is_some() { "on" } else { "off (no admin_token)" }
            ));
        }
        out
    }

    /// Public components, in page order.
    pub fn public_components(&self) -> impl Iterator<Item = &ComponentConfig> {
        self.components.iter().filter(|c| !c.private)
    }

    /// Phase two of `[statuspage]`: every error goes to `errors`, with its key path and line.
    pub fn from_document(doc: &Document, shared: &Config, errors: &mut ConfigErrors) -> StatusPageConfig {
        let value = match &doc.tree {
            Value::Object(root) => root.get("statuspage"),
            _ => None,
        };
        let page =
            StatusPageConfig { groups: shared.groups.clone(), components: shared.components.clone(), ..statuspage(doc, value, errors) };
        if page.configured && shares_port(shared.server.listen, page.listen) {
            let given = matches!(&doc.tree, Value::Object(root) if root.get("server").is_some_and(|s| s.get("listen").is_some()));
            let at = match doc.origin("server.listen") {
                Some(Origin::Line(l)) if given => format!(" (line {l})"),
                Some(Origin::Env(name)) => format!(" (from {name})"),
                _ => " (its default)".to_string(),
            };
            errors.push(doc.error(
                "statuspage.listen",
                format!("{} is also `server.listen`{at}: `watchpost run` serves both, so give each its own port", page.listen),
            ));
        }
        page
    }
}

fn statuspage(doc: &Document, value: Option<&Value>, errors: &mut ConfigErrors) -> StatusPageConfig {
    let raw: RawStatusPage = value.and_then(|v| section(doc, "statuspage", v, errors)).unwrap_or_default();
    let listen_raw = raw.listen.as_deref().unwrap_or(d::STATUSPAGE_LISTEN);
    let listen = listen_raw.parse().unwrap_or_else(|_| {
        errors
            .push(doc.error("statuspage.listen", format!("invalid address {listen_raw:?}; expected host:port such as \"127.0.0.1:8080\"")));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let url = match raw.url {
        Some(u) => {
            if let Err(e) = parse_http_url(&u) {
                errors.push(doc.error("statuspage.url", format!("{e}, such as \"https://status.example.com\"")));
            }
            u.trim_end_matches('/').to_string()
        }
        None => format!("http://{listen}"),
    };
    let logo = raw.logo.map(|l| doc.path(&l));
    if let Some(p) = &logo {
        let ext = p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match std::fs::metadata(p) {
            Err(e) => errors.push(doc.error("statuspage.logo", format!("cannot read {}: {e}", p.display()))),
            Ok(m) if m.len() > 256 * 1024 => errors.push(doc.error("statuspage.logo", format!("{} is larger than 256 KiB", p.display()))),
            Ok(_) if !matches!(ext.as_deref(), Some("svg" | "png")) => {
                errors.push(doc.error("statuspage.logo", format!("{}: use an .svg or .png file", p.display())))
            }
            Ok(_) => {}
        }
    }
    let tz_name = raw.timezone.unwrap_or_else(|| "UTC".into());
    let tz = jiff::tz::TimeZone::get(&tz_name).unwrap_or_else(|_| {
        errors.push(doc.error("statuspage.timezone", format!("unknown time zone {tz_name:?}: use an IANA name such as \"Europe/Berlin\"")));
        jiff::tz::TimeZone::UTC
    });
    let mut links = Vec::new();
    for (i, l) in raw.links.unwrap_or_default().into_iter().enumerate() {
        // Only http(s): a `javascript:` link in the header would run on every visitor's click.
        if let Err(e) = parse_http_url(&l.url) {
            errors.push(doc.error(&format!("statuspage.links[{i}].url"), e));
        }
        links.push((l.title, l.url));
    }
    let admin_token = secret_or_file(doc, "statuspage.admin_token", raw.admin_token, raw.admin_token_file, errors);
    if admin_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
        errors.push(doc.error("statuspage.admin_token", "is shorter than 16 characters: use a long random token (`openssl rand -hex 24`)"));
    }
    let weight = raw.partial_outage_weight.unwrap_or(d::PARTIAL_OUTAGE_WEIGHT);
    if !(0.0..=1.0).contains(&weight) {
        errors.push(doc.error("statuspage.partial_outage_weight", format!("{weight} is not between 0 and 1")));
    }
    let history_days = raw.history_days.unwrap_or(d::HISTORY_DAYS);
    if !(1..=365).contains(&history_days) {
        errors.push(doc.error("statuspage.history_days", format!("{history_days} is not between 1 and 365")));
    }

    let subscriptions = raw.subscriptions.and_then(|r| subscriptions(doc, r, errors));
    StatusPageConfig {
        configured: value.is_some(),
        subscriptions,
        listen,
        title: raw.title.unwrap_or_else(|| "Status".into()),
        description: raw.description.unwrap_or_default(),
        url,
        logo,
        tz,
        tz_name,
        links,
        admin_token,
        partial_outage_weight: weight,
        history_days,
        groups: Vec::new(),
        components: Vec::new(),
    }
}

fn subscriptions(doc: &Document, raw: RawSubscriptions, errors: &mut ConfigErrors) -> Option<SubscriptionsConfig> {
    let key = "statuspage.subscriptions";
    let secret = secret_or_file(doc, &format!("{key}.secret"), raw.secret, raw.secret_file, errors);
    match &secret {
        None => errors.push(doc.error(key, "missing key `secret` or `secret_file`: it signs confirmation and unsubscribe links")),
        Some(s) if s.expose().len() < 32 => {
            errors.push(doc.error(&format!("{key}.secret"), "is shorter than 32 characters: use `openssl rand -hex 32`"))
        }
        Some(_) => {}
    }
    let smtp = smtp(
        doc,
        key,
        RawSmtp {
            host: raw.smtp_host,
            port: raw.smtp_port,
            tls: raw.smtp_tls,
            username: raw.smtp_username,
            password: raw.smtp_password,
            password_file: raw.smtp_password_file,
            from: raw.from,
        },
        errors,
    );
    secret.map(|secret| SubscriptionsConfig { secret, smtp })
}
