//! The whole path from clients to targets: `tests/fixtures/aws/whole-path` (a VPC with public and
//! private subnets in two zones, an internet gateway, a NAT gateway, an ALB with a weighted
//! forward and a rule, an NLB with instance targets, a Classic Load Balancer), and the routing,
//! attribute, rule and Classic inputs one at a time.

use std::path::Path;

use super::*;
use crate::import::testing::{self, ip, json_file as json, net};
use crate::yaml;
use probe_model::{
    Forward, HealthCheckPort, HealthCheckProto, LbKind, LbNode, Network, ReportedHealth, Route,
    RouteState, RouteTarget, RouteTargetKind, Scheme,
};

const VPC: &str = "vpc-0c1d2e3f4a5b6c7d8";
const PUB_A: &str = "subnet-01a2b3c4d5e6f7a81";
const PUB_B: &str = "subnet-02b3c4d5e6f7a8b92";

fn whole_path() -> Model {
    let dir = testing::repo("tests/fixtures/aws/whole-path");
    testing::valid(testing::load_dir(&IMPORTER, &dir, None))
}

fn route(dst: &str, kind: RouteTargetKind, id: Option<&str>) -> Route {
    Route {
        destination: net(dst),
        via: RouteTarget {
            kind,
            id: id.map(str::to_string),
        },
        state: RouteState::Active,
        reason: None,
    }
}

fn node(address: &str, subnet: &str, public: &str) -> LbNode {
    LbNode {
        address: ip(address),
        subnet: Some(subnet.to_string()),
        public_address: Some(ip(public)),
    }
}

#[test]
fn networks_and_route_tables_come_from_vpcs_and_route_tables() {
    let m = whole_path();
    assert_eq!(
        m.networks,
        [Network {
            id: VPC.to_string(),
            // The disassociated 100.64.0.0/24 is left out.
            cidrs: vec![net("10.1.0.0/16"), net("2001:db8:1234:1a00::/56")],
        }]
    );
    assert!(m.subnets.iter().all(|s| s.network.as_deref() == Some(VPC)));
    let [private, public] = m.route_tables.as_slice() else {
        panic!("two route tables: {:?}", m.route_tables)
    };
    assert_eq!(private.id, "rtb-0a1b2c3d4e5f6a7b8");
    assert!(private.main && private.subnets.is_empty());
    assert_eq!(private.network.as_deref(), Some(VPC));
    use RouteTargetKind as K;
    assert_eq!(
        private.routes,
        [
            route("10.1.0.0/16", K::Local, None),
            route("2001:db8:1234:1a00::/56", K::Local, None),
            route("0.0.0.0/0", K::NatGateway, Some("nat-0a9b8c7d6e5f40312")),
        ]
    );
    assert!(!public.main);
    assert_eq!(public.subnets, [PUB_A, PUB_B]);
    let igw = Some("igw-0f1e2d3c4b5a69788");
    assert_eq!(
        public.routes[2..],
        [
            route("0.0.0.0/0", K::InternetGateway, igw),
            route("::/0", K::InternetGateway, igw),
        ]
    );
}

