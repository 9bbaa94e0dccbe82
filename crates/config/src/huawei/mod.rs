//! Huawei Cloud importer: the JSON of the ELB v3, VPC and ECS APIs → [`Model`].
//!
//! Users save what the API (or KooCLI, which prints the API's own JSON) returns, one response per
//! file, and point `probe` at the directory; `docs/import-huawei.md` lists the calls. A file is
//! recognised by its top-level key (`loadbalancers`, `listeners`, `security_group_rules`, ...),
//! never by its name, and files with the same key are merged, so paginated output can be saved
//! page by page. Show-one responses (`{"firewall": {...}}`) are read like one-element lists. One
//! module per API family reads its responses; each module's table lists its keys.
//!
//! | API family | file     | top-level keys (and their singular forms)                                     |
//! |------------|----------|-------------------------------------------------------------------------------|
//! | ELB v3     | `elb.rs` | `loadbalancers`, `listeners`, `pools`, `members`, `healthmonitors`, `ipgroups` |
//! | VPC        | `vpc.rs` | `subnets`, `security_groups`, `security_group_rules`, `firewalls`, `address_groups` |
//! | VPC routing, NAT | `routing.rs` | `vpcs`, `routetables`, `peerings`, `nat_gateways`                   |
//! | EIP        | `eip.rs` | `publicips`                                                                   |
//! | ECS        | `ecs.rs` | `servers`                                                                     |
//!
//! Parsing is lenient about what the importer does not need (the API adds fields all the time, so
//! unknown fields are ignored) and strict about what it reads: a wrong type or an unparsable
//! address fails with the file, line, column and field path (`values` reads the API's loose
//! scalars). References between files (a listener's pool, a member's subnet, a rule's address
//! group) are resolved afterwards; one that the evaluation depends on and that cannot be resolved
//! is an [`ConfigError::Import`] naming the file, the object and what to dump.
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

mod ecs;
mod eip;
mod elb;
#[cfg(test)]
mod path_tests;
mod routing;
#[cfg(test)]
mod sdk_tests;
mod values;
mod vpc;

use std::net::IpAddr;

use ipnet::IpNet;

use super::import::{
    self, Collection, DumpFile, Family, ImportError, Importer, Item, Order, Placeholders,
};
use super::{ConfigError, JsonFile, Origins};
use probe_model::{AddressGroup, Model};

/// The API families, in the order messages list their keys.
const FAMILIES: &[Family<Dump>] = &[
    elb::FAMILY,
    vpc::FAMILY,
    routing::FAMILY,
    eip::FAMILY,
    ecs::FAMILY,
];

/// The importer. [`import`] gives its model; `config::model_of` keeps the origins too, to place
/// the model's consistency problems in the dump.
pub(crate) const IMPORTER: Importer<Dump> = Importer {
    families: FAMILIES,
    unused: &[],
    unrecognised,
};

/// Placeholders have no name, and come in the order rules reference them.
const PLACEHOLDERS: Placeholders = Placeholders {
    name: None,
    order: Order::FirstReference,
};

/// Builds the model from already-read JSON documents, whatever their file names. Pure: no I/O.
/// Not validated: [`crate::model_of`] does that.
///
/// `agent_address` is where `probe` runs; with a `servers` dump it also gives the agent's
/// security groups.
pub fn import(files: &[JsonFile], agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    IMPORTER.model(files, agent_address)
}

fn unrecognised(found: &[String], known: &[&str]) -> String {
    let lists: Vec<&str> = known.iter().filter(|k| k.ends_with('s')).copied().collect();
    format!(
        "not a Huawei Cloud API response this importer reads: its top-level keys are [{}], \
         expected one of {} or their singular forms (see docs/import-huawei.md)",
        found.join(", "),
        lists.join(", ")
    )
}

/// The objects of a list response (`{key}s`) and of a show-one response (`key`) in one file.
fn responses<T>(file: &DumpFile<'_>, key: &str, list: Vec<T>, one: Option<T>) -> Vec<Item<T>> {
    let mut items = file.listed(&format!("{key}s"), list);
    items.extend(one.map(|value| file.item(key.to_string(), value)));
    items
}

/// The addresses of an address group, each once, in order.
fn distinct<'a>(nets: impl Iterator<Item = &'a IpNet>) -> Vec<IpNet> {
    let mut cidrs: Vec<IpNet> = Vec::new();
    for net in nets {
        if !cidrs.contains(net) {
            cidrs.push(*net);
        }
    }
    cidrs
}

/// Adds the address group made from `item` (a VPC address group or an ELB ipgroup) to `out`.
fn add_address_group<T>(
    item: &Item<T>,
    id: &str,
    name: &Option<String>,
    cidrs: Vec<IpNet>,
    out: &mut Vec<AddressGroup>,
    origins: &mut Origins,
) {
    item.origin(origins, format!("address_groups[{}]", out.len()));
    out.push(AddressGroup {
        id: id.to_string(),
        name: values::owned(name),
        cidrs,
    });
}

/// Every object of every file, in file order. Objects of the kinds in [`Collection`]s must
/// agree where saved twice; security groups, their rules, members and firewalls merge their own
/// way.
#[derive(Debug, Default)]
pub(crate) struct Dump {
    loadbalancers: Collection<elb::RawLb>,
    listeners: Collection<elb::RawListener>,
    pools: Collection<elb::RawPool>,
    members: Vec<Item<elb::MemberIn>>,
    healthmonitors: Collection<elb::RawMonitor>,
    ipgroups: Collection<elb::RawIpGroup>,
    subnets: Collection<vpc::RawSubnet>,
    security_groups: Vec<Item<vpc::RawSecurityGroup>>,
    security_group_rules: Vec<Item<vpc::RawSgRule>>,
    firewalls: Vec<Item<vpc::RawFirewall>>,
    address_groups: Collection<vpc::RawAddressGroup>,
    vpcs: Vec<Item<routing::RawVpc>>,
    route_tables: Vec<Item<routing::RawRouteTable>>,
    peerings: routing::Peerings,
    nat_gateways: routing::NatGateways,
    publicips: Vec<Item<eip::RawPublicIp>>,
    servers: Collection<ecs::RawServer>,
}

