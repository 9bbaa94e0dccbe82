//! A check judged from each perspective: as the agent sends it, and as the load balancer (or the
//! expectation's source) would.

use super::{Check, Role};
use probe_policy::{Endpoint, Flow, Net, Packet, Policy, SourceSpec, Verdict};

/// The configuration's verdicts on a check, from each perspective.
#[derive(Debug, Clone, Default)]
pub struct Perspectives {
    /// As the agent sends it; `None` when the agent's address is unknown.
    pub agent: Option<Verdict>,
    /// As the load balancer's health-check source (or the expectation's source) sends it.
    pub lb: Option<Verdict>,
    /// The load balancer's verdict on the traffic port, for health checks on their own port.
    pub lb_traffic: Option<Verdict>,
    /// Where the load balancer's flow comes from, for summaries and fixes.
    pub lb_source: Option<Endpoint>,
    /// False where security groups do not apply (Huawei L4 without "IP as a backend").
    pub rules_enforced: bool,
}

/// Evaluates a check from both perspectives. `agent_ports` is the agent's ephemeral port range
/// (its kernel's `ip_local_port_range`); load balancers use 1024-65535.
///
/// The client leg, and the traffic leg of a load balancer that keeps the client's address,
/// are judged from the load balancer's clients: each piece of their ranges that every rule treats
/// alike, as one address ([`Policy::atoms`]).
pub fn perspectives(
    policy: &Policy,
    check: &Check,
    agent_ports: probe_model::PortRange,
) -> Perspectives {
    let model = policy.model();
    let dst = policy.endpoint(check.address);
    let listener = listener_of(policy, check);
    let lb = check
        .load_balancer
        .and_then(|i| model.load_balancers.get(i));
    let group = check
        .backend_group
        .as_ref()
        .and_then(|n| model.backend_groups.iter().find(|b| &b.name == n));
    // Only the forwarded traffic of some Huawei L4 listeners bypasses security groups and
    // firewalls ([`probe_policy::rules_enforced`]). Health checks never do: Huawei's rulebook
    // (seed 000) still needs the health-check port and protocol, and ICMP for UDP checks, from
    // the load balancer's backend subnet or 100.125.0.0/16. Expectations are about the subnet.
    let rules_enforced =
        lb.is_none_or(|lb| probe_policy::rules_enforced(lb, group)) || check.role != Role::Traffic;
    if check.role == Role::Client {
        return client_leg(policy, check, listener, agent_ports);
    }
    let flow = |src: Endpoint, packet: Packet, ports, enforced| Flow {
        src,
        dst: dst.clone(),
        packet,
        return_ports: ports,
        listener,
        rules_enforced: enforced,
        return_routed: true,
    };
    let agent = policy
        .agent_endpoint()
        .map(|src| policy.evaluate(&flow(src, check.packet, agent_ports, true)));

    // The traffic of a load balancer that keeps the client's address comes from the clients,
    // through the load balancer (its security groups, its subnets), and goes back through it.
    let preserved = match (check.role, check.load_balancer, lb, group) {
        (Role::Traffic, Some(li), Some(l), Some(bg)) if bg.preserves_client_ip(l) => {
            let v6 = check.address.is_ipv6();
            policy.clients_of(li).map(|c| {
                (
                    li,
                    c.into_iter()
                        .filter(|n| n.is_v6() == v6)
                        .collect::<Vec<_>>(),
                )
            })
        }
        _ => None,
    };
    if let Some((li, clients)) = preserved {
        let via = policy.lb_destinations(li);
        let judged = from_clients(
            policy,
            &clients,
            policy.clients_are_internet(li),
            &via,
            std::slice::from_ref(&dst),
            |src, dst| Flow {
                src,
                dst,
                packet: check.packet,
                return_ports: probe_model::PortRange::EPHEMERAL,
                listener,
                rules_enforced,
                return_routed: false,
            },
        );
        let (lb_v, lb_source) = judged.unzip();
        return Perspectives {
            agent,
            lb: lb_v,
            lb_traffic: None,
            lb_source,
            rules_enforced,
        };
    }

    let sources = sources_of(policy, check);
    let worst = |packet: Packet| -> Option<(Verdict, Endpoint)> {
        let mut first: Option<(Verdict, Endpoint)> = None;
        for s in &sources {
            let v = policy.evaluate(&flow(
                s.clone(),
                packet,
                probe_model::PortRange::EPHEMERAL,
                rules_enforced,
            ));
            if !v.allowed() {
                return Some((v, s.clone()));
            }
            first.get_or_insert((v, s.clone()));
        }
        first
    };
    let (lb_v, lb_source) = match worst(check.packet) {
        Some((v, s)) => (Some(v), Some(s)),
        None if matches!(check.expectation, Some((_, SourceSpec::Agent))) => {
            (agent.clone(), policy.agent_endpoint())
        }
        None => (None, None),
    };
    let lb_traffic = check.traffic_packet.and_then(&worst).map(|(v, _)| v);
    Perspectives {
        agent,
        lb: lb_v,
        lb_traffic,
        lb_source,
        rules_enforced,
    }
}

