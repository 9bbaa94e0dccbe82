//! Classic Load Balancers (`aws elb …`).
//!
//! | top-level key              | command (`aws elb …`)                                        | becomes                          |
//! |----------------------------|--------------------------------------------------------------|----------------------------------|
//! | `LoadBalancerDescriptions` | `describe-load-balancers`                                    | `load_balancers` (`kind: clb`) and their backend groups |
//! | `InstanceStates`           | `describe-instance-health` (+ `LoadBalancerName`)            | the members' reported health     |
//! | `LoadBalancerAttributes`   | `describe-load-balancer-attributes` (+ `LoadBalancerName`)   | `cross_zone`                     |
//!
//! A Classic Load Balancer has no target groups: its instances, health check and listeners'
//! instance ports make its backend group, named after it. Listeners that send to different
//! instance ports make one group per port (the first named after the load balancer, the others
//! `NAME:PORT`), sharing the instances and the health check. A group name a target group already
//! has is prefixed `classic/`, as is the load balancer's name.
//!
//! The health check's `Target` is `PROTOCOL:PORT[/PATH]`: `TCP:80`, `SSL:443`, `HTTP:80/health`,
//! `HTTPS:443/health`. An SSL check is a TLS handshake, which the model cannot say: it counts as
//! a TCP check on that port. An HTTP(S) check passes on `200 OK` only.
//!
//! Cross-zone load balancing is on by default for a Classic Load Balancer created in the
//! console, off for one created through the API or CLI; a dump cannot tell which, so without its
//! `LoadBalancerAttributes` the model's default applies (off, as the API creates them).

use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;

use super::Dump;
use super::ec2::{Enis, Interfaces, LbOwner};
use crate::import::{DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{
    AppProto, BackendGroup, HealthCheck, HealthCheckPort, HealthCheckProto, LbKind, Listener,
    LoadBalancer, Member, Provider, ReportedHealth, Scheme,
};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &[
        "LoadBalancerDescriptions",
        "InstanceStates",
        "LoadBalancerAttributes",
    ],
    wrappers: &["LoadBalancerName"],
    add,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    load_balancer_descriptions: Option<Vec<RawClassic>>,
    instance_states: Option<Vec<RawInstanceState>>,
    load_balancer_attributes: Option<RawClassicAttributes>,
    /// Not printed by the CLI: the dump adds it to say whose health or attributes a file holds.
    load_balancer_name: Option<String>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    let lbs = file.listed(
        "LoadBalancerDescriptions",
        doc.load_balancer_descriptions.into_iter().flatten(),
    );
    dump.classic
        .extend(lbs, |l| Some(l.load_balancer_name.as_str()));
    if let Some(states) = doc.instance_states {
        dump.classic_health.push(ClassicFile {
            file: Rc::clone(&file.path),
            name: doc.load_balancer_name.clone(),
            value: file.listed("InstanceStates", states),
        });
    }
    if let Some(attributes) = doc.load_balancer_attributes {
        dump.classic_attributes.push(ClassicFile {
            file: Rc::clone(&file.path),
            name: doc.load_balancer_name,
            value: file.item("LoadBalancerAttributes".to_string(), attributes),
        });
    }
    Ok(())
}

