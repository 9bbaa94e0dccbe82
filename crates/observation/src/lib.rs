//! What a probe saw: the observation and its taxonomy (`verdicts.md` §1), with the detail each
//! protocol adds, and the targets probes go to.
//!
//! A leaf: no sockets, no clock, no runtime. The probers fill observations in; the diagnosis,
//! the outputs and the agent read them.
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

mod http;
mod icmp;
pub mod target;
mod udp;

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

pub use http::{HttpInfo, HttpPhases, TlsInfo};
pub use icmp::{IcmpError, PingStats};
pub use target::{Host, Protocol, Target};
pub use udp::UdpInfo;

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
    /// An observation for a probe that could not run.
    pub fn error(target: &Target, address: Option<IpAddr>, message: impl Into<String>) -> Self {
        let mut obs = Observation::new(target, address, State::Error, Reason::NoResponse);
        obs.set_error(message.into());
        obs
    }

    /// An observation of `target` in `state`, before a prober fills in what it saw.
    pub fn new(target: &Target, address: Option<IpAddr>, state: State, reason: Reason) -> Self {
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
    pub fn set_error(&mut self, message: String) {
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
