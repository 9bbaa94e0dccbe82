//! VPC: subnets, security groups and their rules (v1/v2 embedded, v3 listed), firewalls (the
//! network ACLs, stateful) and IP address groups.
//!
//! | top-level key                                    | call                        | becomes            |
//! |--------------------------------------------------|-----------------------------|--------------------|
//! | `subnets` / `subnet`                             | `ListSubnets` (VPC v1)      | `subnets`          |
//! | `security_groups` / `security_group`             | `ListSecurityGroups`        | `security_groups`  |
//! | `security_group_rules` / `security_group_rule`   | `ListSecurityGroupRules`    | their rules        |
//! | `firewalls` / `firewall`                         | `ShowFirewall` (VPC v3)     | `network_acls`     |
//! | `address_groups` / `address_group`               | `ListAddressGroup` (VPC v3) | `address_groups`   |

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::values::{EtherType, RawIpInfo, de, owned, text};
use super::{Dump, add_address_group, distinct, responses};
use crate::import::{Collection, DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{
    AclRule, Action, AddressGroup, Direction, IpProto, NetworkAcl, PortSet, SecurityGroup, SgRule,
    Subnet,
};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &[
        "subnets",
        "subnet",
        "security_groups",
        "security_group",
        "security_group_rules",
        "security_group_rule",
        "firewalls",
        "firewall",
        "address_groups",
        "address_group",
    ],
    wrappers: &[],
    add,
};

/// Suffix of the model subnet that carries a dual-stack VPC subnet's IPv6 CIDR.
pub(crate) const IPV6_SUBNET_SUFFIX: &str = "-ipv6";

/// The VPC keys of one file, list and show-one responses. Unknown keys (`page_info`,
/// `request_id`, `count`) are ignored.
#[derive(Debug, Default, Deserialize, PartialEq)]
struct Doc {
    #[serde(default, deserialize_with = "de::null_default")]
    subnets: Vec<RawSubnet>,
    #[serde(default)]
    subnet: Option<RawSubnet>,
    #[serde(default, deserialize_with = "de::null_default")]
    security_groups: Vec<RawSecurityGroup>,
    #[serde(default)]
    security_group: Option<RawSecurityGroup>,
    #[serde(default, deserialize_with = "de::null_default")]
    security_group_rules: Vec<RawSgRule>,
    #[serde(default)]
    security_group_rule: Option<RawSgRule>,
    #[serde(default, deserialize_with = "de::null_default")]
    firewalls: Vec<RawFirewall>,
    #[serde(default)]
    firewall: Option<RawFirewall>,
    #[serde(default, deserialize_with = "de::null_default")]
    address_groups: Vec<RawAddressGroup>,
    #[serde(default)]
    address_group: Option<RawAddressGroup>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let d: Doc = file.parse()?;
    let subnets = responses(file, "subnet", d.subnets, d.subnet);
    dump.subnets.extend(subnets, |s| Some(s.id.as_str()));
    dump.security_groups.extend(responses(
        file,
        "security_group",
        d.security_groups,
        d.security_group,
    ));
    dump.security_group_rules.extend(responses(
        file,
        "security_group_rule",
        d.security_group_rules,
        d.security_group_rule,
    ));
    dump.firewalls
        .extend(responses(file, "firewall", d.firewalls, d.firewall));
    let groups = responses(file, "address_group", d.address_groups, d.address_group);
    dump.address_groups.extend(groups, |g| Some(g.id.as_str()));
    Ok(())
}

/// VPC v1 subnet (`GET /v1/{project_id}/subnets`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a subnet object")]
pub(super) struct RawSubnet {
    id: String,
    #[serde(default, deserialize_with = "de::opt_net")]
    cidr: Option<IpNet>,
    #[serde(default, deserialize_with = "de::opt_net")]
    cidr_v6: Option<IpNet>,
    #[serde(default)]
    availability_zone: Option<String>,
    #[serde(default)]
    neutron_network_id: Option<String>,
    #[serde(default)]
    neutron_subnet_id: Option<String>,
    #[serde(default)]
    neutron_subnet_id_v6: Option<String>,
    /// Its VPC: the model subnet's `network`.
    #[serde(default)]
    vpc_id: Option<String>,
}

