//! Hostile peers (issue 6): servers that accept and say nothing, answer a byte a second, send a
//! gigabyte, send garbage, present a certificate that does not parse, flood UDP replies, or forge
//! ICMP errors and echo replies for probes never sent. Every probe must end within its timeout,
//! stay small, classify what it saw, and count nothing forged.
//!
//! The servers are threads of the test process inside the lab's server namespace (raw TCP, UDP and
//! raw ICMP sockets, every loop bounded in count and time and stopped with the lab); the probe is the
//! real binary in the client namespace, run under GNU time for its peak RSS, with `--output jsonl`
//! so the test sees when each row arrives.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::lab::{Lab, probe_bin};

/// The probes' `--timeout`.
const TIMEOUT: Duration = Duration::from_secs(1);
/// What a row may arrive after the timeout: the process start (a debug build under `ip netns
/// exec` and GNU time) and scheduling on a machine shared with other builds. A probe that ignored
/// its deadline would be late by whole seconds (the byte-a-second server keeps going for 40 s).
const SLACK: Duration = Duration::from_millis(1500);
/// A run still going after this hangs: a hang check, not a performance bound.
const HANG: Duration = Duration::from_secs(10);
/// Peak resident set of the probe process while a peer sends a gigabyte or a flood, in KiB.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
/// How long a hostile server keeps accepting, and one connection may last, at most.
const SERVER_LIFETIME: Duration = Duration::from_secs(30);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(15);

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

// ---------------------------------------------------------------------------------------------
// Running the probe: rows with their arrival times, exit code, stderr, peak RSS.
// ---------------------------------------------------------------------------------------------

/// One run of the probe binary, measured.
struct Measured {
    args: Vec<String>,
    code: Option<i32>,
    /// Each JSON row and when it was printed, from the start of the process.
    rows: Vec<(Duration, Value)>,
    stderr: String,
    /// Until the process exited.
    wall: Duration,
    /// Peak resident set size of the probe process (GNU time's `%M`), KiB.
    peak_rss_kib: u64,
}

impl Measured {
    /// The row of `target`, with the time it arrived.
    fn row(&self, target: &str) -> (Duration, &Value) {
        self.rows
            .iter()
            .find(|(_, row)| row["target"] == target)
            .map(|(at, row)| (*at, row))
            .unwrap_or_else(|| panic!("no row for {target} in {:#?}", self.rows))
    }

    /// Checks what every run must satisfy: the documented exit code, no panic, one well-formed row
    /// per target, each printed within the timeout (plus start-up slack), memory bounded.
    fn assert_sane(&self, targets: &[&str], code: i32) {
        assert_eq!(
            self.code,
            Some(code),
            "exit code of {:?}\nstderr:\n{}",
            self.args,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the probe panicked:\n{}",
            self.stderr
        );
        assert_eq!(
            self.rows.len(),
            targets.len(),
            "one row per target: {:#?}",
            self.rows
        );
        for target in targets {
            let (at, row) = self.row(target);
            for key in ["state", "reason", "phase", "protocol"] {
                assert!(row[key].is_string(), "{target}: {key} is a string: {row:#}");
            }
            assert!(row["success"].is_boolean(), "{target}: {row:#}");
            assert!(
                at <= TIMEOUT + SLACK,
                "{target} took {at:?}, more than its timeout {TIMEOUT:?} (+{SLACK:?} start-up): {row:#}"
            );
        }
        assert!(
            self.peak_rss_kib > 0 && self.peak_rss_kib < RSS_LIMIT_KIB,
            "peak RSS {} KiB, limit {RSS_LIMIT_KIB} KiB",
            self.peak_rss_kib
        );
    }
}

static NEXT_RUN: AtomicUsize = AtomicUsize::new(0);

