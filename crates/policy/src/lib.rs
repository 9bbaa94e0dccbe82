//! The evaluator: does the configuration let a flow through, and which rule decides?
//!
//! Pure and allocation-light: [`Policy::compile`] turns a [`Model`] into flat rule tables once;
//! [`Policy::evaluate`] then judges a [`Flow`] in well under a microsecond. No I/O, no clock.
//!
//! A flow crosses these components in order, and stops at the first that denies it:
//!
//! | # | component                         | skipped when                                        |
//! |---|-----------------------------------|-----------------------------------------------------|
//! | 0 | listener access control           | the flow does not enter through a listener          |
//! | 1 | source security groups, egress    | the source carries no security group                |
//! | 2 | source subnet ACL, outbound       | same subnet, or no ACL on the source subnet         |
//! | 3 | destination subnet ACL, inbound   | same subnet, or no ACL on the destination subnet    |
//! | 4 | destination security groups, ingress | the destination carries no security group        |
//! | 5 | destination subnet ACL, outbound (return) | the ACL is stateful (Huawei) or absent      |
//! | 6 | source subnet ACL, inbound (return)       | likewise                                    |
//!
//! Semantics of each component:
//!
//! | component        | rule order                              | no rule matches   | return traffic |
//! |------------------|-----------------------------------------|-------------------|----------------|
//! | security groups  | all groups of the interface are one set; the best priority wins (1 highest), deny beats allow at equal priority; AWS rules are all allow | deny (`*`) | allowed (stateful) |
//! | network ACL      | ascending rule number, first match      | deny (`*`)        | stateless (AWS): evaluated on ports 1024-65535; stateful (Huawei): allowed |
//! | access control   | whitelist: listed sources pass; blacklist: listed sources are refused | whitelist: deny (`*`) | — |
//!
//! A source can be a range (a load balancer's health-check subnet) rather than one address. An
//! allow rule then counts only if it covers the whole range; a deny rule counts if it touches any
//! of it, because one load balancer node whose checks are dropped is enough to fail a backend.
//! Likewise the return path of a stateless ACL must allow the *whole* ephemeral range.

mod clients;
mod net;

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

pub use clients::{Atom, internet, is_public};
pub use net::Net;
// The flow values live in the model (parsed when read); the evaluator speaks of them too.
pub use probe_model::{FlowTarget, Packet, SourceSpec, parse_flow_target, parse_source};

use probe_model::{
    AccessMode, Action, Direction, IpProto, LoadBalancer, Model, PortRange, RouteState,
    RouteTargetKind,
};

/// One end of a flow, resolved against the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// An address, or a range when the source is a load balancer's health-check subnet.
    pub net: Net,
    /// Indices of the security groups on its interface.
    pub groups: Vec<u32>,
    /// Index of its subnet (whose ACL applies), if known.
    pub subnet: Option<u32>,
}

/// A flow to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub packet: Packet,
    /// The client's source ports, for the return path of stateless ACLs.
    pub return_ports: PortRange,
    /// The listener whose access control the flow passes first: (load balancer, listener).
    pub listener: Option<(u32, u32)>,
    /// False where security groups and ACLs do not apply (Huawei L4 listeners without "IP as a
    /// backend").
    pub rules_enforced: bool,
    /// Whether the return traffic is routed by the destination's subnet (false where the load
    /// balancer carries it back itself: an NLB that keeps the client's address).
    pub return_routed: bool,
}

/// Which kind of component a hop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopKind {
    SecurityGroup,
    NetworkAcl,
    AccessControl,
    /// A subnet's route table: where the flow (or its return) goes next.
    RouteTable,
}

impl HopKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HopKind::SecurityGroup => "security_group",
            HopKind::NetworkAcl => "network_acl",
            HopKind::AccessControl => "access_control",
            HopKind::RouteTable => "route_table",
        }
    }
}

/// Forward traffic, or the return traffic of a stateless ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    Forward,
    Return,
}

/// The rule that decided a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// Index into the component's rule list of that direction (ACL) or its rules (SG).
    Rule(u32),
    /// Nothing matched: the implicit default deny, shown as `*`.
    Implicit,
}

/// One component crossed, and what it decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    pub kind: HopKind,
    /// Index of the security group / ACL / load balancer in the model.
    pub component: u32,
    /// For access control: the listener index.
    pub sub: u32,
    pub direction: Direction,
    pub leg: Leg,
    pub rule: RuleRef,
    pub decision: Action,
}

/// The evaluator's answer: allow or deny, and every component crossed up to the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Action,
    pub path: Vec<Hop>,
}

impl Verdict {
    /// The hop that denied the flow.
    pub fn blocking(&self) -> Option<&Hop> {
        self.path.iter().find(|h| h.decision == Action::Deny)
    }

    pub fn allowed(&self) -> bool {
        self.decision == Action::Allow
    }
}

/// A hop in the words of verdicts.md §3-4, ready for JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopView {
    pub kind: HopKind,
    pub id: String,
    pub direction: Direction,
    pub rule: String,
    pub decision: Action,
    /// `return` for the return path of a stateless ACL.
    #[serde(skip_serializing_if = "is_forward")]
    pub leg: Leg,
}

fn is_forward(l: &Leg) -> bool {
    *l == Leg::Forward
}

/// A verdict in the words of verdicts.md, ready for JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictView {
    pub decision: Action,
    pub path: Vec<HopView>,
}

