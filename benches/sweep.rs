//! The scale benchmark of issue 5: `probe` against the tools people would otherwise run, on the
//! same targets, in one run, on one machine. See benches/README.md.
//!
//! It builds a lab (two network namespaces; 65,534 addresses served through AnyIP by one listener
//! on port 80 and nginx on 8080; nftables drops a quarter and resets a quarter) and measures:
//!
//! * TCP sweep of 65,534 targets: `probe` vs `nmap -sT` and `nmap -sS`;
//! * ICMP sweep of 65,534 addresses: `probe -P icmp` vs `fping`;
//! * HTTP sweep of 4,096 nginx targets: `probe` vs blackbox_exporter driven by 4,096 concurrent
//!   `/probe` requests;
//! * `probe agent` with 10,000 targets at a 10 s interval: CPU and RSS over a minute, scraped every
//!   15 s as Prometheus would.
//!
//! Wall time is the median of `PROBE_BENCH_RUNS` runs (default 3); peak RSS and CPU seconds come
//! from GNU time (`/usr/bin/time`) for the command-line tools and from /proc for the daemons.
//! Accuracy is checked against the lab's ground truth for every target of every run; the bench
//! exits non-zero if `probe` misclassifies one, or if the agent measurement is broken (no
//! listener, a failed scrape, no probe counted). Timing is reported against the targets,
//! never asserted. Run it as root with `bash benches/run.sh`, which installs the peers;
//! `PROBE_BENCH_ONLY` (tcp,icmp,http,agent) runs some parts only.
#![allow(clippy::expect_used)] // a test or bench stops at the first surprise

#[path = "../tests/it/browser.rs"]
mod browser;
#[path = "../tests/it/lab.rs"]
mod lab;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lab::{BigSweep, Lab, in_netns, probe_bin};

/// HTTP targets: the first 4,096 addresses, all answered by nginx.
const HTTP_TARGETS: usize = 4096;
/// Agent checks by default (`PROBE_BENCH_AGENT_CHECKS`), on members spread over the whole /16 (so
/// a quarter are dropped, a quarter reset). More checks than addresses take two checks a member
/// (traffic port and health-check port).
const AGENT_CHECKS: usize = 10_000;
const BLACKBOX: &str = "127.0.0.1:9115";
const AGENT_LISTEN: &str = "127.0.0.1:9465";

/// One tool's runs on one sweep.
struct Row {
    sweep: &'static str,
    tool: String,
    walls: Vec<f64>,
    cpus: Vec<f64>,
    peak_rss_kb: u64,
    /// The fewest targets classified correctly in any run.
    correct: usize,
    total: usize,
}

impl Row {
    fn new(sweep: &'static str, tool: &str, total: usize) -> Row {
        Row {
            sweep,
            tool: tool.to_string(),
            walls: Vec::new(),
            cpus: Vec::new(),
            peak_rss_kb: 0,
            correct: usize::MAX,
            total,
        }
    }

    fn record(&mut self, m: Measured, correct: usize) {
        self.walls.push(m.wall);
        self.cpus.push(m.cpu);
        self.peak_rss_kb = self.peak_rss_kb.max(m.rss_kb);
        self.correct = self.correct.min(correct);
    }

    fn wall(&self) -> f64 {
        median(&self.walls)
    }
}

/// What one run cost.
struct Measured {
    wall: f64,
    cpu: f64,
    rss_kb: u64,
}

/// The parts of the benchmark, in the order they run; `PROBE_BENCH_ONLY` picks some of them.
const PARTS: [&str; 4] = ["tcp", "icmp", "http", "agent"];

