//! Unit tests of the whole path on Huawei Cloud: several ipgroups per listener, transparent
//! client IP, per-listener member status, health-monitor fields, VPCs, route tables with dead
//! next hops, and EIPs.

use super::tests::{group, import_err, import_ok};
use crate::import::testing::{ip, json_file as doc, net};
use probe_model::{
    AccessMode, HealthCheckProto, LbNode, ReportedHealth, RouteState, RouteTarget, RouteTargetKind,
    Scheme,
};

const LB_SHARED: &str = r#"{"loadbalancers": [{"id": "lb1", "name": "shared", "guaranteed": false,
    "vip_address": "10.0.0.5", "vip_port_id": "port-vip", "vip_subnet_cidr_id": "n1",
    "listeners": [{"id": "l1"}, {"id": "l2"}]}]}"#;

const POOLS: &str = r#"{"pools": [{"id": "p1", "name": "tcp", "protocol": "TCP"},
    {"id": "p2", "name": "web", "protocol": "HTTP"}]}"#;

const SUBNETS: &str = r#"{"subnets": [{"id": "s1", "cidr": "10.0.0.0/24", "vpc_id": "vpc1",
    "neutron_subnet_id": "n1", "neutron_network_id": "s1"},
    {"id": "s2", "cidr": "10.0.1.0/24", "vpc_id": "vpc1", "neutron_subnet_id": "n2"}]}"#;

#[test]
fn several_ipgroups_in_one_comma_separated_id() {
    let listener = r#"{"listener": {"id": "l1", "protocol": "TCP", "protocol_port": 80,
        "default_pool_id": "p1", "loadbalancers": [{"id": "lb1"}],
        "ipgroup": {"ipgroup_id": " g1 ,g2,, g1", "enable_ipgroup": true, "type": "white"}}}"#;
    let groups = r#"{"ipgroups": [
        {"id": "g1", "name": "office", "ip_list": [{"ip": "203.0.113.0/24"}]},
        {"id": "g2", "name": "vpn", "ip_list": [{"ip": "198.51.100.7"}]}]}"#;
    let m = import_ok(&[
        doc("lb.json", LB_SHARED),
        doc("l.json", listener),
        doc("p.json", POOLS),
        doc("g.json", groups),
    ]);
    let ac = m.load_balancers[0].listeners[0]
        .access_control
        .clone()
        .expect("access control");
    assert_eq!(ac.mode, AccessMode::Whitelist);
    assert_eq!(ac.id.as_deref(), Some("g1"), "fixes name the first group");
    assert_eq!(ac.address_groups, vec!["g1".to_string(), "g2".to_string()]);

    // Each id must be dumped; the message names the one missing.
    let err = import_err(&[
        doc("lb.json", LB_SHARED),
        doc("l.json", &listener.replace("g2,", "g3,")),
        doc("p.json", POOLS),
        doc("g.json", groups),
    ]);
    assert!(
        err.contains("listener.ipgroup.ipgroup_id") && err.contains("ipgroup g3 is not"),
        "{err}"
    );
    let err = import_err(&[
        doc("lb.json", LB_SHARED),
        doc("l.json", &listener.replace(" g1 ,g2,, g1", " , ")),
        doc("p.json", POOLS),
        doc("g.json", groups),
    ]);
    assert!(err.contains("names no ipgroup"), "{err}");
}

#[test]
fn transparent_client_ip_marks_the_pools_of_shared_l4_listeners() {
    let listeners = r#"{"listeners": [
        {"id": "l1", "protocol": "TCP", "protocol_port": 80, "default_pool_id": "p1",
         "transparent_client_ip_enable": true},
        {"id": "l2", "protocol": "HTTP", "protocol_port": 8080, "default_pool_id": "p2",
         "transparent_client_ip_enable": true}]}"#;
    let m = import_ok(&[
        doc("lb.json", LB_SHARED),
        doc("l.json", listeners),
        doc("p.json", POOLS),
    ]);
    assert_eq!(group(&m, "tcp").preserve_client_ip, Some(true));
    // HTTP: the client's address is in X-Forwarded-For, packets come from 100.125.0.0/16.
    assert_eq!(group(&m, "web").preserve_client_ip, None);

    let off = listeners.replacen("true", "false", 1);
    let m = import_ok(&[
        doc("lb.json", LB_SHARED),
        doc("l.json", &off),
        doc("p.json", POOLS),
    ]);
    assert_eq!(group(&m, "tcp").preserve_client_ip, Some(false));

    // A dedicated load balancer's pools are left to "IP as a backend".
    let dedicated = LB_SHARED.replace(
        r#""guaranteed": false"#,
        r#""guaranteed": true, "elb_virsubnet_ids": ["s1"]"#,
    );
    let m = import_ok(&[
        doc("lb.json", &dedicated),
        doc("l.json", listeners),
        doc("p.json", POOLS),
        doc("s.json", SUBNETS),
    ]);
    assert_eq!(group(&m, "tcp").preserve_client_ip, None);
}

