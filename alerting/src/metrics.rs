//! Alerting's own health on `/metrics`.

use watchpost_core::metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

static SECONDS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Debug)]
pub struct AlertingMetrics {
    pub evaluations: Counter,
    pub evaluation_seconds: Histogram,
    pub transitions: Counter,
    pub firing: Gauge,
    pub delivered: Counter,
    pub retried: Counter,
    pub failed: Counter,
    pub delivery_seconds: Histogram,
}

impl Default for AlertingMetrics {
    fn default() -> Self {
        AlertingMetrics {
            evaluations: Counter::default(),
            evaluation_seconds: Histogram::new(&SECONDS),
            transitions: Counter::default(),
            firing: Gauge::default(),
            delivered: Counter::default(),
            retried: Counter::default(),
            failed: Counter::default(),
            delivery_seconds: Histogram::new(&SECONDS),
        }
    }
}

impl AlertingMetrics {
    pub fn render(&self, out: &mut String) {
        counter(out, "watchpost_alert_evaluations_total", "Evaluation cycles of every rule", self.evaluations.get());
        histogram(out, "watchpost_alert_evaluation_seconds", "Time of one evaluation cycle", &self.evaluation_seconds);
        counter(out, "watchpost_alert_transitions_total", "Alert state changes written", self.transitions.get());
        gauge(out, "watchpost_alerts_firing", "Alerts firing now", self.firing.get() as f64);
        counter(out, "watchpost_alert_deliveries_total", "Deliveries the provider accepted", self.delivered.get());
        counter(out, "watchpost_alert_delivery_retries_total", "Delivery attempts that will be retried", self.retried.get());
        counter(out, "watchpost_alert_delivery_failures_total", "Deliveries given up", self.failed.get());
        histogram(out, "watchpost_alert_delivery_seconds", "Time of one delivery attempt", &self.delivery_seconds);
    }
}