/// Runs the probe in `ns` with `--output jsonl` and `args` under GNU time; panics if it runs
/// longer than [`HANG`].
fn run_measured(lab: &Lab, ns: &str, args: &[&str]) -> Measured {
    let time = "/usr/bin/time";
    assert!(
        Path::new(time).exists(),
        "{time} (GNU time, package `time`; scripts/test.sh installs it) measures the probe's peak RSS"
    );
    let rss_file = lab.dir.join(format!(
        "rss-{}.txt",
        NEXT_RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, time, "-f", "%M", "-o"])
        .arg(&rss_file)
        .args([probe_bin(), "--output", "jsonl"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start the probe under GNU time");
    let start = Instant::now();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let lines = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            lines.push((start.elapsed(), line));
        }
        lines
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the probe") {
            break status;
        }
        if start.elapsed() > HANG {
            // The process group of the child this test started: GNU time and the probe.
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("probe {args:?} still running after {HANG:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed();
    let lines = lines.join().expect("stdout reader");
    let stderr = errors.join().expect("stderr reader");
    let rows = lines
        .into_iter()
        .map(|(at, line)| {
            let row = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON row ({e}): {line}\nstderr:\n{stderr}"));
            (at, row)
        })
        .collect();
    // GNU time writes "Command exited with non-zero status N" first when the status is not 0.
    let report = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let peak_rss_kib = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time's report {report:?}\nstderr:\n{stderr}"));
    let measured = Measured {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: status.code(),
        rows,
        stderr,
        wall,
        peak_rss_kib,
    };
    eprintln!(
        "probe {:?}: exit {:?} in {:?}, peak RSS {} KiB",
        measured.args, measured.code, measured.wall, measured.peak_rss_kib
    );
    for (at, row) in &measured.rows {
        eprintln!(
            "  {at:>8.3?} {} {} {} {} body {}",
            row["target"], row["state"], row["reason"], row["detail"], row["http"]["body_bytes"]
        );
    }
    measured
}

/// Asserts state, reason and phase of one row.
fn assert_outcome(row: &Value, state: &str, reason: &str, phase: &str) {
    let target = &row["target"];
    assert_eq!(
        (
            row["state"].as_str(),
            row["reason"].as_str(),
            row["phase"].as_str()
        ),
        (Some(state), Some(reason), Some(phase)),
        "state, reason and phase of {target}: {row:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile TCP servers.
// ---------------------------------------------------------------------------------------------

/// One connection of a hostile server, bounded by the lab's stop flag and its own deadline.
struct Conn {
    stop: Arc<AtomicBool>,
    deadline: Instant,
}

/// What a hostile server does with each connection.
type Handler = fn(&mut TcpStream, &Conn);

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Conn {
    fn live(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    /// Sleeps `d` unless the connection's time is up first; whether it is still live.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if !self.live() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.live()
    }

    /// Reads until `complete` says the bytes read so far are enough (at most 64 KiB).
    fn read_until(&self, s: &mut TcpStream, complete: impl Fn(&[u8]) -> bool) -> bool {
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while self.live() && got.len() < 1 << 16 {
            if complete(&got) {
                return true;
            }
            match s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if would_block(&e) => {}
                Err(_) => return false,
            }
        }
        complete(&got)
    }

    /// Reads an HTTP request head.
    fn request(&self, s: &mut TcpStream) -> bool {
        self.read_until(s, |b| b.windows(4).any(|w| w == b"\r\n\r\n"))
    }

    /// Reads one TLS record (the ClientHello).
    fn client_hello(&self, s: &mut TcpStream) -> bool {
        self.read_until(s, |b| {
            b.len() >= 5 && b.len() >= 5 + usize::from(u16::from_be_bytes([b[3], b[4]]))
        })
    }

    /// Writes all of `data`; false once the peer is gone or the time is up.
    fn send(&self, s: &mut TcpStream, data: &[u8]) -> bool {
        let _ = s.set_write_timeout(Some(Duration::from_millis(50)));
        let mut done = 0;
        while done < data.len() {
            if !self.live() {
                return false;
            }
            match s.write(&data[done..]) {
                Ok(0) => return false,
                Ok(n) => done += n,
                Err(e) if would_block(&e) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Keeps the connection open, saying nothing, until the peer closes it or the time is up.
    fn hold(&self, s: &mut TcpStream) {
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
        let mut buf = [0u8; 4096];
        while self.live() {
            match s.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if would_block(&e) => {}
                Err(_) => return,
            }
        }
    }
}

/// Starts a hostile TCP server on `addr` in `ns`: each connection gets a thread (in the
/// namespace) running `handler`; the server stops with the lab and joins its connections.
fn serve(lab: &mut Lab, ns: &str, addr: &str, handler: Handler) {
    let addr: SocketAddr = addr.parse().expect("server address");
    lab.in_namespace(ns, move |stop, ready| {
        let listener = TcpListener::bind(addr).expect("bind the hostile server");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let _ = ready.send(());
        let end = Instant::now() + SERVER_LIFETIME;
        let mut connections = Vec::new();
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let conn = Conn {
                        stop: stop.clone(),
                        deadline: Instant::now() + CONNECTION_LIFETIME,
                    };
                    connections.push(std::thread::spawn(move || {
                        if stream.set_nonblocking(false).is_ok() {
                            handler(&mut stream, &conn);
                        }
                    }));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        for c in connections {
            let _ = c.join();
        }
    });
}

/// Deterministic noise (xorshift): "random" bytes that are the same on every run.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const GIB: u64 = 1 << 30;

/// Reads the request, then silence until the prober gives up.
fn silent(s: &mut TcpStream, c: &Conn) {
    if c.request(s) {
        c.hold(s);
    }
}

/// A valid status line and headers, one byte a second.
fn byte_a_second_head(s: &mut TcpStream, c: &Conn) {
    if !c.request(s) {
        return;
    }
    for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok" {
        if !c.send(s, &[*b]) || !c.pause(Duration::from_secs(1)) {
            return;
        }
    }
}

/// Headers at once, then the body one byte a second.
fn byte_a_second_body(s: &mut TcpStream, c: &Conn) {
    if !c.request(s) || !c.send(s, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") {
        return;
    }
    for _ in 0..100 {
        if !c.send(s, b"x") || !c.pause(Duration::from_secs(1)) {
            return;
        }
    }
}

/// A 1 GiB body with a Content-Length, generated as it is sent.
fn gigabyte(s: &mut TcpStream, c: &Conn) {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {GIB}\r\n\r\n");
    if !c.request(s) || !c.send(s, head.as_bytes()) {
        return;
    }
    let chunk = vec![b'x'; 1 << 16];
    for _ in 0..GIB / (1 << 16) {
        if !c.send(s, &chunk) {
            return;
        }
    }
}

/// A 1 GiB chunked body, in 64 KiB chunks.
fn gigabyte_chunked(s: &mut TcpStream, c: &Conn) {
    if !c.request(s) || !c.send(s, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") {
        return;
    }
    let mut chunk = b"10000\r\n".to_vec();
    chunk.extend(std::iter::repeat_n(b'y', 1 << 16));
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..GIB / (1 << 16) {
        if !c.send(s, &chunk) {
            return;
        }
    }
    c.send(s, b"0\r\n\r\n");
}

/// Not HTTP: a line of text, then the connection stays open.
fn not_http(s: &mut TcpStream, c: &Conn) {
    if c.request(s) && c.send(s, b"HELLO\r\n\r\n") {
        c.hold(s);
    }
}

/// Binary noise, then the connection stays open.
fn binary_noise(s: &mut TcpStream, c: &Conn) {
    if c.request(s) && c.send(s, &noise(4096, 0x0bad_f00d)) {
        c.hold(s);
    }
}

/// A status line, then headers without end (up to 64 MiB), as fast as they are taken.
fn endless_head(s: &mut TcpStream, c: &Conn) {
    if !c.request(s) || !c.send(s, b"HTTP/1.1 200 OK\r\n") {
        return;
    }
    let mut line = b"X-Filler: ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 1000));
    line.extend_from_slice(b"\r\n");
    for _ in 0..(64 << 20) / line.len() {
        if !c.send(s, &line) {
            return;
        }
    }
}

/// Informational responses without end (`102 Processing`), never a final one.
fn endless_informational(s: &mut TcpStream, c: &Conn) {
    if !c.request(s) {
        return;
    }
    let batch = b"HTTP/1.1 102 Processing\r\n\r\n".repeat(1000);
    for _ in 0..2000 {
        if !c.send(s, &batch) {
            return;
        }
    }
}

/// Headers announce 1000 bytes; 9 come, then the server closes.
fn truncated_body(s: &mut TcpStream, c: &Conn) {
    if c.request(s) {
        c.send(
            s,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this",
        );
    }
}

fn u16be(n: usize) -> [u8; 2] {
    u16::try_from(n).expect("fits 16 bits").to_be_bytes()
}

fn u24be(n: usize) -> [u8; 3] {
    let b = u32::try_from(n).expect("fits 24 bits").to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A TLS 1.2 record of `content_type`.
fn tls_record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 3];
    r.extend_from_slice(&u16be(body.len()));
    r.extend_from_slice(body);
    r
}

/// A handshake message in its own record.
fn tls_handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&u24be(body.len()));
    m.extend_from_slice(body);
    tls_record(22, &m)
}

/// Answers the ClientHello with a handshake record of noise.
fn tls_garbage_record(s: &mut TcpStream, c: &Conn) {
    let mut record = vec![22, 3, 3, 0x04, 0x00];
    record.extend(noise(1024, 0x7157));
    if c.client_hello(s) && c.send(s, &record) {
        c.hold(s);
    }
}

/// A well-formed TLS 1.2 ServerHello (ECDHE-ECDSA-AES128-GCM-SHA256), a Certificate message
/// whose one certificate is 600 bytes of noise, a ServerKeyExchange with a noise signature and
/// ServerHelloDone: the client reaches certificate verification with a certificate that does not
/// parse.
fn tls_garbage_certificate(s: &mut TcpStream, c: &Conn) {
    let mut hello = vec![3, 3];
    hello.extend([0x11; 32]); // server random, without the TLS 1.3 downgrade sentinel
    hello.push(0); // no session id
    hello.extend([0xc0, 0x2b]); // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    hello.push(0); // no compression
    hello.extend([0, 0]); // no extensions
    let cert = noise(600, 0xce27);
    let mut certs = u24be(cert.len() + 3).to_vec();
    certs.extend_from_slice(&u24be(cert.len()));
    certs.extend_from_slice(&cert);
    let mut kx = vec![3, 0x00, 0x17, 65, 4]; // named curve secp256r1, uncompressed point
    kx.extend(noise(64, 0x4b58));
    kx.extend([0x04, 0x03]); // ecdsa_secp256r1_sha256
    kx.extend_from_slice(&u16be(72));
    kx.extend(noise(72, 0x5167));
    let mut flight = tls_handshake(2, &hello);
    flight.extend(tls_handshake(11, &certs));
    flight.extend(tls_handshake(12, &kx));
    flight.extend(tls_handshake(14, &[]));
    if c.client_hello(s) && c.send(s, &flight) {
        c.hold(s);
    }
}

/// Reads the ClientHello, then silence.
fn tls_silent(s: &mut TcpStream, c: &Conn) {
    if c.client_hello(s) {
        c.hold(s);
    }
}

/// A self-signed certificate for `lab.test` that expired in February 2020 (OpenSSL 3.0's `req`
/// cannot date one in the past; `ca -selfsign` can). Returns (certificate, key).
fn expired_cert(lab: &Lab) -> (PathBuf, PathBuf) {
    let dir = lab.dir.join("expired-ca");
    std::fs::create_dir_all(&dir).expect("CA directory");
    std::fs::write(dir.join("index.txt"), "").expect("CA index");
    std::fs::write(dir.join("serial"), "01\n").expect("CA serial");
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = any\nunique_subject = no\nx509_extensions = leaf\n\
         [any]\ncommonName = supplied\n\
         [leaf]\nbasicConstraints = critical,CA:FALSE\nsubjectAltName = DNS:lab.test\n",
    )
    .expect("CA configuration");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run openssl (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=lab.test",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
    ]);
    openssl(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-selfsign",
        "-keyfile",
        "key.pem",
        "-in",
        "req.csr",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200201000000Z",
        "-out",
        "cert.pem",
    ]);
    (dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
fn hostile_http_and_tls_peers_end_within_the_timeout_in_bounded_memory() {
    let (mut lab, client, server) = Lab::pair("hostile-http");
    let peers: [(&str, Handler); 13] = [
        ("8001", silent),
        ("8002", byte_a_second_head),
        ("8003", byte_a_second_body),
        ("8004", gigabyte),
        ("8005", gigabyte_chunked),
        ("8006", not_http),
        ("8007", binary_noise),
        ("8008", endless_head),
        ("8009", endless_informational),
        ("8010", truncated_body),
        ("8443", tls_garbage_record),
        ("8444", tls_garbage_certificate),
        ("8446", tls_silent),
    ];
    for (port, handler) in peers {
        serve(&mut lab, &server, &format!("10.77.0.2:{port}"), handler);
    }
    let (cert, key) = expired_cert(&lab);
    let log = lab.dir.join("s_server.log");
    lab.spawn(
        &server,
        &[
            "openssl",
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            "10.77.0.2:8445",
            "-cert",
            cert.to_str().expect("UTF-8 path"),
            "-key",
            key.to_str().expect("UTF-8 path"),
        ],
        &log,
    );
    lab.wait_listening(&server, "10.77.0.2:8445");

    let http = |port: &str| format!("http://10.77.0.2:{port}/");
    let https = |port: &str| format!("https://10.77.0.2:{port}/");
    let targets: Vec<String> = (1..=10)
        .map(|p| http(&format!("80{p:02}")))
        .chain(["8443", "8444", "8445", "8446"].map(https))
        .collect();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let mut args = vec!["--timeout", "1s"];
    for t in &targets {
        args.extend(["-t", t]);
    }
    let run = run_measured(&lab, &client, &args);
    run.assert_sane(&targets, 1);

    // Accepts, then silence: the application timed out while processing.
    let (_, row) = run.row(&http("8001"));
    assert_outcome(row, "open", "timeout", "processing");
    assert!(row["http"]["status"].is_null(), "{row:#}");
    // Headers a byte a second: still processing at the deadline.
    let (_, row) = run.row(&http("8002"));
    assert_outcome(row, "open", "timeout", "processing");
    assert!(row["http"]["status"].is_null(), "{row:#}");
    // Body a byte a second: the status is known, the transfer timed out.
    let (_, row) = run.row(&http("8003"));
    assert_outcome(row, "open", "timeout", "transfer");
    assert_eq!(row["http"]["status"], 200, "{row:#}");
    assert_eq!(row["success"], false, "{row:#}");
    // A gigabyte, with a length or chunked: the status is judged, the body read up to the
    // default --body-limit (1 MiB) and no further.
    for port in ["8004", "8005"] {
        let (_, row) = run.row(&http(port));
        assert_outcome(row, "open", "http-response", "done");
        assert_eq!(row["http"]["status"], 200, "{row:#}");
        assert_eq!(row["success"], true, "{row:#}");
        assert_eq!(row["http"]["body_truncated"], true, "{row:#}");
        let read = row["http"]["body_bytes"].as_u64().unwrap_or_default();
        assert!(
            ((1 << 20)..(2 << 20)).contains(&read),
            "read {read} bytes of a gigabyte, the limit is 1 MiB: {row:#}"
        );
    }
    // Not HTTP, text or binary, and a head without end: an invalid response.
    for port in ["8006", "8007", "8008"] {
        let (_, row) = run.row(&http(port));
        assert_outcome(row, "open", "http-error", "processing");
        assert!(row["http"]["status"].is_null(), "{row:#}");
        let detail = row["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("invalid HTTP response"), "{row:#}");
    }
    let (_, row) = run.row(&http("8008"));
    assert!(
        row["detail"]
            .as_str()
            .is_some_and(|d| d.contains("too large")),
        "the head is too large: {row:#}"
    );
    // Informational responses without end: no final response before the deadline.
    let (_, row) = run.row(&http("8009"));
    assert_outcome(row, "open", "timeout", "processing");
    // A body cut short: status known, the transfer failed.
    let (_, row) = run.row(&http("8010"));
    assert_outcome(row, "open", "http-error", "transfer");
    assert_eq!(row["http"]["status"], 200, "{row:#}");
    assert_eq!(row["success"], false, "{row:#}");

    // With a --body-limit above the gigabyte, the body is read for as long as the deadline
    // allows, and counted, not kept: memory stays as small as with the default limit.
    let gigabytes = [http("8004"), http("8005")];
    let gigabytes: Vec<&str> = gigabytes.iter().map(String::as_str).collect();
    let unlimited = run_measured(
        &lab,
        &client,
        &[
            "--timeout",
            "1s",
            "--body-limit",
            "4294967296",
            "-t",
            gigabytes[0],
            "-t",
            gigabytes[1],
        ],
    );
    let done = unlimited
        .rows
        .iter()
        .all(|(_, row)| row["reason"] == "http-response");
    unlimited.assert_sane(&gigabytes, if done { 0 } else { 1 });
    for target in &gigabytes {
        let (_, row) = unlimited.row(target);
        assert_eq!(row["http"]["status"], 200, "{row:#}");
        assert_eq!(row["http"]["body_truncated"], false, "{row:#}");
        let read = row["http"]["body_bytes"].as_u64().unwrap_or_default();
        match row["reason"].as_str() {
            // The whole gigabyte within the second (a release build on a fast machine).
            Some("http-response") => assert_eq!(read, GIB, "{row:#}"),
            _ => {
                assert_outcome(row, "open", "timeout", "transfer");
                assert!(read > 1 << 20 && read < GIB, "{row:#}");
            }
        }
    }

    // TLS: a record of noise, and a certificate of noise, fail the handshake with a reason.
    for port in ["8443", "8444"] {
        let (_, row) = run.row(&https(port));
        assert_outcome(row, "open", "tls-error", "tls");
        let error = row["tls"]["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "the TLS error is named: {row:#}");
        assert!(
            row["tls"]["not_after"].is_null(),
            "no expiry from noise: {row:#}"
        );
    }
    let (_, row) = run.row(&https("8444"));
    let error = row["tls"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("BadEncoding"),
        "a certificate that does not parse: {row:#}"
    );
    // An expired self-signed certificate: untrusted, and its expiry in the past is reported.
    let (_, row) = run.row(&https("8445"));
    assert_outcome(row, "open", "tls-error", "tls");
    assert!(
        row["tls"]["expires_in_s"].as_i64().is_some_and(|s| s < 0),
        "expired: {row:#}"
    );
    // A TLS server that reads the ClientHello and says nothing: timed out in the handshake.
    let (_, row) = run.row(&https("8446"));
    assert_outcome(row, "open", "timeout", "tls");
    assert_eq!(
        row["detail"], "no complete TLS handshake within 1s (phase tls)",
        "the table's DETAIL says why: {row:#}"
    );

    // --insecure: the noise certificate is accepted unverified, but the handshake still fails
    // (its key cannot check the key exchange's signature); the expired one serves a page.
    let insecure_targets = [https("8444"), https("8445")];
    let insecure_targets: Vec<&str> = insecure_targets.iter().map(String::as_str).collect();
    let insecure = run_measured(
        &lab,
        &client,
        &[
            "--timeout",
            "1s",
            "--insecure",
            "-t",
            insecure_targets[0],
            "-t",
            insecure_targets[1],
        ],
    );
    insecure.assert_sane(&insecure_targets, 1);
    let (_, row) = insecure.row(&https("8444"));
    assert_outcome(row, "open", "tls-error", "tls");
    assert!(
        row["tls"]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{row:#}"
    );
    let (_, row) = insecure.row(&https("8445"));
    assert_outcome(row, "open", "http-response", "done");
    assert_eq!(row["http"]["status"], 200, "{row:#}");
    assert!(
        row["tls"]["expires_in_s"].as_i64().is_some_and(|s| s < 0),
        "{row:#}"
    );

    // Trusted through --ca-file under its own name: the fault named is the expiry.
    let trusted = run_measured(
        &lab,
        &client,
        &[
            "--timeout",
            "1s",
            "--ca-file",
            cert.to_str().expect("UTF-8 path"),
            "--host",
            "lab.test",
            "-t",
            insecure_targets[1],
        ],
    );
    trusted.assert_sane(&insecure_targets[1..], 1);
    let (_, row) = trusted.row(&https("8445"));
    assert_outcome(row, "open", "tls-error", "tls");
    assert!(
        row["tls"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("certificate expired")),
        "{row:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// A UDP responder that floods replies.
// ---------------------------------------------------------------------------------------------

/// Datagrams the flooding responder sends back for each one it receives, and their size.
const FLOOD: usize = 100_000;
const FLOOD_DATAGRAM: usize = 512;

#[test]
fn hostile_udp_flood_counts_one_reply() {
    let (mut lab, client, server) = Lab::pair("hostile-udp");
    lab.nft(
        &server,
        "table ip lab {
           chain input {
             type filter hook input priority 0; policy accept;
             udp dport 5302 drop
           }
         }",
    );
    // Counts the flood where it arrives: at the probe's host.
    lab.nft(
        &client,
        "table ip flood {
           counter from_flooder {}
           chain input {
             type filter hook input priority -10; policy accept;
             ip saddr 10.77.0.2 udp sport 5400 counter name from_flooder
           }
         }",
    );
    let floods: Arc<Mutex<Vec<Flood>>> = Arc::new(Mutex::new(Vec::new()));
    let flooded = floods.clone();
    lab.in_namespace(&server, move |stop, ready| {
        let socket = UdpSocket::bind("10.77.0.2:5400").expect("bind the flooding responder");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("recv timeout");
        let _ = ready.send(());
        let end = Instant::now() + SERVER_LIFETIME;
        let mut buf = [0u8; 2048];
        let datagram = [b'f'; FLOOD_DATAGRAM];
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            let Ok((_, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let flood_end = Instant::now() + Duration::from_secs(5);
            let mut flood = Flood {
                sent: 0,
                half_sent_at: None,
            };
            for _ in 0..FLOOD {
                if stop.load(Ordering::Relaxed) || Instant::now() > flood_end {
                    break;
                }
                if socket.send_to(&datagram, from).is_ok() {
                    flood.sent += 1;
                    if flood.sent == FLOOD / 2 {
                        flood.half_sent_at = Some(Instant::now());
                    }
                }
            }
            flooded.lock().expect("flood record").push(flood);
        }
    });
    let targets = [
        "udp://10.77.0.2:5400",
        "udp://10.77.0.2:5302",
        "icmp://10.77.0.2",
    ];
    let run = run_measured(
        &lab,
        &client,
        &[
            "--timeout",
            "1s",
            "--count",
            "3",
            "--payload",
            "ping",
            "-t",
            targets[0],
            "-t",
            targets[1],
            "-t",
            targets[2],
        ],
    );
    run.assert_sane(&targets, 1);
    let (_, row) = run.row(targets[0]);
    assert_outcome(row, "open", "udp-response", "done");
    assert_eq!(
        row["udp"]["response_bytes"], FLOOD_DATAGRAM,
        "one reply counted, not the flood: {row:#}"
    );
    // The flood changes nothing for the other probes of the run.
    let (_, row) = run.row(targets[1]);
    assert_outcome(row, "open|filtered", "no-response", "wait");
    let (_, row) = run.row(targets[2]);
    assert_outcome(row, "open", "echo-reply", "done");
    assert_eq!(
        (
            row["ping"]["sent"].as_u64(),
            row["ping"]["received"].as_u64()
        ),
        (Some(3), Some(3)),
        "{row:#}"
    );
    // The flood really happened, at scale, while the probe ran: one reply became (nearly) the
    // whole flood; its first half left the responder before the probe exited; and the probe's
    // host received nearly all of it.
    let exited = Instant::now();
    // A flood is recorded when its last datagram has left; on a loaded machine that can be after
    // the probe exited. Wait for it, within bounds.
    let deadline = exited + Duration::from_secs(20);
    while floods.lock().expect("flood record").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let floods = floods.lock().expect("flood record").clone();
    let arrived = nft_counter_packets(&lab, &client, "flood", "from_flooder");
    let report = floods
        .iter()
        .map(|f| match f.half_sent_at {
            Some(t) if t < exited => format!(
                "{} sent, half of them {} ms before the probe exited",
                f.sent,
                (exited - t).as_millis()
            ),
            Some(t) => format!(
                "{} sent, half of them {} ms after the probe exited",
                f.sent,
                (t - exited).as_millis()
            ),
            None => format!("{} sent", f.sent),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let report = format!("floods: [{report}]; {arrived} datagrams arrived at the client");
    eprintln!("the responder flooded: {report}");
    let Some(flood) = floods.iter().max_by_key(|f| f.sent) else {
        panic!("the responder never flooded: {report}");
    };
    assert!(
        flood.sent >= FLOOD * 9 / 10,
        "the responder sent {} of {FLOOD} datagrams: {report}",
        flood.sent
    );
    assert!(
        flood.half_sent_at.is_some_and(|t| t < exited),
        "half the flood was not sent before the probe exited: {report}"
    );
    let sent: usize = floods.iter().map(|f| f.sent).sum();
    assert!(
        arrived >= sent as u64 * 9 / 10,
        "only {arrived} of {sent} flood datagrams reached the probe's host: {report}"
    );
}

/// One flood of the UDP responder: datagrams sent, and when the first half of [`FLOOD`] was.
#[derive(Debug, Clone)]
struct Flood {
    sent: usize,
    half_sent_at: Option<Instant>,
}

/// The packets of the named nftables counter `name` of table `ip TABLE` in `ns`.
fn nft_counter_packets(lab: &Lab, ns: &str, table: &str, name: &str) -> u64 {
    let out = lab.sh(ns, &["nft", "list", "counter", "ip", table, name]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a packet count in {text}"))
}

// ---------------------------------------------------------------------------------------------
// Forged ICMP: errors quoting probes never sent, echo replies with the wrong id, seq or payload.
// ---------------------------------------------------------------------------------------------

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet (header checksum filled in).
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&u16be(20 + payload.len()));
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An ICMP message (checksum filled in).
fn icmp(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// A destination unreachable with `code`, quoting an IPv4 packet whose transport header starts
/// with `l4` (RFC 792: the header and the first 8 bytes of the datagram).
fn unreachable(code: u8, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    icmp(3, code, [0; 4], &ipv4(src, dst, proto, l4))
}

/// The first 8 bytes of a TCP header.
fn tcp_quote(sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut h = sport.to_be_bytes().to_vec();
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h
}

/// A UDP header for an empty datagram.
fn udp_quote(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = sport.to_be_bytes().to_vec();
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0, 8, 0, 0]);
    h
}

fn echo(kind: u8, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut rest = [0u8; 4];
    rest[..2].copy_from_slice(&ident.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    icmp(kind, 0, rest, payload)
}

/// What the forger sent, by kind.
#[derive(Default)]
struct Forged {
    /// Errors for the TCP probe quoting the wrong sequence, destination, port or source.
    tcp_wrong: AtomicUsize,
    /// Errors quoting a TCP probe exactly (what an on-path attacker can do).
    tcp_exact: AtomicUsize,
    udp_wrong: AtomicUsize,
    udp_exact: AtomicUsize,
    /// Echo replies with the wrong identifier, sequence, payload or source, and errors quoting
    /// echo requests never sent.
    echo_wrong: AtomicUsize,
    /// Exact copies of the reply an echo request asks for.
    echo_exact: AtomicUsize,
}

fn count(n: &AtomicUsize, sent: bool) {
    if sent {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// A raw ICMP socket that sends from `src` and receives nothing.
fn raw_icmp_from(src: Ipv4Addr) -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).expect("raw socket");
    socket
        .bind(&SockAddr::from(SocketAddrV4::new(src, 0)))
        .expect("bind the raw socket");
    socket
        .attach_filter(&[socket2::SockFilter::new(0x06, 0, 0, 0)])
        .expect("drop-all filter");
    socket
}

/// Starts the forger in the server namespace: it watches what the client sends (a packet
/// socket sees it before nftables drops it) and answers with forgeries, as [`Forged`] counts.
fn forger(lab: &mut Lab, ns: &str, forged: Arc<Forged>) {
    lab.in_namespace(ns, move |stop, ready| {
        const ETH_P_IP: u16 = 0x0800;
        let sniffer = Socket::new(
            Domain::PACKET,
            Type::DGRAM,
            Some(Protocol::from(i32::from(ETH_P_IP.to_be()))),
        )
        .expect("packet socket");
        sniffer
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let [s2, s3, s5] = [2, 3, 5].map(|n| raw_icmp_from(Ipv4Addr::new(10, 77, 0, n)));
        let to = SockAddr::from(SocketAddrV4::new(CLIENT, 0));
        let send = |socket: &Socket, packet: &[u8]| socket.send_to(packet, &to).is_ok();
        let other = Ipv4Addr::new(10, 77, 0, 9);
        let stranger = Ipv4Addr::new(10, 77, 0, 66);
        let _ = ready.send(());
        let end = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            let Ok(n) = (&sniffer).read(&mut buf) else {
                continue;
            };
            let p = &buf[..n];
            if n < 20 || p[0] >> 4 != 4 || p[12..16] != CLIENT.octets() {
                continue;
            }
            let header = usize::from(p[0] & 0x0f) * 4;
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            let Some(l4) = p.get(header..) else { continue };
            if l4.len() < 8 {
                continue;
            }
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            match (p[9], dst) {
                // A TCP SYN: errors quoting the wrong sequence number (outside the window), the
                // wrong destination, port or source; and an exact one for port 8084.
                (6, to_server)
                    if to_server == SERVER && l4.len() >= 14 && l4[13] & 0x12 == 0x02 =>
                {
                    let isn = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
                    if dport == 8081 {
                        for code in [13, 3] {
                            let wrong = [
                                (CLIENT, SERVER, dport, isn ^ 0x8000_0000),
                                (CLIENT, other, dport, isn),
                                (CLIENT, SERVER, 8099, isn),
                                (stranger, SERVER, dport, isn),
                            ];
                            for (src, dst, dport, seq) in wrong {
                                let e =
                                    unreachable(code, src, dst, 6, &tcp_quote(sport, dport, seq));
                                count(&forged.tcp_wrong, send(&s2, &e));
                            }
                        }
                    } else if dport == 8084 {
                        let e = unreachable(13, CLIENT, SERVER, 6, &tcp_quote(sport, dport, isn));
                        count(&forged.tcp_exact, send(&s2, &e));
                    }
                }
                (17, to_server) if to_server == SERVER && dport == 5302 => {
                    for code in [13, 3] {
                        let wrong = [
                            (CLIENT, other, sport, dport),
                            (CLIENT, SERVER, sport, 5399),
                            (CLIENT, SERVER, sport ^ 1, dport),
                            (stranger, SERVER, sport, dport),
                        ];
                        for (src, dst, sport, dport) in wrong {
                            let e = unreachable(code, src, dst, 17, &udp_quote(sport, dport));
                            count(&forged.udp_wrong, send(&s2, &e));
                        }
                    }
                }
                (17, to_server) if to_server == SERVER && dport == 5304 => {
                    let e = unreachable(13, CLIENT, SERVER, 17, &udp_quote(sport, dport));
                    count(&forged.udp_exact, send(&s2, &e));
                }
                // An echo request.
                (1, _) if l4[0] == 8 => {
                    let ident = u16::from_be_bytes([l4[4], l4[5]]);
                    let seq = u16::from_be_bytes([l4[6], l4[7]]);
                    let payload = &l4[8..];
                    match dst.octets()[3] {
                        // The dropped host: replies that are not quite the reply, errors quoting
                        // requests never sent, and a flood of replies with other identifiers.
                        3 => {
                            let mut flipped = payload.to_vec();
                            if let Some(last) = flipped.last_mut() {
                                *last ^= 0xff;
                            }
                            let request = echo(8, ident, seq, payload);
                            let forgeries = [
                                (&s3, echo(0, ident ^ 1, seq, payload)),
                                (&s3, echo(0, ident, seq ^ 0x8000, payload)),
                                (&s3, echo(0, ident, seq, &flipped)),
                                (&s3, echo(0, ident, seq, &[])),
                                (&s3, echo(0, ident, seq, b"probe health-check echo")),
                                (&s2, echo(0, ident, seq, payload)),
                                (
                                    &s2,
                                    icmp(
                                        3,
                                        13,
                                        [0; 4],
                                        &ipv4(CLIENT, dst, 1, &echo(8, ident ^ 1, seq, payload)),
                                    ),
                                ),
                                (&s2, icmp(3, 13, [0; 4], &ipv4(CLIENT, other, 1, &request))),
                                (
                                    &s2,
                                    icmp(
                                        3,
                                        13,
                                        [0; 4],
                                        &ipv4(CLIENT, dst, 1, &echo(0, ident, seq, payload)),
                                    ),
                                ),
                            ];
                            for (socket, packet) in &forgeries {
                                count(&forged.echo_wrong, send(socket, packet));
                            }
                            for k in 1..=2000u16 {
                                let packet = echo(0, ident ^ k, seq, payload);
                                count(&forged.echo_wrong, send(&s3, &packet));
                            }
                        }
                        // The host that answers: exact duplicates of its reply.
                        2 => {
                            for _ in 0..5 {
                                count(&forged.echo_exact, send(&s2, &echo(0, ident, seq, payload)));
                            }
                        }
                        // Another dropped host: the exact reply, forged.
                        5 => {
                            count(&forged.echo_exact, send(&s5, &echo(0, ident, seq, payload)));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    });
}

#[test]
fn hostile_forged_icmp_is_not_counted() {
    let (mut lab, client, server) = Lab::pair("hostile-icmp");
    for n in [3, 4, 5] {
        lab.add_address(&server, &format!("10.77.0.{n}/24"), "v1");
    }
    lab.nft(
        &server,
        "table ip lab {
           chain input {
             type filter hook input priority 0; policy accept;
             tcp dport { 8081, 8084 } drop
             tcp dport 8083 reject with icmp type admin-prohibited
             udp dport { 5302, 5304 } drop
             udp dport 5303 reject with icmp type admin-prohibited
             ip daddr { 10.77.0.3, 10.77.0.5 } icmp type echo-request drop
             ip daddr 10.77.0.4 icmp type echo-request reject with icmp type admin-prohibited
           }
         }",
    );
    let forged = Arc::new(Forged::default());
    forger(&mut lab, &server, forged.clone());

    let targets = [
        "10.77.0.2:8081",
        "10.77.0.2:8083",
        "10.77.0.2:8084",
        "udp://10.77.0.2:5302",
        "udp://10.77.0.2:5303",
        "udp://10.77.0.2:5304",
        "icmp://10.77.0.2",
        "icmp://10.77.0.3",
        "icmp://10.77.0.4",
        "icmp://10.77.0.5",
    ];
    let mut args = vec!["--timeout", "1s", "--count", "3"];
    for t in &targets {
        args.extend(["-t", t]);
    }
    let run = run_measured(&lab, &client, &args);
    run.assert_sane(&targets, 1);
    let load = |n: &AtomicUsize| n.load(Ordering::Relaxed);
    eprintln!(
        "forged: tcp {} wrong + {} exact, udp {} wrong + {} exact, echo {} wrong + {} exact",
        load(&forged.tcp_wrong),
        load(&forged.tcp_exact),
        load(&forged.udp_wrong),
        load(&forged.udp_exact),
        load(&forged.echo_wrong),
        load(&forged.echo_exact)
    );
    for (what, n) in [
        ("TCP errors quoting other flows", &forged.tcp_wrong),
        ("exact TCP errors", &forged.tcp_exact),
        ("UDP errors quoting other flows", &forged.udp_wrong),
        ("exact UDP errors", &forged.udp_exact),
        ("wrong echo replies and errors", &forged.echo_wrong),
        ("exact echo replies", &forged.echo_exact),
    ] {
        assert!(load(n) > 0, "the forger sent no {what}");
    }

    // Dropped, with forged errors about flows the probe never sent: still a silent drop.
    let (_, row) = run.row("10.77.0.2:8081");
    assert_outcome(row, "filtered", "no-response", "connect");
    assert!(row["icmp"].is_null(), "{row:#}");
    let (_, row) = run.row("udp://10.77.0.2:5302");
    assert_outcome(row, "open|filtered", "no-response", "wait");
    assert!(row["icmp"].is_null(), "{row:#}");
    let (_, row) = run.row("icmp://10.77.0.3");
    assert_outcome(row, "filtered", "no-response", "wait");
    assert_eq!(
        row["ping"]["received"], 0,
        "no forged reply counted: {row:#}"
    );
    assert!(row["icmp"].is_null(), "{row:#}");

    // Genuine rejects are reported.
    for target in ["10.77.0.2:8083", "udp://10.77.0.2:5303", "icmp://10.77.0.4"] {
        let (_, row) = run.row(target);
        assert_eq!(
            (row["state"].as_str(), row["reason"].as_str()),
            (Some("rejected"), Some("admin-prohibited")),
            "{row:#}"
        );
        assert_eq!(row["icmp"]["from"], row["address"], "{row:#}");
    }
    // A host that answers, with forged duplicates of each reply: each counted once.
    let (_, row) = run.row("icmp://10.77.0.2");
    assert_outcome(row, "open", "echo-reply", "done");
    assert_eq!(
        (
            row["ping"]["sent"].as_u64(),
            row["ping"]["received"].as_u64()
        ),
        (Some(3), Some(3)),
        "{row:#}"
    );

    // The controls that show the forgeries are well-formed and reach the probe: a forgery that
    // quotes the probe exactly (which only a peer on the path can write) is indistinguishable
    // from the real thing, for the kernel as for the probe.
    let (_, row) = run.row("10.77.0.2:8084");
    assert_eq!(row["state"], "rejected", "{row:#}");
    let (_, row) = run.row("udp://10.77.0.2:5304");
    assert_eq!(row["state"], "rejected", "{row:#}");
    let (_, row) = run.row("icmp://10.77.0.5");
    assert_outcome(row, "open", "echo-reply", "done");
}
