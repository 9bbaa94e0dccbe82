//! Huawei Cloud's rulebook (seed 000) and the cases of issue 16, judged by the real binary from
//! the dump that Huawei's own SDK models generate (`tests/fixtures/huawei/sdk`, written by
//! `scripts/huawei-fixtures.py`). Each case is a small edit of that dump, made here in JSON, so
//! every key stays the SDK's: `probe validate` must give the exact code, role and blocking rule,
//! and `probe explain` must say the same of the same flow.
//!
//! No packets: these run the configuration only (the lab scenarios send real ones).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::lab::{Lab, ProbeRun, probe_bin};

const SDK: &str = "tests/fixtures/huawei/sdk";

/// The SDK dump, copied to a directory of the test's own and edited there.
struct Dump {
    _lab: Lab,
    dir: PathBuf,
}

impl Dump {
    fn new(test: &str) -> Dump {
        let lab = Lab::new(test);
        let dir = lab.dir.join("dump");
        std::fs::create_dir_all(&dir).expect("dump directory");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(SDK);
        for e in std::fs::read_dir(&src).expect("the SDK fixtures") {
            let e = e.expect("fixture entry");
            std::fs::copy(e.path(), dir.join(e.file_name())).expect("copy a fixture");
        }
        Dump { _lab: lab, dir }
    }

    /// Edits one response file of the dump.
    fn edit(&self, file: &str, f: impl FnOnce(&mut Value)) -> &Self {
        let path = self.dir.join(file);
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read a fixture")).expect("JSON");
        f(&mut v);
        std::fs::write(&path, serde_json::to_vec_pretty(&v).expect("JSON")).expect("write");
        self
    }

    /// Adds a response file, made from an existing one of the same API.
    fn add(&self, file: &str, like: &str, f: impl FnOnce(&mut Value)) -> &Self {
        std::fs::copy(self.dir.join(like), self.dir.join(file)).expect("copy a fixture");
        self.edit(file, f)
    }

    fn run(&self, args: &[&str]) -> ProbeRun {
        let dir = self.dir.to_str().expect("utf-8 path");
        let mut all = vec![args[0], "--huawei", dir, "--output", "json"];
        all.extend_from_slice(&args[1..]);
        let run: ProbeRun = Command::new(probe_bin())
            .args(&all)
            .env("NO_COLOR", "1")
            .output()
            .expect("run probe")
            .into();
        assert!(
            !run.stderr.contains("panicked"),
            "probe {all:?} panicked: {}",
            run.stderr
        );
        run
    }

    /// `probe validate`: exit code and report.
    fn validate(&self) -> (i32, Value) {
        let run = self.run(&["validate"]);
        (run.code.unwrap_or(-1), report(&run))
    }

    /// `probe explain --from FROM --to TO`: the findings it prints.
    fn explain(&self, from: &str, to: &str) -> Vec<Value> {
        let run = self.run(&["explain", "--from", from, "--to", to]);
        report(&run)["findings"]
            .as_array()
            .expect("findings")
            .clone()
    }
}

fn report(run: &ProbeRun) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        )
    })
}

/// The one finding of `role` on `address` (a member or a listener's address) and `port`.
fn finding<'a>(report: &'a Value, role: &str, address: &str, port: Option<u16>) -> &'a Value {
    let all: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["role"] == role
                && f["address"] == address
                && port.is_none_or(|p| f["port"] == u64::from(p))
                && (port.is_some() || f["port"].is_null())
        })
        .collect();
    assert_eq!(
        all.len(),
        1,
        "one {role} finding on {address} port {port:?} expected, in {report:#}"
    );
    all[0]
}