#[test]
fn per_listener_member_status_overrides_operating_status() {
    let listeners = r#"{"listeners": [
        {"id": "l1", "protocol": "TCP", "protocol_port": 80, "default_pool_id": "p1"}]}"#;
    let members = r#"{"pool_id": "p1", "members": [
        {"id": "m1", "address": "10.0.1.11", "protocol_port": 80, "operating_status": "ONLINE",
         "status": [
            {"listener_id": "other", "operating_status": "NO_MONITOR", "reason": null},
            {"listener_id": "l1", "operating_status": "OFFLINE",
             "reason": {"reason_code": "CONNECT_REFUSED", "expected_response": "",
                        "healthcheck_response": ""},
             "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}]},
        {"id": "m2", "address": "10.0.1.12", "protocol_port": 80, "operating_status": "OFFLINE",
         "reason": {"reason_code": "CONNECT_TIMEOUT"},
         "status": [{"listener_id": "other", "operating_status": "ONLINE"}]}]}"#;
    let m = import_ok(&[
        doc("lb.json", LB_SHARED),
        doc("l.json", listeners),
        doc("p.json", POOLS),
        doc("m.json", members),
    ]);
    let got: Vec<_> = group(&m, "tcp")
        .members
        .iter()
        .map(|m| m.reported_health.clone())
        .collect();
    assert_eq!(
        got,
        vec![
            Some(ReportedHealth {
                state: "OFFLINE".into(),
                reason: Some("CONNECT_REFUSED".into())
            }),
            // No entry for l1: the member's own state and reason.
            Some(ReportedHealth {
                state: "OFFLINE".into(),
                reason: Some("CONNECT_TIMEOUT".into())
            }),
        ]
    );

    let bad = members.replace(
        r#""listener_id": "other", "operating_status": "NO_MONITOR""#,
        r#""listener_id": 7"#,
    );
    let err = import_err(&[doc("p.json", POOLS), doc("m.json", &bad)]);
    assert!(err.contains("members[0].status[0].listener_id"), "{err}");
}

fn monitor(fields: &str) -> String {
    format!(
        r#"{{"pool": {{"id": "p1", "name": "a", "protocol": "HTTP", "healthmonitor_id": "h1"}},
        "healthmonitor": {{"id": "h1", "delay": 5, "timeout": 3, "max_retries": 3, {fields}}}}}"#
    )
}

#[test]
fn health_monitor_method_host_codes_and_grpc() {
    let m = import_ok(&[doc(
        "h.json",
        &monitor(
            r#""type": "HTTP", "http_method": "HEAD", "domain_name": "", "url_path": "/ok",
            "expected_codes": "200, 202-204""#,
        ),
    )]);
    let hc = group(&m, "a").health_check.clone().expect("check");
    assert_eq!(hc.protocol, HealthCheckProto::Http);
    assert_eq!(
        hc.host, None,
        "empty domain_name: the load balancer's address"
    );
    assert_eq!(hc.path, "/ok");
    assert_eq!(hc.expected_codes, "200,202-204");

    for kind in ["GRPC", "GRPCS", "TLS"] {
        let m = import_ok(&[doc(
            "h.json",
            &monitor(&format!(
                r#""type": "{kind}", "url_path": "/grpc.health.v1.Health/Check",
                "expected_codes": "0", "http_method": null"#
            )),
        )]);
        let hc = group(&m, "a").health_check.clone().expect("check");
        assert_eq!(hc.protocol, HealthCheckProto::Tcp, "{kind}");
        assert_eq!(hc.path, "/", "{kind}: the gRPC path is not an HTTP/1 path");
        assert_eq!(
            hc.expected_codes, "200",
            "{kind}: gRPC codes are not HTTP codes"
        );
    }

    let err = import_err(&[doc(
        "h.json",
        &monitor(r#""type": "HTTPS", "http_method": "PATCH""#),
    )]);
    assert!(
        err.contains("healthmonitor.http_method") && err.contains("\"PATCH\""),
        "{err}"
    );
    let err = import_err(&[doc(
        "h.json",
        &monitor(r#""type": "HTTP", "expected_codes": "2xx""#),
    )]);
    assert!(
        err.contains("healthmonitor.expected_codes") && err.contains("\"2xx\""),
        "{err}"
    );
    let err = import_err(&[doc("h.json", &monitor(r#""type": "GRPCX""#))]);
    assert!(
        err.contains("healthmonitor.type") && err.contains("GRPCX"),
        "{err}"
    );
}

const VPCS_V1: &str = r#"{"vpcs": [{"id": "vpc1", "cidr": "10.0.0.0/16"}]}"#;

const VPC_V3: &str = r#"{"vpc": {"id": "vpc1", "cidr": "10.0.0.0/16",
    "extend_cidrs": ["172.16.0.0/16"]}}"#;

const TABLES: &str = r#"{"routetables": [
    {"id": "rt-main", "vpc_id": "vpc1", "default": true, "subnets": [{"id": "s1"}]},
    {"id": "rt-app", "vpc_id": "vpc1", "default": false, "subnets": [{"id": "s2"}]}]}"#;

const MAIN: &str = r#"{"routetable": {"id": "rt-main", "vpc_id": "vpc1", "default": true,
    "subnets": [{"id": "s1"}], "routes": [
      {"type": "nat", "destination": "0.0.0.0/0", "nexthop": "nat1", "description": ""},
      {"type": "peering", "destination": "192.168.0.0/16", "nexthop": "peer1"},
      {"type": "er", "destination": "172.31.0.0/16", "nexthop": "er1"},
      {"type": "vip", "destination": "10.9.0.0/16", "nexthop": "10.0.0.99"}]}}"#;

