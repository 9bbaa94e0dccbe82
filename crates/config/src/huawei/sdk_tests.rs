//! The dump generated from Huawei's own SDK response models (`tests/fixtures/huawei/sdk/`,
//! written by `scripts/huawei-fixtures.py`): every key the SDK documents is present with a value
//! of its documented type, so importing it proves that every key the importer reads parses as
//! the SDK types it. The model it gives is asserted whole-path: load balancers with their
//! internet side, every listener protocol and monitor type, members' per-listener health,
//! security groups v1 and v3, the firewall, VPCs and route tables.

use std::path::PathBuf;

use super::IMPORTER;
use crate::import::testing::{self, ip, net};
use probe_model::{
    AccessMode, Action, AppProto, HealthCheckPort, HealthCheckProto, LbKind, LbNode, Model,
    RouteState, RouteTargetKind, Scheme, validate,
};

fn sdk() -> Model {
    let dir: PathBuf = testing::repo("tests/fixtures/huawei/sdk");
    let m = testing::load_dir(&IMPORTER, &dir, Some(ip("192.168.0.50"))).expect("SDK dump imports");
    assert_eq!(validate(&m), vec![], "SDK dump validates");
    m
}

fn group<'a>(m: &'a Model, name: &str) -> &'a probe_model::BackendGroup {
    super::tests::group(m, name)
}

#[test]
fn sdk_load_balancers_and_their_internet_side() {
    let m = sdk();
    let [ded, shr] = m.load_balancers.as_slice() else {
        panic!("two load balancers: {:?}", m.load_balancers)
    };
    assert_eq!(
        (ded.name.as_str(), ded.kind),
        ("elb-dedicated", LbKind::Dedicated)
    );
    assert_eq!(ded.ip_as_backend, Some(true));
    assert_eq!(ded.subnets, vec!["sub-elb".to_string()]);
    assert_eq!(ded.scheme, Some(Scheme::InternetFacing), "its own eips");
    assert_eq!(
        ded.nodes,
        vec![LbNode {
            address: ip("192.168.0.10"),
            subnet: Some("sub-elb".into()),
            public_address: Some(ip("121.36.0.10")),
        }]
    );
    assert_eq!(
        (shr.name.as_str(), shr.kind),
        ("elb-shared", LbKind::Shared)
    );
    assert_eq!(shr.ip_as_backend, Some(false));
    assert_eq!(
        shr.scheme,
        Some(Scheme::InternetFacing),
        "the v1 EIP bound to its vip_port_id"
    );
    assert_eq!(shr.nodes[0].public_address, Some(ip("121.36.0.20")));
    assert_eq!(shr.nodes[0].subnet.as_deref(), Some("sub-shared"));

    let protocols: Vec<(AppProto, u16, Option<&str>)> = ded
        .listeners
        .iter()
        .map(|l| (l.protocol, l.port, l.backend_group.as_deref()))
        .collect();
    assert_eq!(
        protocols,
        vec![
            (AppProto::Http, 80, Some("web")),
            (AppProto::Https, 443, Some("grpc")),
            (AppProto::Https, 8443, Some("web")),
            (AppProto::Udp, 53, Some("dns")),
            (AppProto::Udp, 4433, Some("api")),
            (AppProto::Tls, 9443, Some("tls")),
        ]
    );
    assert!(
        ded.listeners.iter().all(|l| l.access_control.is_none()),
        "enable_ipgroup false"
    );
    let tcp = &shr.listeners[0];
    let ac = tcp.access_control.as_ref().expect("whitelist");
    assert_eq!(ac.mode, AccessMode::Whitelist);
    assert_eq!(
        ac.address_groups,
        vec!["ipg-office".to_string(), "ipg-vpn".to_string()]
    );
    let http = &shr.listeners[1];
    let ac = http.access_control.as_ref().expect("blacklist");
    assert_eq!(
        (ac.mode, ac.id.as_deref()),
        (AccessMode::Blacklist, Some("ipg-blocked"))
    );
    let vpn = m
        .address_groups
        .iter()
        .find(|g| g.id == "ipg-vpn")
        .expect("ipgroup");
    assert_eq!(
        vpn.cidrs,
        [
            "192.0.2.10/31",
            "192.0.2.12/30",
            "192.0.2.16/30",
            "192.0.2.20/32"
        ]
        .map(net)
    );
}

