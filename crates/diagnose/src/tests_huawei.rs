//! Huawei's rulebook (seed 000): what "IP as a backend" exempts, and what it never does.

use super::testing::{judged, policy};
use super::*;

const SHARED: &str = include_str!("../../../probes/huawei-shared-no-ip-backend.yaml");

#[test]
fn health_checks_meet_the_rules_even_where_forwarded_traffic_does_not() {
    // As shipped: the group admits the shared load balancer's health-check range.
    let p = policy(SHARED);
    assert_eq!(judged(&p, "app-1", Role::HealthCheck).code, Code::Ok);
    assert_eq!(judged(&p, "app-1", Role::Traffic).code, Code::Ok);
    // Without the 100.125.0.0/16 rule the health check fails, though the listener's traffic
    // (TCP, "IP as a backend" off) still bypasses the group.
    let without = SHARED.replace(
        "        cidr: 100.125.0.0/16\n        description: traffic and health checks of the shared ELB\n",
        "        cidr: 10.99.0.0/16\n        description: not the shared ELB\n",
    );
    assert_ne!(without, SHARED);
    let p = policy(&without);
    let hc = judged(&p, "app-1", Role::HealthCheck);
    assert_eq!(hc.code, Code::SgIngressMissing, "{}", hc.summary);
    let b = hc.blocking.as_ref().expect("blocking");
    assert_eq!(
        (b.kind, b.id.as_str(), b.rule.as_str()),
        ("security_group", "sg-app", "*")
    );
    assert!(hc.summary.contains("100.125.0.0/16"), "{}", hc.summary);
    let traffic = judged(&p, "app-1", Role::Traffic);
    assert_eq!(traffic.code, Code::Ok, "{}", traffic.summary);
}

#[test]
fn an_eip_carries_the_answers_to_internet_clients_whatever_the_routes() {
    // A dedicated load balancer with an EIP in a subnet whose default route goes to a NAT
    // gateway: on AWS the subnet would not be public; on Huawei the EIP is the internet side.
    let yaml = r#"
networks: [{id: vpc-1, cidrs: [192.168.0.0/16]}]
subnets:
  - {id: sub-lb, cidr: 192.168.0.0/24, network: vpc-1}
  - {id: sub-app, cidr: 192.168.1.0/24, network: vpc-1}
route_tables:
  - id: rt-1
    network: vpc-1
    main: true
    routes:
      - {destination: 192.168.0.0/16, via: {kind: local}}
      - {destination: 0.0.0.0/0, via: {kind: nat_gateway, id: nat-1}}
load_balancers:
  - name: elb-ded
    provider: huawei
    kind: dedicated
    scheme: internet-facing
    subnets: [sub-lb]
    nodes: [{address: 192.168.0.10, subnet: sub-lb, public_address: 198.51.100.7}]
    ip_as_backend: true
    listeners: [{protocol: http, port: 80, backend_group: web}]
backend_groups:
  - name: web
    protocol: http
    port: 80
    members: [{name: web-1, address: 192.168.1.11}]
"#;
    let p = policy(yaml);
    let client = judged(&p, "elb-ded:80", Role::Client);
    assert_eq!(client.code, Code::Ok, "{}", client.summary);
    assert!(
        static_findings(&p)
            .iter()
            .all(|f| f.code != Code::LbSubnetNotPublic)
    );
    // The same on AWS is not public.
    let aws = yaml
        .replace("provider: huawei", "provider: aws")
        .replace("kind: dedicated", "kind: alb")
        .replace("    ip_as_backend: true\n", "");
    let p = policy(&aws);
    assert_eq!(
        judged(&p, "elb-ded:80", Role::Client).code,
        Code::LbSubnetNotPublic
    );
}
