//! ELB v3: load balancers, listeners and their access control, pools, members, health monitors
//! and IP address groups (ipgroups).
//!
//! | top-level key                    | call                                    | becomes                 |
//! |----------------------------------|-----------------------------------------|-------------------------|
//! | `loadbalancers` / `loadbalancer` | `ListLoadBalancers`                     | `load_balancers`        |
//! | `listeners` / `listener`         | `ListListeners`                         | their listeners         |
//! | `pools` / `pool`                 | `ListPools`                             | `backend_groups`        |
//! | `members` / `member` (+`pool_id`)| `ListMembers` per pool, `ListAllMembers`| their members           |
//! | `healthmonitors` / `healthmonitor` | `ListHealthMonitors`                  | their health checks     |
//! | `ipgroups` / `ipgroup`           | `ListIpGroups`                          | `address_groups`        |

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::Deserialize;

use super::ecs::ServerIndex;
use super::eip::EipIndex;
use super::values::{EtherType, RawIpInfo, de, owned, text};
use super::vpc::SubnetIndex;
use super::{Dump, add_address_group, distinct, responses};
use crate::import::{Collection, DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{
    AccessControl, AccessMode, AddressGroup, AppProto, BackendGroup, HealthCheck, HealthCheckPort,
    HealthCheckProto, LbKind, LbNode, Listener, LoadBalancer, Member, Provider, ReportedHealth,
    Scheme,
};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &[
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
    ],
    wrappers: &["pool_id"],
    add,
};

/// The ELB keys of one file, list and show-one responses.
#[derive(Debug, Default, Deserialize, PartialEq)]
struct Doc {
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
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let d: Doc = file.parse()?;
    let lbs = responses(file, "loadbalancer", d.loadbalancers, d.loadbalancer);
    dump.loadbalancers.extend(lbs, |l| Some(l.id.as_str()));
    let listeners = responses(file, "listener", d.listeners, d.listener);
    dump.listeners.extend(listeners, |l| Some(l.id.as_str()));
    let pools = responses(file, "pool", d.pools, d.pool);
    dump.pools.extend(pools, |p| Some(p.id.as_str()));
    let wrapper = d.pool_id.filter(|s| !s.trim().is_empty());
    let in_pool = |raw| MemberIn {
        wrapper_pool: wrapper.clone(),
        raw,
    };
    let members = d.members.into_iter().map(in_pool).collect();
    dump.members
        .extend(responses(file, "member", members, d.member.map(in_pool)));
    let monitors = responses(file, "healthmonitor", d.healthmonitors, d.healthmonitor);
    dump.healthmonitors
        .extend(monitors, |m| Some(m.id.as_str()));
    let ipgroups = responses(file, "ipgroup", d.ipgroups, d.ipgroup);
    dump.ipgroups.extend(ipgroups, |g| Some(g.id.as_str()));
    Ok(())
}

/// A member and the pool its file was wrapped with (`{"pool_id": ..., "members": [...]}`).
#[derive(Debug)]
pub(super) struct MemberIn {
    wrapper_pool: Option<String>,
    raw: RawMember,
}

/// `{"id": "..."}`, how ELB objects refer to each other.
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct IdRef {
    id: String,
}

/// ELB v3 load balancer (`GET /v3/{project_id}/elb/loadbalancers`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a load balancer object")]
pub(super) struct RawLb {
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
    /// The port of `vip_address`: an EIP bound to it makes the load balancer internet-facing.
    #[serde(default)]
    vip_port_id: Option<String>,
    /// The port and VPC subnet of `ipv6_vip_address`.
    #[serde(default)]
    ipv6_vip_port_id: Option<String>,
    #[serde(default)]
    ipv6_vip_virsubnet_id: Option<String>,
    /// The EIPs bound to it (dedicated: `eips`; `publicips` holds the same data). `None` when the
    /// response has neither key: then only a `publicips` dump can say.
    #[serde(default)]
    eips: Option<Vec<RawLbEip>>,
    #[serde(default)]
    publicips: Option<Vec<RawLbPublicIp>>,
}

/// `loadbalancer.eips[]` (SDK `EipInfo`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an EIP object (eip_id, eip_address, ip_version)")]
struct RawLbEip {
    #[serde(default, deserialize_with = "de::opt_ip")]
    eip_address: Option<IpAddr>,
}

