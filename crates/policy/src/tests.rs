//! One test per semantic rule of cloud-formats.md, and properties over random models.

use std::net::IpAddr;
use std::path::Path;

use proptest::prelude::*;

use super::*;
use probe_model::{AclRule, NetworkAcl, PortSet, SecurityGroup, SgRule, Subnet};

fn model(yaml: &str) -> Model {
    let m = probe_config::yaml::parse(yaml.as_bytes(), Path::new("test.yaml")).expect("test YAML");
    let errors = probe_model::validate(&m);
    assert!(errors.is_empty(), "{errors:?}");
    m
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A flow from one address to another, each resolved against the model.
fn flow(p: &Policy, src: &str, dst: &str, packet: Packet) -> Flow {
    Flow {
        src: p.endpoint(ip(src)),
        dst: p.endpoint(ip(dst)),
        packet,
        return_ports: PortRange::EPHEMERAL,
        listener: None,
        rules_enforced: true,
        return_routed: true,
    }
}

/// The verdict as (decision, [kind id direction rule decision]) strings, easy to compare.
fn judge(p: &Policy, f: &Flow) -> (Action, Vec<String>) {
    let v = p.evaluate(f);
    let path = v
        .path
        .iter()
        .map(|h| {
            let h = p.hop_view(h);
            let leg = if h.leg == Leg::Return { " return" } else { "" };
            format!(
                "{} {} {} {} {}{leg}",
                h.kind.as_str(),
                h.id,
                h.direction,
                h.rule,
                h.decision
            )
        })
        .collect();
    (v.decision, path)
}

const BASE: &str = r#"
subnets:
  - {id: lb-a, cidr: 10.0.0.0/24, zone: a}
  - {id: app-a, cidr: 10.0.1.0/24, zone: a}
agent: {address: 10.0.0.10, security_groups: [sg-agent]}
security_groups:
  - id: sg-agent
    rules: [{direction: egress, protocol: any, cidr: 0.0.0.0/0}]
  - id: sg-lb
    rules: [{direction: egress, protocol: any, cidr: 0.0.0.0/0}]
  - id: sg-web
    rules:
      - {direction: ingress, protocol: tcp, ports: 80, group: sg-lb}
      - {direction: ingress, protocol: tcp, ports: 22, cidr: 10.0.0.0/16}
      - {direction: ingress, protocol: icmp, icmp_type: 8, cidr: 0.0.0.0/0}
  - id: sg-extra
    rules: [{direction: ingress, protocol: tcp, ports: 9100, cidr: 10.0.0.10/32}]
backend_groups:
  - name: web
    protocol: http
    port: 80
    members:
      - {name: web-1, address: 10.0.1.5, security_groups: [sg-web, sg-extra]}
"#;

#[test]
fn security_group_without_matching_rule_denies_with_star() {
    let p = Policy::compile(&model(BASE));
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(8081)));
    assert_eq!(d, Action::Deny);
    assert_eq!(
        path,
        [
            "security_group sg-agent egress egress#1 allow",
            "security_group sg-web ingress * deny"
        ]
    );
}

#[test]
fn security_groups_of_one_interface_are_a_union() {
    let p = Policy::compile(&model(BASE));
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(9100)));
    assert_eq!(d, Action::Allow);
    assert_eq!(path[1], "security_group sg-extra ingress ingress#1 allow");
}

#[test]
fn referenced_group_matches_only_interfaces_carrying_it() {
    let p = Policy::compile(&model(BASE));
    // The agent carries sg-agent, not sg-lb: port 80 is not open to it.
    let f = flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(80));
    assert_eq!(judge(&p, &f).0, Action::Deny);
    let mut f = f;
    f.src.groups = p.group_ids(&["sg-lb".to_string()]);
    assert_eq!(judge(&p, &f).0, Action::Allow);
}

#[test]
fn icmp_rule_matches_type_and_any_code() {
    let p = Policy::compile(&model(BASE));
    let echo = Packet::Icmp {
        icmp_type: 8,
        code: 0,
    };
    let ts = Packet::Icmp {
        icmp_type: 13,
        code: 0,
    };
    assert_eq!(
        judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", echo)).0,
        Action::Allow
    );
    assert_eq!(
        judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", ts)).0,
        Action::Deny
    );
    // An IPv4 icmp rule never matches ICMPv6.
    assert_eq!(
        judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", Packet::Udp(53))).0,
        Action::Deny
    );
}

