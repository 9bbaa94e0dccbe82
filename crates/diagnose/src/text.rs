//! The words of a finding: one-line summaries and the minimal fix in the provider's terms.

use super::{Check, Code, Finding, Perspectives, Role};
use probe_model::{AccessMode, Direction, RouteState};
use probe_observation::Observation;
use probe_policy::{Endpoint, Hop, HopKind, Leg, Policy, RuleRef, Verdict};

fn v6(check: &Check) -> bool {
    check.address.is_ipv6()
}

/// `10.0.0.0/24 (load balancer web-alb)`, `the agent 10.0.0.10 (sg-agent)`.
fn source_words(policy: &Policy, check: &Check, src: Option<&Endpoint>, agent: bool) -> String {
    let m = policy.model();
    let Some(src) = src else {
        return "the source".to_string();
    };
    let groups: Vec<&str> = src
        .groups
        .iter()
        .filter_map(|&g| m.security_groups.get(g as usize).map(|s| s.id.as_str()))
        .collect();
    let with_groups = if groups.is_empty() {
        String::new()
    } else {
        format!(" with {}", groups.join(", "))
    };
    if agent && check.role == Role::Client {
        return format!("this client {}", src.net);
    }
    if agent {
        return format!("the agent {}{with_groups}", src.net);
    }
    let lb = check.load_balancer.and_then(|i| m.load_balancers.get(i));
    let preserved = check.role == Role::Traffic
        && lb.is_some_and(|l| {
            check
                .backend_group
                .as_ref()
                .and_then(|n| m.backend_groups.iter().find(|b| &b.name == n))
                .is_some_and(|bg| bg.preserves_client_ip(l))
                && policy
                    .clients_of(check.load_balancer.unwrap_or_default())
                    .is_some()
        });
    match (check.role, lb) {
        (Role::Expectation, _) => format!("{}{with_groups}", src.net),
        (Role::Client, Some(lb)) => format!("clients {} of load balancer {}", src.net, lb.name),
        (Role::Traffic, Some(lb)) if preserved => format!(
            "clients {} (load balancer {} keeps their address{with_groups})",
            src.net, lb.name
        ),
        (_, Some(lb)) => format!("{} (load balancer {}{with_groups})", src.net, lb.name),
        _ => format!("{}{with_groups}", src.net),
    }
}

fn packet_words(check: &Check) -> String {
    check.packet.describe(v6(check))
}

/// Whether a security group is (shaped like) a VPC's default group: named `default`, or every
/// inbound rule admits only the group's own members (Huawei's and AWS's default groups).
fn admits_only_itself(g: &probe_model::SecurityGroup) -> bool {
    let mut ingress = g
        .rules
        .iter()
        .filter(|r| r.direction == Direction::Ingress)
        .peekable();
    g.name.as_deref() == Some("default")
        || (ingress.peek().is_some()
            && ingress.all(|r| {
                r.action == probe_model::Action::Allow && r.group.as_deref() == Some(g.id.as_str())
            }))
}