/// `loadbalancer.publicips[]` (SDK `PublicIpInfo`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a public IP object (publicip_id, publicip_address, ip_version)")]
struct RawLbPublicIp {
    #[serde(default, deserialize_with = "de::opt_ip")]
    publicip_address: Option<IpAddr>,
}

impl RawLb {
    /// The public addresses the response itself lists; `None` when it has no `eips` or
    /// `publicips` key (an older or filtered response), so it says nothing either way.
    fn listed_eips(&self) -> Option<Vec<IpAddr>> {
        if self.eips.is_none() && self.publicips.is_none() {
            return None;
        }
        let eips = self.eips.iter().flatten().filter_map(|e| e.eip_address);
        let public = self
            .publicips
            .iter()
            .flatten()
            .filter_map(|e| e.publicip_address);
        let mut out: Vec<IpAddr> = Vec::new();
        for a in eips.chain(public) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Some(out)
    }
}

impl Kind for RawLb {
    const WHAT: &str = "load balancer";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ListenerProto {
    Tcp,
    Udp,
    Http,
    Https,
    TerminatedHttps,
    Quic,
    Tls,
    /// Gateway load balancers: every protocol and port; not something a probe can target.
    Ip,
}

/// ELB v3 listener.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a listener object")]
pub(super) struct RawListener {
    id: String,
    #[serde(default)]
    name: Option<String>,
    protocol: ListenerProto,
    #[serde(deserialize_with = "probe_model::values::net::opt_port", default)]
    protocol_port: Option<u16>,
    #[serde(default)]
    default_pool_id: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    loadbalancers: Vec<IdRef>,
    #[serde(default)]
    ipgroup: Option<RawListenerIpGroup>,
    /// Shared load balancers' TCP/UDP listeners: members see the clients' addresses.
    #[serde(default)]
    transparent_client_ip_enable: Option<bool>,
}

impl Kind for RawListener {
    const WHAT: &str = "listener";
}

/// A listener's access control.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an ipgroup (access control) object")]
struct RawListenerIpGroup {
    /// One id, or several separated by commas (the API's way of naming several groups).
    #[serde(default)]
    ipgroup_id: Option<String>,
    #[serde(default)]
    enable_ipgroup: Option<bool>,
    /// `white` or `black`.
    #[serde(default, rename = "type")]
    kind: Option<AccessMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum PoolProto {
    Tcp,
    Udp,
    Http,
    Https,
    Tls,
    Quic,
    Grpc,
    Ip,
}

/// ELB v3 pool (backend server group).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a pool object")]
pub(super) struct RawPool {
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

impl Kind for RawPool {
    const WHAT: &str = "pool";
}

/// ELB v3 member (`GET .../pools/{pool_id}/members`, or `GET .../elb/members`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a member object")]
struct RawMember {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(deserialize_with = "probe_model::values::net::address")]
    address: IpAddr,
    #[serde(deserialize_with = "probe_model::values::net::opt_port", default)]
    protocol_port: Option<u16>,
    /// Neutron subnet id (IPv4) or network id (IPv6).
    #[serde(default)]
    subnet_cidr_id: Option<String>,
    #[serde(default)]
    operating_status: Option<String>,
    #[serde(default)]
    reason: Option<RawMemberReason>,
    /// Per-listener health (SDK `MemberStatus`); an entry overrides `operating_status` for its
    /// listener.
    #[serde(default, deserialize_with = "de::null_default")]
    status: Vec<RawMemberStatus>,
    /// Only in some `ListAllMembers` responses.
    #[serde(default)]
    pool_id: Option<String>,
    /// The ECS id, for security groups from a `servers` dump.
    #[serde(default)]
    instance_id: Option<String>,
}

/// One listener's view of a member (SDK `MemberStatus`: `listener_id`, `operating_status`,
/// `reason`, `created_at`, `updated_at`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a member status object (listener_id, operating_status, reason)")]
struct RawMemberStatus {
    listener_id: String,
    #[serde(default)]
    operating_status: Option<String>,
    #[serde(default)]
    reason: Option<RawMemberReason>,
}

/// SDK `MemberHealthCheckFailedReason` (`reason_code`, `expected_response`,
/// `healthcheck_response`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a member reason object")]
struct RawMemberReason {
    #[serde(default)]
    reason_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum MonitorType {
    Tcp,
    UdpConnect,
    Http,
    Https,
    Tls,
    Grpc,
    /// Listed by the API reference, "not open yet"; read like GRPC.
    Grpcs,
}

/// ELB v3 health monitor.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a health monitor object")]
pub(super) struct RawMonitor {
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
    #[serde(deserialize_with = "probe_model::values::net::opt_port", default)]
    monitor_port: Option<u16>,
    #[serde(default)]
    url_path: Option<String>,
    /// `GET` (the default), `HEAD` or `POST`; HTTP and HTTPS checks only.
    #[serde(default)]
    http_method: Option<String>,
    /// The `Host` of HTTP checks; empty = the load balancer's address.
    #[serde(default)]
    domain_name: Option<String>,
    #[serde(default)]
    expected_codes: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    pools: Vec<IdRef>,
}

impl Kind for RawMonitor {
    const WHAT: &str = "health monitor";
}

/// ELB v3 IP address group (access control list of listeners).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "an ipgroup object")]
pub(super) struct RawIpGroup {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de::null_default")]
    ip_list: Vec<RawIpInfo>,
}

impl Kind for RawIpGroup {
    const WHAT: &str = "ipgroup";
}

/// ELB ipgroups → model address groups; returns the ids. An empty `ip_list` means every address
/// (the API says so), which is spelled out as `0.0.0.0/0` and `::/0`.
pub(super) fn ipgroups(
    items: &Collection<RawIpGroup>,
    out: &mut Vec<AddressGroup>,
    origins: &mut Origins,
) -> HashSet<String> {
    let mut ids = HashSet::new();
    for item in items.iter() {
        let g = &item.value;
        let mut cidrs = distinct(g.ip_list.iter().flat_map(|e| &e.ip));
        if cidrs.is_empty() {
            cidrs = vec![EtherType::V4.any(), EtherType::V6.any()];
        }
        ids.insert(g.id.clone());
        add_address_group(item, &g.id, &g.name, cidrs, out, origins);
    }
    ids
}

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
pub(super) fn backend_groups(
    dump: &Dump,
    subnets: &SubnetIndex,
    servers: &ServerIndex,
    out: &mut Vec<BackendGroup>,
    origins: &mut Origins,
) -> Result<HashMap<String, String>, ImportError> {
    let pools: Vec<&Item<RawPool>> = dump.pools.iter().collect();
    let names = unique_names(
        pools
            .iter()
            .map(|p| (p.value.id.as_str(), text(&p.value.name))),
    );
    let monitors = Monitors::new(&dump.healthmonitors);
    let mut members = members_by_pool(dump, &pools, &names, subnets, servers)?;
    let mut by_id = HashMap::new();
    for item in pools {
        let p = &item.value;
        let name = names.get(&p.id).cloned().unwrap_or_else(|| p.id.clone());
        let protocol = pool_protocol(item)?;
        let monitor = monitors.of(item)?;
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
            health_check: monitor.map(health_check).transpose()?.flatten(),
            members,
            preserve_client_ip: None,
            cross_zone: None,
        });
    }
    Ok(by_id)
}

/// QUIC is UDP on the wire, GRPC is HTTP; gateway pools cannot be probed.
fn pool_protocol(item: &Item<RawPool>) -> Result<AppProto, ImportError> {
    Ok(match item.value.protocol {
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
    })
}

/// Health monitors by id, and by the pools they list.
struct Monitors<'a> {
    by_id: HashMap<&'a str, &'a Item<RawMonitor>>,
    by_pool: HashMap<&'a str, &'a Item<RawMonitor>>,
}

