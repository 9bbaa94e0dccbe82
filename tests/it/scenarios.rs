//! Diagnosis scenarios with real packets: the configuration is rendered into the lab as real
//! nftables rules (security groups on each host, stateful; network ACLs on a router, stateless
//! for AWS), real services run on the backends, and the real binary runs `probe check` from the
//! load balancer's subnet. Each test then asserts the exact code and blocking rule.
//!
//! Topology, built from the model itself: one namespace per host (the agent and each member),
//! each on its own veth to a router namespace that owns the `.1` address of every subnet and
//! forwards between them.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use probe::config::{self, Source};
use probe::model::{Action, Direction, IpProto, Model, PortSet};
use serde_json::Value;

use crate::lab::Lab;

pub(crate) const AGENT: &str = "10.0.0.10";

/// The lab built from a model, with the namespaces of its hosts.
pub(crate) struct Topology {
    pub(crate) lab: Lab,
    pub(crate) agent: String,
    pub(crate) agent_addr: IpAddr,
    /// (namespace, address) of each member, in model order.
    pub(crate) members: Vec<(String, IpAddr)>,
}

pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Copies `base` into the lab's directory under `name` and lays `overlay` files over it.
pub(crate) fn compose(lab: &Lab, name: &str, base: &str, overlay: Option<&str>) -> PathBuf {
    let dir = lab.dir.join(name);
    std::fs::create_dir_all(&dir).expect("fixture copy directory");
    let mut dirs = vec![fixture(base)];
    if let Some(o) = overlay {
        dirs.push(fixture(o));
    }
    for d in dirs {
        for entry in std::fs::read_dir(&d).expect("read fixture directory") {
            let p = entry.expect("fixture entry").path();
            std::fs::copy(&p, dir.join(p.file_name().expect("file name"))).expect("copy fixture");
        }
    }
    dir
}

pub(crate) fn load(source: &Source, agent: IpAddr) -> Model {
    config::load(source, Some(agent)).expect("fixture loads")
}

pub(crate) fn prefix_len(model: &Model, addr: IpAddr) -> (String, u8, String) {
    let s = model
        .subnets
        .iter()
        .find(|s| s.cidr.contains(&addr))
        .unwrap_or_else(|| panic!("no subnet holds {addr}"));
    let gw = match s.cidr.network() {
        IpAddr::V4(n) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(n) + 1)),
        IpAddr::V6(_) => panic!("the scenario lab is IPv4"),
    };
    (s.id.clone(), s.cidr.prefix_len(), gw.to_string())
}

