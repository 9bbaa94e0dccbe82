//! The checks of a configuration: every flow `probe check` probes and judges, in model order.

use std::net::IpAddr;

use super::Role;
use probe_model::{Action, BackendGroup, HealthCheckProto, Member, ReportedHealth};
use probe_policy::{FlowTarget, Packet, Policy, SourceSpec};

/// What the probe sends for a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeKind {
    Tcp,
    Udp,
    Icmp,
    Http {
        tls: bool,
        path: String,
        host: Option<String>,
        expected_codes: String,
    },
}

impl ProbeKind {
    /// The plain probe of a packet: a TCP connect, a UDP datagram, an ICMP echo.
    pub fn for_packet(packet: Packet) -> Self {
        match packet {
            Packet::Tcp(_) | Packet::Other(_) => ProbeKind::Tcp,
            Packet::Udp(_) => ProbeKind::Udp,
            Packet::Icmp { .. } => ProbeKind::Icmp,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Udp => "udp",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Http { tls: false, .. } => "http",
            ProbeKind::Http { tls: true, .. } => "https",
        }
    }
}

/// One thing to check: a destination, the probe that tests it, and where it sits in the model.
#[derive(Debug, Clone)]
pub struct Check {
    /// Member name (or address); the listener or expectation name for those roles.
    pub backend: String,
    pub backend_group: Option<String>,
    /// Index of the load balancer whose perspective applies.
    pub load_balancer: Option<usize>,
    /// Listener index, for [`Role::Listener`] checks.
    pub listener: Option<usize>,
    pub role: Role,
    pub address: IpAddr,
    pub packet: Packet,
    pub probe: ProbeKind,
    /// The health check's timeout (the probe's deadline), in seconds.
    pub timeout_s: u32,
    /// The health check's interval, in seconds: how often `probe agent` repeats the check.
    pub interval_s: u32,
    /// The health check's healthy and unhealthy thresholds (1 where there is no health check).
    pub rise: u32,
    pub fall: u32,
    /// For a health check on its own port: the traffic port's packet, to tell
    /// `HEALTH_CHECK_PORT_BLOCKED` from a backend that is blocked altogether.
    pub traffic_packet: Option<Packet>,
    /// For expectations: the wanted decision and the source.
    pub expectation: Option<(Action, SourceSpec)>,
    /// Whether the agent can send this probe (false: judged statically only).
    pub probe_from_agent: bool,
    /// The member's health as the provider reported it, for member checks.
    pub reported: Option<ReportedHealth>,
    /// Whether `address` only stands in for addresses the configuration does not know (a load
    /// balancer's nodes, when the dump has no interfaces): judged, never probed, not reported.
    pub stand_in: bool,
}

impl Check {
    /// A flow to judge from `from` (for `lb`, load balancer `lb`) that must be decided `want`:
    /// an `expectations:` entry, or the flow `probe explain` is asked about. Not probed unless
    /// the caller says so.
    pub fn expectation(
        name: String,
        lb: Option<usize>,
        to: FlowTarget,
        want: Action,
        from: SourceSpec,
    ) -> Check {
        Check {
            backend: name,
            backend_group: None,
            load_balancer: lb,
            listener: None,
            role: Role::Expectation,
            address: to.addr,
            packet: to.packet,
            probe: ProbeKind::for_packet(to.packet),
            timeout_s: 2,
            interval_s: DEFAULT_INTERVAL_S,
            rise: 1,
            fall: 1,
            traffic_packet: None,
            expectation: Some((want, from)),
            probe_from_agent: false,
            reported: None,
            stand_in: false,
        }
    }
}

/// How often `probe agent` repeats a check that has no health check of its own (a listener, an
/// expectation, a member of a group without one): the AWS default interval.
pub const DEFAULT_INTERVAL_S: u32 = 30;