impl<'a> Monitors<'a> {
    /// A pool listed by several monitors gets the last of them.
    fn new(items: &'a Collection<RawMonitor>) -> Self {
        let mut monitors = Monitors {
            by_id: HashMap::new(),
            by_pool: HashMap::new(),
        };
        for m in items.iter() {
            monitors.by_id.insert(m.value.id.as_str(), m);
            for p in &m.value.pools {
                monitors.by_pool.insert(p.id.as_str(), m);
            }
        }
        monitors
    }

    /// A pool's monitor: the one its `healthmonitor_id` names, which must be dumped, else one
    /// that lists the pool.
    fn of(&self, item: &Item<RawPool>) -> Result<Option<&'a Item<RawMonitor>>, ImportError> {
        match text(&item.value.healthmonitor_id) {
            Some(mid) => self.by_id.get(mid).copied().map(Some).ok_or_else(|| {
                item.err(
                    "healthmonitor_id",
                    format!(
                        "health monitor {mid} is not in the healthmonitors dump (save \
                         ListHealthMonitors)"
                    ),
                )
            }),
            None => Ok(self.by_pool.get(item.value.id.as_str()).copied()),
        }
    }
}

/// Each pool's members (by pool id), with the object each came from; a member listed twice for
/// one pool counts once.
fn members_by_pool<'a>(
    dump: &'a Dump,
    pools: &[&'a Item<RawPool>],
    names: &HashMap<String, String>,
    subnets: &SubnetIndex,
    servers: &ServerIndex,
) -> Result<MembersByPool<'a>, ImportError> {
    let owner: HashMap<&str, &str> = pools
        .iter()
        .flat_map(|p| {
            let pool = p.value.id.as_str();
            p.value.members.iter().map(move |m| (m.id.as_str(), pool))
        })
        .collect();
    let mut listeners: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in dump.listeners.iter() {
        if let Some(pool) = text(&l.value.default_pool_id) {
            listeners.entry(pool).or_default().push(l.value.id.as_str());
        }
    }
    let mut members = MembersByPool::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for item in &dump.members {
        let m = &item.value.raw;
        let pool = member_pool(item, pools, &owner)?;
        if !names.contains_key(pool) {
            return Err(item.err(
                "",
                format!(
                    "{} belongs to pool {pool}, which is not in the pools dump",
                    member_label(m)
                ),
            ));
        }
        if !seen.insert((pool, m.id.as_str())) {
            continue;
        }
        let forwarding = listeners.get(pool).map(Vec::as_slice).unwrap_or_default();
        let member = member(item, subnets, servers, forwarding)?;
        members.entry(pool).or_default().push((member, item));
    }
    Ok(members)
}