/// Builds namespaces, links and routes for the agent, every member and every load balancer
/// address of `model`. Each subnet is a bridge in the router that owns the subnet's `.1`.
pub(crate) fn build(test: &str, model: &Model, agent: IpAddr) -> Topology {
    let mut lab = Lab::new(test);
    let router = lab.namespace("router");
    lab.sysctl(&router, "net.ipv4.ip_forward", "1");
    // Bridged frames between hosts of one subnet must not meet the ACLs (no br_netfilter).
    lab.sh(
        &router,
        &[
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null; true",
        ],
    );
    let mut hosts: Vec<(String, IpAddr)> = vec![("agent".into(), agent)];
    for (i, m) in model
        .backend_groups
        .iter()
        .flat_map(|g| &g.members)
        .enumerate()
    {
        hosts.push((format!("m{i}"), m.address));
    }
    for (i, lb) in model.load_balancers.iter().enumerate() {
        if let Some(vip) = lb.address {
            hosts.push((format!("vip{i}"), vip));
        }
    }
    let mut bridges: Vec<String> = Vec::new();
    let mut names = Vec::new();
    for (i, (role, addr)) in hosts.iter().enumerate() {
        let ns = lab.namespace(role);
        let (subnet, len, gw) = prefix_len(model, *addr);
        let k = match bridges.iter().position(|b| *b == subnet) {
            Some(k) => k,
            None => {
                let k = bridges.len();
                bridges.push(subnet.clone());
                let br = format!("br{k}");
                lab.sh(&router, &["ip", "link", "add", &br, "type", "bridge"]);
                lab.add_address(&router, &format!("{gw}/{len}"), &br);
                lab.sh(&router, &["ip", "link", "set", &br, "up"]);
                k
            }
        };
        let port = format!("h{i}");
        lab.sh(
            &router,
            &[
                "ip", "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        );
        lab.sh(
            &router,
            &["ip", "link", "set", &port, "master", &format!("br{k}")],
        );
        lab.sh(&router, &["ip", "link", "set", &port, "up"]);
        lab.add_address(&ns, &format!("{addr}/{len}"), "eth0");
        lab.sh(&ns, &["ip", "link", "set", "eth0", "up"]);
        lab.sh(&ns, &["ip", "route", "add", "default", "via", &gw]);
        names.push((ns, *addr));
    }
    let agent = names.remove(0).0;
    let member_count = model
        .backend_groups
        .iter()
        .map(|g| g.members.len())
        .sum::<usize>();
    let vips = names.split_off(member_count);

    // The router enforces every subnet's ACL on the bridge of that subnet.
    lab.nft(&router, &acl_ruleset(model, &bridges));

    // A load balancer address answers on its listeners and enforces their access control.
    for ((ns, vip), lb) in vips
        .iter()
        .zip(model.load_balancers.iter().filter(|l| l.address.is_some()))
    {
        let mut rules = String::new();
        for l in &lb.listeners {
            match l.protocol.transport() {
                IpProto::Udp => lab.udp_responder(ns, &format!("{vip}:{}", l.port), b"lb:"),
                _ => lab.tcp_listener(ns, &format!("{vip}:{}", l.port)),
            }
            rules.push_str(&access_rule(model, l, None));
        }
        lab.nft(
            ns,
            &format!(
                "table ip access {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n{rules}  }}\n}}\n"
            ),
        );
    }
    let agent_addr = hosts[0].1;

    // Each host enforces its security groups, stateful.
    let agent_groups = model.agent.security_groups.clone();
    let member_groups: Vec<Vec<String>> = model
        .backend_groups
        .iter()
        .flat_map(|g| &g.members)
        .map(|m| m.security_groups.clone())
        .collect();
    let carriers = |group: &str| -> Vec<String> {
        let mut out = Vec::new();
        if agent_groups.iter().any(|g| g == group) {
            out.push(format!("{}/32", model.agent.address.unwrap_or(agent_addr)));
        }
        for (m, gs) in model
            .backend_groups
            .iter()
            .flat_map(|g| &g.members)
            .zip(&member_groups)
        {
            if gs.iter().any(|g| g == group) {
                out.push(format!("{}/32", m.address));
            }
        }
        out
    };
    let mut host_groups = vec![(agent.clone(), agent_groups.clone())];
    host_groups.extend(
        names
            .iter()
            .map(|(ns, _)| ns.clone())
            .zip(member_groups.clone()),
    );
    for (ns, groups) in host_groups {
        if groups.is_empty() {
            continue;
        }
        let chains = sg_chains(model, &groups, &carriers);
        lab.nft(
            &ns,
            &format!(
                "table ip sg {{
  chain input {{
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif \"lo\" accept
{}  }}
  chain output {{
    type filter hook output priority 0; policy drop;
    ct state established,related accept
    oif \"lo\" accept
{}  }}
}}
",
                chains[0], chains[1]
            ),
        );
    }
    Topology {
        lab,
        agent,
        agent_addr,
        members: names,
    }
}

/// The nftables rule that enforces listener `l`'s access control (empty without one): drop what
/// a whitelist does not name, or what a blacklist names, on the listener's port (and, with
/// `daddr`, to that address only).
pub(crate) fn access_rule(
    model: &Model,
    l: &probe::model::Listener,
    daddr: Option<IpAddr>,
) -> String {
    let Some(ac) = &l.access_control else {
        return String::new();
    };
    let mut cidrs: Vec<String> = ac
        .cidrs
        .iter()
        .filter(|c| c.addr().is_ipv4())
        .map(|c| c.trunc().to_string())
        .collect();
    for g in &ac.address_groups {
        cidrs.extend(
            model
                .address_groups
                .iter()
                .filter(|x| &x.id == g)
                .flat_map(|x| x.cidrs.iter())
                .filter(|c| c.addr().is_ipv4())
                .map(|c| c.trunc().to_string()),
        );
    }
    let set = format!("{{ {} }}", cidrs.join(", "));
    let proto = match l.protocol.transport() {
        IpProto::Udp => "udp",
        _ => "tcp",
    };
    let not = match ac.mode {
        probe::model::AccessMode::Whitelist => "!= ",
        probe::model::AccessMode::Blacklist => "",
    };
    let to = daddr.map(|a| format!("ip daddr {a} ")).unwrap_or_default();
    format!(
        "    {to}{proto} dport {} ip saddr {not}{set} drop\n",
        l.port
    )
}

