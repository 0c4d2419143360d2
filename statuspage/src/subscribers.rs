//! The status page's tables in the state database: subscribers and the outbox of messages to them. The
//! schema is migration 2 of `core::state` (one ordered list, one `user_version`); the queries are here,
//! because nothing but the status page reads or writes them.

use rusqlite::{params, Connection, OptionalExtension};
use watchpost_core::state::{new_id, unexpected, StateDb, StateError};
use watchpost_core::time::{now_nanos, Nanos};

/// How a subscriber is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberKind {
    Email,
    Webhook,
}

impl SubscriberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Email => "email",
            SubscriberKind::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(SubscriberKind::Email),
            "webhook" => Some(SubscriberKind::Webhook),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: String,
    pub kind: SubscriberKind,
    /// An email address or a webhook URL.
    pub address: String,
    pub created_at: Nanos,
    /// `None` until an email subscriber follows the confirmation link (webhooks added by an admin are
    /// confirmed at once).
    pub confirmed_at: Option<Nanos>,
    pub confirm_sent_at: Option<Nanos>,
}

/// A message waiting for (or past) delivery. For email, `subject` and `body` are the message; for a
/// webhook, `body` is the JSON to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub subscriber: Subscriber,
    pub subject: String,
    pub body: String,
    pub attempts: u32,
}

/// Subscribers and their outbox, over the shared state database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Subscribers {
    db: StateDb,
}

impl Subscribers {
    pub fn new(db: StateDb) -> Self {
        Subscribers { db }
    }

    /// Adds a subscriber, or returns the existing one with that address; `true` when it was new.
    pub async fn add_subscriber(&self, kind: SubscriberKind, address: &str, confirmed: bool) -> Result<(Subscriber, bool), StateError> {
        let address = address.to_string();
        self.db
            .with(move |c| {
                let now = now_nanos();
                let inserted = c.execute(
                    "INSERT INTO subscriber (id, kind, address, created_at, confirmed_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, address) DO NOTHING",
                    params![new_id(), kind.as_str(), address, now, confirmed.then_some(now)],
                )? == 1;
                let id: String =
                    c.query_row("SELECT id FROM subscriber WHERE kind = ?1 AND address = ?2", params![kind.as_str(), address], |r| {
                        r.get(0)
                    })?;
                let s = load_subscriber(c, &id)?.ok_or(StateError::NotFound { what: "subscriber", id })?;
                Ok((s, inserted))
            })
            .await
    }

    /// Marks an email subscriber confirmed (idempotent).
    pub async fn confirm_subscriber(&self, id: &str) -> Result<Subscriber, StateError> {
        let id = id.to_string();
        self.db
            .with(move |c| {
                c.execute("UPDATE subscriber SET confirmed_at = COALESCE(confirmed_at, ?2) WHERE id = ?1", params![id, now_nanos()])?;
                load_subscriber(c, &id)?.ok_or(StateError::NotFound { what: "subscriber", id })
            })
            .await
    }

    /// Records that a confirmation message was queued now; returns the time of the previous one.
    pub async fn mark_confirmation_sent(&self, id: &str) -> Result<Option<Nanos>, StateError> {
        let id = id.to_string();
        self.db
            .with(move |c| {
                let before: Option<Nanos> =
                    c.query_row("SELECT confirm_sent_at FROM subscriber WHERE id = ?1", params![id], |r| r.get(0)).optional()?.flatten();
                c.execute("UPDATE subscriber SET confirm_sent_at = ?2 WHERE id = ?1", params![id, now_nanos()])?;
                Ok(before)
            })
            .await
    }

    /// Removes a subscriber and whatever was still waiting for them; `false` when there was none.
    pub async fn remove_subscriber(&self, id: &str) -> Result<bool, StateError> {
        let id = id.to_string();
        self.db
            .with(move |c| {
                let tx = watchpost_core::sqlite::write_transaction(c)?;
                tx.execute("DELETE FROM notification WHERE subscriber = ?1 AND sent_at IS NULL", params![id])?;
                let n = tx.execute("DELETE FROM subscriber WHERE id = ?1", params![id])?;
                tx.commit()?;
                Ok(n == 1)
            })
            .await
    }

    /// Every subscriber, or only the confirmed ones.
    pub async fn subscribers(&self, confirmed_only: bool) -> Result<Vec<Subscriber>, StateError> {
        self.db
            .with(move |c| {
                let ids: Vec<String> = c
                    .prepare_cached("SELECT id FROM subscriber WHERE ?1 = 0 OR confirmed_at IS NOT NULL ORDER BY created_at, id")?
                    .query_map(params![confirmed_only], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.extend(load_subscriber(c, &id)?);
                }
                Ok(out)
            })
            .await
    }