/// Members by pool id, each with the object it came from.
type MembersByPool<'a> = HashMap<&'a str, Vec<(Member, &'a Item<MemberIn>)>>;

/// How messages name a member.
fn member_label(m: &RawMember) -> String {
    format!("member {} ({})", m.id, m.address)
}

/// The pool a member belongs to: its file's wrapper, its own `pool_id`, the pool that lists it,
/// or the only pool.
fn member_pool<'a>(
    item: &'a Item<MemberIn>,
    pools: &[&'a Item<RawPool>],
    owner: &HashMap<&'a str, &'a str>,
) -> Result<&'a str, ImportError> {
    let m = &item.value.raw;
    let named = item
        .value
        .wrapper_pool
        .as_deref()
        .or(text(&m.pool_id))
        .or_else(|| owner.get(m.id.as_str()).copied());
    match (named, pools) {
        (Some(p), _) => Ok(p),
        (None, [only]) => Ok(only.value.id.as_str()),
        (None, _) => Err(item.err(
            "",
            format!(
                "{} cannot be attributed to a pool: it has no pool_id and no dumped \
                 pool lists it. Save each pool's members separately, wrapped as \
                 {{\"pool_id\": \"<pool id>\", \"members\": [...]}}",
                member_label(m)
            ),
        )),
    }
}

/// `protocol_port`, which must be set and not 0: the model has no "the listener's port" nor
/// "every port"; `missing` says which.
fn protocol_port<T>(
    item: &Item<T>,
    port: Option<u16>,
    missing: impl FnOnce() -> String,
) -> Result<u16, ImportError> {
    port.filter(|&p| p > 0)
        .ok_or_else(|| item.err("protocol_port", missing()))
}

/// One member; its subnet from the subnets dump, its security groups from its server's, its
/// reported health as the listeners that forward to its pool (`listeners`, in dump order) see it.
fn member(
    item: &Item<MemberIn>,
    subnets: &SubnetIndex,
    servers: &ServerIndex,
    listeners: &[&str],
) -> Result<Member, ImportError> {
    let m = &item.value.raw;
    let port = protocol_port(item, m.protocol_port, || {
        format!(
            "{} has no port; pools that forward on the listener's port (any_port_enable) are \
             not supported",
            member_label(m)
        )
    })?;
    Ok(Member {
        name: owned(&m.name),
        address: m.address,
        port: Some(port),
        subnet: text(&m.subnet_cidr_id).and_then(|id| subnets.for_cidr_id(id, Some(m.address))),
        security_groups: servers.groups_for(text(&m.instance_id), m.address),
        reported_health: reported_health(m, listeners),
    })
}

