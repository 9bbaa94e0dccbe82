//! The whole path (issue 15): clients → load balancer → targets, with routes, client address
//! preservation and wiring. Each case names the exact code, role and blocking rule.

use super::testing::{AGENT_PORTS, judged, obs, policy};
use super::*;
use probe_observation::{Reason, State};
use probe_policy::Policy;

/// Seed 004's answer: an internet-facing ALB in public subnets (default route to the internet
/// gateway), private targets behind it (default route to a NAT gateway), ACLs that let requests
/// in and answers out.
const PATH: &str = r#"
agent: {address: 10.0.1.10, security_groups: [sg-agent]}
networks:
  - {id: vpc-1, cidrs: [10.0.0.0/16]}
subnets:
  - {id: pub-a, cidr: 10.0.0.0/24, zone: a, network: vpc-1, free_addresses: 200}
  - {id: pub-b, cidr: 10.0.10.0/24, zone: b, network: vpc-1, free_addresses: 200}
  - {id: app-a, cidr: 10.0.1.0/24, zone: a, network: vpc-1}
  - {id: app-b, cidr: 10.0.2.0/24, zone: b, network: vpc-1}
route_tables:
  - id: rtb-main
    network: vpc-1
    main: true
    routes:
      - {destination: 10.0.0.0/16, via: {kind: local}}
      - {destination: 0.0.0.0/0, via: {kind: nat_gateway, id: nat-1}}
  - id: rtb-pub
    network: vpc-1
    subnets: [pub-a, pub-b]
    routes:
      - {destination: 10.0.0.0/16, via: {kind: local}}
      - {destination: 0.0.0.0/0, via: {kind: internet_gateway, id: igw-1}}
network_acls:
  - id: acl-pub
    subnets: [pub-a, pub-b]
    inbound:
      - {number: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}
      - {number: 110, action: allow, protocol: tcp, ports: 1024-65535, cidr: 10.0.0.0/16}
    outbound:
      - {number: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0}
      - {number: 110, action: allow, protocol: tcp, ports: "80,8081", cidr: 10.0.0.0/16}
security_groups:
  - id: sg-agent
    rules: [{direction: egress, protocol: any, cidr: 0.0.0.0/0}]
  - id: sg-alb
    rules:
      - {direction: ingress, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}
      - {direction: egress, protocol: tcp, ports: "80,8081", group: sg-web}
  - id: sg-web
    rules:
      - {direction: ingress, protocol: tcp, ports: "80,8081", group: sg-alb}
      - {direction: ingress, protocol: tcp, ports: "80,8081", group: sg-agent}
load_balancers:
  - name: web-alb
    provider: aws
    kind: alb
    scheme: internet-facing
    subnets: [pub-a, pub-b]
    security_groups: [sg-alb]
    listeners: [{protocol: https, port: 443, backend_group: web}]
backend_groups:
  - name: web
    protocol: http
    port: 80
    health_check: {protocol: http, port: 8081, path: /health}
    members:
      - {name: web-1, address: 10.0.1.5, security_groups: [sg-web]}
      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}
"#;

fn statics_of(p: &Policy, code: Code) -> Vec<Finding> {
    static_findings(p)
        .into_iter()
        .filter(|f| f.code == code)
        .collect()
}

fn blocking(f: &Finding) -> (String, String, String, String) {
    let b = f.blocking.as_ref().expect("a blocking rule");
    (
        b.kind.to_string(),
        b.id.clone(),
        b.rule.clone(),
        b.direction.to_string(),
    )
}

fn b(kind: &str, id: &str, rule: &str, dir: &str) -> (String, String, String, String) {
    (kind.into(), id.into(), rule.into(), dir.into())
}

#[test]
fn the_healthy_path_is_ok_on_every_leg() {
    let p = policy(PATH);
    let r = report(&p, AGENT_PORTS, Mode::Static).expect("report");
    let bad: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Ok)
        .map(|f| format!("{:?} {:?} {}", f.role, f.code, f.summary))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::Ok);
    assert!(
        client.summary.contains("clients 0.0.0.0/0"),
        "{}",
        client.summary
    );
}

