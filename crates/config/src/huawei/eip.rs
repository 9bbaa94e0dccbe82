//! EIP: the elastic public IPs, for which load balancers are internet-facing.
//!
//! | top-level key            | call                                              | becomes                         |
//! |--------------------------|---------------------------------------------------|---------------------------------|
//! | `publicips` / `publicip` | EIP `ListPublicips` (v1 `/v1/{project_id}/publicips` or v3 `/v3/{project_id}/eip/publicips`) | load balancers' `scheme` and nodes |
//!
//! An EIP is bound to a port: v1 says so in `port_id`, v3 in `vnic.port_id` and, for load
//! balancers, `associate_instance_type` (`ELB`, `ELBV1`) with `associate_instance_id`. A load
//! balancer whose `vip_port_id` (or id) an EIP names is internet-facing, as is one whose own
//! `eips` / `publicips` list is not empty.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::values::{de, text};
use super::{Dump, responses};
use crate::ConfigError;
use crate::import::{DumpFile, Family, Item};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &["publicips", "publicip"],
    wrappers: &[],
    add,
};

#[derive(Debug, Default, Deserialize, PartialEq)]
struct Doc {
    #[serde(default, deserialize_with = "de::null_default")]
    publicips: Vec<RawPublicIp>,
    #[serde(default)]
    publicip: Option<RawPublicIp>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let d: Doc = file.parse()?;
    dump.publicips
        .extend(responses(file, "publicip", d.publicips, d.publicip));
    Ok(())
}

/// An EIP, v1 (SDK `PublicipShowResp`) or v3 (`PublicipSingleShowResp`). Both versions may be
/// dumped; an EIP seen twice binds what either copy says.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a public IP (EIP) object")]
pub(super) struct RawPublicIp {
    /// `4` or `6`: which of the two addresses is the public one.
    #[serde(default)]
    ip_version: Option<u8>,
    #[serde(default, deserialize_with = "de::opt_ip")]
    public_ip_address: Option<IpAddr>,
    #[serde(default, deserialize_with = "de::opt_ip")]
    public_ipv6_address: Option<IpAddr>,
    /// v1: the port it is bound to.
    #[serde(default)]
    port_id: Option<String>,
    /// v3: the port it is bound to.
    #[serde(default)]
    vnic: Option<RawVnic>,
    /// v3: `PORT`, `NATGW`, `ELB`, `ELBV1`, `VPN`, or null.
    #[serde(default)]
    associate_instance_type: Option<String>,
    #[serde(default)]
    associate_instance_id: Option<String>,
}

/// SDK `VnicInfo` (v3).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a vnic object")]
struct RawVnic {
    #[serde(default)]
    port_id: Option<String>,
}

impl RawPublicIp {
    /// The public address: `public_ipv6_address` for an IPv6 EIP, else `public_ip_address`
    /// (which v3 fills for both).
    fn address(&self) -> Option<IpAddr> {
        if self.ip_version == Some(6) {
            self.public_ipv6_address.or(self.public_ip_address)
        } else {
            self.public_ip_address.or(self.public_ipv6_address)
        }
    }

    /// What it is bound to: ports, and a load balancer by id.
    fn bound_to(&self) -> impl Iterator<Item = &str> {
        let lb = self
            .associate_instance_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("ELB") || t.eq_ignore_ascii_case("ELBV1"))
            .then(|| text(&self.associate_instance_id))
            .flatten();
        text(&self.port_id)
            .into_iter()
            .chain(self.vnic.as_ref().and_then(|v| text(&v.port_id)))
            .chain(lb)
    }
}

/// Public addresses by the port (or load balancer id) they are bound to, each once, in dump
/// order.
#[derive(Debug, Default)]
pub(super) struct EipIndex {
    by_port: HashMap<String, Vec<IpAddr>>,
    /// Whether any EIP was dumped: without a dump, load balancers that list no EIPs of their
    /// own are not known to be internal.
    pub(super) dumped: bool,
}

impl EipIndex {
    pub(super) fn build(items: &[Item<RawPublicIp>]) -> Self {
        let mut index = EipIndex {
            dumped: !items.is_empty(),
            ..EipIndex::default()
        };
        for item in items {
            let e = &item.value;
            let Some(addr) = e.address() else {
                continue;
            };
            for port in e.bound_to() {
                let list = index.by_port.entry(port.to_string()).or_default();
                if !list.contains(&addr) {
                    list.push(addr);
                }
            }
        }
        index
    }

    /// The public addresses bound to any of `ports`.
    pub(super) fn bound(&self, ports: &[&str]) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for a in ports.iter().filter_map(|p| self.by_port.get(*p)).flatten() {
            if !out.contains(a) {
                out.push(*a);
            }
        }
        out
    }
}
