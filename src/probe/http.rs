//! HTTP and HTTPS probe: one fresh connection per probe, phases timed like blackbox_exporter's.
//!
//! | what happened                               | state    | reason          | phase        |
//! |---------------------------------------------|----------|-----------------|--------------|
//! | response headers arrived                    | `open`   | `http-response` | `done`       |
//! | connected, handshake failed                 | `open`   | `tls-error`     | `tls`        |
//! | connected, no response before the deadline  | `open`   | `timeout`       | `processing` |
//! | body still arriving at the deadline         | `open`   | `timeout`       | `transfer`   |
//! | connected, the answer is not HTTP           | `open`   | `http-error`    | `processing` |
//! | the TCP connect failed                      | as for a TCP probe  |      | `connect`    |
//!
//! `success` needs the status to match `--expect-status` (ELB syntax: `200`, `200,202`,
//! `200-399`). Redirects are never followed: a 302 is an answer, as a load balancer sees it.
//! The status is judged as soon as the response head arrives; the body is then read (and counted,
//! never kept) up to `--body-limit`, and the connection closed.
//! The leaf certificate's `notAfter` is reported even when verification fails, because an expired
//! certificate is the first thing to rule out.
//!
//! The deadline holds against any peer: every read of the connection checks it (see
//! `Bounded`), so a server that keeps sending without ever completing a response — informational
//! `1xx` responses without end, a head or body a byte a second — ends the probe at its deadline as
//! `timeout`, and cannot keep the other probes of its task waiting. A head larger than hyper's
//! buffer (about 400 KiB) is an `http-error`.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, HeaderName, HeaderValue, LOCATION, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use super::sys::{self, Connect};
use super::target::Host;
use crate::model::StatusSpec;

use super::{
    HttpInfo, HttpPhases, Observation, Phase, ProbeSettings, ProbeSetupError, ProbeSpec, Protocol,
    Reason, State, TlsInfo, millis, seconds,
};

const USER_AGENT_VALUE: &str = concat!("probe/", env!("CARGO_PKG_VERSION"));

/// HTTP request and matching settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub method: Method,
    /// Host header and TLS server name; the target's host when absent.
    pub host: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub expect: StatusSpec,
    /// Accept any certificate (the handshake itself is still verified).
    pub insecure: bool,
    /// CA certificates to trust instead of the system's (`--ca-file`, read by the caller).
    pub ca: Option<CaBundle>,
    /// Read at most this many body bytes.
    pub body_limit: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            method: Method::GET,
            host: None,
            headers: Vec::new(),
            expect: StatusSpec::default(),
            insecure: false,
            ca: None,
            body_limit: 1 << 20,
        }
    }
}

/// The table's detail: status and whether it matched, a redirect's target, the TLS version and
/// the certificate's expiry. Returns whether the detail text only restates this (an answered
/// probe's mismatch).
pub(crate) fn detail(obs: &Observation, parts: &mut Vec<String>) -> bool {
    let answered = obs.http.as_ref().is_some_and(|h| h.status.is_some());
    if let Some(http) = &obs.http
        && let Some(status) = http.status
    {
        let verdict = if http.matched {
            "matched"
        } else {
            "not matched"
        };
        parts.push(format!("HTTP {status} {verdict}"));
        if let Some(loc) = &http.location {
            parts.push(format!("Location: {loc}"));
        }
    }
    if let Some(tls) = &obs.tls {
        if let Some(v) = &tls.version {
            parts.push(v.clone());
        }
        if let (Some(na), Some(secs)) = (&tls.not_after, tls.expires_in_s) {
            let days = secs.div_euclid(86_400);
            let when = if secs < 0 {
                "expired".to_string()
            } else {
                format!("in {days} d")
            };
            parts.push(format!(
                "cert expires {} ({when})",
                na.get(..10).unwrap_or(na)
            ));
        }
    }
    answered
}