/// The client leg of a listener: from the load balancer's clients to each of its nodes (or
/// subnets), through its security groups, its subnets' ACLs and routes, and its access
/// control. The agent's own verdict is judged only when it probes as a client (`probe check
/// --from clients`).
fn client_leg(
    policy: &Policy,
    check: &Check,
    listener: Option<(u32, u32)>,
    agent_ports: probe_model::PortRange,
) -> Perspectives {
    let Some(li) = check.load_balancer else {
        return Perspectives::default();
    };
    let v6 = check.address.is_ipv6();
    let dests: Vec<Endpoint> = policy
        .lb_destinations(li)
        .into_iter()
        .filter(|d| d.net.is_v6() == v6)
        .collect();
    // Where an EIP, not a route, gives the load balancer its internet side (Huawei), the answers
    // to internet clients leave by the EIP whatever the subnet's route table says.
    let by_eip = policy.clients_are_internet(li)
        && policy
            .model()
            .load_balancers
            .get(li)
            .is_some_and(|l| !l.provider.profile().internet_via_route_table);
    let flow = |src: Endpoint, dst: Endpoint, ports| Flow {
        src,
        dst,
        packet: check.packet,
        return_ports: ports,
        listener,
        rules_enforced: true,
        return_routed: !by_eip,
    };
    let mut agent = check
        .probe_from_agent
        .then(|| policy.agent_endpoint())
        .flatten()
        .and_then(|src| {
            let mut first = None;
            for d in &dests {
                let v = policy.evaluate(&flow(src.clone(), d.clone(), agent_ports));
                if !v.allowed() {
                    return Some(v);
                }
                first.get_or_insert(v);
            }
            first
        });
    let judged = policy.clients_of(li).and_then(|clients| {
        let clients: Vec<Net> = clients.into_iter().filter(|c| c.is_v6() == v6).collect();
        from_clients(
            policy,
            &clients,
            policy.clients_are_internet(li),
            &[],
            &dests,
            |src, dst| flow(src, dst, probe_model::PortRange::EPHEMERAL),
        )
    });
    let (mut lb, mut lb_source) = judged.unzip();
    // A load balancer that keeps the client's address carries the client's connection to a
    // member: the member's rules are on the client's path too. The leg is blocked there when
    // every member refuses the clients.
    let kept = kept_members(policy, li, check.listener);
    if !kept.is_empty() {
        let via: Vec<Endpoint> = policy.lb_destinations(li);
        let at_member = |clients: &[Net], internet: bool| -> Option<(Verdict, Endpoint)> {
            let mut first_deny = None;
            for (member, packet) in &kept {
                let v = from_clients(
                    policy,
                    clients,
                    internet,
                    &via,
                    std::slice::from_ref(member),
                    |src, dst| Flow {
                        src,
                        dst,
                        packet: *packet,
                        return_ports: probe_model::PortRange::EPHEMERAL,
                        listener,
                        rules_enforced: true,
                        return_routed: false,
                    },
                )?;
                if v.0.allowed() {
                    return None;
                }
                first_deny.get_or_insert(v);
            }
            first_deny
        };
        if lb.as_ref().is_some_and(Verdict::allowed)
            && let Some(clients) = policy.clients_of(li)
        {
            let clients: Vec<Net> = clients.into_iter().filter(|c| c.is_v6() == v6).collect();
            if let Some((v, src)) = at_member(&clients, policy.clients_are_internet(li)) {
                lb = Some(v);
                lb_source = Some(src);
            }
        }
        if agent.as_ref().is_some_and(Verdict::allowed)
            && let Some(me) = policy.agent_endpoint()
            && let Some((v, _)) = at_member(&[me.net], false)
        {
            agent = Some(v);
        }
    }
    Perspectives {
        agent,
        lb,
        lb_traffic: None,
        lb_source,
        rules_enforced: true,
    }
}

/// The members behind listener `ti` of load balancer `li` that see the client's address, each
/// with the packet it receives (its own traffic port).
fn kept_members(policy: &Policy, li: usize, ti: Option<usize>) -> Vec<(Endpoint, Packet)> {
    let model = policy.model();
    let Some(lb) = model.load_balancers.get(li) else {
        return Vec::new();
    };
    let Some(l) = ti.and_then(|t| lb.listeners.get(t)) else {
        return Vec::new();
    };
    l.backend_group_names()
        .filter_map(|n| model.backend_groups.iter().find(|b| b.name == n))
        // Members whose rules judge the clients' connections: where the load balancer keeps the
        // client's address and the rules apply to its traffic (not a Huawei L4 listener that
        // bypasses them).
        .filter(|bg| bg.preserves_client_ip(lb) && probe_policy::rules_enforced(lb, Some(bg)))
        .flat_map(|bg| {
            bg.members.iter().filter_map(move |m| {
                let port = m.port.or(bg.port)?;
                Some((
                    policy.endpoint(m.address),
                    Packet::transport(bg.protocol.transport(), port),
                ))
            })
        })
        .collect()
}