// ---------------------------------------------------------------------------------------------
// Compiled tables.

/// Who a security-group rule names on the other side.
#[derive(Debug, Clone, Copy)]
enum Remote {
    Any,
    Net(Net),
    Group(u32),
}

/// One flat rule: one port range, one remote. A rule with several ports or an address group with
/// several prefixes becomes several compiled rules pointing back at the same model rule.
#[derive(Debug, Clone, Copy)]
struct CRule {
    proto: IpProto,
    ports: PortRange,
    source_ports: PortRange,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    remote: Remote,
    local: Option<Net>,
    action: Action,
    priority: u16,
    /// Index of the model rule.
    origin: u32,
}

#[derive(Debug, Default)]
struct CGroup {
    ingress: Vec<CRule>,
    egress: Vec<CRule>,
    /// Per direction (ingress, egress) and per ported protocol (tcp, udp): the rules that can
    /// match one destination port, found by binary search instead of a scan of every rule.
    ports: [[Option<PortIndex>; 2]; 2],
}

impl CGroup {
    fn rules(&self, direction: Direction) -> &[CRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// The rules of one direction that can match a tcp or udp flow, per destination-port segment:
/// the port line is cut at every rule's boundary, and each segment lists (in priority order)
/// the rules whose protocol and ports cover it. A flow to one port reads one segment.
#[derive(Debug, Default)]
struct PortIndex {
    /// First port of each segment; `starts[0]` is 0.
    starts: Vec<u16>,
    /// Segment `i`'s rules are `rules[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    /// Each segment's rules, in priority order, reduced to what is left to match: a rule listed
    /// in a segment already matches the flow's protocol and port (security-group rules name no
    /// source ports and no local address), so only the remote end is checked. Copies rather
    /// than indices: a segment's candidates are read in one sweep of memory.
    rules: Vec<Candidate>,
}

/// A security-group rule as its port index keeps it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    remote: Remote,
    action: Action,
    priority: u16,
    origin: u32,
}

impl Candidate {
    /// Whether the rule's remote end covers the peer (an allow rule must cover a range peer
    /// entirely; a deny rule applies if it touches it), as [`CRule::matches_peer`].
    #[inline]
    fn matches(&self, peer: &Endpoint) -> bool {
        match self.remote {
            Remote::Any => true,
            Remote::Net(n) => match self.action {
                Action::Allow => n.contains(peer.net),
                Action::Deny => n.overlaps(peer.net),
            },
            Remote::Group(g) => peer.groups.contains(&g),
        }
    }
}

/// Below this many rules a scan is as fast as the index.
const INDEX_MIN_RULES: usize = 8;
/// An index larger than this many entries per rule (many overlapping wide ranges) is not built;
/// the scan stays correct and the memory stays bounded.
const INDEX_MAX_FANOUT: usize = 64;

impl PortIndex {
    fn build(rules: &[CRule], proto: IpProto) -> Option<PortIndex> {
        if rules.len() < INDEX_MIN_RULES {
            return None;
        }
        let applies = |r: &CRule| r.proto.matches(proto);
        let span = |r: &CRule| {
            if r.proto.has_ports() {
                r.ports
            } else {
                PortRange::ALL
            }
        };
        let mut cuts: Vec<u32> = vec![0];
        for r in rules.iter().filter(|r| applies(r)) {
            let s = span(r);
            cuts.push(u32::from(s.from));
            cuts.push(u32::from(s.to) + 1);
        }
        cuts.sort_unstable();
        cuts.dedup();
        // The last cut may be 65536: the end of the port line, not a segment.
        let starts: Vec<u16> = cuts.iter().filter_map(|&c| u16::try_from(c).ok()).collect();
        let mut offsets = Vec::with_capacity(starts.len() + 1);
        let mut list = Vec::new();
        for (i, &from) in starts.iter().enumerate() {
            offsets.push(list.len() as u32);
            let to = starts.get(i + 1).map_or(u16::MAX, |&n| n - 1);
            for r in rules {
                let s = span(r);
                if applies(r) && s.from <= to && from <= s.to {
                    debug_assert!(r.local.is_none() && r.source_ports == PortRange::ALL);
                    list.push(Candidate {
                        remote: r.remote,
                        action: r.action,
                        priority: r.priority,
                        origin: r.origin,
                    });
                }
            }
            if list.len() > INDEX_MAX_FANOUT * rules.len() {
                return None;
            }
        }
        offsets.push(list.len() as u32);
        Some(PortIndex {
            starts,
            offsets,
            rules: list,
        })
    }

    /// The rules that can match destination port `port`, in priority order.
    #[inline]
    fn candidates(&self, port: u16) -> &[Candidate] {
        // A few dozen segments are counted (branch-free, vectorised) faster than searched.
        let seg = if self.starts.len() <= 64 {
            self.starts.iter().filter(|&&s| s <= port).count() - 1
        } else {
            self.starts.partition_point(|&s| s <= port) - 1
        };
        &self.rules[self.offsets[seg] as usize..self.offsets[seg + 1] as usize]
    }
}

/// One route, flattened: its destination, whether it carries traffic the way asked, and the
/// model route it came from.
#[derive(Debug, Clone, Copy)]
struct CRoute {
    net: Net,
    kind: RouteTargetKind,
    active: bool,
    origin: u32,
}

/// A route table: its routes, most specific first.
#[derive(Debug, Default)]
struct CRouteTable {
    routes: Vec<CRoute>,
}

impl CRouteTable {
    /// The route of `dst` (all of it: a range must fall within one route's destination).
    fn route_for(&self, dst: Net) -> Option<&CRoute> {
        self.routes.iter().find(|r| r.net.contains(dst))
    }
}

#[derive(Debug, Default)]
struct CAcl {
    stateful: bool,
    inbound: Vec<CRule>,
    outbound: Vec<CRule>,
}

/// A packet (or a set of them: a port range, an address range) to match against rules.
#[derive(Debug, Clone, Copy)]
struct Probe<'a> {
    proto: IpProto,
    /// Destination ports.
    ports: PortRange,
    source_ports: PortRange,
    icmp: Option<(u8, u8)>,
    /// The remote end as the rules see it.
    peer: &'a Endpoint,
    /// The local end.
    local: Net,
}

