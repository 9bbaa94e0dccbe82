//! Command-line behaviour that needs no lab: bad input, exit codes, the JSON contract on loopback.
//! Every target here is on loopback, and bad ones are rejected before any packet is sent.

use std::process::Command;

use crate::lab::{ProbeRun, probe_bin};

fn probe(args: &[&str]) -> ProbeRun {
    Command::new(probe_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run probe")
        .into()
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let run = probe(args);
    assert_eq!(
        run.code,
        Some(2),
        "{args:?} must exit 2; stderr: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "{args:?}: stderr {:?} lacks {needle:?}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked"),
        "{args:?} panicked: {}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{args:?} printed results: {}",
        run.stdout
    );
}

#[test]
fn bad_input_is_one_clear_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-t", "127.0.0.1:70000"],
            "invalid port \"70000\" in target \"127.0.0.1:70000\"",
        ),
        (&["-t", "127.0.0.1:0"], "invalid port \"0\""),
        (&["-t", "127.0.0.1"], "has no port"),
        (
            &["-t", "127.0.0.1:1", "--protocol", "sctp"],
            "unknown protocol \"sctp\"",
        ),
        (
            &["-t", "127.0.0.0/33", "--port", "1"],
            "prefix length 33 is longer than 32",
        ),
        (&["-t", "127.0.0.1", "--port", "70000"], "70000"),
        (&["-t", "127.0.0.1:1", "--timeout", "soon"], "soon"),
        (
            &["-t", "http://127.0.0.1:1/", "--expect-status", "2xx"],
            "invalid status matcher \"2xx\"",
        ),
        (
            &["-t", "udp://127.0.0.1:1", "--payload-hex", "zz"],
            "\"zz\" at byte 1",
        ),
        (
            &["-t", "http://127.0.0.1:1/", "-H", "no-colon"],
            "invalid header \"no-colon\"",
        ),
        (
            &["-t", "ftp://127.0.0.1/"],
            "unsupported URL scheme \"ftp\"",
        ),
        (
            &["--targets-file", "/nonexistent/targets"],
            "targets file /nonexistent/targets: cannot read",
        ),
        (&[], "no targets"),
        (
            &["-t", "127.0.0.1:1", "--ca-file", "/nonexistent/ca.pem"],
            "cannot read CA file /nonexistent/ca.pem",
        ),
    ];
    for (args, needle) in cases {
        assert_usage_error(args, needle);
    }
}

#[test]
fn json_output_carries_the_contract_fields() {
    // Port 1 on loopback: nothing listens, the kernel answers RST.
    let run = probe(&["-o", "json", "-t", "127.0.0.1:1"]);
    assert_eq!(
        run.code,
        Some(1),
        "a closed port is a failed probe: {}",
        run.stderr
    );
    let rows = run.json();
    let row = &rows[0];
    for field in [
        "target", "port", "protocol", "state", "reason", "icmp", "rtt_ms", "http", "tls",
    ] {
        assert!(row.get(field).is_some(), "field {field} missing: {row:#}");
    }
    assert_eq!(row["target"], "127.0.0.1:1");
    assert_eq!(row["port"], 1);
    assert_eq!(row["protocol"], "tcp");
    assert_eq!(
        (row["state"].as_str(), row["reason"].as_str()),
        (Some("closed"), Some("reset"))
    );
}