/// A member's health as ELB reports it: the `status` entry of the first listener that forwards
/// to its pool and has one (per-listener states override `operating_status`, the API says),
/// else `operating_status` with the member's own `reason`.
fn reported_health(m: &RawMember, listeners: &[&str]) -> Option<ReportedHealth> {
    let entry = listeners
        .iter()
        .find_map(|l| m.status.iter().find(|s| s.listener_id.trim() == *l));
    let (state, reason) = match entry {
        Some(s) => (&s.operating_status, &s.reason),
        None => (&m.operating_status, &m.reason),
    };
    owned(state).map(|state| ReportedHealth {
        state,
        reason: reason.as_ref().and_then(|r| owned(&r.reason_code)),
    })
}

/// A health monitor → the model's health check; `None` when it is switched off.
///
/// * `TLS`, `GRPC` and `GRPCS` checks are probed as TCP connects to the check port: the model has
///   no TLS or gRPC check, and an HTTP/1.1 request to a gRPC server (HTTP/2) fails where
///   Huawei's gRPC check succeeds. What the probe judges — the port answering from the check's
///   source — is the same; `url_path` and `expected_codes` (gRPC status codes, `0` by default)
///   are not read for them.
/// * HTTP and HTTPS: `url_path` (default `/`), `domain_name` as `host` (empty: Huawei sends the
///   load balancer's address as the Host, which is what a check without `host` does too: it
///   names the address it connects to), `expected_codes` (`200`, `200,202`, `200-204`, checked
///   here), `http_method` (`GET`, `HEAD`, `POST`; checked, see [`check_method`]).
/// * The defaults for absent fields are the ELB console's (5 s, 3 s, 3 and 3).
fn health_check(item: &Item<RawMonitor>) -> Result<Option<HealthCheck>, ImportError> {
    let m = &item.value;
    if m.admin_state_up == Some(false) {
        return Ok(None);
    }
    let protocol = match m.kind {
        MonitorType::Tcp | MonitorType::Tls | MonitorType::Grpc | MonitorType::Grpcs => {
            HealthCheckProto::Tcp
        }
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
        check_method(item)?;
        if let Some(p) = text(&m.url_path) {
            hc.path = p.to_string();
        }
        hc.host = owned(&m.domain_name);
        if let Some(c) = text(&m.expected_codes) {
            let codes: String = c.chars().filter(|c| !c.is_whitespace()).collect();
            if let Err(e) = codes.parse::<probe_model::StatusSpec>() {
                return Err(item.err("expected_codes", e));
            }
            hc.expected_codes = codes;
        }
    }
    hc.interval_s = m.delay.unwrap_or(5);
    hc.timeout_s = m.timeout.unwrap_or(3);
    hc.healthy_threshold = m.max_retries.unwrap_or(3);
    hc.unhealthy_threshold = m.max_retries_down.unwrap_or(3);
    Ok(Some(hc))
}

/// `http_method` must be one Huawei documents (`GET`, `HEAD`, `POST`; any case, absent = `GET`).
/// The model's check has no method: probe's HTTP check sends `GET`, which a server answers as it
/// answers `HEAD`; a `POST` check is probed with `GET` too, and its status may differ (a `405`
/// where Huawei sees `200`), so it is logged.
fn check_method(item: &Item<RawMonitor>) -> Result<(), ImportError> {
    let Some(method) = text(&item.value.http_method) else {
        return Ok(());
    };
    match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => Ok(()),
        "POST" => {
            tracing::warn!(
                "{}: {}.http_method: health monitor {} checks with POST; probe checks with GET, \
                 whose status the server may answer differently",
                item.file.display(),
                item.path,
                item.value.id
            );
            Ok(())
        }
        _ => Err(item.err(
            "http_method",
            format!("invalid HTTP method {method:?}: expected GET, HEAD or POST"),
        )),
    }
}

