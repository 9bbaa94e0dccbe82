//! The expected configuration: load balancers, backend groups, security groups, network ACLs.
//!
//! One model serves every provider. The AWS and Huawei importers (`probe-config`) produce it,
//! the native YAML format *is* its serde form (see `docs/config.md`), and the evaluator
//! (`probe-policy`) reads nothing else. No I/O happens here.
//!
//! | provider difference                 | how the model expresses it                                  |
//! |-------------------------------------|-------------------------------------------------------------|
//! | AWS security groups: allow-only     | every rule `action: allow`, no priority                     |
//! | Huawei security groups: allow/deny  | `action` and `priority` (1 highest); deny wins a tie        |
//! | AWS network ACLs: stateless         | `stateful: false`: the return path is evaluated too         |
//! | Huawei firewalls: stateful          | `stateful: true`: no return-path check                      |
//! | health-check source                 | `health_check_sources`, derived from provider and kind      |
//! | Huawei "IP as a backend"            | `ip_as_backend`; off = rules not enforced on L4 listeners   |

pub mod flow;
mod provider;
mod routing;
mod status;
mod validate;
pub mod values;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use flow::{FlowTarget, Packet, SourceSpec, parse_flow_target, parse_source};
pub use provider::{HUAWEI_SHARED_HC_SOURCE, Profile, Provider, SubnetRules};
pub use routing::{Network, Route, RouteState, RouteTable, RouteTarget, RouteTargetKind};
pub use status::{StatusSpec, StatusSpecError};
pub use validate::{ModelError, validate};
pub use values::{Action, Direction, IpProto, PortRange, PortSet, ProtoError};

/// Everything `probe` expects of the network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of top-level keys (agent, subnets, load_balancers, backend_groups, security_groups, network_acls, address_groups, expectations)"
)]
pub struct Model {
    /// Where `probe` itself runs.
    #[serde(default, skip_serializing_if = "Agent::is_unset")]
    pub agent: Agent,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Subnet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_groups: Vec<BackendGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<SecurityGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_acls: Vec<NetworkAcl>,
    /// Named address sets: AWS managed prefix lists, Huawei IP address groups and ELB ipgroups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_groups: Vec<AddressGroup>,
    /// Flows that must (or must not) pass, checked like every other flow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<Expectation>,
    /// Networks (VPCs) and their ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    /// Route tables; without any, routes are not judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_tables: Vec<RouteTable>,
}

/// The host `probe` runs on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the agent: a mapping with address, security_groups, subnet"
)]
pub struct Agent {
    /// Its address; detected from the route to the first backend when omitted.
    #[serde(
        deserialize_with = "values::net::opt_address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<IpAddr>,
    /// Security groups on its interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Its subnet id; found from `address` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
}

impl Agent {
    fn is_unset(&self) -> bool {
        *self == Agent::default()
    }
}

