//! EC2: subnets, security groups and their rules, network ACLs, instances (the interfaces of
//! targets and of the agent) and managed prefix lists.
//!
//! | top-level key              | command (`aws …`)                     | becomes                      |
//! |----------------------------|---------------------------------------|------------------------------|
//! | `Reservations`             | `ec2 describe-instances`              | interfaces of members, agent |
//! | `Subnets`                  | `ec2 describe-subnets`                | `subnets`                    |
//! | `SecurityGroups`           | `ec2 describe-security-groups`        | `security_groups`            |
//! | `SecurityGroupRules`       | `ec2 describe-security-group-rules`   | their rules, with ids        |
//! | `NetworkAcls`              | `ec2 describe-network-acls`           | `network_acls`               |
//! | `PrefixLists`              | `ec2 describe-managed-prefix-lists`   | `address_groups`             |
//! | `Entries` + `PrefixListId` | `ec2 get-managed-prefix-list-entries` | one list's addresses         |

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use ipnet::IpNet;
use serde::Deserialize;

use super::Dump;
use crate::import::{Collection, DumpFile, Family, ImportError, Item, Kind, Missing};
use crate::{ConfigError, Origins};
use probe_model::{
    AclRule, Action, AddressGroup, Agent, Direction, IpProto, NetworkAcl, PortSet, SecurityGroup,
    SgRule, Subnet,
};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &[
        "Reservations",
        "Subnets",
        "SecurityGroups",
        "SecurityGroupRules",
        "NetworkAcls",
        "PrefixLists",
        "Entries",
    ],
    wrappers: &["PrefixListId"],
    add,
};

/// The highest network ACL rule number a user can give.
const MAX_USER_RULE: u32 = 32766;

/// The unmodifiable default entries of a network ACL (IPv4, IPv6): dropped, as the model implies
/// the final deny.
const DEFAULT_RULES: [u32; 2] = [32767, 32768];

/// The EC2 keys of one file. Unknown fields are ignored on purpose, here and below: real outputs
/// carry dozens more, and new ones appear with every CLI release.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    reservations: Option<Vec<RawReservation>>,
    subnets: Option<Vec<RawSubnet>>,
    security_groups: Option<Vec<RawSecurityGroup>>,
    security_group_rules: Option<Vec<RawSgRule>>,
    network_acls: Option<Vec<RawNetworkAcl>>,
    prefix_lists: Option<Vec<RawPrefixList>>,
    entries: Option<Vec<RawPrefixEntry>>,
    /// Not printed by the CLI: users add it to name the prefix list of an `Entries` file.
    prefix_list_id: Option<String>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    let subnets = file.listed("Subnets", doc.subnets.into_iter().flatten());
    dump.subnets.extend(subnets, |s| Some(s.subnet_id.as_str()));
    let groups = file.listed("SecurityGroups", doc.security_groups.into_iter().flatten());
    dump.security_groups
        .extend(groups, |g| Some(g.group_id.as_str()));
    let rules = file.listed(
        "SecurityGroupRules",
        doc.security_group_rules.into_iter().flatten(),
    );
    dump.sg_rules
        .extend(rules, |r| r.security_group_rule_id.as_deref());
    let acls = file.listed("NetworkAcls", doc.network_acls.into_iter().flatten());
    dump.network_acls
        .extend(acls, |a| Some(a.network_acl_id.as_str()));
    for (i, reservation) in doc.reservations.into_iter().flatten().enumerate() {
        let key = format!("Reservations[{i}].Instances");
        let instances = file.listed(&key, reservation.instances);
        dump.instances
            .extend(instances, |i| Some(i.instance_id.as_str()));
    }
    let lists = file.listed("PrefixLists", doc.prefix_lists.into_iter().flatten());
    dump.prefix_lists
        .extend(lists, |p| Some(p.prefix_list_id.as_str()));
    if let Some(entries) = doc.entries {
        match doc.prefix_list_id {
            Some(id) => dump.prefix_entries.push(PrefixEntries {
                file: Rc::clone(&file.path),
                id,
                entries,
            }),
            None => dump.unnamed_entries = Some(Rc::clone(&file.path)),
        }
    }
    Ok(())
}

