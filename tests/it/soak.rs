//! The agent under a steady load for a while: resident memory and open files stay flat.
//!
//! 5,000 members (half open, a quarter silently dropped, a quarter reset) probed every 5 s with a
//! 1 s timeout, `/metrics` scraped every 2 s and the configuration reloaded every 10 s. Ignored in
//! the normal run because it loads the machine for its whole length; `scripts/test.sh` runs it
//! alone with `--run-ignored only`. `PROBE_SOAK_SECS` sets the length (default 90 s; the
//! ten-minute run of docs/SECURITY.md is `PROBE_SOAK_SECS=600`).
//!
//! `PROBE_SOAK_CHECKS=100000` is the fleet-scale soak of issue 17, not part of the CI run: 50,000
//! members with two checks each (the traffic port and a health-check port) every 30 s, scraped
//! every 15 s and reloaded every 30 s, judged over 30 s windows. Run it for seven minutes
//! (`PROBE_SOAK_SECS=420`): resident memory climbs over the first few reloads as the allocator
//! settles (459 → 543 MB over the first three minutes on 2026-12-03, which a 180 s run, judged
//! from its 60th second, takes for a leak of 198 B per probe), then stays flat (23.5 B per probe
//! from the 140th second of a 420 s run, 542 MB at most in the middle third, 546 MB in the last).
//!
//! A leak is measured per probe: resident memory is sampled every 200 ms, each 10 s window (two
//! probe intervals, five scrapes, one reload) gives its trough (the minimum, so probes in flight
//! and page buffers do not count), and a least-squares line through the troughs after the first
//! third of the run gives the growth in bytes per second. Divided by the probes per second over
//! the same span it must stay below [`LEAK_BOUND`] bytes per probe: a leak of 1 KiB per probe
//! grows about 1 MiB/s here. The agent fixes glibc's mmap threshold itself
//! (`probe::sys::release_large_frees`), so the allocator's caching of big freed blocks does not
//! move the troughs.

use std::time::{Duration, Instant};

use crate::lab::{
    AgentRun, Lab, Sweep, fleet_config_with, http_request, in_netns, metric_sum, status_kb,
};

const LISTEN: &str = "10.77.0.1:9465";
/// The most resident memory the agent may gain per probe, in bytes, after the first third.
const LEAK_BOUND: f64 = 100.0;

/// The load of a soak.
struct Profile {
    members: u32,
    /// The health check's port, for a second check per member.
    health_port: Option<u16>,
    interval_s: u32,
    scrape_s: u64,
    reload_s: u64,
    /// The window whose minimum is one trough: a multiple of the probe interval, the scrape
    /// interval and the reload interval.
    window_s: f64,
}

impl Profile {
    /// 5,000 checks every 5 s (the CI run), or a fleet of `checks` every 30 s.
    fn for_checks(checks: u32) -> Profile {
        if checks <= 5_000 {
            Profile {
                members: checks.max(4),
                health_port: None,
                interval_s: 5,
                scrape_s: 2,
                reload_s: 10,
                window_s: 10.0,
            }
        } else {
            Profile {
                members: checks.div_ceil(2).min(65_534),
                health_port: Some(81),
                interval_s: 30,
                scrape_s: 15,
                reload_s: 30,
                window_s: 30.0,
            }
        }
    }

    fn checks(&self) -> u32 {
        self.members * if self.health_port.is_some() { 2 } else { 1 }
    }
}

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

/// The lowest sample of each `window_s` window from `from_secs` on, as (seconds, KiB);
/// `samples` are (seconds, KiB), in time order. A window with no sample gives nothing.
fn troughs(samples: &[(f64, u64)], from_secs: f64, window_s: f64) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = Vec::new();
    let mut window = None;
    for &(t, kib) in samples.iter().filter(|s| s.0 >= from_secs) {
        let w = ((t - from_secs) / window_s).floor() as u64;
        match out.last_mut() {
            Some(last) if window == Some(w) => {
                if kib < last.1 {
                    *last = (t, kib);
                }
            }
            _ => {
                out.push((t, kib));
                window = Some(w);
            }
        }
    }
    out
}

