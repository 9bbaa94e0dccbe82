//! Findings from the configuration alone, by the provider's rules ([`probe_model::Profile`]):
//! load balancer subnets too small, short of free addresses or missing from a target zone, and
//! layer-4 listeners whose traffic bypasses security groups and firewalls.

use super::fix::{RouteFix, RouteProblem, SubnetFix, fixes};
use super::{Blocking, Code, Finding, Role};
use probe_model::{
    Direction, LbKind, LoadBalancer, Model, RouteState, RouteTable, RouteTarget, RouteTargetKind,
    Subnet, SubnetRules,
};
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
            rules_not_enforced(model, lb, &mut out);
        }
    }
    for (li, lb) in model.load_balancers.iter().enumerate() {
        if lb.provider.profile().internet_via_route_table && policy.clients_are_internet(li) {
            subnets_not_public(policy, lb, &mut out);
        }
        zones_without_targets(policy, lb, &mut out);
    }
    wiring(model, &mut out);
    targets_without_egress(policy, &mut out);
    out
}

/// Whether a route table has an active default route (of the family) through an internet
/// gateway.
fn default_to_internet(t: &RouteTable, v6: bool) -> bool {
    t.default_route(v6)
        .is_some_and(|(_, r)| r.state == RouteState::Active && r.via.kind.is_internet())
}

/// Each subnet of an internet-facing load balancer whose route table has no default route to
/// an internet gateway (only when the model has route tables).
fn subnets_not_public(policy: &Policy, lb: &LoadBalancer, out: &mut Vec<Finding>) {
    let model = policy.model();
    for id in &lb.subnets {
        let Some(si) = policy.subnet_for(Some(id), std::net::Ipv4Addr::UNSPECIFIED.into()) else {
            continue;
        };
        let Some(table) = policy.route_table_for_subnet(si) else {
            continue;
        };
        if default_to_internet(table, false) {
            continue;
        }
        let today = match table.default_route(false) {
            Some((_, r)) => format!(
                "its default route goes to {} {}{}",
                r.via.kind.as_str().replace('_', " "),
                r.via.id.as_deref().unwrap_or(""),
                if r.state == RouteState::Blackhole {
                    " (blackhole)"
                } else {
                    ""
                }
            ),
            None => "it has no default route".to_string(),
        };
        let gateway = model
            .route_tables
            .iter()
            .filter(|t| t.network == table.network)
            .flat_map(|t| &t.routes)
            .find(|r| r.via.kind.is_internet() && r.state == RouteState::Active)
            .and_then(|r| r.via.id.clone());
        let public = model
            .route_tables
            .iter()
            .find(|t| t.network == table.network && default_to_internet(t, false))
            .map(|t| t.id.clone());
        let mut f = finding(
            &lb.name,
            Code::LbSubnetNotPublic,
            format!(
                "internet-facing load balancer {} sits in subnet {id}, whose route table {} sends nothing to an internet gateway ({today}): clients on the internet cannot reach it, nor it them",
                lb.name, table.id
            ),
            fixes(lb.provider).route(&RouteFix {
                table: table.id.clone(),
                subnet: Some(id.clone()),
                destination: "0.0.0.0/0".to_string(),
                v6: false,
                problem: if table.default_route(false).is_some() {
                    RouteProblem::OneWay
                } else {
                    RouteProblem::Missing
                },
                via: Some(RouteTarget {
                    kind: RouteTargetKind::InternetGateway,
                    id: gateway,
                }),
                better_table: public,
            }),
        );
        f.blocking = Some(Blocking {
            kind: "route_table",
            id: table.id.clone(),
            rule: table
                .default_route(false)
                .map(|(_, r)| {
                    format!(
                        "{} via {}",
                        r.destination,
                        r.via.id.as_deref().unwrap_or(r.via.kind.as_str())
                    )
                })
                .unwrap_or_else(|| "*".to_string()),
            direction: Direction::Egress,
        });
        out.push(f);
    }
}

/// Backend groups a listener forwards to that have no members, and groups with members that no
/// listener forwards to (only when the model has load balancers: a model of targets alone
/// says nothing of wiring).
fn wiring(model: &Model, out: &mut Vec<Finding>) {
    if model.load_balancers.is_empty() {
        return;
    }
    let mut used = std::collections::HashSet::new();
    for lb in &model.load_balancers {
        for l in &lb.listeners {
            for name in l.backend_group_names() {
                let Some(bg) = model.backend_groups.iter().find(|b| b.name == name) else {
                    continue;
                };
                if bg.members.is_empty() && used.insert(name.to_string()) {
                    let mut f = finding(
                        &lb.name,
                        Code::TargetGroupEmpty,
                        format!(
                            "listener {} of {} forwards to backend group {name}, which has no targets: its requests fail (HTTP 503 on an ALB, reset on an NLB)",
                            l.port, lb.name
                        ),
                        fixes(lb.provider).register_targets(bg.id.as_deref().unwrap_or(name)),
                    );
                    f.backend_group = Some(name.to_string());
                    f.port = Some(l.port);
                    f.protocol = Some(l.protocol.as_str());
                    out.push(f);
                }
                used.insert(name.to_string());
            }
        }
    }
    for bg in &model.backend_groups {
        if bg.members.is_empty() || used.contains(&bg.name) {
            continue;
        }
        let provider = model.load_balancers[0].provider;
        let mut f = finding(
            "",
            Code::TargetGroupNotInUse,
            format!(
                "backend group {} has {} target(s) but no listener forwards to it: the load balancer neither health-checks nor sends traffic to them",
                bg.name,
                bg.members.len()
            ),
            fixes(provider).forward_to(bg.id.as_deref().unwrap_or(&bg.name)),
        );
        f.load_balancer = None;
        f.backend_group = Some(bg.name.clone());
        out.push(f);
    }
}