/// Load balancers with their listeners. Listeners of load balancers that are not in the dump are
/// ignored (a dump filtered to some load balancers is normal).
pub(super) fn load_balancers(
    dump: &Dump,
    subnets: &SubnetIndex,
    pools: &HashMap<String, String>,
    ipgroups: &HashSet<String>,
    eips: &EipIndex,
    origins: &mut Origins,
) -> Result<Vec<LoadBalancer>, ImportError> {
    let names = unique_names(
        dump.loadbalancers
            .iter()
            .map(|l| (l.value.id.as_str(), text(&l.value.name))),
    );
    let mut out = Vec::new();
    for item in dump.loadbalancers.iter() {
        let lb = &item.value;
        let dedicated = lb.guaranteed == Some(true);
        let lb_subnets = lb_subnets(item, subnets)?;
        let i = out.len();
        let mut listeners = Vec::new();
        for l in dump.listeners.iter() {
            let attached = l.value.loadbalancers.iter().any(|r| r.id == lb.id)
                || lb.listeners.iter().any(|r| r.id == l.value.id);
            if attached {
                let j = listeners.len();
                l.origin(origins, format!("load_balancers[{i}].listeners[{j}]"));
                listeners.push(listener(l, pools, ipgroups)?);
            }
        }
        item.origin(origins, format!("load_balancers[{i}]"));
        let (scheme, nodes) = internet_side(lb, subnets, eips);
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
            listeners,
            scheme,
            clients: None,
            nodes,
            cross_zone: None,
        });
    }
    Ok(out)
}

