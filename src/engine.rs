//! Runs many probes: bounded in flight, optionally rate-capped, cancellable, streaming results.
//!
//! At most `concurrency` probes are in flight, so 65,536 targets never mean 65,536 sockets at once.
//! The bound is also kept below the open-file limit (one socket per TCP, UDP or HTTP probe), which is
//! raised to its hard limit first: a probe that could not get a socket would otherwise be reported
//! as an error instead of its real state.
//!
//! Results are sent on a bounded channel as they complete, tagged with the index of their spec,
//! so callers can stream them (`--output jsonl`) or put them back in input order.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::probe::target::Host;
use std::future::Future;

use crate::probe::{self, IcmpNeed, Observation, ProbeContext, ProbeSpec, Protocol, Target};

/// Probes in flight by default, before the open-file cap: a /16 in which a quarter of the targets
/// are silent still finishes in about one timeout plus the time to send, where 4,096 would queue
/// the silent ones behind each other for four timeouts. `--rate` is the knob for a gentler sweep.
pub(crate) const DEFAULT_CONCURRENCY: usize = 32_768;

/// File descriptors kept free for everything that is not a probe socket.
const RESERVED_FDS: u64 = 64;

/// Probes that may be in flight under the open-file limit `nofile` when `others` descriptors are
/// spoken for besides the reserve (the agent's HTTP connections, say): one socket per probe, so
/// going past it would turn EMFILE into failed probes.
pub(crate) fn fd_budget(nofile: u64, others: u64) -> usize {
    nofile.saturating_sub(RESERVED_FDS + others).max(1) as usize
}

/// How long a host name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP(S) probes in flight by default. An HTTP probe holds about 20 KiB (hyper's read and write
/// buffers) and a connection the server must serve, not just a socket in SYN-SENT: 4,096 at once
/// against one nginx took 0.33 s and 93 MB where 256 took 0.22 s and 19 MB (benches/README.md).
pub(crate) const DEFAULT_HTTP_CONCURRENCY: usize = 256;

/// How many probes run at once, and how fast they start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineSettings {
    pub concurrency: usize,
    /// Of those, how many may be HTTP(S) probes.
    pub http_concurrency: usize,
    /// Probe starts per second, if capped.
    pub rate: Option<f64>,
}

impl EngineSettings {
    /// `requested` (or the default), kept below the open-file limit `nofile`.
    pub(crate) fn new(requested: Option<usize>, rate: Option<f64>, nofile: u64) -> Self {
        let concurrency = requested
            .unwrap_or(DEFAULT_CONCURRENCY)
            .clamp(1, fd_budget(nofile, 0));
        EngineSettings {
            concurrency,
            http_concurrency: DEFAULT_HTTP_CONCURRENCY.min(concurrency),
            rate,
        }
    }

    /// Sets the HTTP(S) cap (`None`: the default), never above `concurrency`.
    pub(crate) fn with_http_concurrency(mut self, requested: Option<usize>) -> Self {
        self.http_concurrency = requested
            .unwrap_or(DEFAULT_HTTP_CONCURRENCY)
            .clamp(1, self.concurrency);
        self
    }
}

/// A target after resolution: a probe to run, or the observation of why it cannot run.
#[derive(Debug)]
pub(crate) enum Planned {
    Probe(ProbeSpec),
    /// The target could not be resolved: its observation says why.
    Failed(Arc<Target>, Box<Observation>),
}

impl Planned {
    fn protocol_addr(&self) -> Option<(Protocol, IpAddr)> {
        match self {
            Planned::Probe(spec) => Some((spec.target.protocol, spec.addr.ip())),
            Planned::Failed(..) => None,
        }
    }
}

/// Which ICMP sockets a plan needs.
pub(crate) fn icmp_need(plan: &[Planned]) -> IcmpNeed {
    let mut need = IcmpNeed::default();
    for (protocol, ip) in plan.iter().filter_map(Planned::protocol_addr) {
        if protocol == Protocol::Icmp {
            need.v4 |= ip.is_ipv4();
            need.v6 |= ip.is_ipv6();
        }
    }
    need
}