/// The router's nftables ruleset: every subnet's network ACL, stateless unless it says otherwise,
/// enforced where traffic enters (`oifname`) and leaves (`iifname`) the bridge `br<k>` of subnet
/// `bridges[k]`.
pub(crate) fn acl_ruleset(model: &Model, bridges: &[String]) -> String {
    let mut ruleset = String::from("table ip acl {\n");
    let mut forward = String::new();
    for (k, subnet) in bridges.iter().enumerate() {
        let Some(acl) = model
            .network_acls
            .iter()
            .find(|a| a.subnets.contains(subnet))
        else {
            continue;
        };
        for (dir, rules, hook) in [
            ("in", &acl.inbound, format!("oifname \"br{k}\"")),
            ("out", &acl.outbound, format!("iifname \"br{k}\"")),
        ] {
            ruleset.push_str(&format!("  chain acl_{k}_{dir} {{\n"));
            if acl.stateful {
                ruleset.push_str("    ct state established,related return\n");
            }
            let mut ordered: Vec<_> = rules.iter().collect();
            ordered.sort_by_key(|r| r.number);
            for r in ordered {
                let (remote, local) = if dir == "in" {
                    ("saddr", "daddr")
                } else {
                    ("daddr", "saddr")
                };
                let mut m = String::new();
                if let Some(c) = r.cidr {
                    m.push_str(&format!("ip {remote} {} ", c.trunc()));
                }
                if let Some(c) = r.local_cidr {
                    m.push_str(&format!("ip {local} {} ", c.trunc()));
                }
                m.push_str(&proto_match(r.protocol, &r.ports, r.icmp_type, r.icmp_code));
                let verdict = if r.action == Action::Allow {
                    "return"
                } else {
                    "drop"
                };
                ruleset.push_str(&format!("    {m} {verdict}\n"));
            }
            ruleset.push_str("    drop\n  }\n");
            forward.push_str(&format!("    {hook} jump acl_{k}_{dir}\n"));
        }
    }
    ruleset.push_str(&format!(
        "  chain forward {{\n    type filter hook forward priority 0; policy accept;\n{forward}  }}\n}}\n"
    ));
    ruleset
}

/// The nftables rules of the security groups `groups` of one interface: (ingress, egress), each
/// rule `accept` or `drop`, in the order the groups rank them; `carriers` gives the addresses that
/// carry a group a rule refers to.
pub(crate) fn sg_chains(
    model: &Model,
    groups: &[String],
    carriers: &dyn Fn(&str) -> Vec<String>,
) -> [String; 2] {
    let mut chains = [String::new(), String::new()];
    let mut rules: Vec<_> = model
        .security_groups
        .iter()
        .filter(|g| groups.contains(&g.id))
        .flat_map(|g| &g.rules)
        .collect();
    rules.sort_by_key(|r| (r.priority.unwrap_or(1), r.action == Action::Allow));
    for r in rules {
        let (chain, field) = match r.direction {
            Direction::Ingress => (0, "saddr"),
            Direction::Egress => (1, "daddr"),
        };
        let nets: Vec<String> = if let Some(c) = r.cidr {
            vec![c.trunc().to_string()]
        } else if let Some(g) = &r.group {
            carriers(g)
        } else if let Some(a) = &r.address_group {
            model
                .address_groups
                .iter()
                .filter(|x| &x.id == a)
                .flat_map(|x| x.cidrs.iter().map(|c| c.trunc().to_string()))
                .collect()
        } else {
            vec!["0.0.0.0/0".to_string()]
        };
        let m = proto_match(r.protocol, &r.ports, r.icmp_type, r.icmp_code);
        let verdict = if r.action == Action::Allow {
            "accept"
        } else {
            "drop"
        };
        for n in nets.iter().filter(|n| !n.contains(':')) {
            chains[chain].push_str(&format!("    ip {field} {n} {m} {verdict}\n"));
        }
    }
    chains
}

/// The nftables match for a protocol, its ports and ICMP type/code.
pub(crate) fn proto_match(
    proto: IpProto,
    ports: &PortSet,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
) -> String {
    let ports_expr = |kw: &str| {
        if ports.is_any() {
            format!("meta l4proto {kw}")
        } else {
            let items: Vec<String> = ports.0.iter().map(|r| r.to_string()).collect();
            format!("{kw} dport {{ {} }}", items.join(", "))
        }
    };
    match proto {
        IpProto::Any => String::new(),
        IpProto::Tcp => ports_expr("tcp"),
        IpProto::Udp => ports_expr("udp"),
        IpProto::Icmp => match (icmp_type, icmp_code) {
            (Some(t), Some(c)) => format!("icmp type {t} icmp code {c}"),
            (Some(t), None) => format!("icmp type {t}"),
            _ => "meta l4proto icmp".to_string(),
        },
        IpProto::Icmpv6 => "meta l4proto ipv6-icmp".to_string(),
        IpProto::Other(n) => format!("meta l4proto {n}"),
    }
}

