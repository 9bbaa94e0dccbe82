//! What an HTTP(S) probe adds to its observation: `observed.http` and `observed.tls`.

use serde::Serialize;

/// HTTP(S) result: `verdicts.md` §1 `observed.http`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpInfo {
    pub status: Option<u16>,
    pub matched: bool,
    /// Seconds spent in each phase; a phase not reached is absent.
    pub phases: HttpPhases,
    pub body_bytes: Option<u64>,
    /// True when the body was longer than the cap and reading stopped there.
    pub body_truncated: bool,
    /// The `Location` header of a redirect (redirects are never followed).
    pub location: Option<String>,
}

/// Phase durations in seconds, as blackbox_exporter's `probe_http_duration_seconds{phase}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HttpPhases {
    pub resolve: Option<f64>,
    pub connect: Option<f64>,
    pub tls: Option<f64>,
    pub processing: Option<f64>,
    pub transfer: Option<f64>,
}

/// TLS result: `verdicts.md` §1 `observed.tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TlsInfo {
    /// Negotiated version, e.g. `TLS1.3`; absent when the handshake failed.
    pub version: Option<String>,
    /// The leaf certificate's `notAfter`, RFC 3339; reported even when verification failed.
    pub not_after: Option<String>,
    /// Seconds until `not_after` (negative when expired), at the time of the probe.
    pub expires_in_s: Option<i64>,
    pub error: Option<String>,
}