/// Every check `probe check` runs, in model order. `only` keeps one backend group or member.
pub fn plan(policy: &Policy, only: Option<&str>) -> Vec<Check> {
    let model = policy.model();
    let mut checks = Vec::new();
    for bg in &model.backend_groups {
        let lb = model
            .load_balancers
            .iter()
            .position(|lb| lb.listeners.iter().any(|l| l.forwards_to(&bg.name)));
        for m in &bg.members {
            if let Some(o) = only
                && o != bg.name
                && o != m.display_name()
                && o != m.address.to_string()
            {
                continue;
            }
            // Where the load balancer keeps the client's address, its traffic comes from
            // elsewhere than its health checks; where its traffic bypasses the rules its health
            // checks meet (a Huawei L4 listener without "IP as a backend"), it is judged
            // otherwise. Either way the traffic port is a check of its own.
            let own_traffic = lb.is_some_and(|i| {
                let l = &model.load_balancers[i];
                (policy.clients_of(i).is_some() && bg.preserves_client_ip(l))
                    || !probe_policy::rules_enforced(l, Some(bg))
            });
            plan_member(bg, m, lb, own_traffic, &mut checks);
        }
    }
    if only.is_none() {
        plan_clients(policy, &mut checks);
        plan_listeners(policy, &mut checks);
        plan_expectations(policy, &mut checks);
    }
    checks
}

/// The client leg of each listener of a load balancer whose clients are known (a scheme, or
/// client ranges): judged from the configuration, and probed only from the clients' side
/// (`probe check --from clients` sets `probe_from_agent`). Its address is where clients
/// connect: the load balancer's address, else its first node's public or private address,
/// else (nothing in the dump says) its first subnet's base address, which is never probed.
fn plan_clients(policy: &Policy, out: &mut Vec<Check>) {
    let model = policy.model();
    for (li, lb) in model.load_balancers.iter().enumerate() {
        if policy.clients_of(li).is_none() {
            continue;
        }
        let node = lb.nodes.first();
        let address = lb
            .address
            .or_else(|| node.and_then(|n| n.public_address))
            .or_else(|| node.map(|n| n.address));
        let placeholder = || {
            lb.subnets
                .iter()
                .find_map(|id| model.subnets.iter().find(|s| &s.id == id))
                .map(|s| s.cidr.network())
        };
        let Some(addr) = address.or_else(placeholder) else {
            continue;
        };
        for ti in 0..lb.listeners.len() {
            out.extend(client_check(policy, li, ti, addr).map(|mut c| {
                c.stand_in = address.is_none();
                c
            }));
        }
    }
}

/// The client leg of listener `ti` of load balancer `li`, arriving at `addr`.
pub(crate) fn client_check(policy: &Policy, li: usize, ti: usize, addr: IpAddr) -> Option<Check> {
    listener_check(policy, li, ti, addr, Role::Client)
}

/// A check of listener `ti` of load balancer `li` at `addr`: its client leg ([`Role::Client`],
/// probed only from the clients' side) or the agent's own view of it ([`Role::Listener`]).
fn listener_check(
    policy: &Policy,
    li: usize,
    ti: usize,
    addr: IpAddr,
    role: Role,
) -> Option<Check> {
    let lb = policy.model().load_balancers.get(li)?;
    let l = lb.listeners.get(ti)?;
    let packet = Packet::transport(l.protocol.transport(), l.port);
    Some(Check {
        backend: l
            .name
            .clone()
            .unwrap_or_else(|| format!("{}:{}", lb.name, l.port)),
        backend_group: l.backend_group.clone(),
        load_balancer: Some(li),
        listener: Some(ti),
        role,
        address: addr,
        packet,
        probe: ProbeKind::for_packet(packet),
        timeout_s: 5,
        interval_s: DEFAULT_INTERVAL_S,
        rise: 1,
        fall: 1,
        traffic_packet: None,
        expectation: None,
        probe_from_agent: role == Role::Listener,
        reported: None,
        stand_in: false,
    })
}

/// Each listener of a load balancer with an address, probed there through its access control.
fn plan_listeners(policy: &Policy, out: &mut Vec<Check>) {
    for (li, lb) in policy.model().load_balancers.iter().enumerate() {
        let Some(vip) = lb.address else { continue };
        for ti in 0..lb.listeners.len() {
            out.extend(listener_check(policy, li, ti, vip, Role::Listener));
        }
    }
}