/// nginx on every member: the traffic port answers 200, `/health` on 8081 answers `health`.
pub(crate) fn web_servers(t: &mut Topology, health: &[&str]) {
    let members = t.members.clone();
    for ((ns, addr), health) in members.iter().zip(health) {
        let mut blocks =
            format!("server {{ listen {addr}:80; location / {{ return 200 \"ok\\n\"; }} }}\n");
        let mut wait = vec![format!("{addr}:80")];
        if !health.is_empty() {
            blocks.push_str(&format!(
                "server {{ listen {addr}:8081; location /health {{ {health} }} }}\n"
            ));
            wait.push(format!("{addr}:8081"));
        }
        let wait: Vec<&str> = wait.iter().map(String::as_str).collect();
        t.lab.nginx(ns, &blocks, &wait);
    }
}

pub(crate) const HEALTHY: &str = "return 200 \"healthy\\n\";";

/// Runs `probe check` in the agent's namespace and returns the parsed report.
fn check(t: &Topology, source_flag: &str, source: &Path) -> (i32, Value) {
    let run = t.lab.probe(
        &t.agent,
        &[
            "check",
            source_flag,
            source.to_str().expect("utf-8 path"),
            "--source-addr",
            &t.agent_addr.to_string(),
            "--output",
            "json",
            "--no-progress",
        ],
    );
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}): {}\n{}",
            run.stdout, run.stderr
        )
    });
    (run.code.unwrap_or(-1), report)
}

/// Runs `probe check ARGS --output html` in `ns`, keeps the page as `<target>/reports/<name>.html`
/// and checks it in Chromium against `report`, the JSON of the same check ([`Browser::check_report`]);
/// the exit code is `code`, as with JSON.
pub(crate) fn render_report(
    lab: &mut Lab,
    ns: &str,
    name: &str,
    args: &[&str],
    code: i32,
    report: &Value,
) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend(["--output", "html", "--no-progress"]);
    let run = lab.probe(ns, &all);
    assert_eq!(
        run.code,
        Some(code),
        "--output html exits as JSON does: {}",
        run.stderr
    );
    assert!(run.stdout.starts_with("<!DOCTYPE html>"), "{}", run.stdout);
    let path = crate::browser::artefacts("reports").join(format!("{name}.html"));
    std::fs::write(&path, &run.stdout).expect("write the report");
    let browser = crate::browser::Browser::start(lab, ns);
    browser.check_report(&path, report, &format!("report-{name}"));
}

/// Imports the AWS directory to YAML with the real binary, for the same check from YAML.
fn import_yaml(t: &Topology, provider: &str, dir: &Path) -> PathBuf {
    let run = t.lab.probe(
        &t.agent,
        &[
            "import",
            provider,
            dir.to_str().expect("utf-8"),
            "--source-addr",
            &t.agent_addr.to_string(),
        ],
    );
    assert_eq!(run.code, Some(0), "import failed: {}", run.stderr);
    let path = dir.with_extension("yaml");
    std::fs::write(&path, &run.stdout).expect("write imported YAML");
    path
}

/// The finding for (address, role, port).
pub(crate) fn finding<'a>(
    report: &'a Value,
    addr: &str,
    role: &str,
    port: Option<u16>,
) -> &'a Value {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .find(|f| {
            f["address"] == addr
                && f["role"] == role
                && match port {
                    Some(p) => f["port"] == u64::from(p),
                    None => f["port"].is_null(),
                }
        })
        .unwrap_or_else(|| panic!("no {role} finding for {addr}:{port:?} in {report:#}"))
}

/// (code, also, blocking kind/id/rule/direction) of a finding, compact for assertions.
pub(crate) fn verdict(f: &Value) -> (String, Vec<String>, String) {
    let b = &f["blocking"];
    let blocking = if b.is_null() {
        "-".to_string()
    } else {
        format!(
            "{} {} {} {}",
            b["kind"].as_str().unwrap_or("?"),
            b["id"].as_str().unwrap_or("?"),
            b["direction"].as_str().unwrap_or("?"),
            b["rule"].as_str().unwrap_or("?")
        )
    };
    let also = f["also"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (
        f["code"].as_str().unwrap_or("?").to_string(),
        also,
        blocking,
    )
}

/// Every finding as a comparable line, to show that two sources give the same diagnosis.
pub(crate) fn lines(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let (code, also, blocking) = verdict(f);
            format!(
                "{} {} {} {code} {also:?} {blocking}",
                f["address"], f["role"], f["port"]
            )
        })
        .collect()
}

