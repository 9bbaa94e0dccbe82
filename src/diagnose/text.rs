//! The words of a finding: one-line summaries and the minimal fix in the provider's terms.

use std::net::IpAddr;

use super::{Check, Code, Finding, Perspectives, Role};
use crate::model::{AccessMode, Direction, Provider};
use crate::observation::Observation;
use crate::policy::{Endpoint, Hop, HopKind, Leg, Packet, Policy, RuleRef, Verdict};

fn provider(policy: &Policy, check: &Check) -> Provider {
    let m = policy.model();
    check
        .load_balancer
        .and_then(|i| m.load_balancers.get(i))
        .or(m.load_balancers.first())
        .map_or(Provider::Generic, |lb| lb.provider)
}

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
    if agent {
        return format!("the agent {}{with_groups}", src.net);
    }
    match (
        check.role,
        check.load_balancer.and_then(|i| m.load_balancers.get(i)),
    ) {
        (Role::Expectation, _) => format!("{}{with_groups}", src.net),
        (_, Some(lb)) => format!("{} (load balancer {}{with_groups})", src.net, lb.name),
        _ => format!("{}{with_groups}", src.net),
    }
}

fn packet_words(check: &Check) -> String {
    check.packet.describe(v6(check))
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
            format!("{id} has no {list} rule allowing {pkt} {peer}")
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

/// The one-line summary of a finding.
pub fn summary_for(policy: &Policy, check: &Check, p: &Perspectives, f: &Finding) -> String {
    let lb_src = source_words(policy, check, p.lb_source.as_ref(), false);
    let agent_src = source_words(policy, check, policy.agent_endpoint().as_ref(), true);
    let pkt = packet_words(check);
    let target = match check.role {
        Role::Expectation => check.address.to_string(),
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
        | Code::AccessControlDeny => {
            lb_hop.unwrap_or_else(|| format!("{pkt} to {target} is denied"))
        }
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
        Code::RulesNotEnforced
        | Code::LbSubnetTooSmall
        | Code::LbSubnetFewFreeAddresses
        | Code::TargetZoneWithoutLbSubnet => String::new(),
    }
}

/// The minimal fix, in the provider's terms, or `None` when nothing needs fixing.
pub fn fix_for(policy: &Policy, check: &Check, p: &Perspectives, f: &Finding) -> Option<String> {
    let prov = provider(policy, check);
    let verdict_fix = |v: &Verdict, src: Option<&Endpoint>| -> Option<String> {
        let hop = v.blocking()?;
        Some(rule_fix(policy, prov, hop, check, src))
    };
    match f.code {
        Code::Ok | Code::BlockedAsExpected => None,
        Code::SgIngressMissing
        | Code::SgEgressMissing
        | Code::SgDeny
        | Code::NaclDeny
        | Code::NaclReturnBlocked
        | Code::AccessControlDeny
        | Code::IcmpBlockedForUdpCheck
        | Code::HealthCheckPortBlocked
        | Code::HealthCheckSourceNotAllowed => match (&p.lb, p.lb_source.as_ref()) {
            (Some(v), src) => verdict_fix(v, src),
            (None, _) => p
                .agent
                .as_ref()
                .and_then(|v| verdict_fix(v, policy.agent_endpoint().as_ref())),
        },
        Code::ExpectationViolated => Some(format!(
            "remove or narrow the rules that let {} through from the expectation's source (see expected.path)",
            packet_words(check)
        )),
        Code::PortClosed => Some(match check.packet.port() {
            Some(port) => format!(
                "start the service on {}:{port}, or make it listen on the interface address rather than 127.0.0.1 (check with: ss -lntup 'sport = :{port}')",
                check.address
            ),
            None => format!("make {} answer", check.address),
        }),
        Code::HostFirewallSuspected => Some(format!(
            "on {} look for a host firewall rule dropping {}: nft list ruleset; iptables -S; firewall-cmd --list-all (or the Windows Firewall). If an appliance or route sits in between, model it",
            check.address,
            packet_words(check)
        )),
        Code::NoRoute => Some(format!(
            "check the route from the agent's subnet to {} (route tables, and that the instance is running)",
            check.address
        )),
        Code::ConfigDriftAllowed => Some(
            "re-export the configuration (the dump may be stale); if it is current, find the path the model does not have (another security group, a permissive host) — the intended block is not in force".to_string(),
        ),
        Code::ResponseCodeMismatch => {
            let codes = match &check.probe {
                super::ProbeKind::Http { expected_codes, .. } => expected_codes.clone(),
                _ => "200".to_string(),
            };
            let status = f
                .observed
                .as_ref()
                .and_then(|o| o.http.as_ref())
                .and_then(|h| h.status);
            let widen = status.map(|s| format!("{codes},{s}")).unwrap_or(codes.clone());
            let bg = check
                .backend_group
                .as_ref()
                .and_then(|n| policy.model().backend_groups.iter().find(|b| &b.name == n));
            Some(match prov {
                Provider::Aws => format!(
                    "make the health-check path answer {codes} (no redirect), or accept the status: aws elbv2 modify-target-group --target-group-arn {} --matcher HttpCode={widen}",
                    bg.and_then(|b| b.id.clone()).unwrap_or_else(|| "<arn>".to_string())
                ),
                Provider::Huawei => format!(
                    "make the health-check path answer {codes} (no redirect), or set the health monitor's expected_codes to {widen}"
                ),
                Provider::Generic => format!(
                    "make the health-check path answer {codes} (no redirect), or set health_check.expected_codes: \"{widen}\""
                ),
            })
        }
        Code::TlsHandshakeFailed => Some(format!(
            "check the TLS listener on {}: certificate, key and protocol versions (openssl s_client -connect {}:{})",
            check.address,
            check.address,
            check.packet.port().unwrap_or(443)
        )),
        Code::TimeoutSlowResponse => Some(format!(
            "make the health-check path answer within {} s (it should not wait on dependencies), or raise the health check's timeout",
            check.timeout_s
        )),
        Code::ProbePerspectiveDiffers => {
            let agent = policy.agent_endpoint();
            p.agent
                .as_ref()
                .filter(|v| !v.allowed())
                .and_then(|v| v.blocking())
                .map(|hop| {
                    format!(
                        "to let the agent probe like the load balancer: {}",
                        rule_fix(policy, prov, hop, check, agent.as_ref())
                    )
                })
                .or_else(|| {
                    Some("the load balancer is denied where the agent is allowed; see the load balancer's path in `expected`".to_string())
                })
        }
        Code::ProbeError => Some(
            "run probe with the rights the probe needs (CAP_NET_RAW for ICMP) and check the detail".to_string(),
        ),
        _ => None,
    }
}

fn proto_name(packet: Packet, v6: bool) -> &'static str {
    match packet {
        Packet::Tcp(_) => "tcp",
        Packet::Udp(_) => "udp",
        Packet::Icmp { .. } if v6 => "icmpv6",
        Packet::Icmp { .. } => "icmp",
        Packet::Other(_) => "-1",
    }
}