/// A `get-managed-prefix-list-entries` file, wrapped with the id of its list.
#[derive(Debug)]
pub(super) struct PrefixEntries {
    file: Rc<Path>,
    id: String,
    entries: Vec<RawPrefixEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a tag object")]
struct RawTag {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

fn name_tag(tags: &[RawTag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key == "Name")
        .and_then(|t| t.value.clone())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a subnet object")]
pub(super) struct RawSubnet {
    subnet_id: String,
    #[serde(deserialize_with = "probe_model::values::net::cidr")]
    cidr_block: IpNet,
    availability_zone: Option<String>,
    available_ip_address_count: Option<u32>,
    vpc_id: Option<String>,
}

impl Kind for RawSubnet {
    const WHAT: &str = "subnet";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a security group object")]
pub(super) struct RawSecurityGroup {
    group_id: String,
    group_name: Option<String>,
    #[serde(default)]
    ip_permissions: Vec<RawPermission>,
    #[serde(default)]
    ip_permissions_egress: Vec<RawPermission>,
}

impl Kind for RawSecurityGroup {
    const WHAT: &str = "security group";
}

/// One `IpPermissions` entry: a protocol and port range with any number of sources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a permission object")]
struct RawPermission {
    ip_protocol: IpProto,
    from_port: Option<i64>,
    to_port: Option<i64>,
    #[serde(default)]
    ip_ranges: Vec<RawIpRange>,
    #[serde(default)]
    ipv6_ranges: Vec<RawIpv6Range>,
    #[serde(default)]
    prefix_list_ids: Vec<RawPrefixListId>,
    #[serde(default)]
    user_id_group_pairs: Vec<RawGroupPair>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an IP range object")]
struct RawIpRange {
    #[serde(deserialize_with = "probe_model::values::net::cidr")]
    cidr_ip: IpNet,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an IPv6 range object")]
struct RawIpv6Range {
    #[serde(deserialize_with = "probe_model::values::net::cidr")]
    cidr_ipv6: IpNet,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a prefix list id object")]
struct RawPrefixListId {
    prefix_list_id: String,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a group pair object")]
struct RawGroupPair {
    group_id: String,
    description: Option<String>,
}

/// One rule of `describe-security-group-rules`: like a permission with one source, plus an id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a security group rule object")]
pub(super) struct RawSgRule {
    security_group_rule_id: Option<String>,
    group_id: String,
    #[serde(default)]
    is_egress: bool,
    ip_protocol: IpProto,
    from_port: Option<i64>,
    to_port: Option<i64>,
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    cidr_ipv4: Option<IpNet>,
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    cidr_ipv6: Option<IpNet>,
    prefix_list_id: Option<String>,
    referenced_group_info: Option<RawReferencedGroup>,
    description: Option<String>,
}

impl Kind for RawSgRule {
    const WHAT: &str = "security group rule";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a referenced group object")]
struct RawReferencedGroup {
    group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a network ACL object")]
pub(super) struct RawNetworkAcl {
    network_acl_id: String,
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a reservation object")]
struct RawReservation {
    #[serde(default)]
    instances: Vec<RawInstance>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an instance object")]
pub(super) struct RawInstance {
    instance_id: String,
    /// The primary interface's primary address; absent once the instance is terminated.
    #[serde(deserialize_with = "probe_model::values::net::opt_address", default)]
    private_ip_address: Option<IpAddr>,
    subnet_id: Option<String>,
    #[serde(default)]
    security_groups: Vec<RawGroupRef>,
    #[serde(default)]
    network_interfaces: Vec<RawInterface>,
}

impl Kind for RawInstance {
    const WHAT: &str = "instance";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a group ref object")]
struct RawGroupRef {
    group_id: String,
}

/// One interface of an instance: each has its own subnet and security groups.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an interface object")]
struct RawInterface {
    subnet_id: Option<String>,
    #[serde(default)]
    groups: Vec<RawGroupRef>,
    #[serde(deserialize_with = "probe_model::values::net::opt_address", default)]
    private_ip_address: Option<IpAddr>,
    #[serde(default)]
    private_ip_addresses: Vec<RawPrivateAddress>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a private address object")]
struct RawPrivateAddress {
    #[serde(deserialize_with = "probe_model::values::net::address")]
    private_ip_address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a prefix list object")]
pub(super) struct RawPrefixList {
    prefix_list_id: String,
    prefix_list_name: Option<String>,
    /// Printed by `describe-prefix-lists` (AWS service lists); `describe-managed-prefix-lists`
    /// has no addresses, which `get-managed-prefix-list-entries` supplies.
    #[serde(deserialize_with = "probe_model::values::net::opt_cidrs", default)]
    cidrs: Option<Vec<IpNet>>,
}

impl Kind for RawPrefixList {
    const WHAT: &str = "prefix list";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a prefix entry object")]
pub(super) struct RawPrefixEntry {
    #[serde(deserialize_with = "probe_model::values::net::cidr")]
    cidr: IpNet,
}

impl Dump {
    pub(super) fn subnets(&self, origins: &mut Origins) -> Vec<Subnet> {
        for (i, s) in self.subnets.iter().enumerate() {
            s.origin(origins, format!("subnets[{i}]"));
        }
        self.subnets
            .iter()
            .map(|s| Subnet {
                id: s.value.subnet_id.clone(),
                cidr: s.value.cidr_block,
                zone: s.value.availability_zone.clone(),
                free_addresses: s.value.available_ip_address_count,
                network: None,
            })
            .collect()
    }

    /// Prefix lists with their addresses: `Cidrs` of `describe-prefix-lists` plus any wrapped
    /// `Entries` file. An `Entries` file for a list not otherwise described makes a list too.
    pub(super) fn address_groups(&self, origins: &mut Origins) -> Vec<AddressGroup> {
        for (i, p) in self.prefix_lists.iter().enumerate() {
            p.origin(origins, format!("address_groups[{i}]"));
        }
        let mut groups: Vec<AddressGroup> = self
            .prefix_lists
            .iter()
            .map(|p| AddressGroup {
                id: p.value.prefix_list_id.clone(),
                name: p.value.prefix_list_name.clone(),
                cidrs: p.value.cidrs.clone().unwrap_or_default(),
            })
            .collect();
        for PrefixEntries { file, id, entries } in &self.prefix_entries {
            let group = match groups.iter().position(|g| &g.id == id) {
                Some(i) => &mut groups[i],
                None => {
                    origins.add(
                        format!("address_groups[{}]", groups.len()),
                        file,
                        "Entries".to_string(),
                    );
                    groups.push(AddressGroup {
                        id: id.clone(),
                        name: None,
                        cidrs: Vec::new(),
                    });
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            for e in entries {
                if !group.cidrs.contains(&e.cidr) {
                    group.cidrs.push(e.cidr);
                }
            }
        }
        groups
    }

    /// Security groups with their rules. A group described by `describe-security-group-rules`
    /// takes its rules from there (they carry rule ids); otherwise from its `IpPermissions`.
    pub(super) fn security_groups(
        &self,
        origins: &mut Origins,
    ) -> Result<Vec<SecurityGroup>, ImportError> {
        let (mut listed, rule_only_groups) = self.listed_rules()?;
        let mut out = Vec::new();
        let mut place = |i: usize, rules: Vec<Placed>| -> Vec<SgRule> {
            rules
                .into_iter()
                .enumerate()
                .map(|(j, (rule, file, path))| {
                    origins.add(format!("security_groups[{i}].rules[{j}]"), file, path);
                    rule
                })
                .collect()
        };
        for g in self.security_groups.iter() {
            let rules = match listed.remove(g.value.group_id.as_str()) {
                Some(rules) => rules,
                None => permissions(g)?,
            };
            let i = out.len();
            out.push(SecurityGroup {
                id: g.value.group_id.clone(),
                name: g.value.group_name.clone(),
                rules: place(i, rules),
            });
        }
        for id in rule_only_groups {
            let rules = listed.remove(id).unwrap_or_default();
            let i = out.len();
            out.push(SecurityGroup {
                id: id.to_string(),
                name: None,
                rules: place(i, rules),
            });
        }
        for (i, g) in self.security_groups.iter().enumerate() {
            g.origin(origins, format!("security_groups[{i}]"));
        }
        Ok(out)
    }

    /// The rules of `describe-security-group-rules` by group id, and the groups that only they
    /// name, in the order first named.
    fn listed_rules(&self) -> Result<(RulesByGroup<'_>, Vec<&str>), ImportError> {
        let mut by_group = RulesByGroup::new();
        let mut rule_only_groups: Vec<&str> = Vec::new();
        for r in self.sg_rules.iter() {
            let id = r.value.group_id.as_str();
            if self.security_groups.get(id).is_none() && !rule_only_groups.contains(&id) {
                rule_only_groups.push(id);
            }
            by_group
                .entry(id)
                .or_default()
                .push((listed_rule(r)?, &*r.file, r.path.clone()));
        }
        Ok((by_group, rule_only_groups))
    }

    pub(super) fn network_acls(
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

    /// A `get-managed-prefix-list-entries` file without the `PrefixListId` that says whose
    /// entries they are.
    pub(super) fn check_prefix_entries(&self) -> Result<(), ImportError> {
        match &self.unnamed_entries {
            Some(file) => Err(ImportError::in_file(
                file,
                "prefix list entries without a PrefixListId: wrap the output of \
                 `aws ec2 get-managed-prefix-list-entries` as \
                 {\"PrefixListId\": \"pl-...\", \"Entries\": [...]}",
            )),
            None => Ok(()),
        }
    }
}

/// A rule with the file and JSON path it came from.
type Placed<'a> = (SgRule, &'a Path, String);

/// Rules by the id of their group.
type RulesByGroup<'a> = HashMap<&'a str, Vec<Placed<'a>>>;

/// A group's rules from its `IpPermissions` and `IpPermissionsEgress`.
fn permissions(g: &Item<RawSecurityGroup>) -> Result<Vec<Placed<'_>>, ImportError> {
    let mut rules = Vec::new();
    for (direction, key, perms) in [
        (Direction::Ingress, "IpPermissions", &g.value.ip_permissions),
        (
            Direction::Egress,
            "IpPermissionsEgress",
            &g.value.ip_permissions_egress,
        ),
    ] {
        for (j, p) in perms.iter().enumerate() {
            let field = format!("{key}[{j}]");
            for rule in permission_rules(p, direction, g, &field)? {
                rules.push((rule, &*g.file, g.json_path(&field)));
            }
        }
    }
    Ok(rules)
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

/// What a security-group rule matches besides its remote: `FromPort`/`ToPort` are ports for tcp
/// and udp, ICMP type and code for icmp(v6) (`-1` = any), and mean nothing for other protocols.
fn sg_match(
    protocol: IpProto,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(PortSet, Option<u8>, Option<u8>), String> {
    let from = from.filter(|&p| p != -1);
    let to = to.filter(|&p| p != -1);
    if protocol.has_ports() {
        let port = |p: i64, field: &str| {
            u16::try_from(p).map_err(|_| format!("{field}: {p} is not a port from 0 to 65535"))
        };
        let ports = match (from, to) {
            (None, None) => PortSet::any(),
            (Some(p), None) => PortSet::single(port(p, "FromPort")?),
            (None, Some(p)) => PortSet::single(port(p, "ToPort")?),
            (Some(f), Some(t)) => {
                let (f, t) = (port(f, "FromPort")?, port(t, "ToPort")?);
                if f > t {
                    return Err(format!("FromPort {f} is above ToPort {t}"));
                }
                if (f, t) == (0, u16::MAX) {
                    PortSet::any()
                } else {
                    PortSet::range(f, t)
                }
            }
        };
        Ok((ports, None, None))
    } else if protocol.is_icmp() {
        let (icmp_type, icmp_code) = icmp(from, to)?;
        Ok((PortSet::any(), icmp_type, icmp_code))
    } else {
        Ok((PortSet::any(), None, None))
    }
}

/// ICMP type and code, `None` = any. A code without a type means nothing, so it is dropped.
fn icmp(icmp_type: Option<i64>, code: Option<i64>) -> Result<(Option<u8>, Option<u8>), String> {
    let byte = |v: i64, what: &str| {
        u8::try_from(v).map_err(|_| format!("{v} is not an ICMP {what} (0-255, or -1 for any)"))
    };
    match icmp_type.filter(|&t| t != -1) {
        None => Ok((None, None)),
        Some(t) => {
            let code = match code.filter(|&c| c != -1) {
                Some(c) => Some(byte(c, "code")?),
                None => None,
            };
            Ok((Some(byte(t, "type")?), code))
        }
    }
}

/// One `IpPermissions` entry, `field` of `group` → one rule per source.
fn permission_rules(
    p: &RawPermission,
    direction: Direction,
    group: &Item<RawSecurityGroup>,
    field: &str,
) -> Result<Vec<SgRule>, ImportError> {
    let (ports, icmp_type, icmp_code) =
        sg_match(p.ip_protocol, p.from_port, p.to_port).map_err(|m| group.err(field, m))?;
    let rule = |cidr, group, address_group, description: &Option<String>| SgRule {
        id: None,
        direction,
        action: Action::Allow,
        priority: None,
        protocol: p.ip_protocol,
        ports: ports.clone(),
        icmp_type,
        icmp_code,
        cidr,
        group,
        address_group,
        description: description.clone(),
    };
    let mut rules = Vec::new();
    for r in &p.ip_ranges {
        rules.push(rule(Some(r.cidr_ip), None, None, &r.description));
    }
    for r in &p.ipv6_ranges {
        rules.push(rule(Some(r.cidr_ipv6), None, None, &r.description));
    }
    for r in &p.prefix_list_ids {
        rules.push(rule(
            None,
            None,
            Some(r.prefix_list_id.clone()),
            &r.description,
        ));
    }
    for r in &p.user_id_group_pairs {
        rules.push(rule(None, Some(r.group_id.clone()), None, &r.description));
    }
    Ok(rules)
}

/// One `describe-security-group-rules` entry → one rule, with its id.
fn listed_rule(item: &Item<RawSgRule>) -> Result<SgRule, ImportError> {
    let r = &item.value;
    let (ports, icmp_type, icmp_code) =
        sg_match(r.ip_protocol, r.from_port, r.to_port).map_err(|m| item.err("", m))?;
    Ok(SgRule {
        id: r.security_group_rule_id.clone(),
        direction: if r.is_egress {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        action: Action::Allow,
        priority: None,
        protocol: r.ip_protocol,
        ports,
        icmp_type,
        icmp_code,
        cidr: r.cidr_ipv4.or(r.cidr_ipv6),
        group: r
            .referenced_group_info
            .as_ref()
            .and_then(|g| g.group_id.clone()),
        address_group: r.prefix_list_id.clone(),
        description: r.description.clone(),
    })
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

/// An interface's subnet and security groups, as `describe-instances` shows them.
#[derive(Debug, Clone)]
pub(super) struct Interface {
    pub(super) subnet: Option<String>,
    pub(super) groups: Vec<String>,
}

/// Instances by id (→ primary address) and interfaces by address.
pub(super) struct Interfaces {
    pub(super) instances: HashMap<String, Option<IpAddr>>,
    pub(super) by_address: HashMap<IpAddr, Interface>,
}

impl Interfaces {
    /// Each address maps to the interface that carries it, so a secondary interface's own subnet
    /// and groups are used; the instance-level fields describe the primary interface and fill in
    /// when `NetworkInterfaces` is missing.
    pub(super) fn new(instances: &Collection<RawInstance>) -> Self {
        let ids = |groups: &[RawGroupRef]| groups.iter().map(|g| g.group_id.clone()).collect();
        let mut by_address = HashMap::new();
        for i in instances.iter() {
            let i = &i.value;
            for nic in &i.network_interfaces {
                let iface = Interface {
                    subnet: nic.subnet_id.clone().or_else(|| i.subnet_id.clone()),
                    groups: ids(&nic.groups),
                };
                let addresses = nic.private_ip_address.into_iter().chain(
                    nic.private_ip_addresses
                        .iter()
                        .map(|a| a.private_ip_address),
                );
                for address in addresses {
                    by_address.entry(address).or_insert_with(|| iface.clone());
                }
            }
            if let Some(address) = i.private_ip_address {
                by_address.entry(address).or_insert_with(|| Interface {
                    subnet: i.subnet_id.clone(),
                    groups: ids(&i.security_groups),
                });
            }
        }
        Interfaces {
            instances: instances
                .iter()
                .map(|i| (i.value.instance_id.clone(), i.value.private_ip_address))
                .collect(),
            by_address,
        }
    }
}

/// The agent's interface, found by its address.
pub(super) fn agent(address: IpAddr, interfaces: &Interfaces) -> Agent {
    match interfaces.by_address.get(&address) {
        Some(iface) => Agent {
            address: Some(address),
            security_groups: iface.groups.clone(),
            subnet: iface.subnet.clone(),
        },
        None => {
            tracing::warn!(
                "no instance in describe-instances has the agent's address {address}: \
                 its security groups are unknown"
            );
            Agent {
                address: Some(address),
                ..Agent::default()
            }
        }
    }
}

/// Prefix lists referenced by a rule that match no address: empty in the dump, or missing from
/// it (now placeholders).
pub(super) fn warn_prefix_lists(missing: &Missing) {
    for id in &missing.empty_address_groups {
        tracing::warn!(
            "prefix list {id} is referenced by a security group rule but has no entries in the \
             dump: the rule matches no address (add `aws ec2 get-managed-prefix-list-entries`)"
        );
    }
    for id in &missing.address_groups {
        tracing::warn!(
            "prefix list {id} is referenced by a security group rule but its entries are not in \
             the dump: the rule matches no address (add `aws ec2 get-managed-prefix-list-entries`)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::import;
    use crate::aws::tests::{INSTANCES, SUBNETS_AND_GROUPS, err, ok};
    use crate::import::testing::{ip, json_file as json, net};
    use probe_model::validate;

    /// The `describe-security-groups` and `describe-network-acls` examples of
    /// `cloud-formats.md`, verbatim.
    const DOC_SG: &str = r#"{"SecurityGroups":[{"GroupId":"sg-903004f8","VpcId":"vpc-1a2b3c4d",
 "IpPermissions":[
  {"IpProtocol":"-1","IpRanges":[],"PrefixListIds":[],"UserIdGroupPairs":[{"UserId":"123456789012","GroupId":"sg-903004f8"}]},
  {"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"203.0.113.0/24"}],"UserIdGroupPairs":[]},
  {"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}],
 "IpPermissionsEgress":[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}],"UserIdGroupPairs":[],"PrefixListIds":[]}]}]}"#;

    const DOC_ACL: &str = r#"{"NetworkAcls":[{"NetworkAclId":"acl-0c99c61dea421885c","IsDefault":false,
 "Associations":[{"SubnetId":"subnet-03b9a6d084a3b586b","NetworkAclId":"acl-0c99c61dea421885c"}],
 "Entries":[
  {"RuleNumber":20,"Egress":false,"Protocol":"6","PortRange":{"From":22,"To":22},"CidrBlock":"172.16.200.0/24","RuleAction":"deny"},
  {"RuleNumber":100,"Egress":false,"Protocol":"-1","CidrBlock":"0.0.0.0/0","RuleAction":"allow"},
  {"RuleNumber":110,"Egress":false,"Protocol":"1","IcmpTypeCode":{"Type":-1,"Code":-1},"CidrBlock":"10.0.0.0/16","RuleAction":"allow"},
  {"RuleNumber":32767,"Egress":false,"Protocol":"-1","CidrBlock":"0.0.0.0/0","RuleAction":"deny"}]}]}"#;

    fn sg_rule(direction: Direction, protocol: IpProto) -> SgRule {
        SgRule {
            id: None,
            direction,
            action: Action::Allow,
            priority: None,
            protocol,
            ports: PortSet::any(),
            icmp_type: None,
            icmp_code: None,
            cidr: None,
            group: None,
            address_group: None,
            description: None,
        }
    }

    fn acl_entry(number: u32, action: Action, protocol: IpProto, cidr: &str) -> AclRule {
        AclRule {
            number,
            id: None,
            action,
            protocol,
            ports: PortSet::any(),
            source_ports: PortSet::any(),
            icmp_type: None,
            icmp_code: None,
            cidr: Some(net(cidr)),
            local_cidr: None,
        }
    }

    #[test]
    fn wrong_type_names_the_json_path_and_line() {
        let text = "{\"NetworkAcls\": [{\n  \"NetworkAclId\": \"acl-1\",\n  \"Entries\": [{\n    \
                    \"RuleNumber\": \"ten\", \"Egress\": false, \"Protocol\": \"6\",\n    \
                    \"RuleAction\": \"allow\", \"CidrBlock\": \"10.0.0.0/8\"}]}]}";
        let e = err(&[json("acl.json", text)]);
        assert!(
            e.starts_with("acl.json:4:") && e.contains("NetworkAcls[0].Entries[0].RuleNumber"),
            "{e}"
        );
        let e = err(&[json(
            "sg.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
                {"IpProtocol": "gre", "IpRanges": []}]}]}"#,
        )]);
        assert!(
            e.contains("sg.json:2:") && e.contains("SecurityGroups[0].IpPermissions[0].IpProtocol"),
            "{e}"
        );
        assert!(e.contains("gre"), "{e}");
    }

    #[test]
    fn reference_examples_parse_exactly() {
        let subnet = json(
            "subnets.json",
            r#"{"Subnets": [{"SubnetId": "subnet-03b9a6d084a3b586b", "CidrBlock": "10.0.1.0/24"}]}"#,
        );
        let model = ok(&[json("a.json", DOC_SG), json("b.json", DOC_ACL), subnet]);

        let ingress = Direction::Ingress;
        assert_eq!(
            model.security_groups,
            [SecurityGroup {
                id: "sg-903004f8".to_string(),
                name: None,
                rules: vec![
                    SgRule {
                        group: Some("sg-903004f8".to_string()),
                        ..sg_rule(ingress, IpProto::Any)
                    },
                    SgRule {
                        ports: PortSet::single(22),
                        cidr: Some(net("203.0.113.0/24")),
                        ..sg_rule(ingress, IpProto::Tcp)
                    },
                    SgRule {
                        icmp_type: Some(8),
                        icmp_code: None,
                        cidr: Some(net("0.0.0.0/0")),
                        ..sg_rule(ingress, IpProto::Icmp)
                    },
                    SgRule {
                        cidr: Some(net("0.0.0.0/0")),
                        ..sg_rule(Direction::Egress, IpProto::Any)
                    },
                ],
            }]
        );

        assert_eq!(
            model.network_acls,
            [NetworkAcl {
                id: "acl-0c99c61dea421885c".to_string(),
                name: None,
                stateful: false,
                subnets: vec!["subnet-03b9a6d084a3b586b".to_string()],
                inbound: vec![
                    AclRule {
                        ports: PortSet::single(22),
                        ..acl_entry(20, Action::Deny, IpProto::Tcp, "172.16.200.0/24")
                    },
                    acl_entry(100, Action::Allow, IpProto::Any, "0.0.0.0/0"),
                    acl_entry(110, Action::Allow, IpProto::Icmp, "10.0.0.0/16"),
                ],
                outbound: vec![],
            }]
        );
    }

    #[test]
    fn ipv6_default_entry_32768_is_dropped_too() {
        // From the AWS CLI's describe-network-acls example.
        let acl = json(
            "acl.json",
            r#"{"NetworkAcls": [{"Associations": [], "NetworkAclId": "acl-6da75208",
                "VpcId": "vpc-4e20d42b", "Tags": [], "IsDefault": true, "Entries": [
                {"CidrBlock": "0.0.0.0/0", "RuleNumber": 32767, "Protocol": "-1", "Egress": true, "RuleAction": "deny"},
                {"Ipv6CidrBlock": "::/0", "RuleNumber": 32768, "Protocol": "-1", "Egress": true, "RuleAction": "deny"},
                {"CidrBlock": "0.0.0.0/0", "RuleNumber": 100, "Protocol": "-1", "Egress": false, "RuleAction": "allow"},
                {"Ipv6CidrBlock": "::/0", "RuleNumber": 101, "Protocol": "-1", "Egress": false, "RuleAction": "allow"},
                {"CidrBlock": "0.0.0.0/0", "RuleNumber": 32767, "Protocol": "-1", "Egress": false, "RuleAction": "deny"},
                {"Ipv6CidrBlock": "::/0", "RuleNumber": 32768, "Protocol": "-1", "Egress": false, "RuleAction": "deny"}]}]}"#,
        );
        let model = ok(&[acl]);
        let acl = &model.network_acls[0];
        assert!(acl.outbound.is_empty());
        let numbers: Vec<_> = acl.inbound.iter().map(|r| (r.number, r.cidr)).collect();
        assert_eq!(
            numbers,
            [(100, Some(net("0.0.0.0/0"))), (101, Some(net("::/0")))]
        );
    }

    #[test]
    fn rule_numbers_outside_the_user_range_are_errors_not_defaults() {
        for n in [0, 32769, 40000] {
            let acl = json(
                "acl.json",
                &format!(
                    r#"{{"NetworkAcls": [{{"NetworkAclId": "acl-1", "Entries": [
                    {{"CidrBlock": "0.0.0.0/0", "RuleNumber": {n}, "Protocol": "-1", "Egress": false, "RuleAction": "allow"}}]}}]}}"#
                ),
            );
            let e = err(&[acl]);
            // Placed on the entry's line, just past the number.
            assert!(e.starts_with("acl.json:2:"), "{e}");
            assert!(
                e.contains(&format!(
                    ": NetworkAcls[0].Entries[0].RuleNumber: {n} is outside 1-32766"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn icmp_and_other_protocols_read_from_and_to_port_by_protocol() {
        let sg = json(
            "sg.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
                {"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
                {"IpProtocol": "50", "FromPort": 0, "ToPort": 0, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}]}"#,
        );
        let model = ok(&[sg]);
        let r = &model.security_groups[0].rules;
        assert_eq!((r[0].icmp_type, r[0].icmp_code), (Some(3), Some(4)));
        assert_eq!(
            (r[1].protocol, r[1].icmp_type, r[1].icmp_code),
            (IpProto::Icmpv6, None, None)
        );
        assert_eq!(r[1].cidr, Some(net("::/0")));
        assert_eq!(
            (r[2].protocol, r[2].ports.is_any()),
            (IpProto::Other(50), true)
        );
        assert_eq!((r[3].protocol, r[3].ports.is_any()), (IpProto::Udp, true));

        let bad = json(
            "sg.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
                {"IpProtocol": "icmp", "FromPort": 300, "ToPort": -1, "IpRanges": []}]}]}"#,
        );
        let e = err(&[bad]);
        assert!(
            e.contains("sg.json:2:17: SecurityGroups[0].IpPermissions[0]: 300 is not an ICMP type"),
            "{e}"
        );
    }

    #[test]
    fn prefix_lists_take_their_entries_from_wrapped_files() {
        let lists = json(
            "pl.json",
            r#"{"PrefixLists": [{"PrefixListId": "pl-0123abcd", "AddressFamily": "IPv4",
                "State": "create-complete", "PrefixListName": "office", "MaxEntries": 5,
                "Version": 3, "OwnerId": "123456789012"}]}"#,
        );
        let entries = json(
            "ple.json",
            r#"{"PrefixListId": "pl-0123abcd", "Entries": [
                {"Cidr": "198.51.100.0/24", "Description": "office"}, {"Cidr": "203.0.113.7/32"}]}"#,
        );
        let model = ok(&[lists, entries]);
        assert_eq!(
            model.address_groups,
            [AddressGroup {
                id: "pl-0123abcd".to_string(),
                name: Some("office".to_string()),
                cidrs: vec![net("198.51.100.0/24"), net("203.0.113.7/32")],
            }]
        );
        let e = err(&[json("ple.json", r#"{"Entries": []}"#)]);
        assert!(
            e.contains("ple.json") && e.contains("\"PrefixListId\""),
            "{e}"
        );
    }

    #[test]
    fn security_group_rules_replace_permissions_and_carry_ids() {
        let groups = json(
            "sg.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web", "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}]}"#,
        );
        let rules = json(
            "sgr.json",
            r#"{"SecurityGroupRules": [
                {"SecurityGroupRuleId": "sgr-0a", "GroupId": "sg-1", "GroupOwnerId": "123456789012",
                 "IsEgress": false, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                 "CidrIpv4": "10.0.0.0/8", "Tags": []},
                {"SecurityGroupRuleId": "sgr-0b", "GroupId": "sg-1", "IsEgress": true,
                 "IpProtocol": "-1", "FromPort": -1, "ToPort": -1,
                 "ReferencedGroupInfo": {"GroupId": "sg-1", "UserId": "123456789012"}}]}"#,
        );
        let model = ok(&[groups, rules]);
        let [g] = model.security_groups.as_slice() else {
            panic!("{:?}", model.security_groups)
        };
        assert_eq!(g.name.as_deref(), Some("web"));
        let ids: Vec<_> = g.rules.iter().map(|r| r.id.as_deref()).collect();
        assert_eq!(ids, [Some("sgr-0a"), Some("sgr-0b")]);
        assert_eq!(g.rules[1].direction, Direction::Egress);
        assert_eq!(g.rules[1].group.as_deref(), Some("sg-1"));
    }

    #[test]
    fn agent_interface_is_found_by_any_of_its_addresses() {
        let files = [
            json("i.json", INSTANCES),
            json("n.json", SUBNETS_AND_GROUPS),
        ];
        let model = import(&files, Some(ip("10.0.2.20"))).expect("imports");
        assert_eq!(model.agent.security_groups, ["sg-db"]);
        assert_eq!(model.agent.subnet.as_deref(), Some("subnet-b"));
        assert_eq!(validate(&model), vec![]);

        let model = import(&files, Some(ip("10.9.9.9"))).expect("imports");
        assert_eq!(
            model.agent,
            Agent {
                address: Some(ip("10.9.9.9")),
                ..Agent::default()
            }
        );
    }
}