/// Resolves host names (each distinct name once, concurrently) and binds every target to its
/// addresses. A name with several addresses yields one probe per address: a load balancer may send
/// to any of them.
pub(crate) async fn resolve(targets: Vec<Target>) -> Vec<Planned> {
    let mut names: JoinSet<(String, Result<Vec<IpAddr>, String>, Duration)> = JoinSet::new();
    let mut seen = std::collections::HashSet::new();
    for t in &targets {
        if let Host::Name(name) = &t.host
            && seen.insert(name.clone())
        {
            let name = name.clone();
            names.spawn(async move {
                let start = Instant::now();
                let result =
                    match timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.as_str(), 0)))
                        .await
                    {
                        Err(_) => Err(format!("resolving {name} timed out")),
                        Ok(Err(e)) => Err(format!("cannot resolve {name}: {e}")),
                        Ok(Ok(addrs)) => {
                            let mut ips: Vec<IpAddr> = Vec::new();
                            for a in addrs {
                                if !ips.contains(&a.ip()) {
                                    ips.push(a.ip());
                                }
                            }
                            Ok(ips)
                        }
                    };
                (name, result, start.elapsed())
            });
        }
    }
    let mut resolved = HashMap::new();
    while let Some(joined) = names.join_next().await {
        if let Ok((name, result, took)) = joined {
            resolved.insert(name, (result, took));
        }
    }

    let mut plan = Vec::with_capacity(targets.len());
    for target in targets {
        let target = Arc::new(target);
        let port = target.port.unwrap_or(0);
        match &target.host {
            Host::Ip(ip) => plan.push(Planned::Probe(ProbeSpec {
                addr: SocketAddr::new(*ip, port),
                target: target.clone(),
                resolve: Duration::ZERO,
            })),
            Host::Name(name) => match resolved.get(name) {
                Some((Ok(ips), took)) if !ips.is_empty() => {
                    for ip in ips {
                        plan.push(Planned::Probe(ProbeSpec {
                            addr: SocketAddr::new(*ip, port),
                            target: target.clone(),
                            resolve: *took,
                        }));
                    }
                }
                Some((Err(text), _)) => plan.push(Planned::Failed(
                    target.clone(),
                    Box::new(Observation::error(&target, None, text.clone())),
                )),
                _ => plan.push(Planned::Failed(
                    target.clone(),
                    Box::new(Observation::error(
                        &target,
                        None,
                        format!("{name} has no address"),
                    )),
                )),
            },
        }
    }
    plan
}

/// Runs the plan, sending `(index, observation)` for each entry as it completes. Returns once
/// every probe has finished (or the run was cancelled); the channel closes then. On cancellation,
/// probes in flight are abandoned and not reported.
///
/// The plan is dealt round-robin to one shard per runtime worker. A shard is one task that keeps
/// its share of the probes in flight in a `FuturesUnordered`, so a probe costs no task spawn and
/// no cross-thread wake-up: on a LAN sweep the kernel's work per connect is then most of the cost,
/// and both cores share it.
///
/// A probe that panics is reported as an `error` observation of its target
/// ([`probe::guarded`]); a shard that panics outside a probe is logged, and the entries it had
/// not reported are missing from the results: callers fill them in ([`missing`]). Either way the
/// panic is counted by [`crate::panics`], and the binary exits with its code.
pub(crate) async fn run(
    plan: Vec<Planned>,
    ctx: Arc<ProbeContext>,
    settings: EngineSettings,
    cancel: CancellationToken,
    results: mpsc::Sender<(usize, Observation)>,
) {
    run_with(
        plan,
        ctx,
        settings,
        cancel,
        results,
        |spec, ctx| async move { probe::run(&spec, &ctx).await },
    )
    .await;
}

/// [`run`] with another prober (tests give one that misbehaves).
async fn run_with<P, F>(
    plan: Vec<Planned>,
    ctx: Arc<ProbeContext>,
    settings: EngineSettings,
    cancel: CancellationToken,
    results: mpsc::Sender<(usize, Observation)>,
    prober: P,
) where
    P: Fn(ProbeSpec, Arc<ProbeContext>) -> F + Clone + Send + 'static,
    F: Future<Output = Observation> + Send + 'static,
{
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let n = workers.clamp(1, settings.concurrency.max(1));
    let mut shards: Vec<Vec<(usize, Planned)>> = (0..n)
        .map(|_| Vec::with_capacity(plan.len() / n + 1))
        .collect();
    for (index, item) in plan.into_iter().enumerate() {
        shards[index % n].push((index, item));
    }
    let mut running = JoinSet::new();
    let start = Instant::now();
    for (k, items) in shards.into_iter().enumerate() {
        // Shard k gets 1/n of each cap (and one of the remainder). With a rate cap, the shards
        // keep one schedule between them: shard k's j-th probe starts at (j·n + k) / rate.
        let share = |total: usize| (total / n + usize::from(k < total % n)).max(1);
        let caps = Caps {
            all: share(settings.concurrency),
            http: share(settings.http_concurrency),
            rate: settings.rate,
            start,
            shard: k as u64,
            shards: n as u64,
        };
        running.spawn(shard(
            items,
            ctx.clone(),
            caps,
            cancel.clone(),
            results.clone(),
            prober.clone(),
        ));
    }
    while let Some(joined) = running.join_next().await {
        if let Err(e) = joined
            && e.is_panic()
        {
            tracing::error!(
                "internal error: a probe worker panicked; its targets are reported as errors"
            );
        }
    }
}