impl CRule {
    fn matches_proto(&self, p: &Probe) -> bool {
        if !self.proto.matches(p.proto) {
            return false;
        }
        if let (Some((t, c)), true) = (p.icmp, self.proto.is_icmp()) {
            if self.icmp_type.is_some_and(|rt| rt != t) || self.icmp_code.is_some_and(|rc| rc != c)
            {
                return false;
            }
        }
        true
    }

    /// Whether the rule applies to the peer. Allow rules must cover a range peer entirely; deny
    /// rules apply if they touch it.
    #[inline]
    fn matches_peer(&self, p: &Probe) -> bool {
        let addr_ok = |n: Net, who: Net| match self.action {
            Action::Allow => n.contains(who),
            Action::Deny => n.overlaps(who),
        };
        let remote = match self.remote {
            Remote::Any => true,
            Remote::Net(n) => addr_ok(n, p.peer.net),
            Remote::Group(g) => p.peer.groups.contains(&g),
        };
        remote && self.local.is_none_or(|l| addr_ok(l, p.local))
    }

    fn port_ranges_apply(&self, p: &Probe) -> bool {
        if !p.proto.has_ports() || !self.proto.has_ports() {
            return true;
        }
        let sp = self.source_ports;
        let src_ok = match self.action {
            Action::Allow => sp.from <= p.source_ports.from && p.source_ports.to <= sp.to,
            Action::Deny => sp.from <= p.source_ports.to && p.source_ports.from <= sp.to,
        };
        src_ok && self.ports.from <= p.ports.to && p.ports.from <= self.ports.to
    }
}

/// First match over a group's rules of `direction`, sorted by priority (deny first at a tie):
/// the decision and the rule. A tcp or udp flow to one port reads only the rules its port index
/// lists; anything else scans.
fn group_decision(cg: &CGroup, direction: Direction, p: &Probe) -> Option<(u16, Action, u32)> {
    let class = match p.proto {
        IpProto::Tcp => Some(0),
        IpProto::Udp => Some(1),
        _ => None,
    };
    let d = usize::from(direction == Direction::Egress);
    match class.and_then(|c| cg.ports[d][c].as_ref()) {
        Some(index) if p.ports.from == p.ports.to => index
            .candidates(p.ports.from)
            .iter()
            .find(|c| c.matches(p.peer))
            .map(|c| (c.priority, c.action, c.origin)),
        _ => cg
            .rules(direction)
            .iter()
            .find(|r| r.matches_proto(p) && r.port_ranges_apply(p) && r.matches_peer(p))
            .map(|r| (r.priority, r.action, r.origin)),
    }
}

/// ACL first match over a destination port *range*: every port must reach an allow rule before
/// any deny rule touches it.
fn acl_decision(rules: &[CRule], p: &Probe) -> (Action, RuleRef) {
    let has_ports = p.proto.has_ports();
    // Uncovered destination ports, as a small list of ranges.
    // Inline: judging a flow allocates nothing here (a rule splits a range in two at most).
    let mut open: smallvec::SmallVec<[PortRange; 8]> = smallvec::smallvec![p.ports];
    for r in rules {
        if !(r.matches_proto(p) && r.port_ranges_apply(p) && r.matches_peer(p)) {
            continue;
        }
        if !has_ports || !r.proto.has_ports() {
            return (r.action, RuleRef::Rule(r.origin));
        }
        // Only the ports no earlier rule decided are still in play.
        let touches = |o: &PortRange| r.ports.from <= o.to && o.from <= r.ports.to;
        if !open.iter().any(touches) {
            continue;
        }
        if r.action == Action::Deny {
            return (Action::Deny, RuleRef::Rule(r.origin));
        }
        let mut next: smallvec::SmallVec<[PortRange; 8]> = smallvec::SmallVec::new();
        for o in &open {
            if !touches(o) {
                next.push(*o);
                continue;
            }
            if o.from < r.ports.from {
                next.push(PortRange {
                    from: o.from,
                    to: r.ports.from - 1,
                });
            }
            if r.ports.to < o.to {
                next.push(PortRange {
                    from: r.ports.to + 1,
                    to: o.to,
                });
            }
        }
        open = next;
        if open.is_empty() {
            return (Action::Allow, RuleRef::Rule(r.origin));
        }
    }
    (Action::Deny, RuleRef::Implicit)
}