/// A subnet: where load balancer nodes and members live, and what network ACLs attach to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a subnet: a mapping with id and cidr"
)]
pub struct Subnet {
    pub id: String,
    #[serde(deserialize_with = "values::net::cidr")]
    pub cidr: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Free addresses as the provider reports them (`AvailableIpAddressCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_addresses: Option<u32>,
    /// The network (VPC) it belongs to: whose main route table it uses when no table names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// Load balancer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbKind {
    /// AWS Application Load Balancer.
    Alb,
    /// AWS Network Load Balancer.
    Nlb,
    /// AWS Classic Load Balancer.
    Clb,
    /// AWS Gateway Load Balancer.
    Gwlb,
    /// Huawei shared load balancer: health checks from 100.125.0.0/16.
    Shared,
    /// Huawei dedicated load balancer: health checks from its backend subnet.
    Dedicated,
    /// Anything else (on-premises, HAProxy, nginx).
    #[default]
    Generic,
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a load balancer: a mapping with name, provider, kind, listeners, ..."
)]
pub struct LoadBalancer {
    pub name: String,
    /// The provider's id or ARN, when it differs from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub provider: Provider,
    #[serde(default)]
    pub kind: LbKind,
    /// The virtual address clients connect to; listeners are probed there when set.
    #[serde(
        deserialize_with = "values::net::opt_address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<IpAddr>,
    /// Subnets the load balancer's nodes live in (Huawei dedicated: its backend subnets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Where health checks come from. Derived when omitted: AWS and Huawei dedicated = the load
    /// balancer's subnets; Huawei shared = 100.125.0.0/16.
    #[serde(
        deserialize_with = "values::net::opt_cidrs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub health_check_sources: Option<Vec<IpNet>>,
    /// Huawei "IP as a backend" (cross-VPC backends). When off, security groups and firewalls do
    /// not apply to the traffic of TCP/UDP listeners. Omitted = off for Huawei, on elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_as_backend: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
    /// Who may reach its listeners: the internet (`internet-facing`) or its network
    /// (`internal`). Omitted: not known, and the client leg is not judged unless `clients`
    /// names the clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    /// The clients' ranges, when they are not what the scheme implies (the internet for
    /// `internet-facing`, the network's ranges for `internal`).
    #[serde(
        deserialize_with = "values::net::opt_cidrs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub clients: Option<Vec<IpNet>>,
    /// Its own interfaces in its subnets (AWS: one per enabled zone), when the dump has them:
    /// the addresses health checks and forwarded traffic come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<LbNode>,
    /// Cross-zone load balancing. Omitted: the provider's default for the kind
    /// ([`LoadBalancer::cross_zone_enabled`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_zone: Option<bool>,
}

impl LoadBalancer {
    /// The names of the backend groups its listeners forward to, each once, in listener order.
    pub fn backend_group_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for l in &self.listeners {
            for n in l.backend_group_names() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    }

    /// Whether cross-zone load balancing is on: as set, else the default of its kind (AWS: on
    /// for ALB, off for NLB and for a Classic Load Balancer created through the API). An ALB
    /// always balances across zones at the load balancer level ("cannot be turned off"; a
    /// target group may turn it off for itself), whatever an attribute dump says.
    pub fn cross_zone_enabled(&self) -> bool {
        if self.kind == LbKind::Alb {
            return true;
        }
        self.cross_zone.unwrap_or(!matches!(
            self.kind,
            LbKind::Nlb | LbKind::Clb | LbKind::Gwlb
        ))
    }
}

/// Who a load balancer's listeners serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Clients on the internet (`0.0.0.0/0`, `::/0`), through an internet gateway or an EIP.
    InternetFacing,
    /// Clients in its network (and what routes reach it).
    Internal,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::InternetFacing => "internet-facing",
            Scheme::Internal => "internal",
        }
    }
}

/// One of a load balancer's own interfaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a load balancer node: a mapping with address and subnet"
)]
pub struct LbNode {
    #[serde(deserialize_with = "values::net::address")]
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Its public address, for an internet-facing load balancer.
    #[serde(
        deserialize_with = "values::net::opt_address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_address: Option<IpAddr>,
}

/// A listener: a front-end port that forwards to a backend group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a listener: a mapping with protocol and port"
)]
pub struct Listener {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub protocol: AppProto,
    #[serde(deserialize_with = "values::net::port")]
    pub port: u16,
    /// Name of the backend group it forwards to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_control: Option<AccessControl>,
    /// Every other backend group it forwards to: the other groups of a weighted forward, and
    /// those of its rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
}

impl Listener {
    /// Every backend group it forwards to: `backend_group`, then `forwards`.
    pub fn backend_group_names(&self) -> impl Iterator<Item = &str> {
        self.backend_group
            .as_deref()
            .into_iter()
            .chain(self.forwards.iter().map(|f| f.backend_group.as_str()))
    }

    /// Whether it forwards to backend group `name`.
    pub fn forwards_to(&self, name: &str) -> bool {
        self.backend_group_names().any(|n| n == name)
    }
}

/// A further backend group a listener forwards to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a forward: a mapping with backend_group and, optionally, weight and rule"
)]
pub struct Forward {
    pub backend_group: String,
    /// Its weight in a weighted forward (AWS 0-999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The listener rule that forwards to it (AWS rule priority), if not the default action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// An application-level protocol of listeners, backend groups and health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProto {
    Tcp,
    Udp,
    Http,
    Https,
    Tls,
    /// AWS `TCP_UDP`: both.
    #[serde(rename = "tcp_udp")]
    TcpUdp,
}

impl AppProto {
    /// The name as the native YAML spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AppProto::Tcp => "tcp",
            AppProto::Udp => "udp",
            AppProto::Http => "http",
            AppProto::Https => "https",
            AppProto::Tls => "tls",
            AppProto::TcpUdp => "tcp_udp",
        }
    }

    /// The transport protocol carrying it (TCP_UDP counts as TCP).
    pub fn transport(self) -> IpProto {
        match self {
            AppProto::Udp => IpProto::Udp,
            _ => IpProto::Tcp,
        }
    }

    /// Layer-4 listeners (TCP, UDP, TLS passthrough) as opposed to HTTP(S).
    pub fn is_layer4(self) -> bool {
        !matches!(self, AppProto::Http | AppProto::Https)
    }
}

/// A listener's access control: an address whitelist or blacklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "access control: a mapping with mode and cidrs or address_groups"
)]
pub struct AccessControl {
    /// The address group (Huawei ipgroup) id, for reports and fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub mode: AccessMode,
    /// Addresses listed inline.
    #[serde(
        deserialize_with = "values::net::cidrs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cidrs: Vec<IpNet>,
    /// Address groups whose addresses are listed too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_groups: Vec<String>,
}

/// Whitelist: only listed sources pass. Blacklist: listed sources are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    #[serde(alias = "white")]
    Whitelist,
    #[serde(alias = "black")]
    Blacklist,
}

/// A backend group (AWS target group, Huawei pool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a backend group: a mapping with name, protocol, members, ..."
)]
pub struct BackendGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub protocol: AppProto,
    /// The members' traffic port when a member does not name its own.
    #[serde(
        deserialize_with = "values::net::opt_port",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<u16>,
    /// AWS: targets registered by `instance` (NLB preserves client addresses) or by `ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// Whether members see the clients' addresses (AWS NLB `preserve_client_ip.enabled`, Huawei
    /// transparent client IP). Omitted: the provider's default ([`BackendGroup::preserves_client_ip`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_client_ip: Option<bool>,
    /// Cross-zone load balancing for this group, where it overrides the load balancer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_zone: Option<bool>,
}

impl BackendGroup {
    /// Whether members of this group, behind load balancer `lb`, see the clients' addresses:
    /// as set, else AWS's defaults for an NLB (on for instance targets, and for UDP and TCP_UDP
    /// whatever the targets; off for IP targets over TCP and TLS), and Huawei's for a dedicated
    /// load balancer (on for TCP and UDP listeners, and it cannot be turned off; a shared one's
    /// is the listener's transparent client IP, off unless set). Other load balancers (ALB,
    /// CLB, generic) proxy: members see the load balancer.
    pub fn preserves_client_ip(&self, lb: &LoadBalancer) -> bool {
        if let Some(set) = self.preserve_client_ip {
            return set;
        }
        match lb.kind {
            LbKind::Nlb => {
                matches!(self.protocol, AppProto::Udp | AppProto::TcpUdp)
                    || self.target_type.unwrap_or(TargetType::Instance) == TargetType::Instance
            }
            LbKind::Dedicated => matches!(self.protocol, AppProto::Tcp | AppProto::Udp),
            _ => false,
        }
    }

