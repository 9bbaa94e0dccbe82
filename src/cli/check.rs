//! `probe check`, `probe explain`, `probe validate`, `probe import`: the commands that read the
//! expected configuration.

use std::io::{self, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::args::{
    CheckArgs, Command, ConfigSource, ExplainArgs, ImportArgs, ReportFormat, Standpoint,
    ValidateArgs,
};
use super::{UsageError, cancel_on_signal};
use crate::config::{self, Source};
use crate::diagnose::{self, Check, Mode, Report};
use crate::engine::{self, EngineSettings, Planned};
use crate::model::{Action, Model, Provider, parse_flow_target, parse_source};
use crate::output::{self, Progress};
use crate::plan;
use crate::policy::{Policy, SourceSpec};
use crate::probe::{Observation, ProbeContext, ProbeSettings, sys};

/// Runs a configuration subcommand.
pub(super) async fn run(command: Command) -> anyhow::Result<ExitCode> {
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

fn print_report(
    command: &str,
    report: &Report,
    format: ReportFormat,
    color: bool,
) -> anyhow::Result<()> {
    let mut out = output::stdout();
    match format {
        ReportFormat::Html => out.write_all(html_report(command, report).as_bytes())?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            out.write_all(b"\n")?;
        }
        ReportFormat::Table => writeln!(out, "{}", output::render_findings(report, color))?,
    }
    out.flush()?;
    Ok(())
}

/// The self-contained HTML page of `--output html`, stamped with the command line and the time.
fn html_report(command: &str, report: &Report) -> String {
    // The program by its name, as the user would type it again; the arguments as given.
    let invocation = std::env::args_os()
        .enumerate()
        .map(|(i, a)| match i {
            0 => std::path::Path::new(&a)
                .file_name()
                .map_or(a.clone(), |n| n.to_os_string()),
            _ => a,
        })
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            if a.is_empty()
                || a.contains(|c: char| c.is_whitespace() || "'\"$&|;<>()`\\".contains(c))
            {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let generated = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    output::html::render_report(
        report,
        &output::html::ReportContext {
            command,
            invocation,
            generated,
        },
    )
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
        let engine_settings = EngineSettings::new(Some(concurrency as usize), None, nofile);
        spawn_group(
            checks,
            indices,
            settings,
            engine_settings,
            &cancel,
            tx.clone(),
        )?;
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

/// Starts an engine for the checks `indices` (one settings group), sending each result to `tx`
/// under its check's index. Every check gets a result unless the run is cancelled.
fn spawn_group(
    checks: &[Check],
    indices: Vec<usize>,
    settings: ProbeSettings,
    engine_settings: EngineSettings,
    cancel: &CancellationToken,
    tx: mpsc::Sender<(usize, Observation)>,
) -> Result<(), UsageError> {
    let plan: Vec<Planned> = indices
        .iter()
        .map(|&i| Planned::Probe(plan::spec_for(&checks[i])))
        .collect();
    let ctx =
        ProbeContext::new(settings, engine::icmp_need(&plan)).map_err(|e| UsageError(e.into()))?;
    let identities: Vec<_> = plan.iter().map(Planned::identity).collect();
    // The engine reports its own indices; they are mapped back to check indices.
    let (gtx, mut grx) = mpsc::channel::<(usize, Observation)>(256);
    let engine = tokio::spawn(engine::run(
        plan,
        Arc::new(ctx),
        engine_settings,
        cancel.clone(),
        gtx,
    ));
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
    Ok(())
}

async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (policy, checks) = match args.from {
        Standpoint::Agent => {
            let model = load_with_agent(&args.source, args.source_addr)?;
            let policy = Policy::compile(&model);
            let checks = diagnose::plan(&policy, args.only.as_deref());
            (policy, checks)
        }
        Standpoint::Clients => from_clients(&args)?,
    };
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
    let mode = Mode::Probed {
        checks: &checks,
        observations: &observations,
        statics: args.only.is_none() && args.from == Standpoint::Agent,
    };
    let report = diagnose::report(&policy, sys::local_port_range().into(), mode)
        .map_err(|e| UsageError(e.into()))?;
    print_report("check", &report, args.output, args.color.enabled())?;
    if interrupted {
        let _ = writeln!(
            io::stderr(),
            "probe: interrupted: the findings above are from the probes that finished"
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// `probe check --from clients`: this machine stands where the load balancers' clients are.
/// The model's agent becomes this machine's address (outside every subnet, no security
/// groups), and only the client legs are planned; those whose load balancer has a known address
/// (its own, or its nodes') are probed there.
fn from_clients(args: &CheckArgs) -> Result<(Policy, Vec<Check>), UsageError> {
    let mut model = load(&args.source, None)?;
    let planned = {
        let policy = Policy::compile(&model);
        diagnose::plan(&policy, None)
    };
    let target = planned
        .iter()
        .filter(|c| c.role == diagnose::Role::Client)
        .find(|c| !c.stand_in)
        .map(|c| c.address);
    if planned.iter().all(|c| c.role != diagnose::Role::Client) {
        return Err(UsageError(anyhow::anyhow!(
            "--from clients: no load balancer has a known scheme or client ranges, so there is no client leg to check (set scheme: or clients: on the load balancer)"
        )));
    }
    let local = match (args.source_addr, target) {
        (Some(a), _) => Some(a),
        (None, Some(t)) => Some(sys::local_address_for(t).map_err(|e| {
            UsageError(anyhow::anyhow!(
                "--from clients: cannot find the local address that routes to {t}: {e}; give --source-addr"
            ))
        })?),
        (None, None) => None,
    };
    model.agent = crate::model::Agent {
        address: local,
        ..Default::default()
    };
    let policy = Policy::compile(&model);
    let checks = diagnose::plan(&policy, None)
        .into_iter()
        .filter(|c| c.role == diagnose::Role::Client)
        .map(|mut c| {
            c.probe_from_agent = !c.stand_in;
            c
        })
        .collect();
    Ok((policy, checks))
}

fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let model = load(&args.source, None)?;
    let policy = Policy::compile(&model);
    let report = diagnose::report(&policy, sys::local_port_range().into(), Mode::Static)
        .map_err(|e| UsageError(e.into()))?;
    print_report("validate", &report, args.output, args.color.enabled())?;
    Ok(ExitCode::from(report.exit_code()))
}

fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let to = parse_flow_target(&args.to).map_err(|e| UsageError(anyhow::anyhow!("--to: {e}")))?;
    let from = parse_source(&args.from).map_err(|e| UsageError(anyhow::anyhow!("--from: {e}")))?;
    let model = if from == SourceSpec::Agent {
        load_with_agent(&args.source, args.source_addr)?
    } else {
        load(&args.source, args.source_addr)?
    };
    let policy = Policy::compile(&model);
    let mode = Mode::Explain {
        from: &from,
        to,
        name: format!("{} → {}", args.from, args.to),
    };
    let report = diagnose::report(&policy, sys::local_port_range().into(), mode)
        .map_err(|e| UsageError(anyhow::anyhow!("--from {}: {e}", args.from)))?;
    match args.output {
        ReportFormat::Json | ReportFormat::Html => {
            print_report("explain", &report, args.output, false)?
        }
        ReportFormat::Table => {
            let mut out = output::stdout();
            write!(
                out,
                "{}",
                output::render_explain(&args.from, &args.to, &report)
            )?;
            out.flush()?;
        }
    }
    let allowed = report.findings.iter().all(|f| {
        f.expected
            .as_ref()
            .is_none_or(|v| v.decision == Action::Allow)
    });
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
        Provider::Generic => {
            return Err(
                UsageError(anyhow::anyhow!("probe import reads aws or huawei dumps")).into(),
            );
        }
    };
    let model = config::load(&source, args.source_addr).map_err(|e| UsageError(e.into()))?;
    let yaml = config::yaml::render(&model, &source.to_string())
        .context("cannot render the model as YAML")?;
    let mut out = output::stdout();
    out.write_all(yaml.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
