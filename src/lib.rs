//! `probe`: a live health-check probe agent.
//!
//! When a load balancer marks a backend unhealthy, the cause is almost always a rule: a security
//! group without the health-check port, a network ACL without the ephemeral return range, a host
//! firewall nobody wrote down. `probe` sends real probes from the load balancer's subnet and tells
//! the possible answers apart: a silent drop, an ICMP reject, a closed port, a bad status, a slow
//! application.
//!
//! # Layout
//!
//! Data flows one way: targets → plan of probes → probers → observations → outputs.
//!
//! * [`probe`] — the probers (`tcp`, `udp`, `icmp`, `http`), the [`probe::Observation`] they
//!   produce, and target parsing. [`probe::sys`] is the only home of socket options below tokio
//!   (`IP_RECVERR`, the error queue, resource limits).
//! * [`engine`] — resolves targets and runs many probes at once: bounded in flight, rate-capped,
//!   cancellable, streaming results.
//! * [`output`] — the table, JSON and JSON-lines renderings and the progress bar.
//! * [`cli`] — command-line definitions and the ad hoc run.

pub mod cli;
pub mod config;
pub mod diagnose;
pub mod engine;
pub mod model;
pub mod output;
pub mod policy;
pub mod probe;