/// Builds the lab from `base` + `live` (what the network enforces), checks with `base` +
/// `config` (what the configuration says) from the provider's JSON and from its imported YAML,
/// which must agree, and returns the exit code and report.
fn scenario(
    test: &str,
    provider: &str,
    base: &str,
    (live, config): (Option<&str>, Option<&str>),
    agent: &str,
    setup: impl FnOnce(&mut Topology),
) -> (i32, Value) {
    let agent: IpAddr = agent.parse().expect("agent address");
    let files = Lab::new(&format!("{test}-files"));
    let live_dir = compose(&files, "live", base, live);
    let config_dir = compose(&files, "config", base, config);
    let source = |d: PathBuf| match provider {
        "aws" => Source::Aws(d),
        _ => Source::Huawei(d),
    };
    let model = load(&source(live_dir), agent);
    let mut t = build(test, &model, agent);
    setup(&mut t);
    let (code, report) = check(&t, &format!("--{provider}"), &config_dir);
    // The table tells the same story: every code, failures with their fix.
    let table = t.lab.probe(
        &t.agent,
        &[
            "check",
            &format!("--{provider}"),
            config_dir.to_str().expect("utf-8"),
            "--source-addr",
            &t.agent_addr.to_string(),
        ],
    );
    eprintln!("{}", table.stdout);
    assert_eq!(table.code, Some(code));
    for f in report["findings"].as_array().expect("findings") {
        let code = f["code"].as_str().unwrap_or("?");
        assert!(
            table.stdout.contains(code),
            "table lacks {code}:\n{}",
            table.stdout
        );
        if let Some(fix) = f["fix"].as_str() {
            assert!(table.stdout.contains(fix), "table lacks the fix {fix}");
        }
    }
    // The HTML report of the same run renders in a real browser, and says the same.
    render_report(
        &mut t.lab,
        &t.agent,
        test,
        &[
            &format!("--{provider}"),
            config_dir.to_str().expect("utf-8"),
            "--source-addr",
            &t.agent_addr.to_string(),
        ],
        code,
        &report,
    );
    let yaml = import_yaml(&t, provider, &config_dir);
    let (yaml_code, yaml_report) = check(&t, "--config", &yaml);
    assert_eq!(
        lines(&report),
        lines(&yaml_report),
        "the JSON and its YAML disagree"
    );
    assert_eq!(code, yaml_code);
    (code, report)
}

/// An AWS scenario on the seed-004 lab: two web servers behind an ALB, the agent in the
/// load balancer's subnet.
fn aws_scenario(
    test: &str,
    live: Option<&str>,
    config: Option<&str>,
    health: [&str; 2],
    extra: impl FnOnce(&mut Topology),
) -> (i32, Value) {
    scenario(test, "aws", "lab/aws-base", (live, config), AGENT, |t| {
        web_servers(t, &health);
        extra(t);
    })
}

pub(crate) const WEB1: &str = "10.0.1.25";
pub(crate) const WEB2: &str = "10.0.11.37";
const SG_WEB: &str = "sg-0fedcba9876543210";
pub(crate) const ACL_APP: &str = "acl-0a9b8c7d6e5f40312";

#[test]
fn all_healthy_backends_are_ok_and_exit_zero() {
    let (code, report) = aws_scenario("healthy", None, None, [HEALTHY, HEALTHY], |_| {});
    for f in report["findings"].as_array().expect("findings") {
        assert_eq!(f["code"], "OK", "{f:#}");
        assert_eq!(f["blocking"], Value::Null);
    }
    // Two members × (traffic, health check), and the listener's client leg: the dump says the
    // ALB is internet-facing, so its clients are judged too (statically, from inside the VPC).
    assert_eq!(report["summary"]["findings"], 5);
    assert_eq!(report["summary"]["ok"], 5);
    let client = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["role"] == "client")
        .expect("a client finding");
    assert_eq!(client["observed"], Value::Null);
    let hc = finding(&report, WEB1, "health_check", Some(8081));
    assert_eq!(hc["observed"]["http"]["status"], 200);
    // The provider's own report (describe-target-health) rides along, and agrees.
    assert_eq!(hc["reported"]["state"], "healthy", "{hc:#}");
    assert_eq!(code, 0);
}

