//! `probe agent`: the long-running agent, a Prometheus scrape target.
//!
//! ```text
//!  configuration ──load──▶ World (checks, threshold states, findings) ◀──apply── probe tasks
//!        ▲                      ▲                                              ▲
//!   SIGHUP, /-/reload           │ read                                         │ spawn (bounded)
//!                         HTTP server (/metrics, /findings, /probe)       scheduler (one timer)
//! ```
//!
//! * [`scheduler`] — one task and one timer for every check: each check runs on its health
//!   check's interval, first runs spread over the interval with jitter, missed ticks skipped. A
//!   semaphore bounds the probes in flight; a tick that finds the cap reached or its previous
//!   probe still running is skipped and counted, never queued.
//! * [`state`] — the [`state::World`]: every check's latest observation, its rise/fall state
//!   ([`crate::health`]) and its finding, recomputed as each observation arrives.
//! * [`metrics`] — the registry behind `/metrics`.
//! * [`server`] — the HTTP server: TLS and basic auth from a web config file, header and request
//!   timeouts, a connection cap.
//! * [`blackbox`] — `/probe?target=…&module=…`, blackbox_exporter-compatible, behind an allowlist.
//!
//! Life cycle: SIGHUP or `POST /-/reload` reloads the configuration; an invalid one is refused,
//! logged and counted, and the old one keeps running. SIGTERM or SIGINT stops the scheduler, lets
//! the probes in flight finish (they end within their timeout), and exits 0.
//!
//! Reloads, when the file system stops answering (a hung network mount):
//!
//! | rule | so that |
//! |---|---|
//! | one configuration read at a time, on one thread of its own | no request pattern adds threads |
//! | a request during a read is served by one more read right after it, shared by every request that arrived meanwhile | no edit is missed, and reads never pile up |
//! | every read's result is applied (or refused), logged and counted when it ends, whoever waited for it | a late result is never silent |
//! | a request waits at most `--http-request-timeout` (SIGHUP does not wait) | clients and signals are never held by a read |
//! | shutdown does not wait for a read | SIGTERM always stops the agent |

pub(crate) mod auth;
pub(crate) mod blackbox;
pub(crate) mod metrics;
pub(crate) mod page;
pub(crate) mod schedule;
pub(crate) mod scheduler;
pub(crate) mod server;
pub(crate) mod shard;
pub(crate) mod state;
mod status;
pub(crate) mod web_config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Source;
use crate::diagnose::{self, ProbeKind};
use crate::model::Model;
use crate::policy::Policy;
use crate::probe::{IcmpNeed, ProbeContext, ProbeSettings, sys};
use metrics::Metrics;
use state::{Build, Timing, World};
use web_config::WebConfig;

/// Everything `probe agent` is told on the command line.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub source: Source,
    pub source_addr: Option<std::net::IpAddr>,
    pub listen: SocketAddr,
    pub web_config: Option<PathBuf>,
    pub timing: Timing,
    /// Probes in flight at most.
    pub concurrency: usize,
    /// Networks `/probe` may reach besides the configured ones.
    pub probe_allow: Vec<IpNet>,
    /// `/probe` requests served at once; more wait, up to their own timeout.
    pub probe_concurrency: usize,
    pub server: server::Limits,
    /// This agent's share of the configuration's checks (`--shard K/N`), if it has one.
    pub shard: Option<shard::Shard>,
    /// A duration histogram per check (`--per-check-histograms`), not only per group.
    pub per_check_histograms: bool,
}

/// The running agent, shared by the scheduler, the probe tasks and the HTTP server.
pub(crate) struct Agent {
    pub settings: Settings,
    world: Mutex<World>,
    pub metrics: Metrics,
    /// Bounds the scheduled probes in flight.
    pub probes: Arc<Semaphore>,
    /// Bounds concurrent `/probe` requests.
    pub blackbox: Arc<Semaphore>,
    /// The probe tasks, so that shutdown can wait for them.
    pub tracker: TaskTracker,
    /// The generation of the world, for the scheduler to notice a reload.
    generation: watch::Sender<u64>,
    next_generation: AtomicU64,
    /// Reload requests and the one reader thread ([`Agent::request_reload`]).
    reloads: Mutex<Reloads>,
    /// The ticket and outcome of the last reload that ended.
    reloaded: watch::Sender<(u64, Result<usize, String>)>,
}

