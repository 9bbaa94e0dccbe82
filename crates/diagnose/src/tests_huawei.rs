//! Huawei's rulebook (seed 000): what "IP as a backend" exempts, and what it never does.

use super::testing::policy;
use super::*;
use probe_model::PortRange;

const SHARED: &str = include_str!("../../../probes/huawei-shared-no-ip-backend.yaml");

const AGENT_PORTS: PortRange = PortRange {
    from: 32768,
    to: 60999,
};

fn judged(p: &probe_policy::Policy, backend: &str, role: Role) -> Finding {
    report(p, AGENT_PORTS, Mode::Static)
        .expect("report")
        .findings
        .into_iter()
        .find(|f| f.backend.as_deref() == Some(backend) && f.role == role)
        .unwrap_or_else(|| panic!("no {role:?} finding for {backend}"))
}

#[test]
fn health_checks_meet_the_rules_even_where_forwarded_traffic_does_not() {
    // As shipped: the group admits the shared load balancer's health-check range.
    let p = policy(SHARED);
    assert_eq!(judged(&p, "app-1", Role::HealthCheck).code, Code::Ok);
    assert_eq!(judged(&p, "app-1", Role::Traffic).code, Code::Ok);
    // Without the 100.125.0.0/16 rule the health check fails, though the listener's traffic
    // (TCP, "IP as a backend" off) still bypasses the group.
    let without = SHARED.replace(
        "        cidr: 100.125.0.0/16\n        description: traffic and health checks of the shared ELB\n",
        "        cidr: 10.99.0.0/16\n        description: not the shared ELB\n",
    );
    assert_ne!(without, SHARED);
    let p = policy(&without);
    let hc = judged(&p, "app-1", Role::HealthCheck);
    assert_eq!(hc.code, Code::SgIngressMissing, "{}", hc.summary);
    let b = hc.blocking.as_ref().expect("blocking");
    assert_eq!(
        (b.kind, b.id.as_str(), b.rule.as_str()),
        ("security_group", "sg-app", "*")
    );
    assert!(hc.summary.contains("100.125.0.0/16"), "{}", hc.summary);
    let traffic = judged(&p, "app-1", Role::Traffic);
    assert_eq!(traffic.code, Code::Ok, "{}", traffic.summary);
}
