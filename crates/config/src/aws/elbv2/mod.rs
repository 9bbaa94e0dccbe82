//! Elastic Load Balancing v2 (application, network and gateway load balancers): load balancers,
//! listeners, target groups and the health of their targets.
//!
//! | top-level key              | command (`aws …`)                     | becomes                      |
//! |----------------------------|---------------------------------------|------------------------------|
//! | `LoadBalancers`            | `elbv2 describe-load-balancers`       | `load_balancers`             |
//! | `Listeners`                | `elbv2 describe-listeners`            | their listeners              |
//! | `TargetGroups`             | `elbv2 describe-target-groups`        | `backend_groups`             |
//! | `TargetHealthDescriptions` | `elbv2 describe-target-health`        | one group's members          |
//!
//! Attributes (`describe-load-balancer-attributes`, `describe-target-group-attributes`) are read
//! in `attributes.rs`, listener rules (`describe-rules`) in `rules.rs`; a load balancer's nodes
//! come from its interfaces (`ec2/network_interfaces.rs`) and, for an NLB with fixed addresses,
//! from `AvailabilityZones[].LoadBalancerAddresses`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;

mod attributes;
mod rules;

use super::Dump;
use super::ec2::{Enis, Interfaces, LbOwner};
use crate::import::{DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{
    AppProto, BackendGroup, Forward, HealthCheck, HealthCheckPort, HealthCheckProto, LbKind,
    LbNode, Listener, LoadBalancer, Member, Provider, ReportedHealth, Scheme, TargetType,
};

pub(super) use attributes::{AttributesFile, FAMILY as ATTRIBUTES_FAMILY};
pub(super) use rules::{FAMILY as RULES_FAMILY, RulesFile};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &[
        "LoadBalancers",
        "Listeners",
        "TargetGroups",
        "TargetHealthDescriptions",
    ],
    wrappers: &["TargetGroupArn"],
    add,
};

/// The ELBv2 keys of one file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    load_balancers: Option<Vec<RawLoadBalancer>>,
    listeners: Option<Vec<RawListener>>,
    target_groups: Option<Vec<RawTargetGroup>>,
    target_health_descriptions: Option<Vec<RawTargetHealth>>,
    /// Not printed by the CLI: users add it to name the target group of a target-health file.
    target_group_arn: Option<String>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    let lbs = file.listed("LoadBalancers", doc.load_balancers.into_iter().flatten());
    dump.load_balancers
        .extend(lbs, |l| Some(l.load_balancer_arn.as_str()));
    let listeners = file.listed("Listeners", doc.listeners.into_iter().flatten());
    dump.listeners
        .extend(listeners, |l| l.listener_arn.as_deref());
    let groups = file.listed("TargetGroups", doc.target_groups.into_iter().flatten());
    dump.target_groups
        .extend(groups, |t| Some(t.target_group_arn.as_str()));
    if let Some(targets) = doc.target_health_descriptions {
        dump.health.push(HealthFile {
            file: Rc::clone(&file.path),
            target_group_arn: doc.target_group_arn,
            targets: file.listed("TargetHealthDescriptions", targets),
        });
    }
    Ok(())
}

/// A target-health file: its target group is resolved once every file is read.
#[derive(Debug)]
pub(super) struct HealthFile {
    file: Rc<Path>,
    target_group_arn: Option<String>,
    targets: Vec<Item<RawTargetHealth>>,
}

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
pub(super) struct RawLoadBalancer {
    load_balancer_arn: String,
    load_balancer_name: String,
    #[serde(rename = "Type")]
    kind: Option<RawLbType>,
    #[serde(default)]
    availability_zones: Vec<RawAvailabilityZone>,
    /// Absent for network load balancers created without security groups.
    #[serde(default)]
    security_groups: Vec<String>,
    scheme: Option<Scheme>,
}

