//! Probers and the observations they produce.
//!
//! A probe is one attempt to reach one port (or, for ICMP, one address) with one protocol before one
//! deadline. Its result is an [`Observation`]: a failed probe is data, never an `Err`. Only a probe
//! that could not run at all (no permission, no socket) becomes `State::Error`.
//!
//! The taxonomy follows nmap's port states and HAProxy's L4CON/L4TOUT split so that a silent drop,
//! an active reject, a closed port and a slow application are never confused:
//!
//! | state           | reason                                   | evidence                                    |
//! |-----------------|------------------------------------------|---------------------------------------------|
//! | `open`          | `syn-ack`, `udp-response`, `echo-reply`, `http-response` | the target answered         |
//! | `open`          | `timeout`, `tls-error`, `http-error`     | connected, but the application failed       |
//! | `closed`        | `reset`, `port-unreach`                  | RST, or ICMP port unreachable from the target itself |
//! | `filtered`      | `no-response`                            | nothing before the deadline                 |
//! | `rejected`      | `admin-prohibited`, `net-prohibited`, `host-prohibited` | ICMP type 3 code 13 / 9 / 10  |
//! | `unreachable`   | `host-unreach`, `net-unreach`, …         | ICMP type 3 codes 0/1, or EHOSTUNREACH/ENETUNREACH |
//! | `open\|filtered`| `no-response`                            | UDP: nothing came back (ambiguous by nature) |
//! | `error`         | free text                                | the probe could not run                     |

mod errno;
pub mod http;
pub mod icmp;
pub mod icmp_packet;
pub mod sys;
pub mod tcp;
pub mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use crate::observation::target;
pub use crate::observation::{
    HttpInfo, HttpPhases, IcmpError, Observation, Phase, PingStats, Protocol, Reason, State,
    Target, TlsInfo, UdpInfo,
};

/// An observation for `spec` in `state`, to be filled in by a prober.
pub(crate) fn observation_for(spec: &ProbeSpec, state: State, reason: Reason) -> Observation {
    let mut obs = Observation::new(&spec.target, Some(spec.addr.ip()), state, reason);
    obs.port = spec.port();
    obs.phase = Phase::Connect;
    obs
}

/// One probe to run: a target bound to one concrete socket address.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub target: Arc<Target>,
    /// The resolved address; the port is 0 for ICMP.
    pub addr: SocketAddr,
    /// Time spent resolving the target's host name (zero for a literal address).
    pub resolve: Duration,
}

impl ProbeSpec {
    pub fn port(&self) -> Option<u16> {
        (self.target.protocol != Protocol::Icmp).then_some(self.addr.port())
    }
}

/// Settings shared by every probe of a run: the deadline, and each protocol's own (defined with
/// its prober).
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// The one deadline of each probe, measured from its start.
    pub timeout: Duration,
    pub icmp: icmp::IcmpSettings,
    pub udp: udp::UdpSettings,
    pub http: http::HttpSettings,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            timeout: Duration::from_secs(1),
            icmp: icmp::IcmpSettings::default(),
            udp: udp::UdpSettings::default(),
            http: http::HttpSettings::default(),
        }
    }
}

/// Everything a probe needs beyond its spec: settings, the shared ICMP clients, the TLS roots.
/// Built once per run (or per agent configuration) and shared by all probes.
pub struct ProbeContext {
    pub settings: ProbeSettings,
    icmp: Arc<icmp::IcmpClients>,
    tls: Arc<http::TlsRoots>,
}

impl ProbeContext {
    /// Builds the context. ICMP sockets are opened only when `need_icmp` says so, because they need
    /// CAP_NET_RAW or a `ping_group_range` that admits the process.
    pub fn new(settings: ProbeSettings, need_icmp: IcmpNeed) -> Result<Self, ProbeSetupError> {
        let icmp = icmp::IcmpClients::open(need_icmp)?;
        let tls = http::TlsRoots::load(settings.http.ca.as_ref())?;
        Ok(ProbeContext {
            settings,
            icmp: Arc::new(icmp),
            tls: Arc::new(tls),
        })
    }

    /// A context with other settings that shares this one's ICMP sockets and TLS roots: the
    /// agent opens its sockets once and runs each health check with its own timeout and matcher.
    /// The CA file of `settings` is not read; the roots stay this context's.
    pub fn with_settings(&self, settings: ProbeSettings) -> Self {
        ProbeContext {
            settings,
            icmp: self.icmp.clone(),
            tls: self.tls.clone(),
        }
    }
}

