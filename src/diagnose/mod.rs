//! Diagnosis: (configuration verdicts, observation) → findings with a code, the blocking rule
//! and the fix. Pure: the caller runs the probes.
//!
//! Two perspectives are judged for every check:
//!
//! * **as the agent** — the flow the probe really sent (the agent's address, security groups and
//!   subnet). Comparing it with the observation says whether the model holds:
//!
//!   | agent verdict | observed                         | finding                     |
//!   |---------------|----------------------------------|-----------------------------|
//!   | allow         | passes                           | model holds                 |
//!   | allow         | silently dropped / rejected      | `HOST_FIREWALL_SUSPECTED`   |
//!   | allow         | RST / port-unreachable           | `PORT_CLOSED`               |
//!   | allow         | host / net unreachable           | `NO_ROUTE`                  |
//!   | any           | connected, app failed            | `RESPONSE_CODE_MISMATCH`, `TLS_HANDSHAKE_FAILED`, `TIMEOUT_SLOW_RESPONSE` |
//!   | deny          | passes (or RST)                  | `CONFIG_DRIFT_ALLOWED`      |
//!   | deny          | dropped / rejected / unreachable | model holds                 |
//!
//! * **as the load balancer** — the same destination from the load balancer's health-check
//!   source (its subnets and security groups, or 100.125.0.0/16 for Huawei shared). When the
//!   model holds, this verdict is the diagnosis: `OK`, or the code of the component that blocks
//!   (`SG_INGRESS_MISSING`, `NACL_RETURN_BLOCKED`, …). When the two perspectives disagree,
//!   `PROBE_PERSPECTIVE_DIFFERS` says the probe cannot stand in for the load balancer.
//!
//! Static checks ([`static_findings`]) need no probe: subnet sizes and free addresses, zones
//! without a load balancer subnet, Huawei listeners where rules are not enforced.

mod text;

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::model::{Action, BackendGroup, Direction, HealthCheckProto, LbKind, Member, Provider};
use crate::observation::{Observation, Reason, State};
use crate::policy::{
    Endpoint, Flow, FlowTarget, HopKind, Leg, Net, Packet, Policy, RuleRef, SourceSpec, Verdict,
    VerdictView,
};

pub use text::{fix_for, summary_for};

/// Diagnosis codes of verdicts.md §2. Names are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Ok,
    BlockedAsExpected,
    SgIngressMissing,
    SgEgressMissing,
    SgDeny,
    NaclDeny,
    NaclReturnBlocked,
    AccessControlDeny,
    IcmpBlockedForUdpCheck,
    HealthCheckSourceNotAllowed,
    HealthCheckPortBlocked,
    RulesNotEnforced,
    PortClosed,
    HostFirewallSuspected,
    ConfigDriftAllowed,
    ResponseCodeMismatch,
    TlsHandshakeFailed,
    TimeoutSlowResponse,
    NoRoute,
    ProbePerspectiveDiffers,
    LbSubnetTooSmall,
    LbSubnetFewFreeAddresses,
    TargetZoneWithoutLbSubnet,
    /// An expectation says a flow must be blocked, and the configuration allows it.
    ExpectationViolated,
    /// The probe could not run (permission, resource); only the configuration was judged.
    ProbeError,
}