const APP: &str = r#"{"routetable": {"id": "rt-app", "vpc_id": "vpc1", "default": false,
    "subnets": [{"id": "s2"}], "routes": [
      {"type": "nat", "destination": "0.0.0.0/0", "nexthop": "nat2"},
      {"type": "dc", "destination": "10.200.0.0/16", "nexthop": "dc1"},
      {"type": "local", "destination": "10.0.0.0/16", "nexthop": ""}]}}"#;

#[test]
fn vpcs_route_tables_and_dead_next_hops() {
    let peerings = r#"{"peerings": [{"id": "peer1", "status": "PENDING_ACCEPTANCE"}]}"#;
    let nats = r#"{"nat_gateways": [{"id": "nat1", "status": "ACTIVE", "admin_state_up": true},
        {"id": "nat2", "status": "INACTIVE", "admin_state_up": true}]}"#;
    let m = import_ok(&[
        doc("subnets.json", SUBNETS),
        doc("vpcs.json", VPCS_V1),
        doc("vpc3.json", VPC_V3),
        doc("tables.json", TABLES),
        doc("main.json", MAIN),
        doc("app.json", APP),
        doc("peerings.json", peerings),
        doc("nat.json", nats),
    ]);
    assert_eq!(m.networks.len(), 1);
    assert_eq!(
        m.networks[0].cidrs,
        vec![net("10.0.0.0/16"), net("172.16.0.0/16")],
        "v1 and v3 merged"
    );
    assert!(
        m.subnets
            .iter()
            .all(|s| s.network.as_deref() == Some("vpc1"))
    );
    let [main, app] = m.route_tables.as_slice() else {
        panic!("two tables: {:?}", m.route_tables)
    };
    assert!(main.main && !app.main);
    assert_eq!(main.subnets, vec!["s1".to_string()]);
    assert_eq!(main.network.as_deref(), Some("vpc1"));
    let via: Vec<(String, RouteTargetKind, RouteState)> = main
        .routes
        .iter()
        .map(|r| (r.destination.to_string(), r.via.kind, r.state))
        .collect();
    use RouteState::{Active, Blackhole};
    use RouteTargetKind as K;
    assert_eq!(
        via,
        vec![
            ("0.0.0.0/0".into(), K::NatGateway, Active),
            ("192.168.0.0/16".into(), K::Peering, Blackhole),
            ("172.31.0.0/16".into(), K::TransitGateway, Active),
            ("10.9.0.0/16".into(), K::Instance, Active),
            // The VPC's own ranges, which Huawei routes whatever the table lists.
            ("10.0.0.0/16".into(), K::Local, Active),
            ("172.16.0.0/16".into(), K::Local, Active),
            // Huawei's cloud services (100.125.0.0/16 among them).
            ("100.64.0.0/10".into(), K::Local, Active),
        ]
    );
    assert_eq!(
        main.routes[1].reason.as_deref(),
        Some("VPC peering peer1 is PENDING_ACCEPTANCE, not ACTIVE")
    );
    assert_eq!(
        main.routes[3].via,
        RouteTarget {
            kind: K::Instance,
            id: Some("10.0.0.99".into())
        }
    );
    assert_eq!(app.routes[0].state, Blackhole);
    assert_eq!(
        app.routes[0].reason.as_deref(),
        Some("NAT gateway nat2 is INACTIVE")
    );
    assert_eq!(app.routes[1].via.kind, K::VpnGateway, "dc: on premises");
    // The table's own local route counts; only the secondary CIDR is added.
    let locals: Vec<String> = app
        .routes
        .iter()
        .filter(|r| r.via.kind == K::Local)
        .map(|r| r.destination.to_string())
        .collect();
    assert_eq!(
        locals,
        vec!["10.0.0.0/16", "172.16.0.0/16", "100.64.0.0/10"]
    );
    assert_eq!(app.routes[2].via.id, None);
}