#[test]
fn protocol_all_matches_every_port_and_protocol() {
    let p = Policy::compile(&model(BASE));
    let f = flow(&p, "10.0.0.10", "10.0.1.5", Packet::Other(47));
    assert_eq!(
        judge(&p, &f).1[0],
        "security_group sg-agent egress egress#1 allow"
    );
}

const HUAWEI_SG: &str = r#"
security_groups:
  - id: sg-hw
    rules:
      - {id: r-allow-2, direction: ingress, action: allow, priority: 2, protocol: tcp, ports: "80,443", cidr: 0.0.0.0/0}
      - {id: r-deny-1, direction: ingress, action: deny, priority: 1, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}
      - {id: r-allow-1, direction: ingress, action: allow, priority: 1, protocol: tcp, ports: 8000-9000, cidr: 0.0.0.0/0}
      - {id: r-deny-1b, direction: ingress, action: deny, priority: 1, protocol: tcp, ports: 8080, cidr: 0.0.0.0/0}
backend_groups:
  - name: b
    protocol: tcp
    port: 80
    members: [{address: 192.168.1.5, security_groups: [sg-hw]}]
"#;

#[test]
fn huawei_priority_decides_and_deny_wins_a_tie() {
    let p = Policy::compile(&model(HUAWEI_SG));
    let cases = [
        (80, Action::Allow, "r-allow-2"),
        (443, Action::Deny, "r-deny-1"), // priority 1 deny beats priority 2 allow
        (8001, Action::Allow, "r-allow-1"),
        (8080, Action::Deny, "r-deny-1b"), // same priority: deny wins
        (22, Action::Deny, "*"),
    ];
    for (port, want, rule) in cases {
        let (d, path) = judge(
            &p,
            &flow(&p, "192.168.0.9", "192.168.1.5", Packet::Tcp(port)),
        );
        assert_eq!(d, want, "port {port}");
        assert!(
            path[0].contains(&format!(" {rule} ")),
            "port {port}: {path:?}"
        );
    }
}

const NACL: &str = r#"
subnets:
  - {id: lb-a, cidr: 10.0.0.0/24}
  - {id: app-a, cidr: 10.0.1.0/24}
  - {id: app-b, cidr: 10.0.2.0/24}
network_acls:
  - id: acl-app
    subnets: [app-a]
    inbound:
      - {number: 100, action: allow, protocol: "-1", cidr: 0.0.0.0/0}
      - {number: 20, action: deny, protocol: "6", ports: 22, cidr: 10.0.0.0/24}
      - {number: 110, action: allow, protocol: "1", cidr: 10.0.0.0/16}
    outbound:
      - {number: 100, action: allow, protocol: "6", ports: 32768-65535, cidr: 10.0.0.0/16}
  - id: acl-open
    subnets: [lb-a]
    inbound: [{number: 100, action: allow, protocol: "-1", cidr: 0.0.0.0/0}]
    outbound: [{number: 100, action: allow, protocol: "-1", cidr: 0.0.0.0/0}]
  - id: acl-b
    subnets: [app-b]
    inbound:
      - {number: 100, action: allow, protocol: "6", ports: 80, cidr: 10.0.0.0/24}
      - {number: 200, action: deny, protocol: "6", ports: 0-65535, cidr: 10.0.0.0/24}
    outbound:
      - {number: 100, action: allow, protocol: "6", ports: 1024-65535, cidr: 10.0.0.0/24}
      - {number: 110, action: allow, protocol: "1", icmp_type: 0, cidr: 10.0.0.0/24}
"#;

#[test]
fn nacl_rules_run_by_number_and_first_match_decides() {
    let p = Policy::compile(&model(NACL));
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(22)));
    assert_eq!(d, Action::Deny);
    assert_eq!(
        path.last().map(String::as_str),
        Some("network_acl acl-app ingress 20 deny")
    );
}

#[test]
fn nacl_default_rule_denies_as_star() {
    let p = Policy::compile(&model(NACL));
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.2.5", Packet::Tcp(443)));
    assert_eq!(d, Action::Deny);
    assert_eq!(
        path.last().map(String::as_str),
        Some("network_acl acl-b ingress 200 deny")
    );
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.2.5", Packet::Udp(53)));
    assert_eq!(d, Action::Deny);
    assert_eq!(
        path.last().map(String::as_str),
        Some("network_acl acl-b ingress * deny")
    );
}

