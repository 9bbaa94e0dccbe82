//! `probe validate` and `probe explain --from lb` agree on every flow both judge (issue 16: a
//! Huawei L4 listener's traffic was OK in one and DENY in the other).

use proptest::prelude::*;

use super::testing::{AGENT_PORTS, policy};
use super::*;
use probe_policy::{FlowTarget, Policy, SourceSpec};

/// Every shipped example, and the seed-004 path with a preserved-address NLB beside it.
const CONFIGS: [&str; 5] = [
    include_str!("../../../probes/aws-alb-private-subnets.yaml"),
    include_str!("../../../probes/generic-on-premises.yaml"),
    include_str!("../../../probes/huawei-dedicated-http-udp.yaml"),
    include_str!("../../../probes/huawei-shared-no-ip-backend.yaml"),
    include_str!("../../../tests/fixtures/path/seed-004.yaml"),
];

/// The findings `validate` makes of `policy`'s member checks, with the check each judges.
fn validated(p: &Policy) -> Vec<(Check, Finding)> {
    plan(p, None)
        .into_iter()
        .filter(|c| matches!(c.role, Role::Traffic | Role::HealthCheck))
        .filter_map(|c| {
            let mut persp = perspectives(p, &c, AGENT_PORTS);
            if persp.lb.is_some() {
                persp.agent = None;
            }
            persp.lb.as_ref()?;
            let f = diagnose(p, &c, &persp, None);
            Some((c, f))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validate_and_explain_agree_on_every_member_flow(config in 0..CONFIGS.len(), pick in any::<prop::sample::Index>(), lose_a_rule in any::<prop::sample::Index>(), drop_rule in any::<bool>()) {
        // Some runs take one line of a rule out, so that denials are compared too.
        let mut text = CONFIGS[config].to_string();
        if drop_rule {
            let rules: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("- {direction:") || l.trim_start().starts_with("- {number:")).collect();
            if !rules.is_empty() {
                let line = rules[lose_a_rule.index(rules.len())].to_string();
                text = text.replacen(&format!("{line}\n"), "", 1);
            }
        }
        let Ok(m) = probe_config::yaml::parse(text.as_bytes(), std::path::Path::new("t.yaml")) else {
            return Ok(());
        };
        if !probe_model::validate(&m).is_empty() {
            return Ok(());
        }
        let p = Policy::compile(&m);
        let checks = validated(&p);
        prop_assume!(!checks.is_empty());
        let (c, v) = &checks[pick.index(checks.len())];
        let lb = &m.load_balancers[c.load_balancer.expect("a member check has its load balancer")];
        let to = FlowTarget { addr: c.address, packet: c.packet };
        let from = SourceSpec::Lb(Some(lb.name.clone()));
        let explained = report(&p, AGENT_PORTS, Mode::Explain { from: &from, to, name: "x".into() })
            .expect("explain");
        let e = explained
            .findings
            .iter()
            .find(|f| f.role == c.role)
            .expect("explain judges the check validate judges");
        let decision = |f: &Finding| f.expected.as_ref().map(|x| x.decision);
        prop_assert_eq!(decision(e), decision(v), "{:?} {:?}: explain {} / validate {}", c.role, to, e.summary, v.summary);
        prop_assert_eq!(e.code, v.code);
        prop_assert_eq!(&e.blocking, &v.blocking);
    }
}

#[test]
fn a_huawei_l4_listeners_traffic_is_exempt_in_explain_as_in_validate() {
    let shared = include_str!("../../../probes/huawei-shared-no-ip-backend.yaml").replace(
        "        cidr: 100.125.0.0/16\n        description: traffic and health checks of the shared ELB\n",
        "        cidr: 10.99.0.0/16\n        description: not the shared ELB\n",
    );
    let p = policy(&shared);
    let to = probe_policy::parse_flow_target("172.16.1.11:8443/tcp").expect("flow");
    let from = SourceSpec::Lb(Some("elb-shared-tcp".into()));
    let r = report(
        &p,
        AGENT_PORTS,
        Mode::Explain {
            from: &from,
            to,
            name: "x".into(),
        },
    )
    .expect("explain");
    // The traffic check and the health check share the packet; explain judges both, as
    // validate does: the forwarded traffic is exempt from the group, the health check is not.
    let roles: Vec<(Role, Code)> = r.findings.iter().map(|f| (f.role, f.code)).collect();
    assert_eq!(
        roles,
        [
            (Role::Traffic, Code::Ok),
            (Role::HealthCheck, Code::SgIngressMissing)
        ]
    );
}
