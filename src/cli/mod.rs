//! The command line: clap definitions → resolved settings → a run of the engine → output.
//!
//! Exit codes, for scripts:
//!
//! | code | meaning                                                              |
//! |------|----------------------------------------------------------------------|
//! | 0    | every probe passed (open; HTTP status matched; UDP response matched) |
//! | 1    | at least one probe did not pass                                      |
//! | 2    | usage error, bad input, or missing permission: nothing was probed   |
//! | 3    | internal error: something panicked (a bug); targets without a result are errors |
//! | 130  | interrupted (Ctrl-C / SIGTERM): the probes that finished are printed |
//!
//! A closed pipe (`probe … | head`) changes nothing but the output: the run goes on to its end
//! with the rest of its output discarded, and exits as it would have ([`output::PipeSafe`]).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod agent;
mod args;
mod check;

use args::parse_header;
pub use args::{Cli, ColorChoice, Command, LogFormat, SweepArgs};

use crate::engine::{self, EngineSettings};
use crate::output::{self, Format, Progress};
use crate::probe::http::{CaBundle, HttpSettings};
use crate::probe::icmp::IcmpSettings;
use crate::probe::target::{self, TargetDefaults};
use crate::probe::udp::UdpSettings;
use crate::probe::{Observation, ProbeContext, ProbeSettings, Target, sys};

/// An error that ends the run before probing, with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub(crate) struct UsageError(pub(crate) anyhow::Error);

/// What the command line asks for, ready to run on the runtime.
enum Job {
    /// `probe agent`, already bound to its port and down to CAP_NET_RAW.
    Agent(Box<agent::Prepared>),
    /// Another subcommand.
    Command(Box<Command>),
    /// The ad hoc run: `probe --target …`.
    Sweep,
}

/// Entry point from `main`: parses the command line, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    crate::panics::install_hook();
    let code = run_main();
    if crate::panics::count() > 0 {
        // Whatever the run concluded, part of it was lost to a bug: say so, and fail.
        let _ = writeln!(
            io::stderr(),
            "probe: internal error: {} panic(s) during the run (printed above); the results are \
             incomplete — this is a bug in probe",
            crate::panics::count()
        );
        return ExitCode::from(crate::panics::EXIT_CODE);
    }
    code
}

