//! `/probe?target=…&module=…`: blackbox_exporter's multi-target pattern, with an allowlist.
//!
//! Prometheus relabels each target into `__param_target` and scrapes the agent; the agent probes
//! and answers with blackbox_exporter's metric names for the same modules, so existing dashboards
//! keep working, plus `probe_outcome{outcome,reason}`, which says *why* a probe failed.
//!
//! | module | aliases | probe | blackbox metrics besides `probe_success`, `probe_duration_seconds` |
//! |---|---|---|---|
//! | `http_2xx` (default) | `http` | HTTP GET, any 2xx; HTTPS when the target is an `https://` URL (certificate verified) | `probe_http_status_code`, `probe_http_duration_seconds{phase}`, `probe_http_content_length`, `probe_http_ssl`, `probe_http_redirects`, `probe_ssl_earliest_cert_expiry`, `probe_tls_version_info` |
//! | `tcp_connect` | `tcp` | TCP connect | `probe_ip_protocol` |
//! | `icmp` | `ping` | one echo request | `probe_icmp_duration_seconds{phase}` |
//! | `udp` | | one datagram; success unless an ICMP error or nothing-but-silence proves it closed | `probe_udp_response_bytes` |
//!
//! The probe's deadline is the `X-Prometheus-Scrape-Timeout-Seconds` header minus 0.5 s (as
//! blackbox_exporter does), capped at [`MODULE_TIMEOUT`]. A target must resolve to an address
//! inside the allowlist (the configured members, load balancer addresses and subnets, plus
//! `--probe-allow`), or the answer is 403: the endpoint is not an open proxy into the network.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use ipnet::IpNet;
use prometheus::{Gauge, GaugeVec, Opts, Registry, TextEncoder};

use super::Agent;
use crate::engine::{self, Planned};
use crate::model::StatusSpec;
use crate::probe::http::HttpSettings;
use crate::probe::target::{self, TargetDefaults};
use crate::probe::{self, Observation, ProbeSettings, Protocol};

/// The longest a `/probe` may take, whatever the scrape timeout.
pub(crate) const MODULE_TIMEOUT: Duration = Duration::from_secs(10);

/// What blackbox_exporter subtracts from the scrape timeout, so the answer arrives in time.
const TIMEOUT_OFFSET: f64 = 0.5;

/// The answer to a `/probe` request.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    fn error(status: StatusCode, message: impl Into<String>) -> Self {
        let mut body = message.into();
        body.push('\n');
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// The request's parameters.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Params {
    pub target: Option<String>,
    pub module: Option<String>,
    pub debug: bool,
}

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let mut p = Params::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "target" => p.target = Some(v.into_owned()),
                "module" => p.module = Some(v.into_owned()),
                "debug" => p.debug = v == "true",
                _ => {}
            }
        }
        p
    }
}

/// The protocol a module probes with.
pub(crate) fn module_protocol(module: &str) -> Option<Protocol> {
    Some(match module {
        "http_2xx" | "http" => Protocol::Http,
        "tcp_connect" | "tcp" => Protocol::Tcp,
        "icmp" | "ping" => Protocol::Icmp,
        "udp" => Protocol::Udp,
        _ => return None,
    })
}

/// The probe deadline for a scrape timeout header value: the header less
/// [`TIMEOUT_OFFSET`] (when that leaves something), at most [`MODULE_TIMEOUT`]. Anything that is
/// not a positive finite number of seconds (`garbage`, `-3`, `NaN`) means [`MODULE_TIMEOUT`].
/// The value comes from the network, so it is capped while still a float: `1e300` or
/// `18446744073709551616` would overflow a [`Duration`].
pub(crate) fn timeout_for(header: Option<&str>) -> Duration {
    let scrape = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0);
    match scrape {
        Some(s) => {
            let s = if s > TIMEOUT_OFFSET {
                s - TIMEOUT_OFFSET
            } else {
                s
            };
            Duration::try_from_secs_f64(s.min(MODULE_TIMEOUT.as_secs_f64()))
                .unwrap_or(MODULE_TIMEOUT)
        }
        None => MODULE_TIMEOUT,
    }
}