/// Judges a flow from a set of clients to every one of `dests`, through one of `via` (the
/// load balancer's nodes, for traffic that keeps the client's address; empty: the clients send
/// it themselves, from their own subnet if they have one).
///
/// The client ranges are cut into pieces every rule, route and access list on the way treats
/// alike ([`Policy::atoms`]); one address stands for each piece. A piece passes when it passes
/// to every destination through every `via` (any one that fails is a load balancer node whose
/// clients fail). The flow is allowed when some piece passes: the verdict is that of the
/// largest piece that passes, else of the piece that got furthest along the path (then the
/// largest). The source returned names the client
/// range as configured (`0.0.0.0/0` for the internet), for summaries and fixes.
fn from_clients(
    policy: &Policy,
    clients: &[Net],
    internet: bool,
    via: &[Endpoint],
    dests: &[Endpoint],
    flow: impl Fn(Endpoint, Endpoint) -> Flow,
) -> Option<(Verdict, Endpoint)> {
    let ends: Vec<&Endpoint> = via.iter().chain(dests).collect();
    let listener = flow(dests.first()?.clone(), dests.first()?.clone()).listener;
    let atoms = policy.atoms(clients, &ends, listener);
    let mut passed: Option<((usize, u128), Verdict, Endpoint)> = None;
    let mut failed: Option<((usize, u128), Verdict, Endpoint)> = None;
    for atom in &atoms {
        let at = atom.representative();
        let sources: Vec<Endpoint> = if via.is_empty() {
            vec![Endpoint {
                net: at,
                groups: Vec::new(),
                subnet: policy.subnet_containing(at),
            }]
        } else {
            via.iter()
                .map(|v| Endpoint {
                    net: at,
                    groups: v.groups.clone(),
                    subnet: v.subnet,
                })
                .collect()
        };
        let mut verdict: Option<Verdict> = None;
        'legs: for src in &sources {
            for dst in dests {
                let v = policy.evaluate(&flow(src.clone(), dst.clone()));
                let deny = !v.allowed();
                if verdict.is_none() || deny {
                    verdict = Some(v);
                }
                if deny {
                    break 'legs;
                }
            }
        }
        let Some(v) = verdict else { continue };
        let shown = Endpoint {
            net: client_range(clients, internet, at),
            groups: sources[0].groups.clone(),
            subnet: sources[0].subnet,
        };
        // The largest piece that passes; when none does, the piece that got furthest along the
        // path (a whitelist that admits some clients is meant; what stops those is the finding),
        // then the largest.
        let rank = (if v.allowed() { 0 } else { v.path.len() }, atom.size());
        let slot = if v.allowed() {
            &mut passed
        } else {
            &mut failed
        };
        if slot.as_ref().is_none_or(|(best, ..)| rank > *best) {
            *slot = Some((rank, v, shown));
        }
    }
    passed.or(failed).map(|(_, v, e)| (v, e))
}

/// The configured client range a client address belongs to: the internet as `0.0.0.0/0` or
/// `::/0`, else the first configured range that holds it.
fn client_range(clients: &[Net], internet: bool, at: Net) -> Net {
    if internet {
        let any: ipnet::IpNet = if at.is_v6() {
            ipnet::IpNet::V6(ipnet::Ipv6Net::default())
        } else {
            ipnet::IpNet::V4(ipnet::Ipv4Net::default())
        };
        return Net::from_net(any);
    }
    clients
        .iter()
        .copied()
        .find(|c| c.contains(at))
        .unwrap_or(at)
}

/// The listener a flow to `check`'s destination passes first: the check's own, or one on the
/// load balancer address it goes to.
fn listener_of(policy: &Policy, check: &Check) -> Option<(u32, u32)> {
    check
        .listener
        .zip(check.load_balancer)
        .map(|(l, lb)| (lb as u32, l as u32))
        .or_else(|| {
            let port = check.packet.port()?;
            policy
                .model()
                .load_balancers
                .iter()
                .enumerate()
                .find_map(|(li, lb)| {
                    (lb.address == Some(check.address))
                        .then(|| lb.listeners.iter().position(|l| l.port == port))
                        .flatten()
                        .map(|ti| (li as u32, ti as u32))
                })
        })
}

/// The load balancer's sources: its health-check ranges; none for listener checks (the agent
/// itself is the client); for expectations, the named source.
fn sources_of(policy: &Policy, check: &Check) -> Vec<Endpoint> {
    match (&check.expectation, check.role) {
        (Some((_, spec)), _) => match spec {
            SourceSpec::Agent => Vec::new(),
            SourceSpec::Lb(_) => check
                .load_balancer
                .map(|i| policy.health_check_sources(i))
                .unwrap_or_default(),
            SourceSpec::Addr(a) => vec![policy.endpoint(*a)],
            // Judged as a client leg by the caller; a bare flow from clients has no single source.
            SourceSpec::Clients => Vec::new(),
            SourceSpec::Net(n) => {
                let net = Net::from_net(*n);
                vec![Endpoint {
                    net,
                    groups: Vec::new(),
                    subnet: policy.subnet_containing(net),
                }]
            }
        },
        (None, Role::Listener) => Vec::new(),
        (None, _) => check
            .load_balancer
            .map(|i| policy.health_check_sources(i))
            .unwrap_or_default(),
    }
}