/// Zones of a load balancer that hold no target of a group it forwards to, where cross-zone
/// load balancing is off for that group: the zone's node has nowhere to send its clients.
fn zones_without_targets(policy: &Policy, lb: &LoadBalancer, out: &mut Vec<Finding>) {
    let model = policy.model();
    let lb_zones: Vec<&str> = lb_subnets(model, lb)
        .iter()
        .filter_map(|s| s.zone.as_deref())
        .collect();
    let mut names: Vec<&str> = lb
        .listeners
        .iter()
        .flat_map(|l| l.backend_group_names())
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let Some(bg) = model.backend_groups.iter().find(|b| b.name == name) else {
            continue;
        };
        if bg.members.is_empty() || bg.cross_zone_enabled(lb) {
            continue;
        }
        let member_zones: Vec<Option<&str>> = bg
            .members
            .iter()
            .map(|m| {
                policy
                    .subnet_for(m.subnet.as_deref(), m.address)
                    .and_then(|i| model.subnets.get(i as usize))
                    .and_then(|s| s.zone.as_deref())
            })
            .collect();
        if member_zones.iter().any(Option::is_none) {
            continue;
        }
        for z in &lb_zones {
            if member_zones.contains(&Some(z)) {
                continue;
            }
            let mut f = finding(
                &lb.name,
                Code::ZoneWithoutTargets,
                format!(
                    "load balancer {} is enabled in zone {z}, where backend group {name} has no targets, and cross-zone load balancing is off: clients sent to that zone's node fail",
                    lb.name
                ),
                fixes(lb.provider).cross_zone(bg.id.as_deref().unwrap_or(name), z),
            );
            f.backend_group = Some(name.to_string());
            out.push(f);
        }
    }
}

/// Subnets with members whose route table has no default route out (to a NAT gateway or an
/// internet gateway): the targets cannot fetch updates. Only when the model has route tables.
fn targets_without_egress(policy: &Policy, out: &mut Vec<Finding>) {
    let model = policy.model();
    let mut seen = std::collections::HashSet::new();
    for bg in &model.backend_groups {
        for m in &bg.members {
            let Some(si) = policy.subnet_for(m.subnet.as_deref(), m.address) else {
                continue;
            };
            if !seen.insert(si) {
                continue;
            }
            let Some(table) = policy.route_table_for_subnet(si) else {
                continue;
            };
            let v6 = m.address.is_ipv6();
            let out_ok = table
                .default_route(v6)
                .is_some_and(|(_, r)| r.state == RouteState::Active && r.via.kind.is_egress());
            if out_ok {
                continue;
            }
            let subnet = &model.subnets[si as usize];
            let mut f = finding(
                "",
                Code::TargetNoInternetEgress,
                format!(
                    "targets in subnet {} (such as {}) have no default route to a NAT or internet gateway in route table {}: they cannot download software or patches (load balancing is not affected)",
                    subnet.id,
                    m.display_name(),
                    table.id
                ),
                fixes(
                    model
                        .load_balancers
                        .first()
                        .map_or(probe_model::Provider::Generic, |l| l.provider),
                )
                .nat_egress(&table.id),
            );
            f.load_balancer = None;
            f.backend_group = Some(bg.name.clone());
            out.push(f);
        }
    }
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
        load_balancer: (!lb.is_empty()).then(|| lb.to_string()),
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
    let served = model
        .backend_groups
        .iter()
        .filter(|bg| lb.listeners.iter().any(|l| l.forwards_to(&bg.name)));
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

/// Layer-4 listeners whose forwarded traffic bypasses security groups and firewalls (a dedicated
/// load balancer without "IP as a backend", a shared one with transparent client IP).
fn rules_not_enforced(model: &probe_model::Model, lb: &LoadBalancer, out: &mut Vec<Finding>) {
    for l in &lb.listeners {
        let group = l
            .backend_group
            .as_deref()
            .and_then(|n| model.backend_groups.iter().find(|g| g.name == n));
        if !l.protocol.is_layer4() || probe_policy::rules_enforced(lb, group) {
            continue;
        }
        let why = if lb.kind == LbKind::Shared {
            "transparent client IP is on"
        } else {
            "\"IP as a backend\" is off"
        };
        let mut f = finding(
            &lb.name,
            Code::RulesNotEnforced,
            format!(
                "{} listener {} on {}: {why}, so security-group and firewall rules do not apply to its traffic; its access control does{}",
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
