//! Flows as users write them: the packet a flow carries, where it goes (`10.0.1.5:22/tcp`) and
//! where it comes from (`agent`, `lb:web`, an address or a CIDR). Parsed when read, by the
//! configuration's `expectations:` and by `probe explain`, so nothing downstream parses strings.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::IpProto;

/// The packet of a flow: protocol with destination port, or ICMP type and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packet {
    Tcp(u16),
    Udp(u16),
    /// ICMP (v4 or v6 by the addresses' family).
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    /// Another IP protocol: ports do not apply.
    Other(u8),
}

impl Packet {
    /// A packet to `port` over a transport: UDP for udp, TCP for anything else.
    pub fn transport(proto: IpProto, port: u16) -> Self {
        match proto {
            IpProto::Udp => Packet::Udp(port),
            _ => Packet::Tcp(port),
        }
    }

    /// An echo request of the right ICMP family.
    pub fn echo_request(v6: bool) -> Self {
        Packet::Icmp {
            icmp_type: if v6 { 128 } else { 8 },
            code: 0,
        }
    }

    /// The IP protocol that carries it (ICMP's by the addresses' family).
    pub fn ip_proto(self, v6: bool) -> IpProto {
        match self {
            Packet::Tcp(_) => IpProto::Tcp,
            Packet::Udp(_) => IpProto::Udp,
            Packet::Icmp { .. } if v6 => IpProto::Icmpv6,
            Packet::Icmp { .. } => IpProto::Icmp,
            Packet::Other(n) => IpProto::from_number(n),
        }
    }

    pub fn port(self) -> Option<u16> {
        match self {
            Packet::Tcp(p) | Packet::Udp(p) => Some(p),
            _ => None,
        }
    }

    /// `tcp/8081`, `udp/53`, `icmp type 8`.
    pub fn describe(self, v6: bool) -> String {
        match self {
            Packet::Tcp(p) => format!("tcp/{p}"),
            Packet::Udp(p) => format!("udp/{p}"),
            Packet::Icmp { icmp_type, code } => format!(
                "{} type {icmp_type} code {code}",
                if v6 { "icmpv6" } else { "icmp" }
            ),
            Packet::Other(n) => format!("protocol {n}"),
        }
    }
}

/// A flow destination as users write it: `10.0.1.5:22/tcp`, `[2001:db8::5]:53/udp`,
/// `10.0.1.5/icmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTarget {
    pub addr: IpAddr,
    pub packet: Packet,
}

impl fmt::Display for FlowTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.packet {
            Packet::Tcp(p) | Packet::Udp(p) => {
                let proto = if matches!(self.packet, Packet::Tcp(_)) {
                    "tcp"
                } else {
                    "udp"
                };
                match self.addr {
                    IpAddr::V6(a) => write!(f, "[{a}]:{p}/{proto}"),
                    IpAddr::V4(a) => write!(f, "{a}:{p}/{proto}"),
                }
            }
            _ => write!(
                f,
                "{}/{}",
                self.addr,
                self.packet.describe(self.addr.is_ipv6())
            ),
        }
    }
}

/// Parses `ADDR:PORT/PROTO` (tcp or udp) or `ADDR/icmp`.
pub fn parse_flow_target(s: &str) -> Result<FlowTarget, String> {
    let bad = |why: &str| {
        format!("invalid flow target {s:?}: {why} (use ADDR:PORT/tcp, ADDR:PORT/udp or ADDR/icmp)")
    };
    let (hostport, proto) = s
        .rsplit_once('/')
        .ok_or_else(|| bad("no /PROTO at the end"))?;
    let proto = proto.to_ascii_lowercase();
    if proto == "icmp" || proto == "icmpv6" {
        let addr: IpAddr = hostport
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad("not an IP address"))?;
        return Ok(FlowTarget {
            addr,
            packet: Packet::echo_request(addr.is_ipv6()),
        });
    }
    let sa: std::net::SocketAddr = hostport
        .parse()
        .map_err(|_| bad("not ADDR:PORT (IPv6 as [ADDR]:PORT)"))?;
    if sa.port() == 0 {
        return Err(bad("port 0"));
    }
    let packet = match proto.as_str() {
        "tcp" => Packet::Tcp(sa.port()),
        "udp" => Packet::Udp(sa.port()),
        other => return Err(bad(&format!("unknown protocol {other:?}"))),
    };
    Ok(FlowTarget {
        addr: sa.ip(),
        packet,
    })
}

/// Where a flow comes from, as users write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The agent (its address and security groups).
    Agent,
    /// Every load balancer's health-check source, or one by name.
    Lb(Option<String>),
    /// An address: a known interface if the model has one there.
    Addr(IpAddr),
    /// A range without security groups.
    Net(IpNet),
    /// A load balancer's clients: the internet for an internet-facing one, its network for an
    /// internal one, or its configured client ranges.
    Clients,
}

/// Parses `agent`, `lb`, `lb:NAME`, `clients`, an address or a CIDR.
pub fn parse_source(s: &str) -> Result<SourceSpec, String> {
    let t = s.trim();
    if t == "agent" {
        return Ok(SourceSpec::Agent);
    }
    if t == "lb" {
        return Ok(SourceSpec::Lb(None));
    }
    if t == "clients" {
        return Ok(SourceSpec::Clients);
    }
    if let Some(name) = t.strip_prefix("lb:") {
        return Ok(SourceSpec::Lb(Some(name.to_string())));
    }
    if let Ok(a) = t.parse::<IpAddr>() {
        return Ok(SourceSpec::Addr(a));
    }
    t.parse::<IpNet>().map(SourceSpec::Net).map_err(|_| {
        format!("invalid flow source {s:?} (use agent, lb, lb:NAME, clients, an address or a CIDR)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn flow_targets_and_sources_parse_and_name_bad_values() {
        assert_eq!(
            parse_flow_target("10.0.1.5:22/tcp"),
            Ok(FlowTarget {
                addr: ip("10.0.1.5"),
                packet: Packet::Tcp(22)
            })
        );
        assert_eq!(
            parse_flow_target("[2001:db8::5]:53/udp").map(|t| t.packet),
            Ok(Packet::Udp(53))
        );
        assert_eq!(
            parse_flow_target("10.0.1.5/icmp").map(|t| t.packet),
            Ok(Packet::echo_request(false))
        );
        for bad in [
            "10.0.1.5:22",
            "10.0.1.5:0/tcp",
            "web:80/tcp",
            "10.0.1.5:80/sctp",
        ] {
            let e = parse_flow_target(bad).expect_err(bad);
            assert!(e.contains(bad), "{e}");
        }
        assert_eq!(
            parse_source("lb:web"),
            Ok(SourceSpec::Lb(Some("web".into())))
        );
        assert!(parse_source("10.0.0.0/33").is_err());
    }
}