/// A file that belongs to one Classic Load Balancer, named by its `LoadBalancerName` wrapper.
#[derive(Debug)]
pub(super) struct ClassicFile<T> {
    file: Rc<Path>,
    name: Option<String>,
    value: T,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a load balancer description object")]
pub(super) struct RawClassic {
    load_balancer_name: String,
    scheme: Option<Scheme>,
    #[serde(default)]
    subnets: Vec<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    #[serde(default)]
    listener_descriptions: Vec<RawListenerDescription>,
    health_check: Option<RawHealthCheck>,
    #[serde(default)]
    instances: Vec<RawInstanceRef>,
}

impl Kind for RawClassic {
    const WHAT: &str = "Classic Load Balancer";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a listener description object")]
struct RawListenerDescription {
    listener: RawListener,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a listener object")]
struct RawListener {
    protocol: RawProtocol,
    #[serde(deserialize_with = "probe_model::values::net::port")]
    load_balancer_port: u16,
    /// Defaults to the front end's protocol class when absent.
    instance_protocol: Option<RawProtocol>,
    #[serde(deserialize_with = "probe_model::values::net::port")]
    instance_port: u16,
}

/// `HTTP`, `HTTPS`, `TCP` or `SSL`; the API takes them in any case and prints them as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum RawProtocol {
    #[serde(rename = "HTTP", alias = "http", alias = "Http")]
    Http,
    #[serde(rename = "HTTPS", alias = "https", alias = "Https")]
    Https,
    #[serde(rename = "TCP", alias = "tcp", alias = "Tcp")]
    Tcp,
    #[serde(rename = "SSL", alias = "ssl", alias = "Ssl")]
    Ssl,
}

impl RawProtocol {
    fn app(self) -> AppProto {
        match self {
            RawProtocol::Http => AppProto::Http,
            RawProtocol::Https => AppProto::Https,
            RawProtocol::Tcp => AppProto::Tcp,
            RawProtocol::Ssl => AppProto::Tls,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a health check object")]
struct RawHealthCheck {
    target: String,
    interval: Option<u32>,
    timeout: Option<u32>,
    unhealthy_threshold: Option<u32>,
    healthy_threshold: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an instance object")]
struct RawInstanceRef {
    instance_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an instance state object")]
pub(super) struct RawInstanceState {
    instance_id: String,
    /// `InService`, `OutOfService` or `Unknown`.
    state: Option<String>,
    /// `ELB`, `Instance` or `N/A`.
    reason_code: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a load balancer attributes object")]
pub(super) struct RawClassicAttributes {
    cross_zone_load_balancing: Option<RawEnabled>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an object with Enabled")]
struct RawEnabled {
    /// A JSON boolean here, unlike elbv2's strings.
    enabled: bool,
}

/// A health check `Target`, or what is wrong with it.
fn parse_target(target: &str) -> Result<(HealthCheckProto, u16, Option<&str>), String> {
    let bad = |why: &str| {
        format!(
            "invalid health check target {target:?}: {why} (TCP:PORT, SSL:PORT, HTTP:PORT/PATH or \
             HTTPS:PORT/PATH)"
        )
    };
    let (protocol, rest) = target.split_once(':').ok_or_else(|| bad("no `:`"))?;
    let (port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| bad(&format!("{port:?} is not a port from 1 to 65535")))?;
    let protocol = match protocol.to_ascii_uppercase().as_str() {
        "TCP" | "SSL" => HealthCheckProto::Tcp,
        "HTTP" => HealthCheckProto::Http,
        "HTTPS" => HealthCheckProto::Https,
        other => return Err(bad(&format!("unknown protocol {other:?}"))),
    };
    match (protocol, path) {
        (HealthCheckProto::Tcp, Some(_)) => Err(bad("a TCP or SSL check has no path")),
        (HealthCheckProto::Http | HealthCheckProto::Https, None) => {
            Err(bad("an HTTP or HTTPS check needs a path"))
        }
        _ => Ok((protocol, port, path)),
    }
}

/// The Classic Load Balancers of the dump and their backend groups.
pub(super) struct Classic {
    pub load_balancers: Vec<LoadBalancer>,
    pub backend_groups: Vec<BackendGroup>,
}

impl Dump {
    /// Every Classic Load Balancer, with one backend group per instance port. `taken` holds the
    /// load balancers and groups elbv2 made: their names are not reused, and the Classic ones
    /// come after them in the model (their origins say so).
    pub(super) fn classic(
        &self,
        interfaces: &Interfaces,
        enis: &Enis,
        taken: (&[LoadBalancer], &[BackendGroup]),
        origins: &mut Origins,
    ) -> Result<Classic, ImportError> {
        self.check_classic_files()?;
        let (taken_lbs, taken_groups) = taken;
        let mut out = Classic {
            load_balancers: Vec::new(),
            backend_groups: Vec::new(),
        };
        for c in self.classic.iter() {
            let raw = &c.value;
            let name = &raw.load_balancer_name;
            let free = |n: &str, used: &[&str]| !used.contains(&n);
            let lb_names: Vec<&str> = taken_lbs.iter().map(|l| l.name.as_str()).collect();
            let lb_name = if free(name, &lb_names) {
                name.clone()
            } else {
                format!("classic/{name}")
            };
            let group_names: Vec<&str> = taken_groups
                .iter()
                .chain(&out.backend_groups)
                .map(|g| g.name.as_str())
                .collect();
            let base = if free(name, &group_names) {
                name.clone()
            } else {
                format!("classic/{name}")
            };
            let health_check = match &raw.health_check {
                Some(h) => Some(health_check(h).map_err(|m| c.err("HealthCheck.Target", m))?),
                None => None,
            };
            let members = self.classic_members(c, interfaces)?;
            let mut listeners = Vec::new();
            let mut groups: Vec<BackendGroup> = Vec::new();
            for (j, d) in raw.listener_descriptions.iter().enumerate() {
                let l = &d.listener;
                let instance_protocol = l.instance_protocol.unwrap_or(l.protocol).app();
                let group = match groups.iter().position(|g| g.port == Some(l.instance_port)) {
                    Some(k) => groups[k].name.clone(),
                    None => {
                        let group_name = if groups.is_empty() {
                            base.clone()
                        } else {
                            format!("{base}:{}", l.instance_port)
                        };
                        let index = taken_groups.len() + out.backend_groups.len() + groups.len();
                        c.field_origin(
                            origins,
                            format!("backend_groups[{index}]"),
                            &format!("ListenerDescriptions[{j}]"),
                        );
                        groups.push(BackendGroup {
                            name: group_name.clone(),
                            id: None,
                            protocol: instance_protocol,
                            port: Some(l.instance_port),
                            target_type: None,
                            health_check: health_check.clone(),
                            members: members.clone(),
                            preserve_client_ip: None,
                            cross_zone: None,
                        });
                        group_name
                    }
                };
                let index = taken_lbs.len() + out.load_balancers.len();
                c.field_origin(
                    origins,
                    format!("load_balancers[{index}].listeners[{j}]"),
                    &format!("ListenerDescriptions[{j}]"),
                );
                listeners.push(Listener {
                    name: None,
                    protocol: l.protocol.app(),
                    port: l.load_balancer_port,
                    backend_group: Some(group),
                    access_control: None,
                    forwards: Vec::new(),
                });
            }
            let interfaces = enis
                .lb
                .get(&LbOwner::Classic(name.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            c.origin(
                origins,
                format!(
                    "load_balancers[{}]",
                    taken_lbs.len() + out.load_balancers.len()
                ),
            );
            out.load_balancers.push(LoadBalancer {
                name: lb_name,
                id: None,
                provider: Provider::Aws,
                kind: LbKind::Clb,
                address: None,
                subnets: raw.subnets.clone(),
                security_groups: raw.security_groups.clone(),
                health_check_sources: None,
                ip_as_backend: None,
                listeners,
                scheme: raw.scheme,
                clients: None,
                nodes: interfaces.iter().map(|i| i.node.clone()).collect(),
                cross_zone: self.classic_cross_zone(name),
            });
            out.backend_groups.extend(groups);
        }
        Ok(out)
    }

    /// The instances of a Classic Load Balancer, with the health `describe-instance-health`
    /// reported for them.
    fn classic_members(
        &self,
        c: &Item<RawClassic>,
        interfaces: &Interfaces,
    ) -> Result<Vec<Member>, ImportError> {
        let name = &c.value.load_balancer_name;
        let states: Vec<&Item<RawInstanceState>> = self
            .classic_health
            .iter()
            .filter(|f| self.classic_owner(f.name.as_deref()) == Some(name.as_str()))
            .flat_map(|f| &f.value)
            .collect();
        let mut members = Vec::new();
        for (k, i) in c.value.instances.iter().enumerate() {
            let id = &i.instance_id;
            let field = format!("Instances[{k}].InstanceId");
            let address: IpAddr = match interfaces.instances.get(id) {
                Some(Some(a)) => *a,
                Some(None) => {
                    return Err(c.err(
                        &field,
                        format!(
                            "instance {id} has no PrivateIpAddress in describe-instances \
                             (terminated?)"
                        ),
                    ));
                }
                None => {
                    return Err(c.err(
                        &field,
                        format!(
                            "instance {id} is not in any describe-instances output \
                             (Reservations); add `aws ec2 describe-instances` to the directory"
                        ),
                    ));
                }
            };
            let iface = interfaces.by_address.get(&address);
            let reported_health = states
                .iter()
                .find(|s| &s.value.instance_id == id)
                .and_then(|s| reported(&s.value));
            members.push(Member {
                name: Some(id.clone()),
                address,
                port: None,
                subnet: iface.and_then(|i| i.subnet.clone()),
                security_groups: iface.map(|i| i.groups.clone()).unwrap_or_default(),
                reported_health,
            });
        }
        Ok(members)
    }

    /// The Classic Load Balancer a wrapped file belongs to: its `LoadBalancerName`, else the
    /// only one.
    fn classic_owner<'a>(&'a self, name: Option<&'a str>) -> Option<&'a str> {
        match name {
            Some(n) => Some(n),
            None if self.classic.len() == 1 => self
                .classic
                .iter()
                .next()
                .map(|c| c.value.load_balancer_name.as_str()),
            None => None,
        }
    }

    fn classic_cross_zone(&self, name: &str) -> Option<bool> {
        self.classic_attributes
            .iter()
            .find(|f| self.classic_owner(f.name.as_deref()) == Some(name))
            .and_then(|f| f.value.value.cross_zone_load_balancing.as_ref())
            .map(|c| c.enabled)
    }

    /// Health and attribute files must name a Classic Load Balancer of the dump (or there must
    /// be exactly one to belong to).
    fn check_classic_files(&self) -> Result<(), ImportError> {
        let wrap = |command: &str, key: &str| {
            format!(
                "wrap the output of `aws elb {command}` as \
                 {{\"LoadBalancerName\": \"...\", \"{key}\": ...}}"
            )
        };
        let files = self
            .classic_health
            .iter()
            .map(|f| {
                (
                    &f.file,
                    &f.name,
                    "describe-instance-health",
                    "InstanceStates",
                )
            })
            .chain(self.classic_attributes.iter().map(|f| {
                (
                    &f.file,
                    &f.name,
                    "describe-load-balancer-attributes",
                    "LoadBalancerAttributes",
                )
            }));
        for (file, name, command, key) in files {
            match name {
                Some(n) if self.classic.get(n).is_none() => {
                    return Err(ImportError::at(
                        file,
                        "LoadBalancerName".to_string(),
                        format!(
                            "Classic Load Balancer {n} is not in any elb describe-load-balancers \
                             output (LoadBalancerDescriptions)"
                        ),
                    ));
                }
                Some(_) => {}
                None if self.classic.len() == 1 => {}
                None => {
                    return Err(ImportError::in_file(
                        file,
                        format!(
                            "no LoadBalancerName, and there are {} Classic Load Balancers to \
                             choose from: {}",
                            self.classic.len(),
                            wrap(command, key)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The health check of a Classic Load Balancer; `Err` is the message about its `Target`.
fn health_check(h: &RawHealthCheck) -> Result<HealthCheck, String> {
    let (protocol, port, path) = parse_target(&h.target)?;
    let mut hc = HealthCheck::new(protocol);
    hc.port = HealthCheckPort::Port(port);
    if let Some(path) = path {
        hc.path = path.to_string();
    }
    // The Classic defaults (elb-healthchecks: 30 s, 5 s, 2 unhealthy, 10 healthy); AWS always
    // prints every field, so they matter only for hand-made files.
    hc.interval_s = h.interval.unwrap_or(30);
    hc.timeout_s = h.timeout.unwrap_or(5);
    hc.unhealthy_threshold = h.unhealthy_threshold.unwrap_or(2);
    hc.healthy_threshold = h.healthy_threshold.unwrap_or(10);
    Ok(hc)
}

/// `InService`/`OutOfService`, with `ReasonCode: Description` unless they say `N/A`.
fn reported(s: &RawInstanceState) -> Option<ReportedHealth> {
    let state = s.state.clone()?;
    let said = |v: &Option<String>| v.clone().filter(|v| !v.is_empty() && v != "N/A");
    let reason = match (said(&s.reason_code), said(&s.description)) {
        (Some(code), Some(text)) => Some(format!("{code}: {text}")),
        (code, text) => code.or(text),
    };
    Some(ReportedHealth { state, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_check_targets_parse_by_the_api_grammar() {
        assert_eq!(
            parse_target("TCP:80"),
            Ok((HealthCheckProto::Tcp, 80, None))
        );
        assert_eq!(
            parse_target("SSL:443"),
            Ok((HealthCheckProto::Tcp, 443, None))
        );
        assert_eq!(
            parse_target("HTTP:8080/weather/us/wa/seattle"),
            Ok((HealthCheckProto::Http, 8080, Some("/weather/us/wa/seattle")))
        );
        assert_eq!(
            parse_target("HTTPS:443/health?full=1"),
            Ok((HealthCheckProto::Https, 443, Some("/health?full=1")))
        );
        for (bad, says) in [
            ("HTTP:80", "needs a path"),
            ("TCP:80/x", "has no path"),
            ("UDP:53", "unknown protocol \"UDP\""),
            ("HTTP:0/", "\"0\" is not a port"),
            ("HTTP:eighty/", "\"eighty\" is not a port"),
            ("HTTP", "no `:`"),
        ] {
            let e = parse_target(bad).expect_err(bad);
            assert!(e.contains(says) && e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn instance_health_keeps_what_aws_said() {
        let s = |code: &str, text: &str| RawInstanceState {
            instance_id: "i-1".into(),
            state: Some("OutOfService".into()),
            reason_code: Some(code.into()),
            description: Some(text.into()),
        };
        assert_eq!(reported(&s("N/A", "N/A")).and_then(|r| r.reason), None);
        assert_eq!(
            reported(&s("Instance", "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."))
                .and_then(|r| r.reason)
                .as_deref(),
            Some("Instance: Instance has failed at least the UnhealthyThreshold number of health checks consecutively.")
        );
    }
}
