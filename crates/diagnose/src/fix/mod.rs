//! The minimal fix of a finding, in the provider's own terms.
//!
//! What to change is worked out here, once, for every provider: which rule of which component,
//! in which direction, for which protocol, ports and remote side ([`SgRule`], [`AclRule`],
//! [`AccessEntry`], [`Matcher`]). How to say it is each provider's ([`Fixes`]): AWS CLI commands
//! ([`aws`]), KooCLI commands and console steps ([`huawei`]), native YAML ([`generic`]). The
//! provider is chosen by an exhaustive `match` ([`fixes`]): a new provider must say how it fixes
//! every kind of rule.

mod aws;
mod generic;
mod huawei;

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Check, Code, Finding, Perspectives, ProbeKind};
use probe_model::{AccessMode, Direction, Provider, RouteState, RouteTarget};
use probe_policy::{Endpoint, Hop, HopKind, Leg, Packet, Policy, RuleRef, Verdict};

/// How one provider words each kind of fix.
pub(crate) trait Fixes {
    /// A security-group rule that lets the flow through.
    fn security_group_rule(&self, r: &SgRule) -> String;
    /// A network ACL (firewall) rule that lets the flow (or its return) through.
    fn acl_rule(&self, r: &AclRule) -> String;
    /// A change of a listener's access control.
    fn access_entry(&self, r: &AccessEntry) -> String;
    /// A health check's status matcher that a backend's answer does not meet.
    fn matcher(&self, r: &Matcher) -> String;
    /// A load balancer subnet smaller than the provider allows.
    fn subnet_too_small(&self, r: &SubnetFix) -> String;
    /// A load balancer subnet with too few free addresses.
    fn subnet_few_free(&self, r: &SubnetFix) -> String;
    /// A zone with targets where the load balancer has no subnet.
    fn zone_without_subnet(&self, r: &SubnetFix) -> String;
    /// A layer-4 listener whose traffic bypasses security groups and firewalls.
    fn rules_not_enforced(&self, dedicated: bool) -> String;
    /// A route table without a (working) route for the flow or its return.
    fn route(&self, r: &RouteFix) -> String;
    /// A backend group a listener forwards to, without targets.
    fn register_targets(&self, group: &str) -> String;
    /// A backend group with targets that no listener forwards to.
    fn forward_to(&self, group: &str) -> String;
    /// A backend group without targets in a zone of its load balancer, cross-zone off.
    fn cross_zone(&self, group: &str, zone: &str) -> String;
    /// A route table with no default route out, for targets that need the internet.
    fn nat_egress(&self, table: &str) -> String;
}

/// The fix renderer of `provider`.
pub(crate) fn fixes(provider: Provider) -> &'static dyn Fixes {
    match provider {
        Provider::Aws => &aws::Aws,
        Provider::Huawei => &huawei::Huawei,
        Provider::Generic => &generic::Generic,
    }
}

/// A security-group rule to add. The remote side is given every way a provider may name it;
/// each provider picks its own.
pub(crate) struct SgRule {
    /// The group to change.
    pub group: String,
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or `-1`.
    pub proto: &'static str,
    pub port: Option<u16>,
    /// ICMP: the type the flow carries (an echo request: 8 or 128).
    pub icmp: Option<u8>,
    /// AWS `FromPort`/`ToPort`: the port twice, or ICMP type and code (-1 for any).
    pub from_to: (i32, i32),
    /// The source's first security group and its network.
    pub src_group: Option<String>,
    pub src_net: String,
    /// The destination's first security group and its address as a host prefix.
    pub dst_group: Option<String>,
    pub dst_host: String,
    pub v6: bool,
    /// When a deny rule of the group matched: what to say about it first.
    pub deny_note: String,
}

impl SgRule {
    pub(crate) fn ingress(&self) -> bool {
        self.direction == Direction::Ingress
    }

    /// The remote group where the rule names one (the source's for ingress, the destination's
    /// for egress), else `None` and the remote network.
    pub(crate) fn remote(&self) -> (Option<&str>, &str) {
        if self.ingress() {
            (self.src_group.as_deref(), &self.src_net)
        } else {
            (self.dst_group.as_deref(), &self.dst_host)
        }
    }
}