    /// Whether cross-zone load balancing applies to this group behind `lb`.
    pub fn cross_zone_enabled(&self, lb: &LoadBalancer) -> bool {
        self.cross_zone.unwrap_or_else(|| lb.cross_zone_enabled())
    }
}

/// How AWS target group members are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Instance,
    Ip,
    Lambda,
    Alb,
}

/// A backend: one address and port behind a load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a member: a mapping with address and, optionally, name, port, subnet, security_groups"
)]
pub struct Member {
    /// How findings name it; the address when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(deserialize_with = "values::net::address")]
    pub address: IpAddr,
    /// Traffic port; the group's port when omitted.
    #[serde(
        deserialize_with = "values::net::opt_port",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<u16>,
    /// Subnet id; found from the address when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Health as the provider last reported it, for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_health: Option<ReportedHealth>,
}

impl Member {
    /// The name findings use.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.address.to_string())
    }
}

/// What the provider said about a member (`describe-target-health`, member `operating_status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a reported health: a mapping with state and reason"
)]
pub struct ReportedHealth {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A health check as the load balancer runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a health check: a mapping with protocol, port, path, ..."
)]
pub struct HealthCheck {
    pub protocol: HealthCheckProto,
    /// `traffic-port` (the member's port) or a number.
    #[serde(default)]
    pub port: HealthCheckPort,
    /// HTTP(S) request path.
    #[serde(default = "default_path", skip_serializing_if = "is_default_path")]
    pub path: String,
    /// HTTP(S) Host header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// HTTP(S) status matcher in ELB syntax: `200`, `200,202`, `200-299`.
    #[serde(default = "default_codes", skip_serializing_if = "is_default_codes")]
    pub expected_codes: String,
    #[serde(default = "default_interval")]
    pub interval_s: u32,
    #[serde(default = "default_timeout")]
    pub timeout_s: u32,
    #[serde(default = "default_healthy")]
    pub healthy_threshold: u32,
    #[serde(default = "default_unhealthy")]
    pub unhealthy_threshold: u32,
}

