//! The corpus of bad input in `tests/fixtures/bad/`, one directory per format:
//!
//! | directory | format                         | read by                                                   |
//! |-----------|--------------------------------|-----------------------------------------------------------|
//! | `config`  | native YAML configuration      | `validate`, `check`, `explain`, `agent --config`, reload  |
//! | `aws`     | one AWS CLI JSON output        | `import aws`, `validate --aws`, `explain --aws`           |
//! | `huawei`  | one Huawei Cloud API response  | `import huawei`, `validate --huawei`, `explain --huawei`  |
//! | `targets` | targets file                   | `probe --targets-file FILE` and `--targets-file -`        |
//! | `web`     | agent web configuration        | `agent --web-config FILE` (must fail at start)            |
//!
//! Each file gives one error that names the file, the line and column (or line, for the
//! line-based targets file), the field path where there is one, and the bad value; exit 2, nothing
//! on stdout, no panic, within [`DEADLINE`]. [`CASES`] holds what each file must say; a file
//! without an entry fails [`every_file_in_the_corpus_has_an_expectation`].
//!
//! Unknown fields: the native YAML and the web configuration refuse them (a typo must not be
//! ignored); provider dumps ignore them on purpose (AWS and Huawei add fields with every release),
//! so only a file with no known top-level key is bad, and
//! [`provider_dumps_tolerate_unknown_fields`] checks the tolerance.
//!
//! Network: nothing here is probed. Configurations and targets name only loopback addresses, so
//! even a regression that accepted a file would probe nothing but 127.0.0.0/8; dumps are only
//! imported, validated and explained, which send no packet.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lab::{Lab, ProbeRun, curl_in, probe_bin};

/// Every run must be over by then; a hang is a failure, not a stuck test.
const DEADLINE: Duration = Duration::from_secs(30);

