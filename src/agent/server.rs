//! The agent's HTTP server (hyper, HTTP/1.1), with optional TLS and basic auth.
//!
//! | path | method | answer |
//! |---|---|---|
//! | `/metrics` | GET | Prometheus text format: every check's series and the agent's own |
//! | `/probe?target=…&module=…` | GET | one probe, blackbox_exporter-compatible ([`super::blackbox`]) |
//! | `/findings` | GET | the JSON of `probe check --output json` (verdicts.md §4), live; `?offset=&limit=&failing=true` for one page |
//! | `/-/healthy` | GET | 200 while the process serves |
//! | `/-/ready` | GET | 200 once every check has been probed once, else 503 with the count |
//! | `/-/reload` | POST, PUT | reloads the configuration; 500 with the error if it is invalid |
//!
//! A slow or hostile client cannot hold the server: connections beyond
//! [`Limits::max_connections`] wait in the kernel's backlog; request headers must arrive within
//! [`Limits::header_timeout`] (this also closes idle keep-alive connections), and may not exceed
//! [`Limits::max_header_bytes`]; a handler gets [`Limits::request_timeout`]; a connection lives
//! at most [`Limits::max_connection_age`] before it is closed after its current request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Agent;
use super::auth::{BasicAuth, Verdict};
use super::page::SharedPage;
use super::web_config::WebConfig;

/// What a client may take of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connection_age: Duration,
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connection_age: Duration::from_secs(300),
            max_header_bytes: 16 * 1024,
        }
    }
}

/// What every connection shares.
struct Shared {
    agent: Arc<Agent>,
    auth: Option<BasicAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
    limits: Limits,
    /// `/metrics` and `/findings`: one rendering shared by concurrent requests, plain and
    /// gzip-compressed (what Prometheus asks for).
    metrics_page: SharedPage,
    metrics_page_gzip: SharedPage,
    findings_page: SharedPage,
    findings_page_gzip: SharedPage,
}

/// Serves until `cancel`, then lets open connections finish their request (bounded by the
/// request timeout).
pub(crate) async fn serve(
    listener: TcpListener,
    agent: Arc<Agent>,
    web: Option<WebConfig>,
    cancel: CancellationToken,
) {
    let limits = agent.settings.server;
    let (tls, auth, headers) = match web {
        Some(w) => {
            let auth = (!w.basic_auth_users.is_empty()).then(|| BasicAuth::new(w.basic_auth_users));
            let headers = w
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_bytes(k.as_bytes()).ok()?,
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect();
            (w.tls.map(tokio_rustls::TlsAcceptor::from), auth, headers)
        }
        None => (None, None, Vec::new()),
    };
    let shared = Arc::new(Shared {
        agent,
        auth,
        headers,
        limits,
        metrics_page: SharedPage::default(),
        metrics_page_gzip: SharedPage::default(),
        findings_page: SharedPage::default(),
        findings_page_gzip: SharedPage::default(),
    });
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let open = tokio_util::task::TaskTracker::new();
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = cancel.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let shared = shared.clone();
        let tls = tls.clone();
        let stop = cancel.clone();
        open.spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => connection(stream, shared, stop).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
                None => connection(stream, shared, stop).await,
            }
        });
    }
    drop(listener);
    open.close();
    let grace = limits.request_timeout + Duration::from_secs(1);
    if tokio::time::timeout(grace, open.wait()).await.is_err() {
        tracing::debug!("HTTP connections still open after {grace:?}; closing them");
    }
}

async fn connection<I>(io: I, shared: Arc<Shared>, stop: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.limits;
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(respond(&shared, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("HTTP connection ended: {e}");
            }
            return;
        }
        _ = tokio::time::sleep(limits.max_connection_age) => {}
        _ = stop.cancelled() => {}
    }
    // Old enough, or the agent is stopping: finish the request in progress, then close.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.request_timeout, conn).await;
}

type Answer = Response<Full<Bytes>>;

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const PLAIN: &str = "text/plain; charset=utf-8";

