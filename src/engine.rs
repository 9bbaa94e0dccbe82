//! Runs many probes: bounded in flight, optionally rate-capped, cancellable, streaming results.
//!
//! A `Semaphore` bounds the probes in flight; each task is spawned only once it holds a permit,
//! and the permit moves into the task, so 65,536 targets never mean 65,536 tasks at once. The
//! bound is also kept below the open-file limit (one socket per TCP, UDP or HTTP probe), which is
//! raised to its hard limit first: a probe that could not get a socket would otherwise be reported
//! as an error instead of its real state.
//!
//! Results are sent on a bounded channel as they complete, tagged with the index of their spec,
//! so callers can stream them (`--output jsonl`) or put them back in input order.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::probe::target::Host;
use crate::probe::{self, IcmpNeed, Observation, ProbeContext, ProbeSpec, Protocol, Target};

/// Probes in flight by default: enough to sweep thousands of targets within about one timeout.
pub const DEFAULT_CONCURRENCY: usize = 4096;

/// File descriptors kept free for everything that is not a probe socket.
const RESERVED_FDS: u64 = 64;

/// How long a host name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many probes run at once, and how fast they start.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    pub concurrency: usize,
    /// Probe starts per second, if capped.
    pub rate: Option<f64>,
}

impl EngineSettings {
    /// `requested` (or the default), kept below the open-file limit `nofile`.
    pub fn new(requested: Option<usize>, rate: Option<f64>, nofile: u64) -> Self {
        let fd_cap = nofile.saturating_sub(RESERVED_FDS).max(1) as usize;
        let concurrency = requested.unwrap_or(DEFAULT_CONCURRENCY).clamp(1, fd_cap);
        EngineSettings { concurrency, rate }
    }
}

/// A target after resolution: a probe to run, or the observation of why it cannot run.
#[derive(Debug)]
pub enum Planned {
    Probe(ProbeSpec),
    Failed(Box<Observation>),
}

impl Planned {
    fn protocol_addr(&self) -> Option<(Protocol, IpAddr)> {
        match self {
            Planned::Probe(spec) => Some((spec.target.protocol, spec.addr.ip())),
            Planned::Failed(_) => None,
        }
    }
}

/// Which ICMP sockets a plan needs.
pub fn icmp_need(plan: &[Planned]) -> IcmpNeed {
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
pub async fn resolve(targets: Vec<Target>) -> Vec<Planned> {
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
            Host::Name(name) => {
                match resolved.get(name) {
                    Some((Ok(ips), took)) if !ips.is_empty() => {
                        for ip in ips {
                            plan.push(Planned::Probe(ProbeSpec {
                                addr: SocketAddr::new(*ip, port),
                                target: target.clone(),
                                resolve: *took,
                            }));
                        }
                    }
                    Some((Err(text), _)) => plan.push(Planned::Failed(Box::new(
                        Observation::error(&target, None, text.clone()),
                    ))),
                    _ => plan.push(Planned::Failed(Box::new(Observation::error(
                        &target,
                        None,
                        format!("{name} has no address"),
                    )))),
                }
            }
        }
    }
    plan
}

/// Runs the plan, sending `(index, observation)` for each entry as it completes. Returns once
/// every probe has been started (or the run was cancelled); the channel closes when the last
/// one finishes. On cancellation, probes in flight are abandoned and not reported.
pub async fn run(
    plan: Vec<Planned>,
    ctx: Arc<ProbeContext>,
    settings: EngineSettings,
    cancel: CancellationToken,
    results: mpsc::Sender<(usize, Observation)>,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let start = Instant::now();
    let mut started: u64 = 0;
    for (index, item) in plan.into_iter().enumerate() {
        let spec = match item {
            Planned::Failed(obs) => {
                if results.send((index, *obs)).await.is_err() {
                    return;
                }
                continue;
            }
            Planned::Probe(spec) => spec,
        };
        if let Some(rate) = settings.rate {
            let at = start + Duration::from_secs_f64(started as f64 / rate);
            tokio::select! {
                _ = sleep_until(at) => {}
                _ = cancel.cancelled() => return,
            }
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_closed) => return,
            },
            _ = cancel.cancelled() => return,
        };
        started += 1;
        let (ctx, results, cancel) = (ctx.clone(), results.clone(), cancel.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let obs = tokio::select! {
                obs = probe::run(&spec, &ctx) => obs,
                _ = cancel.cancelled() => return,
            };
            let _ = results.send((index, obs)).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_stays_below_the_open_file_limit() {
        assert_eq!(
            EngineSettings::new(None, None, 20_000).concurrency,
            DEFAULT_CONCURRENCY
        );
        assert_eq!(
            EngineSettings::new(Some(50_000), None, 20_000).concurrency,
            19_936
        );
        assert_eq!(EngineSettings::new(None, None, 256).concurrency, 192);
        assert_eq!(EngineSettings::new(Some(0), None, 256).concurrency, 1);
    }
}
