//! `probe check`, `probe explain`, `probe validate`, `probe import`: the commands that read the
//! expected configuration.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ColorChoice, UsageError, cancel_on_signal};
use crate::config::{self, Source};
use crate::diagnose::{self, Check, Finding, Report, Role};
use crate::engine::{self, EngineSettings, Planned};
use crate::model::{Action, Model};
use crate::output::{self, Progress};
use crate::plan;
use crate::policy::{Policy, SourceSpec};
use crate::probe::{Observation, ProbeContext, sys};

/// Subcommands that work from the expected configuration.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe every backend's traffic and health-check ports and compare with the configuration.
    Check(CheckArgs),
    /// Judge one flow against the configuration and show the path, without sending packets.
    Explain(ExplainArgs),
    /// Parse and lint a configuration, judging every flow from the load balancer's side.
    Validate(ValidateArgs),
    /// Print the native YAML of a provider's JSON dumps, for editing.
    Import(ImportArgs),
    /// Keep probing on each health check's interval and serve /metrics, /probe and /findings to
    /// Prometheus.
    Agent(super::agent::AgentArgs),
}

/// Where the configuration comes from: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ConfigSource {
    /// Native YAML configuration (docs/config.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of AWS CLI JSON outputs (docs/import-aws.md).
    #[arg(long, value_name = "DIR")]
    pub aws: Option<PathBuf>,
    /// Directory of Huawei Cloud API JSON responses (docs/import-huawei.md).
    #[arg(long, value_name = "DIR")]
    pub huawei: Option<PathBuf>,
}

impl ConfigSource {
    pub fn source(&self) -> Source {
        match (&self.config, &self.aws, &self.huawei) {
            (Some(p), _, _) => Source::Yaml(p.clone()),
            (_, Some(d), _) => Source::Aws(d.clone()),
            (_, _, Some(d)) => Source::Huawei(d.clone()),
            // clap's group makes one of them present.
            (None, None, None) => Source::Yaml(PathBuf::from("-")),
        }
    }
}

/// Output format of the configuration commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Findings grouped by backend, failures first, with summary and fix.
    Table,
    /// The JSON of verdicts.md §4.
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// The agent's own address, when it differs from the one that routes to the backends
    /// (importers look the agent's security groups up by it).
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<IpAddr>,
    /// Check only this backend group, member name or member address.
    #[arg(long, value_name = "BACKEND")]
    pub only: Option<String>,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ReportFormat,
    /// Probes in flight at once.
    #[arg(short, long, default_value_t = 256)]
    pub concurrency: u64,
    /// Colour in the table: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Do not show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// The agent's own address, as for `check`.
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<IpAddr>,
    /// Flow source: an address, a CIDR, `agent`, `lb` (every load balancer's health-check
    /// source) or `lb:NAME`.
    #[arg(long, value_name = "FROM")]
    pub from: String,
    /// Flow destination: ADDR:PORT/tcp, ADDR:PORT/udp or ADDR/icmp.
    #[arg(long, value_name = "ADDR:PORT/PROTO")]
    pub to: String,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ReportFormat,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ReportFormat,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

/// Which provider's JSON `probe import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Aws,
    Huawei,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub provider: Provider,
    /// The directory of JSON files.
    pub dir: PathBuf,
    /// The agent's address, to take its security groups from the dump.
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<IpAddr>,
}

/// Runs a configuration subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(a) => check(a).await,
        Command::Explain(a) => explain(a),
        Command::Validate(a) => validate(a),
        Command::Import(a) => import(a),
        // Capabilities are per thread: the agent is prepared by `cli::main` before the runtime
        // starts, never from here.
        Command::Agent(_) => Err(anyhow::anyhow!(
            "probe agent must be prepared before the runtime starts (cli::main does)"
        )),
    }
}

fn load(source: &ConfigSource, addr: Option<IpAddr>) -> Result<Model, UsageError> {
    config::load(&source.source(), addr).map_err(|e| UsageError(e.into()))
}

/// Loads the model with the agent's address known ([`config::load_with_agent`]).
fn load_with_agent(source: &ConfigSource, given: Option<IpAddr>) -> Result<Model, UsageError> {
    config::load_with_agent(&source.source(), given).map_err(|e| UsageError(e.into()))
}

fn print_report(report: &Report, format: ReportFormat, color: bool) -> anyhow::Result<()> {
    let mut out = output::stdout();
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            out.write_all(b"\n")?;
        }
        ReportFormat::Table => writeln!(out, "{}", output::render_findings(report, color))?,
    }
    out.flush()?;
    Ok(())
}

