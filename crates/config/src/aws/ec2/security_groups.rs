//! Security groups (`aws ec2 describe-security-groups`, key `SecurityGroups`) and their rules
//! with ids (`aws ec2 describe-security-group-rules`, key `SecurityGroupRules`): stateful,
//! allow-only rules on interfaces.

use std::collections::HashMap;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use crate::Origins;
use crate::aws::Dump;
use crate::import::{ImportError, Item, Kind};
use probe_model::{Action, Direction, IpProto, PortSet, SecurityGroup, SgRule};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a security group object")]
pub(in crate::aws) struct RawSecurityGroup {
    pub(super) group_id: String,
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
pub(in crate::aws) struct RawSgRule {
    pub(super) security_group_rule_id: Option<String>,
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
pub(super) fn icmp(
    icmp_type: Option<i64>,
    code: Option<i64>,
) -> Result<(Option<u8>, Option<u8>), String> {
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

impl Dump {
    /// Security groups with their rules. A group described by `describe-security-group-rules`
    /// takes its rules from there (they carry rule ids); otherwise from its `IpPermissions`.
    pub(in crate::aws) fn security_groups(
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
}