/// (code, blocking as `kind id direction rule`, or "" when nothing blocks) of a finding.
fn verdict(f: &Value) -> (String, String) {
    let (code, _, blocking) = crate::scenarios::verdict(f);
    (
        code,
        if blocking == "-" {
            String::new()
        } else {
            blocking
        },
    )
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Asserts that `explain` of the finding's own flow reaches the same decision and blocking hop.
fn explain_agrees(d: &Dump, from: &str, f: &Value) {
    let to = match f["port"].as_u64() {
        Some(p) => format!(
            "{}:{p}/{}",
            f["address"].as_str().expect("address"),
            match f["protocol"].as_str() {
                Some("udp") => "udp",
                _ => "tcp",
            }
        ),
        None => format!("{}/icmp", f["address"].as_str().expect("address")),
    };
    let got = d.explain(from, &to);
    let same: Vec<&Value> = got.iter().filter(|g| g["role"] == f["role"]).collect();
    assert_eq!(same.len(), 1, "explain --from {from} --to {to}: {got:#?}");
    assert_eq!(
        same[0]["expected"]["decision"], f["expected"]["decision"],
        "explain --from {from} --to {to} disagrees with validate:\n{:#}\n{f:#}",
        same[0]
    );
    assert_eq!(
        verdict(same[0]),
        verdict(f),
        "explain --from {from} --to {to}"
    );
}

#[test]
fn huawei_sdk_dump_health_check_denied_by_a_firewall_rule_gets_a_positional_fix() {
    let d = Dump::new("hw-sdk-fw");
    let (code, r) = d.validate();
    assert_eq!(code, 1);
    // The shared load balancer's health checks come from 100.125.0.0/16, which fw-app's last
    // rule (a deny of everything) refuses on 8080. Rules are positions: the fix inserts an allow
    // right after the rule above that deny, by id.
    for member in ["192.168.1.31", "192.168.1.32"] {
        let f = finding(&r, "health_check", member, Some(8080));
        assert_eq!(
            verdict(f),
            (
                "NACL_DENY".into(),
                "network_acl fw-app ingress fwr-5".into()
            )
        );
        let fix = f["fix"].as_str().expect("fix");
        for part in [
            "hcloud VPC AddFirewallRules/v3",
            "--firewall_id=fw-app",
            "--firewall.insert_after_rule=fwr-4",
            "--firewall.ingress_rules.1.action=allow",
            "--firewall.ingress_rules.1.source_ip_address=100.125.0.0/16",
            "--firewall.ingress_rules.1.destination_port=8080",
        ] {
            assert!(fix.contains(part), "{part} missing from {fix}");
        }
        explain_agrees(&d, "lb:elb-shared", f);
    }
    // The listener has transparent client IP on: its forwarded traffic bypasses the firewall
    // (Huawei: rules do not take effect), said once as RULES_NOT_ENFORCED.
    assert_eq!(
        verdict(finding(&r, "traffic", "192.168.1.31", Some(8080))),
        ("OK".into(), String::new())
    );
    let info = statics(&r, "RULES_NOT_ENFORCED");
    assert_eq!(info.len(), 1, "{info:#?}");
    assert_eq!(info[0]["port"], 8080);
    assert!(
        info[0]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("transparent client IP is on")),
        "{:#}",
        info[0]
    );
}

#[test]
fn huawei_sdk_dump_listener_with_two_ip_address_groups_uses_both() {
    let d = Dump::new("hw-sdk-ipg");
    let (_, r) = d.validate();
    // The API gives "ipg-office, ipg-vpn" in one string: the whitelist is both groups. Some
    // clients are on it, so the client leg passes for them: the listener's traffic keeps their
    // address but bypasses the members' rules (transparent client IP), and the whitelist is the
    // only gate on the path.
    let f = finding(&r, "client", "192.168.2.100", Some(8080));
    assert_eq!(verdict(f), ("OK".into(), String::new()));
    assert_eq!(
        f["expected"]["path"],
        json!([{"kind": "access_control", "id": "ipg-office", "direction": "ingress",
                "rule": "203.0.113.0/24", "decision": "allow"}])
    );
    explain_agrees(&d, "clients", f);
    // A source in ipg-vpn's range (192.0.2.10-192.0.2.20) passes the access control; one in
    // neither group does not.
    let vpn = d.explain("192.0.2.15", "192.168.2.100:8080/tcp");
    let hop = &vpn[0]["expected"]["path"][0];
    assert_eq!(
        (&hop["kind"], &hop["decision"], &hop["rule"]),
        (
            &json!("access_control"),
            &json!("allow"),
            &json!("192.0.2.12/30")
        ),
        "{vpn:#?}"
    );
    let other = d.explain("198.51.100.99", "192.168.2.100:8080/tcp");
    assert_eq!(
        verdict(&other[0]),
        (
            "ACCESS_CONTROL_DENY".into(),
            "access_control ipg-office ingress *".into()
        )
    );
}

