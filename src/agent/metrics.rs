//! The agent's metrics registry: what `/metrics` exposes.
//!
//! Every per-check series carries the same six labels, [`CHECK_LABELS`], so that a panel or an
//! alert can join `probe_success`, `probe_backend_healthy` and `probe_blocking_rule_info` on them.
//! The handles of a check's series are looked up once, when the check is planned, and kept in its
//! [`CheckSeries`]: recording a result is then a few atomic operations, not a label-hash lookup.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `probe_success` | gauge | check | 1 if the last probe passed |
//! | `probe_duration_seconds` | gauge | check | wall time of the last probe (blackbox_exporter's type) |
//! | `probe_group_duration_seconds` | histogram | `backend_group`, `role`, `protocol` | wall time of each probe, per group: bounded by the configuration, not by its size |
//! | `probe_check_duration_seconds` | histogram | check | the same per check, with `--per-check-histograms` only |
//! | `probe_outcome` | gauge | check, `outcome`, `reason` | 1 for the last probe's class and reason |
//! | `probe_http_status_code` | gauge | check | last HTTP status (HTTP checks) |
//! | `probe_ssl_earliest_cert_expiry` | gauge | check | leaf `notAfter`, Unix seconds (HTTPS) |
//! | `probe_backend_healthy` | gauge | check | 1 if the rise/fall state machine says healthy |
//! | `probe_backend_state` | gauge | check, `state` | 1, for the current state only (initial, healthy or unhealthy) |
//! | `probe_backend_transitions_total` | counter | check | state changes |
//! | `probe_findings` | gauge | `code`, `severity` | active findings per code |
//! | `probe_finding_info` | gauge | check, `code`, `severity` | 1 per check whose finding is not OK |
//! | `probe_blocking_rule_info` | gauge | check, `code`, `kind`, `id`, `rule`, `direction` | 1 per blocking rule |
//! | `probe_agent_*` | | | self-metrics: probes, in flight, errors, skipped ticks, reloads, HTTP |

use std::time::Duration;

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::diagnose::{Check, Code, Finding};
use crate::health::HealthState;
use crate::probe::{Observation, Protocol};

/// The labels that identify a check in every per-check series.
pub(crate) const CHECK_LABELS: [&str; 6] = [
    "backend_group",
    "backend",
    "address",
    "port",
    "protocol",
    "role",
];

/// The labels of `probe_group_duration_seconds`: a histogram per group, role and protocol.
const GROUP_LABELS: [&str; 3] = ["backend_group", "role", "protocol"];

/// Probe durations worth telling apart: a LAN round trip, a slow app, a timeout.
const DURATION_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// The label values of a check, in [`CHECK_LABELS`] order.
pub(crate) fn check_labels(check: &Check, protocol: Protocol) -> [String; 6] {
    [
        check.backend_group.clone().unwrap_or_default(),
        check.backend.clone(),
        check.address.to_string(),
        match protocol {
            Protocol::Icmp => String::new(),
            _ => check
                .packet
                .port()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        },
        protocol.as_str().to_string(),
        check.role.as_str().to_string(),
    ]
}

/// Every metric family of the agent.
pub(crate) struct Metrics {
    pub registry: Registry,
    /// `shard="K/N",` on a sharded agent, else empty: the per-check lines are written here, not
    /// by the registry, and carry the registry's constant label too.
    shard_label: String,
    group_duration: HistogramVec,
    check_duration: Option<HistogramVec>,
    findings: IntGaugeVec,
    probes: IntCounterVec,
    pub in_flight: IntGauge,
    probe_errors: IntCounterVec,
    skipped: IntCounterVec,
    pub checks: IntGauge,
    reloads: IntCounterVec,
    last_reload_ok: IntGauge,
    last_reload_time: Gauge,
    http_requests: IntCounterVec,
    panics: IntCounter,
}