#[test]
fn security_group_missing_the_health_check_port() {
    let (code, report) = aws_scenario(
        "sg-hc",
        Some("lab/scenarios/sg-missing-hc-port"),
        Some("lab/scenarios/sg-missing-hc-port"),
        [HEALTHY, HEALTHY],
        |_| {},
    );
    for addr in [WEB1, WEB2] {
        let f = finding(&report, addr, "health_check", Some(8081));
        assert_eq!(f["observed"]["state"], "filtered");
        assert_eq!(
            verdict(f),
            (
                "HEALTH_CHECK_PORT_BLOCKED".into(),
                // The dump's describe-target-health says healthy: the provider's report
                // contradicts what the probe finds (verdicts.md, REPORTED_HEALTH_DIFFERS).
                vec![
                    "SG_INGRESS_MISSING".into(),
                    "REPORTED_HEALTH_DIFFERS".into()
                ],
                format!("security_group {SG_WEB} ingress *")
            )
        );
        assert_eq!(
            f["fix"],
            format!(
                "aws ec2 authorize-security-group-ingress --group-id {SG_WEB} --protocol tcp --port 8081 --source-group sg-0123456789abcdef0"
            )
        );
        assert_eq!(finding(&report, addr, "traffic", Some(80))["code"], "OK");
    }
    assert_eq!(code, 1);
}

#[test]
fn network_acl_denies_by_rule_number() {
    let (code, report) = aws_scenario(
        "nacl-deny",
        Some("lab/scenarios/nacl-deny-rule"),
        Some("lab/scenarios/nacl-deny-rule"),
        [HEALTHY, HEALTHY],
        |_| {},
    );
    let f = finding(&report, WEB1, "traffic", Some(80));
    assert_eq!(f["observed"]["state"], "filtered");
    assert_eq!(
        verdict(f),
        (
            "NACL_DENY".into(),
            vec![],
            format!("network_acl {ACL_APP} ingress 90")
        )
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("--rule-number 89") && s.contains("--ingress")),
        "{f:#}"
    );
    assert_eq!(
        finding(&report, WEB1, "health_check", Some(8081))["code"],
        "OK"
    );
    assert_eq!(code, 1);
}

#[test]
fn nacl_without_ephemeral_outbound_blocks_the_return_path() {
    let (_, report) = aws_scenario(
        "nacl-eph",
        Some("lab/scenarios/nacl-no-ephemeral"),
        Some("lab/scenarios/nacl-no-ephemeral"),
        [HEALTHY, HEALTHY],
        |_| {},
    );
    let f = finding(&report, WEB2, "traffic", Some(80));
    assert_eq!(f["observed"]["state"], "filtered", "the SYN-ACK is dropped");
    assert_eq!(
        verdict(f),
        (
            "NACL_RETURN_BLOCKED".into(),
            vec![],
            format!("network_acl {ACL_APP} egress *")
        )
    );
    let fix = f["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains("--egress")
            && fix.contains("From=1024,To=65535")
            && fix.contains("10.0.0.0/24"),
        "{fix}"
    );
}

#[test]
fn host_firewall_drop_absent_from_the_configuration() {
    let (_, report) = aws_scenario("hostfw", None, None, [HEALTHY, HEALTHY], |t| {
        let ns = t.members[0].0.clone();
        t.lab.nft(
            &ns,
            "table ip hostfw {\n  chain input {\n    type filter hook input priority -10; policy accept;\n    tcp dport 8081 drop\n  }\n}\n",
        );
    });
    let f = finding(&report, WEB1, "health_check", Some(8081));
    assert_eq!(
        verdict(f),
        (
            "HOST_FIREWALL_SUSPECTED".into(),
            vec!["REPORTED_HEALTH_DIFFERS".into()],
            format!("host {WEB1} ingress *")
        )
    );
    assert_eq!(
        finding(&report, WEB2, "health_check", Some(8081))["code"],
        "OK"
    );
}

#[test]
fn service_not_listening_is_a_closed_port() {
    let (_, report) = aws_scenario("closed", None, None, ["", HEALTHY], |_| {});
    let f = finding(&report, WEB1, "health_check", Some(8081));
    assert_eq!(f["observed"]["state"], "closed");
    assert_eq!(
        verdict(f),
        (
            "PORT_CLOSED".into(),
            vec!["REPORTED_HEALTH_DIFFERS".into()],
            format!("service {WEB1}:8081/tcp ingress *")
        )
    );
}

#[test]
fn health_check_answering_302_against_a_matcher_of_200() {
    let (_, report) = aws_scenario(
        "redirect",
        None,
        None,
        ["return 302 http://lab.test/login;", HEALTHY],
        |_| {},
    );
    let f = finding(&report, WEB1, "health_check", Some(8081));
    assert_eq!(f["observed"]["http"]["status"], 302);
    assert_eq!(verdict(f).0, "RESPONSE_CODE_MISMATCH");
    assert!(
        f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("302") && s.contains("expects 200"))
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("--matcher HttpCode=200,302"))
    );
}

