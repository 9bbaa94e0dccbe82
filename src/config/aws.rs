//! The AWS importer: a directory of AWS CLI JSON outputs → [`Model`].
//!
//! Users already have the JSON that `aws ... describe-*` prints; retyping it would introduce the
//! very mistakes `probe` looks for. Each file is recognised by its top-level key, never its name,
//! so `aws ec2 describe-subnets > anything.json` works. Several files with the same key are merged
//! (an object that appears twice must be identical in both). `docs/import-aws.md` has the commands
//! that produce the files.
//!
//! | top-level key              | command (`aws …`)                     | becomes                      |
//! |----------------------------|---------------------------------------|------------------------------|
//! | `Subnets`                  | `ec2 describe-subnets`                | `subnets`                    |
//! | `SecurityGroups`           | `ec2 describe-security-groups`        | `security_groups`            |
//! | `SecurityGroupRules`       | `ec2 describe-security-group-rules`   | their rules, with ids        |
//! | `NetworkAcls`              | `ec2 describe-network-acls`           | `network_acls`               |
//! | `Reservations`             | `ec2 describe-instances`              | interfaces of members, agent |
//! | `LoadBalancers`            | `elbv2 describe-load-balancers`       | `load_balancers`             |
//! | `Listeners`                | `elbv2 describe-listeners`            | their listeners              |
//! | `TargetGroups`             | `elbv2 describe-target-groups`        | `backend_groups`             |
//! | `TargetHealthDescriptions` | `elbv2 describe-target-health`        | one group's members          |
//! | `PrefixLists`              | `ec2 describe-managed-prefix-lists`   | `address_groups`             |
//! | `Entries` + `PrefixListId` | `ec2 get-managed-prefix-list-entries` | one list's addresses         |
//! | `LoadBalancerDescriptions` | `elb describe-load-balancers`         | Classic: skipped, warned     |
//!
//! What is derived rather than read:
//!
//! * A target-health file names its target group by a `TargetGroupArn` key beside
//!   `TargetHealthDescriptions` (the CLI does not print one, so users wrap the output); without it
//!   the file belongs to the only target group, and is an error when there are several.
//! * Instance targets take their address, subnet and security groups from `describe-instances`;
//!   IP targets take them from the instance interface that owns the address, when there is one.
//! * The network ACLs' default entries (rule 32767, and 32768 for IPv6) are dropped: the model
//!   implies the final deny.
//! * A subnet that no network ACL lists is associated with its VPC's default ACL, as AWS does.
//! * A security group or prefix list that a rule references but the dump lacks (another account's
//!   group, an unexported prefix list) becomes an empty placeholder, so the references resolve; an
//!   empty prefix list matches no address.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use super::{ConfigError, JsonFile, Origins};
use crate::model::{
    AclRule, Action, AddressGroup, Agent, AppProto, BackendGroup, Direction, HealthCheck,
    HealthCheckPort, HealthCheckProto, IpProto, LbKind, Listener, LoadBalancer, Member, Model,
    NetworkAcl, PortSet, Provider, ReportedHealth, SecurityGroup, SgRule, Subnet, TargetType,
};

/// The name given to placeholder security groups that rules reference but the dump lacks.
pub const NOT_IN_DUMP: &str = "(not in the dump)";

/// The top-level keys by which files are recognised.
const KNOWN_KEYS: &[&str] = &[
    "LoadBalancers",
    "Listeners",
    "TargetGroups",
    "TargetHealthDescriptions",
    "Reservations",
    "Subnets",
    "SecurityGroups",
    "SecurityGroupRules",
    "NetworkAcls",
    "PrefixLists",
    "Entries",
    "LoadBalancerDescriptions",
];

/// The highest network ACL rule number a user can give.
const MAX_USER_RULE: u32 = 32766;

/// The unmodifiable default entries of a network ACL (IPv4, IPv6): dropped, as the model implies
/// the final deny.
const DEFAULT_RULES: [u32; 2] = [32767, 32768];

/// Reads every JSON file of `dir` and builds the model (not validated: [`super::load`] does that).
pub fn load_dir(dir: &Path, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    let files = super::read_json_dir(dir)?;
    import(&files, agent_address)
}

/// Builds the model from AWS CLI outputs already in memory; pure, so tests and other front ends can
/// feed it. With `agent_address`, the agent's security groups and subnet come from the instance
/// interface that has that address.
pub fn import(files: &[JsonFile], agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    import_with_origins(files, agent_address).map(|(model, _)| model)
}

/// [`import`], also saying which file and JSON path each item of the model came from.
pub fn import_with_origins(
    files: &[JsonFile],
    agent_address: Option<IpAddr>,
) -> Result<(Model, Origins), ConfigError> {
    let mut dump = Dump::default();
    for file in files {
        dump.add(file).map_err(|e| super::place_in_dump(e, files))?;
    }
    dump.build(agent_address)
        .map_err(|e| super::place_in_dump(e, files))
}

// ---------------------------------------------------------------------------------------------
// The provider's JSON, reduced to the fields the model needs. Unknown fields are ignored on
// purpose: real outputs carry dozens more, and new ones appear with every CLI release.
// ---------------------------------------------------------------------------------------------