/// The provider-specific change that lets the flow through `hop`.
fn rule_fix(
    policy: &Policy,
    prov: Provider,
    hop: &Hop,
    check: &Check,
    src: Option<&Endpoint>,
) -> String {
    let m = policy.model();
    let id = policy.component_id(hop);
    let v6 = v6(check);
    let proto = proto_name(check.packet, v6);
    let port = check.packet.port();
    let src_net = src
        .map(|s| s.net.to_string())
        .unwrap_or_else(|| "<source>".to_string());
    let src_group = src
        .and_then(|s| s.groups.first())
        .and_then(|&g| m.security_groups.get(g as usize))
        .map(|g| g.id.clone());
    let dst = policy.endpoint(check.address);
    let dst_group = dst
        .groups
        .first()
        .and_then(|&g| m.security_groups.get(g as usize))
        .map(|g| g.id.clone());
    let dst_host = if v6 {
        format!("{}/128", check.address)
    } else {
        format!("{}/32", check.address)
    };
    let (icmp_type, icmp_code) = match check.packet {
        Packet::Icmp { icmp_type, code } => (i32::from(icmp_type), i32::from(code)),
        _ => (-1, -1),
    };
    let ports_yaml = match check.packet {
        Packet::Icmp { icmp_type, .. } => format!("icmp_type: {icmp_type}"),
        _ => port.map(|p| format!("ports: {p}")).unwrap_or_default(),
    };

    match hop.kind {
        HopKind::SecurityGroup => {
            let ingress = hop.direction == Direction::Ingress;
            let (remote_flag, remote_yaml, remote_perm) = if ingress {
                match &src_group {
                    Some(g) => (
                        format!("--source-group {g}"),
                        format!("group: {g}"),
                        format!("UserIdGroupPairs=[{{GroupId={g}}}]"),
                    ),
                    None => (
                        format!("--cidr {src_net}"),
                        format!("cidr: {src_net}"),
                        if v6 {
                            format!("Ipv6Ranges=[{{CidrIpv6={src_net}}}]")
                        } else {
                            format!("IpRanges=[{{CidrIp={src_net}}}]")
                        },
                    ),
                }
            } else {
                match &dst_group {
                    Some(g) => (
                        format!("--source-group {g}"),
                        format!("group: {g}"),
                        format!("UserIdGroupPairs=[{{GroupId={g}}}]"),
                    ),
                    None => (
                        format!("--cidr {dst_host}"),
                        format!("cidr: {dst_host}"),
                        if v6 {
                            format!("Ipv6Ranges=[{{CidrIpv6={dst_host}}}]")
                        } else {
                            format!("IpRanges=[{{CidrIp={dst_host}}}]")
                        },
                    ),
                }
            };
            let (from, to) = match (check.packet, port) {
                (Packet::Icmp { .. }, _) => (icmp_type, icmp_code.max(-1)),
                (_, Some(p)) => (i32::from(p), i32::from(p)),
                _ => (-1, -1),
            };
            let deny_note = match hop.rule {
                RuleRef::Rule(_) => format!(
                    "rule {} of {id} denies it: remove it or add an allow rule with a higher priority (a smaller number); ",
                    policy.rule_label(hop)
                ),
                RuleRef::Implicit => String::new(),
            };
            match prov {
                Provider::Aws => {
                    if ingress && !matches!(check.packet, Packet::Icmp { .. }) {
                        format!(
                            "{deny_note}aws ec2 authorize-security-group-ingress --group-id {id} --protocol {proto} --port {} {remote_flag}",
                            port.map_or("-1".to_string(), |p| p.to_string())
                        )
                    } else {
                        format!(
                            "{deny_note}aws ec2 authorize-security-group-{} --group-id {id} --ip-permissions 'IpProtocol={proto},FromPort={from},ToPort={to},{remote_perm}'",
                            if ingress { "ingress" } else { "egress" }
                        )
                    }
                }
                Provider::Huawei => {
                    let remote = if ingress {
                        match &src_group {
                            Some(g) => format!("--security_group_rule.remote_group_id={g}"),
                            None => format!("--security_group_rule.remote_ip_prefix={src_net}"),
                        }
                    } else {
                        format!("--security_group_rule.remote_ip_prefix={dst_host}")
                    };
                    let ports = match check.packet {
                        Packet::Icmp { .. } => String::new(),
                        _ => port
                            .map(|p| format!(" --security_group_rule.multiport={p}"))
                            .unwrap_or_default(),
                    };
                    format!(
                        "{deny_note}hcloud VPC CreateSecurityGroupRule/v3 --cli-region=<region> --project_id=<project> --security_group_rule.security_group_id={id} --security_group_rule.direction={} --security_group_rule.ethertype={} --security_group_rule.protocol={proto}{ports} {remote} --security_group_rule.action=allow --security_group_rule.priority=1",
                        hop.direction,
                        if v6 { "IPv6" } else { "IPv4" }
                    )
                }
                Provider::Generic => format!(
                    "{deny_note}add to security group {id}: {{direction: {}, protocol: {proto}, {ports_yaml}, {remote_yaml}}}",
                    hop.direction
                ),
            }
        }
        HopKind::NetworkAcl => {
            let acl = m.network_acls.get(hop.component as usize);
            let egress = hop.direction == Direction::Egress;
            let rules = acl.map(|a| if egress { &a.outbound } else { &a.inbound });
            let used: Vec<u32> = rules
                .map(|r| r.iter().map(|x| x.number).collect())
                .unwrap_or_default();
            let deny_number = match hop.rule {
                RuleRef::Rule(i) => rules.and_then(|r| r.get(i as usize)).map(|r| r.number),
                RuleRef::Implicit => None,
            };
            let number = free_rule_number(&used, deny_number);
            // Remote side and ports of the rule to add.
            let ret = hop.leg == Leg::Return;
            let remote = match (ret, egress) {
                // Forward outbound from the source subnet: to the destination.
                (false, true) => dst_host.clone(),
                (false, false) => src_net.clone(),
                // Return outbound from the destination subnet: back to the source.
                (true, true) => src_net.clone(),
                (true, false) => dst
                    .subnet
                    .and_then(|i| m.subnets.get(i as usize))
                    .map(|s| s.cidr.trunc().to_string())
                    .unwrap_or_else(|| dst_host.clone()),
            };
            let (ports_flag, ports_words) = match (check.packet, ret) {
                (Packet::Icmp { .. }, false) => (
                    format!(" --icmp-type-code Type={icmp_type},Code=-1"),
                    format!("type {icmp_type}"),
                ),
                (Packet::Icmp { .. }, true) => (
                    format!(
                        " --icmp-type-code Type={},Code=-1",
                        if v6 { 129 } else { 0 }
                    ),
                    "echo reply".to_string(),
                ),
                (_, true) => (
                    " --port-range From=1024,To=65535".to_string(),
                    "ports 1024-65535".to_string(),
                ),
                (_, false) => match port {
                    Some(p) => (
                        format!(" --port-range From={p},To={p}"),
                        format!("port {p}"),
                    ),
                    None => (String::new(), "all ports".to_string()),
                },
            };
            let proto_num = match check.packet {
                Packet::Tcp(_) => "6",
                Packet::Udp(_) => "17",
                Packet::Icmp { .. } if v6 => "58",
                Packet::Icmp { .. } => "1",
                Packet::Other(_) => "-1",
            };
            let Some(number) = number else {
                return format!(
                    "{id} has no free rule number below {}: renumber its {} rules, then allow {proto} {ports_words} {} {remote}",
                    deny_number.unwrap_or(32766),
                    if egress { "outbound" } else { "inbound" },
                    if egress { "to" } else { "from" }
                );
            };
            let stateful = acl.is_some_and(|a| a.stateful);
            match prov {
                Provider::Aws => format!(
                    "aws ec2 create-network-acl-entry --network-acl-id {id} {} --rule-number {number} --protocol {proto_num}{ports_flag} --{} {remote} --rule-action allow",
                    if egress { "--egress" } else { "--ingress" },
                    if v6 { "ipv6-cidr-block" } else { "cidr-block" }
                ),
                _ => format!(
                    "add to {} {id}, {} rule {number}{}: {{number: {number}, action: allow, protocol: {proto}, {}cidr: {remote}}}",
                    if stateful { "firewall" } else { "network ACL" },
                    if egress { "outbound" } else { "inbound" },
                    deny_number
                        .map(|d| format!(" (before rule {d})"))
                        .unwrap_or_default(),
                    match (check.packet, ret) {
                        (Packet::Icmp { .. }, _) => String::new(),
                        (_, true) => "ports: 1024-65535, ".to_string(),
                        (_, false) => port.map(|p| format!("ports: {p}, ")).unwrap_or_default(),
                    }
                ),
            }
        }
        HopKind::AccessControl => {
            let addr: IpAddr = src.map_or(check.address, |s| s.net.to_ipnet().addr());
            let mode = m
                .load_balancers
                .get(hop.component as usize)
                .and_then(|lb| lb.listeners.get(hop.sub as usize))
                .and_then(|l| l.access_control.as_ref())
                .map(|a| a.mode);
            match (prov, mode) {
                (Provider::Huawei, Some(AccessMode::Blacklist)) => format!(
                    "remove {} from IP address group {id} (ELB > IP Address Groups), or switch the listener's access control off",
                    policy.rule_label(hop)
                ),
                (Provider::Huawei, _) => format!(
                    "add {addr} to IP address group {id} (ELB > IP Address Groups > Add IP Addresses), which the listener uses as its whitelist"
                ),
                (_, Some(AccessMode::Blacklist)) => {
                    format!(
                        "remove {} from the listener's access_control",
                        policy.rule_label(hop)
                    )
                }
                _ => format!("add {addr} to the listener's access_control.cidrs"),
            }
        }
    }
}

/// A free rule number for a new allow rule: below `before` when an explicit deny must be
/// overtaken (the largest free number under it), otherwise the next multiple of 10 above the
/// existing rules (AWS numbers go up to 32766).
fn free_rule_number(used: &[u32], before: Option<u32>) -> Option<u32> {
    match before {
        Some(d) => (1..d).rev().find(|n| !used.contains(n)),
        None => {
            let top = used
                .iter()
                .copied()
                .filter(|&n| n < 32767)
                .max()
                .unwrap_or(0);
            let next = (top / 10 + 1) * 10;
            if next <= 32766 {
                Some(next)
            } else {
                (1..=32766).rev().find(|n| !used.contains(n))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::free_rule_number;

    #[test]
    fn new_acl_rules_go_just_before_the_deny_or_after_the_last_rule() {
        assert_eq!(free_rule_number(&[100, 110], Some(110)), Some(109));
        assert_eq!(free_rule_number(&[1, 2], Some(2)), None);
        assert_eq!(free_rule_number(&[100, 110], None), Some(120));
        assert_eq!(free_rule_number(&[], None), Some(10));
    }
}