/// Corpus file → what its error says after the file name: location, field path, message and the
/// bad value; then further substrings that must appear too (the end of a cut long value).
const CASES: &[(&str, &str, &[&str])] = &[
    // ---- native YAML configuration ----
    (
        "config/truncated.yaml",
        ":9:1: backend_groups[0].members[0]: did not find expected ',' or '}', while parsing a flow mapping (the file ends there: is it cut short?)",
        &[],
    ),
    (
        "config/wrong-type.yaml",
        ":6:11: backend_groups[0].port: invalid type: string \"eighty\", expected a port number from 1 to 65535",
        &[],
    ),
    (
        "config/unknown-field.yaml",
        ":4:5: backend_groups[0].prot: unknown field `prot`, expected one of `name`, `id`, `protocol`, `port`",
        &[],
    ),
    (
        "config/port-70000.yaml",
        ":4:52: security_groups[0].rules[0].ports: invalid ports \"70000\": not a port from 0 to 65535",
        &[],
    ),
    (
        "config/member-port-70000.yaml",
        ":6:15: backend_groups[0].members[0].port: invalid value: integer `70000`, expected a port number from 1 to 65535",
        &[],
    ),
    (
        "config/cidr-33.yaml",
        ":3:11: subnets[0].cidr: invalid CIDR \"10.0.0.0/33\": prefix length 33 is longer than 32",
        &[],
    ),
    (
        "config/rule-number-40000.yaml",
        ":5:18: network_acls[0].inbound[1].number: rule number 40000 is outside 1-32766",
        &[],
    ),
    (
        "config/duplicate-id.yaml",
        ":6:9: security_groups[2].id: duplicate security group id \"sg-web\"",
        &[],
    ),
    (
        "config/dangling-group.yaml",
        ":6:48: backend_groups[0].members[0].security_groups[0]: security group \"sg-nope\" is not defined",
        &[],
    ),
    (
        "config/dangling-backend-group.yaml",
        ":4:51: load_balancers[0].listeners[0].backend_group: backend group \"api\" is not defined",
        &[],
    ),
    (
        "config/member-without-port.yaml",
        ":5:9: backend_groups[0].members[0].port: no port: give the member a port or its backend group one",
        &[],
    ),
    (
        "config/empty.yaml",
        ": the file is empty (or only comments): nothing to check",
        &[],
    ),
    (
        "config/comments-only.yaml",
        ": the file is empty (or only comments): nothing to check",
        &[],
    ),
    (
        "config/binary.yaml",
        ":1:1: not UTF-8 text: byte 0x89 at offset 0 (a binary file?)",
        &[],
    ),
    (
        "config/top-level-list.yaml",
        ":1:1: invalid type: sequence, expected a mapping of top-level keys (agent, subnets,",
        &[],
    ),
    (
        "config/deep-nesting.yaml",
        ":1:74: `[` and `{` nested more than 64 deep",
        &[],
    ),
    (
        "config/long-line.yaml",
        ":4:52: security_groups[0].rules[0].ports: invalid ports \"80,80,80,",
        &["…", ",80,70000\": \"70000\" is not a port from 0 to 65535"],
    ),
    (
        "config/two-documents.yaml",
        ":3:1: a second YAML document (`---`): put the whole configuration in one",
        &[],
    ),
    (
        "config/tab-indentation.yaml",
        ":2:1: subnets: found character that cannot start any token, while scanning for the next token (a tab: YAML indents with spaces)",
        &[],
    ),
    // ---- AWS CLI JSON, each file alone in a dump directory ----
    (
        "aws/truncated.json",
        ":6:53: NetworkAcls: EOF while parsing a string (the file ends there: is it cut short?)",
        &[],
    ),
    (
        "aws/wrong-type.json",
        ":2:22: NetworkAcls[0].Entries[0].RuleNumber: invalid type: string \"ten\", expected a whole number",
        &[],
    ),
    (
        "aws/unknown-top-level-key.json",
        ": not an AWS CLI output this importer reads (top-level keys: Whatever); expected one of LoadBalancers",
        &[],
    ),
    (
        "aws/port-70000.json",
        ":4:6: SecurityGroups[0].IpPermissions[0]: FromPort: 70000 is not a port from 0 to 65535",
        &[],
    ),
    (
        "aws/cidr-33.json",
        ":3:29: Subnets[0].CidrBlock: invalid CIDR \"10.0.0.0/33\": prefix length 33 is longer than 32",
        &[],
    ),
    (
        "aws/rule-number-40000.json",
        ":4:24: NetworkAcls[0].Entries[1].RuleNumber: 40000 is outside 1-32766 (32767 and 32768 are the default entries)",
        &[],
    ),
    (
        "aws/duplicate-id.json",
        ":4:3: Subnets[2]: subnet subnet-app differs from its copy at Subnets[0] in ",
        &[],
    ),
    (
        "aws/dangling-group.json",
        ":2:3: LoadBalancers[0]: security group \"sg-0123456789abcdef0\" is not defined (load_balancers[0].security_groups[0] of the imported configuration)",
        &[],
    ),
    (
        "aws/dangling-load-balancer.json",
        ":3:99: Listeners[0].LoadBalancerArn: load balancer arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/gone/1 is not in any describe-load-balancers output",
        &[],
    ),
    (
        "aws/empty.json",
        ": the file is empty: expected the JSON object a describe or list call prints",
        &[],
    ),
    (
        "aws/binary.json",
        ":1:1: not UTF-8 text: byte 0x89 at offset 0 (a binary file?)",
        &[],
    ),
    (
        "aws/top-level-array.json",
        ":1: invalid type: sequence, expected a JSON object at the top level",
        &[],
    ),
    (
        "aws/deep-nesting.json",
        ":1:14: Subnets[0][0]: invalid type: sequence, expected a string",
        &[],
    ),
    (
        "aws/long-line.json",
        ":1:65608: NetworkAcls[0].Entries[0].RuleNumber: invalid type: string \"xxxx",
        &["xxx…xxx", "xxxx\", expected a whole number"],
    ),
    (
        "aws/route-state.json",
        ":7:137: RouteTables[0].Routes[0].State: unknown variant `broken`, expected one of `active`, `blackhole`, `filtered`",
        &[],
    ),
    (
        "aws/eni-address.json",
        ":7:44: NetworkInterfaces[0].PrivateIpAddress: invalid IP address \"10.1.0.300\"",
        &[],
    ),
    (
        "aws/attribute-value.json",
        ":5:73: Attributes[1].Value: \"sometimes\" is not a value of load_balancing.cross_zone.enabled (true or false)",
        &[],
    ),
    (
        "aws/attributes-unwrapped.json",
        ": attributes without a LoadBalancerArn or TargetGroupArn",
        &["{\"LoadBalancerArn\": \"...\", \"Attributes\": [...]}"],
    ),
    (
        "aws/rule-actions.json",
        ":4:190: Rules[0].Actions: invalid type: string \"forward\", expected a sequence",
        &[],
    ),
    (
        "aws/classic-health-check.json",
        ":7:49: LoadBalancerDescriptions[0].HealthCheck.Target: invalid health check target \"HTTP:8080\": an HTTP or HTTPS check needs a path",
        &[],
    ),
    // ---- Huawei Cloud API JSON, each file alone in a dump directory ----
    (
        "huawei/truncated.json",
        ":3:48: pools: EOF while parsing a string (the file ends there: is it cut short?)",
        &[],
    ),
    (
        "huawei/wrong-type.json",
        ":2:76: listeners[0].protocol_port: invalid type: string \"eighty\", expected a port number from 1 to 65535",
        &[],
    ),
    (
        "huawei/unknown-top-level-key.json",
        ": not a Huawei Cloud API response this importer reads: its top-level keys are [request_id, whatever]",
        &[],
    ),
    (
        "huawei/port-70000.json",
        ":2:81: members[0].protocol_port: invalid value: integer `70000`, expected a port number from 1 to 65535",
        &[],
    ),
    (
        "huawei/cidr-33.json",
        ":2:54: subnets[0].cidr: invalid CIDR \"192.168.1.0/33\": prefix length 33 is longer than 32",
        &[],
    ),
    (
        "huawei/priority-101.json",
        ":2:3: security_group_rules[0]: priority 101 is outside 1-100 (security_groups[0].rules[0].priority of the imported configuration)",
        &[],
    ),
    (
        "huawei/duplicate-id.json",
        ":4:3: pools[2]: pool p1 differs from its copy at pools[0] in ",
        &[],
    ),
    (
        "huawei/dangling-pool.json",
        ":3:30: listeners[0].default_pool_id: pool p-gone is not in the pools dump (save ListPools)",
        &[],
    ),
    (
        "huawei/empty.json",
        ": the file is empty: expected the JSON object a describe or list call prints",
        &[],
    ),
    (
        "huawei/binary.json",
        ":1:1: not UTF-8 text: byte 0x89 at offset 0 (a binary file?)",
        &[],
    ),
    (
        "huawei/top-level-array.json",
        ":1: invalid type: sequence, expected a JSON object at the top level",
        &[],
    ),
    (
        "huawei/deep-nesting.json",
        ":2: pools: EOF while parsing a list (the file ends there: is it cut short?)",
        &[],
    ),
    (
        "huawei/long-line.json",
        ":1:65574: pools[0].protocol: unknown variant `XXXX",
        &["XXX…XXX", "`, expected one of `TCP`, `UDP`"],
    ),
    (
        "huawei/ipgroup-ids.json",
        ":3:34: listeners[0].ipgroup.ipgroup_id: access control is on but names no ipgroup: \" , \"",
        &[],
    ),
    (
        "huawei/member-status.json",
        ":3:34: members[0].status[0].listener_id: invalid type: null, expected a string",
        &[],
    ),
    (
        "huawei/monitor-method.json",
        ":3:25: healthmonitors[0].http_method: invalid HTTP method \"PATCH\": expected GET, HEAD or POST",
        &[],
    ),
    (
        "huawei/expected-codes.json",
        ":3:30: healthmonitors[0].expected_codes: invalid status matcher \"200,2xx\": \"2xx\" is not a status code from 100 to 599",
        &[],
    ),
    (
        "huawei/monitor-type.json",
        ":1:48: healthmonitors[0].type: unknown variant `GRPC2`, expected one of `TCP`, `UDP_CONNECT`, `HTTP`, `HTTPS`, `TLS`, `GRPC`, `GRPCS`",
        &[],
    ),
    (
        "huawei/vpc-cidr.json",
        ":2:91: vpcs[0].extend_cidrs: invalid CIDR \"10.20.0.0/33\": prefix length 33 is longer than 32",
        &[],
    ),
    (
        "huawei/routetable-list-only.json",
        ":2:3: routetables[0]: route table rt1 has no routes: ListRouteTables leaves them out; save ShowRouteTable",
        &[],
    ),
    (
        "huawei/route-nexthop.json",
        ":3:67: routetable.routes[1].nexthop: a peering route needs a nexthop",
        &[],
    ),
    (
        "huawei/route-destination.json",
        ":2:45: routetable.routes[0].destination: invalid CIDR \"0.0.0.0/40\": prefix length 40 is longer than 32",
        &[],
    ),
    (
        "huawei/nat-gateway.json",
        ":1:76: nat_gateways[0].admin_state_up: invalid type: string \"yes\", expected a boolean",
        &[],
    ),
    (
        "huawei/publicip-address.json",
        ":2:69: publicips[0].public_ip_address: invalid IP address \"121.36.0.300\"",
        &[],
    ),
    // ---- targets files ----
    (
        "targets/port-70000.txt",
        ":4: invalid port \"70000\" in target \"127.0.0.2:70000\": must be a number from 1 to 65535",
        &[],
    ),
    (
        "targets/cidr-33.txt",
        ":2: invalid prefix \"127.0.0.0/33\": prefix length 33 is longer than 32",
        &[],
    ),
    (
        "targets/truncated.txt",
        ":2: invalid host \"[::1\" in target \"[::1\"",
        &[],
    ),
    (
        "targets/unknown-scheme.txt",
        ":2: unsupported URL scheme \"ftp\" in \"ftp://127.0.0.1/\"",
        &[],
    ),
    (
        "targets/too-many.txt",
        ":2: prefix \"127.0.0.0/8\" expands to 16777216 addresses, more than the 1048576 one run may probe",
        &[],
    ),
    (
        "targets/empty.txt",
        ": no targets in the file (only blank lines and comments)",
        &[],
    ),
    (
        "targets/binary.txt",
        ":1:1: not UTF-8 text: byte 0x89 at offset 0 (a binary file?)",
        &[],
    ),
    (
        "targets/long-line.txt",
        ":2: invalid host \"aaaa",
        &["aaa…aaa", "aaaa.example:80\""],
    ),
    // ---- agent web configuration ----
    (
        "web/truncated.yml",
        ":4:1: tls_server_config.cert_file: found unexpected end of stream, while scanning a quoted scalar (the file ends there: is it cut short?)",
        &[],
    ),
    (
        "web/wrong-type.yml",
        ":1:19: basic_auth_users: invalid type: sequence, expected a map of user name to bcrypt hash",
        &[],
    ),
    (
        "web/unknown-field.yml",
        ":3:3: tls_server_config.keyfile: unknown field `keyfile`, expected one of `cert`, `key`",
        &[],
    ),
    (
        "web/duplicate-user.yml",
        ":3:10: basic_auth_users.alice: user alice is listed twice",
        &[],
    ),
    (
        "web/dangling-file.yml",
        ":2:14: tls_server_config.cert_file: ",
        &["no-such-server.crt: cannot read: No such file or directory"],
    ),
    (
        "web/tls10.yml",
        ":4:16: tls_server_config.min_version: TLS10 is not supported",
        &[],
    ),
    (
        "web/binary.yml",
        ":1:1: not UTF-8 text: byte 0x89 at offset 0 (a binary file?)",
        &[],
    ),
    (
        "web/top-level-list.yml",
        ":1:1: invalid type: sequence, expected the web configuration: a mapping with tls_server_config",
        &[],
    ),
    (
        "web/deep-nesting.yml",
        ":1:277: `[` and `{` nested more than 64 deep",
        &[],
    ),
    (
        "web/long-line.yml",
        ":2:10: basic_auth_users.alice: not a bcrypt hash",
        &[],
    ),
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The cases of one directory of the corpus: (path, file name, located message, more).
fn cases(dir: &str) -> Vec<(PathBuf, &'static str, &'static str, &'static [&'static str])> {
    let found: Vec<_> = CASES
        .iter()
        .filter(|(file, _, _)| file.starts_with(&format!("{dir}/")))
        .map(|&(file, located, more)| {
            let name = file.rsplit('/').next().unwrap_or(file);
            (corpus().join(file), name, located, more)
        })
        .collect();
    assert!(!found.is_empty(), "no cases for {dir}/");
    found
}

