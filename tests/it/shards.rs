//! Three agents share one configuration (`probe agent --shard K/3`), and one real Prometheus
//! (Debian's package) scrapes them all. Asserted through Prometheus's HTTP API: every check is
//! probed by exactly one agent, every series carries its shard, and one PromQL query over the three
//! gives the findings a single unsharded agent reports for the whole fleet. The unsharded agent's
//! `/findings` also comes in pages that add up to the whole report.
//!
//! Everything runs on the loopback of one lab namespace: the members are 127.0.1.1-127.0.1.30
//! (two of them listen), the agents and Prometheus listen on 127.0.0.1.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{Lab, curl_in as curl, probe_bin};

const PROMETHEUS: &str = "127.0.0.1:9091";
const UNSHARDED: &str = "127.0.0.1:9480";
const MEMBERS: u32 = 30;

fn shard_listen(k: u32) -> String {
    format!("127.0.0.1:{}", 9481 + k)
}

/// The configuration: one generic load balancer, 30 members, traffic on 80 and a health check on
/// 8081 every second: 60 checks, and a listener.
fn config() -> String {
    let mut members = String::new();
    for i in 1..=MEMBERS {
        members.push_str(&format!("      - {{name: m{i}, address: 127.0.1.{i}}}\n"));
    }
    format!(
        "agent: {{address: 127.0.0.1}}\n\
         subnets: [{{id: lo, cidr: 127.0.0.0/8}}]\n\
         backend_groups:\n  - name: web\n    protocol: tcp\n    port: 80\n    \
         health_check: {{protocol: tcp, port: 8081, interval_s: 1, timeout_s: 1}}\n    \
         members:\n{members}"
    )
}

fn query(ns: &str, promql: &str) -> Vec<Value> {
    crate::lab::prometheus_query(ns, PROMETHEUS, promql)
}

