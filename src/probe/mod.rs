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

pub mod http;
pub mod icmp;
pub mod icmp_error;
pub mod icmp_packet;
pub mod sys;
pub mod target;
pub mod tcp;
pub mod udp;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use icmp_error::IcmpError;
pub use target::{Protocol, Target};

/// What one probe saw. Serialises to the JSON object of `verdicts.md` §1.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    /// The target as the user named it (host or URL), for display and joining.
    pub target: String,
    /// The address actually probed (a host name may resolve to several; each is probed).
    pub address: Option<IpAddr>,
    /// Destination port; `None` for ICMP.
    pub port: Option<u16>,
    pub protocol: Protocol,
    pub state: State,
    pub reason: Reason,
    /// Whether the probe passed: reachable, and for HTTP the status matched, for UDP the expected
    /// response (if any) arrived.
    pub success: bool,
    /// How far the probe got before it ended.
    pub phase: Phase,
    /// Connect time (TCP, HTTP), response time (UDP), or average echo round trip (ICMP).
    pub rtt_ms: Option<f64>,
    /// The ICMP error that ended the probe, if one came back.
    pub icmp: Option<IcmpError>,
    /// ICMP echo statistics over `--count` packets.
    pub ping: Option<PingStats>,
    /// UDP response details.
    pub udp: Option<UdpInfo>,
    pub http: Option<HttpInfo>,
    pub tls: Option<TlsInfo>,
    /// Human-readable detail: an error message, a mismatch, a note.
    pub detail: Option<String>,
}

impl Observation {
    /// An observation for `spec` in `state`, to be filled in by a prober.
    pub(crate) fn for_spec(spec: &ProbeSpec, state: State, reason: Reason) -> Self {
        let mut obs = Observation::blank(&spec.target, Some(spec.addr.ip()), state, reason);
        obs.port = spec.port();
        obs.phase = Phase::Connect;
        obs
    }

    /// An observation for a probe that could not run.
    pub fn error(target: &Target, address: Option<IpAddr>, message: impl Into<String>) -> Self {
        let mut obs = Observation::blank(target, address, State::Error, Reason::NoResponse);
        obs.set_error(message.into());
        obs
    }

    fn blank(target: &Target, address: Option<IpAddr>, state: State, reason: Reason) -> Self {
        Observation {
            target: target.label.clone(),
            address,
            port: target.port.filter(|_| target.protocol != Protocol::Icmp),
            protocol: target.protocol,
            state,
            reason,
            success: false,
            phase: Phase::Setup,
            rtt_ms: None,
            icmp: None,
            ping: None,
            udp: None,
            http: None,
            tls: None,
            detail: None,
        }
    }

    /// Marks the probe as one that could not run (no socket, no permission), saying why.
    pub(crate) fn set_error(&mut self, message: String) {
        self.state = State::Error;
        self.reason = Reason::Error(message.clone());
        self.detail = Some(message);
        self.phase = Phase::Setup;
        self.success = false;
    }
}

/// Port state, in nmap's vocabulary plus `rejected` and `unreachable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum State {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "filtered")]
    Filtered,
    #[serde(rename = "rejected")]
    Rejected,
    #[serde(rename = "unreachable")]
    Unreachable,
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    #[serde(rename = "error")]
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Filtered => "filtered",
            State::Rejected => "rejected",
            State::Unreachable => "unreachable",
            State::OpenFiltered => "open|filtered",
            State::Error => "error",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a probe ended in its state (nmap `--reason` style).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    SynAck,
    UdpResponse,
    EchoReply,
    HttpResponse,
    Reset,
    PortUnreach,
    NoResponse,
    AdminProhibited,
    NetProhibited,
    HostProhibited,
    HostUnreach,
    NetUnreach,
    /// ICMP type 3 with another code, or another ICMP error type, named like `icmp-3-4`.
    OtherIcmp {
        icmp_type: u8,
        code: u8,
    },
    /// ICMP time exceeded: a routing loop or a TTL too small.
    TimeExceeded,
    /// Connected, but the application did not answer before the deadline.
    Timeout,
    TlsError,
    /// The peer answered with something that is not HTTP.
    HttpError,
    /// The probe could not run; the text says why.
    Error(String),
}

