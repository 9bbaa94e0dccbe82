//! Huawei Cloud importer: the JSON of the ELB v3, VPC and ECS APIs → [`Model`].
//!
//! Users save what the API (or KooCLI, which prints the API's own JSON) returns, one response per
//! file, and point `probe` at the directory; `docs/import-huawei.md` lists the calls. A file is
//! recognised by its top-level key (`loadbalancers`, `listeners`, `security_group_rules`, ...),
//! never by its name, and files with the same key are merged, so paginated output can be saved
//! page by page. Show-one responses (`{"firewall": {...}}`) are read like one-element lists.
//!
//! Parsing is lenient about what the importer does not need (the API adds fields all the time, so
//! unknown fields are ignored) and strict about what it reads: a wrong type or an unparsable
//! address fails with the file, line, column and field path. References between files (a
//! listener's pool, a member's subnet, a rule's address group) are resolved afterwards; one that
//! the evaluation depends on and that cannot be resolved is an [`ConfigError::Import`] naming the
//! file, the object and what to dump.
//!
//! What is derived rather than read, and why:
//!
//! * Subnets are keyed by the VPC subnet `id`. ELB v3 names subnets three ways — `elb_virsubnet_ids`
//!   hold VPC subnet (network) ids, `vip_subnet_cidr_id` and member `subnet_cidr_id` hold *neutron
//!   subnet* ids (or, for IPv6, the network id) — and all three resolve to that one id. A dual-stack
//!   subnet becomes two model subnets, `ID` (IPv4) and `ID-ipv6`, because a model subnet has one CIDR.
//! * Health-check sources are left to the evaluator (shared: 100.125.0.0/16, dedicated: the
//!   backend subnets, which is why a dedicated load balancer's subnets must be in the dump).
//! * Members carry no security groups in ELB; they come from an optional ECS `servers` dump, matched
//!   by the member's `instance_id` or address.
//! * A security-group rule whose remote group or address group is not in the dump refers to an
//!   empty placeholder, so references resolve: membership of a remote group is decided by which
//!   interfaces carry it, not by its rules. A *firewall* rule's address group must be dumped, since
//!   the model's ACL rules list addresses, not groups.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use serde::Deserialize;

use super::{ConfigError, JsonFile, Origins};
use crate::model::{
    AccessControl, AccessMode, AclRule, Action, AddressGroup, AppProto, BackendGroup, Direction,
    HealthCheck, HealthCheckPort, HealthCheckProto, IpProto, LbKind, Listener, LoadBalancer,
    Member, Model, NetworkAcl, PortSet, Provider, ReportedHealth, SecurityGroup, SgRule, Subnet,
};

/// The top-level keys a Huawei dump is recognised by: the list responses and their show-one
/// (singular) counterparts.
pub const KEYS: &[&str] = &[
    "loadbalancers",
    "loadbalancer",
    "listeners",
    "listener",
    "pools",
    "pool",
    "members",
    "member",
    "healthmonitors",
    "healthmonitor",
    "ipgroups",
    "ipgroup",
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
    "servers",
    "server",
];

/// Suffix of the model subnet that carries a dual-stack VPC subnet's IPv6 CIDR.
pub const IPV6_SUBNET_SUFFIX: &str = "-ipv6";

/// Reads every JSON file of `dir` and builds the model (not validated: [`super::load`] does that).
pub fn load_dir(dir: &Path, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    let files = super::read_json_dir(dir)?;
    import(&files, agent_address)
}

/// Builds the model from already-read JSON documents, whatever their file names. Pure: no I/O.
///
/// `agent_address` is where `probe` runs; with a `servers` dump it also gives the agent's
/// security groups.
pub fn import(files: &[JsonFile], agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    import_with_origins(files, agent_address).map(|(model, _)| model)
}

/// [`import`], also saying which file and JSON path each item of the model came from.
pub fn import_with_origins(
    files: &[JsonFile],
    agent_address: Option<IpAddr>,
) -> Result<(Model, Origins), ConfigError> {
    import_placed(files, agent_address).map_err(|e| super::place_in_dump(e, files))
}

fn import_placed(
    files: &[JsonFile],
    agent_address: Option<IpAddr>,
) -> Result<(Model, Origins), ConfigError> {
    let mut dump = Collected::default();
    for file in files {
        dump.add(file)?;
    }
    same_copies(&dump.loadbalancers, |l| &l.id, "load balancer")?;
    same_copies(&dump.listeners, |l| &l.id, "listener")?;
    same_copies(&dump.pools, |p| &p.id, "pool")?;
    same_copies(&dump.healthmonitors, |m| &m.id, "health monitor")?;
    same_copies(&dump.ipgroups, |g| &g.id, "ipgroup")?;
    same_copies(&dump.subnets, |s| &s.id, "subnet")?;
    same_copies(&dump.address_groups, |g| &g.id, "address group")?;
    same_copies(&dump.servers, |s| &s.id, "server")?;
    let mut model = Model::default();
    let mut o = Origins::default();
    let subnets = SubnetIndex::build(&dump.subnets, &mut model.subnets, &mut o);
    let vpc_groups = vpc_address_groups(&dump.address_groups, &mut model.address_groups, &mut o);
    let ipgroups = elb_ipgroups(&dump.ipgroups, &mut model.address_groups, &mut o);
    let dumped_groups = security_groups(&dump, &mut model, &mut o)?;
    model.network_acls = firewalls(&dump.firewalls, &subnets, &vpc_groups, &mut o)?;
    let servers = ServerIndex::build(&dump.servers, &model.security_groups, &dumped_groups)?;
    let pools = backend_groups(&dump, &subnets, &servers, &mut model.backend_groups, &mut o)?;
    model.load_balancers = load_balancers(&dump, &subnets, &pools, &ipgroups, &mut o)?;
    model.agent.address = agent_address;
    if let Some(addr) = agent_address
        && let Some(groups) = servers.by_address.get(&addr)
    {
        model.agent.security_groups = groups.clone();
    }
    Ok((model, o))
}

// ---------------------------------------------------------------------------------------------
// Collecting the files
// ---------------------------------------------------------------------------------------------

/// One object of a dump and where it came from, for error messages.
#[derive(Debug)]
struct Item<T> {
    file: PathBuf,
    /// JSON path inside the file: `listeners[2]`, `firewall`.
    path: String,
    v: T,
}

impl<T> Item<T> {
    /// Records that the model item at `model_path` came from this object.
    fn origin(&self, origins: &mut Origins, model_path: String) {
        origins.add(model_path, &self.file, self.path.clone());
    }

    fn err(&self, field: &str, message: impl std::fmt::Display) -> ConfigError {
        let path = if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        };
        super::dump_error(&self.file, path, message.to_string())
    }
}

/// A member and the pool its file was wrapped with (`{"pool_id": ..., "members": [...]}`).
#[derive(Debug)]
struct MemberIn {
    wrapper_pool: Option<String>,
    raw: RawMember,
}

/// Every object of every file, in file order.
#[derive(Debug, Default)]
struct Collected {
    loadbalancers: Vec<Item<RawLb>>,
    listeners: Vec<Item<RawListener>>,
    pools: Vec<Item<RawPool>>,
    members: Vec<Item<MemberIn>>,
    healthmonitors: Vec<Item<RawMonitor>>,
    ipgroups: Vec<Item<RawIpGroup>>,
    subnets: Vec<Item<RawSubnet>>,
    security_groups: Vec<Item<RawSecurityGroup>>,
    security_group_rules: Vec<Item<RawSgRule>>,
    firewalls: Vec<Item<RawFirewall>>,
    address_groups: Vec<Item<RawAddressGroup>>,
    servers: Vec<Item<RawServer>>,
}

fn push<T>(out: &mut Vec<Item<T>>, file: &Path, key: &str, list: Vec<T>, one: Option<T>) {
    for (i, v) in list.into_iter().enumerate() {
        out.push(Item {
            file: file.to_path_buf(),
            path: format!("{key}s[{i}]"),
            v,
        });
    }
    if let Some(v) = one {
        out.push(Item {
            file: file.to_path_buf(),
            path: key.to_string(),
            v,
        });
    }
}

