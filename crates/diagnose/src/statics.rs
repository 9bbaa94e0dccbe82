//! Findings from the configuration alone, by the provider's rules ([`probe_model::Profile`]):
//! load balancer subnets too small, short of free addresses or missing from a target zone, and
//! layer-4 listeners whose traffic bypasses security groups and firewalls.

use super::fix::{SubnetFix, fixes};
use super::{Code, Finding, Role};
use probe_model::{LbKind, LoadBalancer, Model, Subnet, SubnetRules};
use probe_policy::Policy;

/// Findings from the configuration alone: subnet sizes, free addresses, zones, rules not
/// enforced.
pub fn static_findings(policy: &Policy) -> Vec<Finding> {
    let model = policy.model();
    let mut out = Vec::new();
    for lb in &model.load_balancers {
        let profile = lb.provider.profile();
        if let Some(rules) = profile.lb_subnets {
            subnet_findings(policy, lb, rules, &mut out);
        }
        if profile.l4_rules_need_ip_as_backend {
            rules_not_enforced(lb, &mut out);
        }
    }
    out
}

/// A static finding about load balancer `lb`.
fn finding(lb: &str, code: Code, summary: String, fix: String) -> Finding {
    Finding {
        backend: None,
        address: None,
        port: None,
        protocol: None,
        role: Role::Configuration,
        observed: None,
        expected: None,
        code,
        also: Vec::new(),
        severity: code.severity(),
        blocking: None,
        summary,
        fix: Some(fix),
        backend_group: None,
        load_balancer: Some(lb.to_string()),
        expected_as_agent: None,
        reported: None,
    }
}

fn lb_subnets<'m>(model: &'m Model, lb: &LoadBalancer) -> Vec<&'m Subnet> {
    lb.subnets
        .iter()
        .filter_map(|id| model.subnets.iter().find(|s| &s.id == id))
        .collect()
}

/// Each load balancer subnet's size and free addresses, and the target zones without one.
fn subnet_findings(policy: &Policy, lb: &LoadBalancer, rules: SubnetRules, out: &mut Vec<Finding>) {
    let model = policy.model();
    let fix = fixes(lb.provider);
    let lb_id = lb.id.as_deref().unwrap_or(&lb.name);
    let subnets = lb_subnets(model, lb);
    for s in &subnets {
        let at = SubnetFix {
            lb: lb_id,
            subnet: &s.id,
            zone: s.zone.as_deref(),
        };
        if s.cidr.prefix_len() > rules.max_prefix_len && s.cidr.addr().is_ipv4() {
            out.push(finding(
                &lb.name,
                Code::LbSubnetTooSmall,
                format!(
                    "load balancer subnet {} is {}: AWS needs at least a /{}",
                    s.id, s.cidr, rules.max_prefix_len
                ),
                fix.subnet_too_small(&at),
            ));
        }
        if let Some(free) = s.free_addresses
            && free < rules.min_free_addresses
        {
            out.push(finding(
                &lb.name,
                Code::LbSubnetFewFreeAddresses,
                format!(
                    "load balancer subnet {} ({}) has {free} free addresses: AWS needs at least {} to scale the load balancer",
                    s.id, s.cidr, rules.min_free_addresses
                ),
                fix.subnet_few_free(&at),
            ));
        }
    }
    if rules.one_per_target_zone {
        zones_without_subnet(policy, lb, &subnets, out);
    }
}

/// Zones with targets where the load balancer has no subnet: one finding per zone.
fn zones_without_subnet(
    policy: &Policy,
    lb: &LoadBalancer,
    subnets: &[&Subnet],
    out: &mut Vec<Finding>,
) {
    let model = policy.model();
    let lb_zones: Vec<&str> = subnets.iter().filter_map(|s| s.zone.as_deref()).collect();
    if lb_zones.is_empty() {
        return;
    }
    let mut reported = std::collections::HashSet::new();
    let served = model.backend_groups.iter().filter(|bg| {
        lb.listeners
            .iter()
            .any(|l| l.backend_group.as_deref() == Some(&bg.name))
    });
    for m in served.flat_map(|bg| &bg.members) {
        let zone = policy
            .subnet_for(m.subnet.as_deref(), m.address)
            .and_then(|i| model.subnets.get(i as usize))
            .and_then(|s| s.zone.as_deref());
        if let Some(z) = zone
            && !lb_zones.contains(&z)
            && reported.insert(z.to_string())
        {
            let at = SubnetFix {
                lb: lb.id.as_deref().unwrap_or(&lb.name),
                subnet: "",
                zone: Some(z),
            };
            out.push(finding(
                &lb.name,
                Code::TargetZoneWithoutLbSubnet,
                format!(
                    "target {} sits in zone {z}, where load balancer {} has no subnet: it gets no traffic from that zone's node",
                    m.display_name(),
                    lb.name
                ),
                fixes(lb.provider).zone_without_subnet(&at),
            ));
        }
    }
}

/// Layer-4 listeners of a load balancer without "IP as a backend": rules do not apply.
fn rules_not_enforced(lb: &LoadBalancer, out: &mut Vec<Finding>) {
    for l in &lb.listeners {
        if !(l.protocol.is_layer4() && lb.ip_as_backend != Some(true)) {
            continue;
        }
        let mut f = finding(
            &lb.name,
            Code::RulesNotEnforced,
            format!(
                "{} listener {} on {}: \"IP as a backend\" is off, so security-group and firewall rules do not apply to its traffic; its access control does{}",
                l.protocol.as_str(),
                l.port,
                lb.name,
                if l.access_control.is_none() {
                    " (none is set: any source reaches the backends)"
                } else {
                    ""
                }
            ),
            fixes(lb.provider).rules_not_enforced(lb.kind == LbKind::Dedicated),
        );
        f.port = Some(l.port);
        f.protocol = Some(l.protocol.as_str());
        f.backend_group = l.backend_group.clone();
        out.push(f);
    }
}