#[test]
fn huawei_sdk_dump_reported_health_and_every_monitor_type() {
    let d = Dump::new("hw-sdk-reported");
    let (_, r) = d.validate();
    // web-1 is ONLINE overall, but its per-listener status for lsn-http says OFFLINE: the
    // listener's word wins for the findings of that listener's pool.
    let f = finding(&r, "health_check", "192.168.1.11", Some(8081));
    assert_eq!(
        f["reported"],
        json!({"state": "OFFLINE", "reason": "CONNECT_TIMEOUT"})
    );
    assert_eq!(
        finding(&r, "health_check", "192.168.1.12", Some(8081))["reported"],
        json!({"state": "ONLINE"})
    );
    // GRPC, HTTPS and TLS monitors are judged as the connections they make.
    for (addr, port, proto) in [
        ("192.168.1.13", 50051, "tcp"),
        ("192.168.1.14", 443, "https"),
        ("192.168.1.15", 9443, "tcp"),
    ] {
        let f = finding(&r, "health_check", addr, Some(port));
        assert_eq!(f["protocol"], proto, "{f:#}");
        assert_eq!(verdict(f), ("OK".into(), String::new()));
        explain_agrees(&d, "lb:elb-dedicated", f);
    }
}

#[test]
fn huawei_udp_health_check_without_icmp_fails_though_forwarded_traffic_is_exempt() {
    // Seed 000's table, UDP row: the health-check port over UDP *and* ICMP from the backend
    // subnet. "IP as a backend" off exempts the UDP listener's traffic, never its health check.
    let d = Dump::new("hw-sdk-udp");
    d.edit("elb-loadbalancers.json", |v| {
        v["loadbalancers"][0]["ip_target_enable"] = json!(false);
    })
    .edit("vpc-security-group-rules-v3.json", |v| {
        let rules = v["security_group_rules"].as_array_mut().expect("rules");
        rules.retain(|r| r["id"] != "sgr-3");
    });
    let (code, r) = d.validate();
    assert_eq!(code, 1);
    let f = finding(&r, "health_check", "192.168.1.21", None);
    assert_eq!(f["protocol"], "icmp");
    assert_eq!(
        verdict(f),
        (
            "ICMP_BLOCKED_FOR_UDP_CHECK".into(),
            "security_group sg-web ingress *".into()
        )
    );
    let fix = f["fix"].as_str().expect("fix");
    assert!(
        fix.contains("CreateSecurityGroupRule")
            && fix.contains("protocol=icmp")
            && fix.contains("remote_ip_prefix=192.168.0.0/24"),
        "{fix}"
    );
    explain_agrees(&d, "lb:elb-dedicated", f);
    assert_eq!(
        verdict(finding(&r, "health_check", "192.168.1.21", Some(53))),
        ("OK".into(), String::new())
    );
    assert_eq!(
        verdict(finding(&r, "traffic", "192.168.1.21", Some(53))),
        ("OK".into(), String::new())
    );
    let info = statics(&r, "RULES_NOT_ENFORCED");
    assert!(
        info.iter().any(|f| f["port"] == 53
            && f["summary"]
                .as_str()
                .is_some_and(|s| s.contains("\"IP as a backend\" is off"))),
        "{info:#?}"
    );
}

#[test]
fn huawei_shared_listener_without_transparent_client_ip_meets_the_rules() {
    // Shared load balancers have no "IP as a backend": with transparent client IP off, their
    // TCP traffic comes from 100.125.0.0/16 and the members' rules apply to it.
    // The pool's monitor is moved to a port of its own, so that the traffic port is judged
    // apart from the health check.
    let d = Dump::new("hw-sdk-shared");
    d.edit("elb-listeners.json", |v| {
        for l in v["listeners"].as_array_mut().expect("listeners") {
            if l["id"] == "lsn-shr-tcp" {
                l["transparent_client_ip_enable"] = json!(false);
            }
        }
    })
    .edit("elb-healthmonitors.json", |v| {
        for m in v["healthmonitors"].as_array_mut().expect("monitors") {
            if m["pools"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x["id"] == "pool-app"))
            {
                m["monitor_port"] = json!(9000);
            }
        }
    });
    let (_, r) = d.validate();
    let f = finding(&r, "traffic", "192.168.1.31", Some(8080));
    assert_eq!(
        verdict(f),
        (
            "NACL_DENY".into(),
            "network_acl fw-app ingress fwr-5".into()
        )
    );
    assert!(
        f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("100.125.0.0/16")),
        "{f:#}"
    );
    assert!(statics(&r, "RULES_NOT_ENFORCED").is_empty());
}