/// A query's result as `{label value: number}` by `label` ("" for a single unlabelled value).
fn by(ns: &str, promql: &str, label: &str) -> BTreeMap<String, f64> {
    query(ns, promql)
        .iter()
        .map(|s| {
            (
                s["metric"][label].as_str().unwrap_or("").to_string(),
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// `probe_findings` by code on one agent's own page.
fn page_findings(ns: &str, listen: &str) -> BTreeMap<String, f64> {
    let (_, page) = curl(ns, &[&format!("http://{listen}/metrics")]);
    let mut out = BTreeMap::new();
    for l in page.lines().filter(|l| l.starts_with("probe_findings{")) {
        let code = l
            .split("code=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?");
        let v: f64 = l
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0.0);
        if v > 0.0 {
            *out.entry(code.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

fn page_value(ns: &str, listen: &str, name: &str) -> f64 {
    let (_, page) = curl(ns, &[&format!("http://{listen}/metrics")]);
    page.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn three_shards_probe_every_check_once_and_prometheus_sums_the_fleet() {
    let mut lab = Lab::new("shards");
    let ns = lab.namespace("agents");
    // Two members answer on 80: their traffic checks pass, the rest are closed ports.
    lab.tcp_listener(&ns, "127.0.1.1:80");
    lab.tcp_listener(&ns, "127.0.1.2:80");
    let cfg = lab.dir.join("fleet.yaml");
    std::fs::write(&cfg, config()).expect("write the configuration");
    let cfg = cfg.to_str().expect("utf-8").to_string();
    let common = ["--config", &cfg, "--interval", "1s", "--timeout", "500ms"];
    let mut start = |listen: &str, extra: &[&str], log: &str| {
        let mut args = vec![probe_bin(), "agent", "--listen", listen];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        lab.spawn(&ns, &args, &lab_log(&cfg, log));
    };
    start(UNSHARDED, &[], "unsharded.log");
    for k in 0..3 {
        start(
            &shard_listen(k),
            &["--shard", &format!("{k}/3")],
            &format!("shard-{k}.log"),
        );
    }

    let prom = std::path::Path::new(&cfg)
        .parent()
        .expect("lab dir")
        .join("prometheus");
    std::fs::create_dir_all(&prom).expect("prometheus directory");
    let targets: Vec<String> = (0..3).map(|k| format!("'{}'", shard_listen(k))).collect();
    let config = prom.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: probe\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("write prometheus.yml");
    lab.spawn(
        &ns,
        &[
            "prometheus",
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", prom.join("data").display()),
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
        &prom.join("prometheus.log"),
    );

    // The unsharded agent's count of checks and its findings are the fleet's truth.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let checks = page_value(&ns, UNSHARDED, "probe_agent_checks");
        let truth = page_findings(&ns, UNSHARDED);
        let seen = by(&ns, "count(probe_success)", "");
        let per_check = by(
            &ns,
            "max(count by (backend_group, backend, address, port, protocol, role) (probe_success))",
            "",
        );
        let shards = by(&ns, "count by (shard) (probe_success)", "shard");
        let fleet = by(&ns, "sum by (code) (probe_findings) > 0", "code");
        // Prometheus's own series of each scrape (up, scrape_*) carry no shard; the agents' do.
        let unlabelled = query(
            &ns,
            "count({job=\"probe\", shard=\"\", __name__=~\"probe_.*\"})",
        );
        let done = checks >= 60.0
            && seen.get("") == Some(&checks)
            && per_check.get("") == Some(&1.0)
            && shards.len() == 3
            && truth.get("PORT_CLOSED").is_some_and(|&n| n >= 56.0)
            && fleet == truth
            && unlabelled.is_empty();
        if done {
            // Each shard owns part, the three add up, and none is empty.
            let owned: f64 = (0..3)
                .map(|k| page_value(&ns, &shard_listen(k), "probe_agent_checks"))
                .sum();
            assert_eq!(owned, checks);
            for (shard, n) in &shards {
                assert!(*n >= 5.0, "shard {shard} owns only {n} of {checks} checks");
            }
            findings_come_in_pages(&ns, checks as usize);
            return;
        }
        let last = format!(
            "checks {checks}, probe_success series {seen:?}, max per check {per_check:?}, \
             by shard {shards:?}, fleet findings {fleet:?}, unsharded {truth:?}, \
             series without shard {unlabelled:?}"
        );
        assert!(
            Instant::now() < deadline,
            "the fleet never matched the unsharded agent within 90 s: {last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn lab_log(cfg: &str, name: &str) -> std::path::PathBuf {
    std::path::Path::new(cfg)
        .parent()
        .expect("lab dir")
        .join(name)
}

/// `/findings?offset=&limit=&failing=`: the pages of the unsharded agent's findings add up to
/// the whole report, and bad parameters get 400 saying which.
fn findings_come_in_pages(ns: &str, checks: usize) {
    let mut seen = std::collections::BTreeSet::new();
    let mut query = "/findings?limit=25".to_string();
    let mut pages = 0;
    loop {
        let (code, body) = curl(ns, &[&format!("http://{UNSHARDED}{query}")]);
        assert_eq!(code, 200, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).expect("a JSON page");
        let page = v["findings"].as_array().expect("findings");
        assert!(page.len() <= 25, "{query}: {} findings", page.len());
        assert_eq!(v["page"]["total"], checks, "{query}");
        assert_eq!(
            v["summary"]["findings"], checks,
            "the summary counts every finding"
        );
        for f in page {
            assert!(
                seen.insert(format!("{} {} {}", f["address"], f["port"], f["role"])),
                "{f} twice"
            );
        }
        pages += 1;
        match v["page"]["next"].as_str() {
            Some(next) => query = next.to_string(),
            None => break,
        }
        assert!(pages < 10, "more pages than 60 findings make");
    }
    assert_eq!((seen.len(), pages), (checks, 3));
    let (_, body) = curl(
        ns,
        &[&format!(
            "http://{UNSHARDED}/findings?failing=true&limit=10000"
        )],
    );
    let v: Value = serde_json::from_str(&body).expect("a JSON page");
    assert_eq!(v["page"]["total"], 58, "the closed ports");
    assert!(
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["code"] != "OK")
    );
    for (bad, why) in [
        ("limit=0", "limit=\"0\": not a number from 1 to 10000"),
        ("offset=-1", "offset=\"-1\": not a number"),
        ("page=2", "unknown parameter"),
    ] {
        let (code, body) = curl(ns, &[&format!("http://{UNSHARDED}/findings?{bad}")]);
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains(why), "{bad}: {body}");
    }
}