impl Code {
    pub fn severity(self) -> Severity {
        use Code::*;
        match self {
            Ok | BlockedAsExpected => Severity::Ok,
            RulesNotEnforced => Severity::Info,
            ConfigDriftAllowed | ProbePerspectiveDiffers | ProbeError => Severity::Warning,
            _ => Severity::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "OK",
            BlockedAsExpected => "BLOCKED_AS_EXPECTED",
            SgIngressMissing => "SG_INGRESS_MISSING",
            SgEgressMissing => "SG_EGRESS_MISSING",
            SgDeny => "SG_DENY",
            NaclDeny => "NACL_DENY",
            NaclReturnBlocked => "NACL_RETURN_BLOCKED",
            AccessControlDeny => "ACCESS_CONTROL_DENY",
            IcmpBlockedForUdpCheck => "ICMP_BLOCKED_FOR_UDP_CHECK",
            HealthCheckSourceNotAllowed => "HEALTH_CHECK_SOURCE_NOT_ALLOWED",
            HealthCheckPortBlocked => "HEALTH_CHECK_PORT_BLOCKED",
            RulesNotEnforced => "RULES_NOT_ENFORCED",
            PortClosed => "PORT_CLOSED",
            HostFirewallSuspected => "HOST_FIREWALL_SUSPECTED",
            ConfigDriftAllowed => "CONFIG_DRIFT_ALLOWED",
            ResponseCodeMismatch => "RESPONSE_CODE_MISMATCH",
            TlsHandshakeFailed => "TLS_HANDSHAKE_FAILED",
            TimeoutSlowResponse => "TIMEOUT_SLOW_RESPONSE",
            NoRoute => "NO_ROUTE",
            ProbePerspectiveDiffers => "PROBE_PERSPECTIVE_DIFFERS",
            LbSubnetTooSmall => "LB_SUBNET_TOO_SMALL",
            LbSubnetFewFreeAddresses => "LB_SUBNET_FEW_FREE_ADDRESSES",
            TargetZoneWithoutLbSubnet => "TARGET_ZONE_WITHOUT_LB_SUBNET",
            ExpectationViolated => "EXPECTATION_VIOLATED",
            ProbeError => "PROBE_ERROR",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finding severity; the order is that of the exit code's concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a check stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The member's traffic port, as the load balancer forwards to it.
    Traffic,
    /// The health check (for UDP_CONNECT also its ICMP echo).
    HealthCheck,
    /// A listener on the load balancer's address, through its access control.
    Listener,
    /// A flow from `expectations:`.
    Expectation,
    /// A finding about the configuration alone.
    Configuration,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Traffic => "traffic",
            Role::HealthCheck => "health_check",
            Role::Listener => "listener",
            Role::Expectation => "expectation",
            Role::Configuration => "configuration",
        }
    }
}

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
        let lb = model.load_balancers.iter().position(|lb| {
            lb.listeners
                .iter()
                .any(|l| l.backend_group.as_deref() == Some(&bg.name))
        });
        for m in &bg.members {
            if let Some(o) = only
                && o != bg.name
                && o != m.display_name()
                && o != m.address.to_string()
            {
                continue;
            }
            plan_member(bg, m, lb, &mut checks);
        }
    }
    if only.is_none() {
        for (li, lb) in model.load_balancers.iter().enumerate() {
            let Some(vip) = lb.address else { continue };
            for (ti, l) in lb.listeners.iter().enumerate() {
                let packet = Packet::transport(l.protocol.transport(), l.port);
                checks.push(Check {
                    backend: l
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{}:{}", lb.name, l.port)),
                    backend_group: l.backend_group.clone(),
                    load_balancer: Some(li),
                    listener: Some(ti),
                    role: Role::Listener,
                    address: vip,
                    packet,
                    probe: ProbeKind::for_packet(packet),
                    timeout_s: 5,
                    interval_s: DEFAULT_INTERVAL_S,
                    rise: 1,
                    fall: 1,
                    traffic_packet: None,
                    expectation: None,
                    probe_from_agent: true,
                });
            }
        }
        for (i, e) in model.expectations.iter().enumerate() {
            let (Ok(to), Ok(from)) = (
                crate::policy::parse_flow_target(&e.to),
                crate::policy::parse_source(&e.from),
            ) else {
                continue;
            };
            let from_agent = match &from {
                SourceSpec::Agent => true,
                SourceSpec::Addr(a) => Some(*a) == model.agent.address,
                _ => false,
            };
            // `from: lb` stands for every load balancer: one check each.
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
                checks.push(check);
            }
        }
    }
    checks
}