#[test]
fn nacl_without_ephemeral_outbound_blocks_return_path() {
    let p = Policy::compile(&model(NACL));
    // acl-app allows 80 in, but returns only to 32768-65535: a load balancer uses 1024-65535.
    let f = flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(80));
    let (d, path) = judge(&p, &f);
    assert_eq!(d, Action::Deny);
    assert_eq!(
        path,
        [
            "network_acl acl-open egress 100 allow",
            "network_acl acl-app ingress 100 allow",
            "network_acl acl-app egress * deny return",
        ]
    );
    // The agent's own kernel picks ports from 32768-60999: for it, the return path is open.
    let mut agent = f.clone();
    agent.return_ports = PortRange {
        from: 32768,
        to: 60999,
    };
    let (d, path) = judge(&p, &agent);
    assert_eq!(d, Action::Allow, "{path:?}");
    assert_eq!(path[3], "network_acl acl-open ingress 100 allow return");
}

#[test]
fn nacl_with_full_ephemeral_range_passes_and_icmp_needs_echo_reply() {
    let p = Policy::compile(&model(NACL));
    let (d, _) = judge(&p, &flow(&p, "10.0.0.10", "10.0.2.5", Packet::Tcp(80)));
    assert_eq!(d, Action::Allow);
    // acl-b does not allow ICMP in at all; acl-app allows ICMP in but nothing ICMP out.
    let echo = Packet::echo_request(false);
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", echo));
    assert_eq!(d, Action::Deny);
    assert_eq!(
        path.last().map(String::as_str),
        Some("network_acl acl-app egress * deny return")
    );
}

#[test]
fn traffic_inside_one_subnet_does_not_cross_its_acl() {
    let p = Policy::compile(&model(NACL));
    let (d, path) = judge(&p, &flow(&p, "10.0.1.7", "10.0.1.5", Packet::Tcp(22)));
    assert_eq!(d, Action::Allow);
    assert!(path.is_empty(), "{path:?}");
}

#[test]
fn stateful_firewall_needs_no_return_rule() {
    let mut m = model(NACL);
    m.network_acls[0].stateful = true;
    m.network_acls[1].stateful = true;
    let p = Policy::compile(&m);
    let (d, path) = judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(80)));
    assert_eq!(d, Action::Allow, "{path:?}");
    assert_eq!(path.len(), 2);
}

#[test]
fn a_range_source_needs_an_allow_covering_it_and_falls_to_any_deny_touching_it() {
    let p = Policy::compile(&model(BASE));
    let mut f = flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(22));
    f.src.groups.clear();
    f.src.net = Net::from_net("10.0.0.0/24".parse().expect("net"));
    assert_eq!(judge(&p, &f).0, Action::Allow, "10.0.0.0/16 covers the /24");
    f.src.net = Net::from_net("10.0.0.0/8".parse().expect("net"));
    assert_eq!(
        judge(&p, &f).0,
        Action::Deny,
        "10.0.0.0/16 does not cover the /8"
    );

    let p = Policy::compile(&model(NACL));
    let mut f = flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(22));
    f.src.net = Net::from_net("10.0.0.0/23".parse().expect("net"));
    f.src.subnet = None;
    let (d, path) = judge(&p, &f);
    assert_eq!(d, Action::Deny, "deny 20 touches half of the /23");
    assert_eq!(path[0], "network_acl acl-app ingress 20 deny");
}

#[test]
fn listener_whitelist_and_blacklist() {
    let m = model(
        r#"
address_groups: [{id: ipg-1, cidrs: [203.0.113.0/24]}]
backend_groups: [{name: b, protocol: tcp, port: 80}]
load_balancers:
  - name: elb
    provider: huawei
    kind: shared
    listeners:
      - {protocol: tcp, port: 80, backend_group: b, access_control: {id: ipg-1, mode: whitelist, address_groups: [ipg-1]}}
      - {protocol: tcp, port: 81, backend_group: b, access_control: {mode: blacklist, cidrs: [198.51.100.7/32]}}
"#,
    );
    let p = Policy::compile(&m);
    let mut f = flow(&p, "198.51.100.7", "192.0.2.10", Packet::Tcp(80));
    f.listener = Some((0, 0));
    let (d, path) = judge(&p, &f);
    assert_eq!(
        (d, path[0].as_str()),
        (Action::Deny, "access_control ipg-1 ingress * deny")
    );
    f.src = p.endpoint(ip("203.0.113.9"));
    assert_eq!(judge(&p, &f).0, Action::Allow);
    f.listener = Some((0, 1));
    assert_eq!(judge(&p, &f).0, Action::Allow);
    f.src = p.endpoint(ip("198.51.100.7"));
    let (d, path) = judge(&p, &f);
    assert_eq!(
        (d, path[0].as_str()),
        (
            Action::Deny,
            "access_control access-control ingress 198.51.100.7 deny"
        )
    );
}