impl Metrics {
    /// Builds and registers every family. Fails only if two families share a name, which is a
    /// programming error caught by the tests.
    /// With a shard, every series carries `shard="K/N"`. Per-check duration histograms (14
    /// series a check) only with `per_check_histograms`.
    pub(crate) fn new(
        shard: Option<super::shard::Shard>,
        per_check_histograms: bool,
    ) -> prometheus::Result<Self> {
        let registry = match shard {
            Some(s) => Registry::new_custom(
                None,
                Some(std::iter::once(("shard".to_string(), s.to_string())).collect()),
            )?,
            None => Registry::new(),
        };
        let c = &CHECK_LABELS[..];
        let m = Metrics {
            shard_label: shard.map(|s| format!("shard=\"{s}\",")).unwrap_or_default(),
            group_duration: HistogramVec::new(
                HistogramOpts::new(
                    "probe_group_duration_seconds",
                    "Wall time of each probe, by backend group, role and protocol.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &GROUP_LABELS,
            )?,
            check_duration: per_check_histograms
                .then(|| {
                    HistogramVec::new(
                        HistogramOpts::new(
                            "probe_check_duration_seconds",
                            "Wall time of each probe of the check (--per-check-histograms).",
                        )
                        .buckets(DURATION_BUCKETS.to_vec()),
                        c,
                    )
                })
                .transpose()?,
            findings: IntGaugeVec::new(
                Opts::new("probe_findings", "Active findings, by code and severity."),
                &["code", "severity"],
            )?,
            probes: IntCounterVec::new(
                Opts::new(
                    "probe_agent_probes_total",
                    "Probes run, by protocol and outcome class.",
                ),
                &["protocol", "outcome"],
            )?,
            in_flight: IntGauge::new("probe_agent_probes_in_flight", "Probes running now.")?,
            probe_errors: IntCounterVec::new(
                Opts::new(
                    "probe_agent_probe_errors_total",
                    "Probes that could not run (no socket, no permission).",
                ),
                &["protocol"],
            )?,
            skipped: IntCounterVec::new(
                Opts::new(
                    "probe_agent_ticks_skipped_total",
                    "Scheduled probes not run: the previous one was still running (in_flight), \
                     the concurrency cap was reached (concurrency), or the tick was missed (late).",
                ),
                &["reason"],
            )?,
            checks: IntGauge::new("probe_agent_checks", "Checks the agent schedules.")?,
            reloads: IntCounterVec::new(
                Opts::new(
                    "probe_agent_config_reloads_total",
                    "Configuration reloads, by result.",
                ),
                &["result"],
            )?,
            last_reload_ok: IntGauge::new(
                "probe_agent_config_last_reload_successful",
                "1 if the last configuration reload succeeded.",
            )?,
            last_reload_time: Gauge::new(
                "probe_agent_config_last_reload_success_timestamp_seconds",
                "When the configuration was last loaded successfully, in Unix seconds.",
            )?,
            http_requests: IntCounterVec::new(
                Opts::new(
                    "probe_agent_http_requests_total",
                    "HTTP requests served, by handler and status code.",
                ),
                &["handler", "code"],
            )?,
            panics: IntCounter::new(
                "probe_agent_panics_total",
                "Panics anywhere in the agent: each is a bug, its probe reported as an error.",
            )?,
            registry,
        };
        let build = IntGaugeVec::new(
            Opts::new(
                "probe_agent_build_info",
                "1, labelled with the version and the git revision the agent was built from.",
            ),
            &["version", "revision"],
        )?;
        build
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("PROBE_GIT_REVISION").unwrap_or("unknown"),
            ])
            .set(1);
        let r = &m.registry;
        r.register(Box::new(m.group_duration.clone()))?;
        if let Some(h) = &m.check_duration {
            r.register(Box::new(h.clone()))?;
        }
        r.register(Box::new(m.findings.clone()))?;
        r.register(Box::new(m.probes.clone()))?;
        r.register(Box::new(m.in_flight.clone()))?;
        r.register(Box::new(m.probe_errors.clone()))?;
        r.register(Box::new(m.skipped.clone()))?;
        r.register(Box::new(m.checks.clone()))?;
        r.register(Box::new(m.reloads.clone()))?;
        r.register(Box::new(m.last_reload_ok.clone()))?;
        r.register(Box::new(m.last_reload_time.clone()))?;
        r.register(Box::new(m.http_requests.clone()))?;
        r.register(Box::new(m.panics.clone()))?;
        r.register(Box::new(build))?;
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(m)
    }

    /// The series of one check, created now (the check shows up in `/metrics` at once, in state
    /// `initial`).
    pub(crate) fn series(&self, l: &[String; 6], protocol: Protocol) -> CheckSeries {
        let mut rendered = self.shard_label.clone();
        for (i, (name, value)) in CHECK_LABELS.iter().zip(l).enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(name);
            rendered.push_str("=\"");
            escape_into(&mut rendered, value);
            rendered.push('"');
        }
        CheckSeries {
            rendered,
            success: 0.0,
            duration: 0.0,
            group_duration: self
                .group_duration
                .with_label_values(&[&l[0], &l[5], &l[4]]),
            check_duration: self.check_duration.as_ref().map(|h| h.with_label_values(l)),
            http_status: protocol.is_http().then_some(0.0),
            cert_expiry: None,
            state: HealthState::Initial,
            transitions: 0,
            outcome: None,
            finding: None,
            blocking: None,
        }
    }

    /// Removes what the registry holds of a check that is no longer planned, by its labels (its
    /// other series go with its slot).
    pub(crate) fn forget(&self, labels: &[String; 6]) {
        if let Some(h) = &self.check_duration {
            let _ = h.remove_label_values(labels);
        }
    }

    /// Records one probe of a check: success, duration, outcome, HTTP status, certificate.
    pub(crate) fn record(
        &self,
        s: &mut CheckSeries,
        obs: &Observation,
        took: Duration,
        now_unix: f64,
    ) {
        s.success = if obs.success { 1.0 } else { 0.0 };
        let secs = took.as_secs_f64();
        s.duration = secs;
        s.group_duration.observe(secs);
        if let Some(h) = &s.check_duration {
            h.observe(secs);
        }
        let reason = match &obs.reason {
            crate::probe::Reason::Error(_) => "error".into(),
            r => r.as_str(),
        };
        s.outcome = Some((obs.state.as_str(), reason.into_owned()));
        if s.http_status.is_some() {
            s.http_status = Some(f64::from(
                obs.http.as_ref().and_then(|h| h.status).unwrap_or(0),
            ));
        }
        if let Some(expires_in) = obs.tls.as_ref().and_then(|t| t.expires_in_s) {
            s.cert_expiry = Some((now_unix + expires_in as f64).round());
        }
        self.count_probe(obs.protocol.as_str(), obs.state.as_str());
    }

    /// Counts one probe, scheduled or from `/probe`, by protocol and outcome class.
    pub(crate) fn count_probe(&self, protocol: &str, outcome: &str) {
        self.probes.with_label_values(&[protocol, outcome]).inc();
        if outcome == crate::probe::State::Error.as_str() {
            self.probe_errors.with_label_values(&[protocol]).inc();
        }
    }

    /// Records the threshold state after a result.
    pub(crate) fn record_health(&self, s: &mut CheckSeries, state: HealthState, changed: bool) {
        s.state = state;
        if changed {
            s.transitions += 1;
        }
    }

    /// Records a check's finding: its code (when not OK) and its blocking rule.
    pub(crate) fn record_finding(&self, s: &mut CheckSeries, f: &Finding) {
        s.finding = (f.code != Code::Ok).then(|| (f.code.as_str(), f.severity.as_str()));
        s.blocking = f.blocking.as_ref().map(|b| {
            Box::new([
                f.code.as_str().to_string(),
                b.kind.to_string(),
                b.id.clone(),
                b.rule.clone(),
                b.direction.to_string(),
            ])
        });
    }

    /// Sets `probe_findings` from every active finding.
    pub(crate) fn set_findings<'a>(&self, findings: impl Iterator<Item = &'a Finding>) {
        let mut counts: std::collections::BTreeMap<(&'static str, &'static str), i64> =
            std::collections::BTreeMap::new();
        for f in findings {
            *counts
                .entry((f.code.as_str(), f.severity.as_str()))
                .or_default() += 1;
        }
        self.findings.reset();
        for ((code, severity), n) in counts {
            self.findings.with_label_values(&[code, severity]).set(n);
        }
    }

    pub(crate) fn skipped(&self, reason: &str, n: u64) {
        self.skipped.with_label_values(&[reason]).inc_by(n);
    }

    /// Records a reload attempt; `now_unix` is the time of a success.
    pub(crate) fn reload(&self, ok: bool, now_unix: f64) {
        self.reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
        self.last_reload_ok.set(i64::from(ok));
        if ok {
            self.last_reload_time.set(now_unix.round());
        }
    }

    pub(crate) fn http_request(&self, handler: &str, code: u16) {
        self.http_requests
            .with_label_values(&[handler, &code.to_string()])
            .inc();
    }

    /// The text exposition format of every family: the registry's, then the per-check ones,
    /// written straight from each check's values (10,000 checks are some 70,000 lines: no copy
    /// of every label set per scrape).
    pub(crate) fn encode<'a>(
        &self,
        checks: impl Iterator<Item = &'a CheckSeries> + Clone,
    ) -> String {
        // Panics are counted by the process-wide hook (`crate::panics`), on whatever thread.
        let panics = crate::panics::count();
        if panics > self.panics.get() {
            self.panics.inc_by(panics - self.panics.get());
        }
        let mut out = TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"));
        out.reserve(checks.clone().count() * 800);
        encode_checks(&mut out, checks);
        out
    }
}

