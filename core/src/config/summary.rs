//! The summary `watchpost check-config` prints for a valid file.

use super::*;

impl Config {
    /// A short human summary, printed by `watchpost check-config`, with the parts' own lines (`sla:`,
    /// `status:`, `alerting:`, each ending in a newline) in the middle.
    pub fn summary(&self, parts: &[String]) -> String {
        let mut out = String::new();
        let store = match &self.store {
            StoreConfig::Sqlite(s) => format!("sqlite at {} (retention {})", s.path.display(), format_duration(s.retention)),
            StoreConfig::Influxdb(i) => {
                format!("influxdb {} at {} (database {})", if i.api == InfluxApi::V1 { "v1" } else { "v2" }, i.url, i.database)
            }
        };
        out.push_str(&format!("store:     {store}\n"));
        out.push_str(&format!("region:    {}\n", self.agent.region));
        out.push_str(&format!("spool:     {} (at most {} MiB)\n", self.agent.spool.dir.display(), self.agent.spool.max_bytes >> 20));
        out.push_str(&format!("server:    http://{} (/healthz, /metrics, /api/v1/push/{{id}})\n", self.server.listen));
        let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in self.endpoints.iter().filter(|e| !matches!(e.probe, ProbeConfig::Steps(_))) {
            *by_kind.entry(e.probe.kind()).or_default() += 1;
        }
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let plain: usize = by_kind.values().sum();
        if kinds.is_empty() {
            out.push_str("endpoints: 0\n");
        } else {
            out.push_str(&format!("endpoints: {plain} ({})\n", kinds.join(", ")));
        }
        let runs = self.checks().count();
        if runs > 0 {
            let mut ids: Vec<&str> = self.checks().map(|c| c.id.as_str()).collect();
            ids.dedup();
            out.push_str(&format!("checks:    {} ({runs} run(s) across their environments)\n", ids.len()));
        }
        if !self.maintenance.is_empty() {
            out.push_str(&format!(
                "windows:   {} maintenance window(s) (`watchpost maintenance list` shows them)\n",
                self.maintenance.len()
            ));
        }
        out.push_str(&format!("state:     {}\n", self.state.path.display()));
        for o in self.oncall.values() {
            let rotation = match o.rotation {
                oncall::Rotation::Weekly(d) => format!("weekly, {d:?}s at {}", o.handoff.strftime("%H:%M")),
                oncall::Rotation::Daily => format!("daily at {}", o.handoff.strftime("%H:%M")),
            };
            out.push_str(&format!(
                "on call:   {}: {} ({rotation}, {}), {} override(s)\n",
                o.name,
                o.members.join(" → "),
                o.tz_name,
                o.overrides.len()
            ));
        }
        for line in parts {
            out.push_str(line);
        }
        out.push_str(&format!(
            "rollups:   minutes closed {} after they end; latency objective {}\n",
            format_duration(self.aggregator.lateness),
            format_duration(self.aggregator.latency_objective)
        ));
        // `+ 0.0`: an empty float sum is -0.0, which printed as "-0.0 probes/s" for a file of modules only.
        let rate: f64 = self.endpoints.iter().map(|e| 1.0 / e.interval.as_secs_f64()).sum::<f64>() + 0.0;
        out.push_str(&format!("load:      {rate:.1} probes/s at steady state\n"));
        for e in &self.endpoints {
            let name = match e.probe {
                ProbeConfig::Steps(_) => format!("{} [{}]", e.id, e.environment),
                _ => e.id.clone(),
            };
            out.push_str(&format!(
                "  {:<24} {:<5} every {:<6} timeout {:<6} {}\n",
                name,
                e.probe.kind(),
                format_duration(e.interval),
                format_duration(e.timeout),
                e.probe.target()
            ));
        }
        out
    }
}