impl Collected {
    fn add(&mut self, file: &JsonFile) -> Result<(), ConfigError> {
        if !file.keys.iter().any(|k| KEYS.contains(&k.as_str())) {
            return Err(ConfigError::Import {
                file: file.path.clone(),
                message: format!(
                    "not a Huawei Cloud API response this importer reads: its top-level keys are \
                     [{}], expected one of {} or their singular forms (see \
                     docs/import-huawei.md)",
                    file.keys.join(", "),
                    KEYS.iter()
                        .filter(|k| k.ends_with('s'))
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let d: Dump = file.parse()?;
        let p = file.path.as_path();
        push(
            &mut self.loadbalancers,
            p,
            "loadbalancer",
            d.loadbalancers,
            d.loadbalancer,
        );
        push(&mut self.listeners, p, "listener", d.listeners, d.listener);
        push(&mut self.pools, p, "pool", d.pools, d.pool);
        let wrapper = d.pool_id.filter(|s| !s.trim().is_empty());
        let members = d
            .members
            .into_iter()
            .map(|raw| MemberIn {
                wrapper_pool: wrapper.clone(),
                raw,
            })
            .collect();
        let member = d.member.map(|raw| MemberIn {
            wrapper_pool: wrapper.clone(),
            raw,
        });
        push(&mut self.members, p, "member", members, member);
        push(
            &mut self.healthmonitors,
            p,
            "healthmonitor",
            d.healthmonitors,
            d.healthmonitor,
        );
        push(&mut self.ipgroups, p, "ipgroup", d.ipgroups, d.ipgroup);
        push(&mut self.subnets, p, "subnet", d.subnets, d.subnet);
        push(
            &mut self.security_groups,
            p,
            "security_group",
            d.security_groups,
            d.security_group,
        );
        push(
            &mut self.security_group_rules,
            p,
            "security_group_rule",
            d.security_group_rules,
            d.security_group_rule,
        );
        push(&mut self.firewalls, p, "firewall", d.firewalls, d.firewall);
        push(
            &mut self.address_groups,
            p,
            "address_group",
            d.address_groups,
            d.address_group,
        );
        push(&mut self.servers, p, "server", d.servers, d.server);
        Ok(())
    }
}

/// Objects saved twice (overlapping pages, a list and a show response) must be the same object:
/// if two copies of an id differ, which one is current is unknown.
fn same_copies<T: PartialEq>(
    items: &[Item<T>],
    id: impl Fn(&T) -> &str,
    what: &str,
) -> Result<(), ConfigError> {
    let mut first: HashMap<&str, &Item<T>> = HashMap::new();
    for item in items {
        let key = id(&item.v);
        match first.get(key) {
            Some(prev) if prev.v != item.v => {
                return Err(item.err(
                    "",
                    format!(
                        "{what} {key} differs from its copy at {} in {}; keep one dump of it",
                        prev.path,
                        prev.file.display()
                    ),
                ));
            }
            Some(_) => {}
            None => {
                first.insert(key, item);
            }
        }
    }
    Ok(())
}

/// The first object of each id: the same object saved twice (overlapping pages, a list and a
/// show response) counts once ([`same_copies`] checked that the copies agree).
fn unique<T>(items: &[Item<T>], id: impl Fn(&T) -> &str) -> Vec<&Item<T>> {
    let mut seen = HashSet::new();
    items
        .iter()
        .filter(|i| seen.insert(id(&i.v).to_string()))
        .collect()
}

/// `Some` for a non-blank string: the API sends `""` and `null` alike for "not set".
fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn owned(s: &Option<String>) -> Option<String> {
    text(s).map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// The API's JSON, as far as it is read
// ---------------------------------------------------------------------------------------------

/// Every key a file may have. Unknown keys (`page_info`, `request_id`, `count`) are ignored.
#[derive(Debug, Default, Deserialize, PartialEq)]
struct Dump {
    #[serde(default, deserialize_with = "de::null_default")]
    loadbalancers: Vec<RawLb>,
    #[serde(default)]
    loadbalancer: Option<RawLb>,
    #[serde(default, deserialize_with = "de::null_default")]
    listeners: Vec<RawListener>,
    #[serde(default)]
    listener: Option<RawListener>,
    #[serde(default, deserialize_with = "de::null_default")]
    pools: Vec<RawPool>,
    #[serde(default)]
    pool: Option<RawPool>,
    #[serde(default, deserialize_with = "de::null_default")]
    members: Vec<RawMember>,
    #[serde(default)]
    member: Option<RawMember>,
    /// Not an API key: the wrapper that says which pool a `ListMembers` response belongs to.
    #[serde(default)]
    pool_id: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    healthmonitors: Vec<RawMonitor>,
    #[serde(default)]
    healthmonitor: Option<RawMonitor>,
    #[serde(default, deserialize_with = "de::null_default")]
    ipgroups: Vec<RawIpGroup>,
    #[serde(default)]
    ipgroup: Option<RawIpGroup>,
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
    #[serde(default, deserialize_with = "de::null_default")]
    servers: Vec<RawServer>,
    #[serde(default)]
    server: Option<RawServer>,
}

/// `{"id": "..."}`, how ELB objects refer to each other.
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct IdRef {
    id: String,
}

/// ELB v3 load balancer (`GET /v3/{project_id}/elb/loadbalancers`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a load balancer object")]
struct RawLb {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_ip")]
    vip_address: Option<IpAddr>,
    /// The address of an IPv6-only load balancer.
    #[serde(default, deserialize_with = "de::opt_ip")]
    ipv6_vip_address: Option<IpAddr>,
    /// Neutron subnet id of the IPv4 frontend subnet.
    #[serde(default)]
    vip_subnet_cidr_id: Option<String>,
    /// VPC subnet (network) ids of the backend subnets (dedicated load balancers).
    #[serde(default, deserialize_with = "de::null_default")]
    elb_virsubnet_ids: Vec<String>,
    /// `true` = dedicated, `false` = shared.
    #[serde(default)]
    guaranteed: Option<bool>,
    /// "IP as a backend".
    #[serde(default)]
    ip_target_enable: Option<bool>,
    #[serde(default, deserialize_with = "de::null_default")]
    listeners: Vec<IdRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum ListenerProto {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TERMINATED_HTTPS")]
    TerminatedHttps,
    #[serde(rename = "QUIC")]
    Quic,
    #[serde(rename = "TLS")]
    Tls,
    /// Gateway load balancers: every protocol and port; not something a probe can target.
    #[serde(rename = "IP")]
    Ip,
}

/// ELB v3 listener.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a listener object")]
struct RawListener {
    id: String,
    #[serde(default)]
    name: Option<String>,
    protocol: ListenerProto,
    #[serde(deserialize_with = "crate::model::values::net::opt_port", default)]
    protocol_port: Option<u16>,
    #[serde(default)]
    default_pool_id: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    loadbalancers: Vec<IdRef>,
    #[serde(default)]
    ipgroup: Option<RawListenerIpGroup>,
}

/// A listener's access control.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an ipgroup (access control) object")]
struct RawListenerIpGroup {
    #[serde(default)]
    ipgroup_id: Option<String>,
    #[serde(default)]
    enable_ipgroup: Option<bool>,
    /// `white` or `black`.
    #[serde(default, rename = "type")]
    kind: Option<AccessMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum PoolProto {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TLS")]
    Tls,
    #[serde(rename = "QUIC")]
    Quic,
    #[serde(rename = "GRPC")]
    Grpc,
    #[serde(rename = "IP")]
    Ip,
}

/// ELB v3 pool (backend server group).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a pool object")]
struct RawPool {
    id: String,
    #[serde(default)]
    name: Option<String>,
    protocol: PoolProto,
    #[serde(default)]
    healthmonitor_id: Option<String>,
    /// Ids of its members: how members listed without a pool id are attributed.
    #[serde(default, deserialize_with = "de::null_default")]
    members: Vec<IdRef>,
}

/// ELB v3 member (`GET .../pools/{pool_id}/members`, or `GET .../elb/members`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a member object")]
struct RawMember {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(deserialize_with = "crate::model::values::net::address")]
    address: IpAddr,
    #[serde(deserialize_with = "crate::model::values::net::opt_port", default)]
    protocol_port: Option<u16>,
    /// Neutron subnet id (IPv4) or network id (IPv6).
    #[serde(default)]
    subnet_cidr_id: Option<String>,
    #[serde(default)]
    operating_status: Option<String>,
    #[serde(default)]
    reason: Option<RawMemberReason>,
    /// Only in some `ListAllMembers` responses.
    #[serde(default)]
    pool_id: Option<String>,
    /// The ECS id, for security groups from a `servers` dump.
    #[serde(default)]
    instance_id: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a member reason object")]
struct RawMemberReason {
    #[serde(default)]
    reason_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum MonitorType {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP_CONNECT")]
    UdpConnect,
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TLS")]
    Tls,
    #[serde(rename = "GRPC")]
    Grpc,
}

/// ELB v3 health monitor.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a health monitor object")]
struct RawMonitor {
    id: String,
    #[serde(rename = "type")]
    kind: MonitorType,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    delay: Option<u32>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    max_retries_down: Option<u32>,
    /// `null` = the member's port.
    #[serde(deserialize_with = "crate::model::values::net::opt_port", default)]
    monitor_port: Option<u16>,
    #[serde(default)]
    url_path: Option<String>,
    #[serde(default)]
    domain_name: Option<String>,
    #[serde(default)]
    expected_codes: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pools: Vec<IdRef>,
}

/// ELB v3 IP address group (access control list of listeners).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an ipgroup object")]
struct RawIpGroup {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    ip_list: Vec<RawIpInfo>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an IP entry object")]
struct RawIpInfo {
    /// An address, a CIDR or a range `a-b`.
    #[serde(deserialize_with = "de::address_entry")]
    ip: Vec<IpNet>,
}

/// VPC v1 subnet (`GET /v1/{project_id}/subnets`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a subnet object")]
struct RawSubnet {
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
}

/// VPC security group, v1/v2 (rules embedded) or v3 (rules listed separately).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a security group object")]
struct RawSecurityGroup {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    security_group_rules: Vec<RawSgRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum EtherType {
    #[serde(rename = "IPv4", alias = "ipv4", alias = "IPV4")]
    V4,
    #[serde(rename = "IPv6", alias = "ipv6", alias = "IPV6")]
    V6,
}

impl EtherType {
    /// Every address of the family: what a rule without a remote side matches.
    fn any(self) -> IpNet {
        match self {
            EtherType::V4 => IpNet::V4(Ipv4Net::default()),
            EtherType::V6 => IpNet::V6(Ipv6Net::default()),
        }
    }

    fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => EtherType::V4,
            IpNet::V6(_) => EtherType::V6,
        }
    }
}

/// VPC security-group rule: v3 (`multiport`, `action`, `priority`) or older (`port_range_*`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a security group rule object")]
struct RawSgRule {
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
struct RawFirewall {
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
struct RawAddressGroup {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::address_list")]
    ip_set: Vec<IpNet>,
    #[serde(default, deserialize_with = "de::null_default")]
    ip_extra_set: Vec<RawIpInfo>,
}

/// ECS server (`GET /v1/{project_id}/cloudservers/detail`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a server object")]
struct RawServer {
    id: String,
    #[serde(default)]
    name: Option<String>,
    /// Network id → the server's addresses on it.
    #[serde(default, deserialize_with = "de::null_default")]
    addresses: HashMap<String, Vec<RawServerAddress>>,
    #[serde(default, deserialize_with = "de::null_default")]
    security_groups: Vec<RawServerGroup>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a server address object")]
struct RawServerAddress {
    #[serde(default, deserialize_with = "de::opt_ip")]
    addr: Option<IpAddr>,
    /// `fixed` (private) or `floating` (an EIP, not on the interface).
    #[serde(default, rename = "OS-EXT-IPS:type")]
    kind: Option<String>,
}

/// `name` is "the name or the UUID"; `id` is not always present.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a server group object")]
struct RawServerGroup {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Deserializers for the API's loose scalars. Errors raised here carry the file, line, column and
/// field path like any serde error.
mod de {
    use std::fmt;
    use std::net::IpAddr;

    use ipnet::IpNet;
    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer};

    use crate::model::{IpProto, PortSet};

    /// `null` reads as the default (an empty list), as an absent key does.
    pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
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
    pub fn opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
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
    pub fn opt_net<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) if !s.trim().is_empty() => {
                super::parse_net(&s).map(Some).map_err(de::Error::custom)
            }
            _ => Ok(None),
        }
    }

    /// One address-group entry: an address, a CIDR, or a range `a-b` split into CIDRs.
    pub fn address_entry<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_address_entry(&s).map_err(de::Error::custom)
    }

    /// A list of address-group entries, flattened.
    pub fn address_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        let list = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        let mut out = Vec::new();
        for s in list {
            out.extend(super::parse_address_entry(&s).map_err(de::Error::custom)?);
        }
        Ok(out)
    }

    /// `tcp`, `UDP`, `icmp`, a number, `any`; `null` and `""` mean every protocol.
    pub fn opt_proto<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpProto>, D::Error> {
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
    pub fn opt_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PortSet>, D::Error> {
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
    pub fn opt_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        match opt_int(d)? {
            None => Ok(None),
            Some(n) => u16::try_from(n)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{n} is out of range"))),
        }
    }

    /// A port or ICMP type/code sent as a number or a numeric string; `-1`/`null` = not set.
    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
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
        crate::model::values::net::parse_cidr(t).map(|n| n.trunc())
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

// ---------------------------------------------------------------------------------------------
// Subnets and address groups
// ---------------------------------------------------------------------------------------------

/// Resolves the three kinds of subnet id ELB and VPC use to model subnet ids.
#[derive(Debug, Default)]
struct SubnetIndex {
    /// VPC subnet id and neutron network id → (IPv4 model id, IPv6 model id).
    network: HashMap<String, (Option<String>, Option<String>)>,
    /// Neutron subnet id (IPv4 or IPv6) → model id.
    neutron: HashMap<String, String>,
}

impl SubnetIndex {
    fn build(items: &[Item<RawSubnet>], out: &mut Vec<Subnet>, origins: &mut Origins) -> Self {
        let mut index = SubnetIndex::default();
        for item in unique(items, |s| &s.id) {
            let s = &item.v;
            let zone = owned(&s.availability_zone);
            let v4 = s.cidr.map(|cidr| {
                item.origin(origins, format!("subnets[{}]", out.len()));
                out.push(Subnet {
                    id: s.id.clone(),
                    cidr,
                    zone: zone.clone(),
                    free_addresses: None,
                });
                s.id.clone()
            });
            let v6 = s.cidr_v6.map(|cidr| {
                let id = format!("{}{IPV6_SUBNET_SUFFIX}", s.id);
                item.origin(origins, format!("subnets[{}]", out.len()));
                out.push(Subnet {
                    id: id.clone(),
                    cidr,
                    zone: zone.clone(),
                    free_addresses: None,
                });
                id
            });
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
    fn network_ids(&self, id: &str) -> Option<Vec<String>> {
        if let Some((v4, v6)) = self.network.get(id) {
            return Some(v4.iter().chain(v6).cloned().collect());
        }
        self.neutron.get(id).map(|m| vec![m.clone()])
    }

    /// The model subnet of an ELB `subnet_cidr_id` (a neutron subnet id, or a network id for
    /// IPv6), choosing the family of `addr` when the id names both.
    fn for_cidr_id(&self, id: &str, addr: Option<IpAddr>) -> Option<String> {
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
fn vpc_address_groups(
    items: &[Item<RawAddressGroup>],
    out: &mut Vec<AddressGroup>,
    origins: &mut Origins,
) -> HashMap<String, Vec<IpNet>> {
    let mut by_id = HashMap::new();
    for item in unique(items, |g| &g.id) {
        let g = &item.v;
        let mut cidrs: Vec<IpNet> = Vec::new();
        for net in g
            .ip_set
            .iter()
            .chain(g.ip_extra_set.iter().flat_map(|e| &e.ip))
        {
            if !cidrs.contains(net) {
                cidrs.push(*net);
            }
        }
        by_id.insert(g.id.clone(), cidrs.clone());
        item.origin(origins, format!("address_groups[{}]", out.len()));
        out.push(AddressGroup {
            id: g.id.clone(),
            name: owned(&g.name),
            cidrs,
        });
    }
    by_id
}

/// ELB ipgroups → model address groups; returns the ids. An empty `ip_list` means every address
/// (the API says so), which is spelled out as `0.0.0.0/0` and `::/0`.
fn elb_ipgroups(
    items: &[Item<RawIpGroup>],
    out: &mut Vec<AddressGroup>,
    origins: &mut Origins,
) -> HashSet<String> {
    let mut ids = HashSet::new();
    for item in unique(items, |g| &g.id) {
        let g = &item.v;
        let mut cidrs: Vec<IpNet> = Vec::new();
        for net in g.ip_list.iter().flat_map(|e| &e.ip) {
            if !cidrs.contains(net) {
                cidrs.push(*net);
            }
        }
        if cidrs.is_empty() {
            cidrs = vec![EtherType::V4.any(), EtherType::V6.any()];
        }
        ids.insert(g.id.clone());
        item.origin(origins, format!("address_groups[{}]", out.len()));
        out.push(AddressGroup {
            id: g.id.clone(),
            name: owned(&g.name),
            cidrs,
        });
    }
    ids
}

// ---------------------------------------------------------------------------------------------
// Security groups
// ---------------------------------------------------------------------------------------------

/// Security groups with their rules, embedded or listed separately, plus placeholders for remote
/// groups and address groups that are not in the dump. Returns the ids that were dumped (as
/// opposed to placeholders).
fn security_groups(
    dump: &Collected,
    model: &mut Model,
    origins: &mut Origins,
) -> Result<HashSet<String>, ConfigError> {
    let mut groups: Vec<SecurityGroup> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut rule_ids: HashSet<(usize, String)> = HashSet::new();
    let mut slot = |groups: &mut Vec<SecurityGroup>, id: &str, name: Option<String>| -> usize {
        let i = *index.entry(id.to_string()).or_insert_with(|| {
            groups.push(SecurityGroup {
                id: id.to_string(),
                name: None,
                rules: Vec::new(),
            });
            groups.len() - 1
        });
        if groups[i].name.is_none() {
            groups[i].name = name;
        }
        i
    };

    for item in &dump.security_groups {
        let g = &item.v;
        let i = slot(&mut groups, &g.id, owned(&g.name));
        item.origin(origins, format!("security_groups[{i}]"));
        for (j, r) in g.security_group_rules.iter().enumerate() {
            let path = format!("security_group_rules[{j}]");
            if let Some(rule) = sg_rule(r, item, &path)?
                && let Some(k) = add_rule(&mut groups[i], i, rule, &mut rule_ids)
            {
                origins.add(
                    format!("security_groups[{i}].rules[{k}]"),
                    &item.file,
                    format!("{}.{path}", item.path),
                );
            }
        }
    }
    for item in &dump.security_group_rules {
        let r = &item.v;
        let Some(gid) = text(&r.security_group_id) else {
            return Err(item.err(
                "security_group_id",
                "missing: a rule listed on its own must name its security group",
            ));
        };
        let i = slot(&mut groups, gid, None);
        if let Some(rule) = sg_rule(r, item, "")?
            && let Some(k) = add_rule(&mut groups[i], i, rule, &mut rule_ids)
        {
            item.origin(origins, format!("security_groups[{i}].rules[{k}]"));
        }
    }

    let dumped: HashSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut placeholders: Vec<String> = Vec::new();
    let known_addr: HashSet<String> = model.address_groups.iter().map(|g| g.id.clone()).collect();
    let mut addr_placeholders: Vec<String> = Vec::new();
    for rule in groups.iter().flat_map(|g| &g.rules) {
        if let Some(g) = &rule.group
            && !dumped.contains(g)
            && !placeholders.contains(g)
        {
            placeholders.push(g.clone());
        }
        if let Some(a) = &rule.address_group
            && !known_addr.contains(a)
            && !addr_placeholders.contains(a)
        {
            addr_placeholders.push(a.clone());
        }
    }
    groups.extend(placeholders.into_iter().map(|id| SecurityGroup {
        id,
        name: None,
        rules: Vec::new(),
    }));
    model
        .address_groups
        .extend(addr_placeholders.into_iter().map(|id| AddressGroup {
            id,
            name: None,
            cidrs: Vec::new(),
        }));
    model.security_groups = groups;
    Ok(dumped)
}

/// Adds a rule unless the same rule id is already in the group (a rule both embedded in its group
/// and listed on its own); returns its index.
fn add_rule(
    group: &mut SecurityGroup,
    index: usize,
    rule: SgRule,
    seen: &mut HashSet<(usize, String)>,
) -> Option<usize> {
    if let Some(id) = &rule.id
        && !seen.insert((index, id.clone()))
    {
        return None;
    }
    group.rules.push(rule);
    Some(group.rules.len() - 1)
}

/// One security-group rule; `None` for a disabled rule.
///
/// * No `action` (the older APIs are allow-only) = allow; no `priority` = the model's default (1).
/// * `protocol` `null`/`""` = every protocol; `icmp` on an IPv6 rule is ICMPv6 (Neutron's reading).
/// * Ports: `multiport` (v3) or `port_range_min`/`port_range_max`; for ICMP the latter are the
///   type and code. Ports of a protocol without ports are ignored, as the provider ignores them.
/// * No remote side = every address *of the rule's `ethertype`* (IPv4 when absent), so that an
///   IPv6 "any" rule does not open IPv4.
fn sg_rule<T>(r: &RawSgRule, item: &Item<T>, path: &str) -> Result<Option<SgRule>, ConfigError> {
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
        let byte = |v: Option<u32>, f: &str| -> Result<Option<u8>, ConfigError> {
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

// ---------------------------------------------------------------------------------------------
// Firewalls
// ---------------------------------------------------------------------------------------------

/// Firewalls → stateful network ACLs.
///
/// A firewall saved both from `ListFirewall` (no rules) and `ShowFirewall` (rules) counts once,
/// with its rules; one known only from the list is an error, since "no rules" would read as
/// deny-all. A disabled firewall (`admin_state_up: false`) filters nothing and is left out.
fn firewalls(
    items: &[Item<RawFirewall>],
    subnets: &SubnetIndex,
    vpc_groups: &HashMap<String, Vec<IpNet>>,
    origins: &mut Origins,
) -> Result<Vec<NetworkAcl>, ConfigError> {
    let mut chosen: Vec<&Item<RawFirewall>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for item in items {
        match index.get(item.v.id.as_str()) {
            Some(&i) => {
                if !chosen[i].v.has_rules() && item.v.has_rules() {
                    chosen[i] = item;
                }
            }
            None => {
                index.insert(item.v.id.as_str(), chosen.len());
                chosen.push(item);
            }
        }
    }

    let mut out = Vec::new();
    for item in chosen {
        let fw = &item.v;
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
        let mut acl_subnets = Vec::new();
        for (j, a) in fw.associations.iter().enumerate() {
            let ids = subnets.network_ids(&a.virsubnet_id).ok_or_else(|| {
                item.err(
                    &format!("associations[{j}].virsubnet_id"),
                    format!(
                        "subnet {} is not in the subnets dump (save ListSubnets)",
                        a.virsubnet_id
                    ),
                )
            })?;
            acl_subnets.extend(ids);
        }
        let none = Vec::new();
        let i = out.len();
        item.origin(origins, format!("network_acls[{i}]"));
        let mut rules = |list: &Option<Vec<RawFwRule>>, direction, key, dir| {
            let rules = acl_rules(
                list.as_ref().unwrap_or(&none),
                direction,
                vpc_groups,
                item,
                key,
            )?;
            Ok::<_, ConfigError>(
                rules
                    .into_iter()
                    .enumerate()
                    .map(|(j, (rule, path))| {
                        origins.add(
                            format!("network_acls[{i}].{dir}[{j}]"),
                            &item.file,
                            format!("{}.{path}", item.path),
                        );
                        rule
                    })
                    .collect(),
            )
        };
        let inbound = rules(
            &fw.ingress_rules,
            Direction::Ingress,
            "ingress_rules",
            "inbound",
        )?;
        let outbound = rules(
            &fw.egress_rules,
            Direction::Egress,
            "egress_rules",
            "outbound",
        )?;
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

/// One direction's rules. Rules are ordered, so a rule's number is its 1-based position; a disabled
/// rule keeps its number (and matches nothing), so numbers stay the console's positions.
///
/// The remote side is the source of inbound and the destination of outbound traffic; the other
/// side is `local_cidr`. A rule naming an address group becomes one entry per CIDR of the group
/// (numbered consecutively, after which later rules shift by as much), because model ACL rules
/// list addresses. An empty remote side means every address of the rule's `ip_version`.
fn acl_rules(
    rules: &[RawFwRule],
    direction: Direction,
    vpc_groups: &HashMap<String, Vec<IpNet>>,
    item: &Item<RawFirewall>,
    list: &str,
) -> Result<Vec<(AclRule, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut next: u32 = 1;
    for (i, r) in rules.iter().enumerate() {
        let path = format!("{list}[{i}]");
        if r.enabled == Some(false) {
            next += 1;
            continue;
        }
        let family = match r.ip_version {
            None => None,
            Some(4) => Some(EtherType::V4),
            Some(6) => Some(EtherType::V6),
            Some(v) => {
                return Err(item.err(
                    &format!("{path}.ip_version"),
                    format!("{v} is not an IP version (4 or 6)"),
                ));
            }
        };
        let side = |net: Option<IpNet>, group: &Option<String>, field: &str| {
            if let Some(net) = net {
                return Ok(vec![Some(net)]);
            }
            let Some(gid) = text(group) else {
                return Ok(vec![None]);
            };
            let cidrs = vpc_groups.get(gid).ok_or_else(|| {
                item.err(
                    &format!("{path}.{field}"),
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
        };
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
        let mut n: u32 = 0;
        for remote in &remote {
            let cidr = remote.or(family.map(EtherType::any));
            for local in &local {
                out.push((
                    AclRule {
                        number: next + n,
                        id: owned(&r.id),
                        action: r.action,
                        protocol,
                        ports: ports.clone(),
                        source_ports: source_ports.clone(),
                        icmp_type: None,
                        icmp_code: None,
                        cidr,
                        local_cidr: *local,
                    },
                    path.clone(),
                ));
                n += 1;
            }
        }
        next += n.max(1);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// Security groups of ECS servers, by server id and by private address.
#[derive(Debug, Default)]
struct ServerIndex {
    by_id: HashMap<String, Vec<String>>,
    by_address: HashMap<IpAddr, Vec<String>>,
}

impl ServerIndex {
    /// A server's groups must be in the security-group dump (placeholders do not count): a
    /// missing group would otherwise read as one without rules.
    fn build(
        items: &[Item<RawServer>],
        groups: &[SecurityGroup],
        dumped: &HashSet<String>,
    ) -> Result<Self, ConfigError> {
        let mut index = ServerIndex::default();
        let dumped: Vec<&SecurityGroup> =
            groups.iter().filter(|g| dumped.contains(&g.id)).collect();
        for item in unique(items, |s| &s.id) {
            let s = &item.v;
            let label = match text(&s.name) {
                Some(n) => format!("server {n} ({})", s.id),
                None => format!("server {}", s.id),
            };
            let mut ids: Vec<String> = Vec::new();
            for (j, g) in s.security_groups.iter().enumerate() {
                let field = format!("security_groups[{j}]");
                let found: Vec<&&SecurityGroup> = match (text(&g.id), text(&g.name)) {
                    (Some(id), _) => dumped.iter().filter(|sg| sg.id == id).collect(),
                    (None, Some(name)) => {
                        let by_id: Vec<_> = dumped.iter().filter(|sg| sg.id == name).collect();
                        if by_id.is_empty() {
                            dumped
                                .iter()
                                .filter(|sg| sg.name.as_deref() == Some(name))
                                .collect()
                        } else {
                            by_id
                        }
                    }
                    (None, None) => continue,
                };
                let wanted = text(&g.id).or(text(&g.name)).unwrap_or_default();
                match found.as_slice() {
                    [sg] => {
                        if !ids.contains(&sg.id) {
                            ids.push(sg.id.clone());
                        }
                    }
                    [] => {
                        return Err(item.err(
                            &field,
                            format!(
                                "{label} carries security group {wanted:?}, which is not in the \
                                 security_groups dump"
                            ),
                        ));
                    }
                    _ => {
                        return Err(item.err(
                            &field,
                            format!(
                                "{label} carries security group {wanted:?}: several dumped groups \
                                 have that name"
                            ),
                        ));
                    }
                }
            }
            for a in s.addresses.values().flatten() {
                let floating = a.kind.as_deref() == Some("floating");
                if let (Some(addr), false) = (a.addr, floating) {
                    index.by_address.insert(addr, ids.clone());
                }
            }
            index.by_id.insert(s.id.clone(), ids);
        }
        Ok(index)
    }

    /// The groups of a member's server: by its ECS id, else by its address.
    fn groups_for(&self, instance_id: Option<&str>, address: IpAddr) -> Vec<String> {
        instance_id
            .and_then(|id| self.by_id.get(id))
            .or_else(|| self.by_address.get(&address))
            .cloned()
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Pools, health monitors and members
// ---------------------------------------------------------------------------------------------

/// Names unique within `items`: the object's name when it has one that no other object has (nor
/// is another object's id), else its id.
fn unique_names<'a>(
    items: impl Iterator<Item = (&'a str, Option<&'a str>)> + Clone,
) -> HashMap<String, String> {
    let ids: HashSet<&str> = items.clone().map(|(id, _)| id).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, name) in items.clone() {
        if let Some(n) = name {
            *count.entry(n).or_default() += 1;
        }
    }
    items
        .map(|(id, name)| {
            let chosen = match name {
                Some(n) if count.get(n) == Some(&1) && (!ids.contains(n) || n == id) => n,
                _ => id,
            };
            (id.to_string(), chosen.to_string())
        })
        .collect()
}

/// Pools → backend groups; returns the model name of each pool id.
fn backend_groups(
    dump: &Collected,
    subnets: &SubnetIndex,
    servers: &ServerIndex,
    out: &mut Vec<BackendGroup>,
    origins: &mut Origins,
) -> Result<HashMap<String, String>, ConfigError> {
    let pools = unique(&dump.pools, |p| &p.id);
    let names = unique_names(pools.iter().map(|p| (p.v.id.as_str(), text(&p.v.name))));

    let monitors: HashMap<&str, &Item<RawMonitor>> = unique(&dump.healthmonitors, |m| &m.id)
        .into_iter()
        .map(|m| (m.v.id.as_str(), m))
        .collect();
    let mut monitor_of_pool: HashMap<&str, &Item<RawMonitor>> = HashMap::new();
    for m in monitors.values() {
        for p in &m.v.pools {
            monitor_of_pool.insert(p.id.as_str(), m);
        }
    }

    let mut members: HashMap<&str, Vec<(Member, &Item<MemberIn>)>> = HashMap::new();
    let member_owner: HashMap<&str, &str> = pools
        .iter()
        .flat_map(|p| p.v.members.iter().map(|m| (m.id.as_str(), p.v.id.as_str())))
        .collect();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for item in &dump.members {
        let m = &item.v.raw;
        let label = format!("member {} ({})", m.id, m.address);
        let pool = match item
            .v
            .wrapper_pool
            .as_deref()
            .or(text(&m.pool_id))
            .or_else(|| member_owner.get(m.id.as_str()).copied())
        {
            Some(p) => p,
            None if pools.len() == 1 => pools[0].v.id.as_str(),
            None => {
                return Err(item.err(
                    "",
                    format!(
                        "{label} cannot be attributed to a pool: it has no pool_id and no dumped \
                         pool lists it. Save each pool's members separately, wrapped as \
                         {{\"pool_id\": \"<pool id>\", \"members\": [...]}}"
                    ),
                ));
            }
        };
        if !names.contains_key(pool) {
            return Err(item.err(
                "",
                format!("{label} belongs to pool {pool}, which is not in the pools dump"),
            ));
        }
        if !seen.insert((pool, m.id.as_str())) {
            continue;
        }
        let port = match m.protocol_port {
            Some(p) if p > 0 => p,
            _ => {
                return Err(item.err(
                    "protocol_port",
                    format!(
                        "{label} has no port; pools that forward on the listener's port \
                         (any_port_enable) are not supported"
                    ),
                ));
            }
        };
        members.entry(pool).or_default().push((
            Member {
                name: owned(&m.name),
                address: m.address,
                port: Some(port),
                subnet: text(&m.subnet_cidr_id)
                    .and_then(|id| subnets.for_cidr_id(id, Some(m.address))),
                security_groups: servers.groups_for(text(&m.instance_id), m.address),
                reported_health: owned(&m.operating_status).map(|state| ReportedHealth {
                    state,
                    reason: m.reason.as_ref().and_then(|r| owned(&r.reason_code)),
                }),
            },
            item,
        ));
    }

    let mut by_id = HashMap::new();
    for item in pools {
        let p = &item.v;
        let name = names.get(&p.id).cloned().unwrap_or_else(|| p.id.clone());
        let protocol = match p.protocol {
            PoolProto::Tcp => AppProto::Tcp,
            PoolProto::Udp | PoolProto::Quic => AppProto::Udp,
            PoolProto::Http | PoolProto::Grpc => AppProto::Http,
            PoolProto::Https => AppProto::Https,
            PoolProto::Tls => AppProto::Tls,
            PoolProto::Ip => {
                return Err(item.err(
                    "protocol",
                    "IP pools (gateway load balancers) are not supported: leave them out of \
                     the dump",
                ));
            }
        };
        let monitor = match text(&p.healthmonitor_id) {
            Some(mid) => Some(*monitors.get(mid).ok_or_else(|| {
                item.err(
                    "healthmonitor_id",
                    format!(
                        "health monitor {mid} is not in the healthmonitors dump (save \
                         ListHealthMonitors)"
                    ),
                )
            })?),
            None => monitor_of_pool.get(p.id.as_str()).copied(),
        };
        by_id.insert(p.id.clone(), name.clone());
        let i = out.len();
        item.origin(origins, format!("backend_groups[{i}]"));
        if let Some(m) = monitor {
            m.origin(origins, format!("backend_groups[{i}].health_check"));
        }
        let members = members
            .remove(p.id.as_str())
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(j, (member, from))| {
                from.origin(origins, format!("backend_groups[{i}].members[{j}]"));
                member
            })
            .collect();
        out.push(BackendGroup {
            name,
            id: Some(p.id.clone()),
            protocol,
            port: None,
            target_type: None,
            health_check: monitor.and_then(|m| health_check(&m.v)),
            members,
        });
    }
    Ok(by_id)
}

/// A health monitor → the model's health check; `None` when it is switched off.
///
/// TLS and GRPC checks are probed as TCP connects: the model has no protocol for them. The
/// defaults for absent fields are the ELB console's (5 s, 3 s, 3 and 3).
fn health_check(m: &RawMonitor) -> Option<HealthCheck> {
    if m.admin_state_up == Some(false) {
        return None;
    }
    let protocol = match m.kind {
        MonitorType::Tcp | MonitorType::Tls | MonitorType::Grpc => HealthCheckProto::Tcp,
        MonitorType::UdpConnect => HealthCheckProto::UdpConnect,
        MonitorType::Http => HealthCheckProto::Http,
        MonitorType::Https => HealthCheckProto::Https,
    };
    let mut hc = HealthCheck::new(protocol);
    hc.port = match m.monitor_port {
        None | Some(0) => HealthCheckPort::TrafficPort,
        Some(p) => HealthCheckPort::Port(p),
    };
    if matches!(protocol, HealthCheckProto::Http | HealthCheckProto::Https) {
        if let Some(p) = text(&m.url_path) {
            hc.path = p.to_string();
        }
        hc.host = owned(&m.domain_name);
        if let Some(c) = text(&m.expected_codes) {
            hc.expected_codes = c.to_string();
        }
    }
    hc.interval_s = m.delay.unwrap_or(5);
    hc.timeout_s = m.timeout.unwrap_or(3);
    hc.healthy_threshold = m.max_retries.unwrap_or(3);
    hc.unhealthy_threshold = m.max_retries_down.unwrap_or(3);
    Some(hc)
}

// ---------------------------------------------------------------------------------------------
// Load balancers and listeners
// ---------------------------------------------------------------------------------------------

/// Load balancers with their listeners. Listeners of load balancers that are not in the dump are
/// ignored (a dump filtered to some load balancers is normal).
fn load_balancers(
    dump: &Collected,
    subnets: &SubnetIndex,
    pools: &HashMap<String, String>,
    ipgroups: &HashSet<String>,
    origins: &mut Origins,
) -> Result<Vec<LoadBalancer>, ConfigError> {
    let lbs = unique(&dump.loadbalancers, |l| &l.id);
    let names = unique_names(lbs.iter().map(|l| (l.v.id.as_str(), text(&l.v.name))));
    let listeners = unique(&dump.listeners, |l| &l.id);
    let mut out = Vec::new();
    for item in lbs {
        let lb = &item.v;
        let dedicated = lb.guaranteed == Some(true);
        let mut lb_subnets: Vec<String> = Vec::new();
        for (j, id) in lb.elb_virsubnet_ids.iter().enumerate() {
            match subnets.network_ids(id) {
                Some(ids) => lb_subnets.extend(ids),
                None if dedicated => {
                    return Err(item.err(
                        &format!("elb_virsubnet_ids[{j}]"),
                        format!(
                            "backend subnet {id} is not in the subnets dump (save ListSubnets): \
                             a dedicated load balancer's health checks come from it"
                        ),
                    ));
                }
                None => {}
            }
        }
        if lb_subnets.is_empty()
            && let Some(id) = text(&lb.vip_subnet_cidr_id)
            && let Some(s) = subnets.for_cidr_id(id, lb.vip_address)
        {
            lb_subnets.push(s);
        }
        if dedicated && lb_subnets.is_empty() {
            return Err(item.err(
                "",
                format!(
                    "dedicated load balancer {} has none of its subnets (elb_virsubnet_ids, \
                     vip_subnet_cidr_id) in the subnets dump (save ListSubnets): its health \
                     checks come from its backend subnet",
                    lb.id
                ),
            ));
        }

        let mut lb_listeners = Vec::new();
        for l in &listeners {
            let attached = l.v.loadbalancers.iter().any(|r| r.id == lb.id)
                || lb.listeners.iter().any(|r| r.id == l.v.id);
            if attached {
                l.origin(
                    origins,
                    format!(
                        "load_balancers[{}].listeners[{}]",
                        out.len(),
                        lb_listeners.len()
                    ),
                );
                lb_listeners.push(listener(l, pools, ipgroups)?);
            }
        }
        item.origin(origins, format!("load_balancers[{}]", out.len()));
        out.push(LoadBalancer {
            name: names.get(&lb.id).cloned().unwrap_or_else(|| lb.id.clone()),
            id: Some(lb.id.clone()),
            provider: Provider::Huawei,
            kind: if dedicated {
                LbKind::Dedicated
            } else {
                LbKind::Shared
            },
            address: lb.vip_address.or(lb.ipv6_vip_address),
            subnets: lb_subnets,
            security_groups: Vec::new(),
            health_check_sources: None,
            ip_as_backend: Some(lb.ip_target_enable.unwrap_or(false)),
            listeners: lb_listeners,
        });
    }
    Ok(out)
}

/// One listener. QUIC is UDP on the wire; TERMINATED_HTTPS is HTTPS to clients. Access control
/// applies when `enable_ipgroup` is not `false`, and its ipgroup must be dumped: a whitelist
/// without its addresses cannot be evaluated.
fn listener(
    item: &Item<RawListener>,
    pools: &HashMap<String, String>,
    ipgroups: &HashSet<String>,
) -> Result<Listener, ConfigError> {
    let l = &item.v;
    let protocol = match l.protocol {
        ListenerProto::Tcp => AppProto::Tcp,
        ListenerProto::Udp | ListenerProto::Quic => AppProto::Udp,
        ListenerProto::Http => AppProto::Http,
        ListenerProto::Https | ListenerProto::TerminatedHttps => AppProto::Https,
        ListenerProto::Tls => AppProto::Tls,
        ListenerProto::Ip => {
            return Err(item.err(
                "protocol",
                "IP listeners (gateway load balancers) are not supported: leave them out of the \
                 dump",
            ));
        }
    };
    let port = match l.protocol_port {
        Some(p) if p > 0 => p,
        _ => {
            return Err(item.err(
                "protocol_port",
                format!(
                    "listener {} has no port; all-port listeners (port_ranges) are not supported",
                    l.id
                ),
            ));
        }
    };
    let backend_group = match text(&l.default_pool_id) {
        None => None,
        Some(pid) => Some(pools.get(pid).cloned().ok_or_else(|| {
            item.err(
                "default_pool_id",
                format!("pool {pid} is not in the pools dump (save ListPools)"),
            )
        })?),
    };
    let access_control = match &l.ipgroup {
        Some(g) if g.enable_ipgroup != Some(false) => {
            let Some(gid) = text(&g.ipgroup_id) else {
                return Err(item.err(
                    "ipgroup.ipgroup_id",
                    "access control is on but names no ipgroup",
                ));
            };
            if !ipgroups.contains(gid) {
                return Err(item.err(
                    "ipgroup.ipgroup_id",
                    format!("ipgroup {gid} is not in the ipgroups dump (save ListIpGroups)"),
                ));
            }
            let Some(mode) = g.kind else {
                return Err(item.err(
                    "ipgroup.type",
                    "access control is on but its type (white or black) is missing",
                ));
            };
            Some(AccessControl {
                id: Some(gid.to_string()),
                mode,
                cidrs: Vec::new(),
                address_groups: vec![gid.to_string()],
            })
        }
        _ => None,
    };
    Ok(Listener {
        name: owned(&l.name),
        protocol,
        port,
        backend_group,
        access_control,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortRange, validate};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/huawei")
            .join(name)
    }

    /// Imports a fixture directory and checks that the model validates.
    fn load(name: &str, agent: Option<IpAddr>) -> Model {
        let m = load_dir(&fixture(name), agent).expect("fixture imports");
        let errors = validate(&m);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        m
    }

    fn doc(name: &str, json: &str) -> JsonFile {
        JsonFile::new(PathBuf::from(name), json.as_bytes().to_vec()).expect("valid JSON")
    }

    /// Imports inline documents and checks that the model validates.
    fn import_ok(docs: &[JsonFile]) -> Model {
        let m = import(docs, None).expect("imports");
        let errors = validate(&m);
        assert!(errors.is_empty(), "{errors:?}");
        m
    }

    fn import_err(docs: &[JsonFile]) -> String {
        match import(docs, None) {
            Ok(m) => panic!("expected an error, got {m:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("CIDR")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn group<'a>(m: &'a Model, name: &str) -> &'a BackendGroup {
        m.backend_groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no backend group {name}"))
    }

    const ELB_SUBNET: &str = "8c1f2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    const APP_SUBNET: &str = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
    const SG_BACKEND: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    const SG_PROBE: &str = "1c2d3e4f-5a6b-4c7d-9e8f-0a1b2c3d4e5f";

    #[test]
    fn dedicated_fixture_load_balancer_and_listeners() {
        let m = load("dedicated-http-udp", None);
        assert_eq!(
            m.subnets,
            vec![
                Subnet {
                    id: ELB_SUBNET.into(),
                    cidr: net("192.168.0.0/24"),
                    zone: Some("cn-north-4a".into()),
                    free_addresses: None,
                },
                Subnet {
                    id: APP_SUBNET.into(),
                    cidr: net("192.168.1.0/24"),
                    zone: Some("cn-north-4a".into()),
                    free_addresses: None,
                },
            ]
        );
        let [lb] = m.load_balancers.as_slice() else {
            panic!("one load balancer: {:?}", m.load_balancers)
        };
        assert_eq!(lb.name, "elb-ded");
        assert_eq!(
            lb.id.as_deref(),
            Some("e1a2b3c4-d5e6-4f7a-8b9c-0d1e2f3a4b5c")
        );
        assert_eq!(lb.provider, Provider::Huawei);
        assert_eq!(lb.kind, LbKind::Dedicated);
        assert_eq!(lb.address, Some(ip("192.168.0.10")));
        assert_eq!(lb.subnets, vec![ELB_SUBNET.to_string()]);
        assert_eq!(lb.ip_as_backend, Some(true));
        assert_eq!(lb.health_check_sources, None, "derived by the evaluator");
        assert_eq!(
            lb.listeners,
            vec![
                Listener {
                    name: Some("listener-http".into()),
                    protocol: AppProto::Http,
                    port: 80,
                    backend_group: Some("web".into()),
                    access_control: None,
                },
                Listener {
                    name: Some("listener-dns".into()),
                    protocol: AppProto::Udp,
                    port: 53,
                    backend_group: Some("dns".into()),
                    // enable_ipgroup is false: the (undumped) blacklist does not apply.
                    access_control: None,
                },
            ]
        );
    }

    #[test]
    fn dedicated_fixture_health_checks_and_members() {
        let m = load("dedicated-http-udp", None);
        let web = group(&m, "web");
        assert_eq!(
            web.id.as_deref(),
            Some("c5e3a7b9-4d6f-4a8b-8c3e-5a7b9c1d3e4f")
        );
        assert_eq!(web.protocol, AppProto::Http);
        assert_eq!(
            web.health_check,
            Some(HealthCheck {
                protocol: HealthCheckProto::Http,
                port: HealthCheckPort::Port(8081),
                path: "/health".into(),
                host: Some("www.example.com".into()),
                expected_codes: "200".into(),
                interval_s: 5,
                timeout_s: 3,
                healthy_threshold: 3,
                unhealthy_threshold: 2,
            })
        );
        assert_eq!(
            web.members,
            vec![
                Member {
                    name: Some("web-1".into()),
                    address: ip("192.168.1.11"),
                    port: Some(80),
                    subnet: Some(APP_SUBNET.into()),
                    security_groups: vec![SG_BACKEND.into()],
                    reported_health: Some(ReportedHealth {
                        state: "ONLINE".into(),
                        reason: None
                    }),
                },
                Member {
                    name: Some("web-2".into()),
                    address: ip("192.168.1.12"),
                    port: Some(80),
                    subnet: Some(APP_SUBNET.into()),
                    security_groups: vec![SG_BACKEND.into()],
                    reported_health: Some(ReportedHealth {
                        state: "OFFLINE".into(),
                        reason: Some("CONNECT_TIMEOUT".into())
                    }),
                },
            ]
        );

        let dns = group(&m, "dns");
        assert_eq!(dns.protocol, AppProto::Udp);
        let hc = dns.health_check.as_ref().expect("UDP health check");
        assert_eq!(hc.protocol, HealthCheckProto::UdpConnect);
        assert_eq!(hc.port, HealthCheckPort::TrafficPort, "monitor_port null");
        assert_eq!((hc.interval_s, hc.timeout_s), (10, 5));
        assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (3, 3));
        // The dns members file has no pool id: the pool's `members` list attributes it, and the
        // server's group is found by name.
        let [member] = dns.members.as_slice() else {
            panic!("one dns member: {:?}", dns.members)
        };
        assert_eq!(member.address, ip("192.168.1.21"));
        assert_eq!(member.port, Some(53));
        assert_eq!(
            member.subnet.as_deref(),
            Some(APP_SUBNET),
            "via neutron_subnet_id"
        );
        assert_eq!(member.security_groups, vec![SG_BACKEND.to_string()]);
    }

    #[test]
    fn dedicated_fixture_security_group_has_no_icmp() {
        let m = load("dedicated-http-udp", Some(ip("192.168.0.50")));
        let sg = m
            .security_groups
            .iter()
            .find(|g| g.id == SG_BACKEND)
            .expect("sg-backend");
        assert_eq!(sg.name.as_deref(), Some("sg-backend"));
        assert_eq!(sg.rules.len(), 6);
        let r = &sg.rules[0];
        assert_eq!(
            r.id.as_deref(),
            Some("7f1e2d3c-0001-4b5a-9c8d-7e6f5a4b3c01")
        );
        assert_eq!(r.direction, Direction::Ingress);
        assert_eq!((r.action, r.priority), (Action::Allow, Some(1)));
        assert_eq!(r.protocol, IpProto::Tcp);
        assert_eq!(
            r.ports,
            PortSet(vec![PortRange::single(80), PortRange::single(8081)])
        );
        assert_eq!(r.cidr, Some(net("192.168.0.0/24")));
        assert_eq!(
            r.description.as_deref(),
            Some("HTTP and health check from the ELB backend subnet")
        );
        assert_eq!(
            (sg.rules[1].protocol, &sg.rules[1].ports),
            (IpProto::Udp, &PortSet::single(53))
        );
        let deny = &sg.rules[2];
        assert_eq!((deny.action, deny.priority), (Action::Deny, Some(10)));
        assert_eq!(deny.cidr, Some(net("0.0.0.0/0")));
        let same_group = &sg.rules[3];
        assert_eq!(same_group.group.as_deref(), Some(SG_BACKEND));
        assert_eq!((same_group.protocol, same_group.cidr), (IpProto::Any, None));
        // Null remotes are "any address of the rule's family".
        assert_eq!(sg.rules[4].cidr, Some(net("0.0.0.0/0")));
        assert_eq!(sg.rules[5].cidr, Some(net("::/0")));
        assert_eq!(sg.rules[5].direction, Direction::Egress);
        // The seed's classic mistake: UDP health checks need ICMP, and no rule allows it.
        let icmp_from_addresses = sg.rules.iter().filter(|r| {
            r.direction == Direction::Ingress
                && r.action == Action::Allow
                && r.cidr.is_some()
                && (r.protocol.is_icmp() || r.protocol == IpProto::Any)
        });
        assert_eq!(icmp_from_addresses.count(), 0, "{:?}", sg.rules);

        assert_eq!(m.agent.address, Some(ip("192.168.0.50")));
        assert_eq!(m.agent.security_groups, vec![SG_PROBE.to_string()]);
    }

    #[test]
    fn dedicated_fixture_firewall_is_stateful_and_numbered() {
        let m = load("dedicated-http-udp", None);
        let [acl] = m.network_acls.as_slice() else {
            panic!("one firewall: {:?}", m.network_acls)
        };
        assert_eq!(acl.id, "2d3e4f5a-6b7c-4d8e-8f9a-1b2c3d4e5f6a");
        assert_eq!(acl.name.as_deref(), Some("fw-app"));
        assert!(acl.stateful);
        assert_eq!(acl.subnets, vec![APP_SUBNET.to_string()]);
        let numbers: Vec<u32> = acl.inbound.iter().map(|r| r.number).collect();
        assert_eq!(numbers, vec![1, 2, 3, 4]);
        assert_eq!(
            acl.inbound[0],
            AclRule {
                number: 1,
                id: Some("4a5b6c7d-0001-4e8f-9a0b-1c2d3e4f5a01".into()),
                action: Action::Allow,
                protocol: IpProto::Tcp,
                ports: PortSet(vec![PortRange::single(80), PortRange::single(8081)]),
                source_ports: PortSet::any(),
                icmp_type: None,
                icmp_code: None,
                cidr: Some(net("192.168.0.0/24")),
                local_cidr: Some(net("192.168.1.0/24")),
            }
        );
        assert_eq!(acl.inbound[2].protocol, IpProto::Icmp);
        assert_eq!(acl.inbound[2].local_cidr, None);
        let ssh = &acl.inbound[3];
        assert_eq!(
            (ssh.action, ssh.cidr),
            (Action::Deny, Some(net("0.0.0.0/0")))
        );
        assert_eq!(ssh.ports, PortSet::single(22));
        let [out] = acl.outbound.as_slice() else {
            panic!("one egress rule")
        };
        assert_eq!(
            (out.number, out.protocol, out.cidr),
            (1, IpProto::Any, Some(net("0.0.0.0/0")))
        );
    }

    #[test]
    fn shared_fixture_access_control_and_tcp_check() {
        let m = load("shared-l4-no-ip-backend", None);
        let [lb] = m.load_balancers.as_slice() else {
            panic!("one load balancer")
        };
        assert_eq!(lb.name, "elb-shared");
        assert_eq!(lb.kind, LbKind::Shared);
        assert_eq!(lb.ip_as_backend, Some(false));
        assert_eq!(lb.address, Some(ip("10.0.1.100")));
        // No backend subnets: the frontend subnet, found by its neutron subnet id.
        assert_eq!(
            lb.subnets,
            vec!["7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d".to_string()]
        );

        let pool_id = "c3d4e5f6-cccc-4ddd-8eee-ffff00000003";
        let ipgroup = "b2c3d4e5-bbbb-4ccc-9ddd-eeeeffff0002";
        assert_eq!(
            lb.listeners,
            vec![Listener {
                name: Some("tcp-8080".into()),
                protocol: AppProto::Tcp,
                port: 8080,
                backend_group: Some(pool_id.into()),
                access_control: Some(AccessControl {
                    id: Some(ipgroup.into()),
                    mode: AccessMode::Whitelist,
                    cidrs: vec![],
                    address_groups: vec![ipgroup.into()],
                }),
            }]
        );
        let office = m
            .address_groups
            .iter()
            .find(|g| g.id == ipgroup)
            .expect("ipgroup imported as an address group");
        assert_eq!(office.name.as_deref(), Some("office"));
        assert_eq!(
            office.cidrs,
            [
                "203.0.113.0/24",
                "198.51.100.7/32",
                "192.0.2.10/31",
                "192.0.2.12/30",
                "192.0.2.16/30",
                "192.0.2.20/32",
            ]
            .map(net)
        );

        // The pool has no name: its id names the backend group.
        let bg = group(&m, pool_id);
        assert_eq!(bg.protocol, AppProto::Tcp);
        let mut expected = HealthCheck::new(HealthCheckProto::Tcp);
        expected.interval_s = 5;
        expected.timeout_s = 3;
        expected.healthy_threshold = 3;
        expected.unhealthy_threshold = 3; // max_retries_down absent
        assert_eq!(bg.health_check, Some(expected));
        let names: Vec<_> = bg.members.iter().map(|m| m.name.clone()).collect();
        assert_eq!(names, vec![None, Some("app-2".to_string())]);
        assert!(bg.members.iter().all(|m| m.security_groups.is_empty()));
        assert!(bg.members.iter().all(|m| m.subnet.is_some()));
    }

    #[test]
    fn shared_fixture_old_style_rules_and_placeholders() {
        let m = load("shared-l4-no-ip-backend", None);
        let sg = m
            .security_groups
            .iter()
            .find(|g| g.name.as_deref() == Some("sg-app"))
            .expect("sg-app");
        let hc = &sg.rules[0];
        assert_eq!(hc.protocol, IpProto::Tcp);
        assert_eq!(hc.ports, PortSet::range(8080, 8080));
        assert_eq!(hc.cidr, Some(net("100.125.0.0/16")));
        assert_eq!((hc.action, hc.priority), (Action::Allow, None));
        let ping = &sg.rules[1];
        assert_eq!(ping.protocol, IpProto::Icmp);
        assert_eq!((ping.icmp_type, ping.icmp_code), (Some(8), Some(0)));
        assert!(ping.ports.is_any());

        let remote = "0f1e2d3c-9999-4aaa-8bbb-cccc00000008";
        assert_eq!(sg.rules[2].group.as_deref(), Some(remote));
        assert_eq!(sg.rules[2].ports, PortSet::range(8080, 8090));
        let placeholder = m
            .security_groups
            .iter()
            .find(|g| g.id == remote)
            .expect("placeholder for the remote group");
        assert!(placeholder.rules.is_empty() && placeholder.name.is_none());

        let scrapers = "1a2b3c4d-aaaa-4bbb-8ccc-dddd00000009";
        assert_eq!(sg.rules[3].address_group.as_deref(), Some(scrapers));
        let ag = m
            .address_groups
            .iter()
            .find(|g| g.id == scrapers)
            .expect("placeholder address group");
        assert!(ag.cidrs.is_empty());
    }

    #[test]
    fn files_are_recognised_by_key_not_name() {
        let dir = fixture("dedicated-http-udp");
        let files = crate::config::read_json_dir(&dir).expect("fixture reads");
        let renamed: Vec<JsonFile> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                JsonFile::new(PathBuf::from(format!("dump-{i}.json")), f.bytes.clone())
                    .expect("valid")
            })
            .collect();
        let a = import(&files, None).expect("imports");
        let b = import(&renamed, None).expect("imports under other names");
        assert_eq!(a, b);
        assert_eq!(b.load_balancers.len(), 1);
    }

    #[test]
    fn unrecognised_file_names_file_and_keys() {
        let err =
            import(&[doc("notes.json", r#"{"foo": 1, "bar": []}"#)], None).expect_err("not a dump");
        match &err {
            ConfigError::Import { file, message } => {
                assert_eq!(file, Path::new("notes.json"));
                assert!(message.contains("[foo, bar]") || message.contains("[bar, foo]"));
                assert!(message.contains("loadbalancers"), "{message}");
            }
            other => panic!("expected an import error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_error_has_path_and_line() {
        let json = "{\"listeners\": [\n  {\"id\": \"l1\", \"protocol\": \"TCP\",\n   \"protocol_port\": \"eighty\"}\n]}";
        match import(&[doc("listeners.json", json)], None) {
            Err(ConfigError::Syntax {
                file, line, path, ..
            }) => {
                assert_eq!(file, Path::new("listeners.json"));
                assert_eq!(path, "listeners[0].protocol_port");
                assert_eq!(line, Some(3));
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let json = r#"{"security_group_rules": [{"security_group_id": "g", "direction": "ingress", "remote_ip_prefix": "10.0.0.0/33"}]}"#;
        let err = import_err(&[doc("rules.json", json)]);
        assert!(
            err.contains("security_group_rules[0].remote_ip_prefix"),
            "{err}"
        );
        assert!(err.contains("invalid CIDR"), "{err}");
        let json = r#"{"listeners": [{"id": "l1", "protocol": "SCTP", "protocol_port": 1}]}"#;
        let err = import_err(&[doc("l.json", json)]);
        assert!(
            err.contains("listeners[0].protocol") && err.contains("SCTP"),
            "{err}"
        );
    }

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
    fn members_of_several_pools_need_a_pool_id() {
        let pools = r#"{"pools": [
            {"id": "p1", "name": "a", "protocol": "TCP", "members": []},
            {"id": "p2", "name": "b", "protocol": "TCP", "members": []}]}"#;
        let members = r#"{"members": [{"id": "m1", "address": "10.0.0.1", "protocol_port": 80}]}"#;
        let err = import_err(&[doc("pools.json", pools), doc("members.json", members)]);
        assert!(err.contains("members.json"), "{err}");
        assert!(err.contains("members[0]"), "{err}");
        assert!(
            err.contains(r#"{"pool_id": "<pool id>", "members": [...]}"#),
            "{err}"
        );

        let wrapped = r#"{"pool_id": "p2", "members": [{"id": "m1", "address": "10.0.0.1", "protocol_port": 80}]}"#;
        let m = import_ok(&[doc("pools.json", pools), doc("m.json", wrapped)]);
        assert!(group(&m, "a").members.is_empty());
        assert_eq!(group(&m, "b").members.len(), 1);

        let unknown = r#"{"pool_id": "p9", "members": [{"id": "m1", "address": "10.0.0.1", "protocol_port": 80}]}"#;
        let err = import_err(&[doc("pools.json", pools), doc("m.json", unknown)]);
        assert!(
            err.contains("pool p9, which is not in the pools dump"),
            "{err}"
        );
    }

    #[test]
    fn two_different_copies_of_one_id_are_an_error() {
        let page1 = r#"{"pools": [{"id": "p1", "name": "web", "protocol": "HTTP"}]}"#;
        let page2 = r#"{"pools": [{"id": "p1", "name": "web", "protocol": "HTTP"},
            {"id": "p2", "name": "api", "protocol": "TCP"}]}"#;
        // The same object twice (overlapping pages) counts once.
        let m = import_ok(&[doc("a.json", page1), doc("b.json", page2)]);
        assert_eq!(m.backend_groups.len(), 2);
        let changed = r#"{"pools": [{"id": "p1", "name": "web", "protocol": "TCP"}]}"#;
        let e = import_err(&[doc("a.json", page1), doc("c.json", changed)]);
        assert!(
            e.starts_with(
                "c.json:1:12: pools[0]: pool p1 differs from its copy at pools[0] in a.json"
            ),
            "{e}"
        );
    }

    #[test]
    fn duplicate_pool_names_fall_back_to_ids() {
        let pools = r#"{"pools": [
            {"id": "p1", "name": "same", "protocol": "HTTP"},
            {"id": "p2", "name": "same", "protocol": "HTTP"},
            {"id": "p3", "name": "other", "protocol": "TCP"}]}"#;
        let m = import_ok(&[doc("pools.json", pools)]);
        let names: Vec<&str> = m.backend_groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["p1", "p2", "other"]);
    }

    #[test]
    fn monitor_found_through_its_pools_list() {
        let pools =
            r#"{"pool": {"id": "p1", "name": "a", "protocol": "HTTPS", "healthmonitor_id": ""}}"#;
        let monitors = r#"{"healthmonitor": {"id": "h1", "type": "HTTPS", "delay": 2, "timeout": 1,
            "max_retries": 2, "max_retries_down": 5, "monitor_port": 8443, "url_path": "/ready",
            "expected_codes": "200-204", "domain_name": "", "pools": [{"id": "p1"}]}}"#;
        let m = import_ok(&[doc("p.json", pools), doc("h.json", monitors)]);
        let hc = group(&m, "a").health_check.clone().expect("check");
        assert_eq!(hc.protocol, HealthCheckProto::Https);
        assert_eq!(hc.port, HealthCheckPort::Port(8443));
        assert_eq!(
            (hc.path.as_str(), hc.expected_codes.as_str()),
            ("/ready", "200-204")
        );
        assert_eq!(hc.host, None);
        assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (2, 5));

        let missing =
            r#"{"pool": {"id": "p1", "name": "a", "protocol": "HTTP", "healthmonitor_id": "h9"}}"#;
        let err = import_err(&[doc("p.json", missing)]);
        assert!(
            err.contains("pool.healthmonitor_id") && err.contains("h9"),
            "{err}"
        );
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
    fn dedicated_load_balancer_needs_its_subnets() {
        let lbs = r#"{"loadbalancers": [{"id": "lb1", "name": "x", "guaranteed": true,
            "elb_virsubnet_ids": ["s1"], "vip_subnet_cidr_id": "n1"}]}"#;
        let err = import_err(&[doc("lb.json", lbs)]);
        assert!(
            err.contains("loadbalancers[0].elb_virsubnet_ids[0]") && err.contains("ListSubnets"),
            "{err}"
        );

        let shared = r#"{"loadbalancers": [{"id": "lb1", "name": "x", "guaranteed": false,
            "vip_subnet_cidr_id": "n1", "vip_address": ""}]}"#;
        let m = import_ok(&[doc("lb.json", shared)]);
        assert!(m.load_balancers[0].subnets.is_empty());
        assert_eq!(m.load_balancers[0].address, None);
    }

    #[test]
    fn enabled_access_control_needs_its_ipgroup() {
        let listener = r#"{"listener": {"id": "l1", "protocol": "UDP", "protocol_port": 53,
            "loadbalancers": [{"id": "lb1"}],
            "ipgroup": {"ipgroup_id": "ig1", "enable_ipgroup": true, "type": "black"}}}"#;
        let lb = r#"{"loadbalancer": {"id": "lb1", "name": "x", "guaranteed": false}}"#;
        let err = import_err(&[doc("l.json", listener), doc("lb.json", lb)]);
        assert!(
            err.contains("listener.ipgroup.ipgroup_id") && err.contains("ListIpGroups"),
            "{err}"
        );

        let any = r#"{"ipgroup": {"id": "ig1", "name": "everyone", "ip_list": []}}"#;
        let m = import_ok(&[
            doc("l.json", listener),
            doc("lb.json", lb),
            doc("ig.json", any),
        ]);
        let ac = m.load_balancers[0].listeners[0]
            .access_control
            .clone()
            .expect("on");
        assert_eq!(ac.mode, AccessMode::Blacklist);
        // An empty ip_list means every address.
        assert_eq!(
            m.address_groups[0].cidrs,
            vec![net("0.0.0.0/0"), net("::/0")]
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

    #[test]
    fn server_groups_must_be_dumped() {
        let servers = r#"{"servers": [{"id": "i1", "name": "web", "addresses": {"net": [
            {"addr": "10.0.0.1", "OS-EXT-IPS:type": "fixed"}]},
            "security_groups": [{"name": "sg-missing"}]}]}"#;
        let err = import_err(&[doc("servers.json", servers)]);
        assert!(
            err.contains("servers[0].security_groups[0]") && err.contains("sg-missing"),
            "{err}"
        );
    }

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
