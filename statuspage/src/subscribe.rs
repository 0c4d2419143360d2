//! Subscriptions: email subscribers with double opt-in and signed unsubscribe links, webhook subscribers
//! added through the admin API, and the fan-out that queues a message for each of them when an incident or
//! a maintenance window is created or changes. Delivery is [`crate::deliver`]'s.
//!
//! Links carry an HMAC-SHA256 of their purpose and the subscriber's id under `subscriptions.secret`:
//! nothing is stored per link, an unsubscribe link works for as long as the secret does, and a
//! confirmation link expires after [`CONFIRM_TTL`]. Webhooks cannot be added from the public page (that
//! would let anyone make the server post to any address); an admin adds them.

use crate::config::StatusPageConfig;
use crate::render::{escape, human_time};
use crate::respond::{not_found, page};
use crate::subscribers::SubscriberKind;
use crate::StatusPage;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use watchpost_core::state::{Incident, Maintenance};
use watchpost_core::time::{now_nanos, Nanos};

/// How long a confirmation link works.
pub const CONFIRM_TTL: Nanos = 48 * 3_600_000_000_000;
/// A second subscription request for the same unconfirmed address within this sends no second email (a
/// public form must not become a way to flood someone's inbox).
const RESEND_AFTER: Nanos = 10 * 60_000_000_000;

pub use watchpost_core::sign::webhook_signature;
use watchpost_core::sign::{hmac_hex as hmac, verify_hex as verify};

pub fn confirm_link(cfg: &StatusPageConfig, secret: &str, id: &str, now: Nanos) -> String {
    let exp = (now + CONFIRM_TTL) / 1_000_000_000;
    format!("{}/subscribe/confirm?id={id}&exp={exp}&sig={}", cfg.url, hmac(secret, &format!("confirm:{id}:{exp}")))
}

pub fn unsubscribe_link(cfg: &StatusPageConfig, secret: &str, id: &str) -> String {
    format!("{}/unsubscribe?id={id}&sig={}", cfg.url, hmac(secret, &format!("unsubscribe:{id}")))
}

/// A small page of our own look for the subscription flow.
#[derive(Deserialize)]
pub struct SubscribeForm {
    email: String,
}

/// `POST /subscribe` from the page's form: stores the address unconfirmed and queues the confirmation. The
/// answer is the same whether the address was new, pending or confirmed, so the form tells nobody who
/// subscribes.
pub async fn subscribe(State(p): State<Arc<StatusPage>>, Form(f): Form<SubscribeForm>) -> Response {
    let Some(subs) = p.cfg.subscriptions.as_ref().filter(|s| s.smtp.is_some()) else {
        return not_found("this page offers no email subscriptions");
    };
    let email = f.email.trim();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        return page(&p.cfg, StatusCode::UNPROCESSABLE_ENTITY, "That is not an email address", "<p>Check the address and try again.</p>");
    }
    let result = async {
        let (s, _) = p.subscribers.add_subscriber(SubscriberKind::Email, email, false).await?;
        if s.confirmed_at.is_none() {
            let previous = p.subscribers.mark_confirmation_sent(&s.id).await?;
            if previous.is_none_or(|t| now_nanos() - t > RESEND_AFTER) {
                let link = confirm_link(&p.cfg, subs.secret.expose(), &s.id, now_nanos());
                let (subject, body) = confirmation_message(&p.cfg, &link);
                p.subscribers.enqueue(vec![(s.id.clone(), subject, body)]).await?;
                p.deliver_soon();
            }
        }
        Ok::<_, watchpost_core::state::StateError>(())
    }
    .await;
    match result {
        Ok(()) => page(
            &p.cfg,
            StatusCode::OK,
            "Check your inbox",
            &format!(
                "<p>If {} can receive mail, a message with a confirmation link is on its way. Nothing is sent until you confirm.</p>",
                escape(email)
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "subscription failed");
            page(&p.cfg, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "<p>Please try again later.</p>")
        }
    }
}

#[derive(Deserialize)]
pub struct ConfirmQuery {
    id: String,
    exp: i64,
    sig: String,
}

