//! ICMP echo probe over one shared client per address family (surge-ping).
//!
//! All probes of a run share one socket per family; replies are matched by identifier and
//! sequence, which is unique per probe. The socket is `SOCK_RAW` when the process holds
//! CAP_NET_RAW, otherwise a datagram ICMP socket (allowed by `net.ipv4.ping_group_range`).
//!
//! | what came back                         | state         | reason             |
//! |----------------------------------------|---------------|--------------------|
//! | at least one echo reply                | `open`        | `echo-reply`       |
//! | destination unreachable, prohibited    | `rejected`    | `admin-prohibited`…|
//! | destination unreachable, no route      | `unreachable` | `host-unreach`…    |
//! | nothing before the deadline            | `filtered`    | `no-response`      |
//!
//! surge-ping hands a destination-unreachable back as an `Ok` packet of type 3: it is classified
//! here, never counted as a reply. On a datagram ICMP socket the kernel keeps ICMP errors from the
//! socket, so without CAP_NET_RAW a reject is seen as `filtered`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use socket2::Type;
use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::{
    IcmpError, IcmpNeed, Observation, Phase, PingStats, ProbeSettings, ProbeSetupError, ProbeSpec,
    Reason, State, millis,
};

/// Bytes carried by every echo request, so captures show who sent it.
const PAYLOAD: &[u8] = b"probe health-check echo";

/// Longest gap between the echo requests of one probe.
const MAX_SPACING: Duration = Duration::from_millis(100);

/// The shared ICMP clients of a run.
pub struct IcmpClients {
    v4: Option<Client>,
    v6: Option<Client>,
    ident: PingIdentifier,
    next_seq: AtomicU16,
}

impl IcmpClients {
    /// Opens the sockets a run needs. Must be called inside a tokio runtime.
    pub fn open(need: IcmpNeed) -> Result<Self, ProbeSetupError> {
        let open = |kind: ICMP, family: u8| {
            let config = Config::builder()
                .kind(kind)
                .sock_type_hint(Type::RAW)
                .build();
            Client::new(&config)
                .map_err(|source| ProbeSetupError::IcmpPermission { family, source })
        };
        let v4 = need.v4.then(|| open(ICMP::V4, 4)).transpose()?;
        let v6 = need.v6.then(|| open(ICMP::V6, 6)).transpose()?;
        // An identifier of this process's own, so two agents on one host do not take each other's
        // replies (raw sockets see every echo reply).
        let ident = PingIdentifier((std::process::id() as u16) ^ 0x5052);
        Ok(IcmpClients {
            v4,
            v6,
            ident,
            next_seq: AtomicU16::new(0),
        })
    }

    fn client(&self, ip: IpAddr) -> Option<&Client> {
        match ip {
            IpAddr::V4(_) => self.v4.as_ref(),
            IpAddr::V6(_) => self.v6.as_ref(),
        }
    }
}

/// What one echo request came back with.
enum Echo {
    Reply(Duration),
    Error(IcmpError),
    Lost,
    /// Sending failed with this errno (e.g. no route in the local table).
    SendErrno(i32),
    Failed(String),
}

