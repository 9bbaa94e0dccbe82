//! Sweep benchmark: 4,096 TCP targets in the network lab (half open, a quarter silently dropped, a
//! quarter reset by nftables), 1 s timeout, `probe` against `nmap -sT` on the same targets in the
//! same run. Prints median wall time, peak RSS and accuracy against the known ground truth.
//!
//! Run: `cargo bench --bench sweep` as root (it builds network namespaces). `PROBE_BENCH_RUNS`
//! sets the number of runs per tool (default 5). nmap is measured when it is installed
//! (`scripts/test.sh` installs it). Exits non-zero if `probe` misclassifies any target; timing is
//! reported, never asserted.

#[path = "../tests/it/lab.rs"]
mod lab;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use lab::{Lab, Sweep};

/// The bar for this sweep.
const TARGET_WALL: Duration = Duration::from_secs(2);

struct Measured {
    tool: &'static str,
    walls: Vec<Duration>,
    correct: usize,
    total: usize,
    peak_rss_kb: Option<u64>,
}

fn main() {
    let runs: usize = std::env::var("PROBE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .clamp(1, 50);
    let sweep = Lab::sweep_4096("bench");
    let targets = sweep.targets.to_str().expect("utf-8 path").to_string();

    let probe = measure_probe(&sweep, &targets, runs);
    let mut rows = vec![probe];
    if Command::new("nmap").arg("--version").output().is_ok() {
        // As issue 5 specifies it: -T5 caps nmap's adaptive RTT timeout at 300 ms, so it gives up
        // on silent targets well before 1 s.
        rows.push(measure_nmap(&sweep, runs, "nmap -sT", &[]));
    } else {
        eprintln!("nmap not installed: no peer measured (scripts/test.sh installs it)");
    }

    println!(
        "\nsweep of 4096 TCP targets (2048 open, 1024 dropped, 1024 reset), timeout 1 s, {runs} runs each"
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>11} {:>10}",
        "tool", "median", "min", "max", "correct", "peak RSS"
    );
    for m in &rows {
        println!(
            "{:<12} {:>9} {:>9} {:>9} {:>11} {:>10}",
            m.tool,
            secs(median(&m.walls)),
            secs(*m.walls.iter().min().expect("at least one run")),
            secs(*m.walls.iter().max().expect("at least one run")),
            format!("{}/{}", m.correct, m.total),
            m.peak_rss_kb
                .map(|kb| format!("{:.1} MB", kb as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
        );
    }
    let probe_median = median(&rows[0].walls);
    for peer in &rows[1..] {
        let ratio = median(&peer.walls).as_secs_f64() / probe_median.as_secs_f64();
        println!(
            "{}: median {ratio:.2}x probe's. nmap declares a silent target filtered after its \
             adaptive RTT timeout (~0.3 s here); probe waits the full 1 s deadline, as a health \
             check with that timeout would, so a quarter of dropped targets sets its floor at 1 s.",
            peer.tool
        );
    }
    let met = if probe_median < TARGET_WALL {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "bar: 4096 targets classified correctly in under {} s: {met} (median {})",
        TARGET_WALL.as_secs(),
        secs(probe_median)
    );
    if rows[0].correct != rows[0].total {
        eprintln!("probe misclassified targets");
        std::process::exit(1);
    }
}

fn measure_probe(sweep: &Sweep, targets: &str, runs: usize) -> Measured {
    let mut walls = Vec::new();
    let mut correct = usize::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let run = sweep.lab.probe_json(
            &sweep.client,
            &[
                "--timeout",
                "1s",
                "--no-progress",
                "--targets-file",
                targets,
            ],
        );
        walls.push(started.elapsed());
        let ok = run
            .json()
            .iter()
            .filter(|row| {
                let target = row["target"].as_str().unwrap_or_default();
                sweep.expected.get(target).copied() == row["state"].as_str()
            })
            .count();
        correct = correct.min(ok);
    }
    Measured {
        tool: "probe",
        walls,
        correct,
        total: sweep.expected.len(),
        peak_rss_kb: children_max_rss_kb(),
    }
}

fn measure_nmap(sweep: &Sweep, runs: usize, tool: &'static str, extra: &[&str]) -> Measured {
    let hosts: String = sweep
        .expected
        .keys()
        .map(|t| format!("{}\n", t.trim_end_matches(":80")))
        .collect();
    let hosts_file = sweep.lab.dir.join("hosts.txt");
    std::fs::write(&hosts_file, hosts).expect("write the nmap host list");
    let mut walls = Vec::new();
    let mut correct = usize::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let hosts = hosts_file.to_str().expect("utf-8 path");
        let mut args = vec![
            "timeout",
            "120",
            "nmap",
            "-sT",
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
            hosts,
        ];
        args.extend_from_slice(extra);
        let out = sweep.lab.sh(&sweep.client, &args);
        walls.push(started.elapsed());
        let states = nmap_states(&String::from_utf8_lossy(&out.stdout));
        let ok = sweep
            .expected
            .iter()
            .filter(|(target, want)| {
                states
                    .get(target.trim_end_matches(":80"))
                    .map(String::as_str)
                    == Some(**want)
            })
            .count();
        correct = correct.min(ok);
    }
    Measured {
        tool,
        walls,
        correct,
        total: sweep.expected.len(),
        peak_rss_kb: None,
    }
}

/// Port states by host from nmap's grepable output (`Host: 10.200.0.1 ()  Ports: 80/open/tcp//…`).
fn nmap_states(grepable: &str) -> HashMap<String, String> {
    grepable
        .lines()
        .filter_map(|line| {
            let host = line.strip_prefix("Host: ")?.split_whitespace().next()?;
            let ports = line.split("Ports: ").nth(1)?;
            let state = ports.split('/').nth(1)?;
            Some((host.to_string(), state.to_string()))
        })
        .collect()
}

/// Largest resident set of any waited-for child so far (the probe runs come first).
fn children_max_rss_kb() -> Option<u64> {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .ok()
        .map(|u| u.max_rss() as u64)
}

fn median(walls: &[Duration]) -> Duration {
    let mut sorted = walls.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
