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
    let layer4 = check
        .backend_group
        .as_ref()
        .and_then(|n| model.backend_groups.iter().find(|b| &b.name == n))
        .map(|bg| bg.protocol.is_layer4())
        .unwrap_or(true);
    // Only the load balancer's own forwarding (traffic and health checks) bypasses the rules of
    // a Huawei L4 listener without "IP as a backend"; expectations are about the subnet.
    let rules_enforced = lb.is_none_or(|lb| probe_policy::rules_enforced(lb, layer4))
        || !matches!(check.role, Role::Traffic | Role::HealthCheck);
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
