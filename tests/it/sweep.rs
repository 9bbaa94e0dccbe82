//! Many targets at once: correctness of a large sweep, streaming output, interruption.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use crate::lab::{Lab, Sweep};

/// Silently drops TCP port 82 on the server.
const DROP_PORT_82: &str = "table ip t {
  chain i {
    type filter hook input priority 0; policy accept;
    tcp dport 82 drop
  }
}";

/// Asserts that `run` has one row per target of `expected`, in input order, each in its state.
fn assert_every_target_classified(run: &crate::lab::ProbeRun, expected: &HashMap<String, &str>) {
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let rows = run.json();
    assert_eq!(rows.len(), expected.len(), "one result per target");
    let mut wrong = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        let target = row["target"].as_str().unwrap_or_default();
        let state = row["state"].as_str().unwrap_or_default();
        *counts.entry(state.to_string()).or_default() += 1;
        if expected.get(target) != Some(&state) {
            wrong.push(format!(
                "{target}: {state} ({}), expected {:?}",
                row["reason"],
                expected.get(target)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} misclassified, e.g. {:?}; counts {counts:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    // Input order is kept in the JSON array.
    let last = std::net::Ipv4Addr::from(0x0AC8_0000 | (expected.len() as u32 - 1));
    assert_eq!(rows[0]["target"], "10.200.0.0:80");
    assert_eq!(rows[rows.len() - 1]["target"], format!("{last}:80"));
}

#[test]
fn a_sweep_of_4096_targets_classifies_every_target() {
    let Sweep {
        lab,
        client,
        targets,
        expected,
        ..
    } = Lab::sweep("sweep", 4096);
    let run = lab.probe_json(
        &client,
        &[
            "--timeout",
            "1s",
            "--targets-file",
            targets.to_str().unwrap_or_default(),
        ],
    );
    assert_every_target_classified(&run, &expected);
}

/// With 256 open files allowed, the sweep keeps at most 192 probes in flight (the limit less
/// what the process needs besides) instead of turning EMFILE into errors or false `filtered`s,
/// even when far more concurrency is asked for.
#[test]
fn a_sweep_of_10000_targets_under_ulimit_256_classifies_every_target() {
    let Sweep {
        lab,
        client,
        targets,
        expected,
        ..
    } = Lab::sweep("sweep-nofile", 10_000);
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &client,
            "prlimit",
            "--nofile=256:256",
            "--",
        ])
        .arg(crate::lab::probe_bin())
        .args(["--output", "json", "--timeout", "500ms"])
        .args(["--concurrency", "20000", "--targets-file"])
        .arg(&targets)
        .output()
        .expect("run prlimit (util-linux)");
    let run = crate::lab::ProbeRun::from(out);
    assert!(
        !run.stderr.contains("Too many open files"),
        "{}",
        run.stderr
    );
    assert_every_target_classified(&run, &expected);
    drop(lab);
}

#[test]
fn jsonl_streams_one_object_per_line_as_probes_complete() {
    let (mut lab, client, server) = Lab::pair("jsonl");
    lab.tcp_listener(&server, "10.77.0.2:80");
    lab.nft(&server, DROP_PORT_82);
    let run = lab.probe(
        &client,
        &[
            "-o",
            "jsonl",
            "--timeout",
            "1s",
            "-t",
            "10.77.0.2:82",
            "-t",
            "10.77.0.2:80",
            "-t",
            "10.77.0.2:81",
        ],
    );
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    // The dropped target takes the whole timeout, so it arrives last though it was named first.
    assert_eq!(
        lines[2]["target"], "10.77.0.2:82",
        "completion order: {}",
        run.stdout
    );
    assert_eq!(lines[2]["state"], "filtered");
}

#[test]
fn interrupt_stops_cleanly_and_reports_what_finished() {
    let (mut lab, client, server) = Lab::pair("sigint");
    lab.tcp_listener(&server, "10.77.0.2:80");
    lab.nft(&server, DROP_PORT_82);
    let mut child = lab.spawn_probe(
        &client,
        &[
            "-o",
            "json",
            "--timeout",
            "30s",
            "-t",
            "10.77.0.2:80",
            "-t",
            "10.77.0.2:82",
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for probe") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "probe did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(
        status.code(),
        Some(130),
        "interrupted exit code; stderr: {stderr}"
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&stdout).expect("JSON array of finished probes");
    assert_eq!(rows.len(), 1, "only the finished probe: {stdout}");
    assert_eq!(rows[0]["target"], "10.77.0.2:80");
    assert!(
        stderr.contains("interrupted: 1 of 2 probes finished"),
        "{stderr}"
    );
}

#[test]
fn a_rate_cap_spaces_probe_starts() {
    let (mut lab, client, server) = Lab::pair("rate");
    let accepted = lab.tcp_listener_timed(&server, "10.77.0.2:80");
    // 21 probes at 20/s: probe i starts i/20 s after the first, so the listener accepts the
    // last one second after the first. Measured where the connections arrive, so the time the
    // probe process takes to start does not count.
    const PROBES: usize = 21;
    const RATE: f64 = 20.0;
    let mut args = vec!["--rate".to_string(), RATE.to_string()];
    for _ in 0..PROBES {
        args.extend(["-t".to_string(), "10.77.0.2:80".to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = lab.probe_json(&client, &args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json().len(), PROBES);
    let times = accepted.lock().expect("accept times").clone();
    assert_eq!(times.len(), PROBES, "one connection per probe");
    let offsets: Vec<f64> = times
        .iter()
        .map(|t| t.duration_since(times[0]).as_secs_f64())
        .collect();
    let trace = offsets
        .iter()
        .map(|o| format!("{:.0}", o * 1000.0))
        .collect::<Vec<_>>()
        .join(" ");
    // No probe early: probe i arrives no sooner than i/20 s after the first, less two slots
    // (100 ms) for the first one's arrival being late on a busy machine. Catches a burst of more
    // than three.
    for (i, offset) in offsets.iter().enumerate() {
        assert!(
            *offset >= (i as f64 - 2.0) / RATE,
            "probe {i} arrived {:.0} ms after the first, before its slot at {:.0} ms; \
             arrivals (ms): {trace}",
            offset * 1000.0,
            i as f64 / RATE * 1000.0
        );
    }
    // None late: the cap spaces the probes, it does not slow them: each arrives within 0.5 s of
    // its slot (at half the rate the last would be 1 s late).
    for (i, offset) in offsets.iter().enumerate() {
        assert!(
            *offset <= i as f64 / RATE + 0.5,
            "probe {i} arrived {:.0} ms after the first, later than its slot at {:.0} ms + 500 ms; \
             arrivals (ms): {trace}",
            offset * 1000.0,
            i as f64 / RATE * 1000.0
        );
    }
    // And the spacing is the rate's: the least-squares slope of arrival over index is 1/20 s,
    // within 20 %.
    let n = PROBES as f64;
    let mean_i = (n - 1.0) / 2.0;
    let mean_t = offsets.iter().sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (i, t) in offsets.iter().enumerate() {
        cov += (i as f64 - mean_i) * (t - mean_t);
        var += (i as f64 - mean_i).powi(2);
    }
    let rate = var / cov;
    assert!(
        (RATE * 0.8..=RATE * 1.25).contains(&rate),
        "probes started at {rate:.1}/s under --rate {RATE}; arrivals (ms): {trace}"
    );
}
