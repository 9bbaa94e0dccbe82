//! Flow evaluations per second against a model of 1,000 rules (issue 3's bar: one million per
//! second per core). Run: `cargo bench --bench evaluator`.
//!
//! The model is shaped like a busy account: 20 security groups of 40 rules each (ports, CIDRs,
//! group references, some deny rules with priorities), and two network ACLs of 50 inbound and
//! 50 outbound entries each, stateless, so most flows also walk the return path. Flows go from
//! random sources with random groups to random members, over tcp, udp and icmp. Every subnet has
//! a route table (issue 15): routes are judged on the way out and on the way back, longest prefix
//! first, among local, NAT, peering and blackhole routes.
#![allow(clippy::expect_used)] // a test or bench stops at the first surprise

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipnet::IpNet;
use probe::model::{
    AclRule, Action, Direction, IpProto, Model, NetworkAcl, PortSet, SecurityGroup, SgRule, Subnet,
};
use probe::policy::{Endpoint, Flow, Net, Packet, Policy};

/// A small deterministic generator, so every run measures the same model and flows.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

fn net(a: u8, b: u8, len: u8) -> IpNet {
    IpNet::new(IpAddr::from([10, a, b, 0]), len)
        .expect("valid prefix")
        .trunc()
}

const PORTS: [u16; 8] = [22, 80, 443, 3306, 5432, 8080, 8081, 9100];

fn model_of_1000_rules() -> Model {
    let mut rng = Lcg(7);
    let mut m = Model::default();
    for i in 0..8u8 {
        m.subnets.push(Subnet {
            id: format!("subnet-{i}"),
            cidr: net(0, i, 24),
            zone: None,
            free_addresses: None,
            network: Some("vpc-1".to_string()),
        });
    }
    // The network and its route tables: a main table and one per pair of subnets, each with the
    // local route, a default route, peerings and a blackhole (as `probe import` reads them).
    let mut tables = String::from(
        "networks: [{id: vpc-1, cidrs: [10.0.0.0/16]}]\nroute_tables:\n  - id: rtb-main\n    network: vpc-1\n    main: true\n    routes:\n      - {destination: 10.0.0.0/16, via: {kind: local}}\n      - {destination: 0.0.0.0/0, via: {kind: nat_gateway, id: nat-1}}\n",
    );
    for t in 0..4 {
        tables.push_str(&format!(
            "  - id: rtb-{t}\n    network: vpc-1\n    subnets: [subnet-{}, subnet-{}]\n    routes:\n      - {{destination: 10.0.0.0/16, via: {{kind: local}}}}\n      - {{destination: 0.0.0.0/0, via: {{kind: internet_gateway, id: igw-1}}}}\n      - {{destination: 172.16.{t}.0/24, via: {{kind: peering, id: pcx-{t}}}}}\n      - {{destination: 192.168.{t}.0/24, via: {{kind: transit_gateway, id: tgw-1}}, state: blackhole}}\n",
            2 * t,
            2 * t + 1
        ));
    }
    let routing =
        probe::config::yaml::parse(tables.as_bytes(), std::path::Path::new("routes.yaml"))
            .expect("route tables");
    m.networks = routing.networks;
    m.route_tables = routing.route_tables;
    for g in 0..20 {
        let mut rules = Vec::new();
        for r in 0..40 {
            let proto = match rng.below(10) {
                0 => IpProto::Icmp,
                1 => IpProto::Udp,
                _ => IpProto::Tcp,
            };
            let ports = if proto.has_ports() {
                let p = PORTS[rng.below(8) as usize];
                if rng.below(4) == 0 {
                    PortSet::range(p, p + 100)
                } else {
                    PortSet::single(p)
                }
            } else {
                PortSet::any()
            };
            let by_group = rng.below(5) == 0;
            if r == 0 {
                // Every group keeps AWS's default egress rule: allow all out.
                rules.push(SgRule {
                    id: Some(format!("sgr-{g}-0")),
                    direction: Direction::Egress,
                    action: Action::Allow,
                    priority: Some(100),
                    protocol: IpProto::Any,
                    ports: PortSet::any(),
                    icmp_type: None,
                    icmp_code: None,
                    cidr: Some(net(0, 0, 8)),
                    group: None,
                    address_group: None,
                    description: None,
                });
                continue;
            }
            rules.push(SgRule {
                id: Some(format!("sgr-{g}-{r}")),
                direction: if r % 4 == 0 {
                    Direction::Egress
                } else {
                    Direction::Ingress
                },
                action: if rng.below(10) == 0 {
                    Action::Deny
                } else {
                    Action::Allow
                },
                priority: Some(1 + rng.below(100) as u16),
                protocol: proto,
                ports,
                icmp_type: None,
                icmp_code: None,
                cidr: (!by_group).then(|| net(0, rng.below(8) as u8, 16 + rng.below(9) as u8)),
                group: by_group.then(|| format!("sg-{}", rng.below(20))),
                address_group: None,
                description: None,
            });
        }
        m.security_groups.push(SecurityGroup {
            id: format!("sg-{g}"),
            name: None,
            rules,
        });
    }
    for a in 0..2u8 {
        let mut acl = NetworkAcl {
            id: format!("acl-{a}"),
            name: None,
            stateful: false,
            subnets: (0..4).map(|s| format!("subnet-{}", a * 4 + s)).collect(),
            inbound: Vec::new(),
            outbound: Vec::new(),
        };
        for n in 0..50u32 {
            for list in [&mut acl.inbound, &mut acl.outbound] {
                let last = n == 49;
                let proto = if n % 7 == 0 || last {
                    IpProto::Any
                } else {
                    IpProto::Tcp
                };
                list.push(AclRule {
                    number: (n + 1) * 10,
                    id: None,
                    action: if !last && rng.below(6) == 0 {
                        Action::Deny
                    } else {
                        Action::Allow
                    },
                    protocol: proto,
                    ports: if proto.has_ports() {
                        let p = PORTS[rng.below(8) as usize];
                        if rng.below(3) == 0 {
                            PortSet::range(1024, 65535)
                        } else {
                            PortSet::single(p)
                        }
                    } else {
                        PortSet::any()
                    },
                    source_ports: PortSet::any(),
                    icmp_type: None,
                    icmp_code: None,
                    cidr: Some(if last {
                        net(0, 0, 8)
                    } else {
                        net(0, rng.below(8) as u8, 16 + rng.below(9) as u8)
                    }),
                    local_cidr: None,
                });
            }
        }
        m.network_acls.push(acl);
    }
    m
}

