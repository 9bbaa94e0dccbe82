//! Elastic Load Balancing v2 (application, network and gateway load balancers): load balancers,
//! listeners, target groups and the health of their targets.
//!
//! | top-level key              | command (`aws …`)                     | becomes                      |
//! |----------------------------|---------------------------------------|------------------------------|
//! | `LoadBalancers`            | `elbv2 describe-load-balancers`       | `load_balancers`             |
//! | `Listeners`                | `elbv2 describe-listeners`            | their listeners              |
//! | `TargetGroups`             | `elbv2 describe-target-groups`        | `backend_groups`             |
//! | `TargetHealthDescriptions` | `elbv2 describe-target-health`        | one group's members          |

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;

use super::Dump;
use super::ec2::Interfaces;
use crate::import::{DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{
    AppProto, BackendGroup, HealthCheck, HealthCheckPort, HealthCheckProto, LbKind, Listener,
    LoadBalancer, Member, Provider, ReportedHealth, TargetType,
};

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
}

impl Kind for RawLoadBalancer {
    const WHAT: &str = "load balancer";
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
                backend_group(&t.value)
            })
            .collect();
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

    /// Load balancers with the listeners that name them.
    pub(super) fn load_balancers(
        &self,
        origins: &mut Origins,
    ) -> Result<Vec<LoadBalancer>, ImportError> {
        let mut lbs: Vec<LoadBalancer> = Vec::new();
        for (i, l) in self.load_balancers.iter().enumerate() {
            l.origin(origins, format!("load_balancers[{i}]"));
            lbs.push(load_balancer(&l.value));
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
        Ok(lbs)
    }

    /// One listener; `None` for a gateway load balancer's, which has neither port nor protocol:
    /// it takes every port.
    fn listener(&self, l: &Item<RawListener>) -> Result<Option<Listener>, ImportError> {
        let (Some(port), Some(protocol)) = (l.value.port, l.value.protocol) else {
            return Ok(None);
        };
        let backend_group = match forward_target(&l.value.default_actions) {
            Some(arn) => match self.target_groups.get(arn) {
                Some(t) => Some(t.value.target_group_name.clone()),
                None => {
                    return Err(l.err(
                        "DefaultActions",
                        format!(
                            "target group {arn} is not in any describe-target-groups output \
                             (TargetGroups)"
                        ),
                    ));
                }
            },
            None => None,
        };
        Ok(Some(Listener {
            name: None,
            protocol: protocol.app(),
            port,
            backend_group,
            access_control: None,
            forwards: Vec::new(),
        }))
    }
}

/// A load balancer without its listeners.
fn load_balancer(l: &RawLoadBalancer) -> LoadBalancer {
    LoadBalancer {
        name: l.load_balancer_name.clone(),
        id: Some(l.load_balancer_arn.clone()),
        provider: Provider::Aws,
        kind: match l.kind {
            Some(RawLbType::Application) => LbKind::Alb,
            Some(RawLbType::Network) => LbKind::Nlb,
            Some(RawLbType::Gateway) => LbKind::Gwlb,
            None => LbKind::Generic,
        },
        address: None,
        subnets: l
            .availability_zones
            .iter()
            .filter_map(|z| z.subnet_id.clone())
            .collect(),
        security_groups: l.security_groups.clone(),
        health_check_sources: None,
        ip_as_backend: None,
        listeners: Vec::new(),
        scheme: None,
        clients: None,
        nodes: Vec::new(),
        cross_zone: None,
    }
}

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
