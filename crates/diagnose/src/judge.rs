//! One check judged: its verdicts compared with what its probe saw, into a finding with codes,
//! the blocking rule, a summary and a fix.

use std::net::IpAddr;

use serde::Serialize;

use super::{Check, Code, Perspectives, Role, Severity, fix_for, summary_for};
use probe_model::{Action, Direction, ReportedHealth, RouteState};
use probe_observation::{Observation, Reason, State};
use probe_policy::{HopKind, Leg, Packet, Policy, RuleRef, Verdict, VerdictView};

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
    /// The member's health as the provider reported it (verdicts.md §2), `null` when the dump
    /// has no health report.
    pub reported: Option<ReportedHealth>,
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

/// Whether [`diagnose`] judges `b` exactly as it judged `a`, so that a finding made from `a`
/// stands for `b` once `b` is its observation: the same plain outcome (class, reason, phase,
/// success) of the same target, with no ICMP error, HTTP answer, TLS, UDP or ping details and
/// no error text, which findings quote. Only the round-trip time may differ, and no finding
/// reads it. The agent uses this to skip judging a check whose outcome has not changed.
pub fn judged_alike(a: &Observation, b: &Observation) -> bool {
    fn plain(o: &Observation) -> bool {
        o.icmp.is_none()
            && o.http.is_none()
            && o.tls.is_none()
            && o.udp.is_none()
            && o.ping.is_none()
            && o.detail.is_none()
    }
    plain(a)
        && plain(b)
        && a.state == b.state
        && a.reason == b.reason
        && a.success == b.success
        && a.phase == b.phase
        && a.protocol == b.protocol
        && a.address == b.address
        && a.port == b.port
        && a.target == b.target
}

