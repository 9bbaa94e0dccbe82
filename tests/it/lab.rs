//! The network lab: real namespaces, veth pairs, nftables rules and servers, torn down on drop.
//!
//! Every namespace is named `plab-<pid>-<n>-<role>`, unique per lab, so tests run in parallel.
//! Traffic never leaves the lab: the probe runs inside the lab's client namespace and its targets
//! are addresses that exist only inside the lab's server namespace.
//!
//! Servers run in two ways: small ones (TCP acceptor, UDP responder) on threads of the test
//! process that have entered the server namespace with `setns`; nginx as a child process under
//! `ip netns exec`. Dropping the [`Lab`] stops the threads, kills the children and deletes the
//! namespaces, also when the test panicked.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// Prefix of every namespace the lab creates; `scripts/test.sh` removes leftovers by it.
pub const NS_PREFIX: &str = "plab-";

/// How long [`Lab::wait_listening`] waits for a server: a debug-build agent or nginx starts in
/// well under a second, but the machine may be busy with other tests.
pub const READY_WAIT: Duration = Duration::from_secs(10);

static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

/// A set of namespaces and what runs in them.
pub struct Lab {
    id: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    /// Children stopped with SIGTERM before SIGKILL: an nginx master stops its workers only then.
    graceful: Vec<u32>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Where the children write: shown when a server never starts listening.
    logs: Vec<PathBuf>,
    pub dir: PathBuf,
}

