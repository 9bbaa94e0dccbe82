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
//! Data flows one way: configuration → model → plan of probes → probers → observations →
//! evaluator + comparison → findings → outputs. An ad hoc run (`probe --target …`) starts at the
//! plan.
//!
//! The layers, lowest first. Each may use only those below it; the pure core is a set of crates
//! of its own (`crates/`), so the compiler refuses an import that runs the wrong way, and
//! `tests/it/layers.rs` fails if an I/O crate (tokio, socket2, hyper, nix, rustls…) enters the
//! core's dependency tree or if the binary's modules import each other in a circle.
//!
//! ```text
//!  ┌──────────────────────────────── the binary (src/) ─────────────────────────────────┐
//!  │ cli ─▶ agent ─▶ output ─▶ plan ─▶ engine ─▶ probe (probers; probe::sys: sockets)   │
//!  │          └────────▶ files (every file read, the local address)                     │
//!  └───────────────────────────────────────┬────────────────────────────────────────────┘
//!  ┌───────────────────────── the pure core (crates/), no I/O ─────────────────────────┐
//!  │ diagnose (+ health) ─▶ policy ─▶ model ◀─ config (YAML, AWS and Huawei importers) │
//!  │     └──────▶ observation (the taxonomy; targets)                                  │
//!  └────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! The core, re-exported here under its old module names:
//!
//! * [`model`] (`probe-model`) — the expected configuration: load balancers, listeners, backend
//!   groups, health checks, security groups, network ACLs; values parsed when read (status
//!   matchers, flows); each provider's behaviour as data ([`model::Provider::profile`]);
//!   [`model::validate`] checks references and ranges.
//! * [`observation`] (`probe-observation`) — what a probe saw: state, reason, each protocol's
//!   detail; targets and their parsing.
//! * [`config`] (`probe-config`) — the native YAML format and the AWS / Huawei importers, pure
//!   functions of the bytes read: errors name file, line, column and field path.
//! * [`policy`] (`probe-policy`) — the evaluator: [`policy::Policy::evaluate`] judges a flow and
//!   returns the path of components crossed, each with the rule that decided.
//! * [`diagnose`] (`probe-diagnose`) — plans the checks of every backend, judges each from the
//!   agent's and the load balancer's perspective, compares with what the probe saw: findings
//!   with a code, the blocking rule and a fix in the provider's terms ([`diagnose::report`] is
//!   the one entry point); [`health`] is the load balancer's rise/fall state machine.
//!
//! The binary's layers:
//!
//! * [`probe`] — the probers (`tcp`, `udp`, `icmp`, `http`): each protocol's settings, table
//!   detail and metrics live with its prober. [`probe::sys`] is the only home of socket options
//!   below tokio and of `unsafe`.
//! * `engine` — resolves targets and runs many probes at once: bounded in flight, rate-capped,
//!   cancellable, streaming results; a probe's panic is an `error` observation.
//! * `plan` — how a check becomes a probe (target, settings), shared by `check` and `agent`.
//! * [`files`] — every file the user names is read here, bounded, and the local address found.
//! * [`output`] — tables, JSON, JSON lines, findings, `explain` and the progress bar.
//! * `agent` — the `probe agent` daemon: one scheduler for every check, the live findings, the
//!   metrics registry and the HTTP server (`/metrics`, `/probe`, `/findings`, reload), with TLS
//!   and basic auth from an exporter-toolkit web config.
//! * [`cli`] — the command line ([`cli::main`]): flags, the ad hoc run, the configuration
//!   commands; no domain logic.
//! * `panics` — counts panics anywhere in the process, so that a bug fails a run loudly
//!   (exit code 3) instead of passing for a result.
//!
//! `engine`, `plan`, `agent` and `panics` are the binary's own (`pub(crate)`); `cargo doc
//! --document-private-items` shows them.

#![warn(unreachable_pub)]

/// The configuration crate (`probe-config`), and the loading of files ([`files::load`]).
pub mod config {
    pub use crate::files::{load, load_with_agent};
    pub use probe_config::*;
}
pub use probe_diagnose as diagnose;
pub use probe_diagnose::health;
pub use probe_model as model;
pub use probe_observation as observation;
pub use probe_policy as policy;

// The binary's layers are the crate's own: what tests, fuzz targets and benches use is public,
// the rest is `pub(crate)` (rustc's `unreachable_pub` lint keeps it so).
pub(crate) mod agent;
pub mod cli;
pub(crate) mod engine;
pub mod files;
pub mod output;
pub(crate) mod panics;
pub(crate) mod plan;
pub mod probe;
