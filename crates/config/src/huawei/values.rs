//! The Huawei APIs' loose values, shared by every family: strings that may be blank, addresses
//! and CIDRs in several spellings, numbers sent as strings, and the address family of a rule.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use serde::Deserialize;

/// `Some` for a non-blank string: the API sends `""` and `null` alike for "not set".
pub(super) fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn owned(s: &Option<String>) -> Option<String> {
    text(s).map(str::to_string)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum EtherType {
    #[serde(rename = "IPv4", alias = "ipv4", alias = "IPV4")]
    V4,
    #[serde(rename = "IPv6", alias = "ipv6", alias = "IPV6")]
    V6,
}

impl EtherType {
    /// Every address of the family: what a rule without a remote side matches.
    pub(super) fn any(self) -> IpNet {
        match self {
            EtherType::V4 => IpNet::V4(Ipv4Net::default()),
            EtherType::V6 => IpNet::V6(Ipv6Net::default()),
        }
    }

    pub(super) fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => EtherType::V4,
            IpNet::V6(_) => EtherType::V6,
        }
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an IP entry object")]
pub(super) struct RawIpInfo {
    /// An address, a CIDR or a range `a-b`.
    #[serde(deserialize_with = "de::address_entry")]
    pub(super) ip: Vec<IpNet>,
}

/// Deserializers for the API's loose scalars. Errors raised here carry the file, line, column and
/// field path like any serde error.
pub(super) mod de {
    use std::fmt;
    use std::net::IpAddr;

    use ipnet::IpNet;
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer};

    use probe_model::{IpProto, PortSet};

    /// `null` reads as the default (an empty list), as an absent key does.
    pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }

    /// A value the API sends as a string in one version and a number in another.
    enum Scalar {
        Null,
        Str(String),
        Int(i64),
    }

    impl<'de> Deserialize<'de> for Scalar {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Scalar;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string, a number or null")
                }
                fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                    Ok(Scalar::Null)
                }
                fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                    Ok(Scalar::Null)
                }
                fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Scalar, D2::Error> {
                    Scalar::deserialize(d)
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                    let t = v.trim();
                    Ok(if t.is_empty() {
                        Scalar::Null
                    } else {
                        Scalar::Str(t.to_string())
                    })
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                    Ok(Scalar::Int(v))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                    i64::try_from(v)
                        .map(Scalar::Int)
                        .map_err(|_| E::custom(format!("{v} is too large")))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// An address or nothing (`null`, `""`).
    pub(crate) fn opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) if !s.trim().is_empty() => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("invalid IP address {s:?}"))),
            _ => Ok(None),
        }
    }

    /// A CIDR or a single address (`/32`, `/128`), or nothing.
    pub(crate) fn opt_net<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) if !s.trim().is_empty() => {
                super::parse_net(&s).map(Some).map_err(de::Error::custom)
            }
            _ => Ok(None),
        }
    }

    /// One address-group entry: an address, a CIDR, or a range `a-b` split into CIDRs.
    pub(crate) fn address_entry<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_address_entry(&s).map_err(de::Error::custom)
    }

    /// A list of address-group entries, flattened.
    pub(crate) fn address_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        let list = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        let mut out = Vec::new();
        for s in list {
            out.extend(super::parse_address_entry(&s).map_err(de::Error::custom)?);
        }
        Ok(out)
    }

    /// `tcp`, `UDP`, `icmp`, a number, `any`; `null` and `""` mean every protocol.
    pub(crate) fn opt_proto<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpProto>, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Null => Ok(None),
            Scalar::Str(s) => s.parse().map(Some).map_err(de::Error::custom),
            Scalar::Int(-1) => Ok(Some(IpProto::Any)),
            Scalar::Int(n) => u8::try_from(n)
                .map(|n| Some(IpProto::from_number(n)))
                .map_err(|_| de::Error::custom(format!("protocol number {n} is outside 0-255"))),
        }
    }

    /// `"80"`, `"80,443"`, `"8000-9000"`, a number; `null` and `""` mean every port.
    pub(crate) fn opt_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PortSet>, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Null => Ok(None),
            Scalar::Str(s) => s.parse().map(Some).map_err(de::Error::custom),
            Scalar::Int(n) => u16::try_from(n)
                .map(|p| Some(PortSet::single(p)))
                .map_err(|_| de::Error::custom(format!("{n} is not a port from 0 to 65535"))),
        }
    }

    fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Null => Ok(None),
            Scalar::Int(n) => Ok(Some(n)),
            Scalar::Str(s) => s
                .parse()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{s:?} is not a number"))),
        }
    }

    /// A small number sent as a number or a numeric string (rule priorities).
    pub(crate) fn opt_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        match opt_int(d)? {
            None => Ok(None),
            Some(n) => u16::try_from(n)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{n} is out of range"))),
        }
    }

    /// A port or ICMP type/code sent as a number or a numeric string; `-1`/`null` = not set.
    pub(crate) fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match opt_int(d)? {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{n} is out of range"))),
        }
    }
}

/// A CIDR (host bits cleared) or a single address as `/32` or `/128`.
fn parse_net(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    if t.contains('/') {
        probe_model::values::net::parse_cidr(t).map(|n| n.trunc())
    } else {
        t.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("invalid IP address {s:?}"))
    }
}

/// An address-group entry: `10.0.0.5`, `10.0.0.0/24`, or `10.0.0.5-10.0.0.20`, the range split
/// into the CIDRs that cover exactly it.
fn parse_address_entry(s: &str) -> Result<Vec<IpNet>, String> {
    let t = s.trim();
    let Some((a, b)) = t.split_once('-') else {
        return parse_net(t).map(|n| vec![n]);
    };
    let addr = |x: &str| {
        x.trim().parse::<IpAddr>().map_err(|_| {
            format!(
                "invalid address range {s:?}: {:?} is not an address",
                x.trim()
            )
        })
    };
    match (addr(a)?, addr(b)?) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {
            Ok(Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect())
        }
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {
            Ok(Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect())
        }
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Err(format!(
            "invalid address range {s:?}: the end is before the start"
        )),
        _ => Err(format!(
            "invalid address range {s:?}: it mixes IPv4 and IPv6"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::testing::net;

    #[test]
    fn address_entries() {
        assert_eq!(
            parse_address_entry("10.0.0.1").expect("ok"),
            vec![net("10.0.0.1/32")]
        );
        assert_eq!(
            parse_address_entry("2001:db8::1").expect("ok"),
            vec![net("2001:db8::1/128")]
        );
        assert_eq!(
            parse_address_entry("10.0.0.7/24").expect("ok"),
            vec![net("10.0.0.0/24")]
        );
        assert_eq!(
            parse_address_entry("2001:db8::-2001:db8::3").expect("ok"),
            vec![net("2001:db8::/126")]
        );
        assert_eq!(
            parse_address_entry("10.0.0.0-10.0.1.255").expect("ok"),
            vec![net("10.0.0.0/23")]
        );
        for bad in [
            "10.0.0.9-10.0.0.1",
            "10.0.0.1-2001:db8::1",
            "10.0.0.1-x",
            "nope",
            "10.0.0.0/40",
        ] {
            assert!(parse_address_entry(bad).is_err(), "{bad}");
        }
    }
}
