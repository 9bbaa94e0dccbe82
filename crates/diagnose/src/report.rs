//! A report: every finding and the counts (verdicts.md §4).

use serde::Serialize;

use super::{Check, Finding, Role, Severity, diagnose, perspectives, plan, static_findings};
use probe_model::{Action, Model, PortRange};
use probe_observation::Observation;
use probe_policy::{FlowTarget, Policy, SourceSpec};

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

impl Summary {
    /// Counts one finding of severity `s`.
    pub fn count(&mut self, s: Severity) {
        self.findings += 1;
        match s {
            Severity::Ok => self.ok += 1,
            Severity::Info => self.info += 1,
            Severity::Warning => self.warning += 1,
            Severity::Error => self.error += 1,
        }
    }
}

impl Report {
    pub fn new(findings: Vec<Finding>) -> Self {
        let mut s = Summary::default();
        for f in &findings {
            s.count(f.severity);
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

/// What a diagnosis judges ([`report`]).
pub enum Mode<'a> {
    /// `probe check`: the planned checks with what their probes saw (`None`: not probed), and
    /// whether the configuration-only findings are added.
    Probed {
        checks: &'a [Check],
        observations: &'a [Option<Observation>],
        statics: bool,
    },
    /// `probe validate`: every planned check from the load balancer's side, no probe sent, and
    /// the configuration-only findings.
    Static,
    /// `probe explain`: one flow from `from` to `to`, named `name`, no probe sent.
    Explain {
        from: &'a SourceSpec,
        to: FlowTarget,
        name: String,
    },
}

/// Why a diagnosis could not be made: the question names something the configuration lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagnoseError {
    #[error("no load balancer named {0:?}")]
    NoSuchLoadBalancer(String),
    #[error("the configuration has no load balancer")]
    NoLoadBalancer,
    #[error("the agent's address is unknown; give --source-addr")]
    AgentUnknown,
    #[error(
        "no listener of a load balancer with known clients (a scheme or client ranges) is at {0}: give the load balancer's address, a node's, or an address in one of its subnets, with a listener's port"
    )]
    NoListenerAt(String),
}

/// The one entry point of the diagnosis: the report of `mode` under `policy`. `agent_ports` is
/// the agent's ephemeral port range (its kernel's `ip_local_port_range`).
pub fn report(
    policy: &Policy,
    agent_ports: PortRange,
    mode: Mode,
) -> Result<Report, DiagnoseError> {
    let findings = match mode {
        Mode::Probed {
            checks,
            observations,
            statics,
        } => {
            let mut findings: Vec<Finding> = checks
                .iter()
                .zip(observations)
                .map(|(c, obs)| {
                    let p = perspectives(policy, c, agent_ports);
                    diagnose(policy, c, &p, obs.as_ref())
                })
                .collect();
            if statics {
                findings.extend(static_findings(policy));
            }
            findings
        }
        Mode::Static => {
            let mut findings: Vec<Finding> = plan(policy, None)
                .iter()
                .filter_map(|c| {
                    let mut p = perspectives(policy, c, agent_ports);
                    // Without probes the agent's perspective says nothing about the load
                    // balancer.
                    if p.lb.is_some() {
                        p.agent = None;
                    }
                    // Nothing to judge (no load balancer, agent address unknown): no finding
                    // rather than an OK that checked nothing.
                    if p.lb.is_none() && p.agent.is_none() {
                        return None;
                    }
                    Some(diagnose(policy, c, &p, None))
                })
                .collect();
            findings.extend(static_findings(policy));
            findings
        }
        Mode::Explain { from, to, name } => explain(policy, agent_ports, from, to, &name)?,
    };
    Ok(Report::new(findings))
}