pub async fn confirm(State(p): State<Arc<StatusPage>>, Query(q): Query<ConfirmQuery>) -> Response {
    let Some(subs) = &p.cfg.subscriptions else { return not_found("this page offers no subscriptions") };
    let valid = verify(subs.secret.expose(), &format!("confirm:{}:{}", q.id, q.exp), &q.sig);
    if !valid || q.exp * 1_000_000_000 < now_nanos() {
        return page(
            &p.cfg,
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "<p>It may have expired: subscribe again from the page.</p>",
        );
    }
    match p.subscribers.confirm_subscriber(&q.id).await {
        Ok(s) => {
            tracing::info!(subscriber = %s.id, "email subscription confirmed");
            let link = unsubscribe_link(&p.cfg, subs.secret.expose(), &s.id);
            page(
                &p.cfg,
                StatusCode::OK,
                "You are subscribed",
                &format!(
                    "<p>{} will hear of new incidents, their updates and maintenance. <a href=\"{}\">Unsubscribe</a></p>",
                    escape(&s.address),
                    escape(&link)
                ),
            )
        }
        Err(_) => page(&p.cfg, StatusCode::BAD_REQUEST, "This link is not valid", "<p>The subscription no longer exists.</p>"),
    }
}

#[derive(Deserialize)]
pub struct UnsubscribeQuery {
    id: String,
    sig: String,
}

/// `GET /unsubscribe`: a button, not the deed (mail scanners follow links); `POST` unsubscribes, which is
/// also RFC 8058's one-click unsubscription that mail clients send.
pub async fn unsubscribe_form(State(p): State<Arc<StatusPage>>, Query(q): Query<UnsubscribeQuery>) -> Response {
    let Some(subs) = &p.cfg.subscriptions else { return not_found("this page offers no subscriptions") };
    if !verify(subs.secret.expose(), &format!("unsubscribe:{}", q.id), &q.sig) {
        return page(&p.cfg, StatusCode::BAD_REQUEST, "This link is not valid", "");
    }
    let action = format!("/unsubscribe?id={}&sig={}", escape(&q.id), escape(&q.sig));
    page(
        &p.cfg,
        StatusCode::OK,
        "Unsubscribe",
        &format!("<form method=\"post\" action=\"{action}\"><button type=\"submit\">Unsubscribe</button></form>"),
    )
}

pub async fn unsubscribe(State(p): State<Arc<StatusPage>>, Query(q): Query<UnsubscribeQuery>) -> Response {
    let Some(subs) = &p.cfg.subscriptions else { return not_found("this page offers no subscriptions") };
    if !verify(subs.secret.expose(), &format!("unsubscribe:{}", q.id), &q.sig) {
        return page(&p.cfg, StatusCode::BAD_REQUEST, "This link is not valid", "");
    }
    match p.subscribers.remove_subscriber(&q.id).await {
        Ok(_) => {
            tracing::info!(subscriber = %q.id, "unsubscribed");
            page(&p.cfg, StatusCode::OK, "You are unsubscribed", "<p>No more messages will be sent.</p>")
        }
        Err(e) => {
            tracing::error!(error = %e, "unsubscribe failed");
            page(&p.cfg, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "<p>Please try again later.</p>")
        }
    }
}

fn confirmation_message(cfg: &StatusPageConfig, link: &str) -> (String, String) {
    (
        format!("Confirm your subscription to {}", cfg.title),
        format!(
            "Someone (hopefully you) asked to receive updates from {} at this address.\n\nConfirm within 48 hours:\n{link}\n\nIf it was not you, ignore this message: nothing will be sent.\n",
            cfg.title
        ),
    )
}

/// What happened, for subscribers.
pub enum Event<'a> {
    Incident(&'a Incident),
    Maintenance(&'a Maintenance, &'static str),
}

/// Whether subscribers hear of it: an incident about private components only is not public.
fn public(cfg: &StatusPageConfig, e: &Event<'_>) -> bool {
    let is_public = |id: &str| cfg.public_components().any(|c| c.id == id);
    match e {
        Event::Incident(x) => x.components.is_empty() || x.components.iter().any(|(c, _)| is_public(c)),
        Event::Maintenance(m, _) => match &m.scope {
            watchpost_core::maintenance::Scope::All => true,
            watchpost_core::maintenance::Scope::Components(set) => set.iter().any(|c| is_public(c)),
            watchpost_core::maintenance::Scope::Endpoints(set) => {
                cfg.public_components().any(|c| c.endpoints.iter().any(|e| set.contains(e)))
            }
        },
    }
}