#[test]
fn load_balancers_have_scheme_nodes_forwards_and_attributes() {
    let m = whole_path();
    let [alb, nlb, clb] = m.load_balancers.as_slice() else {
        panic!("three load balancers: {:?}", m.load_balancers)
    };
    assert_eq!(
        (alb.kind, alb.scheme),
        (LbKind::Alb, Some(Scheme::InternetFacing))
    );
    assert_eq!(
        alb.nodes,
        [
            node("10.1.0.21", PUB_A, "203.0.113.21"),
            node("10.1.1.21", PUB_B, "203.0.113.22")
        ]
    );
    assert_eq!(alb.cross_zone, Some(true));
    let [l] = alb.listeners.as_slice() else {
        panic!("{:?}", alb.listeners)
    };
    assert_eq!(l.backend_group.as_deref(), Some("web-blue"));
    assert_eq!(
        l.forwards,
        [
            Forward {
                backend_group: "web-green".to_string(),
                weight: Some(20),
                rule: None,
            },
            Forward {
                backend_group: "api".to_string(),
                weight: None,
                rule: Some("10".to_string()),
            },
        ]
    );

    assert_eq!(
        (nlb.kind, nlb.scheme),
        (LbKind::Nlb, Some(Scheme::InternetFacing))
    );
    assert_eq!(nlb.security_groups, ["sg-0b2b2b2b2b2b2b2b2"]);
    assert_eq!(
        nlb.nodes,
        [
            node("10.1.0.31", PUB_A, "198.51.100.31"),
            node("10.1.1.31", PUB_B, "198.51.100.32")
        ]
    );
    assert_eq!(nlb.cross_zone, Some(false));

    let group = |name: &str| {
        m.backend_groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no group {name}"))
    };
    assert_eq!(group("tcp-targets").preserve_client_ip, Some(true));
    assert!(group("tcp-targets").preserves_client_ip(nlb));
    assert_eq!(group("web-green").cross_zone, Some(false));
    // use_load_balancer_configuration: not set, the load balancer's applies.
    assert_eq!(group("web-blue").cross_zone, None);
    assert!(group("web-blue").cross_zone_enabled(alb));
    assert_eq!(
        group("api").members[0].reported_health,
        Some(ReportedHealth {
            state: "unhealthy".to_string(),
            reason: Some("Target.ResponseCodeMismatch".to_string()),
        })
    );

    assert_eq!(
        (clb.kind, clb.scheme),
        (LbKind::Clb, Some(Scheme::InternetFacing))
    );
    assert_eq!(clb.id, None);
    assert_eq!(clb.security_groups, ["sg-0c3c3c3c3c3c3c3c3"]);
    assert_eq!(clb.nodes.len(), 2);
    assert_eq!(clb.cross_zone, Some(true));
    assert_eq!(clb.listeners[0].port, 80);
    assert_eq!(
        clb.listeners[0].backend_group.as_deref(),
        Some("legacy-clb")
    );
    let classic = group("legacy-clb");
    assert_eq!(classic.port, Some(8080));
    let hc = classic.health_check.as_ref().expect("a health check");
    assert_eq!(
        (hc.protocol, hc.port, hc.path.as_str()),
        (
            HealthCheckProto::Http,
            HealthCheckPort::Port(8080),
            "/health"
        )
    );
    assert_eq!(
        (
            hc.interval_s,
            hc.timeout_s,
            hc.healthy_threshold,
            hc.unhealthy_threshold
        ),
        (10, 5, 3, 2)
    );
    let health: Vec<_> = classic
        .members
        .iter()
        .map(|m| {
            let r = m.reported_health.as_ref().expect("reported");
            (m.address, r.state.as_str(), r.reason.is_some())
        })
        .collect();
    assert_eq!(
        health,
        [
            (ip("10.1.10.10"), "InService", false),
            (ip("10.1.11.10"), "OutOfService", true)
        ]
    );
}

/// `probe import` prints the model as YAML; read back, it is the same model.
#[test]
fn the_whole_path_round_trips_through_yaml() {
    let m = whole_path();
    let text = yaml::render(&m, "test").expect("renders");
    let back = yaml::parse(text.as_bytes(), Path::new("imported.yaml")).expect("re-parses");
    assert_eq!(back, m);
}

const ROUTING: &str = r#"{
 "Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}],
 "Subnets": [{"SubnetId": "subnet-a", "CidrBlock": "10.0.1.0/24", "VpcId": "vpc-1"}],
 "NatGateways": [{"NatGatewayId": "nat-dead", "State": "failed", "VpcId": "vpc-1"},
                 {"NatGatewayId": "nat-ok", "State": "available", "VpcId": "vpc-1"}],
 "VpcPeeringConnections": [{"VpcPeeringConnectionId": "pcx-1",
                            "Status": {"Code": "pending-acceptance", "Message": "Pending Acceptance by 210987654321"}}],
 "InternetGateways": [{"InternetGatewayId": "igw-elsewhere", "Attachments": [{"State": "available", "VpcId": "vpc-2"}]}],
 "PrefixLists": [{"PrefixListId": "pl-office", "PrefixListName": "office"}]
}"#;