/// The least-squares slope of `points` (seconds, KiB), in bytes per second.
fn slope_bytes_per_sec(points: &[(f64, u64)]) -> f64 {
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_b = points.iter().map(|p| p.1 as f64 * 1024.0).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for &(t, kib) in points {
        cov += (t - mean_t) * (kib as f64 * 1024.0 - mean_b);
        var += (t - mean_t).powi(2);
    }
    cov / var
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
    let profile = Profile::for_checks(
        std::env::var("PROBE_SOAK_CHECKS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5_000),
    );
    let n = profile.members;
    let Sweep {
        mut lab, client, ..
    } = Lab::sweep("soak", n);
    // Members in a scattered order (7,919 is a prime that divides no member count used here, so
    // i·7,919 mod n visits every address once): the scheduler spreads first runs by position,
    // and the silent quarter of the lab is one block of addresses that would otherwise be
    // probed all in the same quarter-interval.
    assert_ne!(n % 7_919, 0);
    let members = (0..n).map(|i| {
        std::net::Ipv4Addr::from(0x0AC8_0000 | (u64::from(i) * 7_919 % u64::from(n)) as u32)
    });
    let AgentRun { pid, log, .. } = lab.agent_on(
        &client,
        "soak",
        &fleet_config_with(members, profile.interval_s, profile.health_port),
        LISTEN,
    );

    let started = Instant::now();
    let total = Duration::from_secs(secs);
    let mut samples = Vec::new(); // (fraction of the run, RSS KiB, open files)
    let mut rss_at = Vec::new(); // (seconds, RSS KiB)
    let warm_up = total.as_secs_f64() / 3.0;
    let mut next_reload = started + Duration::from_secs(profile.reload_s);
    let mut reloads = 0;
    let mut scrapes = 0;
    let mut first_probes = None;
    // The probe counter at the first scrape after the warm-up, and at the last, with their times.
    let mut counted_from: Option<(f64, f64)> = None;
    let mut counted_to = (0.0, 0.0);
    let mut last_page = String::new();
    let mut next_scrape = started;
    while started.elapsed() < total {
        // Sampled often: the number of probes in flight moves within an interval.
        std::thread::sleep(Duration::from_millis(200));
        let (t, rss) = (started.elapsed().as_secs_f64(), status_kb(pid, "VmRSS:"));
        samples.push((t / total.as_secs_f64(), rss, open_files(pid)));
        rss_at.push((t, rss));
        if Instant::now() < next_scrape {
            continue;
        }
        next_scrape += Duration::from_secs(profile.scrape_s);
        let page = request(&client, "GET /metrics HTTP/1.0\r\n\r\n");
        let at = started.elapsed().as_secs_f64();
        assert!(
            ok(&page),
            "scrape {scrapes} failed: {:.200}\n{}",
            page,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        scrapes += 1;
        let probes = metric_sum(&page, "probe_agent_probes_total");
        first_probes.get_or_insert(probes);
        if at >= warm_up {
            counted_from.get_or_insert((at, probes));
            counted_to = (at, probes);
        }
        last_page = page;
        if Instant::now() >= next_reload {
            let answer = request(&client, "POST /-/reload HTTP/1.0\r\n\r\n");
            assert!(ok(&answer), "reload: {answer:.300}");
            reloads += 1;
            next_reload += Duration::from_secs(profile.reload_s);
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
    // `+ 0.0`: a sum of no series is -0.0, which would print as "-0".
    let skipped = metric_sum(&last_page, "probe_agent_ticks_skipped_total") + 0.0;
    // Growth per probe after the warm-up: the troughs' slope over the probe rate of that span.
    let lows = troughs(&rss_at, warm_up, profile.window_s);
    let growth = slope_bytes_per_sec(&lows);
    let (from, to) = (counted_from.unwrap_or_default(), counted_to);
    let rate = (to.1 - from.1) / (to.0 - from.0);
    let per_probe = growth / rate;
    let summary = format!(
        "{} checks, {secs} s, {scrapes} scrapes, {reloads} reloads, {probes} probes, {skipped} ticks skipped; \
         RSS max {rss_mid} KiB in the middle third, {rss_end} KiB in the last; \
         open files max {fds_mid} / {fds_end}; after {warm_up:.0} s the RSS troughs grew \
         {growth:.0} B/s at {rate:.0} probes/s: {per_probe:.1} B per probe (bound {LEAK_BOUND})",
        profile.checks()
    );
    eprintln!("soak: {summary}");
    let lows_trace: Vec<String> = lows
        .iter()
        .map(|(t, kib)| format!("{t:.1}s:{kib}KiB"))
        .collect();
    eprintln!("soak: troughs {}", lows_trace.join(" "));
    let trace: Vec<String> = samples
        .iter()
        .map(|s| format!("{:.2}:{}MiB/{}fd", s.0, s.1 / 1024, s.2))
        .collect();
    let summary = format!(
        "{summary}\ntroughs: {}\nsamples: {}",
        lows_trace.join(" "),
        trace.join(" ")
    );
    // Every check probed once an interval all along (1,000 probes a second at 5,000 checks).
    let expected =
        f64::from(profile.checks()) / f64::from(profile.interval_s) * (secs as f64 - 4.0);
    assert!(probes > expected * 0.8, "too few probes: {summary}");
    assert!(
        lows.len() >= 4 && rate > 0.0,
        "too few troughs or probes to fit after the warm-up: {summary}"
    );
    // No leak: a least-squares line through the troughs gains less than LEAK_BOUND bytes per
    // probe (growth.is_nan() fails too).
    assert!(
        per_probe < LEAK_BOUND,
        "RSS grew {per_probe:.1} bytes per probe after the warm-up: {summary}"
    );
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