/// The email (subject, text) and the webhook JSON for an event.
pub fn messages(cfg: &StatusPageConfig, e: &Event<'_>) -> (String, String, serde_json::Value) {
    let name_of = |id: &str| cfg.public_components().find(|c| c.id == id).map(|c| c.name.clone());
    match e {
        Event::Incident(x) => {
            let latest = x.updates.first();
            let comps: Vec<String> = x.components.iter().filter_map(|(c, s)| name_of(c).map(|n| format!("{n}: {}", s.label()))).collect();
            let subject = format!("[{}] {}: {}", cfg.title, x.status.label(), x.name);
            let mut text = format!("{}\n\n{}: {}\n", x.name, x.status.label(), latest.map_or("", |u| u.body.as_str()));
            if let Some(u) = latest {
                text.push_str(&format!("{}\n", human_time(u.created_at, &cfg.tz)));
            }
            if !comps.is_empty() {
                text.push_str(&format!("\nAffected: {}\n", comps.join(", ")));
            }
            text.push_str(&format!("\n{}/incidents/{}\n", cfg.url, x.id));
            let hook = json!({
                "type": "incident",
                "incident": {"id": x.id, "name": x.name, "status": x.status.as_str(), "impact": x.impact.as_str(),
                    "shortlink": format!("{}/incidents/{}", cfg.url, x.id),
                    "latest_update": latest.map(|u| json!({"status": u.status.as_str(), "body": u.body, "created_at": crate::render::rfc3339(u.created_at)})),
                    "components": x.components.iter().filter(|(c, _)| name_of(c).is_some()).map(|(c, s)| json!({"id": c, "status": s.as_str()})).collect::<Vec<_>>()},
            });
            (subject, text, hook)
        }
        Event::Maintenance(m, what) => {
            let subject = format!("[{}] Maintenance {what}: {}", cfg.title, m.title);
            let text = format!(
                "{}\n\n{} to {}\n{}\n",
                m.title,
                human_time(m.starts_at, &cfg.tz),
                human_time(m.ends_at, &cfg.tz),
                if m.body.is_empty() { String::new() } else { format!("\n{}\n", m.body) }
            );
            let hook = json!({
                "type": "maintenance",
                "maintenance": {"id": m.id, "name": m.title, "event": what, "body": m.body,
                    "scheduled_for": crate::render::rfc3339(m.starts_at), "scheduled_until": crate::render::rfc3339(m.ends_at)},
            });
            (subject, text, hook)
        }
    }
}

/// Queues the event for every confirmed subscriber. Email gets the text with its own unsubscribe link;
/// webhooks get the JSON (signed at delivery).
pub async fn fan_out(p: &StatusPage, e: Event<'_>) {
    let Some(subs) = &p.cfg.subscriptions else { return };
    if !public(&p.cfg, &e) {
        return;
    }
    let (subject, text, hook) = messages(&p.cfg, &e);
    let result = async {
        let list = p.subscribers.subscribers(true).await?;
        let queued: Vec<(String, String, String)> = list
            .iter()
            .filter(|s| s.kind == SubscriberKind::Webhook || subs.smtp.is_some())
            .map(|s| match s.kind {
                SubscriberKind::Email => {
                    let body = format!("{text}\n--\nUnsubscribe: {}\n", unsubscribe_link(&p.cfg, subs.secret.expose(), &s.id));
                    (s.id.clone(), subject.clone(), body)
                }
                SubscriberKind::Webhook => (s.id.clone(), subject.clone(), hook.to_string()),
            })
            .collect();
        p.subscribers.enqueue(queued).await
    }
    .await;
    match result {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(messages = n, subject = %subject, "subscriber notifications queued");
            p.deliver_soon();
        }
        Err(e) => tracing::error!(error = %e, "could not queue subscriber notifications"),
    }
}