#[test]
fn rules_not_enforced_skips_groups_and_acls() {
    let p = Policy::compile(&model(BASE));
    let mut f = flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(8081));
    f.rules_enforced = false;
    assert_eq!(judge(&p, &f), (Action::Allow, vec![]));
}

#[test]
fn prefix_list_references_expand_to_their_cidrs() {
    let m = model(
        r#"
address_groups: [{id: pl-1, cidrs: [10.9.0.0/16, 10.0.0.0/24]}]
security_groups:
  - id: sg
    rules: [{direction: ingress, protocol: tcp, ports: 443, address_group: pl-1}]
backend_groups: [{name: b, protocol: tcp, port: 443, members: [{address: 10.0.1.5, security_groups: [sg]}]}]
"#,
    );
    let p = Policy::compile(&m);
    assert_eq!(
        judge(&p, &flow(&p, "10.0.0.10", "10.0.1.5", Packet::Tcp(443))).0,
        Action::Allow
    );
    assert_eq!(
        judge(&p, &flow(&p, "10.1.0.10", "10.0.1.5", Packet::Tcp(443))).0,
        Action::Deny
    );
}

#[test]
fn ipv6_rules_match_ipv6_flows_only() {
    let m = model(
        r#"
security_groups:
  - id: sg
    rules:
      - {direction: ingress, protocol: tcp, ports: 80, cidr: "::/0"}
      - {direction: ingress, protocol: icmpv6, icmp_type: 128, cidr: "::/0"}
backend_groups: [{name: b, protocol: tcp, port: 80, members: [{address: "2001:db8:1::5", security_groups: [sg]}, {address: 10.0.1.5, security_groups: [sg]}]}]
"#,
    );
    let p = Policy::compile(&m);
    assert_eq!(
        judge(
            &p,
            &flow(&p, "2001:db8::1", "2001:db8:1::5", Packet::Tcp(80))
        )
        .0,
        Action::Allow
    );
    assert_eq!(
        judge(
            &p,
            &flow(
                &p,
                "2001:db8::1",
                "2001:db8:1::5",
                Packet::echo_request(true)
            )
        )
        .0,
        Action::Allow
    );
    assert_eq!(
        judge(&p, &flow(&p, "10.0.0.1", "10.0.1.5", Packet::Tcp(80))).0,
        Action::Deny
    );
}