fn main() {
    let runs: usize = env_or("PROBE_BENCH_RUNS", 3).clamp(1, 20);
    let agent_secs: u64 = env_or("PROBE_BENCH_AGENT_SECS", 60).clamp(10, 600);
    // The fleet-scale run of issue 17: PROBE_BENCH_AGENT_CHECKS=100000 PROBE_BENCH_AGENT_INTERVAL=30.
    let agent_checks: usize = env_or("PROBE_BENCH_AGENT_CHECKS", AGENT_CHECKS).clamp(100, 200_000);
    let agent_interval: u32 = env_or("PROBE_BENCH_AGENT_INTERVAL", 10).clamp(1, 300);
    let only = std::env::var("PROBE_BENCH_ONLY").unwrap_or_default();
    let parts: Vec<&str> = if only.trim().is_empty() {
        PARTS.to_vec()
    } else {
        let picked: Vec<&str> = only.split(',').map(str::trim).collect();
        if let Some(bad) = picked.iter().find(|p| !PARTS.contains(p)) {
            eprintln!(
                "PROBE_BENCH_ONLY: unknown part {bad:?} (parts: {})",
                PARTS.join(",")
            );
            std::process::exit(2);
        }
        PARTS.into_iter().filter(|p| picked.contains(p)).collect()
    };
    let runs_part = |part: &str| parts.contains(&part);
    let mut tools = vec!["nginx", "/usr/bin/time"];
    if runs_part("tcp") {
        tools.push("nmap");
    }
    if runs_part("icmp") {
        tools.push("fping");
    }
    if runs_part("http") {
        tools.push("prometheus-blackbox-exporter");
    }
    for tool in tools {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            eprintln!(
                "{tool} is not installed: run `bash benches/run.sh`, which installs the peers"
            );
            std::process::exit(2);
        }
    }
    // The blackbox driver keeps 4,096 connections open, and every child inherits the limit.
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
    let started = Instant::now();
    let sweep = Lab::sweep_65534("bench");
    let lab = Bench::new(&sweep);

    let mut rows = Vec::new();
    if runs_part("tcp") {
        rows.extend(lab.tcp(runs));
    }
    if runs_part("icmp") {
        rows.extend(lab.icmp(runs));
    }
    if runs_part("http") {
        rows.extend(lab.http(runs));
    }
    // A broken measurement panics (the labs are dropped, so their namespaces go, and the bench
    // exits non-zero); it never reports zeros.
    let agent = runs_part("agent").then(|| lab.agent(agent_secs, agent_checks, agent_interval));
    // Every namespace goes before the exit below, which would skip the destructors.
    drop(lab);
    drop(sweep);

    let report = report(&rows, agent.as_ref(), runs);
    println!("{report}");
    if parts.len() == PARTS.len() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-sweep.md");
        if std::fs::write(&out, &report).is_ok() {
            println!("(also written to {})", out.display());
        }
    } else {
        println!(
            "(only {}: target/bench-sweep.md left as it was)",
            parts.join(",")
        );
    }
    println!("benchmark took {:.0} s", started.elapsed().as_secs_f64());
    let wrong: Vec<&Row> = rows
        .iter()
        .filter(|r| r.tool.starts_with("probe") && r.correct != r.total)
        .collect();
    if !wrong.is_empty() {
        for r in wrong {
            eprintln!(
                "probe misclassified targets: {} {}/{}",
                r.sweep, r.correct, r.total
            );
        }
        std::process::exit(1);
    }
}

/// The lab and the files every tool reads.
struct Bench<'a> {
    sweep: &'a BigSweep,
    dir: &'a Path,
    tcp_truth: HashMap<Ipv4Addr, &'static str>,
    icmp_truth: HashMap<Ipv4Addr, &'static str>,
}