#[test]
fn routes_to_dead_targets_are_blackholes_with_a_reason() {
    let tables = json(
        "rtb.json",
        r#"{"RouteTables": [{"RouteTableId": "rtb-1", "VpcId": "vpc-1",
        "Associations": [{"Main": true, "AssociationState": {"State": "associated"}},
                         {"Main": false, "SubnetId": "subnet-gone", "AssociationState": {"State": "disassociated"}},
                         {"Main": false, "GatewayId": "igw-elsewhere", "AssociationState": {"State": "associated"}}],
        "Routes": [
          {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
          {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-dead", "State": "active"},
          {"DestinationCidrBlock": "10.9.0.0/16", "NatGatewayId": "nat-ok", "State": "active"},
          {"DestinationCidrBlock": "172.16.0.0/12", "VpcPeeringConnectionId": "pcx-1", "State": "active"},
          {"DestinationIpv6CidrBlock": "::/0", "GatewayId": "igw-elsewhere", "State": "active"},
          {"DestinationCidrBlock": "192.168.0.0/16", "InstanceId": "i-gone", "NetworkInterfaceId": "eni-1", "State": "blackhole"},
          {"DestinationPrefixListId": "pl-office", "TransitGatewayId": "tgw-1", "State": "active"},
          {"DestinationCidrBlock": "100.64.0.0/10", "CoreNetworkArn": "arn:aws:networkmanager::1:core-network/x", "State": "filtered"}]}]}"#,
    );
    let entries = json(
        "pl.json",
        r#"{"PrefixListId": "pl-office", "Entries": [{"Cidr": "198.51.100.0/24"}, {"Cidr": "203.0.113.0/24"}]}"#,
    );
    let m = testing::valid(import(&[json("net.json", ROUTING), tables, entries], None));
    let t = &m.route_tables[0];
    assert!(t.main && t.subnets.is_empty());
    let summary: Vec<_> = t
        .routes
        .iter()
        .map(|r| {
            (
                r.destination.to_string(),
                r.via.kind,
                r.state,
                r.reason.as_deref(),
            )
        })
        .collect();
    use RouteState::{Active, Blackhole};
    use RouteTargetKind as K;
    assert_eq!(
        summary,
        [
            ("10.0.0.0/16".into(), K::Local, Active, None),
            (
                "0.0.0.0/0".into(),
                K::NatGateway,
                Blackhole,
                Some("NAT gateway nat-dead is failed")
            ),
            ("10.9.0.0/16".into(), K::NatGateway, Active, None),
            (
                "172.16.0.0/12".into(),
                K::Peering,
                Blackhole,
                Some("VPC peering connection pcx-1 is pending-acceptance, not active")
            ),
            (
                "::/0".into(),
                K::InternetGateway,
                Blackhole,
                Some("internet gateway igw-elsewhere is not attached to vpc-1")
            ),
            ("192.168.0.0/16".into(), K::Instance, Blackhole, None),
            // A prefix-list route: one per entry, after the static routes.
            ("198.51.100.0/24".into(), K::TransitGateway, Active, None),
            ("203.0.113.0/24".into(), K::TransitGateway, Active, None),
        ]
    );
    assert_eq!(t.routes[5].via.id.as_deref(), Some("i-gone"));

    // Without its entries, the prefix-list route is left out (with a warning).
    let tables = json(
        "rtb.json",
        r#"{"RouteTables": [{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [
          {"DestinationPrefixListId": "pl-office", "GatewayId": "vpce-1", "State": "active"}]}]}"#,
    );
    let m = testing::valid(import(&[json("net.json", ROUTING), tables], None));
    assert!(m.route_tables[0].routes.is_empty());
}