impl Kind for RawSubnet {
    const WHAT: &str = "subnet";
}

/// VPC security group, v1/v2 (rules embedded) or v3 (rules listed separately).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a security group object")]
pub(super) struct RawSecurityGroup {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    security_group_rules: Vec<RawSgRule>,
}

/// VPC security-group rule: v3 (`multiport`, `action`, `priority`) or older (`port_range_*`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a security group rule object")]
pub(super) struct RawSgRule {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    security_group_id: Option<String>,
    direction: Direction,
    #[serde(default)]
    ethertype: Option<EtherType>,
    #[serde(default, deserialize_with = "de::opt_proto")]
    protocol: Option<IpProto>,
    #[serde(default, deserialize_with = "de::opt_ports")]
    multiport: Option<PortSet>,
    #[serde(default, deserialize_with = "de::opt_u32")]
    port_range_min: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_u32")]
    port_range_max: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_net")]
    remote_ip_prefix: Option<IpNet>,
    #[serde(default)]
    remote_group_id: Option<String>,
    #[serde(default)]
    remote_address_group_id: Option<String>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default, deserialize_with = "de::opt_u16")]
    priority: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// VPC v3 firewall (network ACL). `ListFirewall` omits the rules; `ShowFirewall` has them.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a firewall object")]
pub(super) struct RawFirewall {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default, deserialize_with = "de::null_default")]
    associations: Vec<RawAssociation>,
    #[serde(default)]
    ingress_rules: Option<Vec<RawFwRule>>,
    #[serde(default)]
    egress_rules: Option<Vec<RawFwRule>>,
}