/// `/probe?module=http_2xx`'s own metrics, as blackbox_exporter names them.
pub(crate) fn samples(obs: &Observation, now_unix: f64) -> Vec<super::Sample> {
    use super::Sample;
    let http = obs.http.as_ref();
    let phases = http.map(|h| &h.phases);
    let mut out = Vec::new();
    if let Some(resolve) = phases.and_then(|p| p.resolve) {
        out.push(Sample::new(
            "probe_dns_lookup_time_seconds",
            "Returns the time taken for probe dns lookup in seconds",
            resolve,
        ));
    }
    out.push(Sample::new(
        "probe_http_status_code",
        "Response HTTP status code",
        f64::from(http.and_then(|h| h.status).unwrap_or(0)),
    ));
    if let Some(p) = phases {
        for (phase, v) in [
            ("resolve", p.resolve),
            ("connect", p.connect),
            ("tls", p.tls),
            ("processing", p.processing),
            ("transfer", p.transfer),
        ] {
            out.push(Sample::labelled(
                "probe_http_duration_seconds",
                "Duration of http request by phase, summed over all redirects",
                ("phase", phase),
                v.unwrap_or(0.0),
            ));
        }
    }
    out.push(Sample::new(
        "probe_http_content_length",
        "Length of http content response",
        http.and_then(|h| h.body_bytes).map_or(-1.0, |b| b as f64),
    ));
    out.push(Sample::new(
        "probe_http_redirects",
        "The number of redirects",
        0.0,
    ));
    out.push(Sample::new(
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        if obs.protocol == Protocol::Https {
            1.0
        } else {
            0.0
        },
    ));
    if let Some(tls) = &obs.tls {
        if let Some(expires) = tls.expires_in_s {
            out.push(Sample::new(
                "probe_ssl_earliest_cert_expiry",
                "Returns last SSL chain expiry in unixtime",
                (now_unix + expires as f64).round(),
            ));
        }
        if let Some(v) = &tls.version {
            out.push(Sample::labelled(
                "probe_tls_version_info",
                "Returns the TLS version used or NaN when unknown",
                ("version", &v.replace("TLS", "TLS ")),
                1.0,
            ));
        }
    }
    out
}

/// PEM certificates to trust, as read from a file named on the command line. Reading files is the
/// caller's business; the prober only parses what it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// The file it came from, for messages.
    pub path: PathBuf,
    pub pem: Arc<Vec<u8>>,
}

/// Trust anchors and the crypto provider, loaded once per run.
///
/// A `--ca-file` is read at once, so a bad file is reported before probing. The system trust
/// store (some 150 files) is read only when the first HTTPS probe needs it.
pub struct TlsRoots {
    provider: Arc<CryptoProvider>,
    /// `None` inside when no trust anchor could be loaded: every verification then fails.
    webpki: std::sync::OnceLock<Option<Arc<WebPkiServerVerifier>>>,
}

impl TlsRoots {
    /// Parses `ca` now, or prepares to load the system's trust store when none is given.
    pub fn load(ca: Option<&CaBundle>) -> Result<Self, ProbeSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = std::sync::OnceLock::new();
        if let Some(ca) = ca {
            use rustls::pki_types::pem::PemObject;
            let ca_err = |reason: String| ProbeSetupError::CaFile {
                path: ca.path.display().to_string(),
                reason,
            };
            let bytes = ca.pem.as_slice();
            let certs = CertificateDer::pem_slice_iter(bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in it".into()));
            }
            let mut roots = RootCertStore::empty();
            for cert in certs {
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            }
            let _ = webpki.set(Self::verifier(roots, &provider));
        }
        Ok(TlsRoots { provider, webpki })
    }

    /// The verifier, loading the system trust store on first use.
    fn webpki(&self) -> Option<Arc<WebPkiServerVerifier>> {
        self.webpki
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                Self::verifier(roots, &self.provider)
            })
            .clone()
    }

    fn verifier(
        roots: RootCertStore,
        provider: &Arc<CryptoProvider>,
    ) -> Option<Arc<WebPkiServerVerifier>> {
        if roots.is_empty() {
            return None;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .ok()
    }
}

