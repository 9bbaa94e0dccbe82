//! The agent's HTTP server against clients that misbehave: the /probe allowlist, the request and
//! header timeouts, the connection cap and oversized requests. Each agent runs in a namespace of
//! its own with nothing but loopback, so even a /probe that got through could reach nothing else.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::lab::{Lab, curl_in, in_netns, probe_bin};

const LISTEN: &str = "127.0.0.1:9465";

/// An agent alone in a fresh namespace, with `extra` flags.
fn agent(test: &str, extra: &[&str]) -> (Lab, String) {
    let mut lab = Lab::new(test);
    let ns = lab.namespace("a");
    lab.start_agent(&ns, &[], probe_bin(), LISTEN, extra);
    (lab, ns)
}

/// Opens a TCP connection to the agent from inside `ns`.
fn connect(ns: &str) -> TcpStream {
    in_netns(ns, || {
        TcpStream::connect(LISTEN).expect("connect to the agent")
    })
}

/// Sends `request` on a new connection and returns everything the server sends until it closes
/// the connection or 10 s pass.
fn exchange(ns: &str, request: &[u8]) -> String {
    let mut s = connect(ns);
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    // The server may answer and close before it has read everything: a failed write is fine.
    let _ = s.write_all(request);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

fn status(ns: &str, url: &str) -> (u16, String) {
    curl_in(ns, &[&format!("http://{LISTEN}{url}")])
}

#[test]
fn probe_refuses_targets_outside_the_allowlist_before_sending_anything() {
    let (_lab, ns) = agent("srv-allow", &["--probe-allow", "10.9.0.0/16"]);
    for (url, want, needle) in [
        // Outside the configuration (members, subnets) and --probe-allow.
        (
            "/probe?module=tcp_connect&target=10.1.2.3:80",
            403,
            "outside the probe allowlist",
        ),
        (
            "/probe?module=icmp&target=10.1.2.3",
            403,
            "outside the probe allowlist",
        ),
        (
            "/probe?module=http_2xx&target=http://10.1.2.3/",
            403,
            "outside the probe allowlist",
        ),
        // An IPv4-mapped IPv6 address is the IPv4 address.
        (
            "/probe?module=tcp_connect&target=[::ffff:10.1.2.3]:80",
            403,
            "outside the probe allowlist",
        ),
        (
            "/probe?module=tcp_connect&target=[2001:db8::1]:80",
            403,
            "outside the probe allowlist",
        ),
        // One request probes one host.
        ("/probe?module=icmp&target=127.0.0.0/8", 400, "is a prefix"),
        (
            "/probe?module=tcp_connect",
            400,
            "target parameter is missing",
        ),
        (
            "/probe?module=nope&target=127.0.0.1:9",
            400,
            "unknown module",
        ),
        (
            "/probe?module=tcp_connect&target=127.0.0.1",
            400,
            "has no port",
        ),
    ] {
        let (code, body) = status(&ns, url);
        assert_eq!(code, want, "{url}: {body}");
        assert!(body.contains(needle), "{url}: {needle:?} in {body}");
        assert!(
            !body.contains("probe_success"),
            "{url}: nothing probed: {body}"
        );
    }
    // Inside the configuration's subnet (127.0.0.0/8): probed, nothing listens on port 9.
    let (code, body) = status(&ns, "/probe?module=tcp_connect&target=127.0.0.1:9");
    assert_eq!(code, 200, "{body}");
    assert!(body.lines().any(|l| l == "probe_success 0"), "{body}");
    assert!(body.contains("probe_outcome{outcome=\"closed\""), "{body}");
    // Inside --probe-allow: probed; this namespace has no route there, so it fails at once.
    let (code, body) = status(&ns, "/probe?module=tcp_connect&target=10.9.0.1:80");
    assert_eq!(code, 200, "{body}");
    assert!(body.lines().any(|l| l == "probe_success 0"), "{body}");
    // Every refusal was counted under its handler and code.
    let (_, metrics) = status(&ns, "/metrics");
    let refused: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("probe_agent_http_requests_total{code=\"403\",handler=\"/probe\"}")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(refused, 5.0, "{metrics}");
}

#[test]
fn oversized_requests_are_refused_and_the_server_carries_on() {
    let (_lab, ns) = agent("srv-big", &[]);
    // Headers beyond 16 KiB.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: probe\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let answer = exchange(&ns, big.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    assert!(!answer.contains("probe_agent_build_info"), "{answer:.200}");
    // A request line beyond it.
    let long = format!(
        "GET /metrics?{} HTTP/1.1\r\nHost: probe\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let answer = exchange(&ns, long.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer:.200}");
    assert!(!answer.contains("probe_agent_build_info"), "{answer:.200}");
    // A body of 1 GiB is announced and never sent: no handler reads a body, so the answer does
    // not wait for it, and the connection is closed rather than drained.
    let started = Instant::now();
    let answer = exchange(
        &ns,
        b"POST /metrics HTTP/1.1\r\nHost: probe\r\nContent-Length: 1073741824\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer:.200}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the server waited for the body: {:?}",
        started.elapsed()
    );
    // Garbage instead of HTTP.
    let answer = exchange(
        &ns,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:.200}"
    );
    // And a well-behaved client is still served.
    let (code, body) = status(&ns, "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("probe_agent_build_info"));
}

#[test]
fn metrics_and_findings_are_compressed_for_clients_that_take_gzip() {
    let (_lab, ns) = agent("srv-gzip", &[]);
    // curl --compressed asks for gzip (among others) and decodes; -D - prints the headers.
    for url in ["/metrics", "/findings"] {
        let (code, zipped) = curl_in(
            &ns,
            &["--compressed", "-D", "-", &format!("http://{LISTEN}{url}")],
        );
        assert_eq!(code, 200, "{url}");
        let (head, body) = zipped.split_once("\r\n\r\n").expect("headers");
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip"), "{url}: {head}");
        assert!(head.contains("vary: accept-encoding"), "{url}: {head}");
        // Without Accept-Encoding, or with gzip refused, the same page comes plain.
        for plain_args in [vec![], vec!["-H", "Accept-Encoding: gzip;q=0"]] {
            let mut args: Vec<&str> = plain_args.clone();
            let full = format!("http://{LISTEN}{url}");
            args.extend(["-D", "-", full.as_str()]);
            let (code, plain) = curl_in(&ns, &args);
            assert_eq!(code, 200, "{url} {plain_args:?}");
            let (head, plain_body) = plain.split_once("\r\n\r\n").expect("headers");
            assert!(
                !head.to_ascii_lowercase().contains("content-encoding"),
                "{url} {plain_args:?}: {head}"
            );
            let first = |b: &str| b.lines().next().unwrap_or("").to_string();
            assert_eq!(
                first(body),
                first(plain_body),
                "{url}: same page either way"
            );
        }
        if url == "/metrics" {
            assert!(body.contains("probe_agent_build_info{"), "{body:.300}");
        } else {
            let report: serde_json::Value = serde_json::from_str(body).expect("findings JSON");
            assert!(report["findings"].is_array(), "{report}");
        }
    }
}

#[test]
fn connections_beyond_the_cap_wait_in_the_backlog_until_one_closes() {
    let (_lab, ns) = agent(
        "srv-cap",
        &[
            "--http-max-connections",
            "2",
            "--http-header-timeout",
            "60s",
        ],
    );
    // Two clients connect and say nothing: they hold both places.
    let first = connect(&ns);
    let second = connect(&ns);
    std::thread::sleep(Duration::from_millis(300));
    // A third is taken by the kernel (it waits in the backlog: connect succeeds and the request
    // is sent) but gets no answer while both places are held.
    let mut third = in_netns(&ns, || {
        let addr = LISTEN.parse().expect("address");
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
    .unwrap_or_else(|e| panic!("a connection beyond the cap was refused, not queued: {e}"));
    third
        .write_all(b"GET /-/healthy HTTP/1.0\r\n\r\n")
        .expect("send a request on the queued connection");
    third
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let mut got = [0u8; 512];
    match third.read(&mut got) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("the connection beyond the cap of 2 was closed without an answer"),
        Ok(n) => panic!(
            "the connection beyond the cap of 2 was answered while both places were held: {}",
            String::from_utf8_lossy(&got[..n])
        ),
        Err(e) => panic!("the connection beyond the cap of 2 was refused: {e}"),
    }
    // A place frees: the queued connection is served, on the request it sent while waiting.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut answer = Vec::new();
    let read = third.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "the queued connection once a place was free: {read:?}, {answer:?}"
    );
    drop(second);
}

/// Whether the server closes `s` (or resets it) within 8 s, and what it sent before.
fn closed_within_8s(s: &mut TcpStream) -> (bool, String) {
    s.set_read_timeout(Some(Duration::from_secs(8)))
        .expect("read timeout");
    let mut got = Vec::new();
    let closed = match s.read_to_end(&mut got) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    (closed, String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let (_lab, ns) = agent("srv-slow", &["--http-header-timeout", "1s"]);
    let mut slow = connect(&ns);
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: probe\r\n")
        .expect("send half a request");
    let (closed, got) = closed_within_8s(&mut slow);
    assert!(
        closed,
        "connection still open 8 s after a 1 s header timeout"
    );
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
    // Meanwhile a well-behaved client is served.
    let (code, _) = status(&ns, "/-/healthy");
    assert_eq!(code, 200);
}

#[test]
fn an_idle_connection_is_closed_after_the_header_timeout() {
    let (_lab, ns) = agent("srv-idle", &["--http-header-timeout", "1s"]);
    // Connects, sends nothing.
    let (closed, _) = closed_within_8s(&mut connect(&ns));
    assert!(
        closed,
        "an idle connection still open 8 s after a 1 s header timeout"
    );
    // Keep-alive: after one answer, the connection is closed once idle for the header timeout.
    let mut kept = connect(&ns);
    kept.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: probe\r\n\r\n")
        .expect("send");
    let (closed, got) = closed_within_8s(&mut kept);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(closed, "an idle keep-alive connection still open 8 s later");
}

#[test]
fn a_handler_that_hangs_gets_503_after_the_request_timeout() {
    let (lab, ns) = agent("srv-hang", &["--http-request-timeout", "1s"]);
    // The configuration file becomes a FIFO nobody writes to, as on a hung network mount: the
    // reload's read blocks.
    let config = lab.dir.join("agent-0.yaml");
    let good = std::fs::read(&config).expect("read the configuration");
    std::fs::remove_file(&config).expect("remove the configuration");
    let mkfifo = Command::new("mkfifo")
        .arg(&config)
        .status()
        .expect("run mkfifo");
    assert!(mkfifo.success());
    let started = Instant::now();
    let (code, body) = curl_in(&ns, &["-X", "POST", &format!("http://{LISTEN}/-/reload")]);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("request timed out"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    // Other requests are served meanwhile.
    let (code, _) = status(&ns, "/-/healthy");
    assert_eq!(code, 200);
    // The blocked read ends when the FIFO gets its text; the file comes back; a reload works.
    std::fs::write(&config, &good).expect("write into the FIFO");
    std::fs::remove_file(&config).expect("remove the FIFO");
    std::fs::write(&config, &good).expect("restore the configuration");
    let (code, body) = curl_in(&ns, &["-X", "POST", &format!("http://{LISTEN}/-/reload")]);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn status_page_names_its_only_script_and_refuses_bad_queries() {
    let (_lab, ns) = agent("server-status", &[]);
    let head = exchange(
        &ns,
        b"GET /?failing=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .unwrap_or_else(|| panic!("no CSP in {head}"));
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'sha256-"),
        "{csp}"
    );
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(head.contains("<input type=\"checkbox\" name=\"failing\" value=\"1\" checked>"));
    // The fragment the page's script swaps in: no document around it.
    let (code, body) = status(&ns, "/?fragment=1");
    assert_eq!(code, 200);
    assert!(
        !body.contains("<html") && body.contains("Checks and findings"),
        "{body}"
    );
    let (code, body) = status(&ns, "/?page=zero");
    assert_eq!(
        (code, body.as_str()),
        (400, "/: page=\"zero\": a page number from 1\n")
    );
    let (code, body) = status(&ns, "/?sort=name");
    assert_eq!(code, 400);
    assert!(body.contains("sort: unknown parameter"), "{body}");
}