fn default_path() -> String {
    "/".to_string()
}
fn is_default_path(p: &str) -> bool {
    p == "/"
}
fn is_default_codes(c: &str) -> bool {
    c == "200"
}
fn default_codes() -> String {
    "200".to_string()
}
fn default_interval() -> u32 {
    30
}
fn default_timeout() -> u32 {
    5
}
fn default_healthy() -> u32 {
    5
}
fn default_unhealthy() -> u32 {
    2
}

impl HealthCheck {
    /// A health check with AWS's defaults (30 s, 5 s, 5 healthy, 2 unhealthy, `/`, `200`).
    pub fn new(protocol: HealthCheckProto) -> Self {
        HealthCheck {
            protocol,
            port: HealthCheckPort::TrafficPort,
            path: default_path(),
            host: None,
            expected_codes: default_codes(),
            interval_s: default_interval(),
            timeout_s: default_timeout(),
            healthy_threshold: default_healthy(),
            unhealthy_threshold: default_unhealthy(),
        }
    }

    /// The port the check goes to for a member whose traffic port is `traffic`.
    pub fn port_for(&self, traffic: u16) -> u16 {
        match self.port {
            HealthCheckPort::TrafficPort => traffic,
            HealthCheckPort::Port(p) => p,
        }
    }
}

/// Health-check protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckProto {
    Tcp,
    Http,
    Https,
    /// Huawei UDP_CONNECT: an ICMP echo first, then a UDP datagram that must not draw a
    /// port-unreachable.
    #[serde(rename = "udp_connect", alias = "udp")]
    UdpConnect,
}

impl HealthCheckProto {
    pub fn transport(self) -> IpProto {
        match self {
            HealthCheckProto::UdpConnect => IpProto::Udp,
            _ => IpProto::Tcp,
        }
    }
}

/// `traffic-port` or an explicit port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthCheckPort {
    #[default]
    TrafficPort,
    Port(u16),
}

impl Serialize for HealthCheckPort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HealthCheckPort::TrafficPort => s.serialize_str("traffic-port"),
            HealthCheckPort::Port(p) => s.serialize_u16(*p),
        }
    }
}