/// Any one file: every recognised top-level key is optional, so one parse serves all kinds.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    load_balancers: Option<Vec<RawLoadBalancer>>,
    listeners: Option<Vec<RawListener>>,
    target_groups: Option<Vec<RawTargetGroup>>,
    target_health_descriptions: Option<Vec<RawTargetHealth>>,
    /// Not printed by the CLI: users add it to name the target group of a target-health file.
    target_group_arn: Option<String>,
    reservations: Option<Vec<RawReservation>>,
    subnets: Option<Vec<RawSubnet>>,
    security_groups: Option<Vec<RawSecurityGroup>>,
    security_group_rules: Option<Vec<RawSgRule>>,
    network_acls: Option<Vec<RawNetworkAcl>>,
    prefix_lists: Option<Vec<RawPrefixList>>,
    entries: Option<Vec<RawPrefixEntry>>,
    /// Not printed by the CLI: users add it to name the prefix list of an `Entries` file.
    prefix_list_id: Option<String>,
    load_balancer_descriptions: Option<serde::de::IgnoredAny>,
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
struct RawSubnet {
    subnet_id: String,
    #[serde(deserialize_with = "crate::model::values::net::cidr")]
    cidr_block: IpNet,
    availability_zone: Option<String>,
    available_ip_address_count: Option<u32>,
    vpc_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a security group object")]
struct RawSecurityGroup {
    group_id: String,
    group_name: Option<String>,
    #[serde(default)]
    ip_permissions: Vec<RawPermission>,
    #[serde(default)]
    ip_permissions_egress: Vec<RawPermission>,
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
    #[serde(deserialize_with = "crate::model::values::net::cidr")]
    cidr_ip: IpNet,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an IPv6 range object")]
struct RawIpv6Range {
    #[serde(deserialize_with = "crate::model::values::net::cidr")]
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
struct RawSgRule {
    security_group_rule_id: Option<String>,
    group_id: String,
    #[serde(default)]
    is_egress: bool,
    ip_protocol: IpProto,
    from_port: Option<i64>,
    to_port: Option<i64>,
    #[serde(deserialize_with = "crate::model::values::net::opt_cidr", default)]
    cidr_ipv4: Option<IpNet>,
    #[serde(deserialize_with = "crate::model::values::net::opt_cidr", default)]
    cidr_ipv6: Option<IpNet>,
    prefix_list_id: Option<String>,
    referenced_group_info: Option<RawReferencedGroup>,
    description: Option<String>,
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
struct RawNetworkAcl {
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
    #[serde(deserialize_with = "crate::model::values::net::opt_cidr", default)]
    cidr_block: Option<IpNet>,
    #[serde(deserialize_with = "crate::model::values::net::opt_cidr", default)]
    ipv6_cidr_block: Option<IpNet>,
    port_range: Option<RawPortRange>,
    icmp_type_code: Option<RawIcmpTypeCode>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a port range object")]
struct RawPortRange {
    #[serde(deserialize_with = "crate::model::values::net::port")]
    from: u16,
    #[serde(deserialize_with = "crate::model::values::net::port")]
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
struct RawInstance {
    instance_id: String,
    /// The primary interface's primary address; absent once the instance is terminated.
    #[serde(deserialize_with = "crate::model::values::net::opt_address", default)]
    private_ip_address: Option<IpAddr>,
    subnet_id: Option<String>,
    #[serde(default)]
    security_groups: Vec<RawGroupRef>,
    #[serde(default)]
    network_interfaces: Vec<RawInterface>,
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
    #[serde(deserialize_with = "crate::model::values::net::opt_address", default)]
    private_ip_address: Option<IpAddr>,
    #[serde(default)]
    private_ip_addresses: Vec<RawPrivateAddress>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a private address object")]
struct RawPrivateAddress {
    #[serde(deserialize_with = "crate::model::values::net::address")]
    private_ip_address: IpAddr,
}

/// `Type` of an elbv2 load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawLbType {
    Application,
    Network,
    Gateway,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a load balancer object")]
struct RawLoadBalancer {
    load_balancer_arn: String,
    load_balancer_name: String,
    #[serde(rename = "Type")]
    kind: Option<RawLbType>,
    #[serde(default)]
    availability_zones: Vec<RawAvailabilityZone>,
    /// Absent for network load balancers created without security groups.
    #[serde(default)]
    security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an availability zone object")]
struct RawAvailabilityZone {
    subnet_id: Option<String>,
}

/// Listener and target group protocols of elbv2.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum RawProtocol {
    Http,
    Https,
    Tcp,
    Tls,
    Udp,
    TcpUdp,
    /// Gateway load balancers: GENEVE over UDP 6081.
    Geneve,
}

impl RawProtocol {
    fn app(self) -> AppProto {
        match self {
            RawProtocol::Http => AppProto::Http,
            RawProtocol::Https => AppProto::Https,
            RawProtocol::Tcp => AppProto::Tcp,
            RawProtocol::Tls => AppProto::Tls,
            RawProtocol::Udp | RawProtocol::Geneve => AppProto::Udp,
            RawProtocol::TcpUdp => AppProto::TcpUdp,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a listener object")]
struct RawListener {
    listener_arn: Option<String>,
    load_balancer_arn: String,
    /// Absent on gateway load balancers, which take every port.
    #[serde(deserialize_with = "crate::model::values::net::opt_port", default)]
    port: Option<u16>,
    protocol: Option<RawProtocol>,
    #[serde(default)]
    default_actions: Vec<RawAction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an action object")]
struct RawAction {
    #[serde(rename = "Type")]
    kind: String,
    target_group_arn: Option<String>,
    forward_config: Option<RawForwardConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a forward config object")]
struct RawForwardConfig {
    #[serde(default)]
    target_groups: Vec<RawWeightedTargetGroup>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a weighted target group object")]
struct RawWeightedTargetGroup {
    target_group_arn: String,
}

/// Health-check protocols elbv2 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum RawHealthCheckProtocol {
    Http,
    Https,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a target group object")]
struct RawTargetGroup {
    target_group_arn: String,
    target_group_name: String,
    /// Absent for Lambda target groups.
    protocol: Option<RawProtocol>,
    #[serde(deserialize_with = "crate::model::values::net::opt_port", default)]
    port: Option<u16>,
    target_type: Option<TargetType>,
    health_check_enabled: Option<bool>,
    health_check_protocol: Option<RawHealthCheckProtocol>,
    /// `"traffic-port"` or a number as a string.
    health_check_port: Option<HealthCheckPort>,
    health_check_path: Option<String>,
    matcher: Option<RawMatcher>,
    health_check_interval_seconds: Option<u32>,
    health_check_timeout_seconds: Option<u32>,
    healthy_threshold_count: Option<u32>,
    unhealthy_threshold_count: Option<u32>,
}

/// `HttpCode` for HTTP(S) checks; gRPC target groups carry `GrpcCode` instead, which the model
/// does not express (their HTTP status is 200), so it is not read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a matcher object")]
struct RawMatcher {
    http_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a target health object")]
struct RawTargetHealth {
    target: RawTarget,
    target_health: Option<RawHealth>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a target object")]
struct RawTarget {
    /// Instance id, IP address, Lambda ARN or ALB ARN, by the group's target type.
    id: String,
    #[serde(deserialize_with = "crate::model::values::net::opt_port", default)]
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a health object")]
struct RawHealth {
    state: Option<String>,
    reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a prefix list object")]
struct RawPrefixList {
    prefix_list_id: String,
    prefix_list_name: Option<String>,
    /// Printed by `describe-prefix-lists` (AWS service lists); `describe-managed-prefix-lists`
    /// has no addresses, which `get-managed-prefix-list-entries` supplies.
    #[serde(deserialize_with = "crate::model::values::net::opt_cidrs", default)]
    cidrs: Option<Vec<IpNet>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a prefix entry object")]
struct RawPrefixEntry {
    #[serde(deserialize_with = "crate::model::values::net::cidr")]
    cidr: IpNet,
}

// ---------------------------------------------------------------------------------------------
// Collecting the files.
// ---------------------------------------------------------------------------------------------

/// An importer error. One that starts with the JSON path of the value at fault
/// (`Listeners[0].LoadBalancerArn: ...`) is placed in its file by line and column.
fn import_error(file: &Path, message: impl Into<String>) -> ConfigError {
    let message = message.into();
    let path_chars = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
    };
    match message.split_once(": ") {
        Some((path, rest)) if path_chars(path) => {
            super::dump_error(file, path.to_string(), rest.to_string())
        }
        _ => ConfigError::Import {
            file: file.to_path_buf(),
            message,
        },
    }
}

/// An item and where it came from, for error messages.
#[derive(Debug)]
struct Sourced<'a, T> {
    file: &'a Path,
    /// JSON path of the item in its file, `SecurityGroups[2]`.
    path: String,
    item: T,
}

/// Items of one kind from every file, in file order. An id seen twice (two overlapping dumps) is
/// kept once if both copies agree and is an error if they do not: which one is current is unknown.
#[derive(Debug)]
struct Collection<'a, T> {
    what: &'static str,
    items: Vec<Sourced<'a, T>>,
    by_id: HashMap<String, usize>,
}

impl<'a, T: PartialEq> Collection<'a, T> {
    fn new(what: &'static str) -> Self {
        Collection {
            what,
            items: Vec::new(),
            by_id: HashMap::new(),
        }
    }

    fn add(&mut self, id: Option<&str>, item: Sourced<'a, T>) -> Result<(), ConfigError> {
        let Some(id) = id else {
            self.items.push(item);
            return Ok(());
        };
        if let Some(&i) = self.by_id.get(id) {
            let prev = &self.items[i];
            if prev.item == item.item {
                return Ok(());
            }
            return Err(import_error(
                item.file,
                format!(
                    "{}: {} {id} differs from its copy at {} in {}; keep one dump of it",
                    item.path,
                    self.what,
                    prev.path,
                    prev.file.display()
                ),
            ));
        }
        self.by_id.insert(id.to_string(), self.items.len());
        self.items.push(item);
        Ok(())
    }

    fn get(&self, id: &str) -> Option<&Sourced<'a, T>> {
        self.by_id.get(id).and_then(|&i| self.items.get(i))
    }

    fn iter(&self) -> impl Iterator<Item = &Sourced<'a, T>> {
        self.items.iter()
    }
}

/// A target-health file: its target group is resolved once every file is read.
#[derive(Debug)]
struct HealthFile<'a> {
    file: &'a Path,
    target_group_arn: Option<String>,
    targets: Vec<RawTargetHealth>,
}

/// Everything read from the directory, before it becomes a model.
#[derive(Debug)]
struct Dump<'a> {
    subnets: Collection<'a, RawSubnet>,
    security_groups: Collection<'a, RawSecurityGroup>,
    sg_rules: Collection<'a, RawSgRule>,
    network_acls: Collection<'a, RawNetworkAcl>,
    instances: Collection<'a, RawInstance>,
    load_balancers: Collection<'a, RawLoadBalancer>,
    listeners: Collection<'a, RawListener>,
    target_groups: Collection<'a, RawTargetGroup>,
    health: Vec<HealthFile<'a>>,
    prefix_lists: Collection<'a, RawPrefixList>,
    /// `Entries` files by prefix list id.
    prefix_entries: Vec<(&'a Path, String, Vec<RawPrefixEntry>)>,
}

impl Default for Dump<'_> {
    fn default() -> Self {
        Dump {
            subnets: Collection::new("subnet"),
            security_groups: Collection::new("security group"),
            sg_rules: Collection::new("security group rule"),
            network_acls: Collection::new("network ACL"),
            instances: Collection::new("instance"),
            load_balancers: Collection::new("load balancer"),
            listeners: Collection::new("listener"),
            target_groups: Collection::new("target group"),
            health: Vec::new(),
            prefix_lists: Collection::new("prefix list"),
            prefix_entries: Vec::new(),
        }
    }
}

/// Adds every item of `items` to `into`, with its JSON path and id.
fn collect<'a, T: PartialEq>(
    into: &mut Collection<'a, T>,
    file: &'a Path,
    key: &str,
    items: Option<Vec<T>>,
    id: impl Fn(&T) -> Option<String>,
) -> Result<(), ConfigError> {
    for (i, item) in items.into_iter().flatten().enumerate() {
        let item_id = id(&item);
        into.add(
            item_id.as_deref(),
            Sourced {
                file,
                path: format!("{key}[{i}]"),
                item,
            },
        )?;
    }
    Ok(())
}

impl<'a> Dump<'a> {
    fn add(&mut self, file: &'a JsonFile) -> Result<(), ConfigError> {
        let path = file.path.as_path();
        if !file.keys.iter().any(|k| KNOWN_KEYS.contains(&k.as_str())) {
            let keys = if file.keys.is_empty() {
                "none".to_string()
            } else {
                file.keys.join(", ")
            };
            return Err(import_error(
                path,
                format!(
                    "not an AWS CLI output this importer reads (top-level keys: {keys}); \
                     expected one of {}",
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
        let doc: Document = file.parse()?;

        collect(&mut self.subnets, path, "Subnets", doc.subnets, |s| {
            Some(s.subnet_id.clone())
        })?;
        collect(
            &mut self.security_groups,
            path,
            "SecurityGroups",
            doc.security_groups,
            |g| Some(g.group_id.clone()),
        )?;
        collect(
            &mut self.sg_rules,
            path,
            "SecurityGroupRules",
            doc.security_group_rules,
            |r| r.security_group_rule_id.clone(),
        )?;
        collect(
            &mut self.network_acls,
            path,
            "NetworkAcls",
            doc.network_acls,
            |a| Some(a.network_acl_id.clone()),
        )?;
        for (i, reservation) in doc.reservations.into_iter().flatten().enumerate() {
            for (j, instance) in reservation.instances.into_iter().enumerate() {
                let id = instance.instance_id.clone();
                self.instances.add(
                    Some(&id),
                    Sourced {
                        file: path,
                        path: format!("Reservations[{i}].Instances[{j}]"),
                        item: instance,
                    },
                )?;
            }
        }
        collect(
            &mut self.load_balancers,
            path,
            "LoadBalancers",
            doc.load_balancers,
            |l| Some(l.load_balancer_arn.clone()),
        )?;
        collect(&mut self.listeners, path, "Listeners", doc.listeners, |l| {
            l.listener_arn.clone()
        })?;
        collect(
            &mut self.target_groups,
            path,
            "TargetGroups",
            doc.target_groups,
            |t| Some(t.target_group_arn.clone()),
        )?;
        if let Some(targets) = doc.target_health_descriptions {
            self.health.push(HealthFile {
                file: path,
                target_group_arn: doc.target_group_arn,
                targets,
            });
        }
        collect(
            &mut self.prefix_lists,
            path,
            "PrefixLists",
            doc.prefix_lists,
            |p| Some(p.prefix_list_id.clone()),
        )?;
        if let Some(entries) = doc.entries {
            let Some(id) = doc.prefix_list_id else {
                return Err(import_error(
                    path,
                    "prefix list entries without a PrefixListId: wrap the output of \
                     `aws ec2 get-managed-prefix-list-entries` as \
                     {\"PrefixListId\": \"pl-...\", \"Entries\": [...]}",
                ));
            };
            self.prefix_entries.push((path, id, entries));
        }
        if doc.load_balancer_descriptions.is_some() {
            tracing::warn!(
                "{}: Classic Load Balancers (LoadBalancerDescriptions) are not imported yet; \
                 they are left out of the model",
                path.display()
            );
        }
        Ok(())
    }

    fn build(self, agent_address: Option<IpAddr>) -> Result<(Model, Origins), ConfigError> {
        let mut origins = Origins::default();
        let mut model = Model {
            subnets: self.subnets(&mut origins),
            ..Model::default()
        };
        model.address_groups = self.address_groups(&mut origins);
        model.security_groups = self.security_groups(&mut origins)?;
        model.network_acls = self.network_acls(&mut origins)?;
        let interfaces = Interfaces::new(&self.instances);
        model.backend_groups = self.backend_groups(&interfaces, &mut origins)?;
        model.load_balancers = self.load_balancers(&mut origins)?;
        add_placeholders(&mut model);
        if let Some(address) = agent_address {
            model.agent = agent(address, &interfaces);
        }
        Ok((model, origins))
    }

    fn subnets(&self, origins: &mut Origins) -> Vec<Subnet> {
        for (i, s) in self.subnets.iter().enumerate() {
            origins.add(format!("subnets[{i}]"), s.file, s.path.clone());
        }
        self.subnets
            .iter()
            .map(|s| Subnet {
                id: s.item.subnet_id.clone(),
                cidr: s.item.cidr_block,
                zone: s.item.availability_zone.clone(),
                free_addresses: s.item.available_ip_address_count,
            })
            .collect()
    }

    /// Prefix lists with their addresses: `Cidrs` of `describe-prefix-lists` plus any wrapped
    /// `Entries` file. An `Entries` file for a list not otherwise described makes a list too.
    fn address_groups(&self, origins: &mut Origins) -> Vec<AddressGroup> {
        for (i, p) in self.prefix_lists.iter().enumerate() {
            origins.add(format!("address_groups[{i}]"), p.file, p.path.clone());
        }
        let mut groups: Vec<AddressGroup> = self
            .prefix_lists
            .iter()
            .map(|p| AddressGroup {
                id: p.item.prefix_list_id.clone(),
                name: p.item.prefix_list_name.clone(),
                cidrs: p.item.cidrs.clone().unwrap_or_default(),
            })
            .collect();
        for (file, id, entries) in &self.prefix_entries {
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
    fn security_groups(&self, origins: &mut Origins) -> Result<Vec<SecurityGroup>, ConfigError> {
        // Each rule with the file and JSON path it came from.
        type Placed<'p> = Vec<(SgRule, &'p Path, String)>;
        let mut by_rules: HashMap<&str, Placed> = HashMap::new();
        let mut rule_only_groups: Vec<&str> = Vec::new();
        for r in self.sg_rules.iter() {
            let id = r.item.group_id.as_str();
            if self.security_groups.get(id).is_none() && !rule_only_groups.contains(&id) {
                rule_only_groups.push(id);
            }
            by_rules.entry(id).or_default().push((
                listed_rule(&r.item, r.file, &r.path)?,
                r.file,
                r.path.clone(),
            ));
        }

        let mut out = Vec::new();
        let mut place = |i: usize, rules: Placed| -> Vec<SgRule> {
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
            let rules = match by_rules.remove(g.item.group_id.as_str()) {
                Some(rules) => rules,
                None => {
                    let mut rules = Vec::new();
                    for (direction, key, perms) in [
                        (Direction::Ingress, "IpPermissions", &g.item.ip_permissions),
                        (
                            Direction::Egress,
                            "IpPermissionsEgress",
                            &g.item.ip_permissions_egress,
                        ),
                    ] {
                        for (j, p) in perms.iter().enumerate() {
                            let path = format!("{}.{key}[{j}]", g.path);
                            for rule in permission_rules(p, direction, g.file, &path)? {
                                rules.push((rule, g.file, path.clone()));
                            }
                        }
                    }
                    rules
                }
            };
            let i = out.len();
            out.push(SecurityGroup {
                id: g.item.group_id.clone(),
                name: g.item.group_name.clone(),
                rules: place(i, rules),
            });
        }
        for id in rule_only_groups {
            let rules = by_rules.remove(id).unwrap_or_default();
            let i = out.len();
            out.push(SecurityGroup {
                id: id.to_string(),
                name: None,
                rules: place(i, rules),
            });
        }
        for (i, g) in self.security_groups.iter().enumerate() {
            origins.add(format!("security_groups[{i}]"), g.file, g.path.clone());
        }
        Ok(out)
    }

    fn network_acls(&self, origins: &mut Origins) -> Result<Vec<NetworkAcl>, ConfigError> {
        let mut out = Vec::new();
        for (i, a) in self.network_acls.iter().enumerate() {
            origins.add(format!("network_acls[{i}]"), a.file, a.path.clone());
            let mut acl = NetworkAcl {
                id: a.item.network_acl_id.clone(),
                name: name_tag(&a.item.tags),
                stateful: false,
                subnets: Vec::new(),
                inbound: Vec::new(),
                outbound: Vec::new(),
            };
            for assoc in &a.item.associations {
                if !acl.subnets.contains(&assoc.subnet_id) {
                    acl.subnets.push(assoc.subnet_id.clone());
                }
            }
            let (mut inbound, mut outbound) = (Vec::new(), Vec::new());
            for (j, e) in a.item.entries.iter().enumerate() {
                let path = format!("{}.Entries[{j}]", a.path);
                if DEFAULT_RULES.contains(&e.rule_number) {
                    continue;
                }
                if !(1..=MAX_USER_RULE).contains(&e.rule_number) {
                    return Err(import_error(
                        a.file,
                        format!(
                            "{path}.RuleNumber: {} is outside 1-{MAX_USER_RULE} \
                             ({} are the default entries)",
                            e.rule_number,
                            DEFAULT_RULES.map(|n| n.to_string()).join(" and ")
                        ),
                    ));
                }
                let rule = acl_rule(e, a.file, &path)?;
                if e.egress {
                    outbound.push((rule, path));
                } else {
                    inbound.push((rule, path));
                }
            }
            for (dir, rules, into) in [
                ("inbound", inbound, &mut acl.inbound),
                ("outbound", outbound, &mut acl.outbound),
            ] {
                let mut rules = rules;
                rules.sort_by_key(|(r, _)| r.number);
                for (j, (rule, path)) in rules.into_iter().enumerate() {
                    origins.add(format!("network_acls[{i}].{dir}[{j}]"), a.file, path);
                    into.push(rule);
                }
            }
            out.push(acl);
        }

        // Every subnet has exactly one network ACL; AWS gives those nobody claims to the VPC's
        // default ACL. Dumps normally list that association, filtered ones may not.
        let associated: HashSet<String> =
            out.iter().flat_map(|a| a.subnets.iter().cloned()).collect();
        for s in self.subnets.iter() {
            let (Some(vpc), false) = (&s.item.vpc_id, associated.contains(&s.item.subnet_id))
            else {
                continue;
            };
            let default = self
                .network_acls
                .iter()
                .position(|a| a.item.is_default && a.item.vpc_id.as_ref() == Some(vpc));
            if let Some(acl) = default.and_then(|i| out.get_mut(i)) {
                acl.subnets.push(s.item.subnet_id.clone());
            }
        }
        Ok(out)
    }

    fn backend_groups(
        &self,
        interfaces: &Interfaces,
        origins: &mut Origins,
    ) -> Result<Vec<BackendGroup>, ConfigError> {
        let mut groups: Vec<BackendGroup> = self
            .target_groups
            .iter()
            .enumerate()
            .map(|(i, t)| {
                origins.add(format!("backend_groups[{i}]"), t.file, t.path.clone());
                backend_group(&t.item)
            })
            .collect();
        let mut seen: HashMap<usize, &Path> = HashMap::new();
        for h in &self.health {
            let index = self.health_target_group(h)?;
            if let Some(prev) = seen.insert(index, h.file) {
                return Err(import_error(
                    h.file,
                    format!(
                        "target group {} already has its target health in {}; keep one",
                        groups[index].name,
                        prev.display()
                    ),
                ));
            }
            let group = &mut groups[index];
            for (i, t) in h.targets.iter().enumerate() {
                let path = format!("TargetHealthDescriptions[{i}]");
                if let Some(member) = member(t, group, interfaces, h.file, &path)? {
                    origins.add(
                        format!("backend_groups[{index}].members[{}]", group.members.len()),
                        h.file,
                        path,
                    );
                    group.members.push(member);
                }
            }
        }
        for (i, g) in groups.iter().enumerate() {
            if !seen.contains_key(&i) && g.target_type != Some(TargetType::Lambda) {
                tracing::warn!(
                    "target group {} has no describe-target-health output: it has no members",
                    g.name
                );
            }
        }
        Ok(groups)
    }

    /// The index of the target group a target-health file belongs to.
    fn health_target_group(&self, h: &HealthFile) -> Result<usize, ConfigError> {
        let wrap = "wrap the output of `aws elbv2 describe-target-health` as \
                    {\"TargetGroupArn\": \"...\", \"TargetHealthDescriptions\": [...]}";
        match &h.target_group_arn {
            Some(arn) => self.target_groups.by_id.get(arn).copied().ok_or_else(|| {
                import_error(
                    h.file,
                    format!(
                        "TargetGroupArn: target group {arn} is not in any describe-target-groups \
                         output (TargetGroups)"
                    ),
                )
            }),
            None => match self.target_groups.items.len() {
                1 => Ok(0),
                0 => Err(import_error(
                    h.file,
                    format!(
                        "target health without any describe-target-groups output (TargetGroups); \
                         add it, and {wrap}"
                    ),
                )),
                n => Err(import_error(
                    h.file,
                    format!(
                        "no TargetGroupArn, and there are {n} target groups to choose from: \
                         {wrap}"
                    ),
                )),
            },
        }
    }

    fn load_balancers(&self, origins: &mut Origins) -> Result<Vec<LoadBalancer>, ConfigError> {
        for (i, l) in self.load_balancers.iter().enumerate() {
            origins.add(format!("load_balancers[{i}]"), l.file, l.path.clone());
        }
        let mut lbs: Vec<LoadBalancer> = self
            .load_balancers
            .iter()
            .map(|l| LoadBalancer {
                name: l.item.load_balancer_name.clone(),
                id: Some(l.item.load_balancer_arn.clone()),
                provider: Provider::Aws,
                kind: match l.item.kind {
                    Some(RawLbType::Application) => LbKind::Alb,
                    Some(RawLbType::Network) => LbKind::Nlb,
                    Some(RawLbType::Gateway) => LbKind::Gwlb,
                    None => LbKind::Generic,
                },
                address: None,
                subnets: l
                    .item
                    .availability_zones
                    .iter()
                    .filter_map(|z| z.subnet_id.clone())
                    .collect(),
                security_groups: l.item.security_groups.clone(),
                health_check_sources: None,
                ip_as_backend: None,
                listeners: Vec::new(),
            })
            .collect();
        for l in self.listeners.iter() {
            let Some(&index) = self.load_balancers.by_id.get(&l.item.load_balancer_arn) else {
                return Err(import_error(
                    l.file,
                    format!(
                        "{}.LoadBalancerArn: load balancer {} is not in any \
                         describe-load-balancers output (LoadBalancers)",
                        l.path, l.item.load_balancer_arn
                    ),
                ));
            };
            // Gateway load balancer listeners have neither: they take every port.
            let (Some(port), Some(protocol)) = (l.item.port, l.item.protocol) else {
                continue;
            };
            let backend_group = match forward_target(&l.item.default_actions) {
                Some(arn) => match self.target_groups.get(arn) {
                    Some(t) => Some(t.item.target_group_name.clone()),
                    None => {
                        return Err(import_error(
                            l.file,
                            format!(
                                "{}.DefaultActions: target group {arn} is not in any \
                                 describe-target-groups output (TargetGroups)",
                                l.path
                            ),
                        ));
                    }
                },
                None => None,
            };
            origins.add(
                format!(
                    "load_balancers[{index}].listeners[{}]",
                    lbs[index].listeners.len()
                ),
                l.file,
                l.path.clone(),
            );
            lbs[index].listeners.push(Listener {
                name: None,
                protocol: protocol.app(),
                port,
                backend_group,
                access_control: None,
            });
        }
        Ok(lbs)
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping items.
// ---------------------------------------------------------------------------------------------

/// The target group of a listener's `forward` default action. Weighted forwards name several;
/// the model has one backend group per listener, so the first is taken.
fn forward_target(actions: &[RawAction]) -> Option<&str> {
    let forward = actions.iter().find(|a| a.kind == "forward")?;
    forward.target_group_arn.as_deref().or_else(|| {
        forward
            .forward_config
            .as_ref()
            .and_then(|f| f.target_groups.first())
            .map(|t| t.target_group_arn.as_str())
    })
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

/// One `IpPermissions` entry → one rule per source.
fn permission_rules(
    p: &RawPermission,
    direction: Direction,
    file: &Path,
    path: &str,
) -> Result<Vec<SgRule>, ConfigError> {
    let (ports, icmp_type, icmp_code) = sg_match(p.ip_protocol, p.from_port, p.to_port)
        .map_err(|m| import_error(file, format!("{path}: {m}")))?;
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
fn listed_rule(r: &RawSgRule, file: &Path, path: &str) -> Result<SgRule, ConfigError> {
    let (ports, icmp_type, icmp_code) = sg_match(r.ip_protocol, r.from_port, r.to_port)
        .map_err(|m| import_error(file, format!("{path}: {m}")))?;
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

/// One network ACL entry. Ports apply to tcp and udp only, ICMP type and code to icmp(v6) only.
fn acl_rule(e: &RawAclEntry, file: &Path, path: &str) -> Result<AclRule, ConfigError> {
    let ports = match (&e.port_range, e.protocol.has_ports()) {
        (Some(r), true) if r.from > r.to => {
            return Err(import_error(
                file,
                format!("{path}.PortRange: From {} is above To {}", r.from, r.to),
            ));
        }
        (Some(r), true) if (r.from, r.to) != (0, u16::MAX) => PortSet::range(r.from, r.to),
        _ => PortSet::any(),
    };
    let (icmp_type, icmp_code) = match (&e.icmp_type_code, e.protocol.is_icmp()) {
        (Some(tc), true) => icmp(tc.icmp_type, tc.code)
            .map_err(|m| import_error(file, format!("{path}.IcmpTypeCode: {m}")))?,
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

/// A target group without members (they come from target-health files).
fn backend_group(t: &RawTargetGroup) -> BackendGroup {
    BackendGroup {
        name: t.target_group_name.clone(),
        id: Some(t.target_group_arn.clone()),
        // Lambda target groups have no protocol; they are invoked over HTTP(S) by the ALB.
        protocol: t.protocol.map_or(AppProto::Http, RawProtocol::app),
        port: t.port,
        target_type: t.target_type,
        health_check: health_check(t),
        members: Vec::new(),
    }
}

/// The target group's health check; `None` when disabled, and for Lambda targets, whose check
/// is an invocation rather than a network connection.
fn health_check(t: &RawTargetGroup) -> Option<HealthCheck> {
    let lambda = t.target_type == Some(TargetType::Lambda);
    if lambda || t.health_check_enabled == Some(false) {
        return None;
    }
    let protocol = match t.health_check_protocol {
        Some(RawHealthCheckProtocol::Http) => HealthCheckProto::Http,
        Some(RawHealthCheckProtocol::Https) => HealthCheckProto::Https,
        Some(RawHealthCheckProtocol::Tcp) => HealthCheckProto::Tcp,
        None => match t.protocol {
            Some(RawProtocol::Http) => HealthCheckProto::Http,
            Some(RawProtocol::Https) => HealthCheckProto::Https,
            _ => HealthCheckProto::Tcp,
        },
    };
    let mut hc = HealthCheck::new(protocol);
    if let Some(port) = t.health_check_port {
        hc.port = port;
    }
    if let Some(path) = &t.health_check_path {
        hc.path = path.clone();
    }
    if let Some(code) = t.matcher.as_ref().and_then(|m| m.http_code.clone()) {
        hc.expected_codes = code;
    }
    if let Some(v) = t.health_check_interval_seconds {
        hc.interval_s = v;
    }
    if let Some(v) = t.health_check_timeout_seconds {
        hc.timeout_s = v;
    }
    if let Some(v) = t.healthy_threshold_count {
        hc.healthy_threshold = v;
    }
    if let Some(v) = t.unhealthy_threshold_count {
        hc.unhealthy_threshold = v;
    }
    Some(hc)
}

/// One target → a member; `None` for Lambda and ALB targets, which have no address of their own.
fn member(
    t: &RawTargetHealth,
    group: &BackendGroup,
    interfaces: &Interfaces,
    file: &Path,
    path: &str,
) -> Result<Option<Member>, ConfigError> {
    let id = t.target.id.as_str();
    let target_type = match group.target_type {
        Some(tt) => tt,
        // Older outputs may lack TargetType: the id tells.
        None if id.starts_with("i-") => TargetType::Instance,
        None => TargetType::Ip,
    };
    let reported_health = t.target_health.as_ref().and_then(|h| {
        h.state.clone().map(|state| ReportedHealth {
            state,
            reason: h.reason.clone(),
        })
    });
    let (name, address, iface) = match target_type {
        TargetType::Instance => {
            let Some(instance) = interfaces.instances.get(id) else {
                return Err(import_error(
                    file,
                    format!(
                        "{path}.Target.Id: instance {id} is not in any describe-instances output \
                         (Reservations); add `aws ec2 describe-instances` to the directory"
                    ),
                ));
            };
            let Some(address) = *instance else {
                return Err(import_error(
                    file,
                    format!(
                        "{path}.Target.Id: instance {id} has no PrivateIpAddress in \
                         describe-instances (terminated?)"
                    ),
                ));
            };
            (
                Some(id.to_string()),
                address,
                interfaces.by_address.get(&address),
            )
        }
        TargetType::Ip => {
            let address: IpAddr = id.parse().map_err(|_| {
                import_error(
                    file,
                    format!("{path}.Target.Id: {id:?} is not an IP address (target type ip)"),
                )
            })?;
            (None, address, interfaces.by_address.get(&address))
        }
        TargetType::Lambda => return Ok(None),
        TargetType::Alb => {
            tracing::warn!(
                "{}: {path}: target {id} is a load balancer; ALB targets are not modelled",
                file.display()
            );
            return Ok(None);
        }
    };
    Ok(Some(Member {
        name,
        address,
        port: t.target.port,
        subnet: iface.and_then(|i| i.subnet.clone()),
        security_groups: iface.map(|i| i.groups.clone()).unwrap_or_default(),
        reported_health,
    }))
}

/// An interface's subnet and security groups, as `describe-instances` shows them.
#[derive(Debug, Clone)]
struct Interface {
    subnet: Option<String>,
    groups: Vec<String>,
}

/// Instances by id (→ primary address) and interfaces by address.
struct Interfaces {
    instances: HashMap<String, Option<IpAddr>>,
    by_address: HashMap<IpAddr, Interface>,
}

impl Interfaces {
    /// Each address maps to the interface that carries it, so a secondary interface's own subnet
    /// and groups are used; the instance-level fields describe the primary interface and fill in
    /// when `NetworkInterfaces` is missing.
    fn new(instances: &Collection<RawInstance>) -> Self {
        let ids = |groups: &[RawGroupRef]| groups.iter().map(|g| g.group_id.clone()).collect();
        let mut by_address = HashMap::new();
        for i in instances.iter() {
            let i = &i.item;
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
                .map(|i| (i.item.instance_id.clone(), i.item.private_ip_address))
                .collect(),
            by_address,
        }
    }
}

/// The agent's interface, found by its address.
fn agent(address: IpAddr, interfaces: &Interfaces) -> Agent {
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

/// Referenced security groups and prefix lists that the dump lacks become empty placeholders, so
/// the model's references resolve: a group of another account still names "any interface that
/// carries it", which the model can evaluate.
fn add_placeholders(model: &mut Model) {
    let groups: HashSet<&str> = model
        .security_groups
        .iter()
        .map(|g| g.id.as_str())
        .collect();
    let lists: HashMap<&str, bool> = model
        .address_groups
        .iter()
        .map(|g| (g.id.as_str(), g.cidrs.is_empty()))
        .collect();
    let mut missing_groups = BTreeSet::new();
    let mut missing_lists = BTreeSet::new();
    let mut empty_lists = BTreeSet::new();
    for rule in model.security_groups.iter().flat_map(|g| &g.rules) {
        if let Some(g) = &rule.group
            && !groups.contains(g.as_str())
        {
            missing_groups.insert(g.clone());
        }
        if let Some(l) = &rule.address_group {
            match lists.get(l.as_str()) {
                None => {
                    missing_lists.insert(l.clone());
                }
                Some(true) => {
                    empty_lists.insert(l.clone());
                }
                Some(false) => {}
            }
        }
    }
    for id in &empty_lists {
        tracing::warn!(
            "prefix list {id} is referenced by a security group rule but has no entries in the \
             dump: the rule matches no address (add `aws ec2 get-managed-prefix-list-entries`)"
        );
    }
    for id in missing_groups {
        model.security_groups.push(SecurityGroup {
            id,
            name: Some(NOT_IN_DUMP.to_string()),
            rules: Vec::new(),
        });
    }
    for id in missing_lists {
        tracing::warn!(
            "prefix list {id} is referenced by a security group rule but its entries are not in \
             the dump: the rule matches no address (add `aws ec2 get-managed-prefix-list-entries`)"
        );
        model.address_groups.push(AddressGroup {
            id,
            name: Some(NOT_IN_DUMP.to_string()),
            cidrs: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::{PortRange, validate};

    const LB_SG: &str = "sg-0123456789abcdef0";
    const WEB_SG: &str = "sg-0fedcba9876543210";
    const AGENT_SG: &str = "sg-0a1b2c3d4e5f67890";
    const PUBLIC_1A: &str = "subnet-0a1b2c3d4e5f60718";
    const PUBLIC_1B: &str = "subnet-0b2c3d4e5f6a70819";
    const PRIVATE_1A: &str = "subnet-0c3d4e5f6a7b8091a";
    const PRIVATE_1B: &str = "subnet-0d4e5f6a7b8c901ab";

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws/alb-private")
    }

    fn json(name: &str, text: &str) -> JsonFile {
        JsonFile::new(PathBuf::from(name), text.as_bytes().to_vec()).expect("valid JSON")
    }

    fn ok(files: &[JsonFile]) -> Model {
        let model = import(files, None).expect("imports");
        assert_eq!(validate(&model), vec![], "model does not validate");
        model
    }

    fn err(files: &[JsonFile]) -> String {
        match import(files, None) {
            Ok(m) => panic!("imported: {m:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("a CIDR")
    }

    #[test]
    fn alb_private_fixture_imports_to_the_expected_model() {
        let model = load_dir(&fixture_dir(), Some(ip("10.0.0.10"))).expect("imports");
        assert_eq!(validate(&model), vec![]);

        assert_eq!(model.subnets.len(), 4);
        assert_eq!(model.subnets[0].id, PUBLIC_1A);
        assert_eq!(model.subnets[0].cidr, net("10.0.0.0/24"));
        assert_eq!(model.subnets[0].zone.as_deref(), Some("eu-west-1a"));
        assert_eq!(model.subnets[0].free_addresses, Some(246));

        let [lb] = model.load_balancers.as_slice() else {
            panic!("one load balancer: {:?}", model.load_balancers)
        };
        assert_eq!(lb.name, "web-alb");
        assert_eq!((lb.provider, lb.kind), (Provider::Aws, LbKind::Alb));
        assert!(
            lb.id
                .as_deref()
                .is_some_and(|a| a.ends_with("/web-alb/5f3c2a1b0e9d8c7b"))
        );
        assert_eq!(lb.subnets, [PUBLIC_1A, PUBLIC_1B]);
        assert_eq!(lb.security_groups, [LB_SG]);
        assert_eq!(lb.health_check_sources, None);
        assert_eq!(
            lb.listeners,
            [Listener {
                name: None,
                protocol: AppProto::Http,
                port: 80,
                backend_group: Some("web".to_string()),
                access_control: None,
            }]
        );

        let [bg] = model.backend_groups.as_slice() else {
            panic!("one backend group: {:?}", model.backend_groups)
        };
        assert_eq!(bg.name, "web");
        assert_eq!((bg.protocol, bg.port), (AppProto::Http, Some(80)));
        assert_eq!(bg.target_type, Some(TargetType::Instance));
        let hc = bg.health_check.as_ref().expect("a health check");
        assert_eq!(hc.protocol, HealthCheckProto::Http);
        assert_eq!(hc.port, HealthCheckPort::Port(8081));
        assert_eq!(hc.port_for(80), 8081);
        assert_eq!(
            (hc.path.as_str(), hc.expected_codes.as_str()),
            ("/health", "200")
        );
        assert_eq!((hc.interval_s, hc.timeout_s), (30, 5));
        assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (5, 2));
        let healthy = Some(ReportedHealth {
            state: "healthy".to_string(),
            reason: None,
        });
        assert_eq!(
            bg.members,
            [
                Member {
                    name: Some("i-0a7f3c9e1b2d4f601".to_string()),
                    address: ip("10.0.1.25"),
                    port: Some(80),
                    subnet: Some(PRIVATE_1A.to_string()),
                    security_groups: vec![WEB_SG.to_string()],
                    reported_health: healthy.clone(),
                },
                Member {
                    name: Some("i-0b8e4d0f2c3a5e702".to_string()),
                    address: ip("10.0.11.37"),
                    port: Some(80),
                    subnet: Some(PRIVATE_1B.to_string()),
                    security_groups: vec![WEB_SG.to_string()],
                    reported_health: healthy,
                },
            ]
        );

        let ids: Vec<_> = model
            .security_groups
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(ids, [LB_SG, WEB_SG, AGENT_SG]);
        let lb_sg = &model.security_groups[0];
        assert_eq!(lb_sg.name.as_deref(), Some("web-alb-sg"));
        let summary: Vec<_> = lb_sg
            .rules
            .iter()
            .map(|r| {
                (
                    r.direction,
                    r.protocol,
                    r.ports.to_string(),
                    r.cidr,
                    r.group.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Direction::Ingress,
                    IpProto::Tcp,
                    "80".into(),
                    Some(net("0.0.0.0/0")),
                    None
                ),
                (
                    Direction::Egress,
                    IpProto::Tcp,
                    "80".into(),
                    None,
                    Some(WEB_SG.into())
                ),
                (
                    Direction::Egress,
                    IpProto::Tcp,
                    "8081".into(),
                    None,
                    Some(WEB_SG.into())
                ),
            ]
        );
        assert_eq!(
            lb_sg.rules[0].description.as_deref(),
            Some("HTTP from anywhere")
        );
        let web_sg = &model.security_groups[1];
        assert_eq!(web_sg.rules.len(), 4);
        assert_eq!(web_sg.rules[2].cidr, Some(net("10.0.0.0/16")));
        assert_eq!(web_sg.rules[3].protocol, IpProto::Any);

        let [app, default] = model.network_acls.as_slice() else {
            panic!("two network ACLs: {:?}", model.network_acls)
        };
        assert_eq!(app.name.as_deref(), Some("acl-app"));
        assert!(!app.stateful);
        assert_eq!(app.subnets, [PRIVATE_1A, PRIVATE_1B]);
        let rules = |rules: &[AclRule]| -> Vec<(u32, Action, IpProto, String, Option<IpNet>)> {
            rules
                .iter()
                .map(|r| (r.number, r.action, r.protocol, r.ports.to_string(), r.cidr))
                .collect()
        };
        let vpc = Some(net("10.0.0.0/16"));
        assert_eq!(
            rules(&app.inbound),
            [
                (100, Action::Allow, IpProto::Tcp, "80".into(), vpc),
                (110, Action::Allow, IpProto::Tcp, "8081".into(), vpc),
            ]
        );
        assert_eq!(
            rules(&app.outbound),
            [(100, Action::Allow, IpProto::Tcp, "1024-65535".into(), vpc)]
        );
        assert_eq!(app.outbound[0].ports.0, [PortRange::EPHEMERAL]);
        // public-1a is listed; public-1b is not and falls to the VPC's default ACL.
        assert_eq!(default.subnets, [PUBLIC_1A, PUBLIC_1B]);
        let all = Some(net("0.0.0.0/0"));
        assert_eq!(
            rules(&default.inbound),
            [(100, Action::Allow, IpProto::Any, "any".into(), all)]
        );
        assert_eq!(rules(&default.outbound), rules(&default.inbound));

        assert_eq!(
            model.agent,
            Agent {
                address: Some(ip("10.0.0.10")),
                security_groups: vec![AGENT_SG.to_string()],
                subnet: Some(PUBLIC_1A.to_string()),
            }
        );
        assert!(model.address_groups.is_empty());
    }

    #[test]
    fn files_are_recognised_by_key_not_name() {
        let files = super::super::read_json_dir(&fixture_dir()).expect("reads");
        let expected = ok(&files);
        // Other names, other order: the same model.
        let renamed: Vec<JsonFile> = files
            .iter()
            .rev()
            .enumerate()
            .map(|(i, f)| JsonFile {
                path: PathBuf::from(format!("output-{i}.json")),
                ..f.clone()
            })
            .collect();
        assert_eq!(ok(&renamed), expected);
    }

    #[test]
    fn file_without_a_known_key_is_an_error_naming_it_and_its_keys() {
        let subnets = json("net.json", r#"{"Subnets": []}"#);
        let other = json("notes.json", r#"{"vpcs": [], "NextToken": null}"#);
        let e = err(&[subnets, other]);
        assert!(e.starts_with("notes.json: "), "{e}");
        assert!(
            e.contains("vpcs, NextToken") || e.contains("NextToken, vpcs"),
            "{e}"
        );
        assert!(e.contains("SecurityGroups"), "{e}");
        let e = err(&[json("empty.json", "{}")]);
        assert!(
            e.contains("empty.json") && e.contains("top-level keys: none"),
            "{e}"
        );
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

    const TWO_GROUPS: &str = r#"{"TargetGroups": [
        {"TargetGroupArn": "arn:tg/a", "TargetGroupName": "a", "Protocol": "TCP", "Port": 80,
         "TargetType": "ip", "HealthCheckProtocol": "TCP", "HealthCheckPort": "traffic-port"},
        {"TargetGroupArn": "arn:tg/b", "TargetGroupName": "b", "Protocol": "UDP", "Port": 53,
         "TargetType": "ip", "HealthCheckEnabled": false}]}"#;

    #[test]
    fn target_health_of_several_groups_must_be_wrapped_with_its_arn() {
        let groups = json("tg.json", TWO_GROUPS);
        let bare = json(
            "th.json",
            r#"{"TargetHealthDescriptions": [{"Target": {"Id": "10.0.1.5", "Port": 53}}]}"#,
        );
        let e = err(&[groups.clone(), bare]);
        assert!(e.starts_with("th.json: "), "{e}");
        assert!(
            e.contains(r#"{"TargetGroupArn": "...", "TargetHealthDescriptions": [...]}"#),
            "{e}"
        );

        let wrapped = json(
            "th.json",
            r#"{"TargetGroupArn": "arn:tg/b", "TargetHealthDescriptions": [
                {"Target": {"Id": "10.0.1.5", "Port": 53},
                 "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"}}]}"#,
        );
        let model = ok(&[groups.clone(), wrapped]);
        assert!(model.backend_groups[0].members.is_empty());
        let b = &model.backend_groups[1];
        assert_eq!(b.protocol, AppProto::Udp);
        assert_eq!(b.health_check, None);
        assert_eq!(b.members.len(), 1);
        assert_eq!(b.members[0].address, ip("10.0.1.5"));
        assert_eq!(b.members[0].subnet, None);
        assert_eq!(
            b.members[0].reported_health,
            Some(ReportedHealth {
                state: "unhealthy".to_string(),
                reason: Some("Target.Timeout".to_string()),
            })
        );
        let tcp = model.backend_groups[0].health_check.as_ref().expect("hc");
        assert_eq!(
            (tcp.protocol, tcp.port),
            (HealthCheckProto::Tcp, HealthCheckPort::TrafficPort)
        );

        let unknown = json(
            "th.json",
            r#"{"TargetGroupArn": "arn:tg/c", "TargetHealthDescriptions": []}"#,
        );
        let e = err(&[groups, unknown]);
        assert!(e.contains("arn:tg/c") && e.contains("TargetGroups"), "{e}");
    }

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
    fn groups_referenced_but_not_dumped_become_placeholders() {
        let sg = json(
            "sg.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web", "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [
                    {"GroupId": "sg-other", "UserId": "210987654321", "Description": "peer"}],
                 "PrefixListIds": [{"PrefixListId": "pl-missing"}]}]}]}"#,
        );
        let model = ok(&[sg]);
        assert_eq!(model.security_groups.len(), 2);
        assert_eq!(
            model.security_groups[1],
            SecurityGroup {
                id: "sg-other".to_string(),
                name: Some(NOT_IN_DUMP.to_string()),
                rules: vec![],
            }
        );
        let rules = &model.security_groups[0].rules;
        assert_eq!(rules[0].address_group.as_deref(), Some("pl-missing"));
        assert_eq!(rules[1].description.as_deref(), Some("peer"));
        assert_eq!(model.address_groups[0].id, "pl-missing");
        assert!(model.address_groups[0].cidrs.is_empty());
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
    fn several_dumps_of_one_kind_merge_and_must_agree() {
        let a = json(
            "a.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]}"#,
        );
        let b = json(
            "b.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-2"}, {"GroupId": "sg-3"}]}"#,
        );
        let model = ok(&[a.clone(), b]);
        let ids: Vec<_> = model
            .security_groups
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(ids, ["sg-1", "sg-2", "sg-3"]);

        let c = json(
            "c.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-2", "GroupName": "renamed"}]}"#,
        );
        let e = err(&[a, c]);
        assert!(
            e.starts_with("c.json:1:21: SecurityGroups[0]: security group sg-2 differs")
                && e.contains("a.json"),
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

    const INSTANCES: &str = r#"{"Reservations": [{"Instances": [{
        "InstanceId": "i-0123456789abcdef0", "PrivateIpAddress": "10.0.1.10",
        "SubnetId": "subnet-a", "SecurityGroups": [{"GroupName": "app", "GroupId": "sg-app"}],
        "NetworkInterfaces": [
          {"SubnetId": "subnet-a", "Groups": [{"GroupId": "sg-app"}], "PrivateIpAddress": "10.0.1.10",
           "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": "10.0.1.10"},
                                  {"Primary": false, "PrivateIpAddress": "10.0.1.11"}]},
          {"SubnetId": "subnet-b", "Groups": [{"GroupId": "sg-db"}], "PrivateIpAddress": "10.0.2.20",
           "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": "10.0.2.20"}]}]}]}]}"#;