#[test]
fn bad_routes_name_file_path_and_value() {
    let e = testing::failure(import(
        &[json(
            "rtb.json",
            "{\"RouteTables\": [{\"RouteTableId\": \"rtb-1\",\n \"Routes\": [{\"DestinationCidrBlock\": \"0.0.0.0/0\", \"GatewayId\": \"local\", \"State\": \"broken\"}]}]}",
        )],
        None,
    ));
    assert!(
        e.starts_with("rtb.json:2:")
            && e.contains("RouteTables[0].Routes[0].State")
            && e.contains("broken"),
        "{e}"
    );
    let e = testing::failure(import(
        &[json(
            "rtb.json",
            r#"{"RouteTables": [{"RouteTableId": "rtb-1", "Routes": [{"GatewayId": "local"}]}]}"#,
        )],
        None,
    ));
    assert!(
        e.starts_with("rtb.json:1:") && e.contains("RouteTables[0].Routes[0]: a route without"),
        "{e}"
    );
}

const ONE_NLB: &str = r#"{"LoadBalancers": [{"LoadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/n/1",
    "LoadBalancerName": "n", "Type": "network", "Scheme": "internal"}],
 "TargetGroups": [{"TargetGroupArn": "arn:tg/t", "TargetGroupName": "t", "Protocol": "TCP", "Port": 80, "TargetType": "ip"}]}"#;

#[test]
fn attributes_must_say_whose_they_are_and_be_booleans() {
    let lb = json("lb.json", ONE_NLB);
    let bare = json(
        "attr.json",
        r#"{"Attributes": [{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]}"#,
    );
    let e = testing::failure(import(&[lb.clone(), bare], None));
    assert!(
        e.starts_with("attr.json: attributes without a LoadBalancerArn or TargetGroupArn")
            && e.contains(r#"{"LoadBalancerArn": "...", "Attributes": [...]}"#),
        "{e}"
    );
    let unknown = json(
        "attr.json",
        r#"{"TargetGroupArn": "arn:tg/gone", "Attributes": []}"#,
    );
    let e = testing::failure(import(&[lb.clone(), unknown], None));
    assert!(
        e.starts_with("attr.json:1:32: TargetGroupArn: target group arn:tg/gone is not in"),
        "{e}"
    );
    let bad = json(
        "attr.json",
        "{\"TargetGroupArn\": \"arn:tg/t\", \"Attributes\": [\n {\"Key\": \"preserve_client_ip.enabled\", \"Value\": \"yes\"}]}",
    );
    let e = testing::failure(import(&[lb.clone(), bad], None));
    assert!(
        e.starts_with("attr.json:2:")
            && e.contains(
                "Attributes[0].Value: \"yes\" is not a value of preserve_client_ip.enabled"
            ),
        "{e}"
    );
    // Listener attributes are known, and skipped.
    let listener = json(
        "attr.json",
        r#"{"ListenerArn": "arn:l/1", "Attributes": [{"Key": "tcp.idle_timeout.seconds", "Value": "350"}]}"#,
    );
    let m = testing::valid(import(&[lb, listener], None));
    assert_eq!(m.load_balancers[0].scheme, Some(Scheme::Internal));
    assert_eq!(m.load_balancers[0].cross_zone, None);
    assert!(!m.load_balancers[0].cross_zone_enabled());
}

#[test]
fn rules_find_their_listener_by_wrapper_or_by_their_arn() {
    let lb = json("lb.json", ONE_NLB);
    let listeners = json(
        "l.json",
        r#"{"Listeners": [{"ListenerArn": "arn:aws:elasticloadbalancing:eu-west-1:1:listener/net/n/1/l1",
            "LoadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/n/1",
            "Port": 80, "Protocol": "TCP", "DefaultActions": []}]}"#,
    );
    let rules = json(
        "r.json",
        r#"{"Rules": [{"RuleArn": "arn:aws:elasticloadbalancing:eu-west-1:1:listener-rule/net/n/1/l1/r1",
            "Priority": "5", "IsDefault": false, "Actions": [{"Type": "forward", "ForwardConfig":
            {"TargetGroups": [{"TargetGroupArn": "arn:tg/t", "Weight": 1}]}}]}]}"#,
    );
    let m = testing::valid(import(&[lb.clone(), listeners.clone(), rules], None));
    let l = &m.load_balancers[0].listeners[0];
    assert_eq!(l.backend_group, None);
    assert_eq!(
        l.forwards,
        [Forward {
            backend_group: "t".to_string(),
            weight: None,
            rule: Some("5".to_string()),
        }]
    );
    let stray = json("r.json", r#"{"ListenerArn": "arn:l/gone", "Rules": []}"#);
    let e = testing::failure(import(&[lb, listeners, stray], None));
    assert!(
        e.starts_with("r.json:1:28: ListenerArn: listener arn:l/gone is not in"),
        "{e}"
    );
}