fn rule_count(m: &Model) -> usize {
    m.security_groups
        .iter()
        .map(|g| g.rules.len())
        .sum::<usize>()
        + m.network_acls
            .iter()
            .map(|a| a.inbound.len() + a.outbound.len())
            .sum::<usize>()
}

fn flows(p: &Policy, n: usize) -> Vec<Flow> {
    let mut rng = Lcg(11);
    (0..n)
        .map(|_| {
            let src = IpAddr::from([10, 0, rng.below(8) as u8, 1 + rng.below(200) as u8]);
            // One flow in 16 leaves the network: by a peering, or into a blackhole.
            let dst = match rng.below(16) {
                0 => IpAddr::from([172, 16, rng.below(4) as u8, 9]),
                1 => IpAddr::from([192, 168, rng.below(4) as u8, 9]),
                _ => IpAddr::from([10, 0, rng.below(8) as u8, 1 + rng.below(200) as u8]),
            };
            let packet = match rng.below(10) {
                0 => Packet::echo_request(false),
                1 => Packet::Udp(53),
                _ => Packet::Tcp(PORTS[rng.below(8) as usize]),
            };
            let groups = |rng: &mut Lcg| (0..1 + rng.below(3)).map(|_| rng.below(20)).collect();
            Flow {
                src: Endpoint {
                    net: Net::from_addr(src),
                    groups: groups(&mut rng),
                    subnet: p.subnet_containing(Net::from_addr(src)),
                },
                dst: Endpoint {
                    net: Net::from_addr(dst),
                    groups: groups(&mut rng),
                    subnet: p.subnet_containing(Net::from_addr(dst)),
                },
                packet,
                return_ports: probe::model::PortRange::EPHEMERAL,
                listener: None,
                rules_enforced: true,
                return_routed: true,
            }
        })
        .collect()
}

fn evaluator(c: &mut Criterion) {
    let model = model_of_1000_rules();
    assert_eq!(rule_count(&model), 1000);
    let policy = Policy::compile(&model);
    let flows = flows(&policy, 1024);
    let allowed = flows
        .iter()
        .filter(|f| policy.evaluate(f).allowed())
        .count();
    eprintln!(
        "model: {} rules; {} of {} flows allowed",
        rule_count(&model),
        allowed,
        flows.len()
    );

    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("1000_rules", |b| {
        b.iter(|| {
            for f in &flows {
                black_box(policy.evaluate(black_box(f)));
            }
        })
    });
    // The same rules and flows without route tables: what judging routes costs, in one run.
    let mut unrouted = model.clone();
    unrouted.route_tables.clear();
    let unrouted = Policy::compile(&unrouted);
    g.bench_function("1000_rules_without_routes", |b| {
        b.iter(|| {
            for f in &flows {
                black_box(unrouted.evaluate(black_box(f)));
            }
        })
    });
    g.finish();

    c.bench_function("compile_1000_rules", |b| {
        b.iter(|| black_box(Policy::compile(black_box(&model))))
    });
}

criterion_group!(benches, evaluator);
criterion_main!(benches);
