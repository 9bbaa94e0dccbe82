//! What an attacker or a broken environment does to the agent and the command line (issue 13):
//! a configuration on a file system that stops answering, floods of scrapes and of wrong
//! passwords, absurd header and flag values, a closed pipe, and inputs the parsers used to
//! refuse or send on as they were. Every agent runs alone in a namespace with nothing but
//! loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::lab::{Lab, Sweep, curl_in, fleet_config, in_netns, metric_sum, probe_bin, status_kb};

const LISTEN: &str = "127.0.0.1:9465";

/// An agent alone in a fresh namespace, with `extra` flags: (lab, namespace, pid).
/// The agent binds its port before it reads its configuration, so it is serving (and done with
/// its first read) only once it answers.
fn agent(test: &str, extra: &[&str]) -> (Lab, String, u32) {
    let mut lab = Lab::new(test);
    let ns = lab.namespace("a");
    let pid = lab.start_agent(&ns, &[], probe_bin(), LISTEN, extra);
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&ns, "/-/healthy").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the agent never served /-/healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (lab, ns, pid)
}

fn get(ns: &str, url: &str) -> (u16, String) {
    curl_in(ns, &[&format!("http://{LISTEN}{url}")])
}

fn post(ns: &str, url: &str) -> (u16, String) {
    curl_in(ns, &["-X", "POST", &format!("http://{LISTEN}{url}")])
}

/// Whether process `pid` has ended (gone, or a zombie waiting for the lab to reap it).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Waits up to `limit` for `pid` to end.
fn exits_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if exited(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    exited(pid)
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).expect("signal the agent");
}

/// Replaces the agent's configuration file with a FIFO nobody writes to, as on a hung network
/// mount: a read of it blocks until someone writes. Returns the good configuration's text.
fn hang_the_configuration(config: &Path) -> Vec<u8> {
    let good = std::fs::read(config).expect("read the configuration");
    std::fs::remove_file(config).expect("remove the configuration");
    let mkfifo = Command::new("mkfifo")
        .arg(config)
        .status()
        .expect("run mkfifo");
    assert!(mkfifo.success());
    good
}

/// Writes `text` into the FIFO at `path` once a reader has it open (within 10 s).
fn feed_fifo(path: &Path, text: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Non-blocking: fails with ENXIO while no one has the FIFO open for reading.
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)
        {
            Ok(mut fifo) => {
                fifo.write_all(text).expect("write into the FIFO");
                return;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!(
                "nobody opened the FIFO {} for reading within 10 s: {e}",
                path.display()
            ),
        }
    }
}

fn threads(pid: u32) -> u64 {
    status_kb_like(pid, "Threads:")
}

/// A plain number field of /proc/<pid>/status.
fn status_kb_like(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().parse().ok())
        .unwrap_or(0)
}

fn agent_log(lab: &Lab) -> String {
    std::fs::read_to_string(lab.dir.join("agent-0.log")).unwrap_or_default()
}

#[test]
fn a_hung_reload_holds_neither_threads_nor_signals() {
    let (lab, ns, pid) = agent("abuse-hang", &["--http-request-timeout", "1s"]);
    let config = lab.dir.join("agent-0.yaml");
    hang_the_configuration(&config);
    let before = threads(pid);
    // 40 reload requests, 8 at a time: each times out, none starts a second read.
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let ns = ns.clone();
        clients.push(std::thread::spawn(move || {
            (0..5).map(|_| post(&ns, "/-/reload")).collect::<Vec<_>>()
        }));
    }
    let answers: Vec<(u16, String)> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let after = threads(pid);
    assert!(
        after <= before + 2,
        "threads grew from {before} to {after} over 40 timed-out reloads ({:?})",
        started.elapsed()
    );
    for (code, body) in answers {
        assert_eq!(code, 503, "reload answered {code}: {body}");
        assert!(body.contains("request timed out"), "{body}");
        assert!(body.contains("still being read"), "{body}");
    }
    // Everything else is still served.
    let (code, body) = get(&ns, "/metrics");
    assert_eq!(code, 200, "{body:.300}");
    let (code, _) = get(&ns, "/-/healthy");
    assert_eq!(code, 200);
    // SIGHUP while the read hangs, then SIGTERM: the agent stops at once.
    signal(pid, nix::sys::signal::Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    assert!(
        exits_within(pid, Duration::from_secs(5)),
        "the agent did not stop within 5 s of SIGTERM while a reload hung:\n{}",
        agent_log(&lab)
    );
    assert!(agent_log(&lab).contains("stopped"), "{}", agent_log(&lab));
}