const CLASSIC: &str = r#"{"LoadBalancerDescriptions": [
 {"LoadBalancerName": "a", "Scheme": "internal", "Subnets": ["subnet-a"],
  "ListenerDescriptions": [
    {"Listener": {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 80}, "PolicyNames": []},
    {"Listener": {"Protocol": "TCP", "LoadBalancerPort": 22, "InstanceProtocol": "TCP", "InstancePort": 2222}, "PolicyNames": []},
    {"Listener": {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}, "PolicyNames": []}],
  "HealthCheck": {"Target": "TCP:80", "Interval": 30, "Timeout": 5, "UnhealthyThreshold": 2, "HealthyThreshold": 10},
  "Instances": [{"InstanceId": "i-0123456789abcdef0"}]},
 {"LoadBalancerName": "b", "Scheme": "internal", "ListenerDescriptions": [], "Instances": []}]}"#;

#[test]
fn classic_load_balancers_become_load_balancers_and_groups() {
    let files = [
        json("clb.json", CLASSIC),
        json("i.json", tests::INSTANCES),
        json("n.json", tests::SUBNETS_AND_GROUPS),
    ];
    let m = testing::valid(import(&files, None));
    let a = &m.load_balancers[0];
    assert_eq!((a.kind, a.scheme), (LbKind::Clb, Some(Scheme::Internal)));
    let l: Vec<_> = a
        .listeners
        .iter()
        .map(|l| (l.port, l.backend_group.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(l, [(443, "a"), (22, "a:2222"), (80, "a")]);
    let names: Vec<_> = m.backend_groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["a", "a:2222"]);
    let g = &m.backend_groups[0];
    assert_eq!(g.members[0].address, ip("10.0.1.10"));
    assert_eq!(g.members[0].security_groups, ["sg-app"]);
    assert_eq!(g.members[0].reported_health, None);
    let hc = g.health_check.as_ref().expect("hc");
    assert_eq!(
        (hc.protocol, hc.port),
        (HealthCheckProto::Tcp, HealthCheckPort::Port(80))
    );

    // Two Classic Load Balancers: instance health must say whose it is.
    let bare = json(
        "h.json",
        r#"{"InstanceStates": [{"InstanceId": "i-0123456789abcdef0", "State": "InService"}]}"#,
    );
    let mut with_bare = files.to_vec();
    with_bare.push(bare);
    let e = testing::failure(import(&with_bare, None));
    assert!(
        e.starts_with("h.json: no LoadBalancerName, and there are 2 Classic Load Balancers")
            && e.contains("describe-instance-health"),
        "{e}"
    );

    let bad = CLASSIC.replace("\"TCP:80\"", "\"HTTP:80\"");
    let e = testing::failure(import(&[json("clb.json", &bad)], None));
    assert!(
        e.starts_with("clb.json:7:")
            && e.contains("LoadBalancerDescriptions[0].HealthCheck.Target: invalid health check target \"HTTP:80\""),
        "{e}"
    );
}

#[test]
fn known_unused_outputs_are_skipped_and_foreign_json_refused() {
    let volumes = json("volumes.json", r#"{"Volumes": []}"#);
    let tags = json("tags.json", r#"{"Tags": [], "NextToken": null}"#);
    let m = testing::valid(import(&[volumes.clone(), tags], None));
    assert_eq!(m, Model::default());
    let e = testing::failure(import(
        &[volumes, json("x.json", r#"{"Whatever": 1}"#)],
        None,
    ));
    assert!(
        e.starts_with(
            "x.json: not an AWS CLI output this importer reads (top-level keys: Whatever)"
        ) && e.contains("docs/import-aws.md"),
        "{e}"
    );
}