fn plan_member(bg: &BackendGroup, m: &Member, lb: Option<usize>, out: &mut Vec<Check>) {
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
    };
    let Some(hc) = &bg.health_check else {
        out.push(base);
        return;
    };
    let hc_port = hc.port_for(port);
    let hc_packet = Packet::transport(hc.protocol.transport(), hc_port);
    // The traffic port gets its own check only when the health check does not already cover it.
    if hc_packet != traffic {
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
    agent_ports: crate::model::PortRange,
) -> Perspectives {
    let model = policy.model();
    let dst = policy.endpoint(check.address);
    // A flow to a load balancer's address passes that listener's access control first.
    let listener = check
        .listener
        .zip(check.load_balancer)
        .map(|(l, lb)| (lb as u32, l as u32))
        .or_else(|| {
            let port = check.packet.port()?;
            model
                .load_balancers
                .iter()
                .enumerate()
                .find_map(|(li, lb)| {
                    (lb.address == Some(check.address))
                        .then(|| lb.listeners.iter().position(|l| l.port == port))
                        .flatten()
                        .map(|ti| (li as u32, ti as u32))
                })
        });
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
    let rules_enforced = lb.is_none_or(|lb| crate::policy::rules_enforced(lb, layer4))
        || !matches!(check.role, Role::Traffic | Role::HealthCheck);
    let flow = |src: Endpoint, packet: Packet, ports, enforced| Flow {
        src,
        dst: dst.clone(),
        packet,
        return_ports: ports,
        listener,
        rules_enforced: enforced,
    };
    let agent = policy
        .agent_endpoint()
        .map(|src| policy.evaluate(&flow(src, check.packet, agent_ports, true)));

    // The load balancer's sources: its health-check ranges; for listener checks, the agent
    // itself is the client; for expectations, the named source.
    let sources: Vec<Endpoint> = match (&check.expectation, check.role) {
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
    };
    let worst = |packet: Packet| -> Option<(Verdict, Endpoint)> {
        let mut first: Option<(Verdict, Endpoint)> = None;
        for s in &sources {
            let v = policy.evaluate(&flow(
                s.clone(),
                packet,
                crate::model::PortRange::EPHEMERAL,
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

/// The blocking component of verdicts.md §3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocking {
    pub kind: &'static str,
    pub id: String,
    pub rule: String,
    pub direction: Direction,
}

/// One finding: verdicts.md §4 plus a few added fields.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub backend: Option<String>,
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
    pub protocol: Option<&'static str>,
    pub role: Role,
    pub observed: Option<Observation>,
    /// The configuration's verdict from the load balancer's perspective.
    pub expected: Option<VerdictView>,
    pub code: Code,
    pub also: Vec<Code>,
    pub severity: Severity,
    pub blocking: Option<Blocking>,
    pub summary: String,
    pub fix: Option<String>,
    /// Added: the backend group and load balancer the check belongs to.
    pub backend_group: Option<String>,
    pub load_balancer: Option<String>,
    /// Added: the configuration's verdict on the flow the agent really sent.
    pub expected_as_agent: Option<VerdictView>,
}

/// How an observation reads for diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Pass,
    Dropped,
    Rejected,
    Unreachable,
    Closed,
    AppFailed(Code),
    /// The probe could not run.
    NotRun,
}

/// Reads an observation. UDP's `open|filtered` passes, as the UDP_CONNECT check does: only a
/// port-unreachable fails it.
pub fn seen(obs: &Observation) -> Seen {
    match obs.state {
        State::Open if obs.success => Seen::Pass,
        State::Open => Seen::AppFailed(match obs.reason {
            Reason::Timeout => Code::TimeoutSlowResponse,
            Reason::TlsError => Code::TlsHandshakeFailed,
            _ => Code::ResponseCodeMismatch,
        }),
        State::OpenFiltered => Seen::Pass,
        State::Closed => Seen::Closed,
        State::Filtered => Seen::Dropped,
        State::Rejected => Seen::Rejected,
        State::Unreachable => Seen::Unreachable,
        State::Error => Seen::NotRun,
    }
}

/// The code for a load balancer verdict that denies, from the hop that blocked.
fn hop_code(v: &Verdict) -> Option<Code> {
    let h = v.blocking()?;
    Some(match (h.kind, h.leg, h.direction, h.rule) {
        (HopKind::AccessControl, ..) => Code::AccessControlDeny,
        (HopKind::NetworkAcl, Leg::Return, ..) => Code::NaclReturnBlocked,
        (HopKind::NetworkAcl, ..) => Code::NaclDeny,
        (HopKind::SecurityGroup, _, _, RuleRef::Rule(_)) => Code::SgDeny,
        (HopKind::SecurityGroup, _, Direction::Egress, RuleRef::Implicit) => Code::SgEgressMissing,
        (HopKind::SecurityGroup, _, Direction::Ingress, RuleRef::Implicit) => {
            Code::SgIngressMissing
        }
    })
}

/// Judges one check. `obs` is `None` for a static judgement (no probe sent).
pub fn diagnose(
    policy: &Policy,
    check: &Check,
    p: &Perspectives,
    obs: Option<&Observation>,
) -> Finding {
    let mut codes: Vec<Code> = Vec::new();
    let mut blocking: Option<Blocking> = None;
    let agent_allows = p.agent.as_ref().map(Verdict::allowed);
    let lb_verdict = p.lb.as_ref().or(p.agent.as_ref());
    let lb_allows = lb_verdict.map(Verdict::allowed);
    let seen = obs.map(seen);

    let hop_blocking = |v: &Verdict| {
        v.blocking().map(|h| Blocking {
            kind: h.kind.as_str(),
            id: policy.component_id(h),
            rule: policy.rule_label(h),
            direction: h.direction,
        })
    };
    let dest_blocking = |kind: &'static str| Blocking {
        kind,
        id: match check.packet.port() {
            Some(port) if kind == "service" => format!(
                "{}:{port}/{}",
                check.address,
                if matches!(check.packet, Packet::Udp(_)) {
                    "udp"
                } else {
                    "tcp"
                }
            ),
            _ => check.address.to_string(),
        },
        rule: "*".to_string(),
        direction: Direction::Ingress,
    };

    // 1. Does the model hold, judged by the probe against the agent's own verdict?
    let mut model_holds = true;
    if let (Some(s), Some(agent_ok)) = (seen, agent_allows) {
        match (agent_ok, s) {
            (true, Seen::Pass) => {}
            (true, Seen::Dropped | Seen::Rejected) => {
                model_holds = false;
                codes.push(Code::HostFirewallSuspected);
                blocking = Some(dest_blocking("host"));
            }
            (true, Seen::Closed) => {
                model_holds = false;
                codes.push(Code::PortClosed);
                blocking = Some(dest_blocking("service"));
            }
            (true, Seen::Unreachable) => {
                model_holds = false;
                codes.push(Code::NoRoute);
                blocking = Some(dest_blocking("host"));
            }
            (ok, Seen::AppFailed(code)) => {
                model_holds = ok;
                codes.push(code);
                if !ok {
                    codes.push(Code::ConfigDriftAllowed);
                }
                blocking = Some(dest_blocking("service"));
            }
            (false, Seen::Pass) => {
                model_holds = false;
                codes.push(Code::ConfigDriftAllowed);
            }
            (false, Seen::Closed) => {
                model_holds = false;
                codes.push(Code::ConfigDriftAllowed);
                codes.push(Code::PortClosed);
            }
            (false, Seen::Dropped | Seen::Rejected | Seen::Unreachable) => {}
            (_, Seen::NotRun) => codes.push(Code::ProbeError),
        }
    }

    // 2. Expectations: is the flow blocked (or open) as it must be?
    if let Some((want, _)) = &check.expectation {
        let config_allows = lb_allows.unwrap_or(true);
        let observed_pass = matches!(seen, Some(Seen::Pass | Seen::Closed | Seen::AppFailed(_)));
        let observed_block = matches!(
            seen,
            Some(Seen::Dropped | Seen::Rejected | Seen::Unreachable)
        );
        let mut exp = Vec::new();
        match want {
            Action::Deny if config_allows => exp.push(Code::ExpectationViolated),
            Action::Deny if observed_pass => exp.push(Code::ConfigDriftAllowed),
            Action::Deny => exp.push(Code::BlockedAsExpected),
            Action::Allow if !config_allows => {
                exp.extend(lb_verdict.and_then(hop_code));
            }
            Action::Allow if observed_block => exp.push(Code::HostFirewallSuspected),
            Action::Allow => exp.push(Code::Ok),
        }
        if !config_allows && blocking.is_none() {
            blocking = lb_verdict.and_then(hop_blocking);
        }
        codes.retain(|c| !exp.contains(c) && *c != Code::ConfigDriftAllowed);
        exp.extend(codes);
        return finish(policy, check, p, obs, exp, blocking);
    }

    // 3. The load balancer's diagnosis.
    let perspective_differs =
        matches!((agent_allows, p.lb.as_ref()), (Some(a), Some(l)) if a != l.allowed());
    let mut lb_codes = Vec::new();
    if let Some(v) = lb_verdict.filter(|v| !v.allowed()) {
        let hop = hop_code(v);
        let traffic_ok = p.lb_traffic.as_ref().is_some_and(Verdict::allowed);
        let icmp_for_udp =
            check.role == Role::HealthCheck && matches!(check.packet, Packet::Icmp { .. });
        let at_destination = v.blocking().is_some_and(|h| {
            h.direction == Direction::Ingress
                && h.leg == Leg::Forward
                && h.kind != HopKind::AccessControl
        });
        if icmp_for_udp {
            lb_codes.push(Code::IcmpBlockedForUdpCheck);
        } else if check.role == Role::HealthCheck && traffic_ok {
            lb_codes.push(Code::HealthCheckPortBlocked);
        } else if check.role == Role::HealthCheck && agent_allows == Some(true) && at_destination {
            lb_codes.push(Code::HealthCheckSourceNotAllowed);
        }
        lb_codes.extend(hop);
        if blocking.is_none() || model_holds {
            blocking = hop_blocking(v);
        }
    }
    let mut all = Vec::new();
    if model_holds {
        all.extend(lb_codes);
        all.extend(codes.iter().copied());
        if perspective_differs {
            all.push(Code::ProbePerspectiveDiffers);
            if blocking.is_none() {
                blocking = p.agent.as_ref().and_then(hop_blocking);
            }
        }
    } else {
        all.extend(codes.iter().copied());
        all.extend(lb_codes);
        if perspective_differs {
            all.push(Code::ProbePerspectiveDiffers);
        }
    }
    if all.is_empty() {
        all.push(Code::Ok);
    }
    finish(policy, check, p, obs, all, blocking)
}

fn finish(
    policy: &Policy,
    check: &Check,
    p: &Perspectives,
    obs: Option<&Observation>,
    mut codes: Vec<Code>,
    blocking: Option<Blocking>,
) -> Finding {
    let mut seen_codes = std::collections::HashSet::new();
    codes.retain(|c| seen_codes.insert(*c));
    let code = codes.first().copied().unwrap_or(Code::Ok);
    let also: Vec<Code> = codes.iter().skip(1).copied().collect();
    // The primary code decides: `also` codes are context (for drift, what the configuration
    // would do to the load balancer if it were in force).
    let severity = code.severity();
    let model = policy.model();
    let lb = check
        .load_balancer
        .and_then(|i| model.load_balancers.get(i));
    let mut f = Finding {
        backend: Some(check.backend.clone()),
        address: Some(check.address),
        port: check.packet.port(),
        protocol: Some(check.probe.name()),
        role: check.role,
        observed: obs.cloned(),
        expected: p.lb.as_ref().or(p.agent.as_ref()).map(|v| policy.view(v)),
        code,
        also,
        severity,
        blocking,
        summary: String::new(),
        fix: None,
        backend_group: check.backend_group.clone(),
        load_balancer: lb.map(|l| l.name.clone()),
        expected_as_agent: p.agent.as_ref().map(|v| policy.view(v)),
    };
    f.summary = summary_for(policy, check, p, &f);
    f.fix = fix_for(policy, check, p, &f);
    f
}

/// Findings from the configuration alone: subnet sizes, free addresses, zones, rules not
/// enforced.
pub fn static_findings(policy: &Policy) -> Vec<Finding> {
    let model = policy.model();
    let mut out = Vec::new();
    let finding = |lb: &str, code: Code, summary: String, fix: String| Finding {
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
    };
    for lb in &model.load_balancers {
        let subnets: Vec<_> = lb
            .subnets
            .iter()
            .filter_map(|id| model.subnets.iter().find(|s| &s.id == id))
            .collect();
        if lb.provider == Provider::Aws {
            for s in &subnets {
                if s.cidr.prefix_len() > 27 && s.cidr.addr().is_ipv4() {
                    out.push(finding(
                        &lb.name,
                        Code::LbSubnetTooSmall,
                        format!(
                            "load balancer subnet {} is {}: AWS needs at least a /27",
                            s.id, s.cidr
                        ),
                        format!(
                            "aws ec2 create-subnet --vpc-id <vpc> --availability-zone {} --cidr-block <a free /27 or larger>, then aws elbv2 set-subnets --load-balancer-arn {} --subnets <the new subnet ids>",
                            s.zone.as_deref().unwrap_or("<zone>"),
                            lb.id.as_deref().unwrap_or(&lb.name)
                        ),
                    ));
                }
                if let Some(free) = s.free_addresses
                    && free < 8
                {
                    out.push(finding(
                        &lb.name,
                        Code::LbSubnetFewFreeAddresses,
                        format!(
                            "load balancer subnet {} ({}) has {free} free addresses: AWS needs at least 8 to scale the load balancer",
                            s.id, s.cidr
                        ),
                        format!(
                            "free addresses in {} (release unused ENIs / Elastic IPs) or move the load balancer to a larger subnet in the same zone",
                            s.id
                        ),
                    ));
                }
            }
            let lb_zones: Vec<&str> = subnets.iter().filter_map(|s| s.zone.as_deref()).collect();
            if !lb_zones.is_empty() {
                let mut reported = std::collections::HashSet::new();
                for bg in model.backend_groups.iter().filter(|bg| {
                    lb.listeners
                        .iter()
                        .any(|l| l.backend_group.as_deref() == Some(&bg.name))
                }) {
                    for m in &bg.members {
                        let zone = policy
                            .subnet_for(m.subnet.as_deref(), m.address)
                            .and_then(|i| model.subnets.get(i as usize))
                            .and_then(|s| s.zone.as_deref());
                        if let Some(z) = zone
                            && !lb_zones.contains(&z)
                            && reported.insert(z.to_string())
                        {
                            out.push(finding(
                                &lb.name,
                                Code::TargetZoneWithoutLbSubnet,
                                format!(
                                    "target {} sits in zone {z}, where load balancer {} has no subnet: it gets no traffic from that zone's node",
                                    m.display_name(),
                                    lb.name
                                ),
                                format!(
                                    "create a public subnet (/27 or larger, 8+ free addresses) in {z} and add it: aws elbv2 set-subnets --load-balancer-arn {} --subnets <current subnets> <new subnet>",
                                    lb.id.as_deref().unwrap_or(&lb.name)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if lb.provider == Provider::Huawei {
            for l in &lb.listeners {
                if l.protocol.is_layer4() && lb.ip_as_backend != Some(true) {
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
                        format!(
                            "control access on the listener (ELB > Listeners > Access Control: an IP address group whitelist){}",
                            if lb.kind == LbKind::Dedicated {
                                ", or enable \"IP as a backend\" on the load balancer"
                            } else {
                                ""
                            }
                        ),
                    );
                    f.port = Some(l.port);
                    f.protocol = Some(l.protocol.as_str());
                    f.backend_group = l.backend_group.clone();
                    out.push(f);
                }
            }
        }
    }
    out
}

/// Counts by severity, as verdicts.md §4's `summary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub ok: usize,
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

/// The output of `probe check`: every finding and the counts.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    pub fn new(findings: Vec<Finding>) -> Self {
        let mut s = Summary {
            findings: findings.len(),
            ..Summary::default()
        };
        for f in &findings {
            match f.severity {
                Severity::Ok => s.ok += 1,
                Severity::Info => s.info += 1,
                Severity::Warning => s.warning += 1,
                Severity::Error => s.error += 1,
            }
        }
        Report {
            findings,
            summary: s,
        }
    }

    /// 0 when every finding is ok or info, 1 otherwise (verdicts.md §4).
    pub fn exit_code(&self) -> u8 {
        u8::from(self.summary.error + self.summary.warning > 0)
    }
}

#[cfg(test)]
mod tests;