/// Sends `settings.count` echo requests to the spec's address and waits for them until one
/// deadline.
pub async fn probe(
    spec: &ProbeSpec,
    settings: &ProbeSettings,
    clients: &IcmpClients,
) -> Observation {
    let ip = spec.addr.ip();
    let Some(client) = clients.client(ip) else {
        return Observation::error(
            &spec.target,
            Some(ip),
            "no ICMP socket for this address family",
        );
    };
    let count = settings.count.max(1);
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let spacing = (settings.timeout / (2 * u32::from(count))).min(MAX_SPACING);
    let first_seq = clients.next_seq.fetch_add(count, Ordering::Relaxed);

    let mut pings = JoinSet::new();
    for i in 0..count {
        let client = client.clone();
        let ident = clients.ident;
        let seq = PingSequence(first_seq.wrapping_add(i));
        let send_at = start + spacing * u32::from(i);
        pings.spawn(async move {
            sleep_until(send_at).await;
            let mut pinger = client.pinger(ip, ident).await;
            pinger.timeout(deadline.saturating_duration_since(Instant::now()));
            interpret(pinger.ping(seq, PAYLOAD).await)
        });
    }

    let mut rtts = Vec::with_capacity(usize::from(count));
    let mut first_error = None;
    let mut send_errno = None;
    let mut failure = None;
    while let Some(joined) = pings.join_next().await {
        match joined {
            Ok(Echo::Reply(rtt)) => rtts.push(rtt),
            Ok(Echo::Error(err)) => {
                first_error.get_or_insert(err);
            }
            Ok(Echo::Lost) => {}
            Ok(Echo::SendErrno(errno)) => {
                send_errno.get_or_insert(errno);
            }
            Ok(Echo::Failed(text)) => {
                failure.get_or_insert(text);
            }
            Err(join) => {
                failure.get_or_insert(join.to_string());
            }
        }
    }

    let mut obs = Observation::for_spec(spec, State::Filtered, Reason::NoResponse);
    obs.phase = Phase::Wait;
    obs.ping = Some(stats(count, &rtts));
    if !rtts.is_empty() {
        obs.state = State::Open;
        obs.reason = Reason::EchoReply;
        obs.success = true;
        obs.phase = Phase::Done;
        obs.rtt_ms = obs.ping.as_ref().and_then(|p| p.avg_ms);
    } else if let Some(err) = first_error {
        let (state, reason) = err.classify(ip);
        obs.state = state;
        obs.reason = reason;
        obs.icmp = Some(err);
    } else if let Some(errno) = send_errno {
        super::tcp::apply_failure(&mut obs, spec, errno, None);
    } else if let Some(text) = failure {
        obs.set_error(text);
    }
    obs
}

fn interpret(result: Result<(IcmpPacket, Duration), SurgeError>) -> Echo {
    match result {
        Ok((IcmpPacket::V4(p), rtt)) => match p.get_icmp_type().0 {
            0 => Echo::Reply(rtt),
            t => Echo::Error(IcmpError {
                icmp_type: t,
                code: p.get_icmp_code().0,
                from: Some(IpAddr::V4(p.get_source())),
                v6: false,
            }),
        },
        Ok((IcmpPacket::V6(p), rtt)) => match p.get_icmpv6_type().0 {
            129 => Echo::Reply(rtt),
            t => Echo::Error(IcmpError {
                icmp_type: t,
                code: p.get_icmpv6_code().0,
                from: Some(IpAddr::V6(p.get_source())),
                v6: true,
            }),
        },
        Err(SurgeError::Timeout { .. }) => Echo::Lost,
        Err(SurgeError::IOError(e)) => match e.raw_os_error() {
            Some(errno) => Echo::SendErrno(errno),
            None => Echo::Failed(e.to_string()),
        },
        Err(other) => Echo::Failed(other.to_string()),
    }
}

fn stats(sent: u16, rtts: &[Duration]) -> PingStats {
    let received = rtts.len() as u16;
    let ms: Vec<f64> = rtts.iter().map(|d| millis(*d)).collect();
    let avg = (!ms.is_empty()).then(|| ms.iter().sum::<f64>() / ms.len() as f64);
    PingStats {
        sent,
        received,
        loss: f64::from(sent - received) / f64::from(sent),
        min_ms: ms.iter().copied().reduce(f64::min),
        avg_ms: avg.map(|a| (a * 1000.0).round() / 1000.0),
        max_ms: ms.iter().copied().reduce(f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_report_loss_and_min_avg_max() {
        let s = stats(4, &[Duration::from_millis(1), Duration::from_millis(3)]);
        assert_eq!((s.sent, s.received), (4, 2));
        assert!((s.loss - 0.5).abs() < 1e-9);
        assert_eq!(
            (s.min_ms, s.avg_ms, s.max_ms),
            (Some(1.0), Some(2.0), Some(3.0))
        );
        let none = stats(3, &[]);
        assert_eq!((none.loss, none.avg_ms), (1.0, None));
    }
}
