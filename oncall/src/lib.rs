//! The on-call vocabulary two parts share: alerting pages whoever [`rota`] says is on call and signs
//! acknowledge [`links`] into its pages; the status page verifies those links and serves the rota as an
//! [`ical`] feed.
//!
//! Why a crate of its own: these three are pure functions over configuration and time that both parts need,
//! and neither part may depend on the other (ARCHITECTURE.md, "Architecture invariant: no crate depends on
//! a sibling part"). Before, the status page linked the whole alerting crate (its notifiers, outbox and
//! HTTP clients) for them.
//!
//! Architecture invariant: this crate depends on `core` only and does no I/O.

pub mod ical;
pub mod links;
pub mod rota;