/// The observations of the entries of `plan` that got no result in a run that was not
/// cancelled: only a bug (a panic outside a probe) leaves one out, and its target must still be
/// reported, as an `error` that says so.
pub(crate) fn missing<'a>(
    targets: impl IntoIterator<Item = &'a (Arc<Target>, Option<IpAddr>)>,
    reported: &[bool],
) -> Vec<(usize, Observation)> {
    targets
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !reported.get(*i).copied().unwrap_or(false))
        .map(|(i, (target, addr))| {
            (
                i,
                Observation::error(
                    target,
                    *addr,
                    "internal error: no result for this target (a probe worker failed); this is a bug in probe",
                ),
            )
        })
        .collect()
}

impl Planned {
    /// The target and address of this entry, kept by callers that must report every entry.
    pub(crate) fn identity(&self) -> (Arc<Target>, Option<IpAddr>) {
        match self {
            Planned::Probe(spec) => (spec.target.clone(), Some(spec.addr.ip())),
            Planned::Failed(target, _) => (target.clone(), None),
        }
    }
}

/// One shard's share of the caps.
#[derive(Debug, Clone, Copy)]
struct Caps {
    /// Probes in flight.
    all: usize,
    /// HTTP(S) probes in flight.
    http: usize,
    /// Probe starts per second, over all shards.
    rate: Option<f64>,
    /// When the run started, this shard's index, and how many shards there are.
    start: Instant,
    shard: u64,
    shards: u64,
}

/// Runs one shard's probes in plan order within its caps.
async fn shard<P, F>(
    items: Vec<(usize, Planned)>,
    ctx: Arc<ProbeContext>,
    caps: Caps,
    cancel: CancellationToken,
    results: mpsc::Sender<(usize, Observation)>,
    prober: P,
) where
    P: Fn(ProbeSpec, Arc<ProbeContext>) -> F,
    F: Future<Output = Observation>,
{
    let mut pending = items.into_iter().peekable();
    let mut in_flight = FuturesUnordered::new();
    let mut http_in_flight = 0usize;
    let mut started: u64 = 0;
    loop {
        // Start probes while there is room and the rate allows.
        let mut next_start = None;
        while in_flight.len() < caps.all {
            let next_is_http = match pending.peek() {
                None => break,
                Some((_, Planned::Probe(spec))) => spec.target.protocol.is_http(),
                Some((_, Planned::Failed(..))) => false,
            };
            if next_is_http && http_in_flight >= caps.http {
                break;
            }
            if let Some(rate) = caps.rate {
                let slot = started * caps.shards + caps.shard;
                let at = start_time(caps.start, slot, rate);
                if at > Instant::now() {
                    next_start = Some(at);
                    break;
                }
            }
            match pending.next() {
                None => break,
                Some((index, Planned::Failed(_, obs))) => {
                    if results.send((index, *obs)).await.is_err() {
                        return;
                    }
                }
                Some((index, Planned::Probe(spec))) => {
                    started += 1;
                    http_in_flight += usize::from(next_is_http);
                    let (target, addr) = (spec.target.clone(), spec.addr.ip());
                    let probing = prober(spec, ctx.clone());
                    in_flight
                        .push(async move { (index, probe::guarded(&target, addr, probing).await) });
                }
            }
        }
        let exhausted = pending.peek().is_none();
        if exhausted && in_flight.is_empty() {
            return;
        }
        let done = tokio::select! {
            done = in_flight.next(), if !in_flight.is_empty() => done,
            _ = sleep_until(next_start.unwrap_or_else(Instant::now)), if next_start.is_some() => None,
            _ = cancel.cancelled() => return,
        };
        if let Some(result) = done {
            http_in_flight -= usize::from(result.1.protocol.is_http());
            if results.send(result).await.is_err() {
                return;
            }
        }
    }
}