/// Whether a load balancer is internet-facing, and its node: an EIP bound to it — listed in its
/// own `eips` / `publicips`, or an EIP of the `publicips` dump bound to its `vip_port_id`,
/// `ipv6_vip_port_id` or id — makes it internet-facing, with a node per address family: the
/// private address (`vip_address`, `ipv6_vip_address`), its subnet, and the EIP as its public
/// address. Without an EIP it is internal when the dump could have shown one (the response lists
/// `eips` or `publicips`, or EIPs are dumped), else the scheme is left unknown.
fn internet_side(
    lb: &RawLb,
    subnets: &SubnetIndex,
    eips: &EipIndex,
) -> (Option<Scheme>, Vec<LbNode>) {
    let listed = lb.listed_eips();
    let ports: Vec<&str> = [
        text(&lb.vip_port_id),
        text(&lb.ipv6_vip_port_id),
        Some(lb.id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut public = listed.clone().unwrap_or_default();
    for a in eips.bound(&ports) {
        if !public.contains(&a) {
            public.push(a);
        }
    }
    if public.is_empty() {
        let known = listed.is_some() || eips.dumped;
        return (known.then_some(Scheme::Internal), Vec::new());
    }
    let mut nodes: Vec<LbNode> = Vec::new();
    for p in public {
        let (address, subnet) = if p.is_ipv6() {
            let subnet = text(&lb.ipv6_vip_virsubnet_id)
                .and_then(|id| subnets.for_cidr_id(id, lb.ipv6_vip_address));
            (lb.ipv6_vip_address, subnet)
        } else {
            let subnet =
                text(&lb.vip_subnet_cidr_id).and_then(|id| subnets.for_cidr_id(id, lb.vip_address));
            (lb.vip_address, subnet)
        };
        let Some(address) = address else {
            continue;
        };
        if nodes.iter().any(|n| n.address == address) {
            continue;
        }
        nodes.push(LbNode {
            address,
            subnet,
            public_address: Some(p),
        });
    }
    (Some(Scheme::InternetFacing), nodes)
}

/// Transparent client IP: the listeners of shared load balancers whose
/// `transparent_client_ip_enable` is set decide `preserve_client_ip` of the pools they forward
/// to — TCP and UDP listeners only, the only ones it acts on (HTTP and HTTPS listeners carry the
/// client's address in `X-Forwarded-For`; packets still come from 100.125.0.0/16). Dedicated load
/// balancers are left alone: their switch is "IP as a backend" (`ip_as_backend`). A pool behind
/// several such listeners that disagree keeps the client's address (`true`): some of its traffic
/// does, and its rules must admit the clients.
pub(super) fn client_ip_preservation(
    dump: &Dump,
    pools: &HashMap<String, String>,
    groups: &mut [BackendGroup],
) {
    for lb in dump.loadbalancers.iter().map(|i| &i.value) {
        if lb.guaranteed == Some(true) {
            continue;
        }
        for item in dump.listeners.iter() {
            let l = &item.value;
            let attached = l.loadbalancers.iter().any(|r| r.id == lb.id)
                || lb.listeners.iter().any(|r| r.id == l.id);
            let layer4 = matches!(l.protocol, ListenerProto::Tcp | ListenerProto::Udp);
            let (true, true, Some(on)) = (attached, layer4, l.transparent_client_ip_enable) else {
                continue;
            };
            let Some(name) = text(&l.default_pool_id).and_then(|p| pools.get(p)) else {
                continue;
            };
            if let Some(g) = groups.iter_mut().find(|g| &g.name == name) {
                if g.preserve_client_ip.is_some_and(|was| was != on) {
                    tracing::warn!(
                        "{}: {}: listener {} turns transparent client IP {} for pool {name}, \
                         which another listener turns {}: its members see client addresses",
                        item.file.display(),
                        item.path,
                        l.id,
                        if on { "on" } else { "off" },
                        if on { "off" } else { "on" },
                    );
                }
                g.preserve_client_ip = Some(g.preserve_client_ip.unwrap_or(false) || on);
            }
        }
    }
}

/// A load balancer's subnets: its backend subnets, else its frontend subnet. A dedicated load
/// balancer's health checks come from its backend subnet, so it must have one in the dump.
fn lb_subnets(item: &Item<RawLb>, subnets: &SubnetIndex) -> Result<Vec<String>, ImportError> {
    let lb = &item.value;
    let dedicated = lb.guaranteed == Some(true);
    let mut out: Vec<String> = Vec::new();
    for (j, id) in lb.elb_virsubnet_ids.iter().enumerate() {
        match subnets.network_ids(id) {
            Some(ids) => out.extend(ids),
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
    if out.is_empty()
        && let Some(id) = text(&lb.vip_subnet_cidr_id)
        && let Some(s) = subnets.for_cidr_id(id, lb.vip_address)
    {
        out.push(s);
    }
    if dedicated && out.is_empty() {
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
    Ok(out)
}

/// One listener. QUIC is UDP on the wire; TERMINATED_HTTPS is HTTPS to clients.
fn listener(
    item: &Item<RawListener>,
    pools: &HashMap<String, String>,
    ipgroups: &HashSet<String>,
) -> Result<Listener, ImportError> {
    let l = &item.value;
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
    let port = protocol_port(item, l.protocol_port, || {
        format!(
            "listener {} has no port; all-port listeners (port_ranges) are not supported",
            l.id
        )
    })?;
    let backend_group = match text(&l.default_pool_id) {
        None => None,
        Some(pid) => Some(pools.get(pid).cloned().ok_or_else(|| {
            item.err(
                "default_pool_id",
                format!("pool {pid} is not in the pools dump (save ListPools)"),
            )
        })?),
    };
    Ok(Listener {
        name: owned(&l.name),
        protocol,
        port,
        backend_group,
        access_control: access_control(item, ipgroups)?,
        forwards: Vec::new(),
    })
}

/// A listener's access control: it applies when `enable_ipgroup` is not `false`, and its
/// ipgroups must be dumped, since a whitelist without its addresses cannot be evaluated.
///
/// `ipgroup_id` names one group or several, comma-separated: the addresses of all of them form
/// the list (the API says no more; a whitelist admits an address in any of them, a blacklist
/// refuses one in any of them). The access control's `id`, which fixes name, is the first group.
fn access_control(
    item: &Item<RawListener>,
    ipgroups: &HashSet<String>,
) -> Result<Option<AccessControl>, ImportError> {
    let Some(g) = &item.value.ipgroup else {
        return Ok(None);
    };
    if g.enable_ipgroup == Some(false) {
        return Ok(None);
    }
    let ids = ipgroup_ids(text(&g.ipgroup_id).unwrap_or(""));
    if ids.is_empty() {
        return Err(item.err(
            "ipgroup.ipgroup_id",
            format!(
                "access control is on but names no ipgroup: {:?}",
                g.ipgroup_id.as_deref().unwrap_or("")
            ),
        ));
    }
    if let Some(gid) = ids.iter().find(|id| !ipgroups.contains(id.as_str())) {
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
    Ok(Some(AccessControl {
        id: ids.first().cloned(),
        mode,
        cidrs: Vec::new(),
        address_groups: ids,
    }))
}

/// The ids of a listener's `ipgroup_id`: `"a"`, `"a,b"`, `" a , b "`; blanks between commas are
/// skipped and each id counts once.
fn ipgroup_ids(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in s.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::huawei::tests::{group, import_err, import_ok};
    use crate::import::testing::{json_file as doc, net};

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
}