/// The ports an ACL rule must allow.
#[derive(Clone, Copy)]
pub(crate) enum AclPorts {
    /// ICMP of this type (forward), or the echo reply (return).
    Icmp {
        icmp_type: i32,
        reply: bool,
    },
    /// The return path: 1024-65535.
    Ephemeral,
    Port(u16),
    All,
}

/// A network ACL (or firewall) rule to add.
pub(crate) struct AclRule {
    pub acl: String,
    pub egress: bool,
    /// The rule number (or position) it takes.
    pub number: u32,
    /// The explicit deny rule it must come before, if one matched.
    pub before: Option<u32>,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or `-1`, and the protocol number.
    pub proto: &'static str,
    pub proto_number: &'static str,
    pub ports: AclPorts,
    /// The remote network: the source or destination the rule names.
    pub remote: String,
    pub v6: bool,
    pub stateful: bool,
    /// Where the rule goes, for providers whose rules are ordered positions (Huawei): after the
    /// rule with this provider id, just above the deny that matched (or last, above the default
    /// deny); `None` for the top of the list.
    pub after_id: Option<String>,
    /// The deny that matched, as findings name it (its id, else its number).
    pub before_label: Option<String>,
}

/// A listener's access list to change.
pub(crate) struct AccessEntry {
    /// The list (address group) id.
    pub id: String,
    pub mode: Option<AccessMode>,
    /// The address to add to a whitelist.
    pub addr: IpAddr,
    /// The source as a prefix: one host (`/32`, `/128`) or the clients' whole range.
    pub source: IpNet,
    /// The entry of a blacklist that matched.
    pub entry: String,
}

/// A health check's matcher and the status to accept too.
pub(crate) struct Matcher {
    pub codes: String,
    /// The matcher with the observed status added.
    pub widen: String,
    /// The backend group's provider id (AWS: its ARN).
    pub group_id: Option<String>,
}

/// A load balancer subnet to replace or add.
pub(crate) struct SubnetFix<'a> {
    pub lb: &'a str,
    pub subnet: &'a str,
    pub zone: Option<&'a str>,
}

/// A route to add or replace in a route table.
pub(crate) struct RouteFix {
    /// The route table to change.
    pub table: String,
    /// The subnet whose traffic it routes, when the table is its own (`associate` advice).
    pub subnet: Option<String>,
    /// The destination prefix the route must cover (`0.0.0.0/0` toward the internet).
    pub destination: String,
    pub v6: bool,
    /// What happens today: no route, a blackhole route, or a route that only carries
    /// connections opened from inside (a NAT gateway on the way back).
    pub problem: RouteProblem,
    /// The target the route should take: the network's internet gateway when the traffic goes
    /// to or comes from the internet, else unknown.
    pub via: Option<RouteTarget>,
    /// Another route table of the network that already routes the destination that way (a
    /// public route table), to associate the subnet with instead.
    pub better_table: Option<String>,
}

/// What is wrong with a route.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteProblem {
    Missing,
    Blackhole,
    OneWay,
}