/// Whether `addr` is inside one of `allow`, an IPv4-mapped IPv6 address counting as IPv4.
pub(crate) fn allowed(allow: &[IpNet], addr: IpAddr) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    allow.iter().any(|n| n.contains(&addr))
}

/// The module and the one target a `/probe` request names, or the answer that refuses it (400).
/// Pure: everything here comes from the network and is checked before anything is resolved or
/// sent.
pub(crate) fn request_target(params: &Params) -> Result<(&str, crate::probe::Target), Answer> {
    let Some(input) = params.target.as_deref().filter(|t| !t.trim().is_empty()) else {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            "target parameter is missing",
        ));
    };
    let module = params.module.as_deref().unwrap_or("http_2xx");
    let Some(protocol) = module_protocol(module) else {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            format!("unknown module {module:?}: use http_2xx, tcp_connect, icmp or udp"),
        ));
    };
    // A prefix would expand to many targets: one request probes one target.
    if input.parse::<IpNet>().is_ok() {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            format!("target {input:?} is a prefix; /probe takes one host"),
        ));
    }
    let defaults = TargetDefaults {
        protocol,
        port: None,
        path: "/".to_string(),
    };
    let target = match target::parse(input, &defaults) {
        Ok(mut ts) if ts.len() == 1 => ts.remove(0),
        Ok(_) => {
            return Err(Answer::error(
                StatusCode::BAD_REQUEST,
                format!("target {input:?} is not one host"),
            ));
        }
        Err(e) => {
            return Err(Answer::error(
                StatusCode::BAD_REQUEST,
                format!("target: {e}"),
            ));
        }
    };
    if target.port.is_none() && matches!(target.protocol, Protocol::Tcp | Protocol::Udp) {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            format!("target {input:?} needs a port for module {module}"),
        ));
    }
    Ok((module, target))
}

/// Serves one `/probe` request.
pub(crate) async fn handle(
    agent: &Arc<Agent>,
    query: Option<&str>,
    scrape_timeout: Option<&str>,
) -> Answer {
    let params = Params::parse(query);
    let (module, target) = match request_target(&params) {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let input = params.target.as_deref().unwrap_or_default();
    let (allow, base) = {
        let w = agent.world();
        (w.allow.clone(), w.base.clone())
    };
    if let target::Host::Ip(ip) = target.host
        && !allowed(&allow, ip)
    {
        return forbidden(input, ip);
    }
    let timeout = timeout_for(scrape_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let spec = match engine::resolve(vec![target]).await.into_iter().next() {
        Some(Planned::Probe(spec)) => spec,
        Some(Planned::Failed(_, obs)) => return render(module, &obs, Duration::ZERO, params.debug),
        None => {
            return Answer::error(
                StatusCode::BAD_REQUEST,
                format!("target {input:?} has no address"),
            );
        }
    };
    if !allowed(&allow, spec.addr.ip()) {
        return forbidden(input, spec.addr.ip());
    }
    let Ok(Ok(_permit)) =
        tokio::time::timeout_at(deadline, agent.blackbox.clone().acquire_owned()).await
    else {
        return Answer::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many /probe requests at once; raise --probe-concurrency",
        );
    };
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let settings = ProbeSettings {
        timeout: remaining.max(Duration::from_millis(10)),
        http: HttpSettings {
            expect: StatusSpec::default(),
            ..HttpSettings::default()
        },
        ..ProbeSettings::default()
    };
    let ctx = base.with_settings(settings);
    let start = tokio::time::Instant::now();
    let obs = probe::run_guarded(&spec, &ctx).await;
    let took = start.elapsed() + spec.resolve;
    agent
        .metrics
        .count_probe(obs.protocol.as_str(), obs.state.as_str());
    render(module, &obs, took, params.debug)
}

fn forbidden(input: &str, ip: IpAddr) -> Answer {
    Answer::error(
        StatusCode::FORBIDDEN,
        format!(
            "target {input:?} ({ip}) is outside the probe allowlist: the configured members, \
             load balancer addresses and subnets, and --probe-allow"
        ),
    )
}

/// The metrics page of one probe, in blackbox_exporter's names.
pub(crate) fn render(module: &str, obs: &Observation, took: Duration, debug: bool) -> Answer {
    let registry = Registry::new();
    let page = build(&registry, obs, took)
        .and_then(|()| TextEncoder::new().encode_to_string(&registry.gather()));
    let mut body = match page {
        Ok(p) => p,
        Err(e) => {
            return Answer::error(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding: {e}"));
        }
    };
    if debug {
        let json = serde_json::to_string_pretty(obs).unwrap_or_default();
        body = format!(
            "Module: {module}\nObservation:\n{json}\n\nMetrics that would have been returned:\n{body}"
        );
    }
    Answer {
        status: StatusCode::OK,
        content_type: "text/plain; version=0.0.4; charset=utf-8",
        body,
    }
}

fn gauge(r: &Registry, name: &str, help: &str, value: f64) -> prometheus::Result<()> {
    let g = Gauge::new(name, help)?;
    g.set(value);
    r.register(Box::new(g))
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, f64)],
) -> prometheus::Result<()> {
    let g = GaugeVec::new(Opts::new(name, help), &[label])?;
    for (l, v) in values {
        g.with_label_values(&[*l]).set(*v);
    }
    r.register(Box::new(g))
}

