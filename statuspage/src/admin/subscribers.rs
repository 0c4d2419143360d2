//! `/api/v1/admin/subscribers`: list, add (confirmed at once: the operator vouches) and remove subscribers.

use super::*;

pub(super) fn subscriber_json(s: &crate::subscribers::Subscriber) -> Value {
    json!({
        "id": s.id,
        "kind": s.kind.as_str(),
        "address": s.address,
        "created_at": time(Some(s.created_at)),
        "confirmed_at": time(s.confirmed_at),
    })
}

pub(super) async fn list_subscribers(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    match p.subscribers.subscribers(false).await {
        Ok(list) => reply(StatusCode::OK, json!({"subscribers": list.iter().map(subscriber_json).collect::<Vec<_>>()})),
        Err(e) => state_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscriberBody {
    /// An http(s) URL that receives a signed JSON POST per event.
    webhook: Option<String>,
    /// An address subscribed without the confirmation step (the admin vouches for it).
    email: Option<String>,
}

pub(super) async fn add_subscriber(_: Admin, State(p): State<Arc<StatusPage>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let b: SubscriberBody = match parse(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut invalid = Invalid::default();
    if p.cfg.subscriptions.is_none() {
        invalid.push("", "subscriptions are off: add [statuspage.subscriptions] with a secret");
    }
    let (kind, address) = match (b.webhook, b.email) {
        (Some(url), None) => {
            // The shared check: ports in range, and the URL shown without credentials or query (tokens).
            if let Err(e) = watchpost_core::http::parse_http_url(&url) {
                invalid.push("webhook", e);
            }
            (crate::subscribers::SubscriberKind::Webhook, url)
        }
        (None, Some(email)) => {
            if email.parse::<lettre::Address>().is_err() {
                invalid.push("email", format!("{email:?} is not an email address"));
            }
            (crate::subscribers::SubscriberKind::Email, email)
        }
        _ => {
            invalid.push("webhook", "give exactly one of `webhook` or `email`");
            (crate::subscribers::SubscriberKind::Webhook, String::new())
        }
    };
    if let Err(r) = invalid.into_result() {
        return r;
    }
    match p.subscribers.add_subscriber(kind, &address, true).await {
        Ok((s, new)) => {
            tracing::info!(subscriber = %s.id, kind = kind.as_str(), "subscriber added through the admin API");
            let s = if s.confirmed_at.is_none() { p.subscribers.confirm_subscriber(&s.id).await.unwrap_or(s) } else { s };
            reply(if new { StatusCode::CREATED } else { StatusCode::OK }, subscriber_json(&s))
        }
        Err(e) => state_error(e),
    }
}

pub(super) async fn remove_subscriber(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    match p.subscribers.remove_subscriber(&id).await {
        Ok(true) => reply(StatusCode::OK, json!({"removed": id})),
        Ok(false) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no subscriber with id `{id}`")})),
        Err(e) => state_error(e),
    }
}