/// Each expectation, once per load balancer it stands for (`from: lb` stands for every one).
fn plan_expectations(policy: &Policy, out: &mut Vec<Check>) {
    let model = policy.model();
    for (i, e) in model.expectations.iter().enumerate() {
        let (Ok(to), Ok(from)) = (
            probe_policy::parse_flow_target(&e.to),
            probe_policy::parse_source(&e.from),
        ) else {
            continue;
        };
        let from_agent = match &from {
            SourceSpec::Agent => true,
            SourceSpec::Addr(a) => Some(*a) == model.agent.address,
            _ => false,
        };
        let lbs: Vec<Option<usize>> = match &from {
            SourceSpec::Lb(Some(n)) => {
                vec![model.load_balancers.iter().position(|l| &l.name == n)]
            }
            SourceSpec::Lb(None) => (0..model.load_balancers.len()).map(Some).collect(),
            _ => vec![None],
        };
        let name = e
            .name
            .clone()
            .unwrap_or_else(|| format!("expectation #{}", i + 1));
        for lb in lbs {
            let mut check = Check::expectation(name.clone(), lb, to, e.decision, from.clone());
            // One probe per expectation is enough: the agent sends the same packet
            // whichever load balancer the check stands for.
            check.probe_from_agent = from_agent && lb.is_none_or(|i| i == 0);
            out.push(check);
        }
    }
}

fn plan_member(
    bg: &BackendGroup,
    m: &Member,
    lb: Option<usize>,
    own_traffic: bool,
    out: &mut Vec<Check>,
) {
    let Some(port) = m.port.or(bg.port) else {
        return;
    };
    let traffic = Packet::transport(bg.protocol.transport(), port);
    let traffic_probe = ProbeKind::for_packet(traffic);
    let base = Check {
        backend: m.display_name(),
        backend_group: Some(bg.name.clone()),
        load_balancer: lb,
        listener: None,
        role: Role::Traffic,
        address: m.address,
        packet: traffic,
        probe: traffic_probe,
        timeout_s: bg.health_check.as_ref().map_or(5, |h| h.timeout_s),
        interval_s: bg
            .health_check
            .as_ref()
            .map_or(DEFAULT_INTERVAL_S, |h| h.interval_s),
        rise: bg.health_check.as_ref().map_or(1, |h| h.healthy_threshold),
        fall: bg
            .health_check
            .as_ref()
            .map_or(1, |h| h.unhealthy_threshold),
        traffic_packet: None,
        expectation: None,
        probe_from_agent: true,
        reported: m.reported_health.clone(),
        stand_in: false,
    };
    let Some(hc) = &bg.health_check else {
        out.push(base);
        return;
    };
    let hc_port = hc.port_for(port);
    let hc_packet = Packet::transport(hc.protocol.transport(), hc_port);
    // The traffic port gets its own check only when the health check does not already cover it.
    if hc_packet != traffic || own_traffic {
        out.push(base.clone());
    }
    let probe = match hc.protocol {
        HealthCheckProto::Tcp => ProbeKind::Tcp,
        HealthCheckProto::UdpConnect => ProbeKind::Udp,
        HealthCheckProto::Http | HealthCheckProto::Https => ProbeKind::Http {
            tls: hc.protocol == HealthCheckProto::Https,
            path: hc.path.clone(),
            host: hc.host.clone(),
            expected_codes: hc.expected_codes.clone(),
        },
    };
    out.push(Check {
        role: Role::HealthCheck,
        packet: hc_packet,
        probe,
        traffic_packet: (hc_packet != traffic).then_some(traffic),
        ..base.clone()
    });
    if hc.protocol == HealthCheckProto::UdpConnect {
        out.push(Check {
            role: Role::HealthCheck,
            packet: Packet::echo_request(m.address.is_ipv6()),
            probe: ProbeKind::Icmp,
            traffic_packet: None,
            ..base
        });
    }
}