    const SUBNETS_AND_GROUPS: &str = r#"{
        "Subnets": [{"SubnetId": "subnet-a", "CidrBlock": "10.0.1.0/24"},
                    {"SubnetId": "subnet-b", "CidrBlock": "10.0.2.0/24"}],
        "SecurityGroups": [{"GroupId": "sg-app"}, {"GroupId": "sg-db"}]}"#;

    #[test]
    fn ip_targets_take_the_interface_that_owns_the_address() {
        let groups = json(
            "tg.json",
            r#"{"TargetGroups": [{"TargetGroupArn": "arn:tg/ip", "TargetGroupName": "ip",
                "Protocol": "TCP", "Port": 5432, "TargetType": "ip"}]}"#,
        );
        let health = json(
            "th.json",
            r#"{"TargetHealthDescriptions": [
                {"Target": {"Id": "10.0.2.20", "Port": 5432}, "TargetHealth": {"State": "healthy"}},
                {"Target": {"Id": "10.0.1.11", "Port": 5432}, "TargetHealth": {"State": "healthy"}},
                {"Target": {"Id": "172.16.0.9", "Port": 5432, "AvailabilityZone": "all"}}]}"#,
        );
        let model = ok(&[
            groups,
            health,
            json("i.json", INSTANCES),
            json("n.json", SUBNETS_AND_GROUPS),
        ]);
        let m = &model.backend_groups[0].members;
        assert_eq!(
            (m[0].subnet.as_deref(), m[0].security_groups.as_slice()),
            (Some("subnet-b"), ["sg-db".to_string()].as_slice())
        );
        assert_eq!(
            (m[1].subnet.as_deref(), m[1].security_groups.as_slice()),
            (Some("subnet-a"), ["sg-app".to_string()].as_slice())
        );
        assert_eq!(
            (m[2].subnet.as_deref(), m[2].security_groups.is_empty()),
            (None, true)
        );
        assert!(m.iter().all(|m| m.name.is_none()));
        assert_eq!(m[2].reported_health, None);
    }

