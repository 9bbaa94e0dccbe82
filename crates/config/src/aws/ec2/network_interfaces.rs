//! Network interfaces (`aws ec2 describe-network-interfaces`, key `NetworkInterfaces`): the only
//! place a dump shows a load balancer's own addresses (its nodes, one per enabled zone), and the
//! interfaces of IP targets that are not instances (containers, other services).
//!
//! A load balancer's interfaces are told by their `Description`, as AWS's Knowledge Center
//! finds them: `ELB app/NAME/ID` (ALB), `ELB net/NAME/ID` (NLB), `ELB gwy/NAME/ID` (GWLB) and
//! `ELB NAME` (Classic). AWS documents only the ALB form; the others are what AWS prints in
//! practice. An interface of type `network_load_balancer` whose description has none of these
//! forms is named in a warning.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::super::Dump;
use super::RawGroupRef;
use crate::ConfigError;
use crate::import::{DumpFile, Family, Kind};
use probe_model::LbNode;

pub(in crate::aws) const FAMILY: Family<Dump> = Family {
    keys: &["NetworkInterfaces"],
    wrappers: &[],
    add,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    network_interfaces: Option<Vec<RawNetworkInterface>>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    let enis = file.listed(
        "NetworkInterfaces",
        doc.network_interfaces.into_iter().flatten(),
    );
    dump.network_interfaces
        .extend(enis, |e| Some(e.network_interface_id.as_str()));
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a network interface object")]
pub(in crate::aws) struct RawNetworkInterface {
    network_interface_id: String,
    description: Option<String>,
    interface_type: Option<String>,
    #[serde(deserialize_with = "probe_model::values::net::opt_address", default)]
    private_ip_address: Option<IpAddr>,
    #[serde(default)]
    private_ip_addresses: Vec<RawEniAddress>,
    subnet_id: Option<String>,
    #[serde(default)]
    groups: Vec<RawGroupRef>,
    /// The public (elastic) address of the primary private address.
    association: Option<RawAssociation>,
}

impl Kind for RawNetworkInterface {
    const WHAT: &str = "network interface";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a private address object")]
struct RawEniAddress {
    #[serde(deserialize_with = "probe_model::values::net::address")]
    private_ip_address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an association object")]
struct RawAssociation {
    #[serde(deserialize_with = "probe_model::values::net::opt_address", default)]
    public_ip: Option<IpAddr>,
}

/// Whose interface it is, by its description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(in crate::aws) enum LbOwner {
    /// `app/NAME/ID`, `net/NAME/ID` or `gwy/NAME/ID`: the tail of the load balancer's ARN.
    V2(String),
    /// A Classic Load Balancer's name.
    Classic(String),
}

impl LbOwner {
    fn of(description: &str) -> Option<LbOwner> {
        let rest = description.strip_prefix("ELB ")?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [kind, name, id]
                if ["app", "net", "gwy"].contains(kind) && !name.is_empty() && !id.is_empty() =>
            {
                Some(LbOwner::V2(rest.to_string()))
            }
            [name] if !name.is_empty() && !name.contains(' ') => {
                Some(LbOwner::Classic(name.to_string()))
            }
            _ => None,
        }
    }
}

/// One load balancer interface: a node and the security groups on it.
#[derive(Debug, Clone)]
pub(in crate::aws) struct LbInterface {
    pub node: LbNode,
    pub groups: Vec<String>,
}

/// Everything the interfaces say: load balancer nodes by owner, and the other interfaces by
/// address (subnet and security groups), for IP targets and the agent.
#[derive(Debug, Default)]
pub(in crate::aws) struct Enis {
    pub lb: HashMap<LbOwner, Vec<LbInterface>>,
    pub others: Vec<(IpAddr, Option<String>, Vec<String>)>,
}

impl Dump {
    pub(in crate::aws) fn enis(&self) -> Enis {
        let mut out = Enis::default();
        for e in self.network_interfaces.iter() {
            let raw = &e.value;
            let groups: Vec<String> = raw.groups.iter().map(|g| g.group_id.clone()).collect();
            let owner = raw.description.as_deref().and_then(LbOwner::of);
            match (owner, raw.private_ip_address) {
                (Some(owner), Some(address)) => {
                    out.lb.entry(owner).or_default().push(LbInterface {
                        node: LbNode {
                            address,
                            subnet: raw.subnet_id.clone(),
                            public_address: raw.association.as_ref().and_then(|a| a.public_ip),
                        },
                        groups,
                    });
                }
                (Some(_), None) => {}
                (None, _) if raw.interface_type.as_deref() == Some("network_load_balancer") => {
                    tracing::warn!(
                        "{}: {}: network load balancer interface {} has the description {:?}, \
                         not `ELB net/NAME/ID`: its load balancer is unknown and it is left out",
                        e.file.display(),
                        e.path,
                        raw.network_interface_id,
                        raw.description.as_deref().unwrap_or("")
                    );
                }
                (None, _) => {
                    let addresses = raw.private_ip_address.into_iter().chain(
                        raw.private_ip_addresses
                            .iter()
                            .map(|a| a.private_ip_address),
                    );
                    for address in addresses {
                        out.others
                            .push((address, raw.subnet_id.clone(), groups.clone()));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::LbOwner;

    #[test]
    fn descriptions_name_their_load_balancer() {
        let v2 = |s: &str| Some(LbOwner::V2(s.to_string()));
        assert_eq!(LbOwner::of("ELB app/web/5f3c2a1b"), v2("app/web/5f3c2a1b"));
        assert_eq!(LbOwner::of("ELB net/tcp/0a1b"), v2("net/tcp/0a1b"));
        assert_eq!(
            LbOwner::of("ELB legacy-web"),
            Some(LbOwner::Classic("legacy-web".to_string()))
        );
        for other in [
            "",
            "ELB ",
            "ELB app/web",
            "Primary network interface",
            "ELB a b",
        ] {
            assert_eq!(LbOwner::of(other), None, "{other:?}");
        }
    }
}