#[test]
fn configuration_denies_what_the_live_network_allows() {
    let (_, report) = aws_scenario(
        "drift",
        None,
        Some("lab/scenarios/config-drift"),
        [HEALTHY, HEALTHY],
        |_| {},
    );
    let f = finding(&report, WEB1, "traffic", Some(80));
    assert_eq!(f["observed"]["state"], "open");
    assert_eq!(f["severity"], "warning");
    let (code, also, _) = verdict(f);
    assert_eq!(code, "CONFIG_DRIFT_ALLOWED");
    assert_eq!(
        also,
        ["SG_INGRESS_MISSING"],
        "the load balancer's own verdict follows"
    );
}

const HW_SG_BACKEND: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";

#[test]
fn huawei_udp_health_check_with_icmp_blocked() {
    let (code, report) = scenario(
        "hw-udp",
        "huawei",
        "huawei/dedicated-http-udp",
        (None, None),
        "192.168.0.50",
        |t| {
            let members = t.members.clone();
            for (ns, addr) in &members[..2] {
                t.lab.nginx(
                    ns,
                    &format!(
                        "server {{ listen {addr}:80; location / {{ return 200; }} }}\n\
                         server {{ listen {addr}:8081; location /health {{ {HEALTHY} }} }}\n"
                    ),
                    &[&format!("{addr}:80"), &format!("{addr}:8081")],
                );
            }
            let (ns, addr) = &members[2];
            t.lab.udp_responder(ns, &format!("{addr}:53"), b"dns:");
        },
    );
    // The ICMP echo that UDP_CONNECT sends first is dropped by the backend's security group.
    let f = finding(&report, "192.168.1.21", "health_check", None);
    assert_eq!(f["protocol"], "icmp");
    assert_eq!(f["observed"]["state"], "filtered");
    assert_eq!(
        verdict(f),
        (
            "ICMP_BLOCKED_FOR_UDP_CHECK".into(),
            vec!["SG_INGRESS_MISSING".into()],
            format!("security_group {HW_SG_BACKEND} ingress *")
        )
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("CreateSecurityGroupRule")
                && s.contains("protocol=icmp")
                && s.contains("remote_ip_prefix=192.168.0.0/24")),
        "{f:#}"
    );
    // The UDP datagram itself passes, and the web members are healthy.
    assert_eq!(
        finding(&report, "192.168.1.21", "health_check", Some(53))["code"],
        "OK"
    );
    assert_eq!(
        finding(&report, "192.168.1.11", "health_check", Some(8081))["code"],
        "OK"
    );
    assert_eq!(code, 1);
}

#[test]
fn listener_whitelist_excluding_the_source() {
    let (_, report) = scenario(
        "hw-acl",
        "huawei",
        "huawei/shared-l4-no-ip-backend",
        (None, None),
        "10.0.1.50",
        |t| {
            for (ns, addr) in t.members.clone() {
                t.lab.tcp_listener(&ns, &format!("{addr}:8080"));
            }
        },
    );
    let f = finding(&report, "10.0.1.100", "listener", Some(8080));
    assert_eq!(f["observed"]["state"], "filtered");
    assert_eq!(
        verdict(f),
        (
            "ACCESS_CONTROL_DENY".into(),
            vec![],
            "access_control b2c3d4e5-bbbb-4ccc-9ddd-eeeeffff0002 ingress *".into()
        )
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("add 10.0.1.50 to IP address group"))
    );
    // "IP as a backend" is off on this L4 listener: the rules-not-enforced note comes with it.
    let info = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "RULES_NOT_ENFORCED")
        .expect("RULES_NOT_ENFORCED finding");
    assert_eq!(info["severity"], "info");
}

/// The network ACL lab (`nacl-deny-rule` enforced and configured), its web servers up: the
/// lab of the files (kept alive with it), the AWS dump's directory, the topology.
pub(crate) fn nacl_deny_lab(test: &str) -> (Lab, PathBuf, Topology) {
    let agent: IpAddr = AGENT.parse().expect("agent address");
    let files = Lab::new(&format!("{test}-files"));
    let dir = compose(
        &files,
        "aws",
        "lab/aws-base",
        Some("lab/scenarios/nacl-deny-rule"),
    );
    let model = load(&Source::Aws(dir.clone()), agent);
    let mut t = build(test, &model, agent);
    web_servers(&mut t, &[HEALTHY, HEALTHY]);
    (files, dir, t)
}