/// The per-check families: name, type, help.
const CHECK_FAMILIES: [(&str, &str, &str); 10] = [
    (
        "probe_success",
        "gauge",
        "Whether the last probe of the check passed.",
    ),
    (
        "probe_duration_seconds",
        "gauge",
        "Wall time of the check's last probe.",
    ),
    (
        "probe_outcome",
        "gauge",
        "1 for the outcome class (open, closed, filtered, rejected, unreachable, open|filtered, error) and reason of the last probe.",
    ),
    (
        "probe_http_status_code",
        "gauge",
        "HTTP status code of the last response (0 if none).",
    ),
    (
        "probe_ssl_earliest_cert_expiry",
        "gauge",
        "Expiry of the leaf certificate the backend presented, in Unix seconds.",
    ),
    (
        "probe_backend_healthy",
        "gauge",
        "1 if the health check's rise/fall threshold state machine says healthy.",
    ),
    (
        "probe_backend_state",
        "gauge",
        "1 for the current threshold state: initial, healthy or unhealthy.",
    ),
    (
        "probe_backend_transitions_total",
        "counter",
        "Changes of the threshold state.",
    ),
    (
        "probe_finding_info",
        "gauge",
        "1 for each check whose finding is not OK, with its code.",
    ),
    (
        "probe_blocking_rule_info",
        "gauge",
        "1 for each rule that blocks a check, as the configuration names it.",
    ),
];