#[test]
fn an_internet_facing_load_balancer_in_private_subnets_is_not_public() {
    let p = policy(&PATH.replace(
        "subnets: [pub-a, pub-b]\n    security_groups: [sg-alb]",
        "subnets: [app-a, app-b]\n    security_groups: [sg-alb]",
    ));
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::LbSubnetNotPublic, "{}", client.summary);
    assert_eq!(
        blocking(&client),
        b("route_table", "rtb-main", "0.0.0.0/0 via nat-1", "egress")
    );
    let fix = client.fix.as_deref().unwrap_or_default();
    assert!(fix.contains("--gateway-id igw-1"), "{fix}");
    assert!(
        fix.contains("rtb-pub"),
        "the public table is offered: {fix}"
    );
    let stat = statics_of(&p, Code::LbSubnetNotPublic);
    assert_eq!(stat.len(), 2, "one per subnet: {stat:#?}");
    assert_eq!(
        blocking(&stat[0]),
        b("route_table", "rtb-main", "0.0.0.0/0 via nat-1", "egress")
    );
    assert_eq!(stat[0].role, Role::Configuration);
}

#[test]
fn a_public_subnet_without_any_default_route_is_not_public_with_a_star() {
    let p = policy(&PATH.replace(
        "      - {destination: 0.0.0.0/0, via: {kind: internet_gateway, id: igw-1}}\n",
        "",
    ));
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::LbSubnetNotPublic);
    assert_eq!(
        blocking(&client),
        b("route_table", "rtb-pub", "*", "egress")
    );
}

#[test]
fn a_load_balancer_security_group_without_the_listener_port_blocks_clients() {
    let p = policy(&PATH.replace(
        "      - {direction: ingress, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}\n",
        "",
    ));
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::SgIngressMissing);
    assert_eq!(
        blocking(&client),
        b("security_group", "sg-alb", "*", "ingress")
    );
    assert_eq!(
        client.fix.as_deref(),
        Some(
            "aws ec2 authorize-security-group-ingress --group-id sg-alb --protocol tcp --port 443 --cidr 0.0.0.0/0"
        )
    );
}

#[test]
fn a_security_group_that_admits_only_some_clients_still_lets_clients_in() {
    // A deliberate restriction to an office range: some clients pass, so the leg is open.
    let p = policy(&PATH.replace(
        "{direction: ingress, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}",
        "{direction: ingress, protocol: tcp, ports: 443, cidr: 198.51.100.0/24}",
    ));
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::Ok, "{}", client.summary);
}

#[test]
fn the_public_acl_must_let_the_listener_port_in_and_the_answers_out() {
    let p = policy(&PATH.replace(
        "      - {number: 100, action: allow, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}\n",
        "",
    ));
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::NaclDeny);
    assert_eq!(
        blocking(&client),
        b("network_acl", "acl-pub", "*", "ingress")
    );
    let fix = client.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("--ingress")
            && fix.contains("From=443,To=443")
            && fix.contains("--cidr-block 0.0.0.0/0"),
        "{fix}"
    );

    let p = policy(&PATH.replace(
        "      - {number: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0}\n",
        "",
    ));
    let client = judged(&p, "web-alb:443", Role::Client);
    assert_eq!(client.code, Code::NaclReturnBlocked);
    assert_eq!(
        blocking(&client),
        b("network_acl", "acl-pub", "*", "egress")
    );
    let fix = client.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("--egress")
            && fix.contains("From=1024,To=65535")
            && fix.contains("--cidr-block 0.0.0.0/0"),
        "{fix}"
    );
}

/// An NLB with instance targets keeps the client's address: the targets' security group must
/// admit the clients, not the load balancer's subnets.
const NLB: &str = r#"
networks:
  - {id: vpc-1, cidrs: [10.0.0.0/16]}
subnets:
  - {id: pub-a, cidr: 10.0.0.0/24, zone: a, network: vpc-1, free_addresses: 200}
  - {id: app-a, cidr: 10.0.1.0/24, zone: a, network: vpc-1}
