//! Small value types of the model: IP protocol, port sets, rule actions and directions.
//!
//! Each parses from the spellings that the providers and the native YAML use, and prints back in
//! the native spelling, so that `probe import` round-trips.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IP protocol as security groups and ACLs match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum IpProto {
    /// Every protocol, every port (`-1`, `all`, `any`).
    #[default]
    Any,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Another IANA protocol number; all ports match.
    Other(u8),
}

impl IpProto {
    /// The IANA protocol number, `None` for [`IpProto::Any`].
    pub fn number(self) -> Option<u8> {
        match self {
            IpProto::Any => None,
            IpProto::Tcp => Some(6),
            IpProto::Udp => Some(17),
            IpProto::Icmp => Some(1),
            IpProto::Icmpv6 => Some(58),
            IpProto::Other(n) => Some(n),
        }
    }

    /// The protocol for an IANA number.
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => IpProto::Tcp,
            17 => IpProto::Udp,
            1 => IpProto::Icmp,
            58 => IpProto::Icmpv6,
            n => IpProto::Other(n),
        }
    }

    /// Whether rules of this protocol match on ports (tcp and udp only).
    pub fn has_ports(self) -> bool {
        matches!(self, IpProto::Tcp | IpProto::Udp)
    }

    /// Whether rules of this protocol match on ICMP type and code.
    pub fn is_icmp(self) -> bool {
        matches!(self, IpProto::Icmp | IpProto::Icmpv6)
    }

    /// Whether a rule of protocol `self` matches a packet of protocol `packet`.
    pub fn matches(self, packet: IpProto) -> bool {
        self == IpProto::Any || self == packet
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProto::Any => f.write_str("any"),
            IpProto::Tcp => f.write_str("tcp"),
            IpProto::Udp => f.write_str("udp"),
            IpProto::Icmp => f.write_str("icmp"),
            IpProto::Icmpv6 => f.write_str("icmpv6"),
            IpProto::Other(n) => write!(f, "{n}"),
        }
    }
}

/// A protocol spelling that is neither a known name nor a number from 0 to 255.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?} (use tcp, udp, icmp, icmpv6, any/-1, or a number 0-255)")]
pub struct ProtoError(pub String);

impl FromStr for IpProto {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "-1" | "all" | "any" | "*" => Ok(IpProto::Any),
            "tcp" => Ok(IpProto::Tcp),
            "udp" => Ok(IpProto::Udp),
            "icmp" => Ok(IpProto::Icmp),
            "icmpv6" | "ipv6-icmp" | "icmp6" => Ok(IpProto::Icmpv6),
            other => other
                .parse::<u8>()
                .map(IpProto::from_number)
                .map_err(|_| ProtoError(s.to_string())),
        }
    }
}