/// The agent's live status page in Chromium, behind TLS and basic authentication, on the
/// network ACL lab: the rows arrive by the page's own updates (never a reload), the NACL_DENY
/// row opens on its path with the ACL hop marked with its rule number and stays open across
/// updates, the filters narrow the rows in place, and the page reads in light, dark and at
/// 200 % with no console error or failed request.
#[test]
fn agent_status_page_in_a_browser() {
    use base64::Engine as _;
    use serde_json::json;
    use std::time::Duration;

    let (_files, dir, mut t) = nacl_deny_lab("status-page");
    let (web, _) = t.lab.tls_and_basic_auth();
    let listen = "127.0.0.1:9465";
    let log = t.lab.dir.join("agent.log");
    let (ns, addr) = (t.agent.clone(), t.agent_addr.to_string());
    t.lab.spawn(
        &ns,
        &[
            crate::lab::probe_bin(),
            "agent",
            "--aws",
            dir.to_str().expect("utf-8"),
            "--source-addr",
            &addr,
            "--listen",
            listen,
            "--web-config",
            web.to_str().expect("utf-8"),
            "--interval",
            "2s",
        ],
        &log,
    );
    t.lab.wait_listening(&ns, listen);

    let b = crate::browser::Browser::start(&mut t.lab, &ns);
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    b.cdp(
        "Network.setExtraHTTPHeaders",
        json!({"headers": {"Authorization": format!("Basic {auth}")}}),
    );
    b.goto(&format!("https://{listen}/"));
    assert_eq!(
        b.eval("return document.title", json!([])),
        "probe agent — status"
    );
    b.eval("window.kept = 1", json!([]));
    // The NACL_DENY rows come by the page's own update: the page object is the same one.
    let row = b.wait_for(
        "a NACL_DENY row after an update in place",
        "if (window.kept !== 1 || !document.documentElement.dataset.updated) return null;\
         const s = [...document.querySelectorAll('summary.row')]\
           .find(s => s.textContent.includes('NACL_DENY'));\
         return s ? s.id : null",
        Duration::from_secs(40),
    );
    let row = row.as_str().expect("row id").to_string();
    assert_eq!(
        b.eval(
            "return document.getElementById('stale').checkVisibility()",
            json!([])
        ),
        false,
        "the \"not updating\" notice shows only when an update failed"
    );
    // Opened from the keyboard, it shows the path with the ACL hop marked, rule 90.
    b.keys(&format!("#{row}"), "\u{E007}");
    let marked = b.eval(
        "return [...document.getElementById(arguments[0]).parentElement\
           .querySelectorAll('svg .n.block')].map(n => n.textContent)",
        json!([row]),
    );
    let marked: Vec<&str> = marked
        .as_array()
        .expect("marked hops")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(marked.len(), 1, "one marked hop: {marked:?}");
    assert!(
        marked[0].contains(&format!("network ACL / firewall {ACL_APP}"))
            && marked[0].contains("rule 90")
            && marked[0].contains("BLOCKS HERE"),
        "{marked:?}"
    );
    // It stays open, with the focus on it, across the next update.
    let before = b.eval("return document.documentElement.dataset.updated", json!([]));
    b.wait_for(
        "the next update",
        &format!("return document.documentElement.dataset.updated !== {before}",),
        Duration::from_secs(15),
    );
    assert_eq!(
        b.eval(
            &format!(
                "const d = document.getElementById('{row}').parentElement;\
                 return [d.open, document.activeElement.id]"
            ),
            json!([])
        ),
        json!([true, row]),
        "the open row stays open and focused after an update"
    );
    // Failing only: the two NACL_DENY rows, in place, the address bar saying so.
    b.click("input[name=failing]");
    b.wait_for(
        "the failing rows only",
        "const rows = [...document.querySelectorAll('summary.row')];\
         return location.search === '?failing=1' && rows.length === 2 &&\
           rows.every(r => r.textContent.includes('NACL_DENY'))",
        Duration::from_secs(15),
    );
    // By code: OK only; then back to every row.
    b.eval(
        "const s = document.querySelector('select[name=code]'); s.value = 'OK';\
         s.dispatchEvent(new Event('change', {bubbles: true}))",
        json!([]),
    );
    b.wait_for(
        "no failing OK row",
        "return location.search === '?failing=1&code=OK' &&\
           document.getElementById('showing').textContent.startsWith('Showing 0–0 of 0')",
        Duration::from_secs(15),
    );
    b.goto(&format!("https://{listen}/"));
    // The README's picture: the failing row open on its path.
    b.keys(&format!("#{row}"), "\u{E007}");
    b.check_readable("status");
    b.screenshot_sized("status-tall", 1100, 1300);
    b.assert_clean_log("status page");
    assert_eq!(
        b.eval("return window.kept", json!([])),
        Value::Null,
        "only the explicit navigation reloaded the page"
    );
}