impl RawFirewall {
    fn has_rules(&self) -> bool {
        self.ingress_rules.is_some() || self.egress_rules.is_some()
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an association object")]
struct RawAssociation {
    virsubnet_id: String,
}

/// One firewall rule; the list is ordered and the first match decides.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a firewall rule object")]
struct RawFwRule {
    #[serde(default)]
    id: Option<String>,
    action: Action,
    #[serde(default, deserialize_with = "de::opt_proto")]
    protocol: Option<IpProto>,
    #[serde(default)]
    ip_version: Option<u8>,
    #[serde(default, deserialize_with = "de::opt_net")]
    source_ip_address: Option<IpNet>,
    #[serde(default, deserialize_with = "de::opt_net")]
    destination_ip_address: Option<IpNet>,
    #[serde(default, deserialize_with = "de::opt_ports")]
    source_port: Option<PortSet>,
    #[serde(default, deserialize_with = "de::opt_ports")]
    destination_port: Option<PortSet>,
    #[serde(default)]
    source_address_group_id: Option<String>,
    #[serde(default)]
    destination_address_group_id: Option<String>,
    /// Not in every API version; absent = enabled.
    #[serde(default)]
    enabled: Option<bool>,
}

/// VPC v3 IP address group.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an address group object")]
pub(super) struct RawAddressGroup {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::address_list")]
    ip_set: Vec<IpNet>,
    #[serde(default, deserialize_with = "de::null_default")]
    ip_extra_set: Vec<RawIpInfo>,
}

impl Kind for RawAddressGroup {
    const WHAT: &str = "address group";
}

/// Resolves the three kinds of subnet id ELB and VPC use to model subnet ids.
#[derive(Debug, Default)]
pub(super) struct SubnetIndex {
    /// VPC subnet id and neutron network id → (IPv4 model id, IPv6 model id).
    network: HashMap<String, (Option<String>, Option<String>)>,
    /// Neutron subnet id (IPv4 or IPv6) → model id.
    neutron: HashMap<String, String>,
}

impl SubnetIndex {
    pub(super) fn build(
        items: &Collection<RawSubnet>,
        out: &mut Vec<Subnet>,
        origins: &mut Origins,
    ) -> Self {
        let mut index = SubnetIndex::default();
        for item in items.iter() {
            let s = &item.value;
            let zone = owned(&s.availability_zone);
            let network = owned(&s.vpc_id);
            let mut model_subnet = |id: String, cidr| {
                item.origin(origins, format!("subnets[{}]", out.len()));
                out.push(Subnet {
                    id: id.clone(),
                    cidr,
                    zone: zone.clone(),
                    free_addresses: None,
                    network: network.clone(),
                });
                id
            };
            let v4 = s.cidr.map(|cidr| model_subnet(s.id.clone(), cidr));
            let v6 = s
                .cidr_v6
                .map(|cidr| model_subnet(format!("{}{IPV6_SUBNET_SUFFIX}", s.id), cidr));
            for key in [Some(s.id.as_str()), text(&s.neutron_network_id)]
                .into_iter()
                .flatten()
            {
                index
                    .network
                    .insert(key.to_string(), (v4.clone(), v6.clone()));
            }
            if let (Some(n), Some(id)) = (text(&s.neutron_subnet_id), &v4) {
                index.neutron.insert(n.to_string(), id.clone());
            }
            if let (Some(n), Some(id)) = (text(&s.neutron_subnet_id_v6), &v6) {
                index.neutron.insert(n.to_string(), id.clone());
            }
        }
        index
    }

    /// Every model subnet of a VPC subnet (network) id: firewall associations and backend subnets
    /// cover both address families.
    pub(super) fn network_ids(&self, id: &str) -> Option<Vec<String>> {
        if let Some((v4, v6)) = self.network.get(id) {
            return Some(v4.iter().chain(v6).cloned().collect());
        }
        self.neutron.get(id).map(|m| vec![m.clone()])
    }

    /// The model subnet of an ELB `subnet_cidr_id` (a neutron subnet id, or a network id for
    /// IPv6), choosing the family of `addr` when the id names both.
    pub(super) fn for_cidr_id(&self, id: &str, addr: Option<IpAddr>) -> Option<String> {
        if let Some(m) = self.neutron.get(id) {
            return Some(m.clone());
        }
        let (v4, v6) = self.network.get(id)?;
        match addr {
            Some(IpAddr::V6(_)) => v6.clone().or_else(|| v4.clone()),
            _ => v4.clone().or_else(|| v6.clone()),
        }
    }
}

/// VPC address groups → model address groups; returns their CIDRs by id for firewall rules.
pub(super) fn address_groups(
    items: &Collection<RawAddressGroup>,
    out: &mut Vec<AddressGroup>,
    origins: &mut Origins,
) -> HashMap<String, Vec<IpNet>> {
    let mut by_id = HashMap::new();
    for item in items.iter() {
        let g = &item.value;
        let cidrs = distinct(
            g.ip_set
                .iter()
                .chain(g.ip_extra_set.iter().flat_map(|e| &e.ip)),
        );
        by_id.insert(g.id.clone(), cidrs.clone());
        add_address_group(item, &g.id, &g.name, cidrs, out, origins);
    }
    by_id
}

/// Security groups with their rules, embedded or listed separately; a group that only listed
/// rules name is made from them.
pub(super) fn security_groups(
    dump: &Dump,
    origins: &mut Origins,
) -> Result<Vec<SecurityGroup>, ImportError> {
    let mut groups = Groups::default();
    for item in &dump.security_groups {
        let g = &item.value;
        let i = groups.slot(&g.id, owned(&g.name));
        item.origin(origins, format!("security_groups[{i}]"));
        for (j, r) in g.security_group_rules.iter().enumerate() {
            let field = format!("security_group_rules[{j}]");
            if let Some(rule) = sg_rule(r, item, &field)?
                && let Some(k) = groups.add_rule(i, rule)
            {
                item.field_origin(origins, format!("security_groups[{i}].rules[{k}]"), &field);
            }
        }
    }
    for item in &dump.security_group_rules {
        let r = &item.value;
        let Some(gid) = text(&r.security_group_id) else {
            return Err(item.err(
                "security_group_id",
                "missing: a rule listed on its own must name its security group",
            ));
        };
        let i = groups.slot(gid, None);
        if let Some(rule) = sg_rule(r, item, "")?
            && let Some(k) = groups.add_rule(i, rule)
        {
            item.origin(origins, format!("security_groups[{i}].rules[{k}]"));
        }
    }
    Ok(groups.list)
}

/// Security groups put together from several responses: each id once, with the first name
/// given, and each rule id once per group.
#[derive(Default)]
struct Groups {
    list: Vec<SecurityGroup>,
    index: HashMap<String, usize>,
    rule_ids: HashSet<(usize, String)>,
}

impl Groups {
    /// The index of group `id`, added if new; `name` fills a name not given yet.
    fn slot(&mut self, id: &str, name: Option<String>) -> usize {
        let list = &mut self.list;
        let i = *self.index.entry(id.to_string()).or_insert_with(|| {
            list.push(SecurityGroup {
                id: id.to_string(),
                name: None,
                rules: Vec::new(),
            });
            list.len() - 1
        });
        if list[i].name.is_none() {
            list[i].name = name;
        }
        i
    }

    /// Adds a rule to group `i` unless the same rule id is already there (a rule both embedded
    /// in its group and listed on its own); returns its index.
    fn add_rule(&mut self, i: usize, rule: SgRule) -> Option<usize> {
        if let Some(id) = &rule.id
            && !self.rule_ids.insert((i, id.clone()))
        {
            return None;
        }
        let rules = &mut self.list[i].rules;
        rules.push(rule);
        Some(rules.len() - 1)
    }
}

/// One security-group rule; `None` for a disabled rule.
///
/// * No `action` (the older APIs are allow-only) = allow; no `priority` = the model's default (1).
/// * `protocol` `null`/`""` = every protocol; `icmp` on an IPv6 rule is ICMPv6 (Neutron's reading).
/// * Ports: `multiport` (v3) or `port_range_min`/`port_range_max`; for ICMP the latter are the
///   type and code. Ports of a protocol without ports are ignored, as the provider ignores them.
/// * No remote side = every address *of the rule's `ethertype`* (IPv4 when absent), so that an
///   IPv6 "any" rule does not open IPv4.
fn sg_rule<T>(r: &RawSgRule, item: &Item<T>, path: &str) -> Result<Option<SgRule>, ImportError> {
    if r.enabled == Some(false) {
        return Ok(None);
    }
    let field = |f: &str| {
        if path.is_empty() {
            f.to_string()
        } else {
            format!("{path}.{f}")
        }
    };
    let family = r.ethertype.unwrap_or(EtherType::V4);
    let protocol = match r.protocol {
        None => IpProto::Any,
        Some(IpProto::Icmp) if family == EtherType::V6 => IpProto::Icmpv6,
        Some(p) => p,
    };
    let (ports, icmp_type, icmp_code) = if protocol.has_ports() {
        let ports = match &r.multiport {
            Some(p) => p.clone(),
            None => port_range(r.port_range_min, r.port_range_max)
                .map_err(|m| item.err(&field("port_range_min"), m))?,
        };
        (ports, None, None)
    } else if protocol.is_icmp() {
        let byte = |v: Option<u32>, f: &str| -> Result<Option<u8>, ImportError> {
            v.map(|n| {
                u8::try_from(n).map_err(|_| {
                    item.err(&field(f), format!("ICMP type/code {n} is outside 0-255"))
                })
            })
            .transpose()
        };
        (
            PortSet::any(),
            byte(r.port_range_min, "port_range_min")?,
            byte(r.port_range_max, "port_range_max")?,
        )
    } else {
        (PortSet::any(), None, None)
    };
    let (cidr, group, address_group) = if let Some(net) = r.remote_ip_prefix {
        (Some(net), None, None)
    } else if let Some(g) = owned(&r.remote_group_id) {
        (None, Some(g), None)
    } else if let Some(a) = owned(&r.remote_address_group_id) {
        (None, None, Some(a))
    } else {
        (Some(family.any()), None, None)
    };
    Ok(Some(SgRule {
        id: owned(&r.id),
        direction: r.direction,
        action: r.action.unwrap_or(Action::Allow),
        priority: r.priority,
        protocol,
        ports,
        icmp_type,
        icmp_code,
        cidr,
        group,
        address_group,
        description: owned(&r.description),
    }))
}

/// `port_range_min`/`port_range_max` as a port set; neither = every port.
fn port_range(min: Option<u32>, max: Option<u32>) -> Result<PortSet, String> {
    let port = |n: u32| u16::try_from(n).map_err(|_| format!("{n} is not a port from 0 to 65535"));
    match (min, max) {
        (None, None) => Ok(PortSet::any()),
        (None, Some(_)) => Err("port_range_max is set without port_range_min".to_string()),
        (Some(a), b) => {
            let (a, b) = (port(a)?, port(b.unwrap_or(a))?);
            if a > b {
                return Err(format!("port range {a}-{b} runs backwards"));
            }
            Ok(PortSet::range(a, b))
        }
    }
}

/// Firewalls → stateful network ACLs.
///
/// A firewall saved both from `ListFirewall` (no rules) and `ShowFirewall` (rules) counts once,
/// with its rules; one known only from the list is an error, since "no rules" would read as
/// deny-all. A disabled firewall (`admin_state_up: false`) filters nothing and is left out.
pub(super) fn firewalls(
    items: &[Item<RawFirewall>],
    subnets: &SubnetIndex,
    vpc_groups: &HashMap<String, Vec<IpNet>>,
    origins: &mut Origins,
) -> Result<Vec<NetworkAcl>, ImportError> {
    let mut out = Vec::new();
    for item in with_rules(items) {
        let fw = &item.value;
        if fw.admin_state_up == Some(false) {
            continue;
        }
        if !fw.has_rules() {
            return Err(item.err(
                "",
                format!(
                    "firewall {} has no ingress_rules or egress_rules: ListFirewall leaves the \
                     rules out; save ShowFirewall (`{{\"firewall\": ...}}`) for each firewall",
                    fw.id
                ),
            ));
        }
        let acl_subnets = associated_subnets(item, subnets)?;
        let i = out.len();
        item.origin(origins, format!("network_acls[{i}]"));
        let at = Firewall {
            item,
            index: i,
            vpc_groups,
        };
        let inbound = at.rules(Direction::Ingress, origins)?;
        let outbound = at.rules(Direction::Egress, origins)?;
        out.push(NetworkAcl {
            id: fw.id.clone(),
            name: owned(&fw.name),
            stateful: true,
            subnets: acl_subnets,
            inbound,
            outbound,
        });
    }
    Ok(out)
}

/// One copy of each firewall, in the order first seen: the first, unless a later one has the
/// rules it lacks.
fn with_rules(items: &[Item<RawFirewall>]) -> Vec<&Item<RawFirewall>> {
    let mut chosen: Vec<&Item<RawFirewall>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for item in items {
        match index.get(item.value.id.as_str()) {
            Some(&i) => {
                if !chosen[i].value.has_rules() && item.value.has_rules() {
                    chosen[i] = item;
                }
            }
            None => {
                index.insert(item.value.id.as_str(), chosen.len());
                chosen.push(item);
            }
        }
    }
    chosen
}

/// The model subnets of a firewall's associations, which must be in the dump.
fn associated_subnets(
    item: &Item<RawFirewall>,
    subnets: &SubnetIndex,
) -> Result<Vec<String>, ImportError> {
    let mut out = Vec::new();
    for (j, a) in item.value.associations.iter().enumerate() {
        let ids = subnets.network_ids(&a.virsubnet_id).ok_or_else(|| {
            item.err(
                &format!("associations[{j}].virsubnet_id"),
                format!(
                    "subnet {} is not in the subnets dump (save ListSubnets)",
                    a.virsubnet_id
                ),
            )
        })?;
        out.extend(ids);
    }
    Ok(out)
}

/// A firewall being imported: where it is, the model ACL it becomes, and the address groups its
/// rules may name.
struct Firewall<'a> {
    item: &'a Item<RawFirewall>,
    /// Its index among the model's network ACLs.
    index: usize,
    vpc_groups: &'a HashMap<String, Vec<IpNet>>,
}

impl Firewall<'_> {
    /// One direction's rules, in order. Rules are ordered, so a rule's number is its 1-based
    /// position; a disabled rule keeps its number (and matches nothing), so numbers stay the
    /// console's positions. A rule naming an address group becomes one entry per CIDR of the
    /// group (numbered consecutively, after which later rules shift by as much), because model
    /// ACL rules list addresses.
    fn rules(
        &self,
        direction: Direction,
        origins: &mut Origins,
    ) -> Result<Vec<AclRule>, ImportError> {
        let fw = &self.item.value;
        let (list, key, dir) = match direction {
            Direction::Ingress => (&fw.ingress_rules, "ingress_rules", "inbound"),
            Direction::Egress => (&fw.egress_rules, "egress_rules", "outbound"),
        };
        let mut out = Vec::new();
        let mut next: u32 = 1;
        for (i, r) in list.iter().flatten().enumerate() {
            let field = format!("{key}[{i}]");
            if r.enabled == Some(false) {
                next += 1;
                continue;
            }
            let entries = self.entries(r, direction, &field)?;
            let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
            for (number, rule) in (next..).zip(entries) {
                let j = out.len();
                let model_path = format!("network_acls[{}].{dir}[{j}]", self.index);
                self.item.field_origin(origins, model_path, &field);
                out.push(AclRule { number, ..rule });
            }
            next += count.max(1);
        }
        Ok(out)
    }