route_tables:
  - id: rtb-pub
    network: vpc-1
    main: true
    routes:
      - {destination: 10.0.0.0/16, via: {kind: local}}
      - {destination: 0.0.0.0/0, via: {kind: internet_gateway, id: igw-1}}
security_groups:
  - id: sg-app
    rules:
      - {direction: ingress, protocol: tcp, ports: 5000, cidr: 10.0.0.0/16}
load_balancers:
  - name: game-nlb
    provider: aws
    kind: nlb
    scheme: internet-facing
    subnets: [pub-a]
    listeners: [{protocol: tcp, port: 5000, backend_group: game}]
backend_groups:
  - name: game
    protocol: tcp
    port: 5000
    target_type: instance
    health_check: {protocol: tcp, port: traffic-port}
    members:
      - {name: game-1, address: 10.0.1.7, security_groups: [sg-app]}
"#;

#[test]
fn nlb_instance_targets_see_the_clients_and_must_admit_them() {
    let p = policy(NLB);
    let traffic = judged(&p, "game-1", Role::Traffic);
    assert_eq!(traffic.code, Code::SgIngressMissing, "{}", traffic.summary);
    assert_eq!(
        blocking(&traffic),
        b("security_group", "sg-app", "*", "ingress")
    );
    assert!(
        traffic.summary.contains("clients 0.0.0.0/0"),
        "{}",
        traffic.summary
    );
    assert!(
        traffic
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("--cidr 0.0.0.0/0")
    );
    // The health check comes from the load balancer's own subnet: the VPC rule admits it.
    let hc = judged(&p, "game-1", Role::HealthCheck);
    assert_eq!(hc.code, Code::Ok, "{}", hc.summary);
    // The client's connection ends at the target: the client leg is blocked there too, and a
    // client-side probe that is dropped is explained by the rule, not a host firewall.
    let client = judged(&p, "game-nlb:5000", Role::Client);
    assert_eq!(client.code, Code::SgIngressMissing, "{}", client.summary);
    assert_eq!(
        blocking(&client),
        b("security_group", "sg-app", "*", "ingress")
    );
    let outside = policy(&format!("agent: {{address: 203.0.113.50}}\n{NLB}"));
    let mut checks = plan(&outside, None);
    let c = checks
        .iter_mut()
        .find(|c| c.role == Role::Client)
        .expect("client check");
    c.probe_from_agent = true;
    let persp = perspectives(&outside, c, AGENT_PORTS);
    let dropped = obs(c, State::Filtered, Reason::NoResponse, false);
    let f = diagnose(&outside, c, &persp, Some(&dropped));
    assert_eq!(f.code, Code::SgIngressMissing, "{}", f.summary);
    assert_eq!(blocking(&f), b("security_group", "sg-app", "*", "ingress"));
    // With client IP preservation off, the traffic comes from the load balancer too: the
    // health check on the traffic port covers it, and passes.
    let p = policy(&NLB.replace(
        "target_type: instance",
        "target_type: instance\n    preserve_client_ip: false",
    ));
    let roles: Vec<Role> = plan(&p, Some("game-1")).iter().map(|c| c.role).collect();
    assert_eq!(roles, [Role::HealthCheck]);
    assert_eq!(judged(&p, "game-1", Role::HealthCheck).code, Code::Ok);
}

#[test]
fn a_blackhole_route_and_a_missing_route_are_named() {
    // A target in a peered network whose peering is gone (blackhole), and one no route covers.
    let yaml = PATH
        .replace(
            "      - {destination: 0.0.0.0/0, via: {kind: internet_gateway, id: igw-1}}\n",
            "      - {destination: 0.0.0.0/0, via: {kind: internet_gateway, id: igw-1}}\n      - {destination: 172.16.0.0/16, via: {kind: peering, id: pcx-1}, state: blackhole}\n",
        )
        .replace(
            "      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}",
            "      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}\n      - {name: far, address: 172.16.0.9}",
        )
        .replace(
            "      - {direction: egress, protocol: tcp, ports: \"80,8081\", group: sg-web}",
            "      - {direction: egress, protocol: tcp, ports: \"80,8081\", cidr: 0.0.0.0/0}",
        );
    let p = policy(&yaml);
    let far = judged(&p, "far", Role::Traffic);
    assert_eq!(far.code, Code::RouteBlackhole, "{}", far.summary);
    assert_eq!(
        blocking(&far),
        b(
            "route_table",
            "rtb-pub",
            "172.16.0.0/16 via pcx-1",
            "egress"
        )
    );
    assert!(
        far.fix
            .as_deref()
            .unwrap_or_default()
            .contains("replace-route")
    );
}