fn run_main() -> ExitCode {
    let cli = Cli::parse();
    // The agent logs what it does (reloads, state changes); one-shot commands only warnings.
    let is_agent = matches!(cli.command, Some(Command::Agent(_)));
    init_logging(cli.verbose, cli.log_format, is_agent);
    // The agent binds its port and drops its capabilities before the runtime starts its threads.
    let job = match cli.command {
        Some(Command::Agent(a)) => match agent::prepare(a) {
            Ok(prepared) => Job::Agent(Box::new(prepared)),
            Err(e) => {
                let _ = writeln!(io::stderr(), "probe: error: {e:#}");
                return ExitCode::from(2);
            }
        },
        Some(command) => Job::Command(Box::new(command)),
        None => Job::Sweep,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Job::Agent(prepared) = &job
        && let Some(n) = prepared.threads
    {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(io::stderr(), "probe: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match job {
        Job::Agent(prepared) => runtime.block_on(agent::run(*prepared)),
        Job::Command(command) => runtime.block_on(check::run(*command)),
        Job::Sweep => runtime.block_on(sweep(cli.sweep)),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io::stderr(), "probe: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8, format: LogFormat, is_agent: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (verbose, is_agent) {
        (0, false) => "warn",
        (0, true) => "info",
        (1, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Reads every target named on the command line or in the targets file.
fn collect_targets(args: &SweepArgs) -> Result<Vec<Target>, UsageError> {
    let defaults = TargetDefaults {
        protocol: args.protocol,
        port: args.port,
        path: args.path.clone(),
    };
    let mut targets = Vec::new();
    for t in &args.targets {
        targets.extend(target::parse(t, &defaults).map_err(|e| UsageError(e.into()))?);
    }
    if let Some(path) = &args.targets_file {
        // Read by the config module, like every file: bounded, and refused if not UTF-8.
        let (bytes, name) = if path.as_os_str() == "-" {
            (
                crate::files::read_stdin(crate::files::TARGETS_LIMIT),
                PathBuf::from("<stdin>"),
            )
        } else {
            (
                crate::files::read_file(path, crate::files::TARGETS_LIMIT),
                path.clone(),
            )
        };
        let bytes = bytes.map_err(|e| UsageError(anyhow::anyhow!("targets file {e}")))?;
        let text = crate::config::utf8(&bytes, &name).map_err(|e| UsageError(e.into()))?;
        let name = name.display();
        let parsed = target::parse_lines(text, &defaults).map_err(|(line, e)| {
            let e = e.to_string();
            UsageError(anyhow::anyhow!(
                "{name}:{line}: {}",
                crate::config::clip(&e, 400)
            ))
        })?;
        targets.extend(parsed);
    }
    if targets.is_empty() {
        return Err(UsageError(match &args.targets_file {
            Some(path) => anyhow::anyhow!(
                "{}: no targets in the file (only blank lines and comments)",
                if path.as_os_str() == "-" {
                    "<stdin>".to_string()
                } else {
                    path.display().to_string()
                }
            ),
            None => anyhow::anyhow!("no targets: give --target TARGET or --targets-file FILE"),
        }));
    }
    if targets.len() > target::MAX_TARGETS {
        return Err(UsageError(anyhow::anyhow!(
            "{} targets, more than the {} one run may probe",
            targets.len(),
            target::MAX_TARGETS
        )));
    }
    Ok(targets)
}

fn probe_settings(args: &SweepArgs) -> Result<ProbeSettings, UsageError> {
    let method = hyper::Method::from_bytes(args.method.as_bytes())
        .map_err(|_| UsageError(anyhow::anyhow!("invalid HTTP method {:?}", args.method)))?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h).map_err(|e| UsageError(anyhow::anyhow!(e))))
        .collect::<Result<Vec<_>, _>>()?;
    let udp_payload = match (&args.payload, &args.payload_hex) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(hex)) => hex.0.clone(),
        (None, None) => Vec::new(),
    };
    let udp_expect = match (&args.expect_response, &args.expect_response_hex) {
        (Some(text), _) => Some(text.as_bytes().to_vec()),
        (None, Some(hex)) => Some(hex.0.clone()),
        (None, None) => None,
    };
    Ok(ProbeSettings {
        timeout: args.timeout,
        icmp: IcmpSettings { count: args.count },
        udp: UdpSettings {
            payload: udp_payload,
            expect: udp_expect,
        },
        http: HttpSettings {
            method,
            host: args.host.clone(),
            headers,
            expect: args.expect_status.clone(),
            insecure: args.insecure,
            ca: args.ca_file.as_deref().map(read_ca).transpose()?,
            body_limit: args.body_limit.max(1),
        },
    })
}

/// Reads `--ca-file` like every file the user names: bounded in size.
fn read_ca(path: &std::path::Path) -> Result<CaBundle, UsageError> {
    let pem = crate::files::read_file(path, crate::files::PEM_LIMIT).map_err(|e| {
        let reason = match e {
            crate::config::ConfigError::Io { reason, .. } => reason
                .strip_prefix("cannot read: ")
                .unwrap_or(&reason)
                .to_string(),
            other => other.to_string(),
        };
        UsageError(
            crate::probe::ProbeSetupError::CaFile {
                path: path.display().to_string(),
                reason,
            }
            .into(),
        )
    })?;
    Ok(CaBundle {
        path: path.to_path_buf(),
        pem: Arc::new(pem),
    })
}

/// The ad hoc run.
async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let targets = collect_targets(&args)?;
    let settings = probe_settings(&args)?;
    let nofile = sys::raise_nofile_limit();
    let engine_settings =
        EngineSettings::new(args.concurrency.map(|c| c as usize), args.rate, nofile)
            .with_http_concurrency(args.http_concurrency.map(|c| c as usize));

    let plan = engine::resolve(targets).await;
    let ctx =
        ProbeContext::new(settings, engine::icmp_need(&plan)).map_err(|e| UsageError(e.into()))?;
    let total = plan.len();

    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));

    let identities: Vec<_> = plan.iter().map(engine::Planned::identity).collect();
    let (tx, mut rx) = mpsc::channel(1024);
    let started = std::time::Instant::now();
    let engine = tokio::spawn(engine::run(
        plan,
        Arc::new(ctx),
        engine_settings,
        cancel.clone(),
        tx,
    ));

    let mut progress = Progress::new(total as u64, !args.no_progress);
    let mut results = Results::new(args.output, total);
    while let Some((index, obs)) = rx.recv().await {
        if let Err(e) = results.take(index, obs) {
            progress.finish();
            cancel.cancel();
            return Err(e.into());
        }
        progress.inc();
    }
    // The engine has ended (its channel closed). A panic in it can only have left entries out
    // in a run that was not cancelled: they are reported as errors, never dropped.
    let _ = engine.await;
    if !cancel.is_cancelled() {
        for (index, obs) in engine::missing(&identities, &results.reported) {
            results.take(index, obs)?;
        }
    }
    progress.finish();
    let (finished, failed) = (results.finished, results.failed);
    results.finish(started.elapsed(), args.color.enabled())?;
    if cancel.is_cancelled() && finished < total {
        let _ = writeln!(
            io::stderr(),
            "probe: interrupted: {finished} of {total} probes finished"
        );
        return Ok(ExitCode::from(130));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where the observations of a sweep go as they arrive. JSON is formatted and written at once,
/// in input order; only the table keeps every observation until the end.
struct Results {
    format: Format,
    rows: Vec<Option<Observation>>,
    json: Option<output::JsonArrayWriter<io::BufWriter<output::PipeSafe<io::Stdout>>>>,
    /// Which entries of the plan have a result.
    reported: Vec<bool>,
    finished: usize,
    failed: usize,
}

impl Results {
    fn new(format: Format, total: usize) -> Self {
        Results {
            format,
            rows: match format {
                Format::Table => vec![None; total],
                Format::Json | Format::Jsonl => Vec::new(),
            },
            json: (format == Format::Json).then(|| {
                output::JsonArrayWriter::new(
                    io::BufWriter::with_capacity(1 << 16, output::PipeSafe(io::stdout())),
                    total,
                )
            }),
            reported: vec![false; total],
            finished: 0,
            failed: 0,
        }
    }

    /// Takes the observation of plan entry `index`.
    fn take(&mut self, index: usize, obs: Observation) -> io::Result<()> {
        self.finished += 1;
        self.failed += usize::from(!obs.success);
        if let Some(r) = self.reported.get_mut(index) {
            *r = true;
        }
        match (&mut self.json, self.format) {
            (Some(json), _) => json.push(index, &obs),
            (None, Format::Jsonl) => output::write_json_line(&mut output::stdout(), &obs),
            (None, _) => {
                if let Some(slot) = self.rows.get_mut(index) {
                    *slot = Some(obs);
                }
                Ok(())
            }
        }
    }

    /// Closes the JSON array, or prints the table and its summary line.
    fn finish(self, elapsed: Duration, color: bool) -> io::Result<()> {
        if let Some(json) = self.json {
            return json.finish();
        }
        if self.format == Format::Table {
            let rows: Vec<Observation> = self.rows.into_iter().flatten().collect();
            let mut stdout = output::stdout();
            writeln!(stdout, "{}", output::render_table(&rows, color))?;
            writeln!(stdout, "{}", output::summary_line(&rows, elapsed))?;
            stdout.flush()?;
        }
        Ok(())
    }
}

/// Cancels the run on Ctrl-C or SIGTERM.
async fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    cancel.cancel();
}