/// The minimal fix of finding `f`, or `None` when nothing needs fixing. One arm per code, kept
/// whole like [`super::summary_for`]: a table, exhaustive, so a new code must say its fix.
pub fn fix_for(policy: &Policy, check: &Check, p: &Perspectives, f: &Finding) -> Option<String> {
    let prov = provider(policy, check);
    let verdict_fix = |v: &Verdict, src: Option<&Endpoint>| -> Option<String> {
        let hop = v.blocking()?;
        Some(rule_fix(policy, prov, hop, check, src))
    };
    let pkt = check.packet.describe(check.address.is_ipv6());
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
        | Code::HealthCheckSourceNotAllowed
        | Code::RouteMissing
        | Code::RouteBlackhole
        | Code::LbSubnetNotPublic => match (&p.lb, p.lb_source.as_ref()) {
            (Some(v), src) => verdict_fix(v, src),
            (None, _) => p
                .agent
                .as_ref()
                .and_then(|v| verdict_fix(v, policy.agent_endpoint().as_ref())),
        },
        Code::ExpectationViolated => Some(format!(
            "remove or narrow the rules that let {pkt} through from the expectation's source (see expected.path)"
        )),
        Code::PortClosed => Some(match check.packet.port() {
            Some(port) => format!(
                "start the service on {}:{port}, or make it listen on the interface address rather than 127.0.0.1 (check with: ss -lntup 'sport = :{port}')",
                check.address
            ),
            None => format!("make {} answer", check.address),
        }),
        Code::HostFirewallSuspected => Some(format!(
            "on {} look for a host firewall rule dropping {pkt}: nft list ruleset; iptables -S; firewall-cmd --list-all (or the Windows Firewall). If an appliance or route sits in between, model it",
            check.address
        )),
        Code::NoRoute => Some(format!(
            "check the route from the agent's subnet to {} (route tables, and that the instance is running)",
            check.address
        )),
        Code::ConfigDriftAllowed => Some(
            "re-export the configuration (the dump may be stale); if it is current, find the path the model does not have (another security group, a permissive host) — the intended block is not in force".to_string(),
        ),
        Code::ResponseCodeMismatch => Some(fixes(prov).matcher(&matcher(policy, check, f))),
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
        Code::ReportedHealthDiffers => Some(
            "compare the load balancer's view with the probe's: the provider's report may be stale (it updates every health-check interval), the probe may not stand in for the load balancer (see expected and expected_as_agent), or the target may answer the agent differently".to_string(),
        ),
        // Static findings carry their fix from where they are made.
        Code::RulesNotEnforced
        | Code::LbSubnetTooSmall
        | Code::LbSubnetFewFreeAddresses
        | Code::TargetZoneWithoutLbSubnet
        | Code::TargetNoInternetEgress
        | Code::TargetGroupEmpty
        | Code::TargetGroupNotInUse
        | Code::ZoneWithoutTargets => None,
    }
}

/// The provider whose terms a check's fix uses: its load balancer's, else the first load
/// balancer's, else generic.
pub(crate) fn provider(policy: &Policy, check: &Check) -> Provider {
    let m = policy.model();
    check
        .load_balancer
        .and_then(|i| m.load_balancers.get(i))
        .or(m.load_balancers.first())
        .map_or(Provider::Generic, |lb| lb.provider)
}