#[test]
fn sdk_health_checks_for_every_monitor_type() {
    let m = sdk();
    let hc = |name: &str| {
        group(&m, name)
            .health_check
            .clone()
            .expect("a health check")
    };
    let web = hc("web");
    assert_eq!(
        (web.protocol, web.port),
        (HealthCheckProto::Http, HealthCheckPort::Port(8081))
    );
    assert_eq!(
        (
            web.path.as_str(),
            web.host.as_deref(),
            web.expected_codes.as_str()
        ),
        ("/health", Some("www.example.com"), "200,202")
    );
    let api = hc("api");
    assert_eq!(api.protocol, HealthCheckProto::Https);
    assert_eq!((api.host, api.expected_codes.as_str()), (None, "200-204"));
    assert_eq!(hc("dns").protocol, HealthCheckProto::UdpConnect);
    for name in ["grpc", "tls", "app", "app-web"] {
        let c = hc(name);
        assert_eq!(c.protocol, HealthCheckProto::Tcp, "{name}");
        assert_eq!(
            (c.path.as_str(), c.expected_codes.as_str()),
            ("/", "200"),
            "{name}"
        );
        assert_eq!(c.port, HealthCheckPort::TrafficPort, "{name}");
    }
    assert_eq!((web.interval_s, web.timeout_s), (5, 3));
    assert_eq!((web.healthy_threshold, web.unhealthy_threshold), (3, 2));
    assert_eq!(
        group(&m, "grpc").protocol,
        AppProto::Http,
        "GRPC pools speak HTTP"
    );
    assert_eq!(group(&m, "api").protocol, AppProto::Https);
}

#[test]
fn sdk_members_reported_health_and_client_ip() {
    let m = sdk();
    let state = |g: &str, i: usize| {
        let r = group(&m, g).members[i]
            .reported_health
            .clone()
            .expect("reported");
        (r.state, r.reason)
    };
    // lsn-http forwards to pool-web first: its entry wins over ONLINE.
    assert_eq!(
        state("web", 0),
        ("OFFLINE".into(), Some("CONNECT_TIMEOUT".into()))
    );
    assert_eq!(state("web", 1), ("ONLINE".into(), None));
    assert_eq!(
        state("dns", 0),
        ("OFFLINE".into(), Some("CONNECT_FAILED".into()))
    );
    assert_eq!(state("app", 0), ("ONLINE".into(), None));
    assert_eq!(
        state("app", 1),
        ("ONLINE".into(), None),
        "lsn-shr-tcp's entry"
    );
    assert_eq!(state("app-web", 0), ("ONLINE".into(), None));
    let web = &group(&m, "web").members[0];
    assert_eq!(web.subnet.as_deref(), Some("sub-app"));
    assert_eq!(web.security_groups, vec!["sg-web".to_string()]);
    assert_eq!(
        group(&m, "app").members.len(),
        2,
        "the wrapped ListMembers file"
    );
    assert_eq!(
        group(&m, "app").members[0].security_groups,
        vec!["sg-legacy".to_string()]
    );
    assert_eq!(
        group(&m, "app").preserve_client_ip,
        Some(true),
        "shared TCP, transparent"
    );
    assert_eq!(group(&m, "app-web").preserve_client_ip, None, "shared HTTP");
    assert_eq!(
        group(&m, "dns").preserve_client_ip,
        None,
        "dedicated: ip_as_backend"
    );
    assert_eq!(m.agent.security_groups, vec!["sg-probe".to_string()]);
}

