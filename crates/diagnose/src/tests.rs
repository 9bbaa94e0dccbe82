//! Diagnosis from verdicts and observations, one case per row of the module's table.

use super::testing::{obs, policy};
use super::*;
use probe_model::PortRange;
use probe_observation::{Reason, State};
use probe_policy::Policy;

const MODEL: &str = r#"
agent: {address: 10.0.0.10, security_groups: [sg-agent]}
subnets:
  - {id: lb-a, cidr: 10.0.0.0/24, zone: a, free_addresses: 200}
  - {id: app-a, cidr: 10.0.1.0/24, zone: a}
  - {id: app-b, cidr: 10.0.2.0/24, zone: b}
security_groups:
  - id: sg-agent
    rules: [{direction: egress, protocol: any, cidr: 0.0.0.0/0}]
  - id: sg-lb
    rules:
      - {direction: egress, protocol: tcp, ports: "80,8081", group: sg-web}
  - id: sg-web
    rules:
      - {direction: ingress, protocol: tcp, ports: 80, group: sg-lb}
      - {direction: ingress, protocol: tcp, ports: 80, group: sg-agent}
      - {direction: ingress, protocol: tcp, ports: 8081, cidr: 10.0.0.10/32}
load_balancers:
  - name: web-alb
    provider: aws
    kind: alb
    subnets: [lb-a]
    security_groups: [sg-lb]
    listeners: [{protocol: http, port: 80, backend_group: web}]
backend_groups:
  - name: web
    protocol: http
    port: 80
    health_check: {protocol: http, port: 8081, path: /health}
    members:
      - {name: web-1, address: 10.0.1.5, security_groups: [sg-web]}
      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}
"#;

fn run(p: &Policy, backend: &str, role: Role, seen: Option<(State, Reason, bool)>) -> Finding {
    let checks = plan(p, None);
    let c = checks
        .iter()
        .find(|c| c.backend == backend && c.role == role)
        .expect("check planned");
    let persp = perspectives(
        p,
        c,
        PortRange {
            from: 32768,
            to: 60999,
        },
    );
    let o = seen.map(|(s, r, ok)| obs(c, s, r, ok));
    diagnose(p, c, &persp, o.as_ref())
}

#[test]
fn plan_covers_traffic_and_separate_health_check_port() {
    let p = policy(MODEL);
    let roles: Vec<(String, Role, Option<u16>)> = plan(&p, None)
        .iter()
        .map(|c| (c.backend.clone(), c.role, c.packet.port()))
        .collect();
    assert_eq!(
        roles,
        [
            ("web-1".into(), Role::Traffic, Some(80)),
            ("web-1".into(), Role::HealthCheck, Some(8081)),
            ("web-2".into(), Role::Traffic, Some(80)),
            ("web-2".into(), Role::HealthCheck, Some(8081)),
        ]
    );
    assert_eq!(plan(&p, Some("web-2")).len(), 2);
}

#[test]
fn health_check_port_blocked_names_the_group_and_the_fix() {
    let p = policy(MODEL);
    // The agent may reach 8081 (its own /32 rule) and the probe passes: the model holds, and the
    // load balancer's subnet is not allowed on 8081 while 80 is.
    let f = run(
        &p,
        "web-1",
        Role::HealthCheck,
        Some((State::Open, Reason::HttpResponse, true)),
    );
    assert_eq!(f.code, Code::HealthCheckPortBlocked, "{}", f.summary);
    assert_eq!(
        f.also,
        [Code::SgIngressMissing, Code::ProbePerspectiveDiffers]
    );
    let b = f.blocking.as_ref().expect("blocking");
    assert_eq!(
        (b.kind, b.id.as_str(), b.rule.as_str()),
        ("security_group", "sg-web", "*")
    );
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "aws ec2 authorize-security-group-ingress --group-id sg-web --protocol tcp --port 8081 --source-group sg-lb"
        )
    );
    assert!(
        f.summary
            .contains("sg-web has no inbound rule allowing tcp/8081 from 10.0.0.0/24"),
        "{}",
        f.summary
    );
}

