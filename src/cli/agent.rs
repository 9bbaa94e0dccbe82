//! `probe agent`: command-line flags → [`crate::agent::Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use super::check::ConfigSource;
use super::{UsageError, parse_duration};
use crate::agent::{self, Settings, server::Limits, state::Timing};
use crate::engine;
use crate::probe::sys::privileges;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// The agent's own address, when it differs from the one that routes to the backends.
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<std::net::IpAddr>,
    /// Address and port of the HTTP server (/metrics, /probe, /findings).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9465")]
    pub listen: SocketAddr,
    /// TLS and basic-auth settings, in the exporter-toolkit web config format
    /// (docs/agent-web-config.md).
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Probe every check at this interval instead of its health check's own.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Give every probe this deadline instead of its health check's timeout (never more than the
    /// interval).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Scheduled probes in flight at most; a tick that finds them all busy is skipped and counted.
    /// Default: 32,768, or what the open-file limit leaves after the HTTP server's connections
    /// and /probe requests, if less.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: Option<u64>,
    /// A network /probe may reach besides the configured members, load balancers and subnets
    /// (CIDR, or an address). Repeat for more.
    #[arg(long, value_name = "CIDR", value_parser = parse_net)]
    pub probe_allow: Vec<IpNet>,
    /// /probe requests served at once; more wait, up to their scrape timeout, then get 503.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub probe_concurrency: u64,
    /// HTTP connections served at once; more wait in the listen backlog.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub http_max_connections: u64,
    /// How long a client may take to send its request headers (also closes idle keep-alive
    /// connections).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub http_header_timeout: Duration,
    /// How long a request other than /probe may take.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub http_request_timeout: Duration,
}

/// A CIDR, or a bare address taken as a single host.
fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither a CIDR (10.0.0.0/16) nor an address"))
}

/// The agent, bound to its port and down to its last privilege, ready for the runtime.
pub struct Prepared {
    settings: Settings,
    bound: agent::Bound,
}

/// Everything before the runtime starts: checks the flags, binds the port, reads the web
/// configuration, then gives up every capability but CAP_NET_RAW. Runs while the process has one
/// thread, because capabilities are per thread (`probe::sys::privileges`).
pub fn prepare(args: AgentArgs) -> anyhow::Result<Prepared> {
    if let (Some(i), Some(t)) = (args.interval, args.timeout)
        && t > i
    {
        return Err(UsageError(anyhow::anyhow!(
            "--timeout {t:?} is longer than --interval {i:?}: a probe would still run at its next tick"
        ))
        .into());
    }
    let mut settings = Settings {
        source: args.source.source(),
        source_addr: args.source_addr,
        listen: args.listen,
        web_config: args.web_config,
        timing: Timing {
            interval: args.interval,
            timeout: args.timeout,
        },
        concurrency: 0, // set below, once the open-file limit is known
        probe_allow: args.probe_allow,
        probe_concurrency: args.probe_concurrency as usize,
        server: Limits {
            max_connections: args.http_max_connections as usize,
            header_timeout: args.http_header_timeout,
            request_timeout: args.http_request_timeout,
            ..Limits::default()
        },
    };
    let bound = agent::bind(&settings).map_err(|e| UsageError(e.into()))?;
    let budget = engine::fd_budget(
        bound.nofile,
        args.http_max_connections + args.probe_concurrency,
    );
    settings.concurrency = args
        .concurrency
        .map_or(engine::DEFAULT_CONCURRENCY, |c| c as usize)
        .clamp(1, budget);
    if args.concurrency.is_some_and(|c| c as usize > budget) {
        tracing::warn!(
            "--concurrency lowered to {budget}: the open-file limit is {} (raise LimitNOFILE)",
            bound.nofile
        );
    }
    let kept = privileges::keep_only_net_raw().map_err(|e| UsageError(e.into()))?;
    if !kept.dropped.is_empty() {
        tracing::info!(
            net_raw = kept.net_raw,
            dropped = kept.dropped.len(),
            "capabilities dropped after binding the port"
        );
    }
    if let Some(why) = kept.bounding_kept {
        tracing::debug!("capability bounding set left as it was: {why}");
    }
    Ok(Prepared { settings, bound })
}

/// Runs the prepared agent until SIGTERM or SIGINT.
pub async fn run(prepared: Prepared) -> anyhow::Result<ExitCode> {
    agent::run(prepared.settings, prepared.bound)
        .await
        .map_err(|e| UsageError(e.into()))?;
    Ok(ExitCode::SUCCESS)
}