#[test]
fn sigterm_after_sighup_stops_the_agent_while_the_read_hangs() {
    let (lab, _ns, pid) = agent("abuse-hup", &[]);
    hang_the_configuration(&lab.dir.join("agent-0.yaml"));
    signal(pid, nix::sys::signal::Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    assert!(
        exits_within(pid, Duration::from_secs(5)),
        "SIGTERM after SIGHUP was not acted on while the read hung:\n{}",
        agent_log(&lab)
    );
}

#[test]
fn a_late_reload_result_is_applied_logged_and_counted() {
    let (lab, ns, _pid) = agent("abuse-late", &["--http-request-timeout", "1s"]);
    let config = lab.dir.join("agent-0.yaml");
    let good = hang_the_configuration(&config);
    let success = |ns: &str| {
        let (code, page) = get(ns, "/metrics");
        if code != 200 {
            eprintln!("/metrics answered {code}: {page:.300}");
        }
        (
            metric_sum(
                &page,
                "probe_agent_config_reloads_total{result=\"success\"}",
            ),
            metric_sum(&page, "probe_agent_checks"),
        )
    };
    let (loaded, checks) = success(&ns);
    assert_eq!(loaded, 1.0, "the start counts as one load");
    // Two requests time out while the first read hangs; the second asks for one more read.
    for _ in 0..2 {
        let (code, body) = post(&ns, "/-/reload");
        assert_eq!(code, 503, "{body}");
    }
    // The read ends with a configuration of two members: applied, logged and counted.
    let two = String::from_utf8(good.clone()).expect("utf-8").replace(
        "      - address: 127.0.0.1\n",
        "      - address: 127.0.0.1\n      - address: 127.0.0.2\n",
    );
    assert_ne!(two.as_bytes(), good.as_slice());
    feed_fifo(&config, two.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    while success(&ns).0 < 2.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (loaded, now) = success(&ns);
    assert_eq!(
        loaded,
        2.0,
        "the late result was not counted:\n{}",
        agent_log(&lab)
    );
    assert!(
        now > checks,
        "the late result was not applied: {checks} → {now} checks"
    );
    assert!(
        agent_log(&lab).contains("configuration reloaded"),
        "{}",
        agent_log(&lab)
    );
    // The request that came during the read gets one more read, after it: the FIFO is read once
    // more, and that is the last.
    feed_fifo(&config, two.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    while success(&ns).0 < 3.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(success(&ns).0, 3.0, "{}", agent_log(&lab));
    // Nobody reads the FIFO any more: a writer finds no reader.
    let reader = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&config);
    assert!(reader.is_err(), "a third read is under way");
}

#[test]
fn concurrent_scrapes_share_one_rendering() {
    const MEMBERS: u32 = 4_000;
    const SCRAPES: usize = 32;
    let Sweep {
        mut lab, client, ..
    } = Lab::sweep("abuse-scrapes", MEMBERS);
    let members = (0..MEMBERS).map(|i| std::net::Ipv4Addr::from(0x0AC8_0000 | i));
    let config = lab.dir.join("fleet.yaml");
    // A long interval: the page's size is what matters, not the probes.
    std::fs::write(&config, fleet_config(members, 50)).expect("write the configuration");
    const FLEET_LISTEN: &str = "10.77.0.1:9465";
    let listen = FLEET_LISTEN;
    let log = lab.dir.join("fleet-agent.log");
    let pid = lab.spawn(
        &client,
        &[
            probe_bin(),
            "agent",
            "--config",
            config.to_str().expect("utf-8"),
            "--listen",
            listen,
        ],
        &log,
    );
    // A debug build takes a few seconds to plan 4,000 members.
    let up = in_netns(&client, move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(FLEET_LISTEN).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    assert!(
        up,
        "the agent never listened:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let scrape = |ns: String| {
        in_netns(&ns, move || {
            let mut s = TcpStream::connect(FLEET_LISTEN).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .expect("timeout");
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("send");
            let mut page = Vec::new();
            s.read_to_end(&mut page).expect("read the page");
            page.len()
        })
    };
    let size = scrape(client.clone());
    let settled = status_kb(pid, "VmHWM:");
    let go = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..SCRAPES {
        let (ns, go) = (client.clone(), go.clone());
        clients.push(std::thread::spawn(move || {
            while !go.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
            scrape(ns)
        }));
    }
    go.store(true, Ordering::Relaxed);
    for c in clients {
        let got = c.join().expect("scrape");
        assert!(got * 10 > size * 9, "a scrape got {got} bytes of {size}");
    }
    let peak = status_kb(pid, "VmHWM:");
    let grew_kib = peak.saturating_sub(settled);
    let page_kib = size as u64 / 1024;
    eprintln!("scrapes: page {page_kib} KiB, peak RSS {settled} → {peak} KiB");
    // One rendering at a time (about three pages while it runs) and the finished page, shared:
    // never one rendering per scrape.
    assert!(
        grew_kib < 6 * page_kib + 16 * 1024,
        "{SCRAPES} concurrent scrapes of a {page_kib} KiB page took the peak RSS from {settled} \
         to {peak} KiB"
    );
}

#[test]
fn an_absurd_scrape_timeout_header_gets_an_answer() {
    let (_lab, ns, _pid) = agent("abuse-header", &[]);
    for value in ["1e300", "18446744073709551616", "inf", "-0", "1e-320"] {
        let (code, body) = curl_in(
            &ns,
            &[
                "-H",
                &format!("X-Prometheus-Scrape-Timeout-Seconds: {value}"),
                &format!("http://{LISTEN}/probe?module=tcp_connect&target=127.0.0.1:9"),
            ],
        );
        assert_eq!(code, 200, "header {value}: {body}");
        assert!(
            body.lines().any(|l| l == "probe_success 0"),
            "header {value}: {body}"
        );
    }
    let (_, metrics) = get(&ns, "/metrics");
    assert!(
        metrics.contains("probe_agent_http_requests_total{code=\"200\",handler=\"/probe\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("probe_agent_panics_total 0"), "{metrics}");
}

#[test]
fn absurd_rates_are_refused_before_anything_is_probed() {
    for rate in ["1e-300", "0.0000001", "1e300", "0", "-1", "NaN", "inf"] {
        let out = Command::new(probe_bin())
            .args(["-t", "127.0.0.1:9", "-t", "127.0.0.1:10", "--rate", rate])
            .output()
            .expect("run probe");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--rate {rate}: {stderr}");
        assert!(stderr.contains(rate), "--rate {rate}: {stderr}");
        assert!(out.stdout.is_empty(), "--rate {rate} probed something");
    }
}

/// Sends `args` through `| head -n3` (or another command) under `set -o pipefail` inside `ns`
/// and returns the pipeline's exit code.
fn pipeline(ns: &str, args: &str, reader: &str) -> i32 {
    let script = format!(
        "set -o pipefail; {} {args} | {reader} >/dev/null",
        probe_bin()
    );
    Command::new("ip")
        .args(["netns", "exec", ns, "bash", "-c", &script])
        .status()
        .expect("run the pipeline")
        .code()
        .unwrap_or(-1)
}

#[test]
fn a_closed_pipe_does_not_hide_failures() {
    let mut lab = Lab::new("abuse-pipe");
    let ns = lab.namespace("a");
    // 1,022 addresses on loopback, port 9: nothing listens, every probe fails.
    for output in ["table", "json", "jsonl"] {
        let args = format!("-t 127.0.0.0/22 -p 9 --timeout 200ms -o {output}");
        assert_eq!(
            pipeline(&ns, &args, "head -n3"),
            1,
            "-o {output} | head -n3"
        );
        assert_eq!(pipeline(&ns, &args, "true"), 1, "-o {output} | true");
    }
    // And passing probes still exit 0 through a closed pipe.
    lab.tcp_listener(&ns, "127.0.0.1:8080");
    assert_eq!(pipeline(&ns, "-t 127.0.0.1:8080 -o json", "true"), 0);
    // probe check: nothing listens on the member's port.
    let config = lab.dir.join("check.yaml");
    std::fs::write(
        &config,
        "agent:\n  address: 127.0.0.1\nsubnets:\n  - id: lo\n    cidr: 127.0.0.0/8\n\
         backend_groups:\n  - name: local\n    protocol: tcp\n    port: 9\n    health_check:\n      \
         protocol: tcp\n      interval_s: 1\n      timeout_s: 1\n    members:\n      - address: 127.0.0.1\n",
    )
    .expect("write the configuration");
    let args = format!("check --config {}", config.display());
    assert_eq!(pipeline(&ns, &args, "true"), 1, "probe check | true");
    assert_eq!(pipeline(&ns, &format!("{args} -o json"), "head -c1"), 1);
    assert_eq!(
        pipeline(
            &ns,
            &format!("validate --config {}", config.display()),
            "true"
        ),
        0
    );
}

/// A listener in `ns` on `addr` that records every request head it is sent and answers 200.
fn recording_server(
    lab: &mut Lab,
    ns: &str,
    addr: &'static str,
) -> Arc<std::sync::Mutex<Vec<Vec<u8>>>> {
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    lab.in_namespace(ns, move |stop, ready| {
        let listener = TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let _ = ready.send(());
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false).expect("blocking");
                    conn.set_read_timeout(Some(Duration::from_secs(2)))
                        .expect("timeout");
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    seen.lock().expect("lock").push(head);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    heads
}

#[test]
fn a_non_ascii_path_goes_out_percent_encoded() {
    let mut lab = Lab::new("abuse-path");
    let ns = lab.namespace("a");
    let heads = recording_server(&mut lab, &ns, "127.0.0.1:8080");
    // As curl and browsers send it: UTF-8, percent-encoded.
    let run = lab.probe(
        &ns,
        &["-t", "http://127.0.0.1:8080/café/a b?q=ü", "-o", "json"],
    );
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let sent = heads.lock().expect("lock").pop().expect("a request");
    let line = String::from_utf8_lossy(&sent)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(line, "GET /caf%C3%A9/a%20b?q=%C3%BC HTTP/1.1");
}

#[test]
fn an_invalid_request_opens_no_connection() {
    let mut lab = Lab::new("abuse-invalid");
    let ns = lab.namespace("a");
    let heads = recording_server(&mut lab, &ns, "127.0.0.1:8080");
    // A control character in Host: the request cannot be sent.
    let run = lab.probe(
        &ns,
        &[
            "-t",
            "http://127.0.0.1:8080/",
            "--host",
            "bad\u{1}host",
            "-o",
            "json",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        heads.lock().expect("lock").is_empty(),
        "a connection was opened for a request that could not be sent"
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let row = run.row("http://127.0.0.1:8080/");
    assert_eq!(row["state"], "error", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid Host"),
        "{row}"
    );
}

#[test]
fn a_byte_order_mark_and_a_root_dot_are_taken() {
    let mut lab = Lab::new("abuse-bom");
    let ns = lab.namespace("a");
    lab.tcp_listener(&ns, "127.0.0.1:8080");
    // A targets file that starts with a byte order mark, as Windows editors write it.
    let file = lab.dir.join("targets.txt");
    std::fs::write(&file, "\u{feff}127.0.0.1:8080\n").expect("write the targets file");
    let run = lab.probe(
        &ns,
        &[
            "--targets-file",
            file.to_str().expect("utf-8"),
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.row("127.0.0.1:8080")["state"], "open");
    // A fully qualified name ending in the root's dot is a name, not an invalid host: it is
    // looked up as written (this namespace has no DNS, so the lookup fails).
    let run = lab.probe(&ns, &["-t", "web-1.lab.test.:8080", "-o", "json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let row = run.row("web-1.lab.test.:8080");
    assert_eq!(row["state"], "error", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("web-1.lab.test."),
        "{row}"
    );
}

#[test]
fn a_flood_of_wrong_passwords_does_not_lock_out_the_scraper() {
    const FLOODERS: usize = 200;
    let mut lab = Lab::new("abuse-auth");
    let ns = lab.namespace("a");
    // A costly hash, as a careful operator would choose (cost 12; bcrypt doubles per step).
    let hash = bcrypt::hash("right", 12).expect("hash");
    let web = lab.dir.join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  scraper: '{hash}'\n"))
        .expect("write the web config");
    lab.start_agent(
        &ns,
        &[],
        probe_bin(),
        LISTEN,
        &["--web-config", web.to_str().expect("utf-8")],
    );
    let scrape = |ns: &str, user: &str, timeout_s: &str| {
        curl_in(
            ns,
            &[
                "-m",
                timeout_s,
                "-u",
                user,
                &format!("http://{LISTEN}/-/healthy"),
            ],
        )
        .0
    };
    // The scraper's credentials are verified once and cached, as Prometheus sends them on every
    // scrape.
    assert_eq!(scrape(&ns, "scraper:right", "30"), 200);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for i in 0..FLOODERS {
        let (ns, stop, answered) = (ns.clone(), stop.clone(), answered.clone());
        flood.push(std::thread::spawn(move || {
            in_netns(&ns, move || {
                let auth = format!(
                    "Authorization: Basic {}\r\n",
                    base64_of(&format!("scraper:wrong{i}"))
                );
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok(mut s) = TcpStream::connect(LISTEN) else {
                        continue;
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = s.write_all(
                        format!("GET /metrics HTTP/1.1\r\nHost: a\r\n{auth}\r\n").as_bytes(),
                    );
                    let mut got = Vec::new();
                    let _ = s.read_to_end(&mut got);
                    if got.starts_with(b"HTTP/1.1 401") || got.starts_with(b"HTTP/1.1 429") {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    // Paced, so that 200 flooders load the agent, not the test machine's CPU.
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        }));
    }
    std::thread::sleep(Duration::from_secs(1));
    // Under the flood, the scraper with cached credentials is served, every time, in time.
    let mut codes = Vec::new();
    for _ in 0..10 {
        codes.push(scrape(&ns, "scraper:right", "3"));
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.join().expect("flooder");
    }
    assert!(
        codes.iter().all(|&c| c == 200),
        "the scraper under the flood: {codes:?}"
    );
    // The flood itself was answered (401 or 429), not left hanging.
    assert!(
        answered.load(Ordering::Relaxed) > FLOODERS,
        "only {} flood requests answered",
        answered.load(Ordering::Relaxed)
    );
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * k) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A configuration's own errors come before anything about the machine it runs on (issue 14):
/// `probe check` on a host with no route to the backends, and `probe agent` whose port is taken,
/// both name the broken field, not the route or the port.
#[test]
fn a_broken_configuration_is_named_before_the_machine() {
    let mut lab = Lab::new("abuse-order");
    let ns = lab.namespace("a");
    // Nothing in this namespace routes to 10.0.1.5, and nothing names the agent's address.
    let config = |extra: &str| {
        format!(
            "subnets:\n  - id: app\n    cidr: 10.0.1.0/24{extra}\nbackend_groups:\n  - name: web\n    protocol: tcp\n    port: 80\n    members:\n      - address: 10.0.1.5\n"
        )
    };
    let good = lab.dir.join("good.yaml");
    std::fs::write(&good, config("")).expect("write");
    let broken = lab.dir.join("broken.yaml");
    std::fs::write(&broken, config("\n    colour: blue")).expect("write");
    let (good, broken) = (
        good.to_str().expect("utf-8"),
        broken.to_str().expect("utf-8"),
    );
    // The good file gets as far as the machine: no route to its backends.
    let run = lab.probe(&ns, &["check", "--config", good]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("routes to 10.0.1.5"), "{}", run.stderr);
    // The broken one is named first, wherever it runs.
    let run = lab.probe(&ns, &["check", "--config", broken]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown field `colour`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("route"), "{}", run.stderr);
    // The agent: its port is taken, and its configuration broken; the configuration is named.
    let _taken = in_netns(&ns, || TcpListener::bind(LISTEN).expect("take the port"));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            probe_bin(),
            "agent",
            "--config",
            broken,
        ])
        .args(["--listen", LISTEN, "--source-addr", "127.0.0.1"])
        .output()
        .expect("run the agent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `colour`"), "{stderr}");
    assert!(!stderr.contains("in use"), "{stderr}");
}
