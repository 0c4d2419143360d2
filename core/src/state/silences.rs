//! Silences (migration 6): matchers over alert labels and a time range in which the alerts they match do
//! not page. Kept here so that they survive restarts and every alerting process sharing the file obeys
//! the same ones; the alerting crate decides what they hold back.

use super::{new_id, StateDb, StateError};
use crate::labels::Matcher;
use crate::time::Nanos;
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    /// As given (`component=checkout`), each one parsed again when read.
    pub matchers: Vec<String>,
    pub starts_at: Nanos,
    /// When it ends (or ended, when expired early).
    pub ends_at: Nanos,
    pub created_by: String,
    pub comment: String,
    pub created_at: Nanos,
    /// Set when it was expired before its end.
    pub expired_at: Option<Nanos>,
}

impl Silence {
    pub fn active_at(&self, now: Nanos) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// The matchers, parsed (a stored matcher that no longer parses matches nothing, rather than everything).
    pub fn parsed(&self) -> Option<Vec<Matcher>> {
        self.matchers.iter().map(|m| Matcher::parse(m).ok()).collect()
    }
}

#[derive(Debug, Clone)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: Nanos,
    pub ends_at: Nanos,
    pub created_by: String,
    pub comment: String,
}

const COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Silence> {
    let matchers: String = r.get(1)?;
    Ok(Silence {
        id: r.get(0)?,
        matchers: serde_json::from_str(&matchers).unwrap_or_default(),
        starts_at: r.get(2)?,
        ends_at: r.get(3)?,
        created_by: r.get(4)?,
        comment: r.get(5)?,
        created_at: r.get(6)?,
        expired_at: r.get(7)?,
    })
}

fn load(c: &Connection, id: &str) -> Result<Option<Silence>, StateError> {
    Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM silence WHERE id = ?1"))?.query_row(params![id], row).optional()?)
}

impl StateDb {
    /// Stores a silence; the caller has checked its matchers and range.
    pub async fn create_silence(&self, new: NewSilence, now: Nanos) -> Result<Silence, StateError> {
        self.with(move |c| {
            let id = new_id();
            let matchers: Vec<String> = new.matchers.iter().map(Matcher::to_string).collect();
            c.execute(
                &format!("INSERT INTO silence ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)"),
                params![
                    id,
                    serde_json::to_string(&matchers).unwrap_or_else(|_| "[]".into()),
                    new.starts_at,
                    new.ends_at,
                    new.created_by,
                    new.comment,
                    now
                ],
            )?;
            load(c, &id)?.ok_or(StateError::NotFound { what: "silence", id })
        })
        .await
    }

    /// Silences that have not ended by `since`, by start (`watchpost silence list`, the evaluator).
    pub async fn silences(&self, since: Nanos) -> Result<Vec<Silence>, StateError> {
        self.with(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM silence WHERE ends_at > ?1 ORDER BY starts_at, id"))?
                .query_map(params![since], row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Ends a silence now. Expiring one that is over is a conflict.
    pub async fn expire_silence(&self, id: &str, now: Nanos) -> Result<Silence, StateError> {
        let id = id.to_string();
        self.with(move |c| {
            let s = load(c, &id)?.ok_or_else(|| StateError::NotFound { what: "silence", id: id.clone() })?;
            if s.ends_at <= now {
                return Err(StateError::Conflict(format!("silence `{id}` has already ended")));
            }
            c.execute("UPDATE silence SET ends_at = ?2, starts_at = MIN(starts_at, ?2), expired_at = ?2 WHERE id = ?1", params![id, now])?;
            load(c, &id)?.ok_or(StateError::NotFound { what: "silence", id })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    #[tokio::test]
    async fn silences_are_kept_listed_until_they_end_and_expire_early() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let db = StateDb::open(&path).await.unwrap();
        let new = NewSilence {
            matchers: vec![Matcher::parse("component=checkout").unwrap(), Matcher::parse(r#"severity=~"critical|error""#).unwrap()],
            starts_at: 100,
            ends_at: 200,
            created_by: "alice".into(),
            comment: "deploy".into(),
        };
        let s = db.create_silence(new, 50).await.unwrap();
        assert!(!s.active_at(99) && s.active_at(100) && s.active_at(199) && !s.active_at(200));
        let labels: Labels =
            [("component", "checkout"), ("severity", "error")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(crate::labels::all_match(&s.parsed().unwrap(), &labels));
        drop(db);
        let db = StateDb::open(&path).await.unwrap();
        assert_eq!(db.silences(150).await.unwrap(), vec![s.clone()], "kept across reopening");
        assert!(db.silences(200).await.unwrap().is_empty(), "over");
        let e = db.expire_silence(&s.id, 120).await.unwrap();
        assert_eq!((e.ends_at, e.expired_at), (120, Some(120)));
        assert!(!e.active_at(120));
        assert!(matches!(db.expire_silence(&s.id, 130).await, Err(StateError::Conflict(_))));
        assert!(matches!(db.expire_silence("nope", 130).await, Err(StateError::NotFound { .. })));
    }
}