/// Verifies as configured and keeps the leaf certificate, whether or not it verifies.
#[derive(Debug)]
struct CapturingVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    insecure: bool,
    leaf: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut leaf) = self.leaf.lock() {
            *leaf = Some(end_entity.to_vec());
        }
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Probes `spec` with one HTTP(S) request.
pub async fn probe(spec: &ProbeSpec, settings: &ProbeSettings, roots: &TlsRoots) -> Observation {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut obs = super::observation_for(spec, State::Filtered, Reason::NoResponse);
    let mut info = HttpInfo {
        status: None,
        matched: false,
        phases: HttpPhases {
            resolve: Some(seconds(spec.resolve)),
            ..HttpPhases::default()
        },
        body_bytes: None,
        body_truncated: false,
        location: None,
    };
    // Everything about the request is checked before a connection is opened: a request that
    // cannot be sent must not cost the server a connection.
    let request = match build_request(spec, settings) {
        Ok(r) => r,
        Err(e) => return Observation::error(&spec.target, Some(spec.addr.ip()), e),
    };
    let stream = match connect(spec, start, deadline, &mut obs).await {
        Ok(stream) => stream,
        Err(Some(error)) => return error,
        Err(None) => {
            obs.http = Some(info);
            return obs;
        }
    };
    let connected = start.elapsed();
    info.phases.connect = Some(seconds(connected));
    obs.rtt_ms = Some(millis(connected));
    obs.state = State::Open;
    let exchanged = Exchange {
        request,
        settings,
        deadline,
    };
    if spec.target.protocol == Protocol::Https {
        // Boxed: the handshake's state is large, and only HTTPS probes should carry it.
        Box::pin(over_tls(
            spec, roots, stream, exchanged, &mut obs, &mut info,
        ))
        .await;
    } else {
        exchange(stream, exchanged, &mut obs, &mut info).await;
    }
    obs.http = Some(info);
    obs
}

/// The TCP connection of a probe. `Err(None)`: it failed or timed out, as `obs` now says;
/// `Err(Some(error))`: the probe could not run.
async fn connect(
    spec: &ProbeSpec,
    start: Instant,
    deadline: Instant,
    obs: &mut Observation,
) -> Result<Bounded<tokio::net::TcpStream>, Option<Observation>> {
    let cannot = |what: String| Some(Observation::error(&spec.target, Some(spec.addr.ip()), what));
    match sys::tcp_connect(spec.addr, deadline).await {
        Ok(Connect::Established(socket)) => {
            tokio::net::TcpStream::from_std(std::net::TcpStream::from(socket))
                .map(|stream| Bounded::new(stream, deadline))
                .map_err(|e| cannot(format!("cannot register the connection: {e}")))
        }
        Ok(Connect::Failed { errno, icmp }) => {
            obs.rtt_ms = Some(millis(start.elapsed()));
            super::tcp::apply_failure(obs, spec, errno, icmp);
            Err(None)
        }
        Ok(Connect::TimedOut) => Err(None),
        Err(e) => Err(cannot(format!("cannot connect: {e}"))),
    }
}

/// What the exchange over a connection needs: the request, the settings, the deadline.
struct Exchange<'a> {
    request: Request<Empty<Bytes>>,
    settings: &'a ProbeSettings,
    deadline: Instant,
}

/// The TLS handshake, then the exchange; the certificate is read whatever the outcome.
async fn over_tls(
    spec: &ProbeSpec,
    roots: &TlsRoots,
    stream: Bounded<tokio::net::TcpStream>,
    x: Exchange<'_>,
    obs: &mut Observation,
    info: &mut HttpInfo,
) {
    obs.phase = Phase::Tls;
    let tls_start = Instant::now();
    let verifier = Arc::new(CapturingVerifier {
        webpki: roots.webpki(),
        provider: roots.provider.clone(),
        insecure: x.settings.http.insecure,
        leaf: Mutex::new(None),
    });
    let tls = tls_handshake(
        spec,
        x.settings,
        roots,
        verifier.clone(),
        stream,
        x.deadline,
    )
    .await;
    info.phases.tls = Some(seconds(tls_start.elapsed()));
    let leaf = verifier.leaf.lock().ok().and_then(|mut l| l.take());
    let mut tls_info = TlsInfo::default();
    if let Some(der) = leaf {
        certificate_expiry(&der, &mut tls_info);
    }
    match tls {
        Ok(stream) => {
            tls_info.version = stream.get_ref().1.protocol_version().map(version_name);
            obs.tls = Some(tls_info);
            exchange(stream, x, obs, info).await;
        }
        Err(TlsFailure::Timeout) => {
            obs.reason = Reason::Timeout;
            obs.detail = Some(format!(
                "no complete TLS handshake within {} (phase tls)",
                humantime::format_duration(x.settings.timeout)
            ));
            tls_info.error = Some("TLS handshake did not finish before the deadline".into());
            obs.tls = Some(tls_info);
        }
        Err(TlsFailure::Handshake(e)) => {
            obs.reason = Reason::TlsError;
            obs.detail = Some(format!("TLS handshake failed: {e}"));
            tls_info.error = Some(e);
            obs.tls = Some(tls_info);
        }
    }
}

