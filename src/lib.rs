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
//! * [`config`] — the native YAML format and the AWS / Huawei importers; the only module that
//!   reads configuration files. Errors name file, line, column and field path.
//! * [`model`] — the expected configuration: load balancers, listeners, backend groups, health
//!   checks, security groups, network ACLs; [`model::validate`] checks references and ranges.
//! * [`policy`] — the evaluator, pure: [`policy::Policy::evaluate`] judges a flow and returns the
//!   path of components crossed, each with the rule that decided.
//! * [`diagnose`] — plans the checks of every backend, judges each from the agent's and the load
//!   balancer's perspective, and compares with what the probe saw: findings with a code, the
//!   blocking rule and the fix. Pure, like the two above.
//! * [`probe`] — the probers (`tcp`, `udp`, `icmp`, `http`), the [`probe::Observation`] they
//!   produce, and target parsing. [`probe::sys`] is the only home of socket options below tokio
//!   (`IP_RECVERR`, the error queue, resource limits).
//! * [`engine`] — resolves targets and runs many probes at once: bounded in flight, rate-capped,
//!   cancellable, streaming results.
//! * [`output`] — tables, JSON, JSON lines, findings and the progress bar.
//! * [`cli`] — command-line definitions, the ad hoc run and the configuration commands.
//! * [`panics`] — counts panics anywhere in the process, so that a bug fails a run loudly
//!   (exit code 3) instead of passing for a result.
//! * [`health`] — the load balancer's rise/fall threshold state machine, pure (time is passed in).
//! * [`agent`] — the `probe agent` daemon: one scheduler for every check, the live findings, the
//!   metrics registry and the HTTP server (`/metrics`, `/probe`, `/findings`, reload), with TLS
//!   and basic auth ([`agent::auth`]) from an exporter-toolkit web config ([`config::web`]).

pub mod agent;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod engine;
pub mod health;
pub mod model;
pub mod observation;
pub mod output;
pub mod panics;
pub mod plan;
pub mod policy;
pub mod probe;
