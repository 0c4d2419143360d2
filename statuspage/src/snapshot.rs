//! What the page shows at one instant, built by a pure function from what was read: the endpoints' latest
//! states, the maintenance windows, the incidents and the rollup history. Every renderer (HTML, JSON,
//! badges, feeds, the static export) reads the same snapshot, so they cannot disagree.
//!
//! Private components are dropped here, once: nothing downstream can show what is not in the snapshot.

use crate::config::StatusPageConfig;
use crate::history::{DayUptime, History, DAY, HOUR, MINUTE};
use crate::status::overall;
use std::collections::{BTreeMap, HashMap};
use watchpost_core::health::{component_status, Voting};
use watchpost_core::maintenance::{Scope, Window};
use watchpost_core::model::{ComponentStatus, EndpointState};
use watchpost_core::state::{Impact, Incident};
use watchpost_core::time::Nanos;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: Nanos,
    pub overall_indicator: &'static str,
    pub overall_description: &'static str,
    pub components: Vec<ComponentView>,
    pub groups: Vec<GroupView>,
    /// Incidents of the history period touching public components (or none), newest first.
    pub incidents: Vec<Incident>,
    /// Maintenance windows: past ones of the history period, active and upcoming, by start.
    pub maintenances: Vec<MaintenanceView>,
    /// Start of each day of the uptime bars, in the page's time zone, oldest first.
    pub day_starts: Vec<Nanos>,
    /// Set while the store cannot be read: since when. The page then says so instead of presenting the last
    /// states it read (or none) as the present.
    pub unavailable_since: Option<Nanos>,
}

/// What the overall status says while the store cannot be read.
pub const UNAVAILABLE: &str = "Status data unavailable";

impl Snapshot {
    /// This snapshot as the page shows it while the store has been unreadable since `since`.
    pub fn unavailable(&self, since: Nanos) -> Snapshot {
        Snapshot { unavailable_since: Some(since), overall_description: UNAVAILABLE, ..self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct ComponentView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub position: usize,
    pub status: ComponentStatus,
    /// When the displayed status began, as far as the latest states tell.
    pub since: Nanos,
    /// Probe targets, only for components that opt in (`show_targets`).
    pub targets: Vec<String>,
    pub days: Vec<DayUptime>,
    pub total: DayUptime,
    pub latency_24h: Vec<(Nanos, f64)>,
    pub latency_30d: Vec<(Nanos, f64)>,
}

#[derive(Debug, Clone)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub position: usize,
    pub status: ComponentStatus,
    pub components: Vec<String>,
    /// The mean of its components' uptime (DESIGN.md §5.7).
    pub uptime_percent: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceStatus {
    Scheduled,
    InProgress,
    Completed,
}

impl MaintenanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceStatus::Scheduled => "scheduled",
            MaintenanceStatus::InProgress => "in_progress",
            MaintenanceStatus::Completed => "completed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MaintenanceStatus::Scheduled => "Scheduled",
            MaintenanceStatus::InProgress => "In progress",
            MaintenanceStatus::Completed => "Completed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MaintenanceView {
    /// Unique per occurrence: a recurring window's id with its start.
    pub id: String,
    pub title: String,
    pub body: String,
    pub start: Nanos,
    pub end: Nanos,
    pub status: MaintenanceStatus,
    /// Public components it covers (all of them for an `all` window).
    pub components: Vec<String>,
}

/// Everything [`build`] reads.
pub struct Inputs<'a> {
    pub cfg: &'a StatusPageConfig,
    pub now: Nanos,
    pub voting: &'a Voting,
    pub states: &'a [EndpointState],
    /// Maintenance windows from every source over the history period and the coming weeks.
    pub windows: &'a [Window],
    /// Each endpoint's component (from the configuration), to resolve component-scoped windows.
    pub endpoint_components: &'a HashMap<String, String>,
    pub targets: &'a HashMap<String, String>,
    pub incidents: &'a [Incident],
    pub history: &'a History,
}