impl<'de> Deserialize<'de> for HealthCheckPort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u16),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom(
                "health-check port 0 is not a port (use 1-65535 or traffic-port)",
            )),
            Raw::N(p) => Ok(HealthCheckPort::Port(p)),
            Raw::S(s) if s == "traffic-port" || s.is_empty() => Ok(HealthCheckPort::TrafficPort),
            Raw::S(s) => match s.parse::<u16>() {
                Ok(p) if p > 0 => Ok(HealthCheckPort::Port(p)),
                _ => Err(serde::de::Error::custom(format!(
                    "invalid health-check port {s:?} (use 1-65535 or traffic-port)"
                ))),
            },
        }
    }
}

/// A security group: stateful rules attached to interfaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a security group: a mapping with id and rules"
)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<SgRule>,
}

/// One security-group rule. Exactly one of `cidr`, `group`, `address_group` names the remote
/// side; none means any address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a security group rule: a mapping with direction, protocol, ports, cidr, ..."
)]
pub struct SgRule {
    /// The provider's rule id; findings fall back to the rule's position (`ingress#3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub direction: Direction,
    #[serde(default, skip_serializing_if = "is_allow")]
    pub action: Action,
    /// 1 is the highest. Rules without a priority rank as 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    #[serde(default)]
    pub protocol: IpProto,
    /// Destination ports (tcp/udp only); all when omitted.
    #[serde(default, skip_serializing_if = "PortSet::is_any")]
    pub ports: PortSet,
    /// ICMP type (icmp/icmpv6 only); any when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code; any when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Remote addresses (source for ingress, destination for egress).
    #[serde(
        deserialize_with = "values::net::opt_cidr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cidr: Option<IpNet>,
    /// Remote security group: any interface that carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Remote address group (AWS prefix list, Huawei IP address group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn is_allow(a: &Action) -> bool {
    *a == Action::Allow
}

/// A network ACL (AWS) or subnet firewall (Huawei): ordered numbered rules, default deny.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a network ACL: a mapping with id, subnets, inbound, outbound"
)]
pub struct NetworkAcl {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// AWS network ACLs are stateless (false); Huawei firewalls are stateful (true).
    #[serde(default)]
    pub stateful: bool,
    /// Subnet ids it is associated with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Inbound rules, evaluated by ascending number; the first match decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<AclRule>,
    /// Outbound rules, evaluated likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<AclRule>,
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a network ACL rule: a mapping with number, action, protocol, ports, cidr, ..."
)]
pub struct AclRule {
    /// Evaluation order (AWS `RuleNumber`, 1-32766; Huawei: the rule's position). 32767 is the implicit default deny, shown as `*`.
    pub number: u32,
    /// The provider's rule id, when rules have one (Huawei).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub action: Action,
    #[serde(default)]
    pub protocol: IpProto,
    /// Destination ports (tcp/udp only); all when omitted.
    #[serde(default, skip_serializing_if = "PortSet::is_any")]
    pub ports: PortSet,
    /// Source ports (Huawei firewalls); all when omitted.
    #[serde(default, skip_serializing_if = "PortSet::is_any")]
    pub source_ports: PortSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Remote addresses: source of inbound, destination of outbound traffic. Any when omitted.
    #[serde(
        deserialize_with = "values::net::opt_cidr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cidr: Option<IpNet>,
    /// Local addresses inside the subnet (Huawei rules name both ends). Any when omitted.
    #[serde(
        deserialize_with = "values::net::opt_cidr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_cidr: Option<IpNet>,
}

/// A named set of addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an address group: a mapping with id and cidrs"
)]
pub struct AddressGroup {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(deserialize_with = "values::net::cidrs", default)]
    pub cidrs: Vec<IpNet>,
}

/// A flow that must pass or must be blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an expectation: a mapping with from, to and decision"
)]
pub struct Expectation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `agent`, `lb` (every load balancer's health-check source), `lb:NAME`, an address, or a CIDR.
    pub from: String,
    /// `ADDR:PORT/PROTO` (`10.0.1.5:22/tcp`) or `ADDR/icmp`.
    pub to: String,
    /// `deny` (must be blocked, the default) or `allow`.
    #[serde(default = "default_deny")]
    pub decision: Action,
}

fn default_deny() -> Action {
    Action::Deny
}
