//! Every row of the outcome taxonomy, for every protocol, from the real binary's JSON.

use serde_json::Value;

use crate::lab::Lab;

/// Server-side rules shared by the taxonomy tests: one port or address per behaviour.
const RULES: &str = "
table ip lab {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 82 drop
    tcp dport 83 reject with icmp type admin-prohibited
    tcp dport 84 reject with tcp reset
    tcp dport 85 reject with icmp type host-unreachable
    udp dport 5302 drop
    udp dport 5303 reject with icmp type admin-prohibited
    ip daddr 10.77.0.3 icmp type echo-request drop
    ip daddr 10.77.0.4 icmp type echo-request reject with icmp type admin-prohibited
    tcp dport 8082 drop
  }
}
";

/// Asserts state, reason and (when given) the ICMP type/code of one row.
fn assert_row(row: &Value, state: &str, reason: &str, icmp: Option<(u64, u64)>) {
    let target = &row["target"];
    assert_eq!(row["state"], state, "state of {target}: {row:#}");
    assert_eq!(row["reason"], reason, "reason of {target}: {row:#}");
    match icmp {
        Some((t, c)) => {
            assert_eq!(row["icmp"]["type"], t, "icmp type of {target}: {row:#}");
            assert_eq!(row["icmp"]["code"], c, "icmp code of {target}: {row:#}");
            assert!(
                row["icmp"]["from"].is_string(),
                "icmp sender of {target}: {row:#}"
            );
        }
        None => assert!(
            row["icmp"].is_null(),
            "no icmp expected for {target}: {row:#}"
        ),
    }
}