/// The handler label of a path: a fixed set, so `probe_agent_http_requests_total` stays small.
fn handler(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/metrics" => "/metrics",
        "/probe" => "/probe",
        "/findings" => "/findings",
        "/-/healthy" => "/-/healthy",
        "/-/ready" => "/-/ready",
        "/-/reload" => "/-/reload",
        _ => "other",
    }
}

async fn respond(shared: &Shared, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    let timeout = match path.as_str() {
        // /probe bounds itself by the scrape timeout, and /-/reload by the request timeout with
        // an answer of its own; this is only a backstop.
        "/probe" => super::blackbox::MODULE_TIMEOUT + Duration::from_secs(5),
        "/-/reload" => shared.limits.request_timeout + Duration::from_secs(1),
        _ => shared.limits.request_timeout,
    };
    // Authentication counts against the request's time like the rest of it.
    let mut answer = match tokio::time::timeout(timeout, authorized(shared, req)).await {
        Ok(a) => a,
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            "request timed out\n",
        ),
    };
    for (k, v) in &shared.headers {
        answer.headers_mut().insert(k.clone(), v.clone());
    }
    shared
        .agent
        .metrics
        .http_request(handler(&path), answer.status().as_u16());
    answer
}

/// The answer to a request that passed authentication, or why it did not. A refused request
/// closes its connection, so that a flood of wrong passwords does not hold connections the
/// scraper needs.
async fn authorized(shared: &Shared, req: Request<Incoming>) -> Answer {
    let verdict = match &shared.auth {
        None => Verdict::Allowed,
        Some(auth) => {
            auth.check(
                req.headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
            )
            .await
        }
    };
    let mut refused = match verdict {
        Verdict::Allowed => return route(shared, &req).await,
        Verdict::Denied => {
            let mut r = text(StatusCode::UNAUTHORIZED, PLAIN, "Unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"probe\""),
            );
            r
        }
        Verdict::Busy => {
            let mut r = text(
                StatusCode::TOO_MANY_REQUESTS,
                PLAIN,
                "Too many authentication attempts at once; try again\n",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    };
    refused
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
}

async fn route(shared: &Shared, req: &Request<Incoming>) -> Answer {
    let agent = &shared.agent;
    let method = req.method();
    let path = req.uri().path();
    let get = method == Method::GET || method == Method::HEAD;
    match path {
        "/metrics" | "/findings" | "/probe" | "/-/healthy" | "/-/ready" | "/" if !get => {
            not_allowed("GET, HEAD")
        }
        "/metrics" => metrics(shared, accepts_gzip(req)).await,
        "/probe" => {
            let scrape_timeout = req
                .headers()
                .get("x-prometheus-scrape-timeout-seconds")
                .and_then(|v| v.to_str().ok());
            let a = super::blackbox::handle(agent, req.uri().query(), scrape_timeout).await;
            text(a.status, a.content_type, a.body)
        }
        "/findings" => match req.uri().query().filter(|q| !q.is_empty()) {
            None => findings(shared, accepts_gzip(req)).await,
            Some(q) => findings_page(agent, q),
        },
        "/-/healthy" => text(StatusCode::OK, PLAIN, "Healthy\n"),
        "/-/ready" => ready(agent),
        "/-/reload" => {
            if method != Method::POST && method != Method::PUT {
                return not_allowed("POST, PUT");
            }
            reload(shared).await
        }
        "/" => status(shared, req).await,
        _ => text(StatusCode::NOT_FOUND, PLAIN, "Not found\n"),
    }
}

/// Whether the client takes a gzip-compressed body (`Accept-Encoding: gzip`, as Prometheus
/// sends; `gzip;q=0` refuses it).
fn accepts_gzip(req: &Request<Incoming>) -> bool {
    takes_gzip(req.headers())
}

fn takes_gzip(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `body` compressed with gzip at the fastest level: at 10,000 checks the metrics page's 10 MB
/// become about a tenth of that, for a few tens of milliseconds.
fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    match z.write_all(body).and_then(|()| z.finish()) {
        Ok(out) => Bytes::from(out),
        Err(e) => Bytes::from(format!("compressing failed: {e}\n")),
    }
}

/// A rendered page, compressed if asked: the answer with its content type and encoding.
fn page_answer(
    page: Option<Bytes>,
    content_type: &'static str,
    gzipped: bool,
    what: &str,
) -> Answer {
    match page {
        Some(page) => {
            let mut r = text(StatusCode::OK, content_type, page);
            if gzipped {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            r
        }
        None => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            PLAIN,
            format!("rendering the {what} failed (a bug; see the log)\n"),
        ),
    }
}

/// `/metrics`: 10,000 checks are some 70,000 lines, encoded off the runtime's workers, once for
/// every scrape that arrives while they are (and compressed once, for those that take gzip).
async fn metrics(shared: &Shared, gzipped: bool) -> Answer {
    let a = shared.agent.clone();
    let render = move || {
        // The per-check lines are written from the checks themselves, under the world's lock.
        let w = a.world();
        a.metrics.set_findings(w.findings());
        a.metrics.encode(w.series())
    };
    let page = if gzipped {
        shared
            .metrics_page_gzip
            .get(move || {
                let plain = render();
                gzip(plain.as_bytes())
            })
            .await
    } else {
        shared.metrics_page.get(move || Bytes::from(render())).await
    };
    page_answer(
        page,
        "text/plain; version=0.0.4; charset=utf-8",
        gzipped,
        "metrics",
    )
}

/// `/findings`: the report of every check, as `probe check --output json` prints it.
async fn findings(shared: &Shared, gzipped: bool) -> Answer {
    let a = shared.agent.clone();
    let render = move || {
        let report = a.world().report();
        match serde_json::to_vec_pretty(&report) {
            Ok(mut body) => {
                body.push(b'\n');
                body
            }
            Err(e) => format!("{{\"error\": \"{e}\"}}\n").into_bytes(),
        }
    };
    let page = if gzipped {
        shared.findings_page_gzip.get(move || gzip(&render())).await
    } else {
        shared
            .findings_page
            .get(move || Bytes::from(render()))
            .await
    };
    page_answer(page, "application/json", gzipped, "findings")
}

/// The most findings one page holds.
const MAX_PAGE: usize = 10_000;

/// `/findings?offset=N&limit=M&failing=true`: one page of the findings, for fleets whose whole
/// report is too big to fetch at once. `summary` counts every finding the filter keeps;
/// `page.next` is the query of the next page, `null` on the last.
fn findings_page(agent: &Agent, query: &str) -> Answer {
    let mut offset = 0usize;
    let mut limit = 1000usize;
    let mut failing = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |why: &str| {
            text(
                StatusCode::BAD_REQUEST,
                PLAIN,
                format!("/findings: {k}={v:?}: {why}\n"),
            )
        };
        match k {
            "offset" => match v.parse() {
                Ok(n) => offset = n,
                Err(_) => return bad("not a number"),
            },
            "limit" => match v.parse() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => return bad(&format!("not a number from 1 to {MAX_PAGE}")),
            },
            "failing" => match v {
                "true" | "1" | "" => failing = true,
                "false" | "0" => failing = false,
                _ => return bad("true or false"),
            },
            _ => return bad("unknown parameter (offset, limit, failing)"),
        }
    }
    let (report, total) = agent.world().report_page(offset, limit, failing);
    let end = offset.saturating_add(report.findings.len());
    let next = (end < total).then(|| {
        format!(
            "/findings?offset={end}&limit={limit}{}",
            if failing { "&failing=true" } else { "" }
        )
    });
    let mut body = match serde_json::to_value(&report) {
        Ok(v) => v,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                format!("rendering the findings failed: {e}\n"),
            );
        }
    };
    body["page"] = serde_json::json!({
        "offset": offset,
        "limit": limit,
        "total": total,
        "next": next,
    });
    let mut bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    bytes.push(b'\n');
    text(StatusCode::OK, "application/json", Bytes::from(bytes))
}