/// The code for a load balancer verdict that denies, from the hop that blocked.
pub(crate) fn hop_code(policy: &Policy, v: &Verdict) -> Option<Code> {
    let h = v.blocking()?;
    Some(match (h.kind, h.leg, h.direction, h.rule) {
        (HopKind::RouteTable, ..) => match policy.route_of(h) {
            Some(r) if r.state == RouteState::Blackhole => Code::RouteBlackhole,
            _ => Code::RouteMissing,
        },
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

/// `LB_SUBNET_NOT_PUBLIC` for a client leg from the internet that a route of the load
/// balancer's subnet stops: no route back to the clients, or one through a NAT gateway. A
/// blackhole keeps its own code first, with this one after it.
fn not_public(policy: &Policy, check: &Check, v: &Verdict) -> Option<Code> {
    let h = v.blocking()?;
    let lb = check.load_balancer?;
    let internet = policy.clients_are_internet(lb)
        && policy
            .model()
            .load_balancers
            .get(lb)
            .is_some_and(|l| l.provider.profile().internet_via_route_table);
    (check.role == Role::Client && internet && h.kind == HopKind::RouteTable)
        .then_some(Code::LbSubnetNotPublic)
}

/// Judges one check. `obs` is `None` for a static judgement (no probe sent).
pub fn diagnose(
    policy: &Policy,
    check: &Check,
    p: &Perspectives,
    obs: Option<&Observation>,
) -> Finding {
    let seen = obs.map(seen);
    let agent_allows = p.agent.as_ref().map(Verdict::allowed);
    let lb_verdict = p.lb.as_ref().or(p.agent.as_ref());
    // 1. Does the model hold, judged by the probe against the agent's own verdict?
    let probed = probe_against_model(check, seen, agent_allows);
    // 2. Expectations: is the flow blocked (or open) as it must be?
    if let Some((want, _)) = &check.expectation {
        let (codes, blocking) = expectation_codes(policy, *want, lb_verdict, seen, probed);
        return finish(policy, check, p, obs, codes, blocking);
    }
    // 3. The load balancer's diagnosis.
    let (codes, blocking) = lb_codes(policy, check, p, agent_allows, probed);
    finish(policy, check, p, obs, codes, blocking)
}

/// What comparing the probe with the agent's verdict found.
struct Probed {
    codes: Vec<Code>,
    blocking: Option<Blocking>,
    model_holds: bool,
}

/// The blocking component of a verdict that denies.
fn hop_blocking(policy: &Policy, v: &Verdict) -> Option<Blocking> {
    v.blocking().map(|h| Blocking {
        kind: h.kind.as_str(),
        id: policy.component_id(h),
        rule: policy.rule_label(h),
        direction: h.direction,
    })
}

/// A block at the destination itself: a host firewall (`host`) or a service (`service`).
fn dest_blocking(check: &Check, kind: &'static str) -> Blocking {
    Blocking {
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
    }
}

/// Step 1: the probe's result against the agent's own verdict (the table of the module docs).
fn probe_against_model(check: &Check, seen: Option<Seen>, agent_allows: Option<bool>) -> Probed {
    let mut out = Probed {
        codes: Vec::new(),
        blocking: None,
        model_holds: true,
    };
    let (Some(s), Some(agent_ok)) = (seen, agent_allows) else {
        return out;
    };
    let mut broken = |codes: &[Code], blocking: Option<Blocking>| {
        out.model_holds = false;
        out.codes.extend_from_slice(codes);
        if blocking.is_some() {
            out.blocking = blocking;
        }
    };
    match (agent_ok, s) {
        (true, Seen::Pass) => {}
        (true, Seen::Dropped | Seen::Rejected) => broken(
            &[Code::HostFirewallSuspected],
            Some(dest_blocking(check, "host")),
        ),
        (true, Seen::Closed) => {
            broken(&[Code::PortClosed], Some(dest_blocking(check, "service")));
        }
        (true, Seen::Unreachable) => {
            broken(&[Code::NoRoute], Some(dest_blocking(check, "host")));
        }
        (ok, Seen::AppFailed(code)) => {
            out.model_holds = ok;
            out.codes.push(code);
            if !ok {
                out.codes.push(Code::ConfigDriftAllowed);
            }
            out.blocking = Some(dest_blocking(check, "service"));
        }
        (false, Seen::Pass) => broken(&[Code::ConfigDriftAllowed], None),
        (false, Seen::Closed) => broken(&[Code::ConfigDriftAllowed, Code::PortClosed], None),
        (false, Seen::Dropped | Seen::Rejected | Seen::Unreachable) => {}
        (_, Seen::NotRun) => out.codes.push(Code::ProbeError),
    }
    out
}

/// Step 2: an expectation's codes, from what it wants, what the configuration decides and what
/// the probe saw.
fn expectation_codes(
    policy: &Policy,
    want: Action,
    lb_verdict: Option<&Verdict>,
    seen: Option<Seen>,
    probed: Probed,
) -> (Vec<Code>, Option<Blocking>) {
    let config_allows = lb_verdict.is_none_or(Verdict::allowed);
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
        Action::Allow if !config_allows => exp.extend(lb_verdict.and_then(|v| hop_code(policy, v))),
        Action::Allow if observed_block => exp.push(Code::HostFirewallSuspected),
        Action::Allow => exp.push(Code::Ok),
    }
    let mut blocking = probed.blocking;
    if !config_allows && blocking.is_none() {
        blocking = lb_verdict.and_then(|v| hop_blocking(policy, v));
    }
    let mut codes = probed.codes;
    codes.retain(|c| !exp.contains(c) && *c != Code::ConfigDriftAllowed);
    exp.extend(codes);
    (exp, blocking)
}

/// Step 3: the load balancer's codes (and the agent's, where the perspectives differ), in the
/// order that puts the model's own failure first when the probe showed one.
fn lb_codes(
    policy: &Policy,
    check: &Check,
    p: &Perspectives,
    agent_allows: Option<bool>,
    probed: Probed,
) -> (Vec<Code>, Option<Blocking>) {
    let Probed {
        codes,
        mut blocking,
        model_holds,
    } = probed;
    let lb_verdict = p.lb.as_ref().or(p.agent.as_ref());
    let perspective_differs =
        matches!((agent_allows, p.lb.as_ref()), (Some(a), Some(l)) if a != l.allowed());
    let mut lb = Vec::new();
    if let Some(v) = lb_verdict.filter(|v| !v.allowed()) {
        lb.extend(health_check_code(check, p, agent_allows, v));
        lb.extend(not_public(policy, check, v));
        lb.extend(hop_code(policy, v));
        if blocking.is_none() || model_holds {
            blocking = hop_blocking(policy, v);
        }
    }
    let mut all = Vec::new();
    if model_holds {
        all.extend(lb);
        all.extend(codes);
        if perspective_differs {
            all.push(Code::ProbePerspectiveDiffers);
            if blocking.is_none() {
                blocking = p.agent.as_ref().and_then(|v| hop_blocking(policy, v));
            }
        }
    } else {
        all.extend(codes);
        all.extend(lb);
        if perspective_differs {
            all.push(Code::ProbePerspectiveDiffers);
        }
    }
    if all.is_empty() {
        all.push(Code::Ok);
    }
    (all, blocking)
}

/// What a denied health check adds: its ICMP cannot pass, its own port is blocked while the
/// traffic port is not, or only the load balancer's source is refused.
fn health_check_code(
    check: &Check,
    p: &Perspectives,
    agent_allows: Option<bool>,
    v: &Verdict,
) -> Option<Code> {
    if check.role != Role::HealthCheck {
        return None;
    }
    let traffic_ok = p.lb_traffic.as_ref().is_some_and(Verdict::allowed);
    let at_destination = v.blocking().is_some_and(|h| {
        h.direction == Direction::Ingress
            && h.leg == Leg::Forward
            && h.kind != HopKind::AccessControl
    });
    if matches!(check.packet, Packet::Icmp { .. }) {
        Some(Code::IcmpBlockedForUdpCheck)
    } else if traffic_ok {
        Some(Code::HealthCheckPortBlocked)
    } else if agent_allows == Some(true) && at_destination {
        Some(Code::HealthCheckSourceNotAllowed)
    } else {
        None
    }
}

/// `REPORTED_HEALTH_DIFFERS` when the provider's health report of a member contradicts the
/// probed health check: the provider says healthy where probe finds a failure, or unhealthy
/// where the check passes and the configuration admits it. States that are neither (initial,
/// draining, unused, no monitor) are not compared. A dump is a snapshot: a report taken before
/// a change is a contradiction too, and the finding says so in its fix.
fn reported_differs(check: &Check, obs: Option<&Observation>, code: Option<Code>) -> Option<Code> {
    let reported = check.reported.as_ref()?;
    obs?;
    if check.role != Role::HealthCheck {
        return None;
    }
    let state = reported.state.to_ascii_lowercase();
    let provider_healthy = match state.as_str() {
        "healthy" | "online" | "inservice" => true,
        "unhealthy" | "offline" | "outofservice" => false,
        _ => return None,
    };
    if code == Some(Code::ProbeError) {
        return None;
    }
    let probe_healthy = code.is_none_or(|c| c.severity() == Severity::Ok);
    // A UDP health check is two probes (the ICMP echo, then the datagram): one of them passing
    // does not make the member healthy, so only a failure can contradict the provider.
    let part_of_udp_check =
        matches!(check.packet, Packet::Icmp { .. }) || check.probe == super::ProbeKind::Udp;
    if part_of_udp_check && !provider_healthy {
        return None;
    }
    (provider_healthy != probe_healthy).then_some(Code::ReportedHealthDiffers)
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
    // A route blackhole stays first; a missing route of an internet-facing load balancer's
    // subnet is said as the subnet not being public.
    if codes.first() == Some(&Code::LbSubnetNotPublic)
        && codes.get(1) == Some(&Code::RouteBlackhole)
    {
        codes.swap(0, 1);
    }
    codes.retain(|c| !(*c == Code::RouteMissing && seen_codes.contains(&Code::LbSubnetNotPublic)));
    if let Some(differs) = reported_differs(check, obs, codes.first().copied()) {
        if codes.first().is_none_or(|c| *c == Code::Ok) {
            codes.retain(|c| *c != Code::Ok);
            codes.insert(0, differs);
        } else {
            codes.push(differs);
        }
    }
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
        address: (!check.stand_in).then_some(check.address),
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
        reported: check.reported.clone(),
    };
    f.summary = summary_for(policy, check, p, &f);
    f.fix = fix_for(policy, check, p, &f);
    f
}