#[test]
fn huawei_deny_all_firewall_on_the_load_balancer_subnet_blocks_clients_and_health_checks() {
    // Seed 000: a firewall on the load balancer's subnet denies everything by default, so "the
    // load balancer cannot receive traffic from the Internet or route traffic to backend
    // servers". The firewall has no rules: its default deny decides.
    let d = Dump::new("hw-sdk-fwlb");
    d.add("vpc-firewall-fw-lb.json", "vpc-firewall-fw-app.json", |v| {
        let fw = &mut v["firewall"];
        fw["id"] = json!("fw-lb");
        fw["name"] = json!("fw-lb");
        fw["ingress_rules"] = json!([]);
        fw["egress_rules"] = json!([]);
        fw["associations"] = json!([{"virsubnet_id": "sub-elb"}]);
    });
    let (code, r) = d.validate();
    assert_eq!(code, 1);
    let client = finding(&r, "client", "192.168.0.10", Some(80));
    assert_eq!(
        verdict(client),
        ("NACL_DENY".into(), "network_acl fw-lb ingress *".into())
    );
    let fix = client["fix"].as_str().expect("fix");
    assert!(
        fix.contains("--firewall_id=fw-lb")
            && !fix.contains("insert_after_rule")
            && fix.contains("--firewall.ingress_rules.1.source_ip_address=0.0.0.0/0")
            && fix.contains("--firewall.ingress_rules.1.destination_port=80"),
        "{fix}"
    );
    explain_agrees(&d, "clients", client);
    let hc = finding(&r, "health_check", "192.168.1.11", Some(8081));
    assert_eq!(
        verdict(hc),
        ("NACL_DENY".into(), "network_acl fw-lb egress *".into())
    );
    explain_agrees(&d, "lb:elb-dedicated", hc);
}

#[test]
fn huawei_members_in_the_default_security_group_get_the_hint() {
    // Seed 000: the default group admits only its own members; the load balancer needs a rule.
    let d = Dump::new("hw-sdk-default");
    d.edit("vpc-security-groups-v3.json", |v| {
        for g in v["security_groups"].as_array_mut().expect("groups") {
            if g["id"] == "sg-web" {
                g["name"] = json!("default");
            }
        }
    })
    .edit("vpc-security-group-rules-v3.json", |v| {
        let rules = v["security_group_rules"].as_array_mut().expect("rules");
        let mut own = rules
            .iter()
            .find(|r| r["id"] == "sgr-1")
            .expect("sgr-1")
            .clone();
        rules.retain(|r| r["security_group_id"] != "sg-web" || r["direction"] == "egress");
        own["id"] = json!("sgr-default");
        own["protocol"] = json!(null);
        own["multiport"] = json!(null);
        own["remote_ip_prefix"] = json!(null);
        own["remote_group_id"] = json!("sg-web");
        rules.push(own);
    });
    let (_, r) = d.validate();
    let f = finding(&r, "health_check", "192.168.1.11", Some(8081));
    assert_eq!(
        verdict(f),
        (
            "SG_INGRESS_MISSING".into(),
            "security_group sg-web ingress *".into()
        )
    );
    assert!(
        f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("default security group")),
        "{f:#}"
    );
}

#[test]
fn huawei_sdk_dump_validate_and_explain_agree_on_every_flow() {
    let d = Dump::new("hw-sdk-agree");
    let (_, r) = d.validate();
    let mut judged = 0;
    for f in r["findings"].as_array().expect("findings") {
        let from = match (f["role"].as_str(), f["load_balancer"].as_str()) {
            (Some("client"), _) => "clients".to_string(),
            (Some("health_check" | "traffic"), Some(lb)) => format!("lb:{lb}"),
            _ => continue,
        };
        explain_agrees(&d, &from, f);
        judged += 1;
    }
    assert!(
        judged >= 20,
        "only {judged} flows judged; codes {:?}",
        codes(&r)
    );
}

/// The static findings with `code`.
fn statics<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == code && f["role"] == "configuration")
        .collect()
}