#[test]
fn a_target_subnet_with_no_route_back_is_route_missing() {
    let yaml = PATH.replace(
        "      - {destination: 0.0.0.0/0, via: {kind: nat_gateway, id: nat-1}}\n",
        "",
    );
    // Targets in app-a/app-b now have only the local route: fine for the load balancer (local),
    // but they have no way out.
    let p = policy(&yaml);
    assert_eq!(judged(&p, "web-1", Role::HealthCheck).code, Code::Ok);
    let egress = statics_of(&p, Code::TargetNoInternetEgress);
    assert_eq!(egress.len(), 2, "{egress:#?}");
    assert_eq!(egress[0].severity, Severity::Info);
    // A member outside every route: the load balancer's subnet has no route to it.
    let yaml = yaml.replace(
        "      - {destination: 0.0.0.0/0, via: {kind: internet_gateway, id: igw-1}}\n",
        "",
    ).replace(
        "      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}",
        "      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}\n      - {name: onprem, address: 192.168.7.9}",
    ).replace(
        "      - {direction: egress, protocol: tcp, ports: \"80,8081\", group: sg-web}",
        "      - {direction: egress, protocol: tcp, ports: \"80,8081\", cidr: 0.0.0.0/0}",
    );
    let p = policy(&yaml);
    let onprem = judged(&p, "onprem", Role::HealthCheck);
    assert_eq!(onprem.code, Code::RouteMissing, "{}", onprem.summary);
    assert_eq!(
        blocking(&onprem),
        b("route_table", "rtb-pub", "*", "egress")
    );
    let fix = onprem.fix.as_deref().unwrap_or_default();
    assert!(
        fix.starts_with(
            "aws ec2 create-route --route-table-id rtb-pub --destination-cidr-block 192.168.7.9/32"
        ),
        "{fix}"
    );
}

#[test]
fn wiring_empty_unused_groups_and_zones_without_targets() {
    let yaml = format!(
        "{}  - name: spare\n    protocol: http\n    port: 80\n    members: [{{address: 10.0.1.99}}]\n  - name: empty\n    protocol: http\n    port: 80\n",
        PATH.replace(
            "listeners: [{protocol: https, port: 443, backend_group: web}]",
            "listeners: [{protocol: https, port: 443, backend_group: web}, {protocol: http, port: 80, backend_group: empty}]",
        )
    );
    let p = policy(&yaml);
    let empty = statics_of(&p, Code::TargetGroupEmpty);
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].backend_group.as_deref(), Some("empty"));
    assert_eq!(empty[0].severity, Severity::Warning);
    let unused = statics_of(&p, Code::TargetGroupNotInUse);
    assert_eq!(unused.len(), 1);
    assert_eq!(unused[0].backend_group.as_deref(), Some("spare"));
    // An ALB balances across zones: no zone finding. An NLB does not by default.
    assert!(statics_of(&p, Code::ZoneWithoutTargets).is_empty());
    let nlb = PATH.replace("kind: alb", "kind: nlb").replace(
        "      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}\n",
        "",
    );
    let p = policy(&nlb);
    let zones = statics_of(&p, Code::ZoneWithoutTargets);
    assert_eq!(zones.len(), 1, "{zones:#?}");
    assert!(zones[0].summary.contains("zone b"), "{}", zones[0].summary);
    assert!(
        zones[0]
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("load_balancing.cross_zone.enabled,Value=true")
    );
    let p = policy(&nlb.replace(
        "    scheme: internet-facing",
        "    scheme: internet-facing\n    cross_zone: true",
    ));
    assert!(statics_of(&p, Code::ZoneWithoutTargets).is_empty());
}