impl<'a> Bench<'a> {
    fn new(sweep: &'a BigSweep) -> Bench<'a> {
        let dir = sweep.lab.dir.as_path();
        let mut hosts = String::new();
        let mut targets = String::new();
        let mut http = String::new();
        for (i, (ip, _, _)) in sweep.hosts.iter().enumerate() {
            let _ = writeln!(hosts, "{ip}");
            let _ = writeln!(targets, "{ip}:80");
            if i < HTTP_TARGETS {
                let _ = writeln!(http, "http://{ip}:8080/");
            }
        }
        write(dir, "hosts.txt", &hosts);
        write(dir, "tcp.txt", &targets);
        write(dir, "http.txt", &http);
        Bench {
            sweep,
            dir,
            tcp_truth: sweep.hosts.iter().map(|(ip, t, _)| (*ip, *t)).collect(),
            icmp_truth: sweep.hosts.iter().map(|(ip, _, i)| (*ip, *i)).collect(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Runs `args` in the client namespace under GNU time.
    fn timed(&self, args: &[&str]) -> (Output, Measured) {
        let stats = self.path("time.txt");
        let mut all = vec![
            "timeout",
            "300",
            "/usr/bin/time",
            "-o",
            &stats,
            "-f",
            "%M %U %S",
        ];
        all.extend_from_slice(args);
        let started = Instant::now();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.sweep.client])
            .args(&all)
            .output()
            .expect("run a benchmarked command");
        let wall = started.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(&stats).unwrap_or_default();
        // GNU time prints "Command exited with non-zero status N" first when it did.
        let last = text.lines().last().unwrap_or_default();
        let f: Vec<f64> = last
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() != 3 {
            panic!(
                "{args:?} gave no timing ({text:?}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        (
            out,
            Measured {
                wall,
                cpu: f[1] + f[2],
                rss_kb: f[0] as u64,
            },
        )
    }

    /// Runs `probe` on a targets file with a 1 s timeout and JSON output, plus `extra`.
    fn probe(&self, extra: &[&str], targets: &str) -> (Output, Measured) {
        let mut args = vec![probe_bin()];
        args.extend_from_slice(extra);
        args.extend([
            "--timeout",
            "1s",
            "--no-progress",
            "--output",
            "json",
            "--targets-file",
            targets,
        ]);
        self.timed(&args)
    }

    fn tcp(&self, runs: usize) -> Vec<Row> {
        let total = self.tcp_truth.len();
        let mut probe = Row::new("TCP connect, 65,534 targets", "probe", total);
        let mut nmap_st = Row::new("TCP connect, 65,534 targets", "nmap -sT", total);
        let mut nmap_ss = Row::new("TCP connect, 65,534 targets", "nmap -sS", total);
        let (targets, hosts) = (self.path("tcp.txt"), self.path("hosts.txt"));
        for _ in 0..runs {
            let (out, m) = self.probe(&[], &targets);
            let correct = self.probe_correct(&out, &self.tcp_truth, ":80");
            probe.record(m, correct);
            for (row, scan) in [(&mut nmap_st, "-sT"), (&mut nmap_ss, "-sS")] {
                let (out, m) = self.timed(&[
                    "nmap",
                    scan,
                    "-Pn",
                    "-n",
                    "-p",
                    "80",
                    "--max-retries",
                    "0",
                    "-T5",
                    "--min-rate",
                    "50000",
                    "-oG",
                    "-",
                    "-iL",
                    &hosts,
                ]);
                let correct = self.nmap_correct(&out);
                row.record(m, correct);
            }
        }
        vec![probe, nmap_st, nmap_ss]
    }

    fn icmp(&self, runs: usize) -> Vec<Row> {
        let total = self.icmp_truth.len();
        let mut probe = Row::new("ICMP echo, 65,534 addresses", "probe -P icmp", total);
        let mut fping = Row::new("ICMP echo, 65,534 addresses", "fping", total);
        let hosts = self.path("hosts.txt");
        for _ in 0..runs {
            let (out, m) = self.probe(&["-P", "icmp"], &hosts);
            let correct = self.probe_correct(&out, &self.icmp_truth, "");
            probe.record(m, correct);
            // `-a` lists the addresses that answered, for the accuracy check; it does not change
            // what fping sends.
            let (out, m) = self.timed(&[
                "fping", "-q", "-r0", "-t", "1000", "-i", "0", "-a", "-f", &hosts,
            ]);
            let alive: HashSet<Ipv4Addr> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            let correct = self
                .icmp_truth
                .iter()
                .filter(|(ip, want)| (**want == "open") == alive.contains(ip))
                .count();
            fping.record(m, correct);
        }
        vec![probe, fping]
    }

    fn http(&self, runs: usize) -> Vec<Row> {
        let mut probe = Row::new("HTTP GET, 4,096 nginx targets", "probe", HTTP_TARGETS);
        let mut blackbox = Row::new(
            "HTTP GET, 4,096 nginx targets",
            "blackbox_exporter",
            HTTP_TARGETS,
        );
        let targets = self.path("http.txt");
        let config = self.path("blackbox.yml");
        write(
            self.dir,
            "blackbox.yml",
            "modules:\n  http_2xx:\n    prober: http\n    timeout: 1s\n    http:\n      preferred_ip_protocol: ip4\n",
        );
        // The lab's `spawn` needs `&mut`; the blackbox process lives in a lab of its own, sharing
        // the client namespace by name.
        let mut bb_lab = Lab::new("bench-blackbox");
        let pid = bb_lab.spawn(
            &self.sweep.client,
            &[
                "prometheus-blackbox-exporter",
                &format!("--config.file={config}"),
                &format!("--web.listen-address={BLACKBOX}"),
            ],
            &self.dir.join("blackbox.log"),
        );
        bb_lab.wait_listening(&self.sweep.client, BLACKBOX);
        let urls: Vec<String> = self
            .sweep
            .hosts
            .iter()
            .take(HTTP_TARGETS)
            .map(|(ip, _, _)| format!("http://{ip}:8080/"))
            .collect();
        for _ in 0..runs {
            let (out, m) = self.probe(&[], &targets);
            let correct = json_rows(&out)
                .iter()
                .filter(|r| r["success"] == true)
                .count();
            probe.record(m, correct);

            let cpu_before = cpu_seconds(pid);
            let started = Instant::now();
            let bodies = in_netns(&self.sweep.client, {
                let urls = urls.clone();
                move || drive_blackbox(&urls)
            });
            let wall = started.elapsed().as_secs_f64();
            let correct = bodies
                .iter()
                .filter(|b| b.contains("\nprobe_success 1"))
                .count();
            blackbox.record(
                Measured {
                    wall,
                    cpu: cpu_seconds(pid) - cpu_before,
                    rss_kb: lab::status_kb(pid, "VmHWM:"),
                },
                correct,
            );
        }
        vec![probe, blackbox]
    }

    /// Runs the agent on 10,000 targets, waits out the first interval, then measures for
    /// `secs` seconds with a scrape of /metrics every 15 s. Panics, saying what broke, when the
    /// measurement is not one: the agent never listens or exits, a scrape fails or lacks the
    /// probe counter, or no probe was made while it was measured.
    fn agent(&self, secs: u64, checks: usize, interval_s: u32) -> AgentResult {
        let per_member = if checks > self.sweep.hosts.len() {
            2
        } else {
            1
        };
        let count = checks / per_member;
        let step = (self.sweep.hosts.len() / count).max(1);
        let members = (0..count).map(|i| self.sweep.hosts[i * step].0);
        let config = lab::fleet_config_with(members, interval_s, (per_member == 2).then_some(81));
        write(self.dir, "agent.yaml", &config);
        let mut agent_lab = Lab::new("bench-agent");
        let log = self.dir.join("agent.log");
        let pid = agent_lab.spawn(
            &self.sweep.client,
            &[
                probe_bin(),
                "agent",
                "--config",
                &self.path("agent.yaml"),
                "--listen",
                AGENT_LISTEN,
            ],
            &log,
        );
        // Panics with the agent's log if it never listens.
        agent_lab.wait_listening(&self.sweep.client, AGENT_LISTEN);
        // One interval for the first runs to spread out, then a little more.
        std::thread::sleep(Duration::from_secs(u64::from(interval_s) + 2));
        let client = self.sweep.client.clone();
        let broken = |what: String| -> ! {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "the agent measurement is broken: {what}\nlast lines of the agent's log:\n{}",
                tail.join("\n")
            )
        };
        let scrape_max = std::cell::Cell::new(0.0f64);
        // Scraped as Prometheus scrapes: asking for gzip. The page's size on the wire and
        // decompressed are both kept.
        let wire_bytes = std::cell::Cell::new(0usize);
        let scrape = |n: usize| {
            let asked = Instant::now();
            let answer = in_netns(&client, || {
                lab::http_request_bytes(
                    AGENT_LISTEN,
                    "GET /metrics HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
                )
            });
            // Timed to the answer's last byte, as Prometheus times a scrape: decompressing it
            // here is the benchmark's work, not the agent's.
            let took = asked.elapsed().as_secs_f64();
            let Some(answer) = answer else {
                broken(format!(
                    "scrape {n} of http://{AGENT_LISTEN}/metrics failed"
                ));
            };
            let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
                broken(format!("scrape {n} has no end of headers"));
            };
            let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
            let body = &answer[split + 4..];
            let page = if head.contains("\r\ncontent-encoding: gzip") {
                let mut text = String::new();
                if let Err(e) = std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(body),
                    &mut text,
                ) {
                    broken(format!(
                        "scrape {n}: the gzip body does not decompress: {e}"
                    ));
                }
                text
            } else {
                String::from_utf8_lossy(body).into_owned()
            };
            scrape_max.set(scrape_max.get().max(took));
            wire_bytes.set(body.len());
            let status = head.lines().next().unwrap_or_default();
            if !status.ends_with(" 200 ok") {
                broken(format!("scrape {n} answered {status:?}, not 200"));
            }
            if !page.contains("\nprobe_agent_probes_total") {
                broken(format!(
                    "scrape {n} has no probe_agent_probes_total: {page:.300}"
                ));
            }
            page
        };
        let alive = |when: &str| {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                broken(format!("the agent (pid {pid}) exited {when}"));
            }
        };
        alive("during the warm-up");
        let before = scrape(1);
        let cpu_before = cpu_seconds(pid);
        let started = Instant::now();
        let mut rss_max = 0;
        let mut scrapes = 1;
        let mut scrape_bytes = before.len();
        let mut next_scrape = started + Duration::from_secs(15);
        // Halfway, the configuration is reloaded (the same file, so every check carries over):
        // how long it takes, and what resident memory it costs.
        let rss_before_reload = std::cell::Cell::new(0u64);
        let mut reload: Option<(f64, u64)> = None; // (seconds, peak RSS KiB while it ran)
        while started.elapsed() < Duration::from_secs(secs) {
            std::thread::sleep(Duration::from_millis(500));
            rss_max = rss_max.max(lab::status_kb(pid, "VmRSS:"));
            if reload.is_none() && started.elapsed() >= Duration::from_secs(secs / 2) {
                rss_before_reload.set(lab::status_kb(pid, "VmRSS:"));
                let asked = Instant::now();
                let peak = std::sync::atomic::AtomicU64::new(0);
                let done = std::sync::atomic::AtomicBool::new(false);
                let answer = std::thread::scope(|sc| {
                    sc.spawn(|| {
                        while !done.load(std::sync::atomic::Ordering::Relaxed) {
                            peak.fetch_max(
                                lab::status_kb(pid, "VmRSS:"),
                                std::sync::atomic::Ordering::Relaxed,
                            );
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    });
                    let a = in_netns(&client, || {
                        lab::http_request(AGENT_LISTEN, "POST /-/reload HTTP/1.0\r\n\r\n")
                    });
                    done.store(true, std::sync::atomic::Ordering::Relaxed);
                    a
                });
                let took = asked.elapsed().as_secs_f64();
                match answer {
                    Some(a) if a.lines().next().unwrap_or_default().ends_with(" 200 OK") => {}
                    other => broken(format!("the reload failed: {other:.300?}")),
                }
                let peak = peak.into_inner();
                rss_max = rss_max.max(peak);
                reload = Some((took, peak));
            }
            if Instant::now() >= next_scrape {
                scrapes += 1;
                scrape_bytes = scrape(scrapes).len();
                next_scrape += Duration::from_secs(15);
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        alive("while it was measured");
        let cpu = cpu_seconds(pid) - cpu_before;
        scrapes += 1;
        let after = scrape(scrapes);
        rss_max = rss_max.max(lab::status_kb(pid, "VmRSS:"));
        let probes = lab::metric_sum(&after, "probe_agent_probes_total")
            - lab::metric_sum(&before, "probe_agent_probes_total");
        if probes < 1.0 {
            broken(format!(
                "probe_agent_probes_total went from {} to {} in {elapsed:.0} s: no probe was made",
                lab::metric_sum(&before, "probe_agent_probes_total"),
                lab::metric_sum(&after, "probe_agent_probes_total")
            ));
        }
        let skipped = lab::metric_sum(&after, "probe_agent_ticks_skipped_total")
            - lab::metric_sum(&before, "probe_agent_ticks_skipped_total");
        // Why, when any were: the counter's `reason` label.
        let skipped_why = ["in_flight", "concurrency", "late"]
            .iter()
            .filter_map(|reason| {
                let series = format!("probe_agent_ticks_skipped_total{{reason=\"{reason}\"}}");
                let n = lab::metric_sum(&after, &series) - lab::metric_sum(&before, &series);
                (n > 0.0).then(|| format!("{n:.0} {reason}"))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let per_check = after
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("address=\""))
            .count();
        let checks = lab::metric_sum(&after, "probe_agent_checks").max(1.0);
        // The status page at this size, once the rest is measured (Chromium's own work would
        // count against nothing, but it shares the machine).
        let page = status_page(&mut agent_lab, &client);
        AgentResult {
            page,
            secs: elapsed,
            cpu_percent: 100.0 * cpu / elapsed,
            rss_max_kb: rss_max,
            rss_end_kb: lab::status_kb(pid, "VmRSS:"),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count()),
            probes,
            skipped,
            skipped_why,
            scrapes,
            scrape_bytes,
            scrape_wire_bytes: wire_bytes.get(),
            series_per_check: per_check as f64 / checks,
            reload_s: reload.map_or(0.0, |r| r.0),
            reload_rss_kb: (rss_before_reload.get(), reload.map_or(0, |r| r.1)),
            checks: checks as usize,
            interval_s,
            scrape_max_s: scrape_max.get(),
        }
    }

    fn probe_correct(
        &self,
        out: &Output,
        truth: &HashMap<Ipv4Addr, &'static str>,
        suffix: &str,
    ) -> usize {
        json_rows(out)
            .iter()
            .filter(|row| {
                let target = row["target"].as_str().unwrap_or_default();
                let ip = target.strip_suffix(suffix).and_then(|a| a.parse().ok());
                ip.and_then(|ip| truth.get(&ip)).copied() == row["state"].as_str()
            })
            .count()
    }

    /// Port states from nmap's grepable output (`Host: 10.200.0.1 ()  Ports: 80/open/tcp//…`).
    fn nmap_correct(&self, out: &Output) -> usize {
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter_map(|line| {
                let host: Ipv4Addr = line
                    .strip_prefix("Host: ")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                let state = line.split("Ports: ").nth(1)?.split('/').nth(1)?;
                Some((host, state.to_string()))
            })
            .filter(|(host, state)| self.tcp_truth.get(host).copied() == Some(state.as_str()))
            .count()
    }
}

struct AgentResult {
    secs: f64,
    cpu_percent: f64,
    rss_max_kb: u64,
    rss_end_kb: u64,
    fds: usize,
    probes: f64,
    skipped: f64,
    /// The skipped ticks by reason, `3 concurrency, 1 late`.
    skipped_why: String,
    scrapes: usize,
    /// The last scrape's page, decompressed, and as sent (gzip).
    scrape_bytes: usize,
    scrape_wire_bytes: usize,
    /// Series that carry a check's labels, per check scheduled, on the last scrape.
    series_per_check: f64,
    checks: usize,
    interval_s: u32,
    /// How long the reload halfway took, and the resident memory before it and at its peak.
    reload_s: f64,
    reload_rss_kb: (u64, u64),
    /// The slowest scrape, request to last byte.
    scrape_max_s: f64,
    page: PageTiming,
}

/// The agent's status page in headless Chromium (issue 18).
struct PageTiming {
    /// First contentful paint of each fresh load, from navigation start (ms).
    fcp_ms: Vec<f64>,
    /// The page's response end, from navigation start (ms): the server's share.
    response_ms: Vec<f64>,
    /// From ticking "failing only" to the filtered rows in place (ms).
    filter_ms: Vec<f64>,
    /// The document's size as sent, and the rows it shows.
    bytes: f64,
    rows: u64,
}

/// Loads `/` five times in a fresh headless Chromium inside `ns` and applies a filter each time.
fn status_page(lab: &mut Lab, ns: &str) -> PageTiming {
    let b = browser::Browser::start(lab, ns);
    let mut t = PageTiming {
        fcp_ms: Vec::new(),
        response_ms: Vec::new(),
        filter_ms: Vec::new(),
        bytes: 0.0,
        rows: 0,
    };
    for _ in 0..5 {
        b.goto(&format!("http://{AGENT_LISTEN}/"));
        let v = b.wait_for(
            "the status page's first contentful paint",
            "const p = performance.getEntriesByName('first-contentful-paint')[0];\
             const n = performance.getEntriesByType('navigation')[0];\
             return p ? [p.startTime, n.responseEnd, n.encodedBodySize,\
               document.querySelectorAll('summary.row').length] : null",
            Duration::from_secs(30),
        );
        t.fcp_ms.push(v[0].as_f64().unwrap_or(f64::NAN));
        t.response_ms.push(v[1].as_f64().unwrap_or(f64::NAN));
        t.bytes = v[2].as_f64().unwrap_or(0.0);
        t.rows = v[3].as_u64().unwrap_or(0);
        let ms = b.eval(
            "const t0 = performance.now(), before = document.documentElement.dataset.updated;\
             document.querySelector('input[name=failing]').click();\
             return new Promise(done => { const tick = () =>\
               document.documentElement.dataset.updated !== before\
                 ? done(performance.now() - t0) : setTimeout(tick, 2); tick(); })",
            serde_json::json!([]),
        );
        t.filter_ms.push(ms.as_f64().unwrap_or(f64::NAN));
    }
    b.assert_clean_log("the status page at fleet size");
    t
}

/// 4,096 concurrent `/probe` requests, as Prometheus would send them; returns every body.
fn drive_blackbox(urls: &[String]) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, url) in urls.iter().enumerate() {
            let request = format!(
                "GET /probe?module=http_2xx&target={url} HTTP/1.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
            );
            tasks.spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut body = String::new();
                if let Ok(mut s) = tokio::net::TcpStream::connect(BLACKBOX).await
                    && s.write_all(request.as_bytes()).await.is_ok()
                {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        s.read_to_string(&mut body),
                    )
                    .await;
                }
                (i, body)
            });
        }
        let mut bodies = vec![String::new(); urls.len()];
        while let Some(Ok((i, body))) = tasks.join_next().await {
            bodies[i] = body;
        }
        bodies
    })
}