fn matcher(policy: &Policy, check: &Check, f: &Finding) -> Matcher {
    let codes = match &check.probe {
        ProbeKind::Http { expected_codes, .. } => expected_codes.clone(),
        _ => "200".to_string(),
    };
    let status = f
        .observed
        .as_ref()
        .and_then(|o| o.http.as_ref())
        .and_then(|h| h.status);
    let widen = status
        .map(|s| format!("{codes},{s}"))
        .unwrap_or(codes.clone());
    let group_id = check
        .backend_group
        .as_ref()
        .and_then(|n| policy.model().backend_groups.iter().find(|b| &b.name == n))
        .and_then(|b| b.id.clone());
    Matcher {
        codes,
        widen,
        group_id,
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

fn proto_number(packet: Packet, v6: bool) -> &'static str {
    match packet {
        Packet::Tcp(_) => "6",
        Packet::Udp(_) => "17",
        Packet::Icmp { .. } if v6 => "58",
        Packet::Icmp { .. } => "1",
        Packet::Other(_) => "-1",
    }
}

/// An address as a one-host prefix: providers refuse a bare address.
pub(crate) fn host_prefix(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
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
    let renderer = fixes(prov);
    match hop.kind {
        HopKind::SecurityGroup => renderer.security_group_rule(&sg_rule(policy, hop, check, src)),
        // Huawei firewall rules are ordered positions, not numbers: no number needs to be free.
        HopKind::NetworkAcl => match acl_rule(policy, hop, check, src, prov == Provider::Huawei) {
            Ok(rule) => renderer.acl_rule(&rule),
            Err(full) => full,
        },
        HopKind::AccessControl => renderer.access_entry(&access_entry(policy, hop, check, src)),
        HopKind::RouteTable => renderer.route(&route_fix(policy, hop, check, src)),
    }
}

/// The route to add or replace for a route hop that denies: toward the flow's destination on
/// the forward leg, back to its source on the return leg. A route to or from the internet goes
/// by the network's internet gateway.
fn route_fix(policy: &Policy, hop: &Hop, check: &Check, src: Option<&Endpoint>) -> RouteFix {
    let m = policy.model();
    let table = m.route_tables.get(hop.component as usize);
    let toward = match hop.leg {
        Leg::Forward => IpNet::from(check.address),
        Leg::Return => src.map_or(IpNet::from(check.address), |s| s.net.to_ipnet()),
    };
    // The internet as a whole (`0.0.0.0/0`, the clients of an internet-facing load balancer)
    // or a public range goes by an internet gateway.
    let internet = toward.prefix_len() == 0 || probe_policy::is_public(toward);
    let destination = if internet {
        if toward.addr().is_ipv6() {
            "::/0"
        } else {
            "0.0.0.0/0"
        }
        .to_string()
    } else {
        toward.to_string()
    };
    let route = policy.route_of(hop);
    let problem = match route {
        None => RouteProblem::Missing,
        Some(r) if r.state == RouteState::Blackhole => RouteProblem::Blackhole,
        Some(_) => RouteProblem::OneWay,
    };
    let network = table.and_then(|t| t.network.as_deref());
    let same_network =
        |t: &&probe_model::RouteTable| network.is_none() || t.network.as_deref() == network;
    let gateway = internet
        .then(|| {
            m.route_tables
                .iter()
                .filter(same_network)
                .flat_map(|t| &t.routes)
                .find(|r| r.via.kind.is_internet() && r.state == RouteState::Active)
                .map(|r| r.via.clone())
        })
        .flatten();
    let better_table = internet
        .then(|| {
            m.route_tables.iter().filter(same_network).find(|t| {
                t.routes.iter().any(|r| {
                    r.destination.prefix_len() == 0
                        && r.destination.addr().is_ipv6() == toward.addr().is_ipv6()
                        && r.via.kind.is_internet()
                        && r.state == RouteState::Active
                })
            })
        })
        .flatten()
        .map(|t| t.id.clone());
    let subnet = table
        .and_then(|t| {
            let own = match hop.leg {
                Leg::Forward => src.and_then(|s| s.subnet),
                Leg::Return => policy.endpoint(check.address).subnet,
            };
            own.and_then(|i| m.subnets.get(i as usize))
                .filter(|s| t.subnets.contains(&s.id) || t.main)
        })
        .map(|s| s.id.clone());
    RouteFix {
        table: policy.component_id(hop),
        subnet,
        destination,
        v6: toward.addr().is_ipv6(),
        problem,
        via: gateway.or_else(|| {
            route
                .filter(|_| problem == RouteProblem::Blackhole)
                .map(|r| RouteTarget {
                    kind: r.via.kind,
                    id: None,
                })
        }),
        better_table,
    }
}

fn sg_rule(policy: &Policy, hop: &Hop, check: &Check, src: Option<&Endpoint>) -> SgRule {
    let m = policy.model();
    let v6 = check.address.is_ipv6();
    let first_group = |groups: &[u32]| {
        groups
            .first()
            .and_then(|&g| m.security_groups.get(g as usize))
            .map(|g| g.id.clone())
    };
    let (icmp_type, icmp_code) = match check.packet {
        Packet::Icmp { icmp_type, code } => (i32::from(icmp_type), i32::from(code)),
        _ => (-1, -1),
    };
    let from_to = match (check.packet, check.packet.port()) {
        (Packet::Icmp { .. }, _) => (icmp_type, icmp_code.max(-1)),
        (_, Some(p)) => (i32::from(p), i32::from(p)),
        _ => (-1, -1),
    };
    let deny_note = match hop.rule {
        RuleRef::Rule(_) => format!(
            "rule {} of {} denies it: remove it or add an allow rule with a higher priority (a smaller number); ",
            policy.rule_label(hop),
            policy.component_id(hop)
        ),
        RuleRef::Implicit => String::new(),
    };
    SgRule {
        group: policy.component_id(hop),
        direction: hop.direction,
        proto: proto_name(check.packet, v6),
        port: check.packet.port(),
        icmp: match check.packet {
            Packet::Icmp { icmp_type, .. } => Some(icmp_type),
            _ => None,
        },
        from_to,
        src_group: src.and_then(|s| first_group(&s.groups)),
        src_net: src.map_or_else(|| "<source>".to_string(), |s| s.net.to_ipnet().to_string()),
        dst_group: first_group(&policy.endpoint(check.address).groups),
        dst_host: host_prefix(check.address),
        v6,
        deny_note,
    }
}

/// The ACL rule to add, or, when the list has no free number left, the whole advice.
fn acl_rule(
    policy: &Policy,
    hop: &Hop,
    check: &Check,
    src: Option<&Endpoint>,
    positional: bool,
) -> Result<AclRule, String> {
    let m = policy.model();
    let id = policy.component_id(hop);
    let v6 = check.address.is_ipv6();
    let acl = m.network_acls.get(hop.component as usize);
    let egress = hop.direction == Direction::Egress;
    let rules = acl.map(|a| if egress { &a.outbound } else { &a.inbound });
    let used: Vec<u32> = rules
        .map(|r| r.iter().map(|x| x.number).collect())
        .unwrap_or_default();
    let before = match hop.rule {
        RuleRef::Rule(i) => rules.and_then(|r| r.get(i as usize)).map(|r| r.number),
        RuleRef::Implicit => None,
    };
    // The last rule above the deny (above the default deny: the last rule of all), by id.
    let after_id = rules.and_then(|r| {
        r.iter()
            .filter(|x| before.is_none_or(|d| x.number < d))
            .max_by_key(|x| x.number)
            .and_then(|x| x.id.clone())
    });
    let src_net = src.map_or_else(|| "<source>".to_string(), |s| s.net.to_ipnet().to_string());
    let dst_host = host_prefix(check.address);
    // Remote side and ports of the rule to add.
    let ret = hop.leg == Leg::Return;
    let remote = match (ret, egress) {
        // Forward outbound from the source subnet: to the destination.
        (false, true) => dst_host,
        (false, false) => src_net,
        // Return outbound from the destination subnet: back to the source.
        (true, true) => src_net,
        (true, false) => policy
            .endpoint(check.address)
            .subnet
            .and_then(|i| m.subnets.get(i as usize))
            .map_or(dst_host, |s| s.cidr.trunc().to_string()),
    };
    let ports = match (check.packet, ret) {
        (Packet::Icmp { icmp_type, .. }, reply) => AclPorts::Icmp {
            icmp_type: i32::from(icmp_type),
            reply,
        },
        (_, true) => AclPorts::Ephemeral,
        (_, false) => check.packet.port().map_or(AclPorts::All, AclPorts::Port),
    };
    let proto = proto_name(check.packet, v6);
    let free = free_rule_number(&used, before);
    let Some(number) = free.or(positional.then(|| before.unwrap_or(0))) else {
        let words = match ports {
            AclPorts::Icmp {
                reply: false,
                icmp_type,
            } => format!("type {icmp_type}"),
            AclPorts::Icmp { reply: true, .. } => "echo reply".to_string(),
            AclPorts::Ephemeral => "ports 1024-65535".to_string(),
            AclPorts::Port(p) => format!("port {p}"),
            AclPorts::All => "all ports".to_string(),
        };
        return Err(format!(
            "{id} has no free rule number below {}: renumber its {} rules, then allow {proto} {words} {} {remote}",
            before.unwrap_or(32766),
            if egress { "outbound" } else { "inbound" },
            if egress { "to" } else { "from" }
        ));
    };
    Ok(AclRule {
        acl: id,
        egress,
        number,
        before,
        proto,
        proto_number: proto_number(check.packet, v6),
        ports,
        remote,
        v6,
        stateful: acl.is_some_and(|a| a.stateful),
        after_id,
        before_label: matches!(hop.rule, RuleRef::Rule(_)).then(|| policy.rule_label(hop)),
    })
}

fn access_entry(policy: &Policy, hop: &Hop, check: &Check, src: Option<&Endpoint>) -> AccessEntry {
    let mode = policy
        .model()
        .load_balancers
        .get(hop.component as usize)
        .and_then(|lb| lb.listeners.get(hop.sub as usize))
        .and_then(|l| l.access_control.as_ref())
        .map(|a| a.mode);
    AccessEntry {
        id: policy.component_id(hop),
        mode,
        addr: src.map_or(check.address, |s| s.net.to_ipnet().addr()),
        source: src.map_or_else(|| IpNet::from(check.address), |s| s.net.to_ipnet()),
        entry: policy.rule_label(hop),
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