/// `/`: the live status page (or, with `fragment`, the part its script swaps in), filtered
/// and paged as asked; rendered off the runtime's workers, compressed for a client that takes
/// gzip.
async fn status(shared: &Shared, req: &Request<Incoming>) -> Answer {
    let q = match super::status::StatusQuery::parse(req.uri().query()) {
        Ok(q) => q,
        Err(e) => return text(StatusCode::BAD_REQUEST, PLAIN, format!("/: {e}\n")),
    };
    let gzipped = accepts_gzip(req);
    let agent = shared.agent.clone();
    let page = tokio::task::spawn_blocking(move || {
        let about = super::status::About {
            shard: agent.settings.shard.map(|s| s.to_string()),
            now: std::time::Instant::now(),
            now_unix: super::unix_now(),
        };
        let body = super::status::render(&agent.world(), &q, &about);
        if gzipped {
            gzip(body.as_bytes())
        } else {
            Bytes::from(body)
        }
    })
    .await
    .ok();
    let mut r = page_answer(page, "text/html; charset=utf-8", gzipped, "status page");
    if r.status() == StatusCode::OK {
        let h = r.headers_mut();
        if let Ok(csp) = HeaderValue::from_str(&super::status::CSP) {
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    r
}

/// `/-/ready`: 200 once every check has been probed once.
fn ready(agent: &Agent) -> Answer {
    let (done, total) = agent.world().observed();
    if done == total {
        text(
            StatusCode::OK,
            PLAIN,
            format!("Ready: {total} checks probed\n"),
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            format!("Not ready: {done} of {total} checks probed once\n"),
        )
    }
}

/// `/-/reload`: waits for the reload at most the request timeout (see [`super`]'s rules).
async fn reload(shared: &Shared) -> Answer {
    let agent = &shared.agent;
    let ticket = agent.request_reload();
    let wait = shared.limits.request_timeout;
    match tokio::time::timeout(wait, agent.reload_done(ticket)).await {
        Ok(Ok(n)) => text(StatusCode::OK, PLAIN, format!("Reloaded: {n} checks\n")),
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            PLAIN,
            format!("Reload failed; the running configuration stays:\n{e}\n"),
        ),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            format!(
                "request timed out: the configuration is still being read after {}; \
                 the reload goes on, and its result will be applied (or refused), logged \
                 and counted in probe_agent_config_reloads_total when the read ends\n",
                humantime::format_duration(wait)
            ),
        ),
    }
}