/// One sentence on what a blocking hop does to the flow.
fn hop_words(policy: &Policy, hop: &Hop, check: &Check, src: &str) -> String {
    let id = policy.component_id(hop);
    let rule = policy.rule_label(hop);
    let pkt = packet_words(check);
    let (list, peer) = match hop.direction {
        Direction::Ingress => ("inbound", format!("from {src}")),
        Direction::Egress => ("outbound", format!("to {}", check.address)),
    };
    match (hop.kind, hop.leg, hop.rule) {
        (HopKind::SecurityGroup, _, RuleRef::Implicit) => {
            let hint = match policy.model().security_groups.get(hop.component as usize) {
                Some(g) if hop.direction == Direction::Ingress && admits_only_itself(g) => {
                    " (it is a default security group: it admits only its own members, so the load balancer needs a rule of its own)"
                }
                _ => "",
            };
            format!("{id} has no {list} rule allowing {pkt} {peer}{hint}")
        }
        (HopKind::SecurityGroup, ..) => format!("{id} rule {rule} denies {pkt} {peer}"),
        (HopKind::NetworkAcl, Leg::Return, r) => format!(
            "{id} {} the return traffic of {pkt} (ports 1024-65535 back to {}){}",
            if hop.direction == Direction::Egress {
                "lets the flow in but its outbound rules drop"
            } else {
                "inbound rules drop"
            },
            src,
            match r {
                RuleRef::Implicit => " (no rule allows it: default deny *)".to_string(),
                RuleRef::Rule(_) => format!(" (rule {rule})"),
            }
        ),
        (HopKind::NetworkAcl, _, r) => match r {
            RuleRef::Implicit => {
                format!("no {list} rule of {id} allows {pkt} {peer} (default deny *)")
            }
            RuleRef::Rule(_) => format!("{id} {list} rule {rule} denies {pkt} {peer}"),
        },
        (HopKind::RouteTable, leg, r) => {
            let (to, what) = match leg {
                Leg::Forward => (
                    check.address.to_string(),
                    format!("{pkt} to {}", check.address),
                ),
                Leg::Return => (src.to_string(), format!("the answers to {src}")),
            };
            match (r, policy.route_of(hop)) {
                (RuleRef::Rule(_), Some(route)) if route.state == RouteState::Blackhole => {
                    match &route.reason {
                        Some(why) => format!(
                            "route table {id} sends {what} by route {rule}, whose target is gone (blackhole: {why})"
                        ),
                        None => format!(
                            "route table {id} sends {what} by route {rule}, whose target is gone (blackhole)"
                        ),
                    }
                }
                (RuleRef::Rule(_), Some(route)) => format!(
                    "route table {id} sends {what} by route {rule}: a {} carries only connections opened from inside, so they never get back",
                    route.via.kind.as_str().replace('_', " ")
                ),
                _ => format!("route table {id} has no route to {to}, so {what} go nowhere"),
            }
        }
        (HopKind::AccessControl, ..) => {
            let mode = policy
                .model()
                .load_balancers
                .get(hop.component as usize)
                .and_then(|lb| lb.listeners.get(hop.sub as usize))
                .and_then(|l| l.access_control.as_ref())
                .map(|a| a.mode);
            match mode {
                Some(AccessMode::Blacklist) => {
                    format!("the listener's blacklist {id} lists {src} (entry {rule})")
                }
                _ => format!("the listener's whitelist {id} does not list {src}"),
            }
        }
    }
}

fn observed_words(obs: &Observation) -> String {
    let mut s = format!("{} ({})", obs.state, obs.reason);
    if let Some(icmp) = &obs.icmp {
        s.push_str(&format!(
            ", ICMP type {} code {}{}",
            icmp.icmp_type,
            icmp.code,
            icmp.from.map(|a| format!(" from {a}")).unwrap_or_default()
        ));
    }
    s
}