fn build(r: &Registry, obs: &Observation, took: Duration) -> prometheus::Result<()> {
    gauge(
        r,
        "probe_success",
        "Displays whether or not the probe was a success",
        if obs.success { 1.0 } else { 0.0 },
    )?;
    gauge(
        r,
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        took.as_secs_f64(),
    )?;
    if let Some(addr) = obs.address {
        gauge(
            r,
            "probe_ip_protocol",
            "Specifies whether probe ip protocol is IP4 or IP6",
            if addr.is_ipv4() { 4.0 } else { 6.0 },
        )?;
    }
    let outcome = GaugeVec::new(
        Opts::new(
            "probe_outcome",
            "1 for the probe's outcome class and reason: why it failed, not only whether.",
        ),
        &["outcome", "reason"],
    )?;
    let reason = match &obs.reason {
        probe::Reason::Error(_) => "error".into(),
        other => other.as_str(),
    };
    outcome
        .with_label_values(&[obs.state.as_str(), &reason])
        .set(1.0);
    r.register(Box::new(outcome))?;
    register_samples(r, &probe::samples(obs, super::unix_now()))
}

/// Registers a protocol's samples: one gauge per name, or one vector per labelled name.
fn register_samples(r: &Registry, samples: &[probe::Sample]) -> prometheus::Result<()> {
    let mut i = 0;
    while let Some(first) = samples.get(i) {
        let same = samples[i..]
            .iter()
            .take_while(|s| s.name == first.name)
            .collect::<Vec<_>>();
        match &first.label {
            None => gauge(r, first.name, first.help, first.value)?,
            Some((label, _)) => {
                let values: Vec<(&str, f64)> = same
                    .iter()
                    .filter_map(|s| s.label.as_ref().map(|(_, v)| (v.as_str(), s.value)))
                    .collect();
                gauge_vec(r, first.name, first.help, label, &values)?;
            }
        }
        i += same.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_decoded() {
        let p = Params::parse(Some(
            "target=https%3A%2F%2F10.0.0.1%3A8443%2Fhealth&module=http_2xx&debug=true",
        ));
        assert_eq!(p.target.as_deref(), Some("https://10.0.0.1:8443/health"));
        assert_eq!(p.module.as_deref(), Some("http_2xx"));
        assert!(p.debug);
        assert_eq!(Params::parse(None), Params::default());
    }

    #[test]
    fn scrape_timeout_header_sets_the_deadline_like_blackbox() {
        assert_eq!(timeout_for(Some("5")), Duration::from_millis(4500));
        assert_eq!(timeout_for(Some("0.4")), Duration::from_millis(400));
        assert_eq!(timeout_for(Some("60")), MODULE_TIMEOUT);
        assert_eq!(timeout_for(None), MODULE_TIMEOUT);
        assert_eq!(timeout_for(Some("garbage")), MODULE_TIMEOUT);
        assert_eq!(timeout_for(Some("-3")), MODULE_TIMEOUT);
        assert_eq!(timeout_for(Some("NaN")), MODULE_TIMEOUT);
        // Numbers too large for a Duration: capped, not a panic (issue 13).
        assert_eq!(timeout_for(Some("1e300")), MODULE_TIMEOUT);
        assert_eq!(timeout_for(Some("18446744073709551616")), MODULE_TIMEOUT);
        assert_eq!(timeout_for(Some("inf")), MODULE_TIMEOUT);
        assert_eq!(timeout_for(Some("1e-320")), Duration::ZERO);
    }

    proptest::proptest! {
        /// Whatever the header holds, the deadline is at most the module's, and no panic.
        #[test]
        fn any_scrape_timeout_header_gives_a_bounded_deadline(header in "\\PC*") {
            proptest::prop_assert!(timeout_for(Some(&header)) <= MODULE_TIMEOUT);
        }

        /// Numbers of every magnitude, as Prometheus or anyone else may write them.
        #[test]
        fn any_number_in_the_scrape_timeout_header_gives_a_bounded_deadline(
            x in proptest::num::f64::ANY,
            exp in -400i32..400,
        ) {
            for text in [x.to_string(), format!("{x:e}"), format!("1e{exp}"), format!("{}", x.abs() * 1e18)] {
                proptest::prop_assert!(timeout_for(Some(&text)) <= MODULE_TIMEOUT, "{}", text);
            }
        }

        /// Any target and module from a query give one target or a 400, never a panic.
        #[test]
        fn any_target_parameter_gives_one_target_or_a_refusal(
            target in "\\PC{0,80}",
            module in proptest::sample::select(vec!["http_2xx", "tcp_connect", "icmp", "udp", "dns"]),
        ) {
            let params = Params { target: Some(target), module: Some(module.to_string()), debug: false };
            match request_target(&params) {
                Ok((_, t)) => proptest::prop_assert!(t.port.is_some() || matches!(t.protocol, Protocol::Icmp | Protocol::Http | Protocol::Https)),
                Err(a) => proptest::prop_assert_eq!(a.status, StatusCode::BAD_REQUEST),
            }
        }

        /// Any query string parses into parameters, never a panic.
        #[test]
        fn any_query_string_parses(query in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let query = String::from_utf8_lossy(&query);
            let _ = Params::parse(Some(&query));
        }
    }

    #[test]
    fn allowlist_covers_mapped_addresses_and_nothing_else() {
        let allow: Vec<IpNet> = vec![
            "10.0.1.0/24".parse().expect("cidr"),
            "10.9.9.9/32".parse().expect("cidr"),
        ];
        for (addr, want) in [
            ("10.0.1.7", true),
            ("10.9.9.9", true),
            ("::ffff:10.0.1.7", true),
            ("10.0.2.7", false),
            ("169.254.169.254", false),
            ("127.0.0.1", false),
        ] {
            assert_eq!(allowed(&allow, addr.parse().expect("addr")), want, "{addr}");
        }
    }

    #[test]
    fn modules_map_to_probers() {
        assert_eq!(module_protocol("http_2xx"), Some(Protocol::Http));
        assert_eq!(module_protocol("tcp_connect"), Some(Protocol::Tcp));
        assert_eq!(module_protocol("icmp"), Some(Protocol::Icmp));
        assert_eq!(module_protocol("udp"), Some(Protocol::Udp));
        assert_eq!(module_protocol("dns_udp"), None);
    }
}