/// Probes every check the agent can send, grouped by settings, all groups at once.
async fn probe_checks(
    checks: &[Check],
    concurrency: u64,
    progress: bool,
) -> anyhow::Result<(Vec<Option<Observation>>, bool)> {
    let groups = plan::group_by_key(checks.iter().enumerate());
    let total: usize = groups.values().map(Vec::len).sum();
    let nofile = sys::raise_nofile_limit();
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let (tx, mut rx) = mpsc::channel::<(usize, Observation)>(1024);

    for (key, indices) in groups {
        let settings = key
            .settings()
            .map_err(|e| UsageError(anyhow::anyhow!("health check expected_codes: {e}")))?;
        let plan: Vec<Planned> = indices
            .iter()
            .map(|&i| Planned::Probe(plan::spec_for(&checks[i])))
            .collect();
        let ctx = ProbeContext::new(settings, engine::icmp_need(&plan))
            .map_err(|e| UsageError(e.into()))?;
        let engine_settings = EngineSettings::new(Some(concurrency as usize), None, nofile);
        let identities: Vec<_> = plan.iter().map(Planned::identity).collect();
        // Each engine reports its own indices; map them back to check indices.
        let (gtx, mut grx) = mpsc::channel::<(usize, Observation)>(256);
        let engine = tokio::spawn(engine::run(
            plan,
            Arc::new(ctx),
            engine_settings,
            cancel.clone(),
            gtx,
        ));
        let tx = tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut reported = vec![false; indices.len()];
            while let Some((j, obs)) = grx.recv().await {
                if let Some(r) = reported.get_mut(j) {
                    *r = true;
                }
                if let Some(&i) = indices.get(j)
                    && tx.send((i, obs)).await.is_err()
                {
                    return;
                }
            }
            // Entries a panicking engine left out are errors, never silently static findings.
            let _ = engine.await;
            if !cancel.is_cancelled() {
                for (j, obs) in engine::missing(&identities, &reported) {
                    if let Some(&i) = indices.get(j)
                        && tx.send((i, obs)).await.is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
    drop(tx);

    let mut bar = Progress::new(total as u64, progress);
    let mut results: Vec<Option<Observation>> = vec![None; checks.len()];
    while let Some((i, obs)) = rx.recv().await {
        bar.inc();
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(obs);
        }
    }
    bar.finish();
    let got = results.iter().filter(|r| r.is_some()).count();
    Ok((results, cancel.is_cancelled() && got < total))
}

async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let model = load_with_agent(&args.source, args.source_addr)?;
    let policy = Policy::compile(&model);
    let checks = diagnose::plan(&policy, args.only.as_deref());
    if let Some(only) = &args.only
        && checks.is_empty()
    {
        return Err(UsageError(anyhow::anyhow!(
            "--only {only:?} matches no backend group, member name or member address"
        ))
        .into());
    }
    let (observations, interrupted) = probe_checks(
        &checks,
        args.concurrency.max(1),
        !args.no_progress && args.output == ReportFormat::Table,
    )
    .await?;
    let ports = sys::local_port_range().into();
    let mut findings: Vec<Finding> = checks
        .iter()
        .zip(&observations)
        .map(|(c, obs)| {
            let p = diagnose::perspectives(&policy, c, ports);
            diagnose::diagnose(&policy, c, &p, obs.as_ref())
        })
        .collect();
    if args.only.is_none() {
        findings.extend(diagnose::static_findings(&policy));
    }
    let report = Report::new(findings);
    print_report(&report, args.output, args.color.enabled())?;
    if interrupted {
        let _ = writeln!(
            io::stderr(),
            "probe: interrupted: the findings above are from the probes that finished"
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Static findings of every planned check from the load balancer's side, plus the
/// configuration-only checks: what `validate` prints.
fn static_report(policy: &Policy) -> Report {
    let ports = sys::local_port_range().into();
    let mut findings: Vec<Finding> = diagnose::plan(policy, None)
        .iter()
        .filter_map(|c| {
            let mut p = diagnose::perspectives(policy, c, ports);
            // Without probes the agent's perspective says nothing about the load balancer.
            if p.lb.is_some() {
                p.agent = None;
            }
            // Nothing to judge (no load balancer, agent address unknown): no finding rather
            // than an OK that checked nothing.
            if p.lb.is_none() && p.agent.is_none() {
                return None;
            }
            Some(diagnose::diagnose(policy, c, &p, None))
        })
        .collect();
    findings.extend(diagnose::static_findings(policy));
    Report::new(findings)
}

fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let model = load(&args.source, None)?;
    let policy = Policy::compile(&model);
    let report = static_report(&policy);
    print_report(&report, args.output, args.color.enabled())?;
    Ok(ExitCode::from(report.exit_code()))
}

fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let to = crate::policy::parse_flow_target(&args.to)
        .map_err(|e| UsageError(anyhow::anyhow!("--to: {e}")))?;
    let from = crate::policy::parse_source(&args.from)
        .map_err(|e| UsageError(anyhow::anyhow!("--from: {e}")))?;
    let model = if from == SourceSpec::Agent {
        load_with_agent(&args.source, args.source_addr)?
    } else {
        load(&args.source, args.source_addr)?
    };
    let policy = Policy::compile(&model);
    if from == SourceSpec::Agent && model.agent.address.is_none() {
        return Err(UsageError(anyhow::anyhow!(
            "--from agent: the agent's address is unknown; give --source-addr"
        ))
        .into());
    }
    // Which load balancers a flow "from lb" stands for: the named one, else those that have the
    // destination as a member, else all of them.
    let lbs: Vec<Option<usize>> = match &from {
        SourceSpec::Lb(Some(name)) => {
            let i = model
                .load_balancers
                .iter()
                .position(|l| &l.name == name)
                .ok_or_else(|| {
                    UsageError(anyhow::anyhow!(
                        "--from lb:{name}: no load balancer named {name:?}"
                    ))
                })?;
            vec![Some(i)]
        }
        SourceSpec::Lb(None) => {
            let serving: Vec<usize> = model
                .load_balancers
                .iter()
                .enumerate()
                .filter(|(_, lb)| {
                    lb.listeners.iter().any(|l| {
                        model.backend_groups.iter().any(|g| {
                            l.backend_group.as_deref() == Some(&g.name)
                                && g.members.iter().any(|m| m.address == to.addr)
                        })
                    })
                })
                .map(|(i, _)| i)
                .collect();
            if model.load_balancers.is_empty() {
                return Err(UsageError(anyhow::anyhow!(
                    "--from lb: the configuration has no load balancer"
                ))
                .into());
            }
            if serving.is_empty() {
                (0..model.load_balancers.len()).map(Some).collect()
            } else {
                serving.into_iter().map(Some).collect()
            }
        }
        _ => vec![None],
    };
    let ports = sys::local_port_range().into();
    let findings: Vec<Finding> = lbs
        .into_iter()
        .map(|lb| {
            let from_spec = match (&from, lb) {
                (SourceSpec::Lb(_), Some(i)) => {
                    SourceSpec::Lb(model.load_balancers.get(i).map(|l| l.name.clone()))
                }
                (f, _) => f.clone(),
            };
            let check = Check::expectation(
                format!("{} → {}", args.from, args.to),
                lb,
                to,
                Action::Allow,
                from_spec.clone(),
            );
            let mut p = diagnose::perspectives(&policy, &check, ports);
            if from_spec == SourceSpec::Agent {
                p.lb = p.agent.take();
                p.lb_source = policy.agent_endpoint();
            }
            let mut f = diagnose::diagnose(&policy, &check, &p, None);
            f.role = Role::Expectation;
            f
        })
        .collect();
    let allowed = findings.iter().all(|f| {
        f.expected
            .as_ref()
            .is_none_or(|v| v.decision == Action::Allow)
    });
    let report = Report::new(findings);
    match args.output {
        ReportFormat::Json => print_report(&report, ReportFormat::Json, false)?,
        ReportFormat::Table => {
            let mut out = output::stdout();
            for f in &report.findings {
                writeln!(
                    out,
                    "{} → {}: {}",
                    args.from,
                    args.to,
                    f.expected
                        .as_ref()
                        .map_or("no component on the path", |v| match v.decision {
                            Action::Allow => "ALLOW",
                            Action::Deny => "DENY",
                        })
                )?;
                if let Some(lb) = &f.load_balancer {
                    writeln!(out, "  as load balancer {lb}")?;
                }
                for hop in f.expected.iter().flat_map(|v| &v.path) {
                    writeln!(
                        out,
                        "  {:<5} {:<15} {:<24} {:<8} rule {}{}",
                        hop.decision.to_string(),
                        hop.kind.as_str(),
                        hop.id,
                        hop.direction.to_string(),
                        hop.rule,
                        if hop.leg == crate::policy::Leg::Return {
                            " (return path)"
                        } else {
                            ""
                        }
                    )?;
                }
                if f.code != diagnose::Code::Ok {
                    writeln!(out, "  {}: {}", f.code, f.summary)?;
                }
                if let Some(fix) = &f.fix {
                    writeln!(out, "  fix: {fix}")?;
                }
            }
            out.flush()?;
        }
    }
    Ok(if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let source = match args.provider {
        Provider::Aws => Source::Aws(args.dir.clone()),
        Provider::Huawei => Source::Huawei(args.dir.clone()),
    };
    let model = config::load(&source, args.source_addr).map_err(|e| UsageError(e.into()))?;
    let yaml = config::yaml::render(&model, &source.to_string())
        .context("cannot render the model as YAML")?;
    let mut out = output::stdout();
    out.write_all(yaml.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