    /// The model entries of the rule at `field`, numbered 0: one per remote and local address.
    ///
    /// The remote side is the source of inbound and the destination of outbound traffic; the
    /// other side is `local_cidr`. An empty remote side means every address of the rule's
    /// `ip_version`.
    fn entries(
        &self,
        r: &RawFwRule,
        direction: Direction,
        field: &str,
    ) -> Result<Vec<AclRule>, ImportError> {
        let family = match r.ip_version {
            None => None,
            Some(4) => Some(EtherType::V4),
            Some(6) => Some(EtherType::V6),
            Some(v) => {
                return Err(self.item.err(
                    &format!("{field}.ip_version"),
                    format!("{v} is not an IP version (4 or 6)"),
                ));
            }
        };
        let side = |net, group, group_field| self.side(net, group, family, field, group_field);
        let source = side(
            r.source_ip_address,
            &r.source_address_group_id,
            "source_address_group_id",
        )?;
        let destination = side(
            r.destination_ip_address,
            &r.destination_address_group_id,
            "destination_address_group_id",
        )?;
        let (remote, local) = match direction {
            Direction::Ingress => (source, destination),
            Direction::Egress => (destination, source),
        };
        let protocol = r.protocol.unwrap_or(IpProto::Any);
        let (ports, source_ports) = if protocol.has_ports() {
            (
                r.destination_port.clone().unwrap_or_default(),
                r.source_port.clone().unwrap_or_default(),
            )
        } else {
            (PortSet::any(), PortSet::any())
        };
        let mut out = Vec::new();
        for remote in &remote {
            let cidr = remote.or(family.map(EtherType::any));
            for local in &local {
                out.push(AclRule {
                    number: 0,
                    id: owned(&r.id),
                    action: r.action,
                    protocol,
                    ports: ports.clone(),
                    source_ports: source_ports.clone(),
                    icmp_type: None,
                    icmp_code: None,
                    cidr,
                    local_cidr: *local,
                });
            }
        }
        Ok(out)
    }