/// Runs the binary with `stdin` fed in, killing it at [`DEADLINE`] (a failure).
fn run(args: &[&str], stdin: Option<Vec<u8>>) -> ProbeRun {
    let mut child = Command::new(probe_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start probe");
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin");
        // The probe stops reading at its limit and exits: a broken pipe here is expected.
        std::thread::spawn(move || {
            for chunk in bytes.chunks(1 << 16) {
                if pipe.write_all(chunk).is_err() {
                    break;
                }
            }
        })
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for probe") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("probe {args:?} still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    ProbeRun {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    }
}

/// Exit 2, one error naming `named` (the file as the error names it) followed by `located`, and
/// every string of `more`; nothing on stdout; no panic; a short message.
fn assert_refused(
    args: &[&str],
    stdin: Option<Vec<u8>>,
    named: &str,
    located: &str,
    more: &[&str],
) {
    let r = run(args, stdin);
    let what = format!("probe {}", args.join(" "));
    assert_eq!(r.code, Some(2), "{what} must exit 2; stderr: {}", r.stderr);
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
        "{what} panicked: {}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{what} printed: {}", r.stdout);
    assert_eq!(
        r.stderr.matches("probe: error:").count(),
        1,
        "{what}: one error expected: {}",
        r.stderr
    );
    let needle = format!("{named}{located}");
    assert!(
        r.stderr.contains(&needle),
        "{what}: stderr lacks {needle:?}:\n{}",
        r.stderr
    );
    for m in more {
        assert!(
            r.stderr.contains(m),
            "{what}: stderr lacks {m:?}:\n{}",
            r.stderr
        );
    }
    // Long values are cut: an error is read, not scrolled.
    assert!(
        r.stderr.len() < 2048,
        "{what}: {} bytes of error",
        r.stderr.len()
    );
}