#[test]
fn reported_health_is_carried_and_a_contradiction_is_flagged() {
    let yaml = PATH.replace(
        "      - {name: web-1, address: 10.0.1.5, security_groups: [sg-web]}",
        "      - {name: web-1, address: 10.0.1.5, security_groups: [sg-web], reported_health: {state: unhealthy, reason: Target.Timeout}}",
    );
    let p = policy(&yaml);
    let checks = plan(&p, Some("web-1"));
    let hc = checks
        .iter()
        .find(|c| c.role == Role::HealthCheck)
        .expect("health check");
    let persp = perspectives(&p, hc, AGENT_PORTS);
    let passed = obs(hc, State::Open, Reason::HttpResponse, true);
    let f = diagnose(&p, hc, &persp, Some(&passed));
    assert_eq!(f.code, Code::ReportedHealthDiffers, "{}", f.summary);
    assert_eq!(f.severity, Severity::Warning);
    let reported = f.reported.as_ref().expect("reported");
    assert_eq!(
        (reported.state.as_str(), reported.reason.as_deref()),
        ("unhealthy", Some("Target.Timeout"))
    );
    assert!(
        f.summary.contains("unhealthy (Target.Timeout)"),
        "{}",
        f.summary
    );
    // Statically there is nothing to contradict.
    let f = diagnose(&p, hc, &persp, None);
    assert_eq!(f.code, Code::Ok);
    assert!(f.reported.is_some());
    // The same report on a failing check agrees.
    let dropped = obs(hc, State::Filtered, Reason::NoResponse, false);
    let f = diagnose(&p, hc, &persp, Some(&dropped));
    assert!(
        !f.also.contains(&Code::ReportedHealthDiffers) && f.code != Code::ReportedHealthDiffers
    );
}

#[test]
fn a_client_side_probe_tells_a_host_firewall_from_a_rule() {
    // `probe check --from clients`: the agent stands outside, as a client.
    let yaml = PATH.replace(
        "agent: {address: 10.0.1.10, security_groups: [sg-agent]}",
        "agent: {address: 203.0.113.50}",
    );
    let p = policy(&yaml);
    let mut checks = plan(&p, None);
    let c = checks
        .iter_mut()
        .find(|c| c.role == Role::Client)
        .expect("client check");
    c.probe_from_agent = true;
    let persp = perspectives(&p, c, AGENT_PORTS);
    assert!(persp.agent.as_ref().is_some_and(|v| v.allowed()));
    let dropped = obs(c, State::Filtered, Reason::NoResponse, false);
    let f = diagnose(&p, c, &persp, Some(&dropped));
    assert_eq!(f.code, Code::HostFirewallSuspected);
    assert_eq!(f.role, Role::Client);
}

#[test]
fn single_addresses_in_fixes_are_prefixes() {
    // The agent's own rule on the health-check port removed: the fix names the agent as a /32.
    let yaml = PATH
        .replace(
            "      - {direction: ingress, protocol: tcp, ports: \"80,8081\", group: sg-agent}\n",
            "",
        )
        .replace(
            "agent: {address: 10.0.1.10, security_groups: [sg-agent]}",
            "agent: {address: 10.0.0.10}",
        );
    let p = policy(&yaml);
    let checks = plan(&p, Some("web-1"));
    let hc = checks
        .iter()
        .find(|c| c.role == Role::HealthCheck)
        .expect("health check");
    let persp = perspectives(&p, hc, AGENT_PORTS);
    let f = diagnose(&p, hc, &persp, None);
    assert_eq!(f.code, Code::ProbePerspectiveDiffers);
    // The agent is denied where the load balancer is not: the fix lets the agent in.
    let fix = f.fix.as_deref().unwrap_or_default();
    assert!(fix.contains("--cidr 10.0.0.10/32"), "{:?} {fix}", f.code);
}
