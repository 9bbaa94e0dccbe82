//! What the diagnosis tests share: a policy from YAML, an observation of a check.

use std::path::Path;

use super::{Check, Finding, Mode, Role, report};
use probe_model::PortRange;
use probe_observation::{Host, Observation, Phase, Protocol, Reason, State, Target};
use probe_policy::Policy;

/// The policy of a test configuration, which must validate.
pub(crate) fn policy(yaml: &str) -> Policy {
    let m = probe_config::yaml::parse(yaml.as_bytes(), Path::new("t.yaml")).expect("test YAML");
    let problems = probe_model::validate(&m);
    assert!(problems.is_empty(), "{problems:?}");
    Policy::compile(&m)
}

/// What a probe of `check` saw.
pub(crate) fn obs(check: &Check, state: State, reason: Reason, success: bool) -> Observation {
    let target = Target {
        label: check.address.to_string(),
        host: Host::Ip(check.address),
        port: check.packet.port(),
        protocol: Protocol::Tcp,
        path: "/".into(),
    };
    let mut o = Observation::error(&target, Some(check.address), "x");
    o.state = state;
    o.reason = reason;
    o.success = success;
    o.detail = None;
    o.phase = Phase::Done;
    o
}

/// The agent's ephemeral ports in the tests (Linux's default `ip_local_port_range`).
pub(crate) const AGENT_PORTS: PortRange = PortRange {
    from: 32768,
    to: 60999,
};

/// The static judgement of the check of `backend` in `role` (as `probe validate` makes it).
pub(crate) fn judged(p: &Policy, backend: &str, role: Role) -> Finding {
    report(p, AGENT_PORTS, Mode::Static)
        .expect("report")
        .findings
        .into_iter()
        .find(|f| f.backend.as_deref() == Some(backend) && f.role == role)
        .unwrap_or_else(|| panic!("no {role:?} finding for {backend}"))
}
