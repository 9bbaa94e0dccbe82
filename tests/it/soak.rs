//! The agent under a steady load for a while: resident memory and open files stay flat.
//!
//! 5,000 members (half open, a quarter silently dropped, a quarter reset) probed every 5 s with a
//! 1 s timeout, `/metrics` scraped every 2 s and the configuration reloaded every 10 s. Ignored in
//! the normal run because it loads the machine for its whole length; `scripts/test.sh` runs it
//! alone with `--run-ignored only`. `PROBE_SOAK_SECS` sets the length (default 90 s; the
//! ten-minute run of docs/SECURITY.md is `PROBE_SOAK_SECS=600`).

use std::time::{Duration, Instant};

use crate::lab::{
    Lab, Sweep, fleet_config, http_request, in_netns, metric_sum, probe_bin, status_kb,
};

const MEMBERS: u32 = 5_000;
const LISTEN: &str = "10.77.0.1:9465";

fn open_files(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// One HTTP/1.0 request from inside `ns`; the whole answer, or "" if it failed.
fn request(ns: &str, head: &'static str) -> String {
    in_netns(ns, move || http_request(LISTEN, head).unwrap_or_default())
}

/// Whether an HTTP answer's status is 200.
fn ok(answer: &str) -> bool {
    answer
        .split_once("\r\n")
        .is_some_and(|(line, _)| line.ends_with(" 200 OK"))
}

/// Largest value of `samples` in the part of the run between fractions `from` and `to`.
fn max_between(
    samples: &[(f64, u64, u64)],
    from: f64,
    to: f64,
    pick: fn(&(f64, u64, u64)) -> u64,
) -> u64 {
    samples
        .iter()
        .filter(|s| s.0 >= from && s.0 < to)
        .map(pick)
        .max()
        .unwrap_or(0)
}

#[test]
#[ignore = "a soak of 90 s or more; scripts/test.sh runs it alone"]
fn agent_soak_keeps_memory_and_open_files_flat() {
    let secs: u64 = std::env::var("PROBE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90)
        .max(30);
    let Sweep {
        mut lab, client, ..
    } = Lab::sweep("soak", MEMBERS);
    // Members in a scattered order (7,919 is prime, so i·7,919 mod 5,000 visits every address
    // once): the scheduler spreads first runs by position, and the silent quarter of the lab is
    // one block of addresses that would otherwise be probed all in the same quarter-interval.
    let members =
        (0..MEMBERS).map(|i| std::net::Ipv4Addr::from(0x0AC8_0000 | (i * 7_919 % MEMBERS)));
    let config = lab.dir.join("soak.yaml");
    std::fs::write(&config, fleet_config(members, 5)).expect("write the soak configuration");
    let config = config.to_str().expect("utf-8").to_string();
    let log = lab.dir.join("soak-agent.log");
    let pid = lab.spawn(
        &client,
        &[
            probe_bin(),
            "agent",
            "--config",
            &config,
            "--listen",
            LISTEN,
        ],
        &log,
    );
    lab.wait_listening(&client, LISTEN);

    let started = Instant::now();
    let total = Duration::from_secs(secs);
    let mut samples = Vec::new(); // (fraction of the run, RSS KiB, open files)
    let mut next_reload = started + Duration::from_secs(10);
    let mut reloads = 0;
    let mut scrapes = 0;
    let mut first_probes = None;
    let mut last_page = String::new();
    let mut next_scrape = started;
    while started.elapsed() < total {
        // Sampled often: the number of probes in flight moves within an interval.
        std::thread::sleep(Duration::from_millis(200));
        samples.push((
            started.elapsed().as_secs_f64() / total.as_secs_f64(),
            status_kb(pid, "VmRSS:"),
            open_files(pid),
        ));
        if Instant::now() < next_scrape {
            continue;
        }
        next_scrape += Duration::from_secs(2);
        let page = request(&client, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(
            ok(&page),
            "scrape {scrapes} failed: {:.200}\n{}",
            page,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        scrapes += 1;
        let probes = metric_sum(&page, "probe_agent_probes_total");
        first_probes.get_or_insert(probes);
        last_page = page;
        if Instant::now() >= next_reload {
            let answer = request(&client, "POST /-/reload HTTP/1.0\r\n\r\n");
            assert!(ok(&answer), "reload: {answer:.300}");
            reloads += 1;
            next_reload += Duration::from_secs(10);
        }
    }
    let rss = |s: &(f64, u64, u64)| s.1;
    let fds = |s: &(f64, u64, u64)| s.2;
    let (rss_mid, rss_end) = (
        max_between(&samples, 1.0 / 3.0, 2.0 / 3.0, rss),
        max_between(&samples, 2.0 / 3.0, 1.01, rss),
    );
    let (fds_mid, fds_end) = (
        max_between(&samples, 1.0 / 3.0, 2.0 / 3.0, fds),
        max_between(&samples, 2.0 / 3.0, 1.01, fds),
    );
    let probes = metric_sum(&last_page, "probe_agent_probes_total") - first_probes.unwrap_or(0.0);
    let skipped = metric_sum(&last_page, "probe_agent_ticks_skipped_total");
    let summary = format!(
        "{secs} s, {scrapes} scrapes, {reloads} reloads, {probes} probes, {skipped} ticks skipped; \
         RSS max {rss_mid} KiB in the middle third, {rss_end} KiB in the last; \
         open files max {fds_mid} / {fds_end}"
    );
    eprintln!("soak: {summary}");
    let trace: Vec<String> = samples
        .iter()
        .map(|s| format!("{:.2}:{}MiB/{}fd", s.0, s.1 / 1024, s.2))
        .collect();
    let summary = format!("{summary}\nsamples: {}", trace.join(" "));
    // About 1,000 probes a second were made all along.
    let expected = f64::from(MEMBERS) / 5.0 * (secs as f64 - 4.0);
    assert!(probes > expected * 0.8, "too few probes: {summary}");
    // Flat: the last third holds no more than the middle third, give or take the noise of
    // probes in flight and the allocator (10 % and 8 MiB; 10 % and 32 descriptors).
    assert!(
        rss_end <= rss_mid + rss_mid / 10 + 8 * 1024,
        "RSS grew: {summary}"
    );
    assert!(
        fds_end <= fds_mid + fds_mid / 10 + 32,
        "open files grew: {summary}"
    );
}