/// User plus system CPU seconds of a process so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    match (f.get(11), f.get(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => 0.0,
    }
}

fn json_rows(out: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "probe printed no JSON array ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn report(rows: &[Row], agent: Option<&AgentResult>, runs: usize) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "Wall time is the median of {runs} runs; peak RSS the largest; CPU is user + system seconds (median).\n"
    );
    let _ = writeln!(r, "| sweep | tool | wall | peak RSS | CPU | correct |");
    let _ = writeln!(r, "|---|---|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(
            r,
            "| {} | {} | {:.2} s | {:.0} MB | {:.2} s | {}/{} |",
            row.sweep,
            row.tool,
            row.wall(),
            row.peak_rss_kb as f64 / 1024.0,
            median(&row.cpus),
            row.correct,
            row.total
        );
    }
    if let Some(agent) = agent {
        let _ = writeln!(
            r,
            "\n`probe agent`, {} TCP checks at a {} s interval, measured over {:.0} s after one interval of warm-up, \
         scraped every 15 s with gzip ({} scrapes of {:.1} MB, {:.1} MB decompressed, the slowest {:.2} s): **{:.1} % of one core**, RSS **{:.0} MB** at most \
         ({:.0} MB at the end), {} open files; {:.0} probes ({:.0}/s), {:.0} ticks skipped{}.\n",
            agent.checks,
            agent.interval_s,
            agent.secs,
            agent.scrapes,
            agent.scrape_wire_bytes as f64 / 1e6,
            agent.scrape_bytes as f64 / 1e6,
            agent.scrape_max_s,
            agent.cpu_percent,
            agent.rss_max_kb as f64 / 1024.0,
            agent.rss_end_kb as f64 / 1024.0,
            agent.fds,
            agent.probes,
            agent.probes / agent.secs,
            agent.skipped,
            if agent.skipped_why.is_empty() {
                String::new()
            } else {
                format!(" ({})", agent.skipped_why)
            },
        );
    }
    if let Some(agent) = agent {
        let p = &agent.page;
        let _ = writeln!(
            r,
            "The status page (`/`) at {} checks in headless Chromium, five fresh loads: first \
             contentful paint **{:.0} ms** (median; the response itself {:.0} ms), {:.0} KB on the wire, \
             {} rows shown; \"failing only\" applied in place in {:.0} ms.\n",
            agent.checks,
            median(&p.fcp_ms),
            median(&p.response_ms),
            p.bytes / 1e3,
            p.rows,
            median(&p.filter_ms)
        );
    }
    let find = |sweep: &str, tool: &str| {
        rows.iter()
            .find(|r| r.sweep.starts_with(sweep) && r.tool == tool)
    };
    let _ = writeln!(r, "| target (issues 5, 17 and 18) | measured | |");
    let _ = writeln!(r, "|---|---|---|");
    let mut verdict = |what: String, measured: String, met: bool| {
        let _ = writeln!(
            r,
            "| {what} | {measured} | {} |",
            if met { "met" } else { "**not met**" }
        );
    };
    if let (Some(p), Some(st)) = (find("TCP", "probe"), find("TCP", "nmap -sT")) {
        verdict(
            "TCP 65,534: ≤ 2.5 s, all correct".into(),
            format!("{:.2} s, {}/{}", p.wall(), p.correct, p.total),
            p.wall() <= 2.5 && p.correct == p.total,
        );
        let ratio = st.wall() / p.wall();
        verdict(
            "TCP: ≥ 5x faster than nmap -sT".into(),
            format!("{ratio:.1}x ({:.2} s vs {:.2} s)", p.wall(), st.wall()),
            ratio >= 5.0,
        );
        verdict(
            "TCP: peak RSS ≤ 150 MB".into(),
            format!("{:.0} MB", p.peak_rss_kb as f64 / 1024.0),
            p.peak_rss_kb <= 150 * 1024,
        );
    }
    if let (Some(p), Some(f)) = (find("ICMP", "probe -P icmp"), find("ICMP", "fping")) {
        let ratio = f.wall() / p.wall();
        verdict(
            "ICMP 65,534: ≥ 1.2x fping's speed, all correct".into(),
            format!(
                "{ratio:.2}x ({:.2} s vs {:.2} s), {}/{}",
                p.wall(),
                f.wall(),
                p.correct,
                p.total
            ),
            ratio >= 1.2 && p.correct == p.total,
        );
    }
    if let (Some(p), Some(b)) = (find("HTTP", "probe"), find("HTTP", "blackbox_exporter")) {
        let ratio = b.wall() / p.wall();
        verdict(
            "HTTP 4,096: ≥ 10x blackbox throughput, no false failure".into(),
            format!(
                "{ratio:.1}x ({:.0}/s vs {:.0}/s), {} false failures (blackbox: {})",
                p.total as f64 / p.wall(),
                b.total as f64 / b.wall(),
                p.total - p.correct,
                b.total - b.correct
            ),
            ratio >= 10.0 && p.correct == p.total,
        );
        let rss = p.peak_rss_kb as f64 / b.peak_rss_kb.max(1) as f64;
        verdict(
            "HTTP: peak RSS ≤ 1/10 of blackbox's".into(),
            format!(
                "{:.0} MB vs {:.0} MB (1/{:.0})",
                p.peak_rss_kb as f64 / 1024.0,
                b.peak_rss_kb as f64 / 1024.0,
                1.0 / rss
            ),
            rss <= 0.1,
        );
    }
    if let Some(agent) = agent {
        if agent.checks >= 100_000 {
            verdict(
                format!(
                    "agent {} checks @ {} s: no skipped ticks",
                    agent.checks, agent.interval_s
                ),
                format!("{:.0}", agent.skipped),
                agent.skipped == 0.0,
            );
            verdict(
                "agent 100,000 checks: ≤ 1 core".into(),
                format!("{:.0} % of one core", agent.cpu_percent),
                agent.cpu_percent <= 100.0,
            );
            verdict(
                "agent 100,000 checks: ≤ 600 MB RSS".into(),
                format!("{:.0} MB", agent.rss_max_kb as f64 / 1024.0),
                agent.rss_max_kb <= 600 * 1024,
            );
            let (before, peak) = agent.reload_rss_kb;
            verdict(
                "agent 100,000 checks: a reload neither pauses probing nor doubles memory".into(),
                format!(
                    "reload {:.1} s, {:.0} ticks skipped, RSS {:.0} MB before, {:.0} MB at most during",
                    agent.reload_s,
                    agent.skipped,
                    before as f64 / 1024.0,
                    peak as f64 / 1024.0
                ),
                // "Does not double": at most half again the memory it had.
                agent.skipped == 0.0 && peak * 2 <= before * 3,
            );
            verdict(
                "agent 100,000 checks: /metrics served in < 1 s".into(),
                format!(
                    "{:.2} s ({:.0} MB gzip, {:.0} MB of text)",
                    agent.scrape_max_s,
                    agent.scrape_wire_bytes as f64 / 1e6,
                    agent.scrape_bytes as f64 / 1e6
                ),
                agent.scrape_max_s < 1.0,
            );
        } else {
            verdict(
                format!(
                    "agent {} checks @ {} s: ≤ 5 % of a core",
                    agent.checks, agent.interval_s
                ),
                format!("{:.1} %", agent.cpu_percent),
                agent.cpu_percent <= 5.0,
            );
            verdict(
                "agent 10,000 checks: ≤ 100 MB RSS".into(),
                format!("{:.0} MB", agent.rss_max_kb as f64 / 1024.0),
                agent.rss_max_kb <= 100 * 1024,
            );
            verdict(
                "agent 10,000 checks: /metrics ≤ 4 MB as Prometheus fetches it (gzip)".into(),
                format!("{:.1} MB", agent.scrape_wire_bytes as f64 / 1e6),
                agent.scrape_wire_bytes <= 4_000_000,
            );
            verdict(
                "agent 10,000 checks: /metrics ≤ 4 MB of text, decompressed".into(),
                format!("{:.1} MB", agent.scrape_bytes as f64 / 1e6),
                agent.scrape_bytes <= 4_000_000,
            );
        }
        verdict(
            format!(
                "status page at {} checks: first paint < 1 s in headless Chromium (issue 18)",
                agent.checks
            ),
            format!("{:.0} ms", median(&agent.page.fcp_ms)),
            median(&agent.page.fcp_ms) < 1000.0,
        );
        verdict(
            "agent: ≤ 10 series per check".into(),
            format!("{:.1}", agent.series_per_check),
            agent.series_per_check <= 10.0,
        );
    }
    r
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}