/// Starts of the last `n` days in `tz`, oldest first; the last is today's.
pub fn day_starts(now: Nanos, tz: &jiff::tz::TimeZone, n: u32) -> Vec<Nanos> {
    let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(now)) else { return vec![] };
    let today = ts.to_zoned(tz.clone()).date();
    (0..n)
        .rev()
        .filter_map(|back| {
            let d = today.checked_sub(jiff::Span::new().days(i64::from(back))).ok()?;
            let z = d.to_zoned(tz.clone()).ok()?;
            i64::try_from(z.timestamp().as_nanosecond()).ok()
        })
        .collect()
}

pub fn build(i: &Inputs<'_>) -> Snapshot {
    let cfg = i.cfg;
    let now = i.now;
    let mut states: HashMap<&str, Vec<&EndpointState>> = HashMap::new();
    for s in i.states {
        states.entry(s.endpoint.as_str()).or_default().push(s);
    }
    let active: Vec<&Window> = i.windows.iter().filter(|w| w.contains(now)).collect();
    let unresolved: Vec<&Incident> = i.incidents.iter().filter(|x| !x.is_resolved()).collect();
    let day_starts = day_starts(now, &cfg.tz, cfg.history_days);
    let history_from = day_starts.first().copied().unwrap_or(now - DAY);

    let mut components = Vec::new();
    for (position, c) in cfg.public_components().enumerate() {
        let health: Vec<_> = c
            .endpoints
            .iter()
            .map(|e| {
                let component = i.endpoint_components.get(e).map_or("", String::as_str);
                let in_maintenance = active.iter().any(|w| w.scope.covers(e, component));
                (i.voting.health(e, states.get(e.as_str()).into_iter().flatten().copied(), now), in_maintenance)
            })
            .collect();
        let declared = unresolved.iter().flat_map(|x| x.components.iter()).filter(|(id, _)| id == &c.id).map(|(_, s)| *s).max();
        let status = component_status(&health, declared);
        let since = c.endpoints.iter().flat_map(|e| states.get(e.as_str()).into_iter().flatten()).map(|s| s.since).max().unwrap_or(now);
        let days = i.history.component_days(&c.endpoints, &day_starts, now, cfg.partial_outage_weight);
        let total = DayUptime::total(&days, cfg.partial_outage_weight);
        let targets = if c.show_targets { c.endpoints.iter().filter_map(|e| i.targets.get(e).cloned()).collect() } else { vec![] };
        components.push(ComponentView {
            id: c.id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            group: c.group.clone(),
            position: position + 1,
            status,
            since,
            targets,
            latency_24h: i.history.latency(&c.endpoints, now - DAY, now, 10 * MINUTE, true),
            latency_30d: i.history.latency(&c.endpoints, now - 30 * DAY, now, 6 * HOUR, false),
            days,
            total,
        });
    }

    let mut groups = Vec::new();
    for (position, g) in cfg.groups.iter().enumerate() {
        let members: Vec<&ComponentView> = components.iter().filter(|c| c.group.as_deref() == Some(&g.id)).collect();
        // A group whose components are all private is private too.
        if members.is_empty() {
            continue;
        }
        let uptimes: Vec<f64> = members.iter().filter_map(|c| c.total.percent).collect();
        groups.push(GroupView {
            id: g.id.clone(),
            name: g.name.clone(),
            description: g.description.clone(),
            position: position + 1,
            status: ComponentStatus::worst(members.iter().map(|c| c.status)),
            components: members.iter().map(|c| c.id.clone()).collect(),
            uptime_percent: (!uptimes.is_empty()).then(|| uptimes.iter().sum::<f64>() / uptimes.len() as f64),
        });
    }

    let public: Vec<&str> = components.iter().map(|c| c.id.as_str()).collect();
    let private: Vec<&str> = cfg.components.iter().filter(|c| c.private).map(|c| c.id.as_str()).collect();
    // An incident about private components only is not public; one naming public and private components
    // is shown with the private ones removed.
    let incidents: Vec<Incident> = i
        .incidents
        .iter()
        .filter(|x| x.components.is_empty() || x.components.iter().any(|(c, _)| public.contains(&c.as_str())))
        .filter(|x| !x.is_resolved() || x.resolved_at.unwrap_or(x.created_at) >= history_from)
        .map(|x| {
            let mut x = x.clone();
            x.components.retain(|(c, _)| !private.contains(&c.as_str()));
            for u in &mut x.updates {
                u.affected.retain(|a| !private.contains(&a.component.as_str()));
            }
            x
        })
        .collect();

    let mut maintenances = Vec::new();
    // A recurring window is listed by its next occurrence only, not once a week for a month.
    let mut next_seen = std::collections::HashSet::new();
    for w in i.windows {
        if w.start > now && !next_seen.insert((w.source.as_str(), w.id.as_str())) {
            continue;
        }
        let covered: Vec<String> = components
            .iter()
            .filter(|c| match &w.scope {
                Scope::All => true,
                Scope::Components(set) => set.contains(&c.id),
                Scope::Endpoints(set) => cfg.components.iter().any(|cc| cc.id == c.id && cc.endpoints.iter().any(|e| set.contains(e))),
            })
            .map(|c| c.id.clone())
            .collect();
        if covered.is_empty() || w.end < history_from {
            continue;
        }
        let status = if now < w.start {
            MaintenanceStatus::Scheduled
        } else if now < w.end {
            MaintenanceStatus::InProgress
        } else {
            MaintenanceStatus::Completed
        };
        let id = if w.source == "admin" { w.id.clone() } else { format!("{}-{}", w.id, w.start / 1_000_000_000) };
        maintenances.push(MaintenanceView {
            id,
            title: w.title.clone(),
            body: w.detail.clone(),
            start: w.start,
            end: w.end,
            status,
            components: covered,
        });
    }
    maintenances.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));

    let statuses: Vec<ComponentStatus> = components.iter().map(|c| c.status).collect();
    let impact: Option<Impact> = incidents.iter().filter(|x| !x.is_resolved()).map(|x| x.impact).max();
    let (overall_indicator, overall_description) = overall(&statuses, impact);
    Snapshot {
        now,
        overall_indicator,
        overall_description,
        components,
        groups,
        incidents,
        maintenances,
        day_starts,
        unavailable_since: None,
    }
}