#[test]
fn help_lists_the_ad_hoc_options() {
    let run = probe(&["--help"]);
    assert_eq!(run.code, Some(0));
    for flag in [
        "--target",
        "--targets-file",
        "--protocol",
        "--timeout",
        "--count",
        "--concurrency",
        "--rate",
        "--expect-status",
        "--payload-hex",
        "--insecure",
        "--output",
    ] {
        assert!(run.stdout.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn every_targets_file_in_probes_parses() {
    use probe::probe::target::{Protocol, TargetDefaults, parse_lines};
    let files = probes_files("txt");
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        let defaults = TargetDefaults {
            protocol: Protocol::Tcp,
            port: Some(80),
            path: "/".into(),
        };
        let targets = parse_lines(&text, &defaults)
            .unwrap_or_else(|(line, e)| panic!("{}:{line}: {e}", path.display()));
        assert!(!targets.is_empty(), "{} has no targets", path.display());
    }
    assert!(!files.is_empty(), "no targets files found in probes/");
}

/// The files in `probes/` with extension `ext`.
fn probes_files(ext: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("probes");
    std::fs::read_dir(&dir)
        .expect("probes/ exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect()
}

#[test]
fn a_closed_stdout_exits_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(probe_bin())
        .args(["-o", "jsonl", "-t", "127.0.0.1:1", "-t", "127.0.0.1:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start probe");
    drop(child.stdout.take()); // like `probe … | head -0`
    let out = child.wait_with_output().expect("wait for probe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Quietly, but not hiding the result (issue 13): nothing listens on port 1, so the probes
    // failed, and the exit code says so as it would have with the output read.
    assert_eq!(
        out.status.code(),
        Some(1),
        "broken pipe exits as the run would: {stderr}"
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}

#[test]
fn every_configuration_in_probes_validates_with_the_binary() {
    let files = probes_files("yaml");
    for path in &files {
        let run = probe(&[
            "validate",
            "--config",
            path.to_str().expect("utf-8"),
            "--output",
            "json",
        ]);
        assert_ne!(run.code, Some(2), "{}: {}", path.display(), run.stderr);
        let report: serde_json::Value =
            serde_json::from_str(&run.stdout).expect("validate prints JSON");
        assert!(
            report["summary"]["findings"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "{} judged nothing",
            path.display()
        );
    }
    assert!(
        files.len() >= 4,
        "expected the four example configurations in probes/, found {}",
        files.len()
    );
}

/// Writes `text` to a fresh file for one test.
fn config_file(name: &str, text: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("probe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

// Bad configuration, dump and targets files: the corpus in tests/fixtures/bad/, run by bad_input.rs.

#[test]
fn a_missing_dump_directory_is_named() {
    assert_usage_error(
        &["check", "--huawei", "/nonexistent/dir"],
        "/nonexistent/dir: cannot read directory",
    );
}

#[test]
fn explain_shows_the_path_and_exits_by_decision() {
    let aws =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws/alb-private");
    let aws = aws.to_str().expect("utf-8");
    let run = probe(&[
        "explain",
        "--aws",
        aws,
        "--from",
        "lb",
        "--to",
        "10.0.1.25:8081/tcp",
    ]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ALLOW"), "{}", run.stdout);
    // SSH from the internet: the ALB's group has no outbound rule for it.
    let run = probe(&[
        "explain",
        "--aws",
        aws,
        "--from",
        "lb",
        "--to",
        "10.0.1.25:22/tcp",
        "--output",
        "json",
    ]);
    assert_eq!(run.code, Some(1));
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let f = &report["findings"][0];
    assert_eq!(f["code"], "SG_EGRESS_MISSING");
    assert_eq!(f["blocking"]["id"], "sg-0123456789abcdef0");
    assert_eq!(f["blocking"]["rule"], "*");
    assert_eq!(f["expected"]["decision"], "deny");
    assert_usage_error(
        &[
            "explain",
            "--aws",
            aws,
            "--from",
            "lb",
            "--to",
            "10.0.1.25:22",
        ],
        "no /PROTO",
    );
}

#[test]
fn import_prints_yaml_that_validates_to_the_same_findings() {
    for (dump, source, expected) in [
        ("alb-private", Some("10.0.0.10"), "sg-0fedcba9876543210"),
        // Routes, nodes, forwards, attributes and a Classic Load Balancer too.
        ("whole-path", None, "rtb-0b2c3d4e5f6a7b8c9"),
    ] {
        let aws = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/aws")
            .join(dump);
        let aws = aws.to_str().expect("utf-8");
        let mut args = vec!["import", "aws", aws];
        args.extend(source.iter().flat_map(|s| ["--source-addr", *s]));
        let run = probe(&args);
        assert_eq!(run.code, Some(0), "{dump}: {}", run.stderr);
        assert!(run.stdout.contains(expected), "{dump}: {}", run.stdout);
        let path = config_file(&format!("imported-{dump}.yaml"), run.stdout.as_bytes());
        let from_yaml = probe(&[
            "validate",
            "--config",
            path.to_str().expect("utf-8"),
            "--output",
            "json",
        ]);
        let from_json = probe(&["validate", "--aws", aws, "--output", "json"]);
        assert_eq!(from_yaml.code, from_json.code, "{dump}");
        let strip = |s: &str| -> serde_json::Value {
            let v: serde_json::Value = serde_json::from_str(s).expect("JSON");
            v["findings"].clone()
        };
        assert_eq!(strip(&from_yaml.stdout), strip(&from_json.stdout), "{dump}");
    }
}

/// The seed-004 configuration with one change, written to a fresh file.
fn seed_004(name: &str, from: &str, to: &str) -> String {
    let base =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/path/seed-004.yaml");
    let text = std::fs::read_to_string(base).expect("fixture");
    assert!(text.contains(from), "the fixture lacks {from:?}");
    let path = config_file(name, text.replacen(from, to, 1).as_bytes());
    path.to_str().expect("utf-8").to_string()
}

/// Seed 004 without the public subnets' outbound rule for ephemeral ports: the clients' answers
/// are dropped on their way back.
fn seed_004_no_return(name: &str) -> String {
    seed_004(
        name,
        "      - {number: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0}\n",
        "",
    )
}

/// `probe explain --config CONFIG --from clients --to` the listener on 443, `--output OUTPUT`.
fn explain_clients<'a>(config: &'a str, output: &'a str) -> Vec<&'a str> {
    vec![
        "explain",
        "--config",
        config,
        "--from",
        "clients",
        "--to",
        "10.0.0.20:443/tcp",
        "--output",
        output,
    ]
}

fn json(run: &ProbeRun) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
}

/// The finding of `role` (and `code`, when given) in a report.
fn finding_of<'a>(report: &'a serde_json::Value, role: &str, code: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["role"] == role && f["code"] == code)
        .unwrap_or_else(|| panic!("no {role} {code} in {report:#}"))
}

#[test]
fn validate_judges_the_client_leg_and_the_routes() {
    // Unchanged, every leg is OK and validate exits 0.
    let ok = seed_004("ok.yaml", "", "");
    let run = probe(&["validate", "--config", &ok, "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let report = json(&run);
    let client = finding_of(&report, "client", "OK");
    assert_eq!(client["backend"], "web-alb:443");
    assert_eq!(client["reported"], serde_json::Value::Null);

    // An internet-facing ALB in the private subnets: not public, by the route table's NAT route.
    let private = seed_004(
        "private.yaml",
        "subnets: [pub-a, pub-b]\n    security_groups: [sg-alb]",
        "subnets: [app-a, app-b]\n    security_groups: [sg-alb]",
    );
    let run = probe(&["validate", "--config", &private, "--output", "json"]);
    assert_eq!(run.code, Some(1));
    let report = json(&run);
    let f = finding_of(&report, "client", "LB_SUBNET_NOT_PUBLIC");
    assert_eq!(
        f["blocking"],
        serde_json::json!({"kind": "route_table", "id": "rtb-main", "rule": "0.0.0.0/0 via nat-1", "direction": "egress"})
    );
    let hops: Vec<&str> = f["expected"]["path"]
        .as_array()
        .expect("path")
        .iter()
        .filter_map(|h| h["kind"].as_str())
        .collect();
    assert_eq!(hops.last(), Some(&"route_table"), "{hops:?}");
    let fix = f["fix"].as_str().expect("fix");
    assert!(
        fix.contains("--route-table-id rtb-main") && fix.contains("--gateway-id igw-1"),
        "{fix}"
    );
    finding_of(&report, "configuration", "LB_SUBNET_NOT_PUBLIC");
    // The table says the same.
    let run = probe(&["validate", "--config", &private]);
    assert!(
        run.stdout.contains("LB_SUBNET_NOT_PUBLIC") && run.stdout.contains("client"),
        "{}",
        run.stdout
    );

    // The load balancer's group without the listener port.
    let closed = seed_004(
        "closed.yaml",
        "      - {direction: ingress, protocol: tcp, ports: 443, cidr: 0.0.0.0/0}\n",
        "",
    );
    let report = json(&probe(&[
        "validate", "--config", &closed, "--output", "json",
    ]));
    let f = finding_of(&report, "client", "SG_INGRESS_MISSING");
    assert_eq!(f["blocking"]["id"], "sg-alb");
    assert_eq!(
        f["fix"],
        "aws ec2 authorize-security-group-ingress --group-id sg-alb --protocol tcp --port 443 --cidr 0.0.0.0/0"
    );
}

#[test]
fn explain_from_clients_walks_the_client_leg() {
    let no_return = seed_004_no_return("no-return.yaml");
    // Any address in the load balancer's subnets stands for its nodes.
    let run = probe(&explain_clients(&no_return, "json"));
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let report = json(&run);
    let f = &report["findings"][0];
    assert_eq!(f["role"], "client");
    assert_eq!(f["code"], "NACL_RETURN_BLOCKED");
    assert_eq!(
        f["blocking"],
        serde_json::json!({"kind": "network_acl", "id": "acl-pub", "rule": "*", "direction": "egress"})
    );
    // The healthy configuration: allowed, exit 0, with the route back to the clients in the path.
    let ok = seed_004("ok-explain.yaml", "", "");
    let run = probe(&explain_clients(&ok, "table"));
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("rtb-pub"), "{}", run.stdout);
    // A port no listener has is a usage error that says what to give.
    assert_usage_error(
        &[
            "explain",
            "--config",
            &ok,
            "--from",
            "clients",
            "--to",
            "10.0.0.20:22/tcp",
        ],
        "no listener of a load balancer",
    );
}

#[test]
fn validate_reports_wiring_and_zones() {
    let wiring = seed_004(
        "wiring.yaml",
        "listeners: [{protocol: https, port: 443, backend_group: web}]",
        "listeners: [{protocol: https, port: 443, backend_group: web}, {protocol: http, port: 80, backend_group: empty}]",
    );
    let text = std::fs::read_to_string(&wiring).expect("read")
        + "  - name: spare\n    protocol: http\n    port: 80\n    members: [{address: 10.0.1.99}]\n  - name: empty\n    protocol: http\n    port: 80\n";
    let path = config_file("wiring2.yaml", text.as_bytes());
    let run = probe(&[
        "validate",
        "--config",
        path.to_str().expect("utf-8"),
        "--output",
        "json",
    ]);
    assert_eq!(run.code, Some(1));
    let report = json(&run);
    assert_eq!(
        finding_of(&report, "configuration", "TARGET_GROUP_EMPTY")["backend_group"],
        "empty"
    );
    assert_eq!(
        finding_of(&report, "configuration", "TARGET_GROUP_NOT_IN_USE")["backend_group"],
        "spare"
    );
    let nlb = seed_004("nlb.yaml", "kind: alb", "kind: nlb");
    let text = std::fs::read_to_string(&nlb).expect("read").replace(
        "      - {name: web-2, address: 10.0.2.5, security_groups: [sg-web]}\n",
        "",
    );
    let path = config_file("nlb2.yaml", text.as_bytes());
    let report = json(&probe(&[
        "validate",
        "--config",
        path.to_str().expect("utf-8"),
        "--output",
        "json",
    ]));
    let f = finding_of(&report, "configuration", "ZONE_WITHOUT_TARGETS");
    assert_eq!(f["severity"], "warning");
    assert!(
        f["summary"].as_str().is_some_and(|s| s.contains("zone b")),
        "{f:#}"
    );
}

/// The Huawei dump generated from Huawei's SDK models imports, and its YAML validates to the same
/// findings as the dump itself.
#[test]
fn huawei_sdk_dump_imports_and_round_trips() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/huawei/sdk");
    let dir = dir.to_str().expect("utf-8");
    let run = probe(&["import", "huawei", dir]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for expected in ["internet-facing", "rt-app", "public_address: 121.36.0.20"] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
    let path = config_file("imported-huawei-sdk.yaml", run.stdout.as_bytes());
    let from_yaml = probe(&[
        "validate",
        "--config",
        path.to_str().expect("utf-8"),
        "--output",
        "json",
    ]);
    let from_json = probe(&["validate", "--huawei", dir, "--output", "json"]);
    assert_eq!(from_yaml.code, from_json.code);
    let findings = |s: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(s).expect("JSON");
        v["findings"].clone()
    };
    assert_eq!(findings(&from_yaml.stdout), findings(&from_json.stdout));
}

/// tests/fixtures/huawei/sdk/ is what scripts/huawei-fixtures.py makes from the pinned SDK, when
/// the SDK is installed: in target/huawei-sdk-venv (scripts/test.sh installs it there) or the
/// Python that PROBE_HUAWEI_SDK_PYTHON names. Without it the check is scripts/test.sh's.
#[test]
fn huawei_sdk_fixtures_match_the_sdk() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("PROBE_HUAWEI_SDK_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/huawei-sdk-venv/bin/python"));
    if !python.exists() {
        eprintln!(
            "skipped: no Huawei SDK at {} (scripts/test.sh installs it)",
            python.display()
        );
        return;
    }
    let out = std::process::Command::new(&python)
        .arg(root.join("scripts/huawei-fixtures.py"))
        .arg("--check")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--output html` of validate and explain: the same exit code and findings as JSON, one
/// article per finding, the blocking hop of the client leg marked on its return path.
#[test]
fn html_reports_of_validate_and_explain_hold_the_json_findings() {
    let no_return = seed_004_no_return("html-no-return.yaml");
    let validate = |output| vec!["validate", "--config", &no_return, "--output", output];
    for (json_args, html_args) in [
        (validate("json"), validate("html")),
        (
            explain_clients(&no_return, "json"),
            explain_clients(&no_return, "html"),
        ),
    ] {
        let command = &json_args;
        let json_run = probe(&json_args);
        let html_run = probe(&html_args);
        assert_eq!(html_run.code, json_run.code, "{}", html_run.stderr);
        assert_eq!(html_run.code, Some(1));
        let report = json(&json_run);
        let html = &html_run.stdout;
        assert!(html.starts_with("<!DOCTYPE html>"), "{html:.200}");
        assert!(
            html.contains(&format!("<title>probe {} — ", command[0])),
            "{html:.600}"
        );
        let findings = report["findings"].as_array().expect("findings");
        assert_eq!(
            html.matches("<article class=\"finding ").count(),
            findings.len()
        );
        for f in findings {
            let code = f["code"].as_str().expect("code");
            assert!(html.contains(&format!("<code>{code}</code>")), "{code}");
        }
        // The client leg's return through acl-pub is the marked hop, by its default rule.
        let marked = html
            .split("<g class=\"n block\"")
            .nth(1)
            .and_then(|rest| rest.split("</g>").next())
            .expect("a marked hop");
        assert!(
            marked.contains("network ACL / firewall acl-pub")
                && marked.contains("egress (return path) · rule * (default) · BLOCKS HERE"),
            "{marked}"
        );
    }
}