#[test]
fn agent_allowed_but_dropped_is_a_host_firewall() {
    let p = policy(MODEL);
    let f = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Filtered, Reason::NoResponse, false)),
    );
    assert_eq!(f.code, Code::HostFirewallSuspected);
    assert_eq!(f.blocking.as_ref().map(|b| b.kind), Some("host"));
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn agent_allowed_and_reset_is_a_closed_port() {
    let p = policy(MODEL);
    let f = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Closed, Reason::Reset, false)),
    );
    assert_eq!(f.code, Code::PortClosed);
    assert_eq!(
        f.blocking.as_ref().map(|b| b.id.as_str()),
        Some("10.0.1.5:80/tcp")
    );
}

#[test]
fn agent_denied_but_passing_is_drift() {
    let p = policy(&MODEL.replace(
        "      - {direction: ingress, protocol: tcp, ports: 80, group: sg-agent}\n",
        "",
    ));
    let f = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Open, Reason::SynAck, true)),
    );
    assert_eq!(f.code, Code::ConfigDriftAllowed);
    assert_eq!(f.severity, Severity::Warning);
    let f = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Filtered, Reason::NoResponse, false)),
    );
    assert_eq!(
        f.code,
        Code::ProbePerspectiveDiffers,
        "the LB is allowed, the agent is not: {}",
        f.summary
    );
}

#[test]
fn everything_allowed_and_passing_is_ok_and_static_ok_without_probe() {
    let p = policy(&MODEL.replace(
        "ports: 8081, cidr: 10.0.0.10/32",
        "ports: 8081, group: sg-lb",
    ));
    let f = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Open, Reason::SynAck, true)),
    );
    assert_eq!(
        (f.code, f.severity),
        (Code::Ok, Severity::Ok),
        "{}",
        f.summary
    );
    let f = run(&p, "web-1", Role::HealthCheck, None);
    assert_eq!(f.code, Code::ProbePerspectiveDiffers, "{}", f.summary);
    let f = run(&p, "web-2", Role::Traffic, None);
    assert_eq!(f.code, Code::Ok, "{}", f.summary);
}

#[test]
fn static_checks_flag_small_subnets_few_addresses_and_zones() {
    let p = policy(
        &MODEL
            .replace(
                "{id: lb-a, cidr: 10.0.0.0/24, zone: a, free_addresses: 200}",
                "{id: lb-a, cidr: 10.0.0.0/28, zone: a, free_addresses: 3}",
            )
            .replace("10.0.0.10", "10.0.0.9"),
    );
    let codes: Vec<Code> = static_findings(&p).iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        [
            Code::LbSubnetTooSmall,
            Code::LbSubnetFewFreeAddresses,
            Code::TargetZoneWithoutLbSubnet
        ]
    );
}

#[test]
fn report_exit_code_follows_severity() {
    let p = policy(MODEL);
    let ok = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Open, Reason::SynAck, true)),
    );
    assert_eq!(Report::new(vec![ok.clone()]).exit_code(), 0);
    let bad = run(
        &p,
        "web-1",
        Role::Traffic,
        Some((State::Closed, Reason::Reset, false)),
    );
    assert_eq!(Report::new(vec![ok, bad]).exit_code(), 1);
}

/// Two observations judged alike give the same finding but for the observation itself, for
/// every plain outcome; a different outcome, or one with words a finding quotes, is not alike.
#[test]
fn observations_judged_alike_give_the_same_finding() {
    let p = policy(MODEL);
    let checks = plan(&p, None);
    let ports = PortRange {
        from: 32768,
        to: 60999,
    };
    let outcomes = [
        (State::Open, Reason::SynAck, true),
        (State::Closed, Reason::Reset, false),
        (State::Filtered, Reason::NoResponse, false),
    ];
    for c in &checks {
        let persp = perspectives(&p, c, ports);
        for (state, reason, ok) in outcomes.clone() {
            let a = obs(c, state, reason, ok);
            let mut b = a.clone();
            b.rtt_ms = Some(12.5);
            assert!(judged_alike(&a, &b));
            let (mut fa, fb) = (
                diagnose(&p, c, &persp, Some(&a)),
                diagnose(&p, c, &persp, Some(&b)),
            );
            fa.observed = fb.observed.clone();
            assert_eq!(
                serde_json::to_value(&fa).ok(),
                serde_json::to_value(&fb).ok(),
                "{} {:?} {state:?}",
                c.backend,
                c.role
            );
            for (other, why, passed) in outcomes.clone() {
                let o = obs(c, other, why, passed);
                assert_eq!(judged_alike(&a, &o), other == state);
            }
            let mut worded = b.clone();
            worded.detail = Some("connection refused".into());
            assert!(!judged_alike(&a, &worded));
        }
    }
}
