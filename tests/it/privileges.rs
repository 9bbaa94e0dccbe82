//! Least privilege, from the real binary run by `setpriv` as user `nobody` (65534):
//! ICMP works with CAP_NET_RAW alone (raw socket) or with `ping_group_range` alone (datagram
//! socket, errors from the error queue); with neither it stops with exit 2 and says what to grant;
//! `probe agent` started as root, or as `nobody` with many capabilities, keeps CAP_NET_RAW and
//! nothing else once its port is bound, in every set of every thread.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use crate::lab::{Lab, ProbeRun, curl_in, probe_bin};

/// Drop ICMP echo to .3, reject it (admin-prohibited) for .4; .2 answers.
const RULES: &str = "
table ip lab {
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr 10.77.0.3 icmp type echo-request drop
    ip daddr 10.77.0.4 icmp type echo-request reject with icmp type admin-prohibited
  }
}
";

/// CAP_NET_RAW in the capability sets of /proc/…/status, as a mask.
const NET_RAW: u64 = 1 << 13;

/// The binary, copied where user `nobody` may execute it (the build directory may not be).
fn nobody_binary(lab: &Lab) -> PathBuf {
    let path = lab.dir.join("probe");
    std::fs::copy(probe_bin(), &path).expect("copy the probe binary");
    for (p, mode) in [(&lab.dir, 0o755), (&path, 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    path
}

/// `setpriv` arguments that make the process user and group 65534 with no supplementary groups,
/// holding CAP_NET_RAW (ambient, so it survives the exec) or nothing at all.
fn as_nobody(net_raw: bool) -> Vec<&'static str> {
    let mut args = vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    if net_raw {
        args.extend([
            "--inh-caps=-all,+net_raw",
            "--ambient-caps=-all,+net_raw",
            "--bounding-set=-all,+net_raw",
        ]);
    } else {
        args.extend(["--inh-caps=-all", "--bounding-set=-all"]);
    }
    args
}

/// Runs the copied binary in `ns` as `nobody`.
fn probe_as_nobody(ns: &str, bin: &PathBuf, net_raw: bool, args: &[&str]) -> ProbeRun {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(as_nobody(net_raw))
        .arg(bin)
        .args(["--output", "json"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run setpriv (util-linux)");
    ProbeRun::from(out)
}

/// A client and a server namespace; the client's ping sockets allowed for `ping_range`.
fn icmp_lab(test: &str, ping_range: &str) -> (Lab, String, PathBuf) {
    let (lab, client, server) = Lab::pair(test);
    lab.add_address(&server, "10.77.0.3/24", "v1");
    lab.add_address(&server, "10.77.0.4/24", "v1");
    lab.nft(&server, RULES);
    lab.sysctl(&client, "net.ipv4.ping_group_range", ping_range);
    let bin = nobody_binary(&lab);
    (lab, client, bin)
}

const THREE: &[&str] = &[
    "--protocol",
    "icmp",
    "--timeout",
    "1s",
    "-t",
    "10.77.0.2",
    "-t",
    "10.77.0.3",
    "-t",
    "10.77.0.4",
];

/// Replied, dropped and rejected, as the taxonomy says, whatever socket the run got.
fn assert_three(run: &ProbeRun) {
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.row("10.77.0.2")["state"], "open", "{}", run.stdout);
    assert_eq!(run.row("10.77.0.3")["state"], "filtered", "{}", run.stdout);
    let rejected = run.row("10.77.0.4");
    assert_eq!(rejected["state"], "rejected", "{rejected:#}");
    assert_eq!(rejected["reason"], "admin-prohibited", "{rejected:#}");
    assert_eq!(rejected["icmp"]["type"], 3, "{rejected:#}");
    assert_eq!(rejected["icmp"]["code"], 13, "{rejected:#}");
}

#[test]
fn icmp_works_as_nobody_with_only_cap_net_raw() {
    // Ping sockets are off in this namespace ("1 0" admits no group): only a raw socket can work.
    let (_lab, client, bin) = icmp_lab("priv-raw", "1 0");
    let run = probe_as_nobody(&client, &bin, true, THREE);
    assert_three(&run);
}

#[test]
fn icmp_works_as_nobody_through_ping_group_range() {
    // No capability at all; the namespace's ping_group_range admits every group.
    let (_lab, client, bin) = icmp_lab("priv-dgram", "0 2147483647");
    let run = probe_as_nobody(&client, &bin, false, THREE);
    assert_three(&run);
}

#[test]
fn without_cap_net_raw_icmp_stops_and_names_what_to_grant() {
    let (_lab, client, bin) = icmp_lab("priv-none", "1 0");
    let run = probe_as_nobody(&client, &bin, false, THREE);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    for needle in [
        "cannot open an ICMPv4 socket",
        "CAP_NET_RAW",
        "setcap cap_net_raw+ep",
        "net.ipv4.ping_group_range",
    ] {
        assert!(run.stderr.contains(needle), "{needle:?} in {}", run.stderr);
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.trim().is_empty(), "no rows: {}", run.stdout);
    // TCP and UDP probes need no privilege at all.
    let run = probe_as_nobody(
        &client,
        &bin,
        false,
        &[
            "--timeout",
            "1s",
            "-t",
            "10.77.0.2:9",
            "-t",
            "udp://10.77.0.2:9",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.row("10.77.0.2:9")["state"], "closed", "{}", run.stdout);
    assert_eq!(
        run.row("udp://10.77.0.2:9")["state"],
        "closed",
        "{}",
        run.stdout
    );
}

/// One capability set of every thread of `pid`, from /proc/<pid>/task/*/status.
fn thread_caps(pid: u32, field: &str) -> Vec<u64> {
    let mut all = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("task list");
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("{field} in {status}"));
        let hex = line.split_whitespace().nth(1).expect("a value");
        all.push(u64::from_str_radix(hex, 16).expect("hex"));
    }
    all
}

/// An ICMP echo through the agent's /probe answers: CAP_NET_RAW (or a ping socket) still works.
fn assert_icmp_probe_works(ns: &str, listen: &str) {
    let (code, body) = curl_in(
        ns,
        &[&format!(
            "http://{listen}/probe?module=icmp&target=127.0.0.1"
        )],
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        body.lines().any(|l| l == "probe_success 1"),
        "ICMP through /probe after the drop: {body}"
    );
}

/// Every capability set of every thread of the agent `pid` holds CAP_NET_RAW and nothing else
/// (the bounding set included), and `no_new_privs` is set: what `keep_only_net_raw` promises.
fn assert_only_net_raw_left(pid: u32) {
    for (field, want) in [
        ("CapEff:", NET_RAW),
        ("CapPrm:", NET_RAW),
        ("CapBnd:", NET_RAW),
        ("CapInh:", 0),
        ("CapAmb:", 0),
        ("NoNewPrivs:", 1),
    ] {
        let got = thread_caps(pid, field);
        assert!(got.len() > 1, "several threads: {got:?}");
        assert!(
            got.iter().all(|g| *g == want),
            "{field} of every thread is {want:#x}: {got:x?}"
        );
    }
}

#[test]
fn the_agent_started_as_root_keeps_only_cap_net_raw_after_binding_port_80() {
    let mut lab = Lab::new("priv-agent");
    let ns = lab.namespace("a");
    // Port 80 needs CAP_NET_BIND_SERVICE to bind; the agent gives it up right after.
    let listen = "127.0.0.1:80";
    let pid = lab.start_agent(
        &ns,
        &[],
        probe_bin(),
        listen,
        &["--probe-allow", "127.0.0.1"],
    );
    // An answer first: the port accepts connections as soon as it is bound, before the agent
    // drops its capabilities and starts the runtime's threads; an answer comes after both.
    assert_icmp_probe_works(&ns, listen);
    assert_only_net_raw_left(pid);
}

/// Capabilities that user `nobody` is started with beyond CAP_NET_RAW, CAP_SETPCAP among them (so
/// the agent may, and must, narrow its bounding set too).
const BROAD: &str = "net_raw,net_admin,net_bind_service,sys_admin,sys_ptrace,dac_override,\
                     dac_read_search,chown,fowner,kill,setuid,setgid,setpcap";

/// `setpriv` arguments that make the process user and group 65534 holding every capability of
/// [`BROAD`] (inheritable and ambient, so they survive the exec into the agent; the bounding set
/// is left full).
fn as_nobody_with_broad_caps() -> Vec<String> {
    let set = BROAD
        .split(',')
        .map(|c| format!("+{}", c.trim()))
        .collect::<Vec<_>>()
        .join(",");
    vec![
        "setpriv".to_string(),
        "--reuid=65534".to_string(),
        "--regid=65534".to_string(),
        "--clear-groups".to_string(),
        format!("--inh-caps=-all,{set}"),
        format!("--ambient-caps=-all,{set}"),
    ]
}

#[test]
fn the_agent_started_as_nobody_with_many_capabilities_keeps_only_cap_net_raw() {
    let mut lab = Lab::new("priv-agent-nobody");
    let ns = lab.namespace("a");
    lab.sysctl(&ns, "net.ipv4.ping_group_range", "1 0");
    let bin = nobody_binary(&lab);
    let listen = "127.0.0.1:9465";
    let prefix = as_nobody_with_broad_caps();
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    // The same prefix really starts a process with far more than CAP_NET_RAW, in every set but
    // the bounding set's full one: what the agent holds afterwards is its own doing.
    let before = Command::new("ip")
        .args(["netns", "exec", &ns])
        .args(&prefix)
        .args(["cat", "/proc/self/status"])
        .output()
        .expect("run setpriv (util-linux)");
    let before = String::from_utf8_lossy(&before.stdout).into_owned();
    let cap = |field: &str| {
        before
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or_else(|| panic!("{field} in {before}"))
    };
    for field in ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:"] {
        assert_eq!(
            cap(field).count_ones(),
            BROAD.split(',').count() as u32,
            "{field} before the agent: {before}"
        );
    }
    assert!(cap("CapBnd:").count_ones() > 30, "{before}");
    let pid = lab.start_agent(
        &ns,
        &prefix,
        bin.to_str().expect("utf-8"),
        listen,
        &["--probe-allow", "127.0.0.1"],
    );
    // An answer first: the port accepts connections as soon as it is bound, before the agent
    // drops its capabilities and starts the runtime's threads; an answer comes after both.
    assert_icmp_probe_works(&ns, listen);
    assert_only_net_raw_left(pid);
}