impl Reason {
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        Cow::Borrowed(match self {
            Reason::SynAck => "syn-ack",
            Reason::UdpResponse => "udp-response",
            Reason::EchoReply => "echo-reply",
            Reason::HttpResponse => "http-response",
            Reason::Reset => "reset",
            Reason::PortUnreach => "port-unreach",
            Reason::NoResponse => "no-response",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::NetProhibited => "net-prohibited",
            Reason::HostProhibited => "host-prohibited",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::TimeExceeded => "time-exceeded",
            Reason::Timeout => "timeout",
            Reason::TlsError => "tls-error",
            Reason::HttpError => "http-error",
            Reason::OtherIcmp { icmp_type, code } => {
                return Cow::Owned(format!("icmp-{icmp_type}-{code}"));
            }
            Reason::Error(text) => text,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

/// How far a probe got. For HTTP this names the phase a timeout happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before any packet: resolving, opening a socket.
    Setup,
    Connect,
    Tls,
    /// Request sent, waiting for the response headers.
    Processing,
    /// Reading the response body.
    Transfer,
    /// Waiting for a UDP or ICMP answer.
    Wait,
    Done,
}

/// ICMP echo statistics of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingStats {
    pub sent: u16,
    pub received: u16,
    /// Fraction of echo requests without a reply, 0.0 to 1.0.
    pub loss: f64,
    pub min_ms: Option<f64>,
    pub avg_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// What came back to a UDP probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UdpInfo {
    pub response_bytes: usize,
    /// Whether the response contained the expected bytes; `None` when nothing was expected.
    pub matched: Option<bool>,
}

/// HTTP(S) result: `verdicts.md` §1 `observed.http`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpInfo {
    pub status: Option<u16>,
    pub matched: bool,
    /// Seconds spent in each phase; a phase not reached is absent.
    pub phases: HttpPhases,
    pub body_bytes: Option<u64>,
    /// True when the body was longer than the cap and reading stopped there.
    pub body_truncated: bool,
    /// The `Location` header of a redirect (redirects are never followed).
    pub location: Option<String>,
}

/// Phase durations in seconds, as blackbox_exporter's `probe_http_duration_seconds{phase}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HttpPhases {
    pub resolve: Option<f64>,
    pub connect: Option<f64>,
    pub tls: Option<f64>,
    pub processing: Option<f64>,
    pub transfer: Option<f64>,
}

/// TLS result: `verdicts.md` §1 `observed.tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TlsInfo {
    /// Negotiated version, e.g. `TLS1.3`; absent when the handshake failed.
    pub version: Option<String>,
    /// The leaf certificate's `notAfter`, RFC 3339; reported even when verification failed.
    pub not_after: Option<String>,
    /// Seconds until `not_after` (negative when expired), at the time of the probe.
    pub expires_in_s: Option<i64>,
    pub error: Option<String>,
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

/// Settings shared by every probe of a run.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// The one deadline of each probe, measured from its start.
    pub timeout: Duration,
    /// ICMP echo requests per probe.
    pub count: u16,
    /// UDP payload sent in each datagram.
    pub udp_payload: Vec<u8>,
    /// UDP: bytes the response must contain to count as success.
    pub udp_expect: Option<Vec<u8>>,
    pub http: http::HttpSettings,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            timeout: Duration::from_secs(1),
            count: 1,
            udp_payload: Vec::new(),
            udp_expect: None,
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
/// printed and counted by [`crate::panics`], so the run fails loudly.
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

/// Milliseconds as a float with microsecond resolution, for JSON and tables.
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Seconds as a float with microsecond resolution.
pub(crate) fn seconds(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1_000_000.0
}