impl Serialize for IpProto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IpProto::Other(n) => s.serialize_u8(*n),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for IpProto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IpProto;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a protocol: tcp, udp, icmp, icmpv6, any, or a number 0-255")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IpProto, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IpProto, E> {
                match v {
                    -1 => Ok(IpProto::Any),
                    0..=255 => Ok(IpProto::from_number(v as u8)),
                    _ => Err(E::custom(ProtoError(v.to_string()))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IpProto, E> {
                u8::try_from(v)
                    .map(IpProto::from_number)
                    .map_err(|_| E::custom(ProtoError(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// An inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl From<std::ops::RangeInclusive<u16>> for PortRange {
    fn from(r: std::ops::RangeInclusive<u16>) -> Self {
        PortRange {
            from: *r.start(),
            to: *r.end(),
        }
    }
}

impl PortRange {
    /// Every port, 0-65535.
    pub const ALL: PortRange = PortRange {
        from: 0,
        to: u16::MAX,
    };
    /// The ephemeral range that load balancers and the ACL guidance use: 1024-65535.
    pub const EPHEMERAL: PortRange = PortRange {
        from: 1024,
        to: u16::MAX,
    };

    pub fn single(port: u16) -> Self {
        PortRange {
            from: port,
            to: port,
        }
    }

    pub fn contains(self, port: u16) -> bool {
        self.from <= port && port <= self.to
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// A set of destination ports: `80`, `80,443`, `8000-9000`, or a list of those. An empty set means
/// every port (as an absent port range does in both providers' formats).
///
/// Equality follows the meaning: every set that contains 0-65535 equals the empty set, so `ports:
/// 0-65535` and the omitted `ports` that it renders as are the same model.
#[derive(Debug, Clone, Default)]
pub struct PortSet(pub Vec<PortRange>);

impl PartialEq for PortSet {
    fn eq(&self, other: &Self) -> bool {
        match (self.is_any(), other.is_any()) {
            (true, true) => true,
            (false, false) => self.0 == other.0,
            _ => false,
        }
    }
}

impl Eq for PortSet {}

impl std::hash::Hash for PortSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `eq`: every "any" hashes alike.
        if self.is_any() {
            state.write_u8(0);
        } else {
            state.write_u8(1);
            self.0.hash(state);
        }
    }
}

impl PortSet {
    /// Every port.
    pub fn any() -> Self {
        PortSet(Vec::new())
    }

    pub fn single(port: u16) -> Self {
        PortSet(vec![PortRange::single(port)])
    }

    pub fn range(from: u16, to: u16) -> Self {
        PortSet(vec![PortRange { from, to }])
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty() || self.0.contains(&PortRange::ALL)
    }

    pub fn contains(&self, port: u16) -> bool {
        self.is_any() || self.0.iter().any(|r| r.contains(port))
    }

    /// The ranges, or `[0-65535]` for "any". A slice of the set itself: nothing is allocated.
    #[inline]
    pub fn ranges(&self) -> &[PortRange] {
        if self.0.is_empty() {
            const EVERY_PORT: &[PortRange] = &[PortRange::ALL];
            EVERY_PORT
        } else {
            &self.0
        }
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// A port list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ports {value:?}: {reason} (use 80, 80,443 or 8000-9000)")]
pub struct PortError {
    pub value: String,
    pub reason: String,
}

impl FromStr for PortSet {
    type Err = PortError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| PortError {
            value: s.to_string(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("any") || t == "all" || t == "-1" {
            return Ok(PortSet::any());
        }
        let port = |p: &str| -> Result<u16, PortError> {
            let p = p.trim();
            p.parse::<u32>()
                .ok()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| err(format!("{p:?} is not a port from 0 to 65535")))
        };
        let mut ranges = Vec::new();
        for part in t.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(err("empty item in the list".to_string()));
            }
            let range = match part.split_once('-') {
                Some((a, b)) => {
                    let (from, to) = (port(a)?, port(b)?);
                    if from > to {
                        return Err(err(format!("range {part} runs backwards")));
                    }
                    PortRange { from, to }
                }
                None => PortRange::single(port(part)?),
            };
            ranges.push(range);
        }
        Ok(PortSet(ranges))
    }
}

impl Serialize for PortSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [r] if r.from == r.to => s.serialize_u16(r.from),
            _ => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for PortSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PortSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("ports: 80, \"80,443\", \"8000-9000\" or a list of those")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSet, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSet, E> {
                u16::try_from(v).map(PortSet::single).map_err(|_| {
                    E::custom(PortError {
                        value: v.to_string(),
                        reason: "not a port from 0 to 65535".to_string(),
                    })
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSet, E> {
                if v == -1 {
                    return Ok(PortSet::any());
                }
                u64::try_from(v)
                    .map_err(|_| {
                        E::custom(PortError {
                            value: v.to_string(),
                            reason: "not a port from 0 to 65535".to_string(),
                        })
                    })
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PortSet, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<PortSet>()? {
                    if item.is_any() {
                        return Ok(PortSet::any());
                    }
                    out.extend(item.0);
                }
                Ok(PortSet(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether a rule lets a packet through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Allow,
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

/// Traffic direction relative to the interface (security groups) or subnet (ACLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Inbound.
    #[serde(alias = "inbound")]
    Ingress,
    /// Outbound.
    #[serde(alias = "outbound")]
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_addresses_are_refused_with_the_value_and_the_reason() {
        use super::net::{parse_address, parse_cidr};
        assert_eq!(
            parse_cidr("10.0.0.0/16").map(|n| n.to_string()),
            Ok("10.0.0.0/16".into())
        );
        let e = |s: &str| parse_cidr(s).expect_err(s);
        assert_eq!(
            e("10.0.0.0/33"),
            "invalid CIDR \"10.0.0.0/33\": prefix length 33 is longer than 32"
        );
        assert_eq!(
            e("2001:db8::/129"),
            "invalid CIDR \"2001:db8::/129\": prefix length 129 is longer than 128"
        );
        assert!(e("10.0.1.5").contains("write 10.0.1.5/32"));
        assert!(e("10.0.300.0/24").contains("\"10.0.300.0\" is not an IP address"));
        assert!(e("10.0.0.0/x").contains("\"x\" is not a prefix length"));
        assert!(e("web").contains("not an address/prefix-length"));
        assert!(
            parse_address("10.0.1.300")
                .expect_err("bad")
                .contains("\"10.0.1.300\"")
        );
    }

    #[test]
    fn protocols_parse_in_every_provider_spelling() {
        for (s, p) in [
            ("-1", IpProto::Any),
            ("tcp", IpProto::Tcp),
            ("TCP", IpProto::Tcp),
            ("6", IpProto::Tcp),
            ("17", IpProto::Udp),
            ("1", IpProto::Icmp),
            ("icmpv6", IpProto::Icmpv6),
            ("58", IpProto::Icmpv6),
            ("47", IpProto::Other(47)),
        ] {
            assert_eq!(s.parse::<IpProto>(), Ok(p), "{s}");
        }
        assert!("gre".parse::<IpProto>().is_err());
        assert!("256".parse::<IpProto>().is_err());
    }

    #[test]
    fn port_sets_parse_lists_and_ranges() {
        let p: PortSet = "80, 443,8000-9000".parse().expect("valid");
        assert!(p.contains(80) && p.contains(443) && p.contains(8500));
        assert!(!p.contains(81) && !p.contains(9001));
        assert_eq!(p.to_string(), "80,443,8000-9000");
        assert!("".parse::<PortSet>().expect("any").contains(1));
        for bad in ["70000", "90-80", "80,,81", "http"] {
            assert!(bad.parse::<PortSet>().is_err(), "{bad}");
        }
    }

    /// Found by the `yaml_config` fuzz target: `ports: 0-65535` renders as an omitted `ports`
    /// (every port), which parsed back to a model that compared unequal to the original.
    #[test]
    fn every_spelling_of_all_ports_is_the_same_set() {
        let all: PortSet = "0-65535".parse().expect("valid");
        assert_eq!(all, PortSet::any());
        assert_eq!("80,0-65535".parse::<PortSet>(), Ok(PortSet::any()));
        assert_ne!(PortSet::range(0, 65534), PortSet::any());
        assert_ne!(PortSet::single(80), PortSet::any());
        use std::hash::BuildHasher;
        let state = std::hash::RandomState::new();
        assert_eq!(state.hash_one(&all), state.hash_one(PortSet::any()));
    }
}

/// Addresses and CIDRs read with messages that name the bad value and say what is wrong with it
/// (serde's own say only "invalid IP address syntax"). For `#[serde(deserialize_with)]`.
pub mod net {
    use std::fmt;
    use std::marker::PhantomData;
    use std::net::IpAddr;

    use ipnet::IpNet;
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer};

    /// `10.0.0.0/16` or `2001:db8::/32`; a bare address is refused (it is a CIDR with a prefix
    /// length the reader would have to guess).
    pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(net);
        }
        let bad = |why: String| format!("invalid CIDR {s:?}: {why}");
        let Some((addr, len)) = s.split_once('/') else {
            return Err(match s.parse::<IpAddr>() {
                Ok(a) => bad(format!(
                    "no prefix length (write {a}/{} for one address)",
                    if a.is_ipv4() { 32 } else { 128 }
                )),
                Err(_) => bad("not an address/prefix-length such as 10.0.0.0/16".to_string()),
            });
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad(format!("{addr:?} is not an IP address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match len.parse::<u32>() {
            Ok(n) if n > max => Err(bad(format!("prefix length {n} is longer than {max}"))),
            _ => Err(bad(format!("{len:?} is not a prefix length (0-{max})"))),
        }
    }

    /// An IPv4 or IPv6 address.
    pub fn parse_address(s: &str) -> Result<IpAddr, String> {
        s.parse()
            .map_err(|_| format!("invalid IP address {s:?}: expected e.g. 10.0.1.5 or 2001:db8::5"))
    }

    struct Text<T>(fn(&str) -> Result<T, String>, &'static str, PhantomData<T>);

    impl<T> Visitor<'_> for Text<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.1)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
    }

    struct Cidr(IpNet);

    impl<'de> Deserialize<'de> for Cidr {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(Text(parse_cidr, "a CIDR such as 10.0.0.0/16", PhantomData))
                .map(Cidr)
        }
    }

    struct Address(IpAddr);

    impl<'de> Deserialize<'de> for Address {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(Text(
                parse_address,
                "an IP address such as 10.0.1.5",
                PhantomData,
            ))
            .map(Address)
        }
    }

    /// A port number 0-65535 (0 is refused later, with the field's own reason).
    struct Port;

    impl Visitor<'_> for Port {
        type Value = u16;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a port number from 1 to 65535")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            u16::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
            u16::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
    }

    struct PortNumber(u16);

    impl<'de> Deserialize<'de> for PortNumber {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_u64(Port).map(PortNumber)
        }
    }

    /// A port: "expected a port number from 1 to 65535" rather than "expected u16".
    pub fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        PortNumber::deserialize(d).map(|p| p.0)
    }

    /// An optional port (with `#[serde(default)]`).
    pub fn opt_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        Option::<PortNumber>::deserialize(d).map(|p| p.map(|p| p.0))
    }

    /// A CIDR.
    pub fn cidr<'de, D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
        Cidr::deserialize(d).map(|c| c.0)
    }

    /// An optional CIDR (with `#[serde(default)]`).
    pub fn opt_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
        Option::<Cidr>::deserialize(d).map(|c| c.map(|c| c.0))
    }

    /// A list of CIDRs.
    pub fn cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<Cidr>::deserialize(d).map(|v| v.into_iter().map(|c| c.0).collect())
    }

    /// An optional list of CIDRs (with `#[serde(default)]`).
    pub fn opt_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<IpNet>>, D::Error> {
        Option::<Vec<Cidr>>::deserialize(d).map(|v| v.map(|v| v.into_iter().map(|c| c.0).collect()))
    }

    /// An address.
    pub fn address<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
        Address::deserialize(d).map(|a| a.0)
    }

    /// An optional address (with `#[serde(default)]`).
    pub fn opt_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        Option::<Address>::deserialize(d).map(|a| a.map(|a| a.0))
    }
}
