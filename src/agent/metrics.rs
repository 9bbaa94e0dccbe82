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
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
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
    success: GaugeVec,
    duration: GaugeVec,
    group_duration: HistogramVec,
    check_duration: Option<HistogramVec>,
    outcome: GaugeVec,
    http_status: GaugeVec,
    cert_expiry: GaugeVec,
    healthy: GaugeVec,
    state: GaugeVec,
    transitions: IntCounterVec,
    findings: IntGaugeVec,
    finding_info: GaugeVec,
    blocking: GaugeVec,
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

fn with(labels: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    labels.iter().chain(extra).copied().collect()
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
        let gauge =
            |name: &str, help: &str, labels: &[&str]| GaugeVec::new(Opts::new(name, help), labels);
        let m = Metrics {
            success: gauge(
                "probe_success",
                "Whether the last probe of the check passed.",
                c,
            )?,
            duration: gauge(
                "probe_duration_seconds",
                "Wall time of the check's last probe.",
                c,
            )?,
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
            outcome: gauge(
                "probe_outcome",
                "1 for the outcome class (open, closed, filtered, rejected, unreachable, open|filtered, error) and reason of the last probe.",
                &with(c, &["outcome", "reason"]),
            )?,
            http_status: gauge(
                "probe_http_status_code",
                "HTTP status code of the last response (0 if none).",
                c,
            )?,
            cert_expiry: gauge(
                "probe_ssl_earliest_cert_expiry",
                "Expiry of the leaf certificate the backend presented, in Unix seconds.",
                c,
            )?,
            healthy: gauge(
                "probe_backend_healthy",
                "1 if the health check's rise/fall threshold state machine says healthy.",
                c,
            )?,
            state: gauge(
                "probe_backend_state",
                "1 for the current threshold state: initial, healthy or unhealthy.",
                &with(c, &["state"]),
            )?,
            transitions: IntCounterVec::new(
                Opts::new(
                    "probe_backend_transitions_total",
                    "Changes of the threshold state.",
                ),
                c,
            )?,
            findings: IntGaugeVec::new(
                Opts::new("probe_findings", "Active findings, by code and severity."),
                &["code", "severity"],
            )?,
            finding_info: gauge(
                "probe_finding_info",
                "1 for each check whose finding is not OK, with its code.",
                &with(c, &["code", "severity"]),
            )?,
            blocking: gauge(
                "probe_blocking_rule_info",
                "1 for each rule that blocks a check, as the configuration names it.",
                &with(c, &["code", "kind", "id", "rule", "direction"]),
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
        r.register(Box::new(m.success.clone()))?;
        r.register(Box::new(m.duration.clone()))?;
        r.register(Box::new(m.group_duration.clone()))?;
        if let Some(h) = &m.check_duration {
            r.register(Box::new(h.clone()))?;
        }
        r.register(Box::new(m.outcome.clone()))?;
        r.register(Box::new(m.http_status.clone()))?;
        r.register(Box::new(m.cert_expiry.clone()))?;
        r.register(Box::new(m.healthy.clone()))?;
        r.register(Box::new(m.state.clone()))?;
        r.register(Box::new(m.transitions.clone()))?;
        r.register(Box::new(m.findings.clone()))?;
        r.register(Box::new(m.finding_info.clone()))?;
        r.register(Box::new(m.blocking.clone()))?;
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
    pub(crate) fn series(&self, labels: [String; 6], protocol: Protocol) -> CheckSeries {
        let l = &labels;
        let mut series = CheckSeries {
            success: self.success.with_label_values(l),
            duration: self.duration.with_label_values(l),
            group_duration: self
                .group_duration
                .with_label_values(&[&l[0], &l[5], &l[4]]),
            check_duration: self.check_duration.as_ref().map(|h| h.with_label_values(l)),
            healthy: self.healthy.with_label_values(l),
            transitions: self.transitions.with_label_values(l),
            http_status: protocol
                .is_http()
                .then(|| self.http_status.with_label_values(l)),
            state: None,
            outcome: None,
            finding: None,
            blocking: None,
            labels,
        };
        self.set_state(&mut series, HealthState::Initial);
        series
    }

    /// The threshold state: `probe_backend_healthy`, and the one `probe_backend_state` series
    /// of the current state.
    fn set_state(&self, s: &mut CheckSeries, state: HealthState) {
        swap_series(
            &self.state,
            &mut s.state,
            Some(with_values(&s.labels, &[state.as_str()])),
        );
        s.healthy.set(if state == HealthState::Healthy {
            1.0
        } else {
            0.0
        });
    }

    /// Removes every series of a check that is no longer planned.
    pub(crate) fn forget(&self, s: &CheckSeries) {
        let l = &s.labels;
        let _ = self.success.remove_label_values(l);
        let _ = self.duration.remove_label_values(l);
        if let Some(h) = &self.check_duration {
            let _ = h.remove_label_values(l);
        }
        let _ = self.healthy.remove_label_values(l);
        let _ = self.transitions.remove_label_values(l);
        let _ = self.http_status.remove_label_values(l);
        let _ = self.cert_expiry.remove_label_values(l);
        if let Some(prev) = &s.state {
            let _ = self.state.remove_label_values(prev);
        }
        if let Some(prev) = &s.outcome {
            let _ = self.outcome.remove_label_values(prev);
        }
        if let Some(prev) = &s.finding {
            let _ = self.finding_info.remove_label_values(prev);
        }
        if let Some(prev) = &s.blocking {
            let _ = self.blocking.remove_label_values(prev);
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
        s.success.set(if obs.success { 1.0 } else { 0.0 });
        let secs = took.as_secs_f64();
        s.duration.set(secs);
        s.group_duration.observe(secs);
        if let Some(h) = &s.check_duration {
            h.observe(secs);
        }
        let reason = match &obs.reason {
            crate::probe::Reason::Error(_) => "error".into(),
            r => r.as_str(),
        };
        let outcome = with_values(&s.labels, &[obs.state.as_str(), &reason]);
        swap_series(&self.outcome, &mut s.outcome, Some(outcome));
        if let Some(g) = &s.http_status {
            g.set(f64::from(
                obs.http.as_ref().and_then(|h| h.status).unwrap_or(0),
            ));
        }
        if let Some(expires_in) = obs.tls.as_ref().and_then(|t| t.expires_in_s) {
            self.cert_expiry
                .with_label_values(&s.labels)
                .set((now_unix + expires_in as f64).round());
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
        self.set_state(s, state);
        if changed {
            s.transitions.inc();
        }
    }

    /// Records a check's finding: its code (when not OK) and its blocking rule.
    pub(crate) fn record_finding(&self, s: &mut CheckSeries, f: &Finding) {
        let info = (f.code != Code::Ok)
            .then(|| with_values(&s.labels, &[f.code.as_str(), f.severity.as_str()]));
        swap_series(&self.finding_info, &mut s.finding, info);
        let blocking = f.blocking.as_ref().map(|b| {
            with_values(
                &s.labels,
                &[
                    f.code.as_str(),
                    b.kind,
                    &b.id,
                    &b.rule,
                    &b.direction.to_string(),
                ],
            )
        });
        swap_series(&self.blocking, &mut s.blocking, blocking);
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

    /// The text exposition format of every family.
    pub(crate) fn encode(&self) -> String {
        // Panics are counted by the process-wide hook (`crate::panics`), on whatever thread.
        let panics = crate::panics::count();
        if panics > self.panics.get() {
            self.panics.inc_by(panics - self.panics.get());
        }
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

/// Replaces the one series of `vec` that `current` names by `next` (value 1), if they differ:
/// an info-style series whose label values change removes its old series.
fn swap_series(vec: &GaugeVec, current: &mut Option<Vec<String>>, next: Option<Vec<String>>) {
    if *current == next {
        return;
    }
    if let Some(prev) = current.take() {
        let _ = vec.remove_label_values(&prev);
    }
    if let Some(v) = &next {
        vec.with_label_values(v).set(1.0);
    }
    *current = next;
}

fn with_values(labels: &[String; 6], extra: &[&str]) -> Vec<String> {
    labels
        .iter()
        .cloned()
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

/// The series handles of one check, and the label sets of its changing series.
pub(crate) struct CheckSeries {
    pub labels: [String; 6],
    success: Gauge,
    duration: Gauge,
    /// Shared with every check of the same backend group, role and protocol.
    group_duration: Histogram,
    check_duration: Option<Histogram>,
    healthy: Gauge,
    transitions: IntCounter,
    http_status: Option<Gauge>,
    /// The label set of the one `probe_backend_state` series.
    state: Option<Vec<String>>,
    outcome: Option<Vec<String>>,
    finding: Option<Vec<String>>,
    blocking: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_registers_under_its_own_name() {
        let m = Metrics::new(None, true).expect("distinct names");
        let text = m.encode();
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
        let mut s = m.series(labels(), Protocol::Tcp);
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
        let text = m.encode();
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
        let text = m.encode();
        let state = lines(&text, "probe_backend_state");
        assert_eq!(state.len(), 1, "only the current state: {state:?}");
        assert!(state[0].contains("state=\"unhealthy\"") && state[0].ends_with(" 1"));
        assert!(lines(&text, "probe_backend_healthy")[0].ends_with(" 0"));
        m.forget(&s);
        let text = m.encode();
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
        let mut s = m.series(labels(), Protocol::Https);
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
        let text = m.encode();
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
}