/// A valid configuration on loopback, for the commands that need one besides the bad file.
fn good_config(lab: &Lab) -> PathBuf {
    let path = lab.dir.join("good.yaml");
    std::fs::write(
        &path,
        "subnets:\n  - {id: lo, cidr: 127.0.0.0/8}\nbackend_groups:\n  - name: local\n    \
         protocol: tcp\n    port: 9\n    members: [{address: 127.0.0.1}]\n",
    )
    .expect("write good.yaml");
    path
}

#[test]
fn every_file_in_the_corpus_has_an_expectation() {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read the corpus") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let rel = path.strip_prefix(corpus()).expect("inside the corpus");
                out.push(rel.to_str().expect("UTF-8 name").to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(&corpus(), &mut files);
    let expected: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    for f in &files {
        assert!(
            expected.contains(&f.as_str()),
            "tests/fixtures/bad/{f} has no expectation in CASES (tests/it/bad_input.rs)"
        );
    }
    for e in &expected {
        assert!(
            files.iter().any(|f| f == e),
            "CASES names {e}, which is not in tests/fixtures/bad/"
        );
    }
    // Every format has the cases the issue asks for, where they apply.
    for (dir, kinds) in [
        (
            "config",
            &[
                "truncated",
                "wrong-type",
                "unknown-field",
                "70000",
                "cidr-33",
                "rule-number",
                "duplicate",
                "dangling",
                "empty",
                "binary",
                "top-level",
                "deep-nesting",
                "long-line",
            ][..],
        ),
        (
            "aws",
            &[
                "truncated",
                "wrong-type",
                "unknown-top-level-key",
                "70000",
                "cidr-33",
                "rule-number",
                "duplicate",
                "dangling",
                "empty",
                "binary",
                "top-level",
                "deep-nesting",
                "long-line",
            ][..],
        ),
        (
            "huawei",
            &[
                "truncated",
                "wrong-type",
                "unknown-top-level-key",
                "70000",
                "cidr-33",
                "priority",
                "duplicate",
                "dangling",
                "empty",
                "binary",
                "top-level",
                "deep-nesting",
                "long-line",
            ][..],
        ),
        (
            "targets",
            &[
                "70000",
                "cidr-33",
                "truncated",
                "empty",
                "binary",
                "long-line",
            ][..],
        ),
        (
            "web",
            &[
                "truncated",
                "wrong-type",
                "unknown-field",
                "duplicate",
                "dangling",
                "binary",
                "top-level",
                "deep-nesting",
                "long-line",
            ][..],
        ),
    ] {
        for kind in kinds {
            assert!(
                files
                    .iter()
                    .any(|f| f.starts_with(&format!("{dir}/")) && f.contains(kind)),
                "tests/fixtures/bad/{dir}/ has no {kind} case"
            );
        }
    }
}

/// Every command that reads a configuration file, given `config` (none sends a packet before
/// the file is read).
fn config_commands(config: &str) -> [Vec<&str>; 4] {
    [
        vec!["validate", "--config", config],
        vec!["check", "--config", config, "--no-progress"],
        vec![
            "explain",
            "--config",
            config,
            "--from",
            "lb",
            "--to",
            "127.0.0.5:80/tcp",
        ],
        vec!["agent", "--config", config, "--listen", "127.0.0.1:0"],
    ]
}

#[test]
fn bad_configurations_are_refused_by_every_command() {
    for (path, name, located, more) in cases("config") {
        let p = path_str(&path);
        for args in config_commands(p) {
            assert_refused(&args, None, name, located, more);
        }
    }
}

/// Each dump file alone in a directory, through every command that reads dumps (none sends a
/// packet).
fn provider_dumps(provider: &str) {
    let lab = Lab::new(&format!("bad-{provider}"));
    for (path, name, located, more) in cases(provider) {
        let dir = lab.dir.join(name.trim_end_matches(".json"));
        std::fs::create_dir_all(&dir).expect("dump directory");
        std::fs::copy(&path, dir.join(name)).expect("copy the dump");
        let d = path_str(&dir);
        let flag = format!("--{provider}");
        for args in [
            &["import", provider, d][..],
            &["validate", &flag, d],
            &[
                "explain",
                &flag,
                d,
                "--from",
                "lb",
                "--to",
                "127.0.0.5:80/tcp",
            ],
        ] {
            assert_refused(args, None, name, located, more);
        }
    }
}

#[test]
fn bad_aws_dumps_are_refused_by_every_command() {
    provider_dumps("aws");
}

#[test]
fn bad_huawei_dumps_are_refused_by_every_command() {
    provider_dumps("huawei");
}

#[test]
fn provider_dumps_tolerate_unknown_fields() {
    // The providers add fields all the time: a dump with fields this version does not know, at
    // every level, still imports.
    let lab = Lab::new("bad-unknown");
    let aws = lab.dir.join("aws");
    std::fs::create_dir_all(&aws).expect("dump directory");
    std::fs::write(
        aws.join("subnets.json"),
        r#"{"Subnets": [{"SubnetId": "subnet-1", "CidrBlock": "10.0.1.0/24",
            "Ipv6Native": false, "NewFieldOf2030": {"Nested": [1, {"Deeper": null}]}}],
           "NextToken": "x"}"#,
    )
    .expect("write the dump");
    let r = run(&["import", "aws", path_str(&aws)], None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("subnet-1"), "{}", r.stdout);
    let huawei = lab.dir.join("huawei");
    std::fs::create_dir_all(&huawei).expect("dump directory");
    std::fs::write(
        huawei.join("subnets.json"),
        r#"{"subnets": [{"id": "s1", "cidr": "192.168.1.0/24", "vpc_id": "v1",
            "new_field": [{"x": 1}], "tags": []}], "page_info": {"next_marker": null}}"#,
    )
    .expect("write the dump");
    let r = run(&["import", "huawei", path_str(&huawei)], None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("192.168.1.0/24"), "{}", r.stdout);
}