/// Writes every per-check family, each family's lines together, skipping a family no check has.
fn encode_checks<'a>(out: &mut String, checks: impl Iterator<Item = &'a CheckSeries> + Clone) {
    use std::fmt::Write as _;
    for (k, (name, kind, help)) in CHECK_FAMILIES.iter().enumerate() {
        let mut header = false;
        for s in checks.clone() {
            let mut extra = String::new();
            let value: f64 = match k {
                0 => s.success,
                1 => s.duration,
                2 => match &s.outcome {
                    Some((state, reason)) => {
                        extra = format!(",outcome=\"{state}\",reason=\"");
                        escape_into(&mut extra, reason);
                        extra.push('"');
                        1.0
                    }
                    None => continue,
                },
                3 => match s.http_status {
                    Some(v) => v,
                    None => continue,
                },
                4 => match s.cert_expiry {
                    Some(v) => v,
                    None => continue,
                },
                5 => f64::from(u8::from(s.state == HealthState::Healthy)),
                6 => {
                    extra = format!(",state=\"{}\"", s.state.as_str());
                    1.0
                }
                7 => s.transitions as f64,
                8 => match s.finding {
                    Some((code, severity)) => {
                        extra = format!(",code=\"{code}\",severity=\"{severity}\"");
                        1.0
                    }
                    None => continue,
                },
                _ => match &s.blocking {
                    Some(b) => {
                        for (label, v) in ["code", "kind", "id", "rule", "direction"]
                            .iter()
                            .zip(b.iter())
                        {
                            extra.push(',');
                            extra.push_str(label);
                            extra.push_str("=\"");
                            escape_into(&mut extra, v);
                            extra.push('"');
                        }
                        1.0
                    }
                    None => continue,
                },
            };
            if !header {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                header = true;
            }
            let _ = writeln!(out, "{name}{{{}{extra}}} {value}", s.rendered);
        }
    }
}