    /// The addresses one side of a rule names: its address, the CIDRs of its address group that
    /// are of the rule's family, or `[None]` for any.
    fn side(
        &self,
        net: Option<IpNet>,
        group: &Option<String>,
        family: Option<EtherType>,
        field: &str,
        group_field: &str,
    ) -> Result<Vec<Option<IpNet>>, ImportError> {
        if let Some(net) = net {
            return Ok(vec![Some(net)]);
        }
        let Some(gid) = text(group) else {
            return Ok(vec![None]);
        };
        let cidrs = self.vpc_groups.get(gid).ok_or_else(|| {
            self.item.err(
                &format!("{field}.{group_field}"),
                format!(
                    "address group {gid} is not in the address_groups dump (save \
                     ListAddressGroup): firewall rules are imported as addresses"
                ),
            )
        })?;
        Ok(cidrs
            .iter()
            .filter(|n| family.is_none_or(|f| EtherType::of(n) == f))
            .map(|n| Some(*n))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::huawei::tests::{group, import_err, import_ok};
    use crate::import::testing::{json_file as doc, net};

    #[test]
    fn old_style_port_ranges() {
        let rules = r#"{"security_group_rules": [
            {"id": "a", "security_group_id": "g", "direction": "ingress", "ethertype": "IPv4",
             "protocol": "udp", "port_range_min": 5000, "port_range_max": 5010,
             "remote_ip_prefix": "10.0.0.5"},
            {"id": "b", "security_group_id": "g", "direction": "ingress", "ethertype": "IPv6",
             "protocol": "icmp", "port_range_min": null, "port_range_max": null},
            {"id": "c", "security_group_id": "g", "direction": "egress", "ethertype": "IPv4",
             "protocol": "6", "port_range_min": 443, "port_range_max": 443,
             "remote_ip_prefix": "0.0.0.0/0"}
        ]}"#;
        let m = import_ok(&[doc("r.json", rules)]);
        let [g] = m.security_groups.as_slice() else {
            panic!("one group from the rules")
        };
        assert_eq!(g.id, "g");
        assert_eq!(g.rules[0].ports, PortSet::range(5000, 5010));
        assert_eq!(
            g.rules[0].cidr,
            Some(net("10.0.0.5/32")),
            "a bare address is a /32"
        );
        assert_eq!(g.rules[1].protocol, IpProto::Icmpv6, "icmp on an IPv6 rule");
        assert_eq!(g.rules[1].cidr, Some(net("::/0")));
        assert_eq!((g.rules[1].icmp_type, g.rules[1].icmp_code), (None, None));
        assert_eq!(
            (g.rules[2].protocol, &g.rules[2].ports),
            (IpProto::Tcp, &PortSet::single(443))
        );

        let bad = r#"{"security_group_rules": [{"security_group_id": "g", "direction": "ingress",
            "protocol": "tcp", "port_range_min": 9000, "port_range_max": 80}]}"#;
        let err = import_err(&[doc("bad.json", bad)]);
        assert!(
            err.contains("security_group_rules[0].port_range_min") && err.contains("backwards"),
            "{err}"
        );
    }

    #[test]
    fn embedded_and_listed_rule_count_once_and_disabled_rules_are_skipped() {
        let v1 = r#"{"security_groups": [{"id": "g", "name": "web", "security_group_rules": [
            {"id": "r1", "security_group_id": "g", "direction": "ingress", "protocol": "tcp",
             "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.0.0.0/8"}]}]}"#;
        let v3 = r#"{"security_group_rules": [
            {"id": "r1", "security_group_id": "g", "direction": "ingress", "protocol": "tcp",
             "multiport": "80", "remote_ip_prefix": "10.0.0.0/8", "action": "allow", "priority": 1},
            {"id": "r2", "security_group_id": "g", "direction": "ingress", "protocol": "tcp",
             "multiport": "22", "action": "allow", "priority": "1", "enabled": false}]}"#;
        let m = import_ok(&[doc("a.json", v1), doc("b.json", v3)]);
        assert_eq!(m.security_groups[0].rules.len(), 1);
        assert_eq!(m.security_groups[0].name.as_deref(), Some("web"));
    }

    #[test]
    fn firewall_from_the_list_api_needs_its_rules() {
        let list = r#"{"firewalls": [{"id": "fw1", "name": "acl", "admin_state_up": true, "associations": []}]}"#;
        let err = import_err(&[doc("fw.json", list)]);
        assert!(
            err.contains("firewalls[0]") && err.contains("ShowFirewall"),
            "{err}"
        );

        let show = r#"{"firewall": {"id": "fw1", "associations": [], "ingress_rules": [], "egress_rules": []}}"#;
        let m = import_ok(&[doc("fw.json", list), doc("fw1.json", show)]);
        assert_eq!(m.network_acls.len(), 1);
        assert_eq!(
            m.network_acls[0].name, None,
            "the detail wins; it has no name here"
        );

        let off = r#"{"firewalls": [{"id": "fw2", "admin_state_up": false}]}"#;
        assert!(import_ok(&[doc("off.json", off)]).network_acls.is_empty());
    }

    #[test]
    fn firewall_address_groups_expand_and_numbers_follow_positions() {
        let fw = r#"{"firewall": {"id": "fw1", "associations": [], "egress_rules": [], "ingress_rules": [
            {"id": "r1", "action": "allow", "protocol": "tcp", "ip_version": 4,
             "source_address_group_id": "ag1", "destination_port": "443", "source_port": "1024-65535"},
            {"id": "r2", "action": "deny", "protocol": "udp", "ip_version": 4, "enabled": false},
            {"id": "r3", "action": "deny", "protocol": "any", "ip_version": 6,
             "destination_port": "80"}]}}"#;
        let groups = r#"{"address_groups": [{"id": "ag1", "name": "partners", "ip_version": 4,
            "ip_set": ["10.1.0.0/16", "10.2.0.5"], "max_capacity": 20}]}"#;
        let m = import_ok(&[doc("fw.json", fw), doc("ag.json", groups)]);
        let inbound = &m.network_acls[0].inbound;
        let summary: Vec<(u32, Option<&str>, Option<IpNet>)> = inbound
            .iter()
            .map(|r| (r.number, r.id.as_deref(), r.cidr))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, Some("r1"), Some(net("10.1.0.0/16"))),
                (2, Some("r1"), Some(net("10.2.0.5/32"))),
                (4, Some("r3"), Some(net("::/0"))),
            ]
        );
        assert_eq!(inbound[0].source_ports, PortSet::range(1024, 65535));
        assert!(inbound[2].ports.is_any(), "ports of `any` are ignored");
        assert!(m.address_groups.iter().any(|g| g.id == "ag1"));

        let err = import_err(&[doc("fw.json", fw)]);
        assert!(
            err.contains("firewall.ingress_rules[0].source_address_group_id")
                && err.contains("ag1"),
            "{err}"
        );
    }

    #[test]
    fn dual_stack_subnet_becomes_two_subnets() {
        let subnets = r#"{"subnets": [{"id": "s1", "cidr": "10.0.0.0/24", "cidr_v6": "2001:db8::/64",
            "neutron_network_id": "s1", "neutron_subnet_id": "n4", "neutron_subnet_id_v6": "n6"}]}"#;
        let pools = r#"{"pool": {"id": "p1", "name": "a", "protocol": "TCP"}}"#;
        let members = r#"{"members": [
            {"id": "m1", "address": "2001:db8::10", "protocol_port": 80, "subnet_cidr_id": "s1"},
            {"id": "m2", "address": "10.0.0.10", "protocol_port": 80, "subnet_cidr_id": "n4"}]}"#;
        let fw = r#"{"firewall": {"id": "f", "associations": [{"virsubnet_id": "s1"}],
            "ingress_rules": [], "egress_rules": []}}"#;
        let m = import_ok(&[
            doc("s.json", subnets),
            doc("p.json", pools),
            doc("m.json", members),
            doc("f.json", fw),
        ]);
        let ids: Vec<&str> = m.subnets.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["s1", "s1-ipv6"]);
        let subnets: Vec<Option<&str>> = group(&m, "a")
            .members
            .iter()
            .map(|m| m.subnet.as_deref())
            .collect();
        assert_eq!(subnets, vec![Some("s1-ipv6"), Some("s1")]);
        assert_eq!(m.network_acls[0].subnets, vec!["s1", "s1-ipv6"]);
    }
}