impl Kind for RawLoadBalancer {
    const WHAT: &str = "load balancer";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an availability zone object")]
struct RawAvailabilityZone {
    subnet_id: Option<String>,
    /// An NLB's fixed addresses in the zone: its private address, and the elastic address of an
    /// internet-facing one. Empty for an ALB and for an NLB whose addresses AWS chose.
    #[serde(default)]
    load_balancer_addresses: Vec<RawLbAddress>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a load balancer address object")]
struct RawLbAddress {
    #[serde(deserialize_with = "probe_model::values::net::opt_address", default)]
    ip_address: Option<IpAddr>,
    #[serde(
        rename = "PrivateIPv4Address",
        deserialize_with = "probe_model::values::net::opt_address",
        default
    )]
    private_ipv4_address: Option<IpAddr>,
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
pub(super) struct RawListener {
    listener_arn: Option<String>,
    load_balancer_arn: String,
    /// Absent on gateway load balancers, which take every port.
    #[serde(deserialize_with = "probe_model::values::net::opt_port", default)]
    port: Option<u16>,
    protocol: Option<RawProtocol>,
    #[serde(default)]
    default_actions: Vec<RawAction>,
}

impl Kind for RawListener {
    const WHAT: &str = "listener";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an action object")]
pub(super) struct RawAction {
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
    weight: Option<u32>,
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
pub(super) struct RawTargetGroup {
    target_group_arn: String,
    target_group_name: String,
    /// Absent for Lambda target groups.
    protocol: Option<RawProtocol>,
    #[serde(deserialize_with = "probe_model::values::net::opt_port", default)]
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

impl Kind for RawTargetGroup {
    const WHAT: &str = "target group";
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
pub(super) struct RawTargetHealth {
    target: RawTarget,
    target_health: Option<RawHealth>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a target object")]
struct RawTarget {
    /// Instance id, IP address, Lambda ARN or ALB ARN, by the group's target type.
    id: String,
    #[serde(deserialize_with = "probe_model::values::net::opt_port", default)]
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a health object")]
struct RawHealth {
    state: Option<String>,
    reason: Option<String>,
}

impl Dump {
    pub(super) fn backend_groups(
        &self,
        interfaces: &Interfaces,
        origins: &mut Origins,
    ) -> Result<Vec<BackendGroup>, ImportError> {
        let mut groups: Vec<BackendGroup> = self
            .target_groups
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.origin(origins, format!("backend_groups[{i}]"));
                let mut group = backend_group(&t.value);
                self.apply_group_attributes(&t.value.target_group_arn, &mut group)?;
                Ok(group)
            })
            .collect::<Result<_, ImportError>>()?;
        let mut seen: HashMap<usize, &Path> = HashMap::new();
        for h in &self.health {
            let index = self.health_target_group(h)?;
            if let Some(prev) = seen.insert(index, &*h.file) {
                return Err(ImportError::in_file(
                    &h.file,
                    format!(
                        "target group {} already has its target health in {}; keep one",
                        groups[index].name,
                        prev.display()
                    ),
                ));
            }
            let group = &mut groups[index];
            for t in &h.targets {
                if let Some(member) = member(t, group, interfaces)? {
                    t.origin(
                        origins,
                        format!("backend_groups[{index}].members[{}]", group.members.len()),
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
    fn health_target_group(&self, h: &HealthFile) -> Result<usize, ImportError> {
        let wrap = "wrap the output of `aws elbv2 describe-target-health` as \
                    {\"TargetGroupArn\": \"...\", \"TargetHealthDescriptions\": [...]}";
        match &h.target_group_arn {
            Some(arn) => self.target_groups.index(arn).ok_or_else(|| {
                ImportError::at(
                    &h.file,
                    "TargetGroupArn".to_string(),
                    format!(
                        "target group {arn} is not in any describe-target-groups output \
                         (TargetGroups)"
                    ),
                )
            }),
            None => match self.target_groups.len() {
                1 => Ok(0),
                0 => Err(ImportError::in_file(
                    &h.file,
                    format!(
                        "target health without any describe-target-groups output (TargetGroups); \
                         add it, and {wrap}"
                    ),
                )),
                n => Err(ImportError::in_file(
                    &h.file,
                    format!(
                        "no TargetGroupArn, and there are {n} target groups to choose from: \
                         {wrap}"
                    ),
                )),
            },
        }
    }

    /// Load balancers with the listeners that name them, their nodes and their attributes.
    pub(super) fn load_balancers(
        &self,
        enis: &Enis,
        origins: &mut Origins,
    ) -> Result<Vec<LoadBalancer>, ImportError> {
        let mut lbs: Vec<LoadBalancer> = Vec::new();
        for (i, l) in self.load_balancers.iter().enumerate() {
            l.origin(origins, format!("load_balancers[{i}]"));
            let mut lb = load_balancer(&l.value, enis);
            lb.cross_zone = self.lb_cross_zone(&l.value.load_balancer_arn)?;
            lbs.push(lb);
        }
        for l in self.listeners.iter() {
            let Some(index) = self.load_balancers.index(&l.value.load_balancer_arn) else {
                return Err(l.err(
                    "LoadBalancerArn",
                    format!(
                        "load balancer {} is not in any describe-load-balancers output \
                         (LoadBalancers)",
                        l.value.load_balancer_arn
                    ),
                ));
            };
            if let Some(listener) = self.listener(l)? {
                let listeners = &mut lbs[index].listeners;
                l.origin(
                    origins,
                    format!("load_balancers[{index}].listeners[{}]", listeners.len()),
                );
                listeners.push(listener);
            }
        }
        self.check_rules()?;
        Ok(lbs)
    }

    /// The name of the target group `arn`, or an error at `field` of `item`.
    fn group_name<T>(&self, arn: &str, item: &Item<T>, field: &str) -> Result<String, ImportError> {
        match self.target_groups.get(arn) {
            Some(t) => Ok(t.value.target_group_name.clone()),
            None => Err(item.err(
                field,
                format!(
                    "target group {arn} is not in any describe-target-groups output \
                     (TargetGroups)"
                ),
            )),
        }
    }

    /// One listener; `None` for a gateway load balancer's, which has neither port nor protocol:
    /// it takes every port. The first target group of its default `forward` action is its
    /// `backend_group`; the others of a weighted forward, then those of its rules
    /// (`describe-rules`), are its `forwards`, each group once.
    fn listener(&self, l: &Item<RawListener>) -> Result<Option<Listener>, ImportError> {
        let (Some(port), Some(protocol)) = (l.value.port, l.value.protocol) else {
            return Ok(None);
        };
        let mut backend_group = None;
        let mut forwards: Vec<Forward> = Vec::new();
        for (arn, weight) in forward_groups(&l.value.default_actions) {
            let name = self.group_name(arn, l, "DefaultActions")?;
            if backend_group.is_none() {
                backend_group = Some(name);
            } else {
                add_forward(&mut forwards, backend_group.as_deref(), name, weight, None);
            }
        }
        if let Some(arn) = &l.value.listener_arn {
            for (name, weight, rule) in self.rule_forwards(arn)? {
                add_forward(
                    &mut forwards,
                    backend_group.as_deref(),
                    name,
                    weight,
                    Some(rule),
                );
            }
        }
        Ok(Some(Listener {
            name: None,
            protocol: protocol.app(),
            port,
            backend_group,
            access_control: None,
            forwards,
        }))
    }
}

/// Adds a forward to group `name` unless the listener already forwards to it.
fn add_forward(
    forwards: &mut Vec<Forward>,
    backend_group: Option<&str>,
    name: String,
    weight: Option<u32>,
    rule: Option<String>,
) {
    if backend_group == Some(name.as_str()) || forwards.iter().any(|f| f.backend_group == name) {
        return;
    }
    forwards.push(Forward {
        backend_group: name,
        weight,
        rule,
    });
}

/// A load balancer without its listeners and attributes. Its nodes are its interfaces
/// (`ELB app/NAME/ID`, ...), and an NLB's fixed addresses that no interface shows.
fn load_balancer(l: &RawLoadBalancer, enis: &Enis) -> LoadBalancer {
    let kind = match l.kind {
        Some(RawLbType::Application) => LbKind::Alb,
        Some(RawLbType::Network) => LbKind::Nlb,
        Some(RawLbType::Gateway) => LbKind::Gwlb,
        None => LbKind::Generic,
    };
    let owner = l
        .load_balancer_arn
        .split_once(":loadbalancer/")
        .map(|(_, tail)| LbOwner::V2(tail.to_string()));
    let interfaces = owner.and_then(|o| enis.lb.get(&o)).map(Vec::as_slice);
    let mut nodes: Vec<LbNode> = interfaces
        .unwrap_or_default()
        .iter()
        .map(|i| i.node.clone())
        .collect();
    for z in &l.availability_zones {
        for a in &z.load_balancer_addresses {
            let Some(address) = a.private_ipv4_address else {
                continue;
            };
            match nodes.iter_mut().find(|n| n.address == address) {
                Some(n) => n.public_address = n.public_address.or(a.ip_address),
                None => nodes.push(LbNode {
                    address,
                    subnet: z.subnet_id.clone(),
                    public_address: a.ip_address,
                }),
            }
        }
    }
    let mut security_groups = l.security_groups.clone();
    if security_groups.is_empty() {
        // An NLB created without security groups has none; its interfaces say the same. Were
        // the list missing from an older output, the interfaces still name them.
        for i in interfaces.unwrap_or_default() {
            for g in &i.groups {
                if !security_groups.contains(g) {
                    security_groups.push(g.clone());
                }
            }
        }
    }
    LoadBalancer {
        name: l.load_balancer_name.clone(),
        id: Some(l.load_balancer_arn.clone()),
        provider: Provider::Aws,
        kind,
        address: None,
        subnets: l
            .availability_zones
            .iter()
            .filter_map(|z| z.subnet_id.clone())
            .collect(),
        security_groups,
        health_check_sources: None,
        ip_as_backend: None,
        listeners: Vec::new(),
        scheme: l.scheme,
        clients: None,
        nodes,
        cross_zone: None,
    }
}

/// The target groups of the `forward` action among `actions`, with their weights when it
/// forwards to several. AWS prints a single group as `TargetGroupArn`, as
/// `ForwardConfig.TargetGroups`, or both.
pub(super) fn forward_groups(actions: &[RawAction]) -> Vec<(&str, Option<u32>)> {
    let Some(forward) = actions.iter().find(|a| a.kind == "forward") else {
        return Vec::new();
    };
    let weighted: Vec<(&str, Option<u32>)> = forward
        .forward_config
        .iter()
        .flat_map(|f| &f.target_groups)
        .map(|t| (t.target_group_arn.as_str(), t.weight))
        .collect();
    match weighted.as_slice() {
        [] => forward
            .target_group_arn
            .as_deref()
            .map(|a| (a, None))
            .into_iter()
            .collect(),
        [(arn, _)] => vec![(*arn, None)],
        _ => weighted,
    }
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
        preserve_client_ip: None,
        cross_zone: None,
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
    item: &Item<RawTargetHealth>,
    group: &BackendGroup,
    interfaces: &Interfaces,
) -> Result<Option<Member>, ImportError> {
    let t = &item.value;
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
                return Err(item.err(
                    "Target.Id",
                    format!(
                        "instance {id} is not in any describe-instances output (Reservations); \
                         add `aws ec2 describe-instances` to the directory"
                    ),
                ));
            };
            let Some(address) = *instance else {
                return Err(item.err(
                    "Target.Id",
                    format!(
                        "instance {id} has no PrivateIpAddress in describe-instances \
                         (terminated?)"
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
                item.err(
                    "Target.Id",
                    format!("{id:?} is not an IP address (target type ip)"),
                )
            })?;
            (None, address, interfaces.by_address.get(&address))
        }
        TargetType::Lambda => return Ok(None),
        TargetType::Alb => {
            tracing::warn!(
                "{}: {}: target {id} is a load balancer; ALB targets are not modelled",
                item.file.display(),
                item.path
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::tests::{INSTANCES, SUBNETS_AND_GROUPS, err, ok};
    use crate::import::testing::{ip, json_file as json};

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