#[test]
fn route_tables_need_their_routes_and_subnets() {
    let err = import_err(&[doc("subnets.json", SUBNETS), doc("tables.json", TABLES)]);
    assert!(
        err.contains("tables.json:2:")
            && err.contains("routetables[0]")
            && err.contains("ShowRouteTable"),
        "{err}"
    );
    let err = import_err(&[doc("main.json", MAIN)]);
    assert!(
        err.contains("routetable.subnets[0].id") && err.contains("ListSubnets"),
        "{err}"
    );
    let no_hop = MAIN.replace(r#""nexthop": "er1""#, r#""nexthop": """#);
    let err = import_err(&[doc("subnets.json", SUBNETS), doc("main.json", &no_hop)]);
    assert!(err.contains("routetable.routes[2].nexthop"), "{err}");
    let bad = MAIN.replace("172.31.0.0/16", "172.31.0.0/40");
    let err = import_err(&[doc("subnets.json", SUBNETS), doc("main.json", &bad)]);
    assert!(
        err.contains("routetable.routes[2].destination") && err.contains("172.31.0.0/40"),
        "{err}"
    );
}

#[test]
fn eips_make_load_balancers_internet_facing() {
    // No eips key, no EIP dump: unknown.
    let m = import_ok(&[doc("lb.json", LB_SHARED), doc("s.json", SUBNETS)]);
    assert_eq!(m.load_balancers[0].scheme, None);

    // v1: bound to the VIP port.
    let v1 = r#"{"publicips": [{"id": "e1", "port_id": "port-vip", "ip_version": 4,
        "public_ip_address": "198.51.100.20", "status": "ELB"},
        {"id": "e2", "port_id": null, "public_ip_address": "198.51.100.21"}]}"#;
    let m = import_ok(&[
        doc("lb.json", LB_SHARED),
        doc("s.json", SUBNETS),
        doc("eip.json", v1),
    ]);
    let lb = &m.load_balancers[0];
    assert_eq!(lb.scheme, Some(Scheme::InternetFacing));
    assert_eq!(
        lb.nodes,
        vec![LbNode {
            address: ip("10.0.0.5"),
            subnet: Some("s1".into()),
            public_address: Some(ip("198.51.100.20")),
        }]
    );

    // v3: by vnic.port_id, or by the load balancer's id.
    for binding in [
        r#""vnic": {"port_id": "port-vip"}"#,
        r#""associate_instance_type": "ELB", "associate_instance_id": "lb1""#,
    ] {
        let v3 = format!(
            r#"{{"publicips": [{{"id": "e1", "ip_version": 4,
            "public_ip_address": "198.51.100.30", {binding}}}]}}"#
        );
        let m = import_ok(&[doc("lb.json", LB_SHARED), doc("eip.json", &v3)]);
        let lb = &m.load_balancers[0];
        assert_eq!(lb.scheme, Some(Scheme::InternetFacing), "{binding}");
        assert_eq!(lb.nodes[0].public_address, Some(ip("198.51.100.30")));
        assert_eq!(lb.nodes[0].subnet, None, "subnets not dumped");
    }

    // EIPs dumped, none bound to it: internal.
    let other = r#"{"publicips": [{"id": "e9", "port_id": "port-other",
        "public_ip_address": "198.51.100.40"}]}"#;
    let m = import_ok(&[doc("lb.json", LB_SHARED), doc("eip.json", other)]);
    assert_eq!(m.load_balancers[0].scheme, Some(Scheme::Internal));
    assert!(m.load_balancers[0].nodes.is_empty());

    let bad = v1.replace("198.51.100.20", "198.51.100.300");
    let err = import_err(&[doc("lb.json", LB_SHARED), doc("eip.json", &bad)]);
    assert!(
        err.contains("publicips[0].public_ip_address") && err.contains("198.51.100.300"),
        "{err}"
    );
}
