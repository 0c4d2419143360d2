//! Watchpost's alerting (DESIGN.md §5.8). Built so far: on-call rotas ([`oncall`]) and their iCalendar
//! export ([`ical`]). Rules, escalation policies, notifiers and the delivery outbox are issue 8's next steps.
//!
//! Architecture invariant: this crate depends on `core` only.

pub mod ical;
pub mod oncall;