#[test]
fn health_check_sources_follow_provider_and_kind() {
    let m = model(
        r#"
subnets: [{id: s1, cidr: 10.0.0.0/24}, {id: s2, cidr: 10.0.10.0/24}]
load_balancers:
  - {name: alb, provider: aws, kind: alb, subnets: [s1, s2]}
  - {name: shared, provider: huawei, kind: shared, subnets: [s1]}
  - {name: ded, provider: huawei, kind: dedicated, subnets: [s2]}
  - {name: given, health_check_sources: [172.16.0.0/12]}
"#,
    );
    let got: Vec<Vec<String>> = m
        .load_balancers
        .iter()
        .map(|lb| {
            health_check_ranges(&m, lb)
                .iter()
                .map(|n| n.to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        got,
        [
            vec!["10.0.0.0/24", "10.0.10.0/24"],
            vec!["100.125.0.0/16"],
            vec!["10.0.10.0/24"],
            vec!["172.16.0.0/12"]
        ]
    );
}

#[test]
fn huawei_rules_apply_to_forwarded_traffic_except_where_huawei_says_not() {
    let m = model(
        r#"
subnets: [{id: s1, cidr: 10.0.0.0/24}]
load_balancers:
  - {name: alb, provider: aws, kind: alb, subnets: [s1]}
  - {name: shared, provider: huawei, kind: shared, subnets: [s1]}
  - {name: ded, provider: huawei, kind: dedicated, subnets: [s1]}
  - {name: ded-ip, provider: huawei, kind: dedicated, subnets: [s1], ip_as_backend: true}
backend_groups:
  - {name: tcp, protocol: tcp, port: 80}
  - {name: tcp-transparent, protocol: tcp, port: 80, preserve_client_ip: true}
  - {name: http, protocol: http, port: 80}
"#,
    );
    let lb = |n: &str| m.load_balancers.iter().find(|l| l.name == n).expect("lb");
    let g = |n: &str| m.backend_groups.iter().find(|b| b.name == n);
    // AWS enforces its rules everywhere.
    assert!(rules_enforced(lb("alb"), g("tcp")));
    // Shared: TCP/UDP listeners with transparent client IP on bypass them; otherwise traffic
    // from 100.125.0.0/16 meets them.
    assert!(!rules_enforced(lb("shared"), g("tcp-transparent")));
    assert!(rules_enforced(lb("shared"), g("tcp")));
    assert!(
        rules_enforced(lb("shared"), g("http")),
        "HTTP listeners enforce rules"
    );
    // Dedicated: TCP/UDP listeners bypass them unless "IP as a backend" is on.
    assert!(!rules_enforced(lb("ded"), g("tcp")));
    assert!(rules_enforced(lb("ded"), g("http")));
    assert!(rules_enforced(lb("ded-ip"), g("tcp")));
}

// ---------------------------------------------------------------------------------------------
// Properties over random models.

fn arb_net() -> impl Strategy<Value = ipnet::IpNet> {
    (
        0u8..4,
        prop_oneof![Just(16u8), Just(24), Just(28), Just(32)],
        0u8..16,
    )
        .prop_map(|(third, len, last)| {
            ipnet::IpNet::new(IpAddr::from([10, 0, third, last]), len)
                .expect("valid prefix")
                .trunc()
        })
}

fn arb_proto() -> impl Strategy<Value = IpProto> {
    prop_oneof![
        Just(IpProto::Tcp),
        Just(IpProto::Udp),
        Just(IpProto::Icmp),
        Just(IpProto::Any)
    ]
}

fn arb_ports(proto: IpProto) -> BoxedStrategy<PortSet> {
    if proto.has_ports() {
        prop_oneof![
            Just(PortSet::any()),
            (0u16..4).prop_map(|i| PortSet::single([22, 80, 443, 8081][i as usize])),
            Just(PortSet::range(1024, 65535)),
            Just(PortSet::range(80, 443)),
        ]
        .boxed()
    } else {
        Just(PortSet::any()).boxed()
    }
}

fn arb_sg_rule(groups: usize, huawei: bool) -> impl Strategy<Value = SgRule> {
    (
        arb_proto(),
        prop::bool::ANY,
        arb_net(),
        0..groups,
        prop::bool::ANY,
        1u16..4,
    )
        .prop_flat_map(move |(proto, ingress, net, g, by_group, prio)| {
            let deny_weight = if huawei { 1 } else { 0 };
            (
                arb_ports(proto),
                prop_oneof![3 => Just(Action::Allow), deny_weight => Just(Action::Deny)],
            )
                .prop_map(move |(ports, action)| SgRule {
                    id: None,
                    direction: if ingress {
                        Direction::Ingress
                    } else {
                        Direction::Egress
                    },
                    action,
                    priority: huawei.then_some(prio),
                    protocol: proto,
                    ports,
                    icmp_type: None,
                    icmp_code: None,
                    cidr: (!by_group).then_some(net),
                    group: by_group.then(|| format!("sg-{g}")),
                    address_group: None,
                    description: None,
                })
        })
}

fn arb_acl_rule() -> impl Strategy<Value = AclRule> {
    (arb_proto(), 1u32..400, prop::bool::ANY, arb_net()).prop_flat_map(
        |(proto, number, allow, net)| {
            arb_ports(proto).prop_map(move |ports| AclRule {
                number,
                id: None,
                action: if allow { Action::Allow } else { Action::Deny },
                protocol: proto,
                ports,
                source_ports: PortSet::any(),
                icmp_type: None,
                icmp_code: None,
                cidr: Some(net),
                local_cidr: None,
            })
        },
    )
}

fn dedup_numbers(rules: &mut Vec<AclRule>) {
    let mut seen = std::collections::HashSet::new();
    rules.retain(|r| seen.insert(r.number));
}

/// A random model: four subnets, three security groups, ACLs on two subnets, members on each.
fn arb_model(huawei: bool) -> impl Strategy<Value = Model> {
    (
        prop::collection::vec(prop::collection::vec(arb_sg_rule(3, huawei), 0..8), 3),
        prop::collection::vec(
            (
                prop::collection::vec(arb_acl_rule(), 0..8),
                prop::collection::vec(arb_acl_rule(), 0..8),
                prop::bool::ANY,
            ),
            2,
        ),
    )
        .prop_map(|(sg_rules, acls)| {
            let mut m = Model::default();
            for i in 0..4u8 {
                m.subnets.push(Subnet {
                    id: format!("s{i}"),
                    cidr: ipnet::IpNet::new(IpAddr::from([10, 0, i, 0]), 24).expect("prefix"),
                    zone: None,
                    free_addresses: None,
                    network: None,
                });
            }
            for (i, rules) in sg_rules.into_iter().enumerate() {
                m.security_groups.push(SecurityGroup {
                    id: format!("sg-{i}"),
                    name: None,
                    rules,
                });
            }
            for (i, (mut inbound, mut outbound, stateful)) in acls.into_iter().enumerate() {
                dedup_numbers(&mut inbound);
                dedup_numbers(&mut outbound);
                m.network_acls.push(NetworkAcl {
                    id: format!("acl-{i}"),
                    name: None,
                    stateful,
                    subnets: vec![format!("s{}", i + 1)],
                    inbound,
                    outbound,
                });
            }
            m
        })
}

fn arb_flow() -> impl Strategy<Value = (u8, u8, u8, u8, Packet, Vec<u32>, Vec<u32>)> {
    (
        0u8..4,
        0u8..16,
        0u8..4,
        0u8..16,
        prop_oneof![
            (0u16..4).prop_map(|i| Packet::Tcp([22, 80, 443, 8081][i as usize])),
            Just(Packet::Udp(53)),
            Just(Packet::echo_request(false)),
        ],
        prop::collection::vec(0u32..3, 0..3),
        prop::collection::vec(0u32..3, 0..3),
    )
}

fn make_flow(p: &Policy, f: &(u8, u8, u8, u8, Packet, Vec<u32>, Vec<u32>)) -> Flow {
    let (s3, s4, d3, d4, packet, sg, dg) = f.clone();
    let src = IpAddr::from([10, 0, s3, s4]);
    let dst = IpAddr::from([10, 0, d3, d4]);
    Flow {
        src: Endpoint {
            net: Net::from_addr(src),
            groups: sg,
            subnet: p.subnet_containing(Net::from_addr(src)),
        },
        dst: Endpoint {
            net: Net::from_addr(dst),
            groups: dg,
            subnet: p.subnet_containing(Net::from_addr(dst)),
        },
        packet,
        return_ports: PortRange::EPHEMERAL,
        listener: None,
        rules_enforced: true,
        return_routed: true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Adding an allow rule to a security group never turns an allow into a deny.
    #[test]
    fn adding_an_allow_rule_never_denies_more(
        (m, f, g, rule) in (prop::bool::ANY).prop_flat_map(|hw| (arb_model(hw), arb_flow(), 0usize..3, arb_sg_rule(3, hw)))
    ) {
        let before = Policy::compile(&m);
        let flow = make_flow(&before, &f);
        let was = before.evaluate(&flow).decision;
        let mut m2 = m.clone();
        let mut rule = rule;
        rule.action = Action::Allow;
        m2.security_groups[g].rules.push(rule);
        let after = Policy::compile(&m2);
        let now = after.evaluate(&flow).decision;
        prop_assert!(!(was == Action::Allow && now == Action::Deny));
    }

    /// Adding a deny rule anywhere never turns a deny into an allow.
    #[test]
    fn adding_a_deny_rule_never_allows_more(
        (m, f, a, rule) in (arb_model(true), arb_flow(), 0usize..2, arb_acl_rule())
    ) {
        let before = Policy::compile(&m);
        let flow = make_flow(&before, &f);
        let was = before.evaluate(&flow).decision;
        let mut m2 = m.clone();
        let mut rule = rule;
        rule.action = Action::Deny;
        let acl = &mut m2.network_acls[a];
        if !acl.inbound.iter().any(|r| r.number == rule.number) {
            acl.inbound.push(rule);
        }
        let now = Policy::compile(&m2).evaluate(&flow).decision;
        prop_assert!(!(was == Action::Deny && now == Action::Allow));
    }

    /// ACL evaluation depends only on the first match: the order rules are listed in does not
    /// matter, and rules numbered after the deciding rule do not change the verdict.
    #[test]
    fn acl_verdict_depends_only_on_the_first_match(
        (m, f, extra) in (arb_model(false), arb_flow(), prop::collection::vec(arb_acl_rule(), 1..4))
    ) {
        let p = Policy::compile(&m);
        let flow = make_flow(&p, &f);
        let v = p.evaluate(&flow);

        let mut reversed = m.clone();
        for acl in &mut reversed.network_acls {
            acl.inbound.reverse();
            acl.outbound.reverse();
        }
        let rp = Policy::compile(&reversed);
        prop_assert_eq!(rp.view(&rp.evaluate(&flow)), p.view(&v));

        // Append rules numbered above every existing rule: any decision an explicit rule made
        // stands; only implicit denies may change.
        let mut later = m.clone();
        for acl in &mut later.network_acls {
            for list in [&mut acl.inbound, &mut acl.outbound] {
                let top = list.iter().map(|r| r.number).max().unwrap_or(0);
                for (i, r) in extra.iter().enumerate() {
                    let mut r = r.clone();
                    r.number = top + 1 + i as u32;
                    list.push(r);
                }
            }
        }
        let v2 = Policy::compile(&later).evaluate(&flow);
        let explicit = v.path.iter().all(|h| h.rule != RuleRef::Implicit);
        if explicit {
            prop_assert_eq!(v2.decision, v.decision);
        }
    }

    /// A flow inside one subnet never meets an ACL, whatever the ACLs say.
    #[test]
    fn same_subnet_flows_never_cross_an_acl((m, f) in (arb_model(false), arb_flow())) {
        let p = Policy::compile(&m);
        let mut flow = make_flow(&p, &f);
        flow.dst.net = Net::from_addr(IpAddr::from([10, 0, f.0, f.1 ^ 1]));
        flow.dst.subnet = flow.src.subnet;
        prop_assume!(flow.src.subnet.is_some());
        let v = p.evaluate(&flow);
        prop_assert!(v.path.iter().all(|h| h.kind != HopKind::NetworkAcl));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A security group's port index finds the same first rule as a scan of every rule, for
    /// groups big enough to be indexed, at every port boundary the rules name and beside it.
    #[test]
    fn the_port_index_agrees_with_a_scan(
        rules in prop::collection::vec(arb_sg_rule(3, true), INDEX_MIN_RULES..48),
        peer in arb_net(),
        groups in prop::collection::vec(0u32..3, 0..3),
        port in prop_oneof![
            (0u16..4).prop_map(|i| [22, 80, 443, 8081][i as usize]),
            prop_oneof![Just(0u16), Just(21), Just(23), Just(79), Just(81), Just(442), Just(444),
                Just(1023), Just(1024), Just(8080), Just(8082), Just(65535)],
        ],
        udp in prop::bool::ANY,
    ) {
        let g = SecurityGroup { id: "sg-0".into(), name: None, rules };
        let index: HashMap<String, u32> =
            (0..3).map(|i| (format!("sg-{i}"), i)).collect();
        let cg = compile_group(&g, &index, &HashMap::new());
        let peer = Endpoint { net: Net::from_net(peer), groups, subnet: None };
        let p = Probe {
            proto: if udp { IpProto::Udp } else { IpProto::Tcp },
            ports: PortRange { from: port, to: port },
            source_ports: PortRange::EPHEMERAL,
            icmp: None,
            peer: &peer,
            local: Net::from_addr(IpAddr::from([10, 0, 0, 1])),
        };
        for direction in [Direction::Ingress, Direction::Egress] {
            let scan = cg
                .rules(direction)
                .iter()
                .find(|r| r.matches_proto(&p) && r.port_ranges_apply(&p) && r.matches_peer(&p))
                .map(|r| (r.priority, r.action, r.origin));
            prop_assert_eq!(group_decision(&cg, direction, &p), scan);
        }
    }
}