/// The one-line summary of a finding. One arm per code, kept in one function on purpose: it is a
/// table of sentences, and a code's wording is easiest to review beside the others'.
pub fn summary_for(policy: &Policy, check: &Check, p: &Perspectives, f: &Finding) -> String {
    let lb_src = source_words(policy, check, p.lb_source.as_ref(), false);
    let agent_src = source_words(policy, check, policy.agent_endpoint().as_ref(), true);
    let pkt = packet_words(check);
    let target = match check.role {
        Role::Expectation => check.address.to_string(),
        _ if check.stand_in => check.backend.clone(),
        _ => format!("{} ({})", check.backend, check.address),
    };
    let lb_hop =
        p.lb.as_ref()
            .or(p.agent.as_ref())
            .and_then(Verdict::blocking)
            .map(|h| {
                hop_words(
                    policy,
                    h,
                    check,
                    if p.lb.is_some() { &lb_src } else { &agent_src },
                )
            });
    let agent_hop = p
        .agent
        .as_ref()
        .and_then(Verdict::blocking)
        .map(|h| hop_words(policy, h, check, &agent_src));
    let obs = f.observed.as_ref();
    let seen = obs.map(observed_words).unwrap_or_default();
    match f.code {
        Code::Ok => match obs {
            Some(o) => format!(
                "{pkt} to {target} is allowed from {} and the probe passed: {}{}",
                if p.lb.is_some() { &lb_src } else { &agent_src },
                observed_words(o),
                o.http
                    .as_ref()
                    .and_then(|h| h.status)
                    .map(|s| format!(", HTTP {s}"))
                    .unwrap_or_default()
            ),
            None => format!(
                "{pkt} to {target} is allowed from {}",
                if p.lb.is_some() { &lb_src } else { &agent_src }
            ),
        },
        Code::BlockedAsExpected => format!(
            "{pkt} to {target} is blocked, as expected: {}",
            lb_hop.unwrap_or_default()
        ),
        Code::ExpectationViolated => format!(
            "{pkt} to {target} must be blocked, but the configuration allows it from {lb_src}"
        ),
        Code::SgIngressMissing
        | Code::SgEgressMissing
        | Code::SgDeny
        | Code::NaclDeny
        | Code::NaclReturnBlocked
        | Code::AccessControlDeny
        | Code::RouteMissing
        | Code::RouteBlackhole => lb_hop.unwrap_or_else(|| format!("{pkt} to {target} is denied")),
        Code::LbSubnetNotPublic => format!(
            "clients on the internet cannot reach {target}: {}",
            lb_hop.unwrap_or_else(|| {
                "the load balancer's subnet has no route to an internet gateway".to_string()
            })
        ),
        Code::ReportedHealthDiffers => format!(
            "the provider reports {} as {}, but probe {}",
            check.backend,
            f.reported
                .as_ref()
                .map(|r| match &r.reason {
                    Some(reason) => format!("{} ({reason})", r.state),
                    None => r.state.clone(),
                })
                .unwrap_or_else(|| "?".to_string()),
            match obs {
                Some(o) => format!(
                    "predicts {} and saw {}",
                    if p.lb
                        .as_ref()
                        .or(p.agent.as_ref())
                        .is_none_or(Verdict::allowed)
                    {
                        "it passes"
                    } else {
                        "it fails"
                    },
                    observed_words(o)
                ),
                None => "predicts otherwise".to_string(),
            }
        ),
        Code::IcmpBlockedForUdpCheck => format!(
            "the UDP health check pings {target} before it sends its datagram, and {}: the check cannot pass",
            lb_hop.unwrap_or_else(|| "ICMP is blocked".to_string())
        ),
        Code::HealthCheckPortBlocked => format!(
            "the traffic port is allowed, but the health-check port is not: {}",
            lb_hop.unwrap_or_default()
        ),
        Code::HealthCheckSourceNotAllowed => format!(
            "the agent may reach {pkt} on {target}, but the load balancer's health checks may not: {}",
            lb_hop.unwrap_or_default()
        ),
        Code::PortClosed => format!(
            "the configuration allows {pkt} to {target}, but it answered {seen}: nothing listens on that port (or only on 127.0.0.1)"
        ),
        Code::HostFirewallSuspected => format!(
            "the configuration allows {pkt} from {agent_src} to {target}, but the probe saw {seen}: a host firewall or an unmodelled component drops it"
        ),
        Code::NoRoute => format!("{target} is unreachable: {seen}"),
        Code::ConfigDriftAllowed => format!(
            "the configuration denies {pkt} from {agent_src} ({}), yet the probe got through: {seen}. The live network is more open than the configuration says",
            agent_hop.unwrap_or_default()
        ),
        Code::ResponseCodeMismatch => {
            let http = obs.and_then(|o| o.http.as_ref());
            let (path, codes) = match &check.probe {
                super::ProbeKind::Http {
                    path,
                    expected_codes,
                    ..
                } => (path.as_str(), expected_codes.as_str()),
                _ => ("/", "200"),
            };
            format!(
                "the health check GET {path} on {target} answered {}{}, but the matcher expects {codes}",
                http.and_then(|h| h.status)
                    .map_or("something that is not HTTP".to_string(), |s| format!(
                        "HTTP {s}"
                    )),
                http.and_then(|h| h.location.as_ref())
                    .map(|l| format!(" (Location: {l})"))
                    .unwrap_or_default()
            )
        }
        Code::TlsHandshakeFailed => format!(
            "TCP to {target} connects, but the TLS handshake fails: {}",
            obs.and_then(|o| o
                .tls
                .as_ref()
                .and_then(|t| t.error.clone())
                .or(o.detail.clone()))
                .unwrap_or_default()
        ),
        Code::TimeoutSlowResponse => format!(
            "{target} accepted the connection but did not answer within the health check's {} s timeout",
            check.timeout_s
        ),
        Code::ProbePerspectiveDiffers => format!(
            "{}; {}: the probe cannot stand in for the load balancer on {pkt} to {target}",
            match &lb_hop {
                Some(h) if p.lb.as_ref().is_some_and(|v| !v.allowed()) =>
                    format!("the load balancer is denied ({h})"),
                _ => format!("the load balancer ({lb_src}) is allowed"),
            },
            match agent_hop {
                Some(h) => format!("the agent is denied ({h})"),
                None => format!("{agent_src} is allowed"),
            }
        ),
        Code::ProbeError => format!(
            "the probe of {pkt} on {target} could not run ({}); judged from the configuration only",
            obs.and_then(|o| o.detail.clone()).unwrap_or_default()
        ),
        // Static findings carry their summary from where they are made.
        Code::RulesNotEnforced
        | Code::LbSubnetTooSmall
        | Code::LbSubnetFewFreeAddresses
        | Code::TargetZoneWithoutLbSubnet
        | Code::TargetNoInternetEgress
        | Code::TargetGroupEmpty
        | Code::TargetGroupNotInUse
        | Code::ZoneWithoutTargets => String::new(),
    }
}