enum TlsFailure {
    Timeout,
    Handshake(String),
}

async fn tls_handshake(
    spec: &ProbeSpec,
    settings: &ProbeSettings,
    roots: &TlsRoots,
    verifier: Arc<CapturingVerifier>,
    stream: Bounded<tokio::net::TcpStream>,
    deadline: Instant,
) -> Result<tokio_rustls::client::TlsStream<Bounded<tokio::net::TcpStream>>, TlsFailure> {
    let config = ClientConfig::builder_with_provider(roots.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFailure::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let name = server_name(spec, settings).map_err(TlsFailure::Handshake)?;
    let connector = TlsConnector::from(Arc::new(config));
    match timeout_at(deadline, connector.connect(name, stream)).await {
        Err(_) => Err(TlsFailure::Timeout),
        Ok(Err(_)) if Instant::now() >= deadline => Err(TlsFailure::Timeout),
        Ok(Err(e)) => Err(TlsFailure::Handshake(e.to_string())),
        Ok(Ok(s)) => Ok(s),
    }
}

/// The TLS server name: `--host` without its port, else the target's host.
fn server_name(spec: &ProbeSpec, settings: &ProbeSettings) -> Result<ServerName<'static>, String> {
    let name = match &settings.http.host {
        Some(h) => strip_port(h).to_string(),
        None => match &spec.target.host {
            Host::Name(n) => n.clone(),
            Host::Ip(_) => return Ok(ServerName::IpAddress(spec.addr.ip().into())),
        },
    };
    // SNI carries a name without the root's trailing dot (RFC 6066 §3).
    let name = name.strip_suffix('.').map(str::to_string).unwrap_or(name);
    ServerName::try_from(name.clone()).map_err(|_| format!("invalid TLS server name {name:?}"))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map(|(h, _)| h.trim_start_matches('['))
            .unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// The Host header: `--host`, else the target's host, with the port unless it is the default.
fn host_header(spec: &ProbeSpec, settings: &ProbeSettings) -> String {
    if let Some(h) = &settings.http.host {
        return h.clone();
    }
    let host = match (&spec.target.host, spec.addr.ip()) {
        (Host::Name(n), _) => n.clone(),
        (Host::Ip(_), std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        (Host::Ip(_), ip) => ip.to_string(),
    };
    let default = if spec.target.protocol == Protocol::Https {
        443
    } else {
        80
    };
    if spec.addr.port() == default {
        host
    } else {
        format!("{host}:{}", spec.addr.port())
    }
}

/// The request of a probe: method, path, `Host`, `User-Agent` and the extra headers. An `Err`
/// names what cannot be sent.
fn build_request(
    spec: &ProbeSpec,
    settings: &ProbeSettings,
) -> Result<Request<Empty<Bytes>>, String> {
    let path = request_path(&spec.target.path);
    let mut request = Request::builder()
        .method(settings.http.method.clone())
        .uri(path.as_str())
        .header(USER_AGENT, USER_AGENT_VALUE);
    if !settings.http.headers.iter().any(|(k, _)| k == HOST) {
        let host = host_header(spec, settings);
        let value = HeaderValue::from_str(&host)
            .map_err(|_| format!("cannot build the request: invalid Host {host:?}"))?;
        request = request.header(HOST, value);
    }
    for (k, v) in &settings.http.headers {
        request = request.header(k, v);
    }
    request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot build the request for path {path:?}: {e}"))
}

/// The path and query as they go on the request line: bytes a URI may not carry raw (non-ASCII,
/// spaces, controls, `"<>\^`{|}`, a `%` not followed by two hex digits) are percent-encoded as
/// a browser or curl would, and a `#fragment` is not sent. `/café?q=a b` becomes
/// `/caf%C3%A9?q=a%20b`.
pub fn request_path(raw: &str) -> String {
    let raw = raw.split_once('#').map_or(raw, |(before, _)| before);
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    if raw == "*" {
        return raw.to_string(); // OPTIONS *
    }
    if !raw.starts_with('/') {
        out.push('/');
    }
    for (i, &b) in bytes.iter().enumerate() {
        let escaped_already = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        let raw_ok = b.is_ascii_graphic() && !b"\"<>\\^`{|}%".contains(&b);
        if raw_ok || escaped_already {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends the request and reads the response over an established connection.
async fn exchange<IO>(io: IO, x: Exchange<'_>, obs: &mut Observation, info: &mut HttpInfo)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Exchange {
        request,
        settings,
        deadline,
    } = x;
    obs.phase = Phase::Processing;
    let processing_start = Instant::now();
    let timed_out = |obs: &mut Observation| {
        obs.reason = Reason::Timeout;
        obs.detail = Some(format!(
            "no complete response within {} (phase {})",
            humantime::format_duration(settings.timeout),
            serde_json::to_value(obs.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ));
    };
    let handshake = timeout_at(
        deadline,
        hyper::client::conn::http1::handshake(TokioIo::new(io)),
    );
    // A read that failed at the deadline (`Bounded`) is a timeout, not an invalid response.
    let late = || Instant::now() >= deadline;
    let (mut sender, conn) = match handshake.await {
        Err(_) => return timed_out(obs),
        Ok(Err(_)) if late() => return timed_out(obs),
        Ok(Err(e)) => return http_error(obs, e),
        Ok(Ok(pair)) => pair,
    };
    // The connection is driven inside this probe's own future (see `drive`), not as a task of
    // its own: no spawn, and no wake-up across threads between the two halves of one exchange.
    let mut conn = std::pin::pin!(conn);
    let mut conn_done = false;

    let sending = drive(conn.as_mut(), &mut conn_done, sender.send_request(request));
    let response = match timeout_at(deadline, sending).await {
        Err(_) => return timed_out(obs),
        Ok(Err(_)) if late() => return timed_out(obs),
        Ok(Err(e)) => return http_error(obs, e),
        Ok(Ok(r)) => r,
    };
    info.phases.processing = Some(seconds(processing_start.elapsed()));
    let status = response.status().as_u16();
    info.status = Some(status);
    info.matched = settings.http.expect.matches(status);
    info.location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    obs.reason = Reason::HttpResponse;

    obs.phase = Phase::Transfer;
    let transfer_start = Instant::now();
    let body = response.into_body();
    let limit = settings.http.body_limit;
    let read = match read_body(conn.as_mut(), &mut conn_done, body, limit, deadline).await {
        Ok((read, truncated)) => {
            info.body_truncated = truncated;
            read
        }
        Err((read, failure)) => {
            info.body_bytes = Some(read);
            return match failure {
                Some(e) if !late() => http_error(obs, e),
                _ => timed_out(obs),
            };
        }
    };
    info.phases.transfer = Some(seconds(transfer_start.elapsed()));
    info.body_bytes = Some(read);
    obs.phase = Phase::Done;
    obs.success = info.matched;
    if !info.matched {
        obs.detail = Some(format!("status {status} not in {}", settings.http.expect));
    }
}

/// Reads (and counts, never keeps) the body up to `limit` bytes, driving the connection: the bytes
/// read and whether the body was cut at the limit, or the bytes read before it ended badly
/// (`None`: the deadline; `Some`: a broken body).
async fn read_body<C>(
    mut conn: Pin<&mut C>,
    conn_done: &mut bool,
    mut body: hyper::body::Incoming,
    limit: u64,
    deadline: Instant,
) -> Result<(u64, bool), (u64, Option<hyper::Error>)>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut read: u64 = 0;
    loop {
        let frame = drive(conn.as_mut(), conn_done, body.frame());
        match timeout_at(deadline, frame).await {
            Err(_) => return Err((read, None)),
            Ok(None) => return Ok((read, false)),
            Ok(Some(Err(e))) => return Err((read, Some(e))),
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                    if read >= limit {
                        return Ok((read, true));
                    }
                }
            }
        }
    }
}

/// Bytes a connection may read in a row, without once finding nothing to read, before it lets the
/// other probes of its task run.
const READ_STREAK: usize = 64 << 10;

/// The probe's connection, as TLS and hyper see it: a read at or after the deadline fails with
/// `TimedOut`, and after [`READ_STREAK`] bytes read in a row the next read yields first.
///
/// Without it the deadline is only looked at between polls of the probe, and a peer that never
/// stops sending can make one poll last: hyper reads and parses for as long as data keeps coming
/// (it skips informational `1xx` responses in a loop), up to tokio's budget of 128 reads of up
/// to 400 KiB each per poll. A server streaming `102 Processing` kept a probe with a 1 s timeout,
/// and every other probe of its shard, busy for 4.6 s.
struct Bounded<IO> {
    io: IO,
    deadline: Instant,
    /// Bytes read since a read last found nothing to read, or yielded.
    streak: usize,
}

impl<IO> Bounded<IO> {
    fn new(io: IO, deadline: Instant) -> Self {
        Bounded {
            io,
            deadline,
            streak: 0,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Bounded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the probe's deadline passed",
            )));
        }
        if self.streak >= READ_STREAK {
            // Yield as `tokio::task::yield_now` does: the task is woken again only after the
            // runtime has run its other tasks and its timer and I/O drivers.
            let yielded = std::pin::pin!(tokio::task::yield_now()).poll(cx);
            if yielded.is_pending() {
                self.streak = 0;
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => self.streak += buf.filled().len() - before,
            Poll::Pending => self.streak = 0,
            Poll::Ready(Err(_)) => {}
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Bounded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

fn http_error(obs: &mut Observation, e: hyper::Error) {
    obs.reason = Reason::HttpError;
    obs.detail = Some(format!("invalid HTTP response: {e}"));
}

/// Awaits `fut` while also driving the connection `conn` (which does the reading and writing for
/// the request and response halves), until `fut` completes. Once the connection has finished,
/// `done` is set and it is not polled again; `fut` then completes with the connection's error.
async fn drive<C, F>(mut conn: Pin<&mut C>, done: &mut bool, fut: F) -> F::Output
where
    C: Future,
    F: Future,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return out,
            _ = conn.as_mut(), if !*done => *done = true,
        }
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".into(),
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".into(),
        other => format!("{other:?}"),
    }
}