    /// Queues messages, all or none: `(subscriber id, subject, body)`.
    pub async fn enqueue(&self, messages: Vec<(String, String, String)>) -> Result<usize, StateError> {
        self.db
            .with(move |c| {
                let now = now_nanos();
                let tx = watchpost_core::sqlite::write_transaction(c)?;
                for (sub, subject, body) in &messages {
                    tx.execute(
                        "INSERT INTO notification (subscriber, subject, body, created_at, next_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                        params![sub, subject, body, now],
                    )?;
                }
                tx.commit()?;
                Ok(messages.len())
            })
            .await
    }

    /// Up to `limit` messages due at `now`, oldest first.
    pub async fn due_notifications(&self, now: Nanos, limit: usize) -> Result<Vec<Notification>, StateError> {
        self.db
            .with(move |c| {
                let rows: Vec<(i64, String, String, String, u32)> = c
                    .prepare_cached(
                        "SELECT id, subscriber, subject, body, attempts FROM notification
                     WHERE sent_at IS NULL AND failed_at IS NULL AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2",
                    )?
                    .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::with_capacity(rows.len());
                for (id, sub, subject, body, attempts) in rows {
                    match load_subscriber(c, &sub)? {
                        Some(subscriber) => out.push(Notification { id, subscriber, subject, body, attempts }),
                        // Unsubscribed meanwhile: nothing to deliver.
                        None => {
                            c.execute(
                                "UPDATE notification SET failed_at = ?2, last_error = 'unsubscribed' WHERE id = ?1",
                                params![id, now],
                            )?;
                        }
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Records a delivery attempt: sent, to be retried at `retry_at`, or given up (`retry_at` `None`).
    pub async fn record_delivery(&self, id: i64, result: Result<(), (String, Option<Nanos>)>) -> Result<(), StateError> {
        self.db
            .with(move |c| {
                let now = now_nanos();
                match result {
                    Ok(()) => c.execute(
                        "UPDATE notification SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                        params![id, now],
                    )?,
                    Err((e, Some(at))) => c.execute(
                        "UPDATE notification SET attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
                        params![id, at, e],
                    )?,
                    Err((e, None)) => c.execute(
                        "UPDATE notification SET attempts = attempts + 1, failed_at = ?2, last_error = ?3 WHERE id = ?1",
                        params![id, now, e],
                    )?,
                };
                Ok(())
            })
            .await
    }

    /// Counts of the outbox: (waiting, sent, failed), for metrics and tests.
    pub async fn outbox_counts(&self) -> Result<(u64, u64, u64), StateError> {
        self.db.with(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(SUM(sent_at IS NULL AND failed_at IS NULL), 0), COALESCE(SUM(sent_at IS NOT NULL), 0), COALESCE(SUM(failed_at IS NOT NULL), 0) FROM notification",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
            )?)
        })
        .await
    }
}

fn load_subscriber(c: &Connection, id: &str) -> Result<Option<Subscriber>, StateError> {
    let row = c
        .prepare_cached("SELECT kind, address, created_at, confirmed_at, confirm_sent_at FROM subscriber WHERE id = ?1")?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let Some((kind, address, created_at, confirmed_at, confirm_sent_at)) = row else { return Ok(None) };
    let kind = SubscriberKind::parse(&kind).ok_or_else(|| unexpected("subscriber kind", &kind))?;
    Ok(Some(Subscriber { id: id.to_string(), kind, address, created_at, confirmed_at, confirm_sent_at }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_and_their_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let db = Subscribers::new(StateDb::open(&dir.path().join("state.db")).await.unwrap());
        let (a, new) = db.add_subscriber(SubscriberKind::Email, "a@example.com", false).await.unwrap();
        assert!(new && a.confirmed_at.is_none());
        let (again, new) = db.add_subscriber(SubscriberKind::Email, "a@example.com", false).await.unwrap();
        assert!(!new && again.id == a.id, "one subscriber per address");
        assert!(db.subscribers(true).await.unwrap().is_empty());
        assert!(db.confirm_subscriber(&a.id).await.unwrap().confirmed_at.is_some());
        let (hook, _) = db.add_subscriber(SubscriberKind::Webhook, "http://127.0.0.1:9/h", true).await.unwrap();
        assert_eq!(db.subscribers(true).await.unwrap().len(), 2);

        db.enqueue(vec![(a.id.clone(), "s1".into(), "b1".into()), (hook.id.clone(), "s2".into(), "{}".into())]).await.unwrap();
        let due = db.due_notifications(now_nanos(), 10).await.unwrap();
        assert_eq!(due.len(), 2);
        db.record_delivery(due[0].id, Ok(())).await.unwrap();
        db.record_delivery(due[1].id, Err(("503".into(), Some(now_nanos() + 60_000_000_000)))).await.unwrap();
        assert!(db.due_notifications(now_nanos(), 10).await.unwrap().is_empty(), "the retry is not due yet");
        assert_eq!(db.outbox_counts().await.unwrap(), (1, 1, 0));
        assert!(db.remove_subscriber(&hook.id).await.unwrap());
        assert_eq!(db.outbox_counts().await.unwrap(), (0, 1, 0), "what waited for a removed subscriber is gone");
        assert!(!db.remove_subscriber(&hook.id).await.unwrap());
    }
}