#[test]
fn bad_targets_files_are_refused_from_a_file_and_from_stdin() {
    for (path, name, located, more) in cases("targets") {
        let p = path_str(&path);
        assert_refused(
            &["--targets-file", p, "--port", "9", "--timeout", "100ms"],
            None,
            name,
            located,
            more,
        );
        let bytes = std::fs::read(&path).expect("read the corpus file");
        assert_refused(
            &["--targets-file", "-", "--port", "9", "--timeout", "100ms"],
            Some(bytes),
            "<stdin>",
            located,
            more,
        );
    }
}

#[test]
fn a_bad_web_configuration_stops_the_agent_at_start() {
    let lab = Lab::new("bad-web");
    let config = good_config(&lab);
    for (path, name, located, more) in cases("web") {
        assert_refused(
            &[
                "agent",
                "--config",
                path_str(&config),
                "--listen",
                "127.0.0.1:0",
                "--web-config",
                path_str(&path),
            ],
            None,
            name,
            located,
            more,
        );
    }
}

/// Files of 100 MiB, one per format: each is refused by its size before it is read, and a pipe
/// is refused once it passes the limit. The regular files are sparse (nothing to write); the pipe
/// carries real YAML and targets, which a reader without a limit would try to parse.
#[test]
fn files_of_100_mib_are_refused_by_size() {
    const SIZE: u64 = 100 << 20;
    let lab = Lab::new("bad-huge");
    let huge = |name: &str| {
        let path = lab.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("directory");
        }
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(SIZE))
            .expect("a sparse 100 MiB file");
        path
    };
    let config = huge("huge.yaml");
    let json = huge("dump/huge.json");
    let dump = json.parent().expect("the dump directory");
    let targets = huge("huge.txt");
    let web = huge("huge-web.yml");
    let good = good_config(&lab);
    let c = path_str(&config);
    for args in config_commands(c) {
        assert_refused(
            &args,
            None,
            "huge.yaml",
            ": 100.0 MiB is larger than the 16 MiB limit for a YAML configuration file",
            &[],
        );
    }
    for args in [
        &["import", "aws", path_str(dump)][..],
        &["validate", "--huawei", path_str(dump)],
    ] {
        assert_refused(
            args,
            None,
            "huge.json",
            ": 100.0 MiB is larger than the 64 MiB limit for a provider dump (JSON) file",
            &[],
        );
    }
    assert_refused(
        &["--targets-file", path_str(&targets), "--port", "9"],
        None,
        "huge.txt",
        ": 100.0 MiB is larger than the 64 MiB limit for a targets file",
        &[],
    );
    assert_refused(
        &[
            "agent",
            "--config",
            path_str(&good),
            "--listen",
            "127.0.0.1:0",
            "--web-config",
            path_str(&web),
        ],
        None,
        "huge-web.yml",
        ": 100.0 MiB is larger than the 16 MiB limit for a YAML configuration file",
        &[],
    );

    // Through a pipe the size is unknown: the reader stops one byte past the limit.
    let repeat = |line: &str| line.repeat(SIZE as usize / line.len()).into_bytes();
    let started = Instant::now();
    let yaml = [
        b"subnets:\n".to_vec(),
        repeat("  - {id: s, cidr: 10.0.0.0/24}\n"),
    ]
    .concat();
    assert_refused(
        &["validate", "--config", "/dev/stdin"],
        Some(yaml),
        "/dev/stdin",
        ": goes on past the 16 MiB limit for a YAML configuration file",
        &[],
    );
    assert_refused(
        &["--targets-file", "-", "--port", "9"],
        Some(repeat("127.0.0.1\n")),
        "<stdin>",
        ": goes on past the 64 MiB limit for a targets file",
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refusing two 100 MiB pipes took {:?}",
        started.elapsed()
    );
}