/// A security group's rules, flattened and sorted by priority (deny first at a tie).
fn compile_group(
    g: &probe_model::SecurityGroup,
    group_index: &HashMap<String, u32>,
    address_remotes: &HashMap<&str, Vec<Remote>>,
) -> CGroup {
    let mut cg = CGroup::default();
    for (i, r) in g.rules.iter().enumerate() {
        // The remote side, as one or more compiled remotes, without allocating for one.
        let one: [Remote; 1];
        let remotes: &[Remote] = if let Some(c) = r.cidr {
            one = [Remote::Net(Net::from_net(c))];
            &one
        } else if let Some(gid) = &r.group {
            match group_index.get(gid) {
                Some(&x) => {
                    one = [Remote::Group(x)];
                    &one
                }
                None => &[],
            }
        } else if let Some(a) = &r.address_group {
            address_remotes.get(a.as_str()).map_or(&[], Vec::as_slice)
        } else {
            &[Remote::Any]
        };
        let target = match r.direction {
            Direction::Ingress => &mut cg.ingress,
            Direction::Egress => &mut cg.egress,
        };
        for &ports in r.ports.ranges() {
            for remote in remotes {
                target.push(CRule {
                    proto: r.protocol,
                    ports,
                    source_ports: PortRange::ALL,
                    icmp_type: r.icmp_type,
                    icmp_code: r.icmp_code,
                    remote: *remote,
                    local: None,
                    action: r.action,
                    priority: r.priority.unwrap_or(1),
                    origin: i as u32,
                });
            }
        }
    }
    let rank = |r: &CRule| (r.priority, r.action == Action::Allow);
    cg.ingress.sort_by_key(rank);
    cg.egress.sort_by_key(rank);
    for (d, rules) in [&cg.ingress, &cg.egress].into_iter().enumerate() {
        for (c, proto) in [IpProto::Tcp, IpProto::Udp].into_iter().enumerate() {
            cg.ports[d][c] = PortIndex::build(rules, proto);
        }
    }
    cg
}

/// One direction of an ACL's rules, flattened, in rule-number order.
fn compile_acl_rules(rules: &[probe_model::AclRule]) -> Vec<CRule> {
    let mut order: Vec<usize> = (0..rules.len()).collect();
    order.sort_by_key(|&i| rules[i].number);
    let mut out = Vec::new();
    for i in order {
        let r = &rules[i];
        for &ports in r.ports.ranges() {
            for &sports in r.source_ports.ranges() {
                out.push(CRule {
                    proto: r.protocol,
                    ports,
                    source_ports: sports,
                    icmp_type: r.icmp_type,
                    icmp_code: r.icmp_code,
                    remote: r
                        .cidr
                        .map(|c| Remote::Net(Net::from_net(c)))
                        .unwrap_or(Remote::Any),
                    local: r.local_cidr.map(Net::from_net),
                    action: r.action,
                    priority: 0,
                    origin: i as u32,
                });
            }
        }
    }
    out
}

/// A route table's routes, longest prefix first (the order of the lookup).
fn compile_route_table(t: &probe_model::RouteTable) -> CRouteTable {
    let mut routes: Vec<CRoute> = t
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| CRoute {
            net: Net::from_net(r.destination),
            kind: r.via.kind,
            active: r.state == RouteState::Active,
            origin: i as u32,
        })
        .collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.net.len));
    CRouteTable { routes }
}

/// Which route table each subnet uses: the table that names it, else the main table of its
/// network (or the only main table, when subnets name no network).
fn subnet_routes(model: &Model, subnet_index: &HashMap<String, u32>) -> Vec<Option<u32>> {
    let mut routes = vec![None; model.subnets.len()];
    if model.route_tables.is_empty() {
        return routes;
    }
    let mains: Vec<(Option<&str>, u32)> = model
        .route_tables
        .iter()
        .enumerate()
        .filter(|(_, t)| t.main)
        .map(|(i, t)| (t.network.as_deref(), i as u32))
        .collect();
    for (si, s) in model.subnets.iter().enumerate() {
        routes[si] = match s.network.as_deref() {
            Some(n) => mains.iter().find(|(m, _)| *m == Some(n)).map(|(_, i)| *i),
            None if mains.len() == 1 => Some(mains[0].1),
            None => None,
        };
    }
    for (ti, t) in model.route_tables.iter().enumerate() {
        for s in &t.subnets {
            if let Some(&si) = subnet_index.get(s) {
                routes[si as usize] = Some(ti as u32);
            }
        }
    }
    routes
}

/// Every listener's access control: mode and prefixes, address groups expanded.
fn compile_access(
    model: &Model,
    address_sets: &HashMap<&str, Vec<Net>>,
) -> HashMap<(u32, u32), (AccessMode, Vec<Net>)> {
    let mut access = HashMap::new();
    for (li, lb) in model.load_balancers.iter().enumerate() {
        for (ti, l) in lb.listeners.iter().enumerate() {
            if let Some(ac) = &l.access_control {
                let mut nets: Vec<Net> = ac.cidrs.iter().map(|c| Net::from_net(*c)).collect();
                for g in &ac.address_groups {
                    if let Some(set) = address_sets.get(g.as_str()) {
                        nets.extend(set.iter().copied());
                    }
                }
                access.insert((li as u32, ti as u32), (ac.mode, nets));
            }
        }
    }
    access
}

/// Adds `hop` to the path; whether it denies (and so ends the path).
#[inline]
fn denied(path: &mut Vec<Hop>, hop: Hop) -> bool {
    path.push(hop);
    hop.decision == Action::Deny
}

