//! Diagnosis: (configuration verdicts, observation) → findings with a code, the blocking rule
//! and the fix. Pure: the caller runs the probes.
//!
//! Two perspectives are judged for every check:
//!
//! * **as the agent** — the flow the probe really sent (the agent's address, security groups and
//!   subnet). Comparing it with the observation says whether the model holds:
//!
//!   | agent verdict | observed                         | finding                     |
//!   |---------------|----------------------------------|-----------------------------|
//!   | allow         | passes                           | model holds                 |
//!   | allow         | silently dropped / rejected      | `HOST_FIREWALL_SUSPECTED`   |
//!   | allow         | RST / port-unreachable           | `PORT_CLOSED`               |
//!   | allow         | host / net unreachable           | `NO_ROUTE`                  |
//!   | any           | connected, app failed            | `RESPONSE_CODE_MISMATCH`, `TLS_HANDSHAKE_FAILED`, `TIMEOUT_SLOW_RESPONSE` |
//!   | deny          | passes (or RST)                  | `CONFIG_DRIFT_ALLOWED`      |
//!   | deny          | dropped / rejected / unreachable | model holds                 |
//!
//! * **as the load balancer** — the same destination from the load balancer's health-check
//!   source (its subnets and security groups, or 100.125.0.0/16 for Huawei shared). When the
//!   model holds, this verdict is the diagnosis: `OK`, or the code of the component that blocks
//!   (`SG_INGRESS_MISSING`, `NACL_RETURN_BLOCKED`, …). When the two perspectives disagree,
//!   `PROBE_PERSPECTIVE_DIFFERS` says the probe cannot stand in for the load balancer.
//!
//! Static checks ([`static_findings`]) need no probe: subnet sizes and free addresses, zones
//! without a load balancer subnet, Huawei listeners where rules are not enforced.

mod check;
mod code;
mod fix;
pub mod health;
mod judge;
mod perspective;
mod report;
mod statics;
mod text;

pub use check::{Check, DEFAULT_INTERVAL_S, ProbeKind, plan};
pub use code::{Code, Role, Severity};
pub use fix::fix_for;
pub use judge::{Blocking, Finding, Seen, diagnose, judged_alike, seen};
pub use perspective::{Perspectives, perspectives};
pub use report::{DiagnoseError, Mode, Report, Summary, client_legs, report};
pub use statics::static_findings;
pub use text::summary_for;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_agree;
#[cfg(test)]
mod tests_huawei;
#[cfg(test)]
mod tests_path;