#[test]
fn sdk_security_groups_and_firewall() {
    let m = sdk();
    let sg = |id: &str| m.security_groups.iter().find(|g| g.id == id).expect(id);
    let web = sg("sg-web");
    assert_eq!(web.rules.len(), 5);
    assert_eq!(
        (web.rules[3].action, web.rules[3].priority),
        (Action::Deny, Some(10))
    );
    // v1 rules: no action nor priority in the API, so allow and the model's default.
    let legacy = sg("sg-legacy");
    assert_eq!(legacy.rules.len(), 3);
    assert!(
        legacy
            .rules
            .iter()
            .all(|r| r.action == Action::Allow && r.priority.is_none())
    );
    assert_eq!(
        (legacy.rules[1].icmp_type, legacy.rules[1].icmp_code),
        (Some(8), Some(0))
    );
    assert_eq!(legacy.rules[2].group.as_deref(), Some("sg-legacy"));
    assert_eq!(sg("sg-probe").rules[0].cidr, Some(net("::/0")));
    let [acl] = m.network_acls.as_slice() else {
        panic!("one firewall")
    };
    assert_eq!(acl.subnets, vec!["sub-app".to_string()]);
    let numbers: Vec<u32> = acl.inbound.iter().map(|r| r.number).collect();
    assert_eq!(
        numbers,
        vec![1, 2, 3, 4, 5, 6],
        "the address group's two CIDRs shift the deny"
    );
    assert_eq!(acl.inbound[3].cidr, Some(net("10.8.0.0/24")));
    assert_eq!(acl.inbound[4].cidr, Some(net("10.9.0.5/32")));
    assert_eq!(acl.inbound[5].action, Action::Deny);
}

#[test]
fn sdk_networks_and_route_tables() {
    let m = sdk();
    assert_eq!(m.networks.len(), 1);
    assert_eq!(
        m.networks[0].cidrs,
        vec![net("192.168.0.0/16"), net("10.20.0.0/16")]
    );
    assert!(
        m.subnets
            .iter()
            .all(|s| s.network.as_deref() == Some("vpc-0001"))
    );
    assert_eq!(m.route_tables.len(), 2);
    let table = |id: &str| m.route_tables.iter().find(|t| t.id == id).expect(id);
    let (main, app) = (table("rt-main"), table("rt-app"));
    assert!(main.main && !app.main);
    assert_eq!(
        main.subnets,
        vec!["sub-elb".to_string(), "sub-shared".to_string()]
    );
    assert_eq!(main.routes[0].via.kind, RouteTargetKind::NatGateway);
    assert_eq!(main.routes[0].state, RouteState::Active);
    assert_eq!(
        main.routes[1].state,
        RouteState::Active,
        "peer-0001 is ACTIVE"
    );
    use RouteTargetKind as K;
    let kinds: Vec<K> = app.routes.iter().map(|r| r.via.kind).collect();
    assert_eq!(
        kinds,
        vec![
            K::NatGateway,
            K::Peering,
            K::TransitGateway,
            K::TransitGateway,
            K::VpnGateway,
            K::VpnGateway,
            K::Endpoint,
            K::Instance,
            K::Instance,
            K::Instance,
            K::Instance,
            K::Local,
            K::Local,
            K::Local,
        ]
    );
    // rt-app lists 100.64.0.0/10 itself; rt-main gets it.
    assert_eq!(app.routes[11].destination, net("100.64.0.0/10"));
    assert!(
        main.routes
            .iter()
            .any(|r| r.destination == net("100.64.0.0/10"))
    );
    assert_eq!(
        app.routes[0].reason.as_deref(),
        Some("NAT gateway nat-0002 is INACTIVE")
    );
    assert_eq!(
        app.routes[1].reason.as_deref(),
        Some("VPC peering peer-0002 is REJECTED, not ACTIVE")
    );
    assert_eq!(app.routes[12].destination, net("192.168.0.0/16"));
    assert_eq!(app.routes[13].destination, net("10.20.0.0/16"));
}