/// The compiled model. Build once with [`Policy::compile`], evaluate many flows.
#[derive(Debug)]
pub struct Policy {
    groups: Vec<CGroup>,
    acls: Vec<CAcl>,
    /// Subnet index → ACL index.
    subnet_acl: Vec<Option<u32>>,
    route_tables: Vec<CRouteTable>,
    /// Subnet index → route table index: its explicit association, else its network's main
    /// table. All `None` when the model has no route tables: routes are then not judged.
    subnet_routes: Vec<Option<u32>>,
    subnet_nets: Vec<Net>,
    group_index: HashMap<String, u32>,
    subnet_index: HashMap<String, u32>,
    /// Access control per (load balancer, listener): mode and prefixes.
    access: HashMap<(u32, u32), (AccessMode, Vec<Net>)>,
    /// Addresses with known interfaces: address → (groups, subnet).
    interfaces: HashMap<IpAddr, (Vec<u32>, Option<u32>)>,
    model: Model,
}

impl Policy {
    /// Compiles a validated model. References that do not resolve (which validation reports)
    /// are skipped rather than trusted.
    pub fn compile(model: &Model) -> Policy {
        Policy::from_model(model.clone())
    }

    /// As [`Policy::compile`], keeping `model` rather than a copy of it: what a caller that has
    /// no further use for the model calls (the agent's reload, where a fleet's model is large).
    pub fn from_model(model: Model) -> Policy {
        let group_index: HashMap<String, u32> = model
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i as u32))
            .collect();
        let subnet_index: HashMap<String, u32> = model
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i as u32))
            .collect();
        let address_sets: HashMap<&str, Vec<Net>> = model
            .address_groups
            .iter()
            .map(|g| {
                (
                    g.id.as_str(),
                    g.cidrs.iter().map(|c| Net::from_net(*c)).collect(),
                )
            })
            .collect();
        let address_remotes: HashMap<&str, Vec<Remote>> = address_sets
            .iter()
            .map(|(id, nets)| (*id, nets.iter().map(|n| Remote::Net(*n)).collect()))
            .collect();
        let groups = model
            .security_groups
            .iter()
            .map(|g| compile_group(g, &group_index, &address_remotes))
            .collect();
        let acls = model
            .network_acls
            .iter()
            .map(|a| CAcl {
                stateful: a.stateful,
                inbound: compile_acl_rules(&a.inbound),
                outbound: compile_acl_rules(&a.outbound),
            })
            .collect();
        let mut subnet_acl = vec![None; model.subnets.len()];
        for (ai, a) in model.network_acls.iter().enumerate() {
            for s in &a.subnets {
                if let Some(&si) = subnet_index.get(s) {
                    subnet_acl[si as usize] = Some(ai as u32);
                }
            }
        }
        let subnet_nets: Vec<Net> = model
            .subnets
            .iter()
            .map(|s| Net::from_net(s.cidr))
            .collect();
        let mut policy = Policy {
            groups,
            acls,
            subnet_acl,
            route_tables: model.route_tables.iter().map(compile_route_table).collect(),
            subnet_routes: subnet_routes(&model, &subnet_index),
            subnet_nets,
            group_index,
            subnet_index,
            access: compile_access(&model, &address_sets),
            interfaces: HashMap::new(),
            model: Model::default(),
        };
        drop(address_remotes);
        drop(address_sets);
        policy.model = model;
        policy.interfaces = policy.known_interfaces();
        policy
    }

    /// The interfaces the model knows, by address: every member's, and the agent's.
    fn known_interfaces(&self) -> HashMap<IpAddr, (Vec<u32>, Option<u32>)> {
        let model = &self.model;
        let mut interfaces = HashMap::new();
        for m in model.backend_groups.iter().flat_map(|bg| &bg.members) {
            let groups = self.group_ids(&m.security_groups);
            let subnet = self.subnet_for(m.subnet.as_deref(), m.address);
            interfaces.entry(m.address).or_insert((groups, subnet));
        }
        if let Some(a) = model.agent.address {
            let groups = self.group_ids(&model.agent.security_groups);
            let subnet = self.subnet_for(model.agent.subnet.as_deref(), a);
            interfaces.insert(a, (groups, subnet));
        }
        interfaces
    }

    /// The model this policy was compiled from.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Security group indices for ids (unknown ids are skipped).
    pub fn group_ids(&self, ids: &[String]) -> Vec<u32> {
        ids.iter()
            .filter_map(|id| self.group_index.get(id).copied())
            .collect()
    }

    /// The subnet by id, or else the most specific subnet containing `addr`.
    pub fn subnet_for(&self, id: Option<&str>, addr: IpAddr) -> Option<u32> {
        if let Some(i) = id.and_then(|id| self.subnet_index.get(id)) {
            return Some(*i);
        }
        self.subnet_containing(Net::from_addr(addr))
    }

    /// The most specific subnet that contains all of `net`.
    pub fn subnet_containing(&self, net: Net) -> Option<u32> {
        self.subnet_nets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.contains(net))
            .max_by_key(|(_, s)| s.len)
            .map(|(i, _)| i as u32)
    }

    /// An endpoint for an address: the interface the model knows at that address (a member or
    /// the agent), or a bare address in whatever subnet contains it.
    pub fn endpoint(&self, addr: IpAddr) -> Endpoint {
        match self.interfaces.get(&addr) {
            Some((groups, subnet)) => Endpoint {
                net: Net::from_addr(addr),
                groups: groups.clone(),
                subnet: *subnet,
            },
            None => Endpoint {
                net: Net::from_addr(addr),
                groups: Vec::new(),
                subnet: self.subnet_containing(Net::from_addr(addr)),
            },
        }
    }

    /// The agent as a flow source.
    pub fn agent_endpoint(&self) -> Option<Endpoint> {
        self.model.agent.address.map(|a| self.endpoint(a))
    }

    /// Where load balancer `lb`'s health checks come from: one endpoint per source range, each
    /// with the load balancer's security groups and the subnet it sits in.
    pub fn health_check_sources(&self, lb: usize) -> Vec<Endpoint> {
        let Some(l) = self.model.load_balancers.get(lb) else {
            return Vec::new();
        };
        let groups = self.group_ids(&l.security_groups);
        // Without a configured or fixed range, the load balancer's own addresses when known
        // and the provider checks from them.
        let profile = l.provider.profile();
        if l.health_check_sources.is_none()
            && profile.fixed_health_check_source(l.kind).is_none()
            && profile.health_checks_from_nodes
            && !l.nodes.is_empty()
        {
            return self.lb_destinations(lb);
        }
        health_check_ranges(&self.model, l)
            .into_iter()
            .map(|net| {
                let net = Net::from_net(net);
                Endpoint {
                    net,
                    groups: groups.clone(),
                    subnet: self.subnet_containing(net),
                }
            })
            .collect()
    }

    /// Judges one flow: the listener's access control, then (where rules apply) the source's
    /// security groups, the subnets' ACLs, the destination's security groups, and the return
    /// path through stateless ACLs. The first component that denies ends the path.
    pub fn evaluate(&self, flow: &Flow) -> Verdict {
        let mut path = Vec::with_capacity(8);
        let decision = self.walk(flow, &mut path);
        Verdict { decision, path }
    }

    /// Pushes every hop of `flow` onto `path`, up to the first that denies, and returns the
    /// decision.
    #[inline]
    fn walk(&self, flow: &Flow, path: &mut Vec<Hop>) -> Action {
        if let Some(hop) = self.access_hop(flow)
            && denied(path, hop)
        {
            return Action::Deny;
        }
        if !flow.rules_enforced {
            return Action::Allow;
        }
        let v6 = flow.dst.net.is_v6();
        let proto = flow.packet.ip_proto(v6);
        let (ports, icmp) = match flow.packet {
            Packet::Tcp(p) | Packet::Udp(p) => (PortRange::single(p), None),
            Packet::Icmp { icmp_type, code } => (PortRange::ALL, Some((icmp_type, code))),
            Packet::Other(_) => (PortRange::ALL, None),
        };
        let forward_out = Probe {
            proto,
            ports,
            source_ports: flow.return_ports,
            icmp,
            peer: &flow.dst,
            local: flow.src.net,
        };
        let forward_in = Probe {
            peer: &flow.src,
            local: flow.dst.net,
            ..forward_out
        };
        // Subnet ACLs apply when the flow crosses a subnet boundary.
        let crosses = flow.src.subnet.is_none() || flow.src.subnet != flow.dst.subnet;
        let acl_of = |e: &Endpoint| {
            e.subnet
                .and_then(|s| self.subnet_acl.get(s as usize).copied().flatten())
                .filter(|_| crosses)
        };
        let (src_acl, dst_acl) = (acl_of(&flow.src), acl_of(&flow.dst));
        // Each hop is judged only if every earlier one allowed.
        // 1. Source security groups, egress.
        if !flow.src.groups.is_empty()
            && denied(
                path,
                self.groups_hop(&flow.src.groups, Direction::Egress, &forward_out),
            )
        {
            return Action::Deny;
        }
        // 2. The source subnet's route to the destination.
        if crosses
            && let Some(t) = self.route_table_of(&flow.src)
            && denied(path, self.route_hop(t, flow.dst.net, Leg::Forward))
        {
            return Action::Deny;
        }
        // 3-4. The subnets' ACLs.
        if let Some(a) = src_acl
            && denied(
                path,
                self.acl_hop(a, Direction::Egress, Leg::Forward, &forward_out),
            )
        {
            return Action::Deny;
        }
        if let Some(a) = dst_acl
            && denied(
                path,
                self.acl_hop(a, Direction::Ingress, Leg::Forward, &forward_in),
            )
        {
            return Action::Deny;
        }
        // 5. Destination security groups, ingress.
        if !flow.dst.groups.is_empty()
            && denied(
                path,
                self.groups_hop(&flow.dst.groups, Direction::Ingress, &forward_in),
            )
        {
            return Action::Deny;
        }
        self.return_path(flow, proto, src_acl, dst_acl, path)
    }

    /// Step 0: the listener's access control, when the flow goes to a listener that has one.
    #[inline]
    fn access_hop(&self, flow: &Flow) -> Option<Hop> {
        let (lb, li) = flow.listener?;
        let (mode, nets) = self.access.get(&(lb, li))?;
        let listed = nets.iter().position(|n| match mode {
            AccessMode::Whitelist => n.contains(flow.src.net),
            AccessMode::Blacklist => n.overlaps(flow.src.net),
        });
        let (decision, rule) = match (mode, listed) {
            (AccessMode::Whitelist, Some(i)) => (Action::Allow, RuleRef::Rule(i as u32)),
            (AccessMode::Whitelist, None) => (Action::Deny, RuleRef::Implicit),
            (AccessMode::Blacklist, Some(i)) => (Action::Deny, RuleRef::Rule(i as u32)),
            (AccessMode::Blacklist, None) => (Action::Allow, RuleRef::Implicit),
        };
        Some(Hop {
            kind: HopKind::AccessControl,
            component: lb,
            sub: li,
            direction: Direction::Ingress,
            leg: Leg::Forward,
            rule,
            decision,
        })
    }

    /// The return path: the destination subnet's route back, then stateless ACLs, out of the
    /// destination's subnet and into the source's.
    #[inline]
    fn return_path(
        &self,
        flow: &Flow,
        proto: IpProto,
        src_acl: Option<u32>,
        dst_acl: Option<u32>,
        path: &mut Vec<Hop>,
    ) -> Action {
        // The destination subnet's route back to the source.
        let crosses = flow.src.subnet.is_none() || flow.src.subnet != flow.dst.subnet;
        if crosses
            && flow.return_routed
            && let Some(t) = self.route_table_of(&flow.dst)
            && denied(path, self.route_hop(t, flow.src.net, Leg::Return))
        {
            return Action::Deny;
        }
        let stateless = |a: Option<u32>| a.filter(|&a| !self.acls[a as usize].stateful);
        let (ret_dst, ret_src) = (stateless(dst_acl), stateless(src_acl));
        if ret_dst.is_none() && ret_src.is_none() {
            return Action::Allow;
        }
        let v6 = flow.dst.net.is_v6();
        let (ports, source_ports, icmp) = match flow.packet {
            Packet::Tcp(p) | Packet::Udp(p) => (flow.return_ports, PortRange::single(p), None),
            Packet::Icmp { .. } => (
                PortRange::ALL,
                PortRange::ALL,
                Some((if v6 { 129 } else { 0 }, 0)),
            ),
            Packet::Other(_) => (PortRange::ALL, PortRange::ALL, None),
        };
        let legs = [
            (ret_dst, Direction::Egress, &flow.src, flow.dst.net),
            (ret_src, Direction::Ingress, &flow.dst, flow.src.net),
        ];
        for (acl, direction, peer, local) in legs {
            let Some(a) = acl else { continue };
            let p = Probe {
                proto,
                ports,
                source_ports,
                icmp,
                peer,
                local,
            };
            if denied(path, self.acl_hop(a, direction, Leg::Return, &p)) {
                return Action::Deny;
            }
        }
        Action::Allow
    }

    fn groups_hop(&self, groups: &[u32], direction: Direction, p: &Probe) -> Hop {
        let mut best: Option<(u16, Action, u32, u32)> = None;
        for &g in groups {
            let Some(cg) = self.groups.get(g as usize) else {
                continue;
            };
            if let Some((prio, action, origin)) = group_decision(cg, direction, p) {
                let better = match best {
                    None => true,
                    Some((bp, ba, _, _)) => {
                        (prio, action == Action::Allow) < (bp, ba == Action::Allow)
                    }
                };
                if better {
                    best = Some((prio, action, origin, g));
                }
            }
        }
        let (decision, rule, component) = match best {
            Some((_, action, origin, g)) => (action, RuleRef::Rule(origin), g),
            None => (Action::Deny, RuleRef::Implicit, groups[0]),
        };
        Hop {
            kind: HopKind::SecurityGroup,
            component,
            sub: 0,
            direction,
            leg: Leg::Forward,
            rule,
            decision,
        }
    }

    fn acl_hop(&self, acl: u32, direction: Direction, leg: Leg, p: &Probe) -> Hop {
        let a = &self.acls[acl as usize];
        let rules = match direction {
            Direction::Ingress => &a.inbound,
            Direction::Egress => &a.outbound,
        };
        let (decision, rule) = acl_decision(rules, p);
        Hop {
            kind: HopKind::NetworkAcl,
            component: acl,
            sub: 0,
            direction,
            leg,
            rule,
            decision,
        }
    }

    /// The route table of an endpoint's subnet, when the model has route tables.
    #[inline]
    fn route_table_of(&self, e: &Endpoint) -> Option<u32> {
        e.subnet
            .and_then(|s| self.subnet_routes.get(s as usize).copied().flatten())
    }

    /// Where route table `table` sends traffic to `dst`. Denied when no route covers it, when
    /// the route is a blackhole, or on the return leg through a NAT gateway (it carries only
    /// connections opened from inside).
    fn route_hop(&self, table: u32, dst: Net, leg: Leg) -> Hop {
        let route = self
            .route_tables
            .get(table as usize)
            .and_then(|t| t.route_for(dst));
        let (decision, rule) = match route {
            None => (Action::Deny, RuleRef::Implicit),
            Some(r) if !r.active => (Action::Deny, RuleRef::Rule(r.origin)),
            Some(r)
                if leg == Leg::Return
                    && matches!(
                        r.kind,
                        RouteTargetKind::NatGateway | RouteTargetKind::EgressOnlyInternetGateway
                    ) =>
            {
                (Action::Deny, RuleRef::Rule(r.origin))
            }
            Some(r) => (Action::Allow, RuleRef::Rule(r.origin)),
        };
        Hop {
            kind: HopKind::RouteTable,
            component: table,
            sub: 0,
            direction: Direction::Egress,
            leg,
            rule,
            decision,
        }
    }

    /// The model route a route hop names, if it matched one.
    pub fn route_of(&self, hop: &Hop) -> Option<&probe_model::Route> {
        match (hop.kind, hop.rule) {
            (HopKind::RouteTable, RuleRef::Rule(i)) => self
                .model
                .route_tables
                .get(hop.component as usize)
                .and_then(|t| t.routes.get(i as usize)),
            _ => None,
        }
    }

    /// The route table subnet `subnet` uses, as the model names it.
    pub fn route_table_for_subnet(&self, subnet: u32) -> Option<&probe_model::RouteTable> {
        self.subnet_routes
            .get(subnet as usize)
            .copied()
            .flatten()
            .and_then(|t| self.model.route_tables.get(t as usize))
    }

    /// The provider's id of a hop's component: `sg-…`, `acl-…`, the access-control group.
    pub fn component_id(&self, hop: &Hop) -> String {
        let m = &self.model;
        match hop.kind {
            HopKind::SecurityGroup => m
                .security_groups
                .get(hop.component as usize)
                .map(|g| g.id.clone()),
            HopKind::NetworkAcl => m
                .network_acls
                .get(hop.component as usize)
                .map(|a| a.id.clone()),
            HopKind::AccessControl => m
                .load_balancers
                .get(hop.component as usize)
                .and_then(|lb| lb.listeners.get(hop.sub as usize))
                .and_then(|l| l.access_control.as_ref())
                .map(|ac| {
                    ac.id
                        .clone()
                        .or_else(|| ac.address_groups.first().cloned())
                        .unwrap_or_else(|| "access-control".to_string())
                }),
            HopKind::RouteTable => m
                .route_tables
                .get(hop.component as usize)
                .map(|t| t.id.clone()),
        }
        .unwrap_or_else(|| "?".to_string())
    }

    /// The rule as verdicts.md shows it: an ACL rule number, a security-group rule id (or its
    /// position, `ingress#2`), an access-control entry, or `*`.
    pub fn rule_label(&self, hop: &Hop) -> String {
        let RuleRef::Rule(i) = hop.rule else {
            return "*".to_string();
        };
        let i = i as usize;
        let m = &self.model;
        let label = match hop.kind {
            HopKind::SecurityGroup => m.security_groups.get(hop.component as usize).map(|g| {
                g.rules
                    .get(i)
                    .and_then(|r| r.id.clone())
                    .unwrap_or_else(|| {
                        let n = g.rules[..i.min(g.rules.len())]
                            .iter()
                            .filter(|r| r.direction == hop.direction)
                            .count();
                        format!("{}#{}", hop.direction, n + 1)
                    })
            }),
            HopKind::NetworkAcl => m.network_acls.get(hop.component as usize).and_then(|a| {
                let rules = match hop.direction {
                    Direction::Ingress => &a.inbound,
                    Direction::Egress => &a.outbound,
                };
                // A rule with the provider's id (Huawei firewalls: rules are positions, and an
                // address-group rule spans several numbers) is named by it, as a group's rules are.
                rules
                    .get(i)
                    .map(|r| r.id.clone().unwrap_or_else(|| r.number.to_string()))
            }),
            HopKind::AccessControl => self
                .access
                .get(&(hop.component, hop.sub))
                .and_then(|(_, nets)| nets.get(i))
                .map(|n| n.to_string()),
            HopKind::RouteTable => self.route_of(hop).map(|r| {
                format!(
                    "{} via {}",
                    r.destination,
                    r.via.id.as_deref().unwrap_or(r.via.kind.as_str())
                )
            }),
        };
        label.unwrap_or_else(|| "?".to_string())
    }

    /// A hop in JSON form.
    pub fn hop_view(&self, hop: &Hop) -> HopView {
        HopView {
            kind: hop.kind,
            id: self.component_id(hop),
            direction: hop.direction,
            rule: self.rule_label(hop),
            decision: hop.decision,
            leg: hop.leg,
        }
    }

    /// A verdict in JSON form.
    pub fn view(&self, v: &Verdict) -> VerdictView {
        VerdictView {
            decision: v.decision,
            path: v.path.iter().map(|h| self.hop_view(h)).collect(),
        }
    }
}

