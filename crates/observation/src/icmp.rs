//! What an ICMP error means for a probe. Pure: no sockets.
//!
//! | ICMPv4 (type 3 code) | ICMPv6 (type 1 code) | state         | reason             |
//! |----------------------|----------------------|---------------|--------------------|
//! | 0 net unreachable    | 0 no route           | `unreachable` | `net-unreach`      |
//! | 1 host unreachable   | 3 address unreachable| `unreachable` | `host-unreach`     |
//! | 3 port unreachable, from the target | 4, from the target | `closed` | `port-unreach` |
//! | 3 port unreachable, from elsewhere  | 4, from elsewhere  | `filtered` | `port-unreach` |
//! | 9 net prohibited     | —                    | `rejected`    | `net-prohibited`   |
//! | 10 host prohibited   | —                    | `rejected`    | `host-prohibited`  |
//! | 13 admin prohibited  | 1 admin prohibited, 5 policy, 6 reject route | `rejected` | `admin-prohibited` |
//! | ICMPv4 11 / ICMPv6 3 time exceeded |        | `unreachable` | `time-exceeded`    |
//! | anything else        |                      | `unreachable` | `icmp-T-C`         |
//!
//! nmap calls codes 0/1/2/3(elsewhere)/9/10/13 "filtered"; `probe` splits that into `rejected` (an
//! administrator's rule said no, and said so) and `unreachable` (routing said no) because they have
//! different fixes.

use std::net::IpAddr;

use serde::Serialize;

use super::{Reason, State};

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

/// An ICMP error received for a probe: `verdicts.md` §1 `observed.icmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpError {
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
    /// The host that sent the error: the target itself, a router, or a firewall.
    pub from: Option<IpAddr>,
    /// Whether it is an ICMPv6 error (types and codes differ from ICMPv4).
    #[serde(skip)]
    pub v6: bool,
}

impl IcmpError {
    /// Classifies the error for a probe sent to `target`.
    pub fn classify(&self, target: IpAddr) -> (State, Reason) {
        let from_target = self.from == Some(target);
        let other = Reason::OtherIcmp {
            icmp_type: self.icmp_type,
            code: self.code,
        };
        if self.v6 {
            return match (self.icmp_type, self.code) {
                (1, 0) => (State::Unreachable, Reason::NetUnreach),
                (1, 3) => (State::Unreachable, Reason::HostUnreach),
                (1, 4) if from_target => (State::Closed, Reason::PortUnreach),
                (1, 4) => (State::Filtered, Reason::PortUnreach),
                (1, 1 | 5 | 6) => (State::Rejected, Reason::AdminProhibited),
                (3, _) => (State::Unreachable, Reason::TimeExceeded),
                _ => (State::Unreachable, other),
            };
        }
        match (self.icmp_type, self.code) {
            (3, 0 | 6 | 11) => (State::Unreachable, Reason::NetUnreach),
            (3, 1 | 7 | 12) => (State::Unreachable, Reason::HostUnreach),
            (3, 3) if from_target => (State::Closed, Reason::PortUnreach),
            (3, 3) => (State::Filtered, Reason::PortUnreach),
            (3, 9) => (State::Rejected, Reason::NetProhibited),
            (3, 10) => (State::Rejected, Reason::HostProhibited),
            (3, 13) => (State::Rejected, Reason::AdminProhibited),
            (11, _) => (State::Unreachable, Reason::TimeExceeded),
            _ => (State::Unreachable, other),
        }
    }

    /// `icmp 3/13 from 10.0.0.1`, for tables.
    pub fn describe(&self) -> String {
        let v = if self.v6 { "icmpv6" } else { "icmp" };
        match self.from {
            Some(from) => format!("{v} {}/{} from {from}", self.icmp_type, self.code),
            None => format!("{v} {}/{}", self.icmp_type, self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(t: u8, c: u8, from: &str) -> IcmpError {
        IcmpError {
            icmp_type: t,
            code: c,
            from: Some(from.parse().expect("test address")),
            v6: false,
        }
    }

    #[test]
    fn icmpv4_codes_map_to_the_documented_states() {
        let target: IpAddr = "10.0.0.2".parse().expect("test address");
        let cases = [
            (3, 0, "10.0.0.1", State::Unreachable, "net-unreach"),
            (3, 1, "10.0.0.1", State::Unreachable, "host-unreach"),
            (3, 3, "10.0.0.2", State::Closed, "port-unreach"),
            (3, 3, "10.0.0.1", State::Filtered, "port-unreach"),
            (3, 9, "10.0.0.1", State::Rejected, "net-prohibited"),
            (3, 10, "10.0.0.1", State::Rejected, "host-prohibited"),
            (3, 13, "10.0.0.2", State::Rejected, "admin-prohibited"),
            (11, 0, "10.0.0.1", State::Unreachable, "time-exceeded"),
            (3, 4, "10.0.0.1", State::Unreachable, "icmp-3-4"),
        ];
        for (t, c, from, state, reason) in cases {
            let (s, r) = v4(t, c, from).classify(target);
            assert_eq!(
                (s, r.as_str().as_ref()),
                (state, reason),
                "icmp {t}/{c} from {from}"
            );
        }
    }

    #[test]
    fn icmpv6_port_unreachable_from_the_target_is_closed() {
        let target: IpAddr = "fd00::2".parse().expect("test address");
        let err = IcmpError {
            icmp_type: 1,
            code: 4,
            from: Some(target),
            v6: true,
        };
        assert_eq!(err.classify(target), (State::Closed, Reason::PortUnreach));
        let admin = IcmpError { code: 1, ..err };
        assert_eq!(
            admin.classify(target),
            (State::Rejected, Reason::AdminProhibited)
        );
    }
}
