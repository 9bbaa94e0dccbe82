//! What the diagnosis tests share: a policy from YAML, an observation of a check.

use std::path::Path;

use super::Check;
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