/// One agent, every bad configuration of the corpus in turn over its configuration file: each
/// reload is refused with the error, the old checks keep running, and the good file reloads.
#[test]
fn agent_reload_refuses_every_bad_configuration_and_keeps_the_old_one() {
    let mut lab = Lab::new("bad-reload");
    let ns = lab.namespace("a");
    let addr = "127.0.0.1:9465";
    // On one runtime worker (--threads 1): a reload that blocked the worker would stall it all.
    lab.start_agent(&ns, &[], probe_bin(), addr, &["--threads", "1"]);
    let config = lab.dir.join("agent-0.yaml");
    let good = std::fs::read(&config).expect("the agent's configuration");
    let metric = |name: &str| -> f64 {
        let (code, body) = curl_in(&ns, &[&format!("http://{addr}/metrics")]);
        assert_eq!(code, 200, "{body}");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in /metrics"))
    };
    // Probes run so far, summed over the counter's labels.
    let probes = || -> f64 {
        let (_, body) = curl_in(&ns, &[&format!("http://{addr}/metrics")]);
        body.lines()
            .filter(|l| l.starts_with("probe_agent_probes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let checks = metric("probe_agent_checks");
    assert!(checks >= 1.0, "the good configuration has checks");
    let before = probes();

    let bad = cases("config");
    for (path, _, located, more) in &bad {
        std::fs::copy(path, &config).expect("put the bad file in place");
        let (code, body) = curl_in(&ns, &["-X", "POST", &format!("http://{addr}/-/reload")]);
        assert_eq!(code, 500, "{}: {body}", path.display());
        // The agent's file is agent-0.yaml, whatever the corpus file was called.
        let needle = format!("agent-0.yaml{located}");
        assert!(
            body.contains(&needle),
            "{}: {body:?} lacks {needle:?}",
            path.display()
        );
        for m in *more {
            assert!(body.contains(m), "{}: {body:?} lacks {m:?}", path.display());
        }
        assert!(!body.contains("panicked"), "{body}");
    }
    assert_eq!(metric("probe_agent_config_last_reload_successful"), 0.0);
    assert_eq!(
        metric("probe_agent_config_reloads_total{result=\"failure\"}"),
        bad.len() as f64
    );
    assert_eq!(
        metric("probe_agent_checks"),
        checks,
        "the old checks are kept"
    );
    // And still probed: the checks run every second.
    let deadline = Instant::now() + Duration::from_secs(15);
    while probes() <= before {
        assert!(Instant::now() < deadline, "no probe since the bad reloads");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, body) = curl_in(&ns, &[&format!("http://{addr}/findings")]);
    assert_eq!(code, 200, "{body}");
    let findings: serde_json::Value = serde_json::from_str(&body).expect("findings JSON");
    assert!(
        findings["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["address"] == "127.0.0.1")),
        "the old configuration's member is still judged: {findings:#}"
    );

    std::fs::write(&config, good).expect("restore the good file");
    let (code, body) = curl_in(&ns, &["-X", "POST", &format!("http://{addr}/-/reload")]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(metric("probe_agent_config_last_reload_successful"), 1.0);
    assert_eq!(metric("probe_agent_checks"), checks);
}