/// A label value as the text format writes it: backslash, double quote and newline escaped.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl CheckSeries {
    /// What identifies the check's series: its labels, rendered.
    pub(crate) fn identity(&self) -> &str {
        &self.rendered
    }
}

/// The values of one check's series, written by [`Metrics::encode`].
pub(crate) struct CheckSeries {
    /// The check's labels as the text format writes them (with the shard, if any), once: also
    /// what tells one check's series from another's (the label values themselves are not
    /// kept; [`check_labels`] makes them again from the check where they are needed).
    rendered: String,
    success: f64,
    duration: f64,
    /// Shared with every check of the same backend group, role and protocol.
    group_duration: Histogram,
    check_duration: Option<Histogram>,
    /// HTTP checks only.
    http_status: Option<f64>,
    cert_expiry: Option<f64>,
    state: HealthState,
    transitions: u64,
    /// Class and reason of the last probe.
    outcome: Option<(&'static str, String)>,
    /// Code and severity of a finding that is not OK.
    finding: Option<(&'static str, &'static str)>,
    /// Code, kind, id, rule and direction of the blocking rule.
    blocking: Option<Box<[String; 5]>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_registers_under_its_own_name() {
        let m = Metrics::new(None, true).expect("distinct names");
        let text = m.encode(std::iter::empty());
        assert!(text.contains("probe_agent_build_info{"), "{text}");
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }

    fn labels() -> [String; 6] {
        ["web", "web-1", "10.0.1.25", "80", "tcp", "traffic"].map(String::from)
    }

    fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .collect()
    }

    #[test]
    fn a_new_outcome_replaces_the_old_series() {
        let m = Metrics::new(None, false).expect("metrics");
        let mut s = m.series(&labels(), Protocol::Tcp);
        let target = crate::probe::Target {
            label: "10.0.1.25:80".into(),
            host: crate::probe::target::Host::Ip("10.0.1.25".parse().expect("ip")),
            port: Some(80),
            protocol: Protocol::Tcp,
            path: "/".into(),
        };
        let mut obs = Observation::error(&target, None, "no socket");
        m.record(&mut s, &obs, Duration::from_millis(3), 0.0);
        obs.state = crate::probe::State::Filtered;
        obs.reason = crate::probe::Reason::NoResponse;
        m.record(&mut s, &obs, Duration::from_secs(1), 0.0);
        let text = m.encode(std::iter::once(&s));
        let outcome = lines(&text, "probe_outcome");
        assert_eq!(outcome.len(), 1, "{outcome:?}");
        assert!(
            outcome[0].contains("outcome=\"filtered\"")
                && outcome[0].contains("reason=\"no-response\""),
            "{outcome:?}"
        );
        assert!(text.contains("probe_agent_probe_errors_total{protocol=\"tcp\"} 1"));
        assert!(text.contains("probe_agent_probes_total{outcome=\"filtered\",protocol=\"tcp\"} 1"));
        // Free-text error reasons never become label values.
        assert!(!text.contains("\"no socket\""));
        m.record_health(&mut s, HealthState::Unhealthy, true);
        let text = m.encode(std::iter::once(&s));
        let state = lines(&text, "probe_backend_state");
        assert_eq!(state.len(), 1, "only the current state: {state:?}");
        assert!(state[0].contains("state=\"unhealthy\"") && state[0].ends_with(" 1"));
        assert!(lines(&text, "probe_backend_healthy")[0].ends_with(" 0"));
        // A check that is no longer planned is gone with its slot.
        m.forget(&labels());
        drop(s);
        let text = m.encode(std::iter::empty());
        for name in [
            "probe_success",
            "probe_outcome",
            "probe_backend_state",
            "probe_duration_seconds",
        ] {
            assert!(
                lines(&text, name).is_empty(),
                "{name} left after forget: {text}"
            );
        }
    }