    #[test]
    fn instance_target_missing_from_describe_instances_is_an_error() {
        let groups = json(
            "tg.json",
            r#"{"TargetGroups": [{"TargetGroupArn": "arn:tg/web", "TargetGroupName": "web",
                "Protocol": "HTTP", "Port": 80, "TargetType": "instance"}]}"#,
        );
        let health = json(
            "th.json",
            r#"{"TargetHealthDescriptions": [{"Target": {"Id": "i-0f76fade", "Port": 80}}]}"#,
        );
        let e = err(&[groups, health, json("i.json", INSTANCES)]);
        assert!(
            e.starts_with(
                "th.json:1:60: TargetHealthDescriptions[0].Target.Id: instance i-0f76fade"
            ),
            "{e}"
        );
        assert!(e.contains("describe-instances"), "{e}");
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

    #[test]
    fn listeners_attach_by_arn_and_follow_weighted_forwards() {
        let lbs = json(
            "lb.json",
            r#"{"LoadBalancers": [{"LoadBalancerArn": "arn:lb/nlb", "LoadBalancerName": "nlb",
                "Type": "network", "Scheme": "internal",
                "AvailabilityZones": [{"ZoneName": "eu-west-1a", "SubnetId": "subnet-a",
                    "LoadBalancerAddresses": [{"PrivateIPv4Address": "10.0.1.200"}]}]}]}"#,
        );
        let listeners = json(
            "l.json",
            r#"{"Listeners": [
                {"ListenerArn": "arn:l/1", "LoadBalancerArn": "arn:lb/nlb", "Port": 53,
                 "Protocol": "TCP_UDP", "DefaultActions": [{"Type": "forward", "ForwardConfig":
                    {"TargetGroups": [{"TargetGroupArn": "arn:tg/b", "Weight": 1}]}}]},
                {"ListenerArn": "arn:l/2", "LoadBalancerArn": "arn:lb/nlb", "Port": 8443,
                 "Protocol": "TLS", "DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:tg/a"}]}]}"#,
        );
        let subnets = json(
            "s.json",
            r#"{"Subnets": [{"SubnetId": "subnet-a", "CidrBlock": "10.0.1.0/24"}]}"#,
        );
        let model = ok(&[lbs.clone(), listeners, json("tg.json", TWO_GROUPS), subnets]);
        let lb = &model.load_balancers[0];
        assert_eq!(lb.kind, LbKind::Nlb);
        assert!(lb.security_groups.is_empty());
        let l: Vec<_> = lb
            .listeners
            .iter()
            .map(|l| (l.protocol, l.port, l.backend_group.as_deref()))
            .collect();
        assert_eq!(
            l,
            [
                (AppProto::TcpUdp, 53, Some("b")),
                (AppProto::Tls, 8443, Some("a"))
            ]
        );

        let orphan = json(
            "l.json",
            r#"{"Listeners": [{"LoadBalancerArn": "arn:lb/gone", "Port": 80, "Protocol": "HTTP"}]}"#,
        );
        let e = err(&[lbs, orphan]);
        assert!(
            e.starts_with("l.json:1:48: Listeners[0].LoadBalancerArn: load balancer arn:lb/gone"),
            "{e}"
        );
    }
}
