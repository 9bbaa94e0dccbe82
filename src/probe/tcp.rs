//! TCP connect probe: a fresh connection per probe, closed with RST.
//!
//! | what came back                        | state         | reason             |
//! |---------------------------------------|---------------|--------------------|
//! | SYN-ACK                               | `open`        | `syn-ack`          |
//! | RST                                   | `closed`      | `reset`            |
//! | nothing before the deadline           | `filtered`    | `no-response`      |
//! | ICMP admin/net/host prohibited        | `rejected`    | `admin-prohibited`…|
//! | ICMP net/host unreachable             | `unreachable` | `net-unreach`…     |

use tokio::time::Instant;

use super::sys::{self, Connect};
use super::{Observation, Phase, ProbeSettings, ProbeSpec, Reason, State, millis};

/// Probes `spec` with a TCP connect.
pub async fn probe(spec: &ProbeSpec, settings: &ProbeSettings) -> Observation {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut obs = super::observation_for(spec, State::Filtered, Reason::NoResponse);
    match sys::tcp_connect(spec.addr, deadline).await {
        Ok(Connect::Established(stream)) => {
            obs.rtt_ms = Some(millis(start.elapsed()));
            obs.state = State::Open;
            obs.reason = Reason::SynAck;
            obs.success = true;
            obs.phase = Phase::Done;
            drop(stream); // SO_LINGER 0: RST, no TIME_WAIT
        }
        Ok(Connect::Failed { errno, icmp }) => {
            obs.rtt_ms = Some(millis(start.elapsed()));
            apply_failure(&mut obs, spec, errno, icmp);
        }
        Ok(Connect::TimedOut) => {}
        Err(e) => obs.set_error(format!("cannot connect: {e}")),
    }
    obs
}

/// Fills in the state and reason of a failed connect, preferring the ICMP error's evidence over
/// the errno the kernel mapped it to.
pub(crate) fn apply_failure(
    obs: &mut Observation,
    spec: &ProbeSpec,
    errno: i32,
    icmp: Option<super::IcmpError>,
) {
    let (state, reason) = match icmp {
        Some(err) => err.classify(spec.addr.ip()),
        None => super::errno::classify_errno(errno).unwrap_or_else(|| {
            let text = std::io::Error::from_raw_os_error(errno).to_string();
            (State::Error, Reason::Error(text))
        }),
    };
    obs.state = state;
    obs.reason = reason;
    obs.icmp = icmp;
    obs.phase = Phase::Connect;
}
