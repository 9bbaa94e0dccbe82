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
//!
//! Routing (`RouteTables`, `Vpcs`, gateways, peerings) is its own family in `routes.rs`, and
//! `NetworkInterfaces` in `network_interfaces.rs`; security groups and network ACLs are read in
//! `security_groups.rs` and `acls.rs`.

mod acls;
mod network_interfaces;
mod routes;
mod security_groups;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use ipnet::IpNet;
use serde::Deserialize;

use super::Dump;
use crate::import::{Collection, DumpFile, Family, ImportError, Kind, Missing};
use crate::{ConfigError, Origins};
use probe_model::{AddressGroup, Agent, Subnet};

pub(super) use acls::RawNetworkAcl;
pub(super) use network_interfaces::{Enis, FAMILY as ENI_FAMILY, LbOwner, RawNetworkInterface};
pub(super) use routes::{
    FAMILY as ROUTE_FAMILY, RawInternetGateway, RawNatGateway, RawPeering, RawRouteTable, RawVpc,
};
pub(super) use security_groups::{RawSecurityGroup, RawSgRule};

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
                // Always from the subnet itself, so that its VPC's main route table applies
                // whether or not `describe-vpcs` is in the dump.
                network: s.value.vpc_id.clone(),
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
    /// when `NetworkInterfaces` is missing. Interfaces of `describe-network-interfaces` that no
    /// instance has (an IP target that is a container or another service's) come last.
    pub(super) fn new(instances: &Collection<RawInstance>, enis: &Enis) -> Self {
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
        for (address, subnet, groups) in &enis.others {
            by_address.entry(*address).or_insert_with(|| Interface {
                subnet: subnet.clone(),
                groups: groups.clone(),
            });
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
    use probe_model::{
        AclRule, Action, Direction, IpProto, NetworkAcl, PortSet, SecurityGroup, SgRule, validate,
    };

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
