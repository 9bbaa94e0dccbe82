//! UDP probe: one datagram on a connected socket, ICMP errors read from the error queue.
//!
//! | what came back                               | state           | reason            |
//! |----------------------------------------------|-----------------|-------------------|
//! | any datagram                                 | `open`          | `udp-response`    |
//! | ICMP port unreachable from the target itself | `closed`        | `port-unreach`    |
//! | ICMP port unreachable from another host      | `filtered`      | `port-unreach`    |
//! | ICMP admin/net/host prohibited               | `rejected`      | `admin-prohibited`… |
//! | ICMP net/host unreachable                    | `unreachable`   | `host-unreach`…   |
//! | nothing before the deadline                  | `open\|filtered`| `no-response`     |
//!
//! Silence is ambiguous for UDP: many services answer nothing to a payload they do not understand,
//! and a host rate-limiting its ICMP errors (Linux: `net.ipv4.icmp_ratelimit`) hides a closed port.

use tokio::time::Instant;

use super::sys::{self, UdpReply};
use super::{Observation, Phase, ProbeSettings, ProbeSpec, Reason, State, UdpInfo, millis};

/// The table's detail: how much came back. Returns whether the detail text is restated (never).
pub(crate) fn detail(obs: &Observation, parts: &mut Vec<String>) -> bool {
    if let Some(u) = &obs.udp {
        parts.push(format!("{} bytes back", u.response_bytes));
    }
    false
}

/// `/probe?module=udp`'s own metric.
pub(crate) fn samples(obs: &Observation) -> Vec<super::Sample> {
    vec![super::Sample::new(
        "probe_udp_response_bytes",
        "Bytes of the UDP response, 0 if none came",
        obs.udp.as_ref().map_or(0.0, |u| u.response_bytes as f64),
    )]
}

/// What a UDP probe sends and wants back.
#[derive(Debug, Clone, Default)]
pub struct UdpSettings {
    /// The payload of each datagram.
    pub payload: Vec<u8>,
    /// Bytes the response must contain to count as success.
    pub expect: Option<Vec<u8>>,
}

/// Probes `spec` with one UDP datagram.
pub async fn probe(spec: &ProbeSpec, settings: &ProbeSettings) -> Observation {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut obs = super::observation_for(spec, State::OpenFiltered, Reason::NoResponse);
    obs.phase = Phase::Wait;
    let reply = match sys::udp_connected(spec.addr) {
        Ok(fd) => sys::udp_exchange(&fd, &settings.udp.payload, deadline).await,
        Err(e) => Err(e),
    };
    match reply {
        Ok(UdpReply::Datagram(data)) => {
            obs.rtt_ms = Some(millis(start.elapsed()));
            obs.state = State::Open;
            obs.reason = Reason::UdpResponse;
            obs.phase = Phase::Done;
            let matched = settings
                .udp
                .expect
                .as_ref()
                .map(|want| contains(&data, want));
            obs.success = matched.unwrap_or(true);
            if matched == Some(false) {
                obs.detail = Some(format!(
                    "response of {} bytes does not contain the expected bytes",
                    data.len()
                ));
            }
            obs.udp = Some(UdpInfo {
                response_bytes: data.len(),
                matched,
            });
        }
        Ok(UdpReply::Icmp { errno, icmp }) => {
            obs.rtt_ms = Some(millis(start.elapsed()));
            super::tcp::apply_failure(&mut obs, spec, errno, icmp);
            obs.phase = Phase::Wait;
        }
        Ok(UdpReply::TimedOut) => {}
        Err(e) => obs.set_error(format!("cannot send: {e}")),
    }
    obs
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn expected_bytes_match_anywhere_in_the_response() {
        assert!(super::contains(b"+PONG\r\n", b"PONG"));
        assert!(super::contains(b"x", b""));
        assert!(!super::contains(b"PON", b"PONG"));
    }
}