/// Which ICMP address families a run will probe.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcmpNeed {
    pub v4: bool,
    pub v6: bool,
}

/// A run could not be set up: every probe of the kind would fail the same way, so it is reported
/// once, before probing, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error(
        "cannot open an ICMPv{family} socket. ICMP probes need CAP_NET_RAW (run as root, \
         or `setcap cap_net_raw+ep` on the binary, or AmbientCapabilities=CAP_NET_RAW in systemd), or a \
         group id inside net.ipv4.ping_group_range, which admits ICMPv6 ping sockets too (e.g. \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`)"
    )]
    IcmpPermission {
        family: u8,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// Runs one probe to completion. Never fails: a probe that cannot run is an `error` observation.
pub async fn run(spec: &ProbeSpec, ctx: &ProbeContext) -> Observation {
    let settings = &ctx.settings;
    match spec.target.protocol {
        Protocol::Tcp => tcp::probe(spec, settings).await,
        // The other probers' futures are boxed so that a TCP probe's task stays small (under 1 KiB
        // rather than the HTTP prober's 6 KiB): a sweep keeps up to 20,000 of them in flight.
        Protocol::Udp => Box::pin(udp::probe(spec, settings)).await,
        Protocol::Icmp => Box::pin(icmp::probe(spec, settings, &ctx.icmp)).await,
        Protocol::Http | Protocol::Https => Box::pin(http::probe(spec, settings, &ctx.tls)).await,
    }
}

/// [`run`], with a panic inside the prober turned into an `error` observation of its target that
/// says so: a bug in one probe neither ends the run nor loses the target. The panic is still
/// printed and counted by `crate::panics`, so the run fails loudly.
pub async fn run_guarded(spec: &ProbeSpec, ctx: &ProbeContext) -> Observation {
    guarded(&spec.target, spec.addr.ip(), run(spec, ctx)).await
}

/// Awaits a prober's future; a panic becomes an `error` observation of `target` at `addr`.
pub async fn guarded(
    target: &Target,
    addr: IpAddr,
    probe: impl std::future::Future<Output = Observation>,
) -> Observation {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(probe).catch_unwind().await {
        Ok(obs) => obs,
        Err(payload) => Observation::error(
            target,
            Some(addr),
            format!(
                "internal error: the probe panicked ({}); this is a bug in probe",
                crate::panics::message(payload.as_ref())
            ),
        ),
    }
}

/// One value of a blackbox_exporter-style metric of one probe, as `/probe` serves it: a protocol's
/// own metrics are declared by its prober ([`samples`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    /// One label and its value (`phase="connect"`), for metrics that have one.
    pub label: Option<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    pub(crate) fn new(name: &'static str, help: &'static str, value: f64) -> Self {
        Sample {
            name,
            help,
            label: None,
            value,
        }
    }

    pub(crate) fn labelled(
        name: &'static str,
        help: &'static str,
        label: (&'static str, &str),
        value: f64,
    ) -> Self {
        Sample {
            name,
            help,
            label: Some((label.0, label.1.to_string())),
            value,
        }
    }
}

/// The metrics a protocol adds for one probe, in blackbox_exporter's names. `now_unix` turns
/// relative times (a certificate's remaining life) into timestamps.
pub fn samples(obs: &Observation, now_unix: f64) -> Vec<Sample> {
    match obs.protocol {
        Protocol::Tcp => Vec::new(),
        Protocol::Udp => udp::samples(obs),
        Protocol::Icmp => icmp::samples(obs),
        Protocol::Http | Protocol::Https => http::samples(obs, now_unix),
    }
}

/// The most useful facts of a probe, for the table's detail cell: the protocol's own, then the
/// ICMP error and the detail text.
pub fn detail(obs: &Observation) -> Vec<String> {
    let mut parts = Vec::new();
    let restated = match obs.protocol {
        Protocol::Tcp => false,
        Protocol::Udp => udp::detail(obs, &mut parts),
        Protocol::Icmp => icmp::detail(obs, &mut parts),
        Protocol::Http | Protocol::Https => http::detail(obs, &mut parts),
    };
    if let Some(icmp) = &obs.icmp {
        parts.push(icmp.describe());
    }
    if let Some(d) = &obs.detail
        && !restated
    {
        parts.push(d.clone());
    }
    parts
}

/// Milliseconds as a float with microsecond resolution, for JSON and tables.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Seconds as a float with microsecond resolution.
pub(crate) fn seconds(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1_000_000.0
}
