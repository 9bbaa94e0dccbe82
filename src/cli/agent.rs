//! `probe agent`: command-line flags → [`crate::agent::Settings`].

use std::process::ExitCode;

use super::UsageError;
use super::args::AgentArgs;
use crate::agent::{self, Settings, server::Limits, state::Timing};
use crate::engine;
use crate::probe::sys::privileges;

/// The agent, bound to its port and down to its last privilege, ready for the runtime.
pub(super) struct Prepared {
    settings: Settings,
    bound: agent::Bound,
    /// Runtime worker threads (`--threads`), when set.
    pub(super) threads: Option<usize>,
}

/// Everything before the runtime starts: checks the flags, binds the port, reads the web
/// configuration, then gives up every capability but CAP_NET_RAW. Runs while the process has one
/// thread, because capabilities are per thread (`probe::sys::privileges`).
pub(super) fn prepare(args: AgentArgs) -> anyhow::Result<Prepared> {
    // A long-running process: big freed buffers (the metrics page) go back to the system.
    crate::probe::sys::release_large_frees();
    let threads = args.threads;
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
        shard: args.shard,
        per_check_histograms: args.per_check_histograms,
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
    Ok(Prepared {
        settings,
        bound,
        threads: threads.map(|n| n as usize),
    })
}

/// Runs the prepared agent until SIGTERM or SIGINT.
pub(super) async fn run(prepared: Prepared) -> anyhow::Result<ExitCode> {
    agent::run(prepared.settings, prepared.bound)
        .await
        .map_err(|e| UsageError(e.into()))?;
    Ok(ExitCode::SUCCESS)
}