/// Reload requests: each gets a ticket; a read serves every ticket issued before it started.
#[derive(Debug, Default)]
struct Reloads {
    /// The last ticket issued.
    requested: u64,
    /// Whether the reader thread is running.
    reading: bool,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    WebConfig(String),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Agent {
    /// Builds the first world from the configuration [`bind`] loaded. Nothing runs yet.
    pub(crate) fn new(settings: Settings, model: Model) -> Result<Arc<Agent>, StartError> {
        let metrics = Metrics::new(settings.shard, settings.per_check_histograms)?;
        let world = prepared(model)
            .and_then(|p| build_world(&settings, p, 1, &metrics))
            .map_err(StartError::Config)?;
        metrics.reload(true, unix_now());
        let (generation, _) = watch::channel(1);
        Ok(Arc::new(Agent {
            probes: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            blackbox: Arc::new(Semaphore::new(settings.probe_concurrency.max(1))),
            settings,
            world: Mutex::new(world),
            metrics,
            tracker: TaskTracker::new(),
            generation,
            next_generation: AtomicU64::new(2),
            reloads: Mutex::new(Reloads::default()),
            reloaded: watch::channel((0, Ok(0))).0,
        }))
    }

    /// The current world. Held only for short, non-async work.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock would leave a half-updated world; the data is still
        // the best there is, so poisoning is ignored rather than turned into a second panic.
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks for a reload and returns its ticket without waiting ([`Agent::reload_done`] waits).
    /// The configuration is read on the agent's one reader thread: started here if it is not
    /// running, or, if a read is under way, asked to read once more when it ends, so that the
    /// file is read after this request (see the module's table of rules).
    pub(crate) fn request_reload(self: &Arc<Self>) -> u64 {
        let mut r = self.reloads();
        r.requested += 1;
        let ticket = r.requested;
        if !r.reading {
            r.reading = true;
            let agent = self.clone();
            // The thread is not the runtime's, but opening sockets registers them with it.
            let runtime = tokio::runtime::Handle::try_current();
            let spawned = std::thread::Builder::new()
                .name("probe-reload".into())
                .spawn(move || {
                    let _entered = runtime.as_ref().ok().map(tokio::runtime::Handle::enter);
                    agent.reader();
                });
            if let Err(e) = spawned {
                r.reading = false;
                drop(r);
                self.finish_reload(ticket, Err(format!("cannot start the reload thread: {e}")));
            }
        }
        ticket
    }

    /// Waits until the reload of `ticket` (or a later one) has ended, and returns its outcome:
    /// the number of checks now scheduled, or why the configuration was refused (file, line,
    /// field), the running one staying.
    pub(crate) async fn reload_done(&self, ticket: u64) -> Result<usize, String> {
        let mut done = self.reloaded.subscribe();
        match done.wait_for(|(t, _)| *t >= ticket).await {
            Ok(outcome) => outcome.1.clone(),
            Err(_) => Err("the agent is stopping".to_string()),
        }
    }

    /// The reader thread: reads and applies the configuration until no request is left that
    /// arrived after its last read began. Runs outside the runtime, so that a read that never
    /// returns holds this one thread and nothing else, and shutdown does not wait for it.
    fn reader(self: Arc<Self>) {
        loop {
            let serving = self.reloads().requested;
            let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
            // A bug in a read must not leave reloads waiting for a thread that is gone.
            let read =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read(generation)));
            let outcome = read.unwrap_or_else(|payload| {
                Err(format!(
                    "internal error: the reload panicked ({}); this is a bug in probe",
                    crate::panics::message(payload.as_ref())
                ))
            });
            if outcome.is_ok() {
                self.generation.send_replace(generation);
            }
            self.finish_reload(serving, outcome);
            let mut r = self.reloads();
            if r.requested == serving {
                r.reading = false;
                return;
            }
        }
    }

    /// One read: the configuration, the sockets for it, and the new world in place of the old.
    fn read(&self, generation: u64) -> Result<usize, String> {
        prepare(&self.settings).and_then(|prepared| {
            // The files are read and the new world built before the lock is taken: probes keep
            // reporting meanwhile. Under the lock, only the running checks' state moves over.
            let mut new = build_world(&self.settings, prepared, generation, &self.metrics)?;
            let checks = new.slots.len();
            let old = {
                let mut world = self.world();
                new.carry_over(&mut world, &self.metrics);
                std::mem::replace(&mut *world, new)
            };
            // The old configuration is freed after the lock is released.
            drop(old);
            Ok(checks)
        })
    }

    /// Counts, logs and publishes the outcome of the read that served tickets up to `ticket`.
    fn finish_reload(&self, ticket: u64, outcome: Result<usize, String>) {
        self.metrics.reload(outcome.is_ok(), unix_now());
        match &outcome {
            Ok(n) => {
                tracing::info!(checks = n, source = %self.settings.source, "configuration reloaded");
            }
            Err(e) => tracing::error!(
                source = %self.settings.source,
                error = %e,
                "configuration reload failed; keeping the running configuration"
            ),
        }
        let _previous = self.reloaded.send_replace((ticket, outcome));
    }

    fn reloads(&self) -> MutexGuard<'_, Reloads> {
        // Two integers and a flag: consistent whatever panicked while holding the lock.
        self.reloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The longest probe deadline of the running configuration: how long draining may take.
    pub(crate) fn longest_timeout(&self) -> Duration {
        self.world()
            .slots
            .iter()
            .map(|s| s.timeout)
            .max()
            .unwrap_or(Duration::from_secs(1))
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

/// A loaded configuration and the probe context for it, ready to become a [`World`].
struct Prepared {
    model: Model,
    base: Arc<ProbeContext>,
    icmp_error: Option<String>,
}

/// Reads and validates the configuration and opens the sockets for it.
fn prepare(settings: &Settings) -> Result<Prepared, String> {
    let model = crate::files::load_with_agent(&settings.source, settings.source_addr)
        .map_err(|e| e.to_string())?;
    prepared(model)
}

/// A loaded configuration with the sockets opened for it.
fn prepared(model: Model) -> Result<Prepared, String> {
    let (base, icmp_error) = base_context(&model)?;
    Ok(Prepared {
        model,
        base,
        icmp_error,
    })
}

fn build_world(
    settings: &Settings,
    p: Prepared,
    generation: u64,
    metrics: &Metrics,
) -> Result<World, String> {
    World::build(
        p.model,
        Build {
            generation,
            timing: settings.timing,
            base: p.base,
            icmp_error: p.icmp_error,
            extra_allow: &settings.probe_allow,
            agent_ports: sys::local_port_range().into(),
            shard: settings.shard,
        },
        metrics,
    )
}

/// The probe context every check derives its own from. ICMP sockets are opened for both
/// families (`/probe?module=icmp` may ask for either); without permission the agent still runs,
/// and its ICMP checks report why they cannot.
fn base_context(model: &Model) -> Result<(Arc<ProbeContext>, Option<String>), String> {
    let both = IcmpNeed { v4: true, v6: true };
    let v4 = IcmpNeed {
        v4: true,
        v6: false,
    };
    let mut last_error = String::new();
    for need in [both, v4] {
        match ProbeContext::new(ProbeSettings::default(), need) {
            Ok(ctx) => return Ok((Arc::new(ctx), None)),
            Err(e) => last_error = e.to_string(),
        }
    }
    let needs_icmp = diagnose::plan(&Policy::compile(model), None)
        .iter()
        .any(|c| c.probe_from_agent && c.probe == ProbeKind::Icmp);
    if needs_icmp {
        tracing::warn!("ICMP checks cannot run: {last_error}");
    } else {
        tracing::info!("no ICMP: /probe?module=icmp will fail: {last_error}");
    }
    let ctx = ProbeContext::new(ProbeSettings::default(), IcmpNeed::default())
        .map_err(|e| e.to_string())?;
    Ok((Arc::new(ctx), Some(last_error)))
}

/// Seconds since the Unix epoch, for timestamps in metrics.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the agent holds before its runtime starts: its configuration, the web configuration
/// (TLS keys are read here, while the process may still read them) and the bound listening
/// socket.
pub(crate) struct Bound {
    pub model: Model,
    pub listener: std::net::TcpListener,
    pub web: Option<WebConfig>,
    /// The open-file limit, raised to its hard limit.
    pub nofile: u64,
}

/// The start-up steps that may need privileges, the configuration's own first: reads and
/// validates the configuration (then finds the agent's address if it has none) and the web
/// configuration, raises the open-file limit and binds the listening port. A broken file is
/// named before anything about the machine (a port in use, a missing route). Synchronous, so
/// that `cli` can drop privileges afterwards while the process still has one thread.
///
/// Started as root, the agent reads its configuration here with root's rights; reloads read it
/// with what it keeps (CAP_NET_RAW only): a file that only root may read loads at start and
/// fails to reload, with the reason.
pub(crate) fn bind(settings: &Settings) -> Result<Bound, StartError> {
    let model = crate::files::load_with_agent(&settings.source, settings.source_addr)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let web = match &settings.web_config {
        Some(path) => {
            let web = web_config::load(path).map_err(|e| StartError::WebConfig(e.to_string()))?;
            Some(web)
        }
        None => None,
    };
    let listen = |source| StartError::Listen {
        addr: settings.listen,
        source,
    };
    let nofile = sys::raise_nofile_limit();
    let listener = std::net::TcpListener::bind(settings.listen).map_err(listen)?;
    listener.set_nonblocking(true).map_err(listen)?;
    Ok(Bound {
        model,
        listener,
        web,
        nofile,
    })
}

/// Runs the agent until SIGTERM or SIGINT: the scheduler, the HTTP server, reloads on SIGHUP.
pub(crate) async fn run(settings: Settings, bound: Bound) -> Result<(), StartError> {
    let Bound {
        model,
        listener,
        web,
        ..
    } = bound;
    if let Some(web) = &web {
        for w in &web.warnings {
            tracing::warn!("{w}");
        }
    }
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|source| StartError::Listen {
            addr: settings.listen,
            source,
        })?;
    let agent = tokio::task::spawn_blocking(move || Agent::new(settings, model))
        .await
        .map_err(|e| StartError::Config(format!("start-up task failed: {e}")))??;
    let cancel = CancellationToken::new();
    // The address really bound (`--listen 127.0.0.1:0` picks a free port).
    let bound = listener
        .local_addr()
        .map_or_else(|_| agent.settings.listen.to_string(), |a| a.to_string());
    {
        let w = agent.world();
        tracing::info!(
            checks = w.slots.len(),
            listen = %bound,
            source = %agent.settings.source,
            "agent started"
        );
    }
    let scheduler = tokio::spawn(scheduler::run(agent.clone(), cancel.clone()));
    let server = tokio::spawn(server::serve(listener, agent.clone(), web, cancel.clone()));

    wait_for_signals(&agent).await;
    tracing::info!("stopping: no new probes; waiting for those in flight");
    cancel.cancel();
    let _ = scheduler.await;
    agent.tracker.close();
    let drain = agent.longest_timeout() + Duration::from_secs(1);
    let in_flight = agent.tracker.len();
    let drained = tokio::time::timeout(drain, async {
        agent.tracker.wait().await;
        let _ = server.await;
    })
    .await
    .is_ok();
    if drained {
        tracing::info!(probes = in_flight, "stopped");
    } else {
        tracing::warn!(
            probes = agent.tracker.len(),
            "stopped with probes still in flight after {drain:?}"
        );
    }
    Ok(())
}

/// Reloads on SIGHUP; returns on SIGTERM or SIGINT.
async fn wait_for_signals(agent: &Arc<Agent>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut hup, mut term) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(h), Ok(t)) => (h, t),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot listen for SIGHUP/SIGTERM ({e}); only Ctrl-C stops the agent");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // Not awaited: a read that hangs must not hold the signals (SIGTERM after it).
                tracing::info!("SIGHUP: reloading the configuration");
                agent.request_reload();
            }
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
        }
    }
}
