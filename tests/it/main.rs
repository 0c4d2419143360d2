//! Every end-to-end test in one test binary: linked once rather than once per file (bench/README.md has the
//! build and run times), and run by one harness, so `cargo test --test it NAME` picks tests by module path
//! (`sequences::`, `alerting::`).

mod common;

mod alerting;
mod blackbox;
mod checks;
mod cli;
mod config_errors;
mod deploy;
mod e2e;
mod faults;
mod grafana;
mod import;
mod influx_writes;
mod maintenance;
mod oncall;
mod publish;
mod push;
mod regions;
mod rollups;
mod sequences;
mod sla_report;
mod statuspage;
mod store_conformance;