/// When the probe in start slot `slot` may start under a cap of `rate` probes a second. The CLI
/// refuses absurd rates ([`MIN_RATE`]); this still never panics: a time past what an `Instant`
/// can hold is a day from now, and the run is long over or cancelled by then.
fn start_time(start: Instant, slot: u64, rate: f64) -> Instant {
    Duration::try_from_secs_f64(slot as f64 / rate)
        .ok()
        .and_then(|offset| start.checked_add(offset))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
}

/// The slowest `--rate` accepted: one probe every 1,000 s.
pub(crate) const MIN_RATE: f64 = 0.001;

/// The fastest `--rate` accepted; a higher cap would be no cap.
pub(crate) const MAX_RATE: f64 = 1e9;

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(n: u8) -> Vec<Planned> {
        (0..n)
            .map(|i| {
                let target = crate::probe::target::parse(
                    &format!("127.0.0.{}:9", i + 1),
                    &crate::probe::target::TargetDefaults::default(),
                )
                .expect("target")
                .remove(0);
                Planned::Probe(ProbeSpec {
                    addr: SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, i + 1)), 9),
                    target: Arc::new(target),
                    resolve: Duration::ZERO,
                })
            })
            .collect()
    }

    /// Issue 13: a prober that panics must not lose its target, nor any other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_probe_that_panics_is_reported_as_an_error_and_no_target_is_lost() {
        let ctx = Arc::new(
            ProbeContext::new(crate::probe::ProbeSettings::default(), IcmpNeed::default())
                .expect("context"),
        );
        let (tx, mut rx) = mpsc::channel(64);
        let settings = EngineSettings::new(Some(4), None, 1 << 16);
        let run = tokio::spawn(run_with(
            plan_of(6),
            ctx,
            settings,
            CancellationToken::new(),
            tx,
            |spec: ProbeSpec, _ctx| async move {
                assert!(spec.addr.ip().to_string() != "127.0.0.3", "prober bug");
                Observation::error(&spec.target, Some(spec.addr.ip()), "fine")
            },
        ));
        let mut got = Vec::new();
        while let Some(r) = rx.recv().await {
            got.push(r);
        }
        run.await.expect("the engine itself did not panic");
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(
            got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        let detail = got[2].1.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("internal error: the probe panicked (prober bug)"),
            "{detail}"
        );
        assert!(
            got.iter()
                .filter(|(i, _)| *i != 2)
                .all(|(_, o)| o.detail.as_deref() == Some("fine"))
        );
    }

    #[test]
    fn entries_without_a_result_are_filled_in_as_errors() {
        let plan = plan_of(3);
        let ids: Vec<_> = plan.iter().map(Planned::identity).collect();
        let filled = missing(&ids, &[true, false, true]);
        assert_eq!(filled.len(), 1);
        assert_eq!(filled[0].0, 1);
        assert_eq!(filled[0].1.target, "127.0.0.2:9");
        assert!(!filled[0].1.success);
        assert!(missing(&ids, &[true, true, true]).is_empty());
    }

    #[test]
    fn start_times_never_overflow() {
        let start = Instant::now();
        assert_eq!(start_time(start, 0, 10.0), start);
        assert_eq!(
            start_time(start, 5, 10.0),
            start + Duration::from_millis(500)
        );
        // 1e-300 probes a second: the second probe would start in 1e300 s.
        assert!(start_time(start, 1, 1e-300) > start + Duration::from_secs(3600));
        assert!(start_time(start, u64::MAX, MIN_RATE) > start);
    }

    #[test]
    fn concurrency_stays_below_the_open_file_limit() {
        assert_eq!(
            EngineSettings::new(None, None, 1 << 20).concurrency,
            DEFAULT_CONCURRENCY
        );
        assert_eq!(EngineSettings::new(None, None, 20_000).concurrency, 19_936);
        assert_eq!(
            EngineSettings::new(Some(50_000), None, 20_000).concurrency,
            19_936
        );
        assert_eq!(EngineSettings::new(None, None, 256).concurrency, 192);
        assert_eq!(EngineSettings::new(Some(0), None, 256).concurrency, 1);
    }

    #[test]
    fn the_http_cap_defaults_to_256_and_never_exceeds_the_total() {
        let s = EngineSettings::new(None, None, 20_000);
        assert_eq!(s.http_concurrency, DEFAULT_HTTP_CONCURRENCY);
        assert_eq!(
            s.with_http_concurrency(Some(50_000)).http_concurrency,
            19_936
        );
        assert_eq!(s.with_http_concurrency(Some(0)).http_concurrency, 1);
        let small = EngineSettings::new(Some(100), None, 20_000);
        assert_eq!(small.http_concurrency, 100);
    }
}