impl import::Dump for Dump {
    /// Copies are compared once every file is read.
    fn build(self, agent_address: Option<IpAddr>) -> Result<(Model, Origins), ImportError> {
        self.check_copies()?;
        let mut model = Model::default();
        let mut o = Origins::default();
        let subnets = vpc::SubnetIndex::build(&self.subnets, &mut model.subnets, &mut o);
        let vpc_groups =
            vpc::address_groups(&self.address_groups, &mut model.address_groups, &mut o);
        let ipgroups = elb::ipgroups(&self.ipgroups, &mut model.address_groups, &mut o);
        model.security_groups = vpc::security_groups(&self, &mut o)?;
        model.network_acls = vpc::firewalls(&self.firewalls, &subnets, &vpc_groups, &mut o)?;
        let servers = ecs::ServerIndex::build(&self.servers, &model.security_groups)?;
        model.networks = routing::networks(&self.vpcs, &mut o);
        model.route_tables =
            routing::route_tables(&self, &subnets, &model.networks, &model.subnets, &mut o)?;
        let pools =
            elb::backend_groups(&self, &subnets, &servers, &mut model.backend_groups, &mut o)?;
        let eips = eip::EipIndex::build(&self.publicips);
        model.load_balancers =
            elb::load_balancers(&self, &subnets, &pools, &ipgroups, &eips, &mut o)?;
        elb::client_ip_preservation(&self, &pools, &mut model.backend_groups);
        import::add_placeholders(&mut model, &PLACEHOLDERS);
        model.agent.address = agent_address;
        if let Some(addr) = agent_address
            && let Some(groups) = servers.by_address.get(&addr)
        {
            model.agent.security_groups = groups.clone();
        }
        Ok((model, o))
    }
}

impl Dump {
    /// Objects saved twice (overlapping pages, a list and a show response) must be the same
    /// object; checked once every file is read, kind by kind in this order.
    fn check_copies(&self) -> Result<(), ImportError> {
        self.loadbalancers.check()?;
        self.listeners.check()?;
        self.pools.check()?;
        self.healthmonitors.check()?;
        self.ipgroups.check()?;
        self.subnets.check()?;
        self.address_groups.check()?;
        routing::check_copies(self)?;
        self.servers.check()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::import::testing::{self, ip, json_file as doc, net};
    use probe_model::{
        AccessControl, AccessMode, AclRule, Action, AppProto, BackendGroup, Direction, HealthCheck,
        HealthCheckPort, HealthCheckProto, IpProto, LbKind, LbNode, Listener, Member, PortRange,
        PortSet, Provider, ReportedHealth, Scheme, Subnet, validate,
    };

    fn load_dir(dir: &Path, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
        testing::load_dir(&IMPORTER, dir, agent_address)
    }

    fn fixture(name: &str) -> PathBuf {
        crate::import::testing::repo("tests/fixtures/huawei").join(name)
    }

    /// Imports a fixture directory and checks that the model validates.
    fn load(name: &str, agent: Option<IpAddr>) -> Model {
        let m = load_dir(&fixture(name), agent).expect("fixture imports");
        let errors = validate(&m);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        m
    }

    /// Imports inline documents and checks that the model validates.
    pub(super) fn import_ok(docs: &[JsonFile]) -> Model {
        testing::valid(import(docs, None))
    }

    pub(super) fn import_err(docs: &[JsonFile]) -> String {
        testing::failure(import(docs, None))
    }

    pub(super) fn group<'a>(m: &'a Model, name: &str) -> &'a BackendGroup {
        m.backend_groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no backend group {name}"))
    }

    const VPC: &str = "3b9c6d2e-1f4a-4c7b-9e8d-5a6b7c8d9e0f";

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
                    network: Some(VPC.into()),
                },
                Subnet {
                    id: APP_SUBNET.into(),
                    cidr: net("192.168.1.0/24"),
                    zone: Some("cn-north-4a".into()),
                    free_addresses: None,
                    network: Some(VPC.into()),
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
        // `eips` and `publicips` are listed, and empty: an internal load balancer.
        assert_eq!(lb.scheme, Some(Scheme::Internal));
        assert!(lb.nodes.is_empty());
        assert_eq!(
            lb.listeners,
            vec![
                Listener {
                    name: Some("listener-http".into()),
                    protocol: AppProto::Http,
                    port: 80,
                    backend_group: Some("web".into()),
                    access_control: None,
                    forwards: Vec::new(),
                },
                Listener {
                    name: Some("listener-dns".into()),
                    protocol: AppProto::Udp,
                    port: 53,
                    backend_group: Some("dns".into()),
                    // enable_ipgroup is false: the (undumped) blacklist does not apply.
                    access_control: None,
                    forwards: Vec::new(),
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
        // Its EIP makes it internet-facing, with the EIP on its one node.
        assert_eq!(lb.scheme, Some(Scheme::InternetFacing));
        assert_eq!(
            lb.nodes,
            vec![LbNode {
                address: ip("10.0.1.100"),
                subnet: Some("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d".into()),
                public_address: Some(ip("119.3.44.55")),
            }]
        );
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
                forwards: Vec::new(),
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
        let files = crate::import::testing::read_json_dir(&dir).expect("fixture reads");
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
}