impl Snapshot {
    /// Everything a visitor could see change, without the clock: equal fingerprints render equal pages
    /// (but for "updated at"), so the refresh loop renders only when this changes.
    pub fn fingerprint(&self, history_version: u64) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        history_version.hash(&mut h);
        self.day_starts.hash(&mut h);
        for c in &self.components {
            (&c.id, c.status, c.since).hash(&mut h);
        }
        for x in &self.incidents {
            (&x.id, x.updated_at).hash(&mut h);
        }
        for m in &self.maintenances {
            (&m.id, m.start, m.end, m.status.as_str()).hash(&mut h);
        }
        h.finish()
    }

    pub fn component(&self, id: &str) -> Option<&ComponentView> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Incidents by the day (in `tz`) they began, newest day first, over the history period.
    pub fn incidents_by_day(&self, tz: &jiff::tz::TimeZone) -> BTreeMap<jiff::civil::Date, Vec<&Incident>> {
        let mut out: BTreeMap<jiff::civil::Date, Vec<&Incident>> = BTreeMap::new();
        for x in &self.incidents {
            if let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(x.created_at)) {
                out.entry(ts.to_zoned(tz.clone()).date()).or_default().push(x);
            }
        }
        out
    }

    /// Incidents that overlap `[from, to)`, for a day's tooltip.
    pub fn incidents_between(&self, component: &str, from: Nanos, to: Nanos) -> impl Iterator<Item = &Incident> {
        let component = component.to_string();
        self.incidents.iter().filter(move |x| {
            x.created_at < to && x.resolved_at.unwrap_or(i64::MAX) >= from && x.components.iter().any(|(c, _)| *c == component)
        })
    }
}
