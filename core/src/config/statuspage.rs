//! `[state]` and `[statuspage]`: where decisions are kept, and what the public status page shows (DESIGN.md
//! §5.7). Raw structs (phase one) and their validation (phase two) side by side, because no other section
//! shares them.

use super::check::{check_name, secret_or_file, section};
use super::defaults as d;
use super::secret::Secret;
use super::smtp::{smtp, RawSmtp, SmtpConfig};
use super::{ConfigErrors, Document, EndpointConfig, SqliteConfig, StoreConfig};
use crate::http::parse_http_url;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[state]`: the local state database (incidents, maintenance started through the admin API).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// SQLite file (default: `state.db` beside the SQLite store's file, or `data/state.db` with InfluxDB).
    pub path: Option<String>,
}

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
    /// `[[statuspage.groups]]`: headings that components sit under.
    pub groups: Option<Vec<RawGroup>>,
    /// `[[statuspage.components]]`: what the page lists (default: one per endpoint `component`).
    pub components: Option<Vec<RawComponent>>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    /// Identifier used by components' `group`.
    pub id: String,
    /// Heading shown on the page (default: the id).
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    /// The component: endpoints and checks with this `component` back it.
    pub id: String,
    /// Name on the page (default: the id).
    pub name: Option<String>,
    pub description: Option<String>,
    /// The group it is listed under.
    pub group: Option<String>,
    /// Never shown publicly: not on the page, in the JSON, feeds or badges (default false).
    pub private: Option<bool>,
    /// Show the probed URLs and addresses on the page (default false: the public page never reveals them).
    pub show_targets: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct StateConfig {
    pub path: PathBuf,
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
    pub groups: Vec<GroupConfig>,
    pub components: Vec<ComponentConfig>,
    pub subscriptions: Option<SubscriptionsConfig>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionsConfig {
    pub secret: Secret,
    pub smtp: Option<SmtpConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentConfig {
    pub id: String,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub private: bool,
    pub show_targets: bool,
    /// The endpoint and check ids whose points decide its status (from their `component`).
    pub endpoints: Vec<String>,
}

impl StatusPageConfig {
    /// Public components, in page order.
    pub fn public_components(&self) -> impl Iterator<Item = &ComponentConfig> {
        self.components.iter().filter(|c| !c.private)
    }
}

pub(super) fn state(doc: &Document, value: Option<&Value>, store: &StoreConfig, errors: &mut ConfigErrors) -> StateConfig {
    let raw: RawState = value.and_then(|v| section(doc, "state", v, errors)).unwrap_or_default();
    let path = match (raw.path, store) {
        (Some(p), _) => doc.path(&p),
        (None, StoreConfig::Sqlite(SqliteConfig { path, .. })) => path.with_file_name("state.db"),
        (None, StoreConfig::Influxdb(_)) => doc.path(d::STATE_PATH),
    };
    StateConfig { path }
}

pub(super) fn statuspage(
    doc: &Document,
    value: Option<&Value>,
    endpoints: &[EndpointConfig],
    errors: &mut ConfigErrors,
) -> StatusPageConfig {
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
    let logo = raw.logo.map(PathBuf::from);
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

    let mut by_component: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for e in endpoints {
        if let Some(c) = e.component.as_deref() {
            let list = by_component.entry(c).or_insert_with(|| {
                order.push(c);
                Vec::new()
            });
            // A check runs once per environment, under one id.
            if !list.contains(&e.id) {
                list.push(e.id.clone());
            }
        }
    }
    let mut groups = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, g) in raw.groups.unwrap_or_default().into_iter().enumerate() {
        let path = format!("statuspage.groups[{i}]");
        check_name(doc, &format!("{path}.id"), &g.id, errors);
        if !ids.insert(g.id.clone()) {
            errors.push(doc.error(&format!("{path}.id"), format!("duplicate group id `{}`", g.id)));
        }
        groups.push(GroupConfig { name: g.name.unwrap_or_else(|| g.id.clone()), description: g.description.unwrap_or_default(), id: g.id });
    }
    let components = match raw.components {
        None => order
            .iter()
            .map(|c| ComponentConfig {
                id: c.to_string(),
                name: c.to_string(),
                description: String::new(),
                group: None,
                private: false,
                show_targets: false,
                endpoints: by_component.get(c).cloned().unwrap_or_default(),
            })
            .collect(),
        Some(list) => {
            let mut out = Vec::new();
            for (i, c) in list.into_iter().enumerate() {
                let path = format!("statuspage.components[{i}]");
                if !ids.insert(c.id.clone()) {
                    errors.push(
                        doc.error(&format!("{path}.id"), format!("duplicate id `{}` (groups and components share one namespace)", c.id)),
                    );
                }
                let backing = by_component.get(c.id.as_str()).cloned().unwrap_or_default();
                if backing.is_empty() {
                    let known = if order.is_empty() { "(none: give endpoints a `component`)".to_string() } else { order.join(", ") };
                    errors.push(doc.error(
                        &format!("{path}.id"),
                        format!("no endpoint or check has component `{}`, so nothing decides its status; components: {known}", c.id),
                    ));
                }
                if let Some(g) = &c.group {
                    if !groups.iter().any(|x| &x.id == g) {
                        let known: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
                        errors.push(doc.error(
                            &format!("{path}.group"),
                            format!("no group `{g}` in [[statuspage.groups]]; groups: {}", known.join(", ")),
                        ));
                    }
                }
                out.push(ComponentConfig {
                    name: c.name.unwrap_or_else(|| c.id.clone()),
                    description: c.description.unwrap_or_default(),
                    group: c.group,
                    private: c.private.unwrap_or(false),
                    show_targets: c.show_targets.unwrap_or(false),
                    endpoints: backing,
                    id: c.id,
                });
            }
            out
        }
    };
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
        groups,
        components,
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