fn certificate_expiry(der: &[u8], tls: &mut TlsInfo) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return;
    };
    let not_after = cert.validity().not_after.to_datetime();
    tls.not_after = not_after
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    let now = time::OffsetDateTime::now_utc();
    tls.expires_in_s = Some((not_after - now).whole_seconds());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bounded_connection_yields_after_a_streak_and_fails_at_the_deadline() {
        use tokio::io::AsyncWriteExt;
        let (mut peer, ours) = tokio::io::duplex(1 << 20);
        peer.write_all(&vec![7u8; 4 * READ_STREAK])
            .await
            .expect("write to the duplex");
        let mut io = Bounded::new(ours, Instant::now() + std::time::Duration::from_secs(60));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut chunk = vec![0u8; READ_STREAK / 4];
        let (mut read, mut yields) = (0, 0);
        while read < 4 * READ_STREAK {
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut io).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) => read += buf.filled().len(),
                Poll::Pending => yields += 1,
                Poll::Ready(Err(e)) => panic!("read failed: {e}"),
            }
        }
        assert_eq!(read, 4 * READ_STREAK);
        assert_eq!(yields, 3, "one yield after each full streak but the last");

        peer.write_all(b"more").await.expect("write to the duplex");
        io.deadline = Instant::now();
        let mut buf = ReadBuf::new(&mut chunk);
        match Pin::new(&mut io).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("a read at the deadline must fail, got {other:?}"),
        }
        assert!(buf.filled().is_empty());
    }

    #[test]
    fn request_paths_are_percent_encoded_as_curl_would() {
        for (raw, sent) in [
            ("/health", "/health"),
            ("/café", "/caf%C3%A9"),
            ("/a b?q=x y", "/a%20b?q=x%20y"),
            ("/ok%20already", "/ok%20already"),
            ("/100%", "/100%25"),
            ("/%zz", "/%25zz"),
            ("/a\"b<c>", "/a%22b%3Cc%3E"),
            ("/x#fragment", "/x"),
            ("health", "/health"),
            ("", "/"),
            ("/\u{1}", "/%01"),
            ("*", "*"),
            // Found by the property test below: only `*` alone is the asterisk form.
            ("*\u{116d0}", "/*%F0%91%9B%90"),
        ] {
            let got = request_path(raw);
            assert_eq!(got, sent, "{raw:?}");
            assert!(
                got.parse::<hyper::Uri>().is_ok(),
                "{got:?} is a valid request target"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the path, what goes on the request line is ASCII and a valid URI.
        #[test]
        fn any_path_becomes_a_valid_ascii_request_target(raw in "\\PC{0,60}") {
            let sent = request_path(&raw);
            proptest::prop_assert!(sent.is_ascii());
            proptest::prop_assert!(sent.parse::<hyper::Uri>().is_ok(), "{:?}", sent);
        }
    }

    #[test]
    fn host_override_loses_its_port_for_sni() {
        assert_eq!(strip_port("example.com:8443"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[fd00::1]:443"), "fd00::1");
    }
}