/// One flow, judged once for each load balancer a flow "from lb" stands for.
fn explain(
    policy: &Policy,
    agent_ports: PortRange,
    from: &SourceSpec,
    to: FlowTarget,
    name: &str,
) -> Result<Vec<Finding>, DiagnoseError> {
    let model = policy.model();
    if *from == SourceSpec::Agent && model.agent.address.is_none() {
        return Err(DiagnoseError::AgentUnknown);
    }
    if *from == SourceSpec::Clients {
        return explain_client_leg(policy, agent_ports, to);
    }
    // A flow from a load balancer that `validate` also judges (a member's traffic or health
    // check) is judged as that check, so the two commands always agree: the same exemptions
    // (a Huawei L4 listener's forwarded traffic), the same sources, the same codes.
    let planned = match from {
        SourceSpec::Lb(_) => plan(policy, None),
        _ => Vec::new(),
    };
    let as_planned = |lb: Option<usize>| -> Vec<&Check> {
        planned
            .iter()
            .filter(|c| {
                lb.is_some()
                    && c.load_balancer == lb
                    && c.address == to.addr
                    && c.packet == to.packet
                    && matches!(c.role, Role::Traffic | Role::HealthCheck)
            })
            .collect()
    };
    Ok(explained_load_balancers(model, from, to)?
        .into_iter()
        .flat_map(|lb| {
            let same = as_planned(lb);
            if !same.is_empty() {
                return same
                    .into_iter()
                    .map(|c| {
                        let mut p = perspectives(policy, c, agent_ports);
                        p.agent = None;
                        let mut f = diagnose(policy, c, &p, None);
                        f.backend = Some(name.to_string());
                        f
                    })
                    .collect::<Vec<_>>();
            }
            let from_spec = match (from, lb) {
                (SourceSpec::Lb(_), Some(i)) => {
                    SourceSpec::Lb(model.load_balancers.get(i).map(|l| l.name.clone()))
                }
                (f, _) => f.clone(),
            };
            let check = Check::expectation(name.to_string(), lb, to, Action::Allow, from_spec);
            let mut p = perspectives(policy, &check, agent_ports);
            // From the agent, the agent's verdict is the one judged (as the source's).
            if *from == SourceSpec::Agent {
                p.agent = None;
            }
            let mut f = diagnose(policy, &check, &p, None);
            f.role = Role::Expectation;
            vec![f]
        })
        .collect())
}

/// The client legs of every listener, judged from the configuration alone: what `probe agent`
/// reports beside its probes, since it stands inside the network and cannot be a client.
pub fn client_legs(policy: &Policy, agent_ports: PortRange) -> Vec<Finding> {
    plan(policy, None)
        .iter()
        .filter(|c| c.role == Role::Client)
        .map(|c| {
            let mut p = perspectives(policy, c, agent_ports);
            p.agent = None;
            diagnose(policy, c, &p, None)
        })
        .collect()
}

/// `explain --from clients --to ADDR:PORT`: the client leg of the listener on that port of the
/// load balancer at `ADDR` (its address, a node's, or an address in one of its subnets).
fn explain_client_leg(
    policy: &Policy,
    agent_ports: PortRange,
    to: FlowTarget,
) -> Result<Vec<Finding>, DiagnoseError> {
    let model = policy.model();
    let port = to.packet.port();
    let at = |exact: bool| {
        model
            .load_balancers
            .iter()
            .enumerate()
            .find_map(|(li, lb)| {
                policy.clients_of(li)?;
                let here = if exact {
                    lb.address == Some(to.addr)
                        || lb
                            .nodes
                            .iter()
                            .any(|n| n.address == to.addr || n.public_address == Some(to.addr))
                } else {
                    lb.subnets.iter().any(|id| {
                        model
                            .subnets
                            .iter()
                            .any(|s| &s.id == id && s.cidr.contains(&to.addr))
                    })
                };
                let ti = lb.listeners.iter().position(|l| {
                    Some(l.port) == port
                        && probe_policy::Packet::transport(l.protocol.transport(), l.port)
                            == to.packet
                })?;
                here.then_some((li, ti))
            })
    };
    let (li, ti) = at(true)
        .or_else(|| at(false))
        .ok_or_else(|| DiagnoseError::NoListenerAt(to.addr.to_string()))?;
    let check = super::check::client_check(policy, li, ti, to.addr)
        .ok_or_else(|| DiagnoseError::NoListenerAt(to.addr.to_string()))?;
    let mut p = perspectives(policy, &check, agent_ports);
    p.agent = None;
    Ok(vec![diagnose(policy, &check, &p, None)])
}

/// Which load balancers a flow "from lb" stands for: the named one, else those that have the
/// destination as a member, else all of them. `[None]` for any other source.
fn explained_load_balancers(
    model: &Model,
    from: &SourceSpec,
    to: FlowTarget,
) -> Result<Vec<Option<usize>>, DiagnoseError> {
    match from {
        SourceSpec::Lb(Some(name)) => model
            .load_balancers
            .iter()
            .position(|l| &l.name == name)
            .map(|i| vec![Some(i)])
            .ok_or_else(|| DiagnoseError::NoSuchLoadBalancer(name.clone())),
        SourceSpec::Lb(None) => {
            if model.load_balancers.is_empty() {
                return Err(DiagnoseError::NoLoadBalancer);
            }
            let serving: Vec<Option<usize>> = model
                .load_balancers
                .iter()
                .enumerate()
                .filter(|(_, lb)| {
                    lb.listeners.iter().any(|l| {
                        model.backend_groups.iter().any(|g| {
                            l.forwards_to(&g.name) && g.members.iter().any(|m| m.address == to.addr)
                        })
                    })
                })
                .map(|(i, _)| Some(i))
                .collect();
            if serving.is_empty() {
                Ok((0..model.load_balancers.len()).map(Some).collect())
            } else {
                Ok(serving)
            }
        }
        _ => Ok(vec![None]),
    }
}