fn not_allowed(allow: &'static str) -> Answer {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        PLAIN,
        "Method not allowed\n",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takes(values: &[&str]) -> bool {
        let mut h = hyper::HeaderMap::new();
        for v in values {
            h.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(v).expect("header"),
            );
        }
        takes_gzip(&h)
    }

    #[test]
    fn gzip_is_used_only_when_the_client_takes_it() {
        // What Prometheus sends, and what curl --compressed sends.
        assert!(takes(&["gzip"]));
        assert!(takes(&["deflate, gzip, br, zstd"]));
        assert!(takes(&["identity", "GZIP;q=0.5"]));
        assert!(takes(&["*"]));
        assert!(!takes(&[]));
        assert!(!takes(&["identity"]));
        assert!(!takes(&["gzip;q=0"]));
        assert!(!takes(&["br, gzip; q=0.0"]));
        assert!(!takes(&["xgzip"]));
    }

    #[test]
    fn a_gzipped_page_decompresses_to_the_page() {
        use std::io::Read as _;
        let page = "probe_success{backend=\"web-1\"} 1\n".repeat(1000);
        let z = gzip(page.as_bytes());
        assert!(z.len() < page.len() / 10, "{} bytes", z.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut back)
            .expect("gunzip");
        assert_eq!(back, page);
    }
}