#[test]
fn tcp_tells_open_closed_dropped_rejected_and_unreachable_apart() {
    let (mut lab, client, server) = Lab::pair("tcp");
    lab.nft(&server, RULES);
    lab.tcp_listener(&server, "10.77.0.2:80");
    let ports = ["80", "81", "82", "83", "84", "85"];
    let mut args = vec!["--timeout", "1s"];
    let targets: Vec<String> = ports.iter().map(|p| format!("10.77.0.2:{p}")).collect();
    for t in &targets {
        args.extend(["--target", t.as_str()]);
    }
    let run = lab.probe_json(&client, &args);
    assert_eq!(run.code, Some(1), "not all open: exit 1\n{}", run.stderr);

    let open = run.row("10.77.0.2:80");
    assert_row(&open, "open", "syn-ack", None);
    assert_eq!(open["success"], true);
    assert!(
        open["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "connect latency: {open:#}"
    );
    assert_row(&run.row("10.77.0.2:81"), "closed", "reset", None);
    let dropped = run.row("10.77.0.2:82");
    assert_row(&dropped, "filtered", "no-response", None);
    assert!(dropped["rtt_ms"].is_null());
    let rejected = run.row("10.77.0.2:83");
    assert_row(&rejected, "rejected", "admin-prohibited", Some((3, 13)));
    assert_eq!(
        rejected["icmp"]["from"], "10.77.0.2",
        "the sender of the reject"
    );
    assert_row(&run.row("10.77.0.2:84"), "closed", "reset", None);
    assert_row(
        &run.row("10.77.0.2:85"),
        "unreachable",
        "host-unreach",
        Some((3, 1)),
    );
}

#[test]
fn udp_tells_answered_port_unreachable_dropped_and_rejected_apart() {
    let (mut lab, client, server) = Lab::pair("udp");
    lab.nft(&server, RULES);
    lab.udp_responder(&server, "10.77.0.2:5300", b"pong:");
    let run = lab.probe_json(
        &client,
        &[
            "--protocol",
            "udp",
            "--payload",
            "ping",
            "--timeout",
            "1s",
            "-t",
            "10.77.0.2:5300",
            "-t",
            "10.77.0.2:5301",
            "-t",
            "10.77.0.2:5302",
            "-t",
            "10.77.0.2:5303",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let answered = run.row("10.77.0.2:5300");
    assert_row(&answered, "open", "udp-response", None);
    assert_eq!(
        answered["udp"]["response_bytes"],
        "pong:ping".len(),
        "{answered:#}"
    );
    let closed = run.row("10.77.0.2:5301");
    assert_row(&closed, "closed", "port-unreach", Some((3, 3)));
    assert_eq!(
        closed["icmp"]["from"], "10.77.0.2",
        "port-unreach from the target itself"
    );
    assert_row(
        &run.row("10.77.0.2:5302"),
        "open|filtered",
        "no-response",
        None,
    );
    assert_row(
        &run.row("10.77.0.2:5303"),
        "rejected",
        "admin-prohibited",
        Some((3, 13)),
    );
}

#[test]
fn udp_expected_response_decides_success() {
    let (mut lab, client, server) = Lab::pair("udpexpect");
    lab.udp_responder(&server, "10.77.0.2:5300", b"pong:");
    let matched = lab.probe_json(
        &client,
        &[
            "-t",
            "udp://10.77.0.2:5300",
            "--payload-hex",
            "70696e67",
            "--expect-response",
            "pong:ping",
        ],
    );
    assert_eq!(matched.code, Some(0), "{}", matched.stdout);
    assert_eq!(matched.row("udp://10.77.0.2:5300")["udp"]["matched"], true);
    let mismatched = lab.probe_json(
        &client,
        &["-t", "udp://10.77.0.2:5300", "--expect-response", "HELLO"],
    );
    assert_eq!(mismatched.code, Some(1));
    let row = mismatched.row("udp://10.77.0.2:5300");
    assert_row(&row, "open", "udp-response", None);
    assert_eq!(
        (row["udp"]["matched"].clone(), row["success"].clone()),
        (false.into(), false.into())
    );
}

#[test]
fn icmp_tells_replied_dropped_and_rejected_apart() {
    let (lab, client, server) = Lab::pair("icmp");
    lab.add_address(&server, "10.77.0.3/24", "v1");
    lab.add_address(&server, "10.77.0.4/24", "v1");
    lab.nft(&server, RULES);
    let run = lab.probe_json(
        &client,
        &[
            "--protocol",
            "icmp",
            "--count",
            "3",
            "--timeout",
            "1s",
            "-t",
            "10.77.0.2",
            "-t",
            "10.77.0.3",
            "-t",
            "10.77.0.4",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let replied = run.row("10.77.0.2");
    assert_row(&replied, "open", "echo-reply", None);
    assert_eq!(replied["ping"]["sent"], 3, "{replied:#}");
    assert_eq!(replied["ping"]["received"], 3, "{replied:#}");
    assert_eq!(replied["ping"]["loss"], 0.0);
    assert!(replied["ping"]["min_ms"].as_f64() <= replied["ping"]["max_ms"].as_f64());
    assert!(replied["port"].is_null(), "ICMP has no port");
    let dropped = run.row("10.77.0.3");
    assert_row(&dropped, "filtered", "no-response", None);
    assert_eq!(dropped["ping"]["loss"], 1.0);
    let rejected = run.row("10.77.0.4");
    assert_row(&rejected, "rejected", "admin-prohibited", Some((3, 13)));
    assert_eq!(
        rejected["ping"]["received"], 0,
        "a reject is not a reply: {rejected:#}"
    );
}

/// nginx serving the HTTP rows: 200, 302 and a response slower than the probe's timeout.
fn nginx_lab(test: &str, cert_days: u32) -> (Lab, String, std::path::PathBuf) {
    let (mut lab, client, server) = Lab::pair(test);
    lab.nft(&server, RULES);
    let (cert, key) = lab.self_signed_cert(cert_days);
    let blocks = format!(
        "server {{
    listen 10.77.0.2:80;
    listen 10.77.0.2:443 ssl;
    ssl_certificate {};
    ssl_certificate_key {};
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /health {{ return 200 \"ok\\n\"; }}
    location = /moved {{ return 302 /health; }}
    location = /slow {{ echo_sleep 3; echo \"late\"; }}
    location / {{ return 404; }}
  }}",
        cert.display(),
        key.display()
    );
    lab.nginx(&server, &blocks, &["10.77.0.2:80", "10.77.0.2:443"]);
    (lab, client, cert)
}

#[test]
fn http_matches_status_reports_redirects_and_times_out_in_the_phase_reached() {
    let (lab, client, _cert) = nginx_lab("http", 30);
    let run = lab.probe_json(
        &client,
        &[
            "--timeout",
            "1s",
            "--expect-status",
            "200",
            "-t",
            "http://10.77.0.2/health",
            "-t",
            "http://10.77.0.2/moved",
            "-t",
            "http://10.77.0.2/slow",
            "-t",
            "http://10.77.0.2:8082/health",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);

    let ok = run.row("http://10.77.0.2/health");
    assert_row(&ok, "open", "http-response", None);
    assert_eq!(
        (ok["http"]["status"].clone(), ok["http"]["matched"].clone()),
        (200.into(), true.into())
    );
    assert_eq!(ok["success"], true);
    for phase in ["resolve", "connect", "processing", "transfer"] {
        assert!(
            ok["http"]["phases"][phase].as_f64().is_some(),
            "phase {phase}: {ok:#}"
        );
    }
    assert!(
        ok["http"]["phases"]["tls"].is_null(),
        "no TLS phase for http"
    );

    let moved = run.row("http://10.77.0.2/moved");
    assert_row(&moved, "open", "http-response", None);
    assert_eq!(
        moved["http"]["status"], 302,
        "redirects are not followed: {moved:#}"
    );
    assert_eq!(moved["http"]["matched"], false);
    assert_eq!(moved["http"]["location"], "http://10.77.0.2/health");
    assert_eq!(moved["success"], false);

    let slow = run.row("http://10.77.0.2/slow");
    assert_row(&slow, "open", "timeout", None);
    assert_eq!(
        slow["phase"], "processing",
        "timed out waiting for the response: {slow:#}"
    );
    assert!(slow["http"]["status"].is_null());

    let dropped = run.row("http://10.77.0.2:8082/health");
    assert_row(&dropped, "filtered", "no-response", None);
    assert_eq!(dropped["phase"], "connect");
}

#[test]
fn https_reports_a_handshake_failure_and_the_certificate_expiry() {
    let (lab, client, cert) = nginx_lab("https", 30);
    // Not trusted: the handshake fails, and the certificate's expiry is still reported.
    let untrusted = lab.probe_json(&client, &["-t", "https://10.77.0.2/health"]);
    assert_eq!(untrusted.code, Some(1));
    let row = untrusted.row("https://10.77.0.2/health");
    assert_row(&row, "open", "tls-error", None);
    assert_eq!(row["phase"], "tls");
    let error = row["tls"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("UnknownIssuer"),
        "tls error names the cause: {row:#}"
    );
    let expires = row["tls"]["expires_in_s"].as_i64().unwrap_or_default();
    assert!(
        (29 * 86_400..=30 * 86_400 + 60).contains(&expires),
        "30-day certificate: {row:#}"
    );
    assert!(
        row["tls"]["not_after"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{row:#}"
    );

    // Trusted through --ca-file with the certificate's name: verified, TLS 1.3.
    let trusted = lab.probe_json(
        &client,
        &[
            "-t",
            "https://10.77.0.2/health",
            "--ca-file",
            cert.to_str().unwrap_or_default(),
            "--host",
            "lab.test",
        ],
    );
    assert_eq!(trusted.code, Some(0), "{}", trusted.stdout);
    let row = trusted.row("https://10.77.0.2/health");
    assert_row(&row, "open", "http-response", None);
    assert_eq!(row["tls"]["version"], "TLS 1.3");
    assert!(row["tls"]["error"].is_null());
    assert!(row["http"]["phases"]["tls"].as_f64().is_some());

    // --insecure accepts it without a CA and still reports the expiry.
    let insecure = lab.probe_json(&client, &["-t", "https://10.77.0.2/health", "--insecure"]);
    assert_eq!(insecure.code, Some(0));
    assert!(
        insecure.row("https://10.77.0.2/health")["tls"]["expires_in_s"]
            .as_i64()
            .is_some()
    );

    // HTTPS to a plain-HTTP port: the handshake fails.
    let plain = lab.probe_json(
        &client,
        &["-t", "https://10.77.0.2:80/health", "--insecure"],
    );
    assert_row(
        &plain.row("https://10.77.0.2:80/health"),
        "open",
        "tls-error",
        None,
    );
}

#[test]
fn the_table_shows_one_row_per_target_and_a_summary() {
    let (mut lab, client, server) = Lab::pair("table");
    lab.nft(&server, RULES);
    lab.tcp_listener(&server, "10.77.0.2:80");
    let run = lab.probe(&client, &["-t", "10.77.0.2:80", "-t", "10.77.0.2:83"]);
    assert_eq!(run.code, Some(1));
    let lines: Vec<&str> = run.stdout.lines().collect();
    let open = lines
        .iter()
        .find(|l| l.contains("10.77.0.2:80"))
        .expect("row for :80");
    assert!(open.contains("open") && open.contains("syn-ack"), "{open}");
    let rejected = lines
        .iter()
        .find(|l| l.contains("10.77.0.2:83"))
        .expect("row for :83");
    assert!(
        rejected.contains("rejected") && rejected.contains("icmp 3/13 from 10.77.0.2"),
        "{rejected}"
    );
    let summary = lines.last().expect("summary line");
    assert!(
        summary.starts_with("2 probes in") && summary.contains("1 open, 1 rejected"),
        "{summary}"
    );
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn ipv6_targets_get_the_same_taxonomy_with_icmpv6_errors() {
    let mut lab = Lab::new("ipv6");
    let client = lab.namespace("c");
    let server = lab.namespace("s");
    lab.link(&client, "fd77::1/64", &server, "fd77::2/64");
    lab.add_address(&server, "fd77::3/64", "v1");
    lab.nft(
        &server,
        "table ip6 lab {
           chain input {
             type filter hook input priority 0; policy accept;
             tcp dport 83 reject with icmpv6 type admin-prohibited
             udp dport 5303 reject with icmpv6 type admin-prohibited
             ip6 daddr fd77::3 icmpv6 type echo-request reject with icmpv6 type admin-prohibited
           }
         }",
    );
    lab.tcp_listener(&server, "[fd77::2]:80");
    let run = lab.probe_json(
        &client,
        &[
            "--timeout",
            "1s",
            "-t",
            "[fd77::2]:80",
            "-t",
            "[fd77::2]:81",
            "-t",
            "[fd77::2]:83",
            "-t",
            "udp://[fd77::2]:5301",
            "-t",
            "udp://[fd77::2]:5303",
            "-t",
            "icmp://fd77::2",
            "-t",
            "icmp://fd77::3",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_row(&run.row("[fd77::2]:80"), "open", "syn-ack", None);
    assert_row(&run.row("[fd77::2]:81"), "closed", "reset", None);
    assert_row(
        &run.row("[fd77::2]:83"),
        "rejected",
        "admin-prohibited",
        Some((1, 1)),
    );
    let closed = run.row("udp://[fd77::2]:5301");
    assert_row(&closed, "closed", "port-unreach", Some((1, 4)));
    assert_eq!(closed["icmp"]["from"], "fd77::2");
    assert_row(
        &run.row("udp://[fd77::2]:5303"),
        "rejected",
        "admin-prohibited",
        Some((1, 1)),
    );
    assert_row(&run.row("icmp://fd77::2"), "open", "echo-reply", None);
    assert_row(
        &run.row("icmp://fd77::3"),
        "rejected",
        "admin-prohibited",
        Some((1, 1)),
    );
}