    /// The series of one check, by default and with --per-check-histograms.
    fn per_check_series(per_check_histograms: bool) -> (usize, String) {
        let m = Metrics::new(None, per_check_histograms).expect("metrics");
        let mut s = m.series(&labels(), Protocol::Https);
        let target = crate::probe::Target {
            label: "10.0.1.25:443".into(),
            host: crate::probe::target::Host::Ip("10.0.1.25".parse().expect("ip")),
            port: Some(443),
            protocol: Protocol::Https,
            path: "/".into(),
        };
        let mut obs = Observation::error(&target, None, "no socket");
        obs.state = crate::probe::State::Open;
        obs.tls = Some(crate::probe::TlsInfo {
            expires_in_s: Some(86_400),
            ..Default::default()
        });
        m.record(&mut s, &obs, Duration::from_millis(3), 1_700_000_000.0);
        m.record_health(&mut s, HealthState::Healthy, true);
        let text = m.encode(std::iter::once(&s));
        let n = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("address=\"10.0.1.25\""))
            .count();
        (n, text)
    }

    #[test]
    fn a_check_has_at_most_ten_series_unless_histograms_are_asked_for() {
        // success, duration, outcome, HTTP status, certificate expiry, healthy, state,
        // transitions: an HTTPS check, the most a passing check has.
        let (n, text) = per_check_series(false);
        assert!(n <= 10, "{n} series per check:\n{text}");
        assert_eq!(n, 8, "{text}");
        // The duration histogram is per group, role and protocol.
        assert!(
            text.contains(
                "probe_group_duration_seconds_count{backend_group=\"web\",protocol=\"tcp\",role=\"traffic\"} 1"
            ),
            "{text}"
        );
        let (with, text) = per_check_series(true);
        assert_eq!(with, n + DURATION_BUCKETS.len() + 3, "{text}");
    }

    #[test]
    fn label_values_are_escaped_and_the_shard_is_on_every_check_line() {
        let shard = Some("1/3".parse().expect("shard"));
        let m = Metrics::new(shard, false).expect("metrics");
        let mut l = labels();
        l[1] = "web \"1\"\\\nx".into();
        let s = m.series(&l, Protocol::Tcp);
        let text = m.encode(std::iter::once(&s));
        let line = lines(&text, "probe_success")[0];
        assert_eq!(
            line,
            "probe_success{shard=\"1/3\",backend_group=\"web\",backend=\"web \\\"1\\\"\\\\\\nx\",address=\"10.0.1.25\",port=\"80\",protocol=\"tcp\",role=\"traffic\"} 0"
        );
        assert!(
            lines(&text, "probe_agent_build_info")[0].contains("shard=\"1/3\""),
            "{text}"
        );
        // Every family's HELP and TYPE once, before its lines.
        assert_eq!(text.matches("# TYPE probe_backend_state gauge").count(), 1);
    }
}
