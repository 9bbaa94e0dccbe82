//! Network ACLs (`aws ec2 describe-network-acls`, key `NetworkAcls`): stateless, numbered
//! rules per subnet. The default entries (32767, and 32768 for IPv6) are dropped, as the model
//! implies the final deny, and a subnet no ACL lists goes to its VPC's default ACL.

use std::collections::HashSet;

use ipnet::IpNet;
use serde::Deserialize;

use super::security_groups::icmp;
use super::{RawTag, name_tag};
use crate::Origins;
use crate::aws::Dump;
use crate::import::{ImportError, Item, Kind};
use probe_model::{AclRule, Action, IpProto, NetworkAcl, PortSet};

/// The highest network ACL rule number a user can give.
const MAX_USER_RULE: u32 = 32766;

/// The unmodifiable default entries of a network ACL (IPv4, IPv6): dropped, as the model implies
/// the final deny.
const DEFAULT_RULES: [u32; 2] = [32767, 32768];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a network ACL object")]
pub(in crate::aws) struct RawNetworkAcl {
    pub(super) network_acl_id: String,
    #[serde(default)]
    is_default: bool,
    vpc_id: Option<String>,
    #[serde(default)]
    associations: Vec<RawAclAssociation>,
    #[serde(default)]
    entries: Vec<RawAclEntry>,
    #[serde(default)]
    tags: Vec<RawTag>,
}

impl Kind for RawNetworkAcl {
    const WHAT: &str = "network ACL";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an ACL association object")]
struct RawAclAssociation {
    subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an ACL entry object")]
struct RawAclEntry {
    rule_number: u32,
    #[serde(default)]
    egress: bool,
    /// A number as a string (`"6"`, `"-1"`); [`IpProto`] reads every spelling.
    protocol: IpProto,
    rule_action: Action,
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    cidr_block: Option<IpNet>,
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    ipv6_cidr_block: Option<IpNet>,
    port_range: Option<RawPortRange>,
    icmp_type_code: Option<RawIcmpTypeCode>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a port range object")]
struct RawPortRange {
    #[serde(deserialize_with = "probe_model::values::net::port")]
    from: u16,
    #[serde(deserialize_with = "probe_model::values::net::port")]
    to: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an ICMP type and code object")]
struct RawIcmpTypeCode {
    #[serde(rename = "Type")]
    icmp_type: Option<i64>,
    code: Option<i64>,
}

/// One network ACL, its default entries dropped and the others sorted by number.
fn network_acl(
    a: &Item<RawNetworkAcl>,
    i: usize,
    origins: &mut Origins,
) -> Result<NetworkAcl, ImportError> {
    let mut acl = NetworkAcl {
        id: a.value.network_acl_id.clone(),
        name: name_tag(&a.value.tags),
        stateful: false,
        subnets: Vec::new(),
        inbound: Vec::new(),
        outbound: Vec::new(),
    };
    for assoc in &a.value.associations {
        if !acl.subnets.contains(&assoc.subnet_id) {
            acl.subnets.push(assoc.subnet_id.clone());
        }
    }
    let (mut inbound, mut outbound) = (Vec::new(), Vec::new());
    for (j, e) in a.value.entries.iter().enumerate() {
        let field = format!("Entries[{j}]");
        if DEFAULT_RULES.contains(&e.rule_number) {
            continue;
        }
        if !(1..=MAX_USER_RULE).contains(&e.rule_number) {
            return Err(a.err(
                &format!("{field}.RuleNumber"),
                format!(
                    "{} is outside 1-{MAX_USER_RULE} ({} are the default entries)",
                    e.rule_number,
                    DEFAULT_RULES.map(|n| n.to_string()).join(" and ")
                ),
            ));
        }
        let rule = acl_rule(e, a, &field)?;
        if e.egress {
            outbound.push((rule, field));
        } else {
            inbound.push((rule, field));
        }
    }
    for (dir, rules, into) in [
        ("inbound", inbound, &mut acl.inbound),
        ("outbound", outbound, &mut acl.outbound),
    ] {
        let mut rules = rules;
        rules.sort_by_key(|(r, _)| r.number);
        for (j, (rule, field)) in rules.into_iter().enumerate() {
            a.field_origin(origins, format!("network_acls[{i}].{dir}[{j}]"), &field);
            into.push(rule);
        }
    }
    Ok(acl)
}

/// One network ACL entry, `field` of `acl`. Ports apply to tcp and udp only, ICMP type and code
/// to icmp(v6) only.
fn acl_rule(
    e: &RawAclEntry,
    acl: &Item<RawNetworkAcl>,
    field: &str,
) -> Result<AclRule, ImportError> {
    let ports = match (&e.port_range, e.protocol.has_ports()) {
        (Some(r), true) if r.from > r.to => {
            return Err(acl.err(
                &format!("{field}.PortRange"),
                format!("From {} is above To {}", r.from, r.to),
            ));
        }
        (Some(r), true) if (r.from, r.to) != (0, u16::MAX) => PortSet::range(r.from, r.to),
        _ => PortSet::any(),
    };
    let (icmp_type, icmp_code) = match (&e.icmp_type_code, e.protocol.is_icmp()) {
        (Some(tc), true) => {
            icmp(tc.icmp_type, tc.code).map_err(|m| acl.err(&format!("{field}.IcmpTypeCode"), m))?
        }
        _ => (None, None),
    };
    Ok(AclRule {
        number: e.rule_number,
        id: None,
        action: e.rule_action,
        protocol: e.protocol,
        ports,
        source_ports: PortSet::any(),
        icmp_type,
        icmp_code,
        cidr: e.cidr_block.or(e.ipv6_cidr_block),
        local_cidr: None,
    })
}

impl Dump {
    pub(in crate::aws) fn network_acls(
        &self,
        origins: &mut Origins,
    ) -> Result<Vec<NetworkAcl>, ImportError> {
        let mut out = Vec::new();
        for (i, a) in self.network_acls.iter().enumerate() {
            a.origin(origins, format!("network_acls[{i}]"));
            out.push(network_acl(a, i, origins)?);
        }
        self.add_default_associations(&mut out);
        Ok(out)
    }

    /// Every subnet has exactly one network ACL; AWS gives those nobody claims to the VPC's
    /// default ACL. Dumps normally list that association, filtered ones may not.
    fn add_default_associations(&self, acls: &mut [NetworkAcl]) {
        let associated: HashSet<String> = acls
            .iter()
            .flat_map(|a| a.subnets.iter().cloned())
            .collect();
        for s in self.subnets.iter() {
            let (Some(vpc), false) = (&s.value.vpc_id, associated.contains(&s.value.subnet_id))
            else {
                continue;
            };
            let default = self
                .network_acls
                .iter()
                .position(|a| a.value.is_default && a.value.vpc_id.as_ref() == Some(vpc));
            if let Some(acl) = default.and_then(|i| acls.get_mut(i)) {
                acl.subnets.push(s.value.subnet_id.clone());
            }
        }
    }
}