impl Lab {
    /// Starts an empty lab. Panics, saying why, when namespaces cannot be created: the lab tests
    /// need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2, and are never skipped silently.
    pub fn new(test: &str) -> Lab {
        let n = NEXT_LAB.fetch_add(1, Ordering::SeqCst);
        let id = format!("{NS_PREFIX}{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("{id}-{test}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the lab's temporary directory");
        Lab {
            id,
            namespaces: Vec::new(),
            children: Vec::new(),
            graceful: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            logs: Vec::new(),
            dir,
        }
    }

    /// Creates namespace `<lab>-<role>` with loopback up and ICMP error rate limits off (so a
    /// sweep sees every reject), and returns its name.
    pub fn namespace(&mut self, role: &str) -> String {
        let name = format!("{}-{role}", self.id);
        let out = Command::new("ip").args(["netns", "add", &name]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "the network lab cannot create namespace {name}: `ip netns add` said: {}\n\
                 The lab tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run them as root, as CI does.",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!(
                "the network lab cannot run `ip` ({e}); install iproute2 (scripts/test.sh does)"
            ),
        }
        self.namespaces.push(name.clone());
        self.sh(&name, &["ip", "link", "set", "lo", "up"]);
        self.sysctl(&name, "net.ipv4.icmp_ratelimit", "0");
        self.sysctl(&name, "net.ipv6.icmp.ratelimit", "0");
        self.sysctl(&name, "net.core.somaxconn", "65535");
        self.sysctl(&name, "net.ipv4.tcp_max_syn_backlog", "65535");
        name
    }

    /// Sets a sysctl inside `ns`.
    pub fn sysctl(&self, ns: &str, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.sh(ns, &["sh", "-c", &format!("echo {value} > {path}")]);
    }

    /// Joins `a` (device `v0`) and `b` (device `v1`) with a veth pair, addresses given as CIDR
    /// (`10.77.0.1/24`, `fd77::1/64`).
    pub fn link(&mut self, a: &str, a_addr: &str, b: &str, b_addr: &str) {
        run(Command::new("ip").args([
            "-n", a, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", b,
        ]));
        self.add_address(a, a_addr, "v0");
        self.add_address(b, b_addr, "v1");
        self.sh(a, &["ip", "link", "set", "v0", "up"]);
        self.sh(b, &["ip", "link", "set", "v1", "up"]);
    }

    /// Joins `a` and `b` with a veth pair whose ends are named `a_dev` and `b_dev`, for
    /// namespaces with several links (a router).
    pub fn link_named(
        &mut self,
        a: &str,
        a_dev: &str,
        a_addr: &str,
        b: &str,
        b_dev: &str,
        b_addr: &str,
    ) {
        run(Command::new("ip").args([
            "-n", a, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b,
        ]));
        self.add_address(a, a_addr, a_dev);
        self.add_address(b, b_addr, b_dev);
        self.sh(a, &["ip", "link", "set", a_dev, "up"]);
        self.sh(b, &["ip", "link", "set", b_dev, "up"]);
    }

    /// Adds `addr` (CIDR) to `dev` in `ns`; IPv6 addresses skip duplicate address detection so
    /// they are usable at once.
    pub fn add_address(&self, ns: &str, addr: &str, dev: &str) {
        let mut args = vec!["ip", "addr", "add", addr, "dev", dev];
        if addr.contains(':') {
            args.push("nodad");
        }
        self.sh(ns, &args);
    }

    /// The usual two-host lab: `client` 10.77.0.1/24 and `server` 10.77.0.2/24 on one link.
    /// Returns (client, server).
    pub fn pair(test: &str) -> (Lab, String, String) {
        let mut lab = Lab::new(test);
        let client = lab.namespace("c");
        let server = lab.namespace("s");
        lab.link(&client, "10.77.0.1/24", &server, "10.77.0.2/24");
        (lab, client, server)
    }

    /// [`Lab::pair`] whose server owns every address of `prefix` through AnyIP (`ip route add
    /// local PREFIX dev lo`), so one listener serves them all; the client routes 10.200.0.0/16 to
    /// the server. Returns (lab, client, server).
    fn anyip(test: &str, prefix: &str) -> (Lab, String, String) {
        let (lab, client, server) = Lab::pair(test);
        lab.sh(
            &server,
            &["ip", "route", "add", "local", prefix, "dev", "lo"],
        );
        lab.sh(
            &client,
            &["ip", "route", "add", "10.200.0.0/16", "via", "10.77.0.2"],
        );
        (lab, client, server)
    }

    /// Builds a sweep lab of `count` addresses (at most 65,536), 10.200.0.0 upwards, on port 80:
    /// one listener serves them all through AnyIP; the first half accepts, the third quarter is
    /// dropped, the last quarter is reset by nftables.
    pub fn sweep(test: &str, count: u32) -> Sweep {
        assert!(
            (4..=65_536).contains(&count),
            "a sweep lab has 4 to 65,536 addresses"
        );
        let (mut lab, client, server) = Lab::anyip(test, "10.200.0.0/16");
        let ip = |i: u32| std::net::Ipv4Addr::from(0x0AC8_0000 | i);
        let quarter = |q: u32| q * count / 4;
        lab.nft(
            &server,
            &format!(
                "table ip sweep {{
                   chain input {{
                     type filter hook input priority 0; policy accept;
                     ip daddr {}-{} tcp dport 80 drop
                     ip daddr {}-{} tcp dport 80 reject with tcp reset
                   }}
                 }}",
                ip(quarter(2)),
                ip(quarter(3) - 1),
                ip(quarter(3)),
                ip(count - 1),
            ),
        );
        lab.tcp_listener(&server, "0.0.0.0:80");
        let mut expected = HashMap::new();
        let mut file = String::new();
        for i in 0..count {
            let target = format!("{}:80", ip(i));
            let state = if i < quarter(2) {
                "open"
            } else if i < quarter(3) {
                "filtered"
            } else {
                "closed"
            };
            file.push_str(&target);
            file.push('\n');
            expected.insert(target, state);
        }
        let path = lab.dir.join("targets.txt");
        std::fs::write(&path, file).expect("write the targets file");
        Sweep {
            lab,
            client,
            server,
            targets: path,
            expected,
        }
    }

    /// Builds the 65,534-address lab of issue 5: one listener on port 80 serves 10.200.0.0/16
    /// through AnyIP. 10.200.0.0/17 accepts; 10.200.128.0/18 drops port 80 and ICMP echo
    /// silently; 10.200.192.0/18 resets port 80 (and answers echo). nginx (two workers) answers
    /// HTTP on port 8080 on every address.
    pub fn sweep_65534(test: &str) -> BigSweep {
        let (mut lab, client, server) = Lab::anyip(test, "10.200.0.0/16");
        lab.nft(
            &server,
            "table ip sweep {
               chain input {
                 type filter hook input priority 0; policy accept;
                 ip daddr 10.200.128.0/18 tcp dport 80 drop
                 ip daddr 10.200.128.0/18 icmp type echo-request drop
                 ip daddr 10.200.192.0/18 tcp dport 80 reject with tcp reset
               }
             }",
        );
        lab.tcp_listener(&server, "0.0.0.0:80");
        lab.nginx_workers(
            &server,
            "server { listen 8080 backlog=65535; location / { return 200 \"ok\\n\"; } }",
            &["10.200.0.1:8080"],
            2,
        );
        let mut tcp = Vec::with_capacity(65_534);
        for i in 1u32..65_535 {
            let ip = std::net::Ipv4Addr::from(0x0AC8_0000 | i);
            let (tcp_state, icmp_state) = match i >> 14 {
                0 | 1 => ("open", "open"),
                2 => ("filtered", "filtered"),
                _ => ("closed", "open"),
            };
            tcp.push((ip, tcp_state, icmp_state));
        }
        BigSweep {
            lab,
            client,
            server,
            hosts: tcp,
        }
    }

    /// Runs a command inside `ns` and panics with its output if it fails.
    pub fn sh(&self, ns: &str, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Loads an nftables ruleset (the text of `nft -f`) inside `ns`.
    pub fn nft(&self, ns: &str, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nft (install nftables; scripts/test.sh does)");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(ruleset.as_bytes())
            .expect("write the ruleset to nft");
        let out = child.wait_with_output().expect("wait for nft");
        assert!(
            out.status.success(),
            "nft -f failed in {ns}: {}\nruleset:\n{ruleset}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `f` on a thread that has entered `ns`; sockets it opens live in that namespace.
    /// `f` gets the lab's stop flag and must return soon after it is set.
    pub fn in_namespace<F>(&mut self, ns: &str, f: F)
    where
        F: FnOnce(Arc<AtomicBool>, mpsc::Sender<()>) + Send + 'static,
    {
        let path = format!("/run/netns/{ns}");
        let stop = self.stop.clone();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            let file = File::open(&path).expect("open the namespace file");
            setns(file, CloneFlags::CLONE_NEWNET).expect("enter the namespace");
            f(stop, ready_tx);
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("lab server started");
        self.threads.push(handle);
    }

    /// A TCP listener on `addr` in `ns` that accepts and closes every connection.
    pub fn tcp_listener(&mut self, ns: &str, addr: &str) {
        self.tcp_listener_timed(ns, addr);
    }

    /// [`Lab::tcp_listener`] that also records when it accepted each connection, in order.
    pub fn tcp_listener_timed(&mut self, ns: &str, addr: &str) -> Arc<Mutex<Vec<Instant>>> {
        let addr: SocketAddr = addr.parse().expect("listener address");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let times = accepted.clone();
        self.in_namespace(ns, move |stop, ready| {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::STREAM,
                None,
            )
            .expect("socket");
            socket.set_reuse_address(true).expect("SO_REUSEADDR");
            socket.bind(&addr.into()).expect("bind the lab listener");
            socket.listen(65_535).expect("listen");
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("accept timeout");
            let listener: TcpListener = socket.into();
            let _ = ready.send(());
            while !stop.load(Ordering::Relaxed) {
                if let Ok((conn, _)) = listener.accept() {
                    let at = Instant::now();
                    drop(conn);
                    times.lock().expect("accept times").push(at);
                }
            }
        });
        accepted
    }

    /// A UDP responder on `addr` in `ns` that answers every datagram with `reply` followed by
    /// the datagram itself.
    pub fn udp_responder(&mut self, ns: &str, addr: &str, reply: &'static [u8]) {
        let addr: SocketAddr = addr.parse().expect("responder address");
        self.in_namespace(ns, move |stop, ready| {
            let socket = UdpSocket::bind(addr).expect("bind the lab UDP responder");
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("recv timeout");
            let _ = ready.send(());
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let mut answer = reply.to_vec();
                    answer.extend_from_slice(&buf[..n]);
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
    }

    /// Waits until something accepts TCP connections on `addr` inside `ns`; panics, with the
    /// state and the logs of the lab's children, when nothing does within [`READY_WAIT`]. A test
    /// must not go on without its server: one that expects a port to be closed would pass.
    pub fn wait_listening(&mut self, ns: &str, addr: &str) {
        let addr: SocketAddr = addr.parse().expect("address");
        let listening = in_netns(ns, move || {
            let deadline = Instant::now() + READY_WAIT;
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return true;
                }
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        if !listening {
            panic!(
                "nothing listens on {addr} in {ns} after {READY_WAIT:?}: the server did not start\n{}",
                self.children_report()
            );
        }
    }

    /// Each child's process id and whether it still runs, then the last lines of each log.
    fn children_report(&mut self) -> String {
        let mut report = String::new();
        for child in &mut self.children {
            let state = match child.try_wait() {
                Ok(Some(status)) => format!("exited: {status}"),
                Ok(None) => "running".to_string(),
                Err(e) => format!("unknown: {e}"),
            };
            report.push_str(&format!("child {}: {state}\n", child.id()));
        }
        for log in &self.logs {
            let text =
                std::fs::read_to_string(log).unwrap_or_else(|e| format!("(unreadable: {e})"));
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            report.push_str(&format!("--- {} (last 40 lines):\n{tail}\n", log.display()));
        }
        report
    }

    /// A web configuration (docs/agent-web-config.md) serving TLS with a fresh self-signed
    /// certificate and asking basic authentication of `alice`, password `s3cret`: the file and
    /// the certificate (to trust).
    pub fn tls_and_basic_auth(&self) -> (PathBuf, PathBuf) {
        let (cert, key) = self.self_signed_cert(30);
        let hash = bcrypt::hash("s3cret", 4).expect("bcrypt hash");
        let web = self.dir.join("web.yml");
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  alice: '{hash}'\n",
                cert.display(),
                key.display()
            ),
        )
        .expect("write web.yml");
        (web, cert)
    }

    /// Writes a self-signed leaf certificate (not a CA) for `lab.test` valid for `days` days; returns
    /// (certificate, key) paths.
    pub fn self_signed_cert(&self, days: u32) -> (PathBuf, PathBuf) {
        let cert = self.dir.join("cert.pem");
        let key = self.dir.join("key.pem");
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            &days.to_string(),
            "-subj",
            "/CN=lab.test",
            "-addext",
            "subjectAltName=DNS:lab.test",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            path_str(&key),
            "-out",
            path_str(&cert),
        ]));
        (cert, key)
    }

    /// Starts nginx in `ns` with `server_blocks` inside its `http {}` block. The echo module is
    /// loaded, so `echo_sleep` can make a slow response.
    pub fn nginx(&mut self, ns: &str, server_blocks: &str, wait_for: &[&str]) {
        self.nginx_workers(ns, server_blocks, wait_for, 1);
    }

    /// [`Lab::nginx`] with `workers` worker processes (each takes up to 16,384 connections).
    pub fn nginx_workers(
        &mut self,
        ns: &str,
        server_blocks: &str,
        wait_for: &[&str],
        workers: u32,
    ) {
        let dir = self.dir.join(format!("nginx-{ns}"));
        std::fs::create_dir_all(dir.join("tmp")).expect("nginx directory");
        let d = path_str(&dir);
        let echo = "/usr/lib/nginx/modules/ngx_http_echo_module.so";
        let load_echo = if Path::new(echo).exists() {
            format!("load_module {echo};")
        } else {
            String::new()
        };
        // One worker runs without a master (killing the child stops nginx); more need one, and
        // killing the master makes its workers exit too.
        let master = if workers > 1 { "on" } else { "off" };
        let conf = format!(
            "{load_echo}
daemon off;
master_process {master};
worker_processes {workers};
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type text/plain;
{server_blocks}
}}
"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        // What nginx says before it has read its configuration goes to stderr.
        let stderr_log = dir.join("stderr.log");
        let stderr = File::create(&stderr_log).expect("create nginx's stderr log");
        self.logs.extend([stderr_log, dir.join("error.log")]);
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "nginx", "-e"])
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start nginx (install nginx-light; scripts/test.sh does)");
        if workers > 1 {
            self.graceful.push(child.id());
        }
        self.children.push(child);
        for addr in wait_for {
            self.wait_listening(ns, addr);
        }
    }

    /// Runs the real `probe` binary inside `ns` with `args`.
    pub fn probe(&self, ns: &str, args: &[&str]) -> ProbeRun {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, probe_bin()])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run the probe binary");
        ProbeRun::from(out)
    }

    /// Runs the real `probe` binary inside `ns` with `--output json` and `args`.
    pub fn probe_json(&self, ns: &str, args: &[&str]) -> ProbeRun {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        self.probe(ns, &all)
    }

    /// Starts `args` inside `ns`, its output in `log`, and returns its process id; the lab stops it
    /// when it is dropped.
    pub fn spawn(&mut self, ns: &str, args: &[&str], log: &Path) -> u32 {
        let out = std::fs::File::create(log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        self.logs.push(log.to_path_buf());
        pid
    }

    /// Writes `yaml` as `<name>.yaml` in the lab's directory and starts `probe agent` on it in
    /// `ns`, listening on `listen`, its output in `<name>.log`; waits until the port accepts
    /// connections.
    pub fn agent_on(&mut self, ns: &str, name: &str, yaml: &str, listen: &str) -> AgentRun {
        let config = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&config, yaml).expect("write the agent's configuration");
        let config = path_str(&config).to_string();
        let log = self.dir.join(format!("{name}.log"));
        let pid = self.spawn(
            ns,
            &[
                probe_bin(),
                "agent",
                "--config",
                &config,
                "--listen",
                listen,
            ],
            &log,
        );
        self.wait_listening(ns, listen);
        AgentRun { pid, config, log }
    }

    /// Starts `probe agent` in `ns`, listening on `listen`, with a loopback-only configuration
    /// (one TCP member, 127.0.0.1:9, where nothing listens) and `extra` flags; `prefix` runs before
    /// `bin` (`setpriv …`). Waits until the port accepts connections and returns the agent's process id
    /// (`ip netns exec` and `setpriv` exec into it). The log is `agent-<pid>.log` in the lab's
    /// directory.
    pub fn start_agent(
        &mut self,
        ns: &str,
        prefix: &[&str],
        bin: &str,
        listen: &str,
        extra: &[&str],
    ) -> u32 {
        let n = self.children.len();
        let config = self.dir.join(format!("agent-{n}.yaml"));
        std::fs::write(
            &config,
            "agent:\n  address: 127.0.0.1\nsubnets:\n  - id: lo\n    cidr: 127.0.0.0/8\n\
             backend_groups:\n  - name: local\n    protocol: tcp\n    port: 9\n    health_check:\n      \
             protocol: tcp\n      interval_s: 1\n      timeout_s: 1\n    members:\n      - address: 127.0.0.1\n",
        )
        .expect("write the agent's configuration");
        // Readable by an agent that runs as another user.
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod the configuration");
        let log = self.dir.join(format!("agent-{n}.log"));
        let config = path_str(&config).to_string();
        let mut args: Vec<&str> = prefix.to_vec();
        args.extend([bin, "agent", "--config", &config, "--listen", listen]);
        args.extend_from_slice(extra);
        let pid = self.spawn(ns, &args, &log);
        self.wait_listening(ns, listen);
        pid
    }

    /// Starts the real `probe` binary inside `ns` without waiting for it.
    pub fn spawn_probe(&self, ns: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", ns, probe_bin()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the probe binary")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for mut child in self.children.drain(..) {
            if self.graceful.contains(&child.id()) {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // nginx's start-up errors, for a test that failed later than the wait for its port.
        if std::thread::panicking() {
            for log in self.logs.iter().filter(|l| l.ends_with("stderr.log")) {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                if !text.trim().is_empty() {
                    eprintln!("lab child stderr ({}): {text}", log.display());
                }
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A sweep lab of [`Lab::sweep`].
pub struct Sweep {
    pub lab: Lab,
    /// The namespace to probe from.
    pub client: String,
    /// The namespace that owns the targets, with their nftables rules.
    pub server: String,
    /// A targets file naming every address, one per line.
    pub targets: PathBuf,
    /// The state each target must be classified as.
    pub expected: HashMap<String, &'static str>,
}

/// The 65,534-address lab of [`Lab::sweep_65534`].
pub struct BigSweep {
    pub lab: Lab,
    /// The namespace to probe from.
    pub client: String,
    /// The namespace of the listener, nginx and the nftables rules.
    pub server: String,
    /// Every address with the state a TCP probe of port 80 and an ICMP echo must report.
    pub hosts: Vec<(std::net::Ipv4Addr, &'static str, &'static str)>,
}

/// An agent started by [`Lab::agent_on`].
pub struct AgentRun {
    pub pid: u32,
    /// Its configuration file.
    pub config: String,
    /// Its standard output and error.
    pub log: PathBuf,
}

/// The output of one run of the probe binary.
pub struct ProbeRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for ProbeRun {
    fn from(out: Output) -> Self {
        ProbeRun {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl ProbeRun {
    /// The JSON array printed by `--output json`.
    pub fn json(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "probe did not print a JSON array ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }

    /// The observation whose `target` is `target`.
    pub fn row(&self, target: &str) -> serde_json::Value {
        self.json()
            .into_iter()
            .find(|o| o["target"] == target)
            .unwrap_or_else(|| panic!("no result for {target} in:\n{}", self.stdout))
    }
}

/// Runs `f` on a thread inside network namespace `ns` and returns what it returns: sockets it
/// opens live in that namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open the namespace file");
        setns(file, CloneFlags::CLONE_NEWNET).expect("enter the namespace");
        f()
    })
    .join()
    .expect("the namespace thread panicked")
}

/// An agent configuration for a sweep lab's client (10.77.0.1): one TCP backend group on port 80
/// whose members are `members`, probed every `interval_s` seconds with a 1 s timeout, and a
/// security group that lets the agent in.
pub fn fleet_config(members: impl Iterator<Item = std::net::Ipv4Addr>, interval_s: u32) -> String {
    fleet_config_with(members, interval_s, None)
}

/// [`fleet_config`] with the health check on `health_port` (two checks per member: the
/// traffic port and the health-check port) when given.
pub fn fleet_config_with(
    members: impl Iterator<Item = std::net::Ipv4Addr>,
    interval_s: u32,
    health_port: Option<u16>,
) -> String {
    let mut list = String::new();
    for (i, ip) in members.enumerate() {
        list.push_str(&format!(
            "      - {{name: m{i}, address: {ip}, security_groups: [sg-fleet]}}\n"
        ));
    }
    format!(
        "agent: {{address: 10.77.0.1, subnet: lb}}
subnets:
  - {{id: lb, cidr: 10.77.0.0/24}}
  - {{id: fleet, cidr: 10.200.0.0/16}}
load_balancers:
  - {{name: lb, provider: generic, kind: generic, subnets: [lb]}}
backend_groups:
  - name: fleet
    protocol: tcp
    port: 80
    health_check: {{protocol: tcp,{port} interval_s: {interval_s}, timeout_s: 1}}
    members:
{list}security_groups:
  - id: sg-fleet
    rules:
      - {{direction: ingress, protocol: tcp, ports: \"80{more}\", cidr: 10.77.0.0/24}}
      - {{direction: egress, protocol: any}}
",
        port = health_port
            .map(|p| format!(" port: {p},"))
            .unwrap_or_default(),
        more = health_port.map(|p| format!(",{p}")).unwrap_or_default(),
    )
}

/// Sends `head` (a whole HTTP/1.0 request) to `addr` and returns everything the server sends
/// back until it closes, or `None` if the exchange failed.
pub fn http_request(addr: &str, head: &str) -> Option<String> {
    String::from_utf8(http_request_bytes(addr, head)?).ok()
}

/// As [`http_request`], the answer's bytes as they came (a compressed body is not text).
pub fn http_request_bytes(addr: &str, head: &str) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(head.as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    Some(answer)
}

/// The sum of every series of `name` in a Prometheus text page.
pub fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A `kB` field of /proc/<pid>/status (`VmRSS:`, `VmHWM:`), 0 when the process is gone.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// curl inside `ns` with `args`: (HTTP status, body); status 0 when the request failed.
pub fn curl_in(ns: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-m",
            "10",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// One instant query against the Prometheus at `addr`, asked from inside `ns`: the result
/// vector, empty when the query fails (callers poll until what they wait for is there).
pub fn prometheus_query(ns: &str, addr: &str, promql: &str) -> Vec<serde_json::Value> {
    let (code, body) = curl_in(
        ns,
        &[
            "-G",
            "--data-urlencode",
            &format!("query={promql}"),
            &format!("http://{addr}/api/v1/query"),
        ],
    );
    if code != 200 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Path of the `probe` binary under test.
pub fn probe_bin() -> &'static str {
    env!("CARGO_BIN_EXE_probe")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("lab paths are UTF-8")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}
