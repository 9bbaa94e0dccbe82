//! `probe agent` with real parts: the lab of the diagnosis scenarios (an ALB's two web servers
//! behind real nftables rules, port 80 denied by rule 90 of their network ACL), the agent
//! running in the load balancer's subnet, and a real Prometheus server (Debian's package)
//! scraping it, both directly and through `/probe`. Everything is asserted through Prometheus's
//! HTTP API or the agent's own endpoints, from inside the agent's namespace.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{AgentRun, Lab, Sweep, curl_in, fleet_config, probe_bin};
use crate::scenarios::{ACL_APP, AGENT, Topology, WEB1, WEB2, nacl_deny_lab};

const AGENT_HTTP: &str = "127.0.0.1:9465";
const PROMETHEUS: &str = "127.0.0.1:9090";

/// Runs curl inside the agent's namespace; returns (HTTP status, body), status 0 when nothing
/// answered.
fn curl(t: &Topology, args: &[&str]) -> (u16, String) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.agent,
            "curl",
            "-s",
            "-m",
            "20",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .expect("run curl (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// One instant query against the lab's Prometheus: the result vector.
fn query(t: &Topology, promql: &str) -> Vec<Value> {
    crate::lab::prometheus_query(&t.agent, PROMETHEUS, promql)
}

/// Waits (at most 90 s) until `promql` returns exactly one series with value `want`, and returns
/// that series' labels.
fn wait_for(t: &Topology, promql: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = query(t, promql);
        if let [one] = last.as_slice()
            && one["value"][1] == want
        {
            return one["metric"].clone();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(t.lab.dir.join("agent.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    panic!(
        "{promql} did not become {want} within 90 s; last answer: {last:#?}\nagent log (last lines first):\n{}",
        tail.join("\n")
    );
}

/// The value of the unlabelled-or-summed series `name` on the agent's own /metrics page.
fn agent_metric(t: &Topology, name: &str) -> f64 {
    let (_, page) = curl(t, &[&format!("http://{AGENT_HTTP}/metrics")]);
    page.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn prometheus_config(dir: &Path) -> String {
    let config = format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: probe
    static_configs:
      - targets: ['{AGENT_HTTP}']
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [tcp_connect]
    static_configs:
      - targets: ['{WEB2}:8081']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: {AGENT_HTTP}
"
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("write prometheus.yml");
    let check = Command::new("promtool")
        .args(["check", "config"])
        .arg(&path)
        .output()
        .expect("run promtool (install prometheus; scripts/test.sh does)");
    assert!(
        check.status.success(),
        "promtool check config: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    path.to_str().expect("utf-8").to_string()
}

#[test]
fn prometheus_scrapes_healthy_and_blocked_backends_reload_and_sigterm() {
    let (_files, dir, mut t) = nacl_deny_lab("agent");

    // The agent, at a 2 s interval (the fixture's health check says 30 s) and a 1 s timeout.
    let agent_log = t.lab.dir.join("agent.log");
    let mut agent = Command::new("ip")
        .args(["netns", "exec", &t.agent, probe_bin()])
        .args([
            "agent",
            "--aws",
            dir.to_str().expect("utf-8"),
            "--source-addr",
            AGENT,
            "--listen",
            AGENT_HTTP,
            "--interval",
            "2s",
            "--timeout",
            "1s",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&agent_log).expect("agent log"))
        .spawn()
        .expect("start probe agent");
    let agent_guard = KillOnDrop(agent.id());

    let prom_dir = t.lab.dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("prometheus directory");
    let config = prometheus_config(&prom_dir);
    let data = format!("--storage.tsdb.path={}", prom_dir.join("data").display());
    let ns = t.agent.clone();
    t.lab.spawn(
        &ns,
        &[
            "prometheus",
            &format!("--config.file={config}"),
            &data,
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
        &prom_dir.join("prometheus.log"),
    );

    // The healthy check: web-2's health check (HTTP on 8081, which rule 90 leaves alone), with
    // every label.
    let web2 = wait_for(
        &t,
        &format!("probe_success{{job=\"probe\",address=\"{WEB2}\",role=\"health_check\"}}"),
        "1",
    );
    assert_eq!(web2["backend_group"], "web");
    assert_eq!(web2["backend"], "i-0b8e4d0f2c3a5e702");
    assert_eq!(web2["port"], "8081");
    assert_eq!(web2["protocol"], "http");
    // The blocked one: web-1's port 80, dropped by the ACL's rule 90, named with its rule.
    wait_for(
        &t,
        &format!("probe_success{{address=\"{WEB1}\",role=\"traffic\"}}"),
        "0",
    );
    wait_for(
        &t,
        &format!("probe_outcome{{address=\"{WEB1}\",role=\"traffic\"}}"),
        "1",
    );
    let outcome = query(
        &t,
        &format!("probe_outcome{{address=\"{WEB1}\",role=\"traffic\"}}"),
    );
    assert_eq!(outcome[0]["metric"]["outcome"], "filtered", "{outcome:#?}");
    assert_eq!(outcome[0]["metric"]["reason"], "no-response");
    let rule = wait_for(
        &t,
        &format!("probe_blocking_rule_info{{address=\"{WEB1}\"}}"),
        "1",
    );
    assert_eq!(rule["code"], "NACL_DENY");
    assert_eq!(rule["kind"], "network_acl");
    assert_eq!(rule["id"], ACL_APP);
    assert_eq!(rule["rule"], "90");
    assert_eq!(rule["direction"], "ingress");
    assert_eq!(rule["port"], "80");
    // The threshold state machine (unhealthy threshold 2): web-1's traffic port is unhealthy,
    // both health checks (8081, open) are healthy, after one pass as AWS does.
    wait_for(
        &t,
        &format!("probe_backend_healthy{{address=\"{WEB1}\",role=\"traffic\"}}"),
        "0",
    );
    wait_for(
        &t,
        &format!("probe_backend_state{{address=\"{WEB1}\",role=\"traffic\",state=\"unhealthy\"}}"),
        "1",
    );
    for addr in [WEB1, WEB2] {
        wait_for(
            &t,
            &format!("probe_backend_healthy{{address=\"{addr}\",role=\"health_check\"}}"),
            "1",
        );
        wait_for(
            &t,
            &format!("probe_http_status_code{{address=\"{addr}\",role=\"health_check\"}}"),
            "200",
        );
    }
    // Rule 90 denies port 80 from the load balancer's subnet to both web servers.
    wait_for(
        &t,
        "probe_findings{code=\"NACL_DENY\",severity=\"error\"}",
        "2",
    );
    wait_for(&t, "sum(probe_agent_checks)", "4");
    // The /probe relabelling job: blackbox names, through the allowlist (web-2 is a member).
    wait_for(
        &t,
        &format!("probe_success{{job=\"blackbox\",instance=\"{WEB2}:8081\"}}"),
        "1",
    );

    // promtool finds nothing wrong with a real page.
    let page = t.lab.sh(
        &t.agent,
        &["curl", "-sf", &format!("http://{AGENT_HTTP}/metrics")],
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    std::io::Write::write_all(
        &mut promtool.stdin.take().expect("promtool stdin"),
        &page.stdout,
    )
    .expect("feed promtool");
    let lint = promtool.wait_with_output().expect("promtool output");
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // /probe is no proxy: an address outside the members, load balancers and subnets is refused
    // before any packet is sent.
    let (code, body) = curl(
        &t,
        &[&format!(
            "http://{AGENT_HTTP}/probe?target=192.0.2.1:80&module=tcp_connect"
        )],
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("allowlist"), "{body}");

    // /findings is the JSON of `probe check`.
    let (code, body) = curl(&t, &[&format!("http://{AGENT_HTTP}/findings")]);
    assert_eq!(code, 200);
    let report: Value = serde_json::from_str(&body).expect("findings JSON");
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["code"] == "NACL_DENY" && f["address"] == WEB1),
        "{report:#}"
    );
    let (code, _) = curl(&t, &[&format!("http://{AGENT_HTTP}/-/ready")]);
    assert_eq!(code, 200);

    // A broken configuration is refused, by /-/reload and by SIGHUP; the old one keeps probing.
    std::fs::write(
        dir.join("acl.json"),
        "{\"NetworkAcls\": [ {\"NetworkAclId\": 7 ",
    )
    .expect("break acl.json");
    let (code, body) = curl(
        &t,
        &["-X", "POST", &format!("http://{AGENT_HTTP}/-/reload")],
    );
    assert_eq!(code, 500, "{body}");
    assert!(
        body.contains("acl.json"),
        "the error names the file: {body}"
    );
    let nix_pid = nix::unistd::Pid::from_raw(agent.id() as i32);
    nix::sys::signal::kill(nix_pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent_metric(&t, "probe_agent_config_reloads_total{result=\"failure\"}") < 2.0 {
        assert!(Instant::now() < deadline, "SIGHUP reload not counted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        agent_metric(&t, "probe_agent_config_last_reload_successful"),
        0.0
    );
    assert_eq!(agent_metric(&t, "probe_agent_checks"), 4.0);
    let before = agent_metric(&t, "probe_agent_probes_total");
    std::thread::sleep(Duration::from_secs(3));
    let after = agent_metric(&t, "probe_agent_probes_total");
    assert!(
        after >= before + 4.0,
        "old checks no longer probed: {before} → {after}"
    );
    wait_for(
        &t,
        &format!("probe_blocking_rule_info{{address=\"{WEB1}\",rule=\"90\"}}"),
        "1",
    );

    // SIGTERM: in-flight probes (1 s timeout) drain, exit 0.
    nix::sys::signal::kill(nix_pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = agent.try_wait().expect("wait for the agent") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "agent still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(agent_guard);
    let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "agent log:\n{log}");
    // JSON logs: each line an object; the reload failure and the stop are there.
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| {
        l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reload failed"))
    }));
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{log}"
    );
}

/// Kills a process (the agent) if the test fails before it stops it.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn web_config_serves_tls_and_requires_basic_auth() {
    let mut lab = crate::lab::Lab::new("agent-web");
    let ns = lab.namespace("a");
    let (web, cert) = lab.tls_and_basic_auth();
    let addr = "127.0.0.1:9465";
    lab.start_agent(
        &ns,
        &[],
        probe_bin(),
        addr,
        &["--web-config", web.to_str().expect("utf-8")],
    );
    let url = format!("https://{addr}/metrics");
    let ca = cert.to_str().expect("utf-8");
    // The certificate is for lab.test; curl connects to the loopback address under that name.
    let resolve = format!(
        "lab.test:{}:127.0.0.1",
        addr.rsplit_once(':').expect("port").1
    );
    let named = url.replace("127.0.0.1", "lab.test");
    let tls = ["--cacert", ca, "--resolve", resolve.as_str()];

    let (code, _) = curl_in(&ns, &[&tls[..], &[named.as_str()]].concat());
    assert_eq!(code, 401, "no credentials");
    let (code, _) = curl_in(
        &ns,
        &[&tls[..], &["-u", "alice:wrong", named.as_str()]].concat(),
    );
    assert_eq!(code, 401, "wrong password");
    let (code, _) = curl_in(
        &ns,
        &[&tls[..], &["-u", "mallory:s3cret", named.as_str()]].concat(),
    );
    assert_eq!(code, 401, "unknown user");
    let (code, body) = curl_in(
        &ns,
        &[&tls[..], &["-u", "alice:s3cret", named.as_str()]].concat(),
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("probe_agent_build_info"), "{body}");
    // Plain HTTP to the TLS port gets no metrics.
    let (code, body) = curl_in(&ns, &[&format!("http://{addr}/metrics")]);
    assert!(!body.contains("probe_agent_build_info"), "{code} {body}");
}

/// The finding of the one member's check (10.200.0.1, port 80): from the agent's `/findings`,
/// or from a report `probe check --output json` printed; its code, summary, blocking rule, fix
/// and expected path, and the state it observed. `None` before the agent has a result.
fn member_finding(report: &str) -> Option<(Value, String)> {
    let report: Value = serde_json::from_str(report)
        .unwrap_or_else(|e| panic!("a findings report ({e}): {report:.500}"));
    let f = report["findings"]
        .as_array()?
        .iter()
        .find(|f| f["address"] == "10.200.0.1" && f["port"] == 80)?;
    let judged = serde_json::json!({
        "code": f["code"],
        "role": f["role"],
        "summary": f["summary"],
        "blocking": f["blocking"],
        "fix": f["fix"],
        "expected": f["expected"],
    });
    let observed = f["observed"]["state"].as_str().unwrap_or("").to_string();
    Some((judged, observed))
}

/// A backend whose live result changes while the agent probes it every second (open, then
/// silently dropped by an nftables rule, then open again) is judged again at each change, and
/// between changes each repeated result leaves the finding as a fresh `probe check` judges it:
/// the agent skips judging an outcome it has already judged, and this holds it to the full
/// judgement.
#[test]
fn a_changing_backend_is_judged_again_and_a_repeated_result_as_probe_check_judges_it() {
    let Sweep {
        mut lab,
        client,
        server,
        ..
    } = Lab::sweep("agent-rejudge", 4);
    let members = std::iter::once(std::net::Ipv4Addr::new(10, 200, 0, 1));
    let AgentRun { config, log, .. } =
        lab.agent_on(&client, "one", &fleet_config(members, 1), "10.77.0.1:9465");
    let agent_finding = || {
        let (_, body) = curl_in(&client, &["http://10.77.0.1:9465/findings"]);
        member_finding(&body).unwrap_or_default()
    };
    let check_finding = || {
        let run = lab.probe(
            &client,
            &[
                "check",
                "--config",
                &config,
                "--output",
                "json",
                "--no-progress",
            ],
        );
        member_finding(&run.stdout).unwrap_or_else(|| {
            panic!(
                "probe check has no finding for 10.200.0.1:80: {}",
                run.stdout
            )
        })
    };
    // Waits for the agent to observe `state`, then lets it repeat that result a few times
    // (a probe a second) and compares its finding with a fresh `probe check`'s.
    let settle = |state: &str| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, seen) = agent_finding();
            if seen == state {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the agent never observed {state} (last: {seen})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(3));
        let (agent, seen) = agent_finding();
        let (check, checked) = check_finding();
        assert_eq!((seen.as_str(), checked.as_str()), (state, state));
        assert_eq!(
            agent, check,
            "the agent's finding after repeated {state} results"
        );
        agent
    };
    let open = settle("open");
    assert_eq!(open["code"], "OK", "{open}");
    lab.nft(
        &server,
        "table ip rejudge {
           chain input {
             type filter hook input priority -10; policy accept;
             ip daddr 10.200.0.1 tcp dport 80 drop
           }
         }",
    );
    let dropped = settle("filtered");
    assert_ne!(dropped["code"], "OK", "{dropped}");
    lab.sh(&server, &["nft", "delete", "table", "ip", "rejudge"]);
    assert_eq!(settle("open"), open);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log.contains("panicked"), "agent log:\n{log}");
}