/// Where a load balancer's health checks come from, per cloud-formats.md: given explicitly, or
/// AWS and Huawei dedicated = its subnets, Huawei shared = 100.125.0.0/16.
pub fn health_check_ranges(model: &Model, lb: &LoadBalancer) -> Vec<IpNet> {
    if let Some(s) = &lb.health_check_sources {
        return s.clone();
    }
    if let Some(range) = lb.provider.profile().fixed_health_check_source(lb.kind) {
        return range.parse().map(|n| vec![n]).unwrap_or_default();
    }
    lb.subnets
        .iter()
        .filter_map(|id| model.subnets.iter().find(|s| &s.id == id))
        .map(|s| s.cidr.trunc())
        .collect()
}

/// Whether security groups and firewalls apply to a load balancer's forwarded traffic to backend
/// group `group` (its protocol is the listener's). Huawei says they do not on layer-4 listeners
/// of a dedicated load balancer with "IP as a backend" off, nor on those of a shared one with
/// transparent client IP on (the group keeps the client's address); they do everywhere else.
/// Health checks always meet them.
pub fn rules_enforced(lb: &LoadBalancer, group: Option<&probe_model::BackendGroup>) -> bool {
    if !lb.provider.profile().l4_rules_need_ip_as_backend
        || group.is_some_and(|g| !g.protocol.is_layer4())
    {
        return true;
    }
    match lb.kind {
        probe_model::LbKind::Shared => !group.is_some_and(|g| g.preserves_client_ip(lb)),
        _ => lb.ip_as_backend == Some(true),
    }
}

#[cfg(test)]
mod tests;
