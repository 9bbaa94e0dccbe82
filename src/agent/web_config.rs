//! The web configuration of `probe agent` (`--web-config`): TLS, HTTP basic auth and extra
//! response headers, in the file format of the Prometheus exporter-toolkit, so the file an
//! operator already keeps for node_exporter works here too. `docs/agent-web-config.md` is the
//! user's reference.
//!
//! `parse` is pure: it checks the YAML, the enumerations, the bcrypt hashes and the headers, and
//! resolves file names against the web configuration file's directory. `build` reads the PEM
//! files through the reader it is given and builds the [`rustls::ServerConfig`], so a bad
//! certificate is found at start-up rather than at the first handshake. `load` (the reading is
//! `config::files`') reads the file, then parses and builds.
//!
//! | field                                           | accepted                                                       | differs from exporter-toolkit                                   |
//! |-------------------------------------------------|----------------------------------------------------------------|-----------------------------------------------------------------|
//! | `tls_server_config.cert_file` / `cert`          | PEM chain, leaf first; file or inline, not both                | both set is an error (exporter-toolkit takes the file)          |
//! | `tls_server_config.key_file` / `key`            | PEM key: PKCS#8, PKCS#1 or SEC1; file or inline, not both      | both set is an error                                            |
//! | `tls_server_config.client_auth_type`            | `NoClientCert`, `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert` | `RequestClientCert`, `RequireAnyClientCert` (they verify nothing) are refused |
//! | `tls_server_config.client_ca_file` / `client_ca`| PEM CA certificates the client certificate must chain to       | required by the two verifying types (Go falls back to system roots) |
//! | `tls_server_config.min_version` / `max_version` | `TLS12` (default min), `TLS13` (default max)                   | `TLS10`, `TLS11` refused: rustls has no TLS 1.0/1.1             |
//! | `tls_server_config.prefer_server_cipher_suites` | boolean, default `true`: the server's suite order wins         | —                                                               |
//! | `tls_server_config.cipher_suites`, `curve_preferences`, `client_allowed_sans` | refused, naming the field          | rustls' defaults apply                                          |
//! | `http_server_config.headers`                    | the exporter-toolkit allow-list and values; blank means unset  | —                                                               |
//! | `http_server_config.http2`                      | accepted; `true` gives a warning: the agent serves HTTP/1.1    | HTTP/2 is never offered                                         |
//! | `basic_auth_users`                              | user → bcrypt hash, checked at load time                       | —                                                               |
//! | `rate_limit`, `basic_auth_excluded_paths`       | refused, naming the field                                      | not implemented                                                 |
//!
//! A `tls_server_config` with any field set means TLS is wanted, so it must name a certificate and
//! a key; exporter-toolkit silently serves plain HTTP when only, say, `min_version` is set. The file
//! and the certificates are read once, by `load`; exporter-toolkit re-reads them per request and
//! per handshake.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{InconsistentKeys, RootCertStore, SupportedProtocolVersion};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::config::ConfigError;
use crate::files::{PEM_LIMIT, YAML_LIMIT, read_file};

/// Everything the agent's HTTP server needs from the web configuration. `load` gives it ready
/// to use; `parse` gives the same with the TLS settings not yet read from their files
/// (`RawWebConfig`).
pub(crate) struct WebConfig<Tls = Arc<ServerConfig>> {
    /// `None`: serve plain HTTP. Once built, ALPN offers `http/1.1` only.
    pub tls: Option<Tls>,
    /// User name → bcrypt hash, each hash checked at load time. Empty: no authentication, as in
    /// exporter-toolkit.
    pub basic_auth_users: BTreeMap<String, String>,
    /// Extra response headers (name, value), sorted by name, blank values left out.
    pub headers: Vec<(String, String)>,
    /// Settings accepted but not honoured, each naming the file and field, for the caller to log.
    pub warnings: Vec<String>,
}

/// A web configuration checked as far as possible without reading other files: what [`parse`]
/// returns and [`build`] turns into a [`WebConfig`].
pub(crate) type RawWebConfig = WebConfig<TlsSettings>;

impl<Tls: fmt::Debug> fmt::Debug for WebConfig<Tls> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hashes stay out of logs.
        f.debug_struct("WebConfig")
            .field("tls", &self.tls)
            .field("basic_auth_users", &self.basic_auth_users.keys())
            .field("headers", &self.headers)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// `tls_server_config`, validated; file names already joined to the configuration's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// The server's certificate chain, leaf first.
    pub(crate) cert: Pem,
    /// The leaf certificate's private key.
    pub(crate) key: Pem,
    pub(crate) client_auth: ClientAuth,
    /// Set exactly when `client_auth` verifies certificates.
    pub(crate) client_ca: Option<Pem>,
    /// `min_version <= max_version`, checked.
    pub(crate) min_version: TlsVersion,
    pub(crate) max_version: TlsVersion,
    /// Becomes rustls' `ignore_client_order`: the server's cipher suite order wins.
    pub(crate) prefer_server_cipher_suites: bool,
}

/// Where PEM text comes from: a file (`cert_file`) or the YAML itself (`cert`). Keeps the field
/// name so errors about the content can point at it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pem {
    /// The field, e.g. `tls_server_config.key_file`.
    pub(crate) field: &'static str,
    pub(crate) source: PemSource,
}

/// The two ways exporter-toolkit lets a file give PEM text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PemSource {
    /// Already joined to the web configuration file's directory.
    File(PathBuf),
    /// May be a private key: never printed.
    Inline(String),
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => f.debug_tuple("File").field(p).finish(),
            PemSource::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.field, self.describe())
    }
}

impl Pem {
    /// How messages name the PEM text: the file name, or "the inline value".
    fn describe(&self) -> String {
        match &self.source {
            PemSource::File(p) => p.display().to_string(),
            PemSource::Inline(_) => "the inline value".to_string(),
        }
    }

    /// The PEM text: inline, or the file's bytes as `read` gives them.
    fn read(&self, file: &Path, read: ReadFile) -> Result<Vec<u8>, ConfigError> {
        match &self.source {
            PemSource::File(p) => {
                read(p).map_err(|e| message_error(file, self.field, e.to_string()))
            }
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// `client_auth_type`: whether the server asks for a client certificate and what it does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No certificate is asked for (the default).
    NoClientCert,
    /// A certificate, if sent, must chain to the client CA; clients without one are let in.
    VerifyClientCertIfGiven,
    /// Only clients with a certificate chaining to the client CA are let in.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    const NAMES: &str = "NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert";

    fn verifies(self) -> bool {
        self != ClientAuth::NoClientCert
    }
}

impl FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "" | "NoClientCert" => Ok(ClientAuth::NoClientCert),
            "VerifyClientCertIfGiven" => Ok(ClientAuth::VerifyClientCertIfGiven),
            "RequireAndVerifyClientCert" => Ok(ClientAuth::RequireAndVerifyClientCert),
            "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => Err(format!(
                "{s} is not supported: it accepts client certificates without verifying them; \
                 use RequireAndVerifyClientCert with client_ca_file"
            )),
            _ => Err(format!(
                "unknown client_auth_type `{s}`, expected {}",
                Self::NAMES
            )),
        }
    }
}

/// `min_version` / `max_version`. rustls speaks TLS 1.2 and 1.3 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    /// `TLS12`, the default `min_version`.
    Tls12,
    /// `TLS13`, the default `max_version`.
    Tls13,
}

impl TlsVersion {
    fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

impl FromStr for TlsVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{s} is not supported: the agent's TLS library (rustls) speaks TLS 1.2 and 1.3 \
                 only; use TLS12 or TLS13"
            )),
            _ => Err(format!(
                "unknown TLS version `{s}`, expected TLS12 or TLS13"
            )),
        }
    }
}

/// Reads, checks and builds the web configuration at `path`; the reading is
/// [`crate::files`]'s, like every file the configuration names.
/// Reads, checks and builds the agent's web configuration at `path`, reading the PEM files it
/// names ([`build`] does the checking).
pub(crate) fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let bytes = read_file(path, YAML_LIMIT)?;
    let raw = parse(&bytes, path)?;
    build(raw, path, read_pem).map_err(|e| crate::config::yaml::place(e, &bytes))
}

/// A certificate, key or CA file named by the web configuration.
fn read_pem(path: &Path) -> Result<Vec<u8>, ConfigError> {
    read_file(path, PEM_LIMIT)
}

/// How [`build`] reads the PEM files: [`crate::files`] gives the real one, with its limit.
pub(crate) type ReadFile = fn(&Path) -> Result<Vec<u8>, ConfigError>;

/// Parses and checks a web configuration without reading the files it names. `file` is where
/// the bytes came from: errors name it, and relative file names are joined to its directory (as
/// exporter-toolkit does). An empty document is a valid configuration: plain HTTP, no auth.
pub(crate) fn parse(bytes: &[u8], file: &Path) -> Result<RawWebConfig, ConfigError> {
    let doc: Option<Document> = crate::config::yaml::parse_document(bytes, file)?;
    let doc = doc.unwrap_or_default();
    let mut warnings = Vec::new();
    let mut headers = Vec::new();
    if let Some(http) = doc.http_server_config {
        if http.http2 == Some(true) {
            warnings.push(format!(
                "{}: http_server_config.http2: HTTP/2 is not offered; the agent serves HTTP/1.1 only",
                file.display()
            ));
        }
        headers = http.headers.map(|h| h.0).unwrap_or_default();
    }
    let basic_auth_users = doc
        .basic_auth_users
        .map(|u| u.0)
        .unwrap_or_default()
        .into_iter()
        .map(|(user, hash)| (user, hash.0))
        .collect();
    let tls = match doc.tls_server_config {
        Some(t) => tls_settings(t, file).map_err(|e| crate::config::yaml::place(e, bytes))?,
        None => None,
    };
    Ok(RawWebConfig {
        tls,
        basic_auth_users,
        headers,
        warnings,
    })
}

/// Reads the certificate, key and client CA files with `read` and builds the TLS server
/// configuration.
pub(crate) fn build(
    raw: RawWebConfig,
    file: &Path,
    read: ReadFile,
) -> Result<WebConfig, ConfigError> {
    let tls = match &raw.tls {
        Some(settings) => Some(server_config(settings, file, read)?),
        None => None,
    };
    Ok(WebConfig {
        tls,
        basic_auth_users: raw.basic_auth_users,
        headers: raw.headers,
        warnings: raw.warnings,
    })
}

fn server_config(
    tls: &TlsSettings,
    file: &Path,
    read: ReadFile,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certificates(&tls.cert, file, read)?;
    if let Some(leaf) = certs.first() {
        ParsedCertificate::try_from(leaf).map_err(|e| {
            message_error(
                file,
                tls.cert.field,
                format!(
                    "{}: the first certificate is not usable: {e}",
                    tls.cert.describe()
                ),
            )
        })?;
    }
    let key = read_key(&tls.key, file, read)?;
    let verifier = client_verifier(tls, file, read, &provider)?;
    let versions: Vec<&'static SupportedProtocolVersion> = [TlsVersion::Tls12, TlsVersion::Tls13]
        .into_iter()
        .filter(|v| (tls.min_version..=tls.max_version).contains(v))
        .map(TlsVersion::rustls)
        .collect();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| {
            message_error(
                file,
                "tls_server_config.min_version",
                format!("rustls refuses the versions: {e}"),
            )
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| key_error(tls, file, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    Ok(Arc::new(config))
}

/// What checks client certificates: nothing, unless `client_auth_type` verifies them against the
/// client CA.
fn client_verifier(
    tls: &TlsSettings,
    file: &Path,
    read: ReadFile,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, ConfigError> {
    let ca = match (&tls.client_ca, tls.client_auth) {
        (Some(ca), auth) if auth.verifies() => ca,
        _ => return Ok(WebPkiClientVerifier::no_client_auth()),
    };
    let mut roots = RootCertStore::empty();
    for (i, cert) in read_certificates(ca, file, read)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            message_error(
                file,
                ca.field,
                format!(
                    "{}: certificate {} is not a usable CA: {e}",
                    ca.describe(),
                    i + 1
                ),
            )
        })?;
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if tls.client_auth == ClientAuth::VerifyClientCertIfGiven {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map_err(|e| {
        message_error(
            file,
            ca.field,
            format!("{}: cannot verify clients with it: {e}", ca.describe()),
        )
    })
}

/// Why rustls refused the certificate and key pair.
fn key_error(tls: &TlsSettings, file: &Path, e: rustls::Error) -> ConfigError {
    match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => message_error(
            file,
            tls.key.field,
            format!(
                "the key in {} does not match the certificate in {}",
                tls.key.describe(),
                tls.cert.describe()
            ),
        ),
        other => message_error(
            file,
            tls.key.field,
            format!("{}: cannot use the key: {other}", tls.key.describe()),
        ),
    }
}

/// All certificates of a PEM text, in order; none is an error.
fn read_certificates(
    pem: &Pem,
    file: &Path,
    read: ReadFile,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = pem.read(file, read)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            message_error(
                file,
                pem.field,
                format!("{}: not valid PEM: {e}", pem.describe()),
            )
        })?;
    if certs.is_empty() {
        return Err(message_error(
            file,
            pem.field,
            format!(
                "no certificate (-----BEGIN CERTIFICATE-----) in {}",
                pem.describe()
            ),
        ));
    }
    Ok(certs)
}

fn read_key(pem: &Pem, file: &Path, read: ReadFile) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bytes = pem.read(file, read)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => format!(
                "no private key (PKCS#8, PKCS#1 or SEC1; not encrypted) in {}",
                pem.describe()
            ),
            other => format!("{}: not valid PEM: {other}", pem.describe()),
        };
        message_error(file, pem.field, why)
    })
}

/// An error about one field of the web configuration, found after parsing (no line known).
fn message_error(file: &Path, field: &str, message: String) -> ConfigError {
    ConfigError::Syntax {
        file: file.to_path_buf(),
        line: None,
        column: None,
        path: field.to_string(),
        message,
    }
}

fn tls_settings(mut doc: TlsDocument, file: &Path) -> Result<Option<TlsSettings>, ConfigError> {
    for text in [
        &mut doc.cert,
        &mut doc.key,
        &mut doc.client_ca,
        &mut doc.cert_file,
        &mut doc.key_file,
        &mut doc.client_ca_file,
    ] {
        *text = non_empty(text.take());
    }
    // Any field set means TLS is wanted; an empty section means plain HTTP.
    if doc == TlsDocument::default() {
        return Ok(None);
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    let pem = |inline, inline_field, path, path_field| {
        pem_source(file, dir, (inline, inline_field), (path, path_field))
    };
    let cert = pem(
        doc.cert,
        "tls_server_config.cert",
        doc.cert_file,
        "tls_server_config.cert_file",
    )?;
    let key = pem(
        doc.key,
        "tls_server_config.key",
        doc.key_file,
        "tls_server_config.key_file",
    )?;
    let client_ca = pem(
        doc.client_ca,
        "tls_server_config.client_ca",
        doc.client_ca_file,
        "tls_server_config.client_ca_file",
    )?;
    let missing = |what: &str| {
        message_error(
            file,
            "tls_server_config",
            format!("{what}: TLS needs both a certificate and its key"),
        )
    };
    let cert = cert.ok_or_else(|| missing("missing cert_file (or an inline cert)"))?;
    let key = key.ok_or_else(|| missing("missing key_file (or an inline key)"))?;
    let client_auth = doc
        .client_auth_type
        .map(|a| a.0)
        .unwrap_or(ClientAuth::NoClientCert);
    check_client_ca(client_ca.as_ref(), client_auth, file)?;
    let (min_version, max_version) = versions(
        doc.min_version.map(|v| v.0),
        doc.max_version.map(|v| v.0),
        file,
    )?;
    Ok(Some(TlsSettings {
        cert,
        key,
        client_auth,
        client_ca,
        min_version,
        max_version,
        prefer_server_cipher_suites: doc.prefer_server_cipher_suites.unwrap_or(true),
    }))
}

/// Where one PEM text comes from: inline or a file (joined to `dir`), not both.
fn pem_source(
    file: &Path,
    dir: &Path,
    (inline, inline_field): (Option<String>, &'static str),
    (path, path_field): (Option<String>, &'static str),
) -> Result<Option<Pem>, ConfigError> {
    match (inline, path) {
        (Some(_), Some(_)) => Err(message_error(
            file,
            path_field,
            format!("set {path_field} or {inline_field}, not both"),
        )),
        (Some(text), None) => Ok(Some(Pem {
            field: inline_field,
            source: PemSource::Inline(text),
        })),
        (None, Some(p)) => Ok(Some(Pem {
            field: path_field,
            source: PemSource::File(dir.join(p)),
        })),
        (None, None) => Ok(None),
    }
}

/// A client CA exactly when `client_auth_type` verifies client certificates.
fn check_client_ca(
    client_ca: Option<&Pem>,
    client_auth: ClientAuth,
    file: &Path,
) -> Result<(), ConfigError> {
    match (client_ca, client_auth.verifies()) {
        (Some(ca), false) => Err(message_error(
            file,
            ca.field,
            "a client CA is set but client_auth_type is NoClientCert; \
             set client_auth_type: RequireAndVerifyClientCert"
                .to_string(),
        )),
        (None, true) => Err(message_error(
            file,
            "tls_server_config.client_auth_type",
            format!(
                "{client_auth:?} needs client_ca_file (or an inline client_ca) to verify \
                 client certificates against"
            ),
        )),
        _ => Ok(()),
    }
}

/// `min_version` and `max_version` with their defaults, in order.
fn versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
    file: &Path,
) -> Result<(TlsVersion, TlsVersion), ConfigError> {
    let min_version = min.unwrap_or(TlsVersion::Tls12);
    let max_version = max.unwrap_or(TlsVersion::Tls13);
    if min_version > max_version {
        return Err(message_error(
            file,
            "tls_server_config.min_version",
            format!(
                "min_version {} is above max_version {}",
                min_version.name(),
                max_version.name()
            ),
        ));
    }
    Ok((min_version, max_version))
}

/// exporter-toolkit treats an empty string as an unset field.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

// ---- The serde form of the file. ----

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the web configuration: a mapping with tls_server_config, http_server_config, basic_auth_users"
)]
struct Document {
    tls_server_config: Option<TlsDocument>,
    http_server_config: Option<HttpDocument>,
    basic_auth_users: Option<Users>,
    #[serde(rename = "rate_limit", default, deserialize_with = "refuse_rate_limit")]
    _rate_limit: Option<()>,
    #[serde(
        rename = "basic_auth_excluded_paths",
        default,
        deserialize_with = "refuse_basic_auth_excluded_paths"
    )]
    _basic_auth_excluded_paths: Option<()>,
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "tls_server_config: a mapping with cert_file, key_file, ..."
)]
struct TlsDocument {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_ca_file: Option<String>,
    client_auth_type: Option<Parsed<ClientAuth>>,
    min_version: Option<Parsed<TlsVersion>>,
    max_version: Option<Parsed<TlsVersion>>,
    prefer_server_cipher_suites: Option<bool>,
    #[serde(
        rename = "cipher_suites",
        default,
        deserialize_with = "refuse_cipher_suites"
    )]
    _cipher_suites: Option<()>,
    #[serde(
        rename = "curve_preferences",
        default,
        deserialize_with = "refuse_curve_preferences"
    )]
    _curve_preferences: Option<()>,
    #[serde(
        rename = "client_allowed_sans",
        default,
        deserialize_with = "refuse_client_allowed_sans"
    )]
    _client_allowed_sans: Option<()>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "http_server_config: a mapping with headers, http2"
)]
struct HttpDocument {
    http2: Option<bool>,
    headers: Option<Headers>,
}

/// A value parsed with its `FromStr`, whose error message becomes the YAML error at its line.
#[derive(Debug, PartialEq, Eq)]
struct Parsed<T>(T);

impl<'de, T: FromStr<Err = String>> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Text(|s: String| s.parse().map(Parsed)))
    }
}

/// `basic_auth_users`: a user listed twice is an error (YAML would keep the last hash silently).
#[derive(Debug)]
struct Users(BTreeMap<String, BcryptHash>);

impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Users;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of user name to bcrypt hash")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Users, A::Error> {
                let mut users = BTreeMap::new();
                while let Some(user) = map.next_key::<String>()? {
                    if users.contains_key(&user) {
                        let why = format!("user {user} is listed twice");
                        map.next_value_seed(Twice(why))?;
                    }
                    let hash = map.next_value::<BcryptHash>()?;
                    users.insert(user, hash);
                }
                Ok(Users(users))
            }
        }
        d.deserialize_map(V)
    }
}

/// The value of a key seen before: an error carrying the value's line and column.
struct Twice(String);

impl<'de> DeserializeSeed<'de> for Twice {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let why = self.0;
        d.deserialize_any(Text(move |_: String| Err::<(), String>(why)))
    }
}

/// A bcrypt hash, checked when read so a typo fails at start-up, not at the first scrape.
#[derive(Debug)]
struct BcryptHash(String);

impl<'de> Deserialize<'de> for BcryptHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Text(|hash: String| {
            check_bcrypt(&hash).map(|()| BcryptHash(hash))
        }))
    }
}

/// Checks what Go's `bcrypt.Cost` checks: the format and a cost in 4..=31. The hash itself is
/// not echoed: it is a secret.
fn check_bcrypt(hash: &str) -> Result<(), String> {
    let hint = "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`";
    let parts = bcrypt::HashParts::from_str(hash)
        .map_err(|e| format!("not a bcrypt hash ({e}); {hint}"))?;
    let cost = parts.get_cost();
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is outside 4..=31; {hint}"));
    }
    Ok(())
}

/// The headers exporter-toolkit lets a web configuration add, with the values it allows (empty:
/// any value).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Content-Security-Policy", &[]),
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
];

/// `http_server_config.headers`, each entry checked as it is read so the error has its line.
#[derive(Debug)]
struct Headers(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = Headers;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of header names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
        let mut headers = Vec::new();
        let mut seen = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if seen.contains(&name) {
                map.next_value_seed(Twice(format!("header {name} is set twice")))?;
            }
            seen.push(name.clone());
            if let Some(value) = map.next_value_seed(HeaderValue { name: &name })? {
                headers.push((name, value));
            }
        }
        headers.sort();
        Ok(Headers(headers))
    }
}

/// Reads one header's value knowing its name, so the error lands on the entry's line and path.
struct HeaderValue<'a> {
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for HeaderValue<'_> {
    /// `None` for a blank value: the header is not set.
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(Text(|value: String| {
            check_header(self.name, &value).map(|()| (!value.is_empty()).then_some(value))
        }))
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
        if let Some((canonical, _)) = ALLOWED_HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(format!(
                "header {name} cannot be configured: names are case-sensitive here, as in \
                 exporter-toolkit; write {canonical}"
            ));
        }
        let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "header {name} cannot be configured; allowed (as in exporter-toolkit): {}",
            names.join(", ")
        ));
    };
    if !value.is_empty() && !allowed.is_empty() && !allowed.contains(&value) {
        return Err(format!(
            "{value:?} is not a valid {name}, expected one of: {}",
            allowed.join(", ")
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!(
            "the value holds the control character {c:?}, which no header may contain"
        ));
    }
    Ok(())
}

/// Reads any YAML scalar as text (`X-XSS-Protection: 0` is a number to YAML and text to HTTP)
/// and checks it while the deserializer still holds the value, so an error gets its line and
/// column rather than those of the enclosing section.
struct Text<F>(F);

impl<F> Text<F> {
    fn check<V, E: de::Error>(self, text: String) -> Result<V, E>
    where
        F: FnOnce(String) -> Result<V, String>,
    {
        (self.0)(text).map_err(E::custom)
    }
}

impl<V, F: FnOnce(String) -> Result<V, String>> Visitor<'_> for Text<F> {
    type Value = V;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V, E> {
        self.check(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V, E> {
        self.check(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V, E> {
        self.check(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V, E> {
        self.check(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V, E> {
        self.check(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<V, E> {
        self.check(String::new())
    }
}

/// Fails on a field exporter-toolkit knows and the agent does not honour, rather than ignoring it.
/// The error is raised from inside the visitor so that it carries the value's line and column.
fn refuse<'de, D: Deserializer<'de>>(d: D, why: &'static str) -> Result<Option<()>, D::Error> {
    d.deserialize_any(Refused(why))
}

struct Refused(&'static str);

impl Refused {
    fn error<E: de::Error>(self) -> Result<Option<()>, E> {
        Err(E::custom(format!(
            "not supported by probe agent: {}; remove the field",
            self.0
        )))
    }
}

impl<'de> Visitor<'de> for Refused {
    type Value = Option<()>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing: the field is not supported")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<()>, E> {
        self.error()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<()>, E> {
        self.error()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<()>, E> {
        self.error()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<()>, E> {
        self.error()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<()>, E> {
        self.error()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<()>, E> {
        self.error()
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Option<()>, A::Error> {
        self.error()
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Option<()>, A::Error> {
        self.error()
    }
}

fn refuse_rate_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    refuse(d, "there is no rate limiter")
}

fn refuse_basic_auth_excluded_paths<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<()>, D::Error> {
    refuse(d, "every path asks for basic auth when users are set")
}

fn refuse_cipher_suites<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    refuse(d, "rustls' own cipher suites are used")
}

fn refuse_curve_preferences<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    refuse(d, "rustls' own key exchange groups are used")
}

fn refuse_client_allowed_sans<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    refuse(
        d,
        "client certificates are checked against client_ca_file only, not their SANs",
    )
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

    fn parsed(text: &str) -> RawWebConfig {
        match parse(text.as_bytes(), Path::new("/etc/probe/web.yml")) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text.as_bytes(), Path::new("web.yml")) {
            Ok(c) => panic!("parsed: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parse_errors_name_file_place_field_and_value() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "unknown field",
                "tls_server_config:\n  cert_file: a.crt\n  keyfile: a.key\n",
                &["web.yml:3:3: tls_server_config.keyfile: unknown field `keyfile`"],
            ),
            (
                "missing key_file",
                "tls_server_config:\n  cert_file: a.crt\n",
                &["web.yml:2:3: tls_server_config: missing key_file"],
            ),
            (
                "missing cert_file",
                "tls_server_config:\n  key_file: a.key\n",
                &["web.yml:2:3: tls_server_config: missing cert_file"],
            ),
            (
                "only a version: TLS is wanted but has no certificate",
                "tls_server_config:\n  min_version: TLS13\n",
                &["missing cert_file"],
            ),
            (
                "cert and cert_file",
                "tls_server_config:\n  cert: x\n  cert_file: a.crt\n  key_file: a.key\n",
                &[
                    "tls_server_config.cert_file: set tls_server_config.cert_file or tls_server_config.cert, not both",
                ],
            ),
            (
                "bad client_auth_type",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Always\n",
                &[
                    "web.yml:4:21: tls_server_config.client_auth_type: unknown client_auth_type `Always`",
                ],
            ),
            (
                "unverified client certificates",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
                &["tls_server_config.client_auth_type: RequireAnyClientCert is not supported"],
            ),
            (
                "verification without a CA",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                &[
                    "tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file",
                ],
            ),
            (
                "a CA without verification",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca.crt\n",
                &[
                    "tls_server_config.client_ca_file: a client CA is set but client_auth_type is NoClientCert",
                ],
            ),
            (
                "TLS10",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                &[
                    "web.yml:4:16: tls_server_config.min_version: TLS10 is not supported",
                    "TLS12 or TLS13",
                ],
            ),
            (
                "unknown version",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: SSL3\n",
                &["tls_server_config.max_version: unknown TLS version `SSL3`"],
            ),
            (
                "min above max",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                &["tls_server_config.min_version: min_version TLS13 is above max_version TLS12"],
            ),
            (
                "cipher_suites",
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
                &[
                    "web.yml:4:",
                    "tls_server_config.cipher_suites: not supported by probe agent",
                ],
            ),
            (
                "client_allowed_sans",
                "tls_server_config:\n  client_allowed_sans: [a.example]\n",
                &["tls_server_config.client_allowed_sans: not supported"],
            ),
            (
                "rate_limit",
                "rate_limit:\n  interval: 1s\n  burst: 5\n",
                &["rate_limit: not supported by probe agent"],
            ),
            (
                "paths without auth",
                "basic_auth_excluded_paths:\n  - /-/healthy\n",
                &["web.yml:2:3: basic_auth_excluded_paths: not supported by probe agent"],
            ),
            (
                "malformed bcrypt hash",
                "basic_auth_users:\n  alice: $2y$10$short\n",
                &[
                    "web.yml:2:10: basic_auth_users.alice: not a bcrypt hash",
                    "htpasswd",
                ],
            ),
            (
                "plain password instead of a hash",
                "basic_auth_users:\n  bob: hunter2\n",
                &["basic_auth_users.bob: not a bcrypt hash"],
            ),
            (
                "bcrypt cost out of range",
                "basic_auth_users:\n  carol: $2y$99$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n",
                &["basic_auth_users.carol: bcrypt cost 99 is outside 4..=31"],
            ),
            (
                "header not allowed",
                "http_server_config:\n  headers:\n    Server: probe\n",
                &[
                    "web.yml:3:13: http_server_config.headers.Server: header Server cannot be configured",
                    "X-Frame-Options",
                ],
            ),
            (
                "header value not allowed",
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                &[
                    "http_server_config.headers.X-Frame-Options: \"allow\" is not a valid X-Frame-Options, expected one of: deny, sameorigin",
                ],
            ),
            (
                "header names are case-sensitive as in exporter-toolkit",
                "http_server_config:\n  headers:\n    x-frame-options: deny\n",
                &[
                    "header x-frame-options cannot be configured",
                    "write X-Frame-Options",
                ],
            ),
            (
                "a user twice",
                "basic_auth_users:\n  alice: '$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG'\n  bob: '$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG'\n  alice: '$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG'\n",
                &["web.yml:4:10: basic_auth_users.alice: user alice is listed twice"],
            ),
            (
                "a header twice",
                "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Frame-Options: sameorigin\n",
                &[
                    "web.yml:4:22: http_server_config.headers.X-Frame-Options: header X-Frame-Options is set twice",
                ],
            ),
            (
                "http section typo",
                "http_server_config:\n  http_2: false\n",
                &["web.yml:2:3: http_server_config.http_2: unknown field `http_2`"],
            ),
        ];
        for (name, yaml, wanted) in cases {
            let e = err(yaml);
            for w in *wanted {
                assert!(e.contains(w), "{name}: {e:?} lacks {w:?}");
            }
            assert!(!e.contains(HASH), "{name}: the hash is echoed: {e}");
        }
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        for text in [
            "",
            "# nothing yet\n",
            "tls_server_config:\nbasic_auth_users:\n",
        ] {
            let c = parsed(text);
            assert_eq!(c.tls, None, "{text:?}");
            assert!(c.basic_auth_users.is_empty() && c.headers.is_empty());
        }
    }

    #[test]
    fn full_file_resolves_paths_against_its_directory() {
        let c = parsed(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca: inline\n  \
             min_version: TLS13\n  prefer_server_cipher_suites: false\n\
             http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n    \
             X-XSS-Protection: 0\n    Content-Security-Policy: \"\"\n\
             basic_auth_users:\n  alice: {HASH}\n"
        ));
        let tls = c.tls.expect("TLS is configured");
        assert_eq!(
            tls.cert.source,
            PemSource::File(PathBuf::from("/etc/probe/server.crt"))
        );
        assert_eq!(
            tls.key.source,
            PemSource::File(PathBuf::from("/abs/server.key"))
        );
        assert_eq!(tls.key.field, "tls_server_config.key_file");
        assert_eq!(
            tls.client_ca.map(|p| p.field),
            Some("tls_server_config.client_ca")
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::Tls13, TlsVersion::Tls13)
        );
        assert!(!tls.prefer_server_cipher_suites);
        assert_eq!(
            c.headers,
            vec![
                ("X-Frame-Options".to_string(), "deny".to_string()),
                ("X-XSS-Protection".to_string(), "0".to_string()),
            ]
        );
        assert_eq!(
            c.basic_auth_users.get("alice").map(String::as_str),
            Some(HASH)
        );
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("web.yml: http_server_config.http2: HTTP/2 is not offered"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn inline_key_is_not_printed() {
        let c = parsed("tls_server_config:\n  cert: CERT\n  key: SECRET-KEY\n");
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET-KEY"), "{shown}");
        assert!(
            shown.contains("tls_server_config.key = the inline value"),
            "{shown}"
        );
    }

    /// A directory under the system temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("probe-web-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temporary directory");
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write test file");
            path
        }

        /// A self-signed P-256 certificate (`<name>.crt`) and its PKCS#8 key (`<name>.key`).
        fn certificate(&self, name: &str, ca: bool) {
            let constraints = if ca { "CA:TRUE" } else { "CA:FALSE" };
            openssl(
                &self.0,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=probe.test",
                    "-addext",
                    "subjectAltName=DNS:probe.test",
                    "-addext",
                    &format!("basicConstraints=critical,{constraints}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn load_err(path: &Path) -> String {
        match load(path) {
            Ok(c) => panic!("loaded: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn load_builds_a_server_config_from_relative_files() {
        let dir = TempDir::new("builds");
        dir.certificate("server", false);
        dir.certificate("ca", true);
        // SEC1 ("EC PRIVATE KEY") is accepted as well as PKCS#8.
        openssl(
            &dir.0,
            &["ec", "-in", "server.key", "-out", "server-sec1.key"],
        );
        let web = dir.write(
            "web.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server-sec1.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
        );
        let config = load(&web).expect("loads");
        let tls = config.tls.expect("TLS is on");
        assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(tls.ignore_client_order);

        let plain = dir.write(
            "plain.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             max_version: TLS12\n",
        );
        assert!(load(&plain).expect("loads").tls.is_some());
    }

    #[test]
    fn load_names_the_field_and_the_file_it_cannot_use() {
        let dir = TempDir::new("refused");
        dir.certificate("server", false);
        dir.certificate("other", false);
        dir.write("empty.crt", "");
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "a key that does not match the certificate",
                "server.crt",
                "other.key",
                &[
                    "web.yml:3:13: tls_server_config.key_file: the key in ",
                    "other.key does not match the certificate in ",
                    "server.crt",
                ],
            ),
            (
                "a missing certificate file",
                "nowhere.crt",
                "server.key",
                &[
                    "web.yml:2:14: tls_server_config.cert_file: ",
                    "nowhere.crt: cannot read",
                ],
            ),
            (
                "an empty certificate file",
                "empty.crt",
                "server.key",
                &["tls_server_config.cert_file: no certificate", "empty.crt"],
            ),
            (
                "a certificate given as the key",
                "server.crt",
                "server.crt",
                &["tls_server_config.key_file: no private key"],
            ),
        ];
        for (name, cert, key, wanted) in cases {
            let web = dir.write(
                "web.yml",
                &format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"),
            );
            let e = load_err(&web);
            for w in *wanted {
                assert!(e.contains(w), "{name}: {e:?} lacks {w:?}");
            }
        }
        let e = load_err(&dir.0.join("absent.yml"));
        assert!(e.contains("absent.yml: cannot read"), "{e}");
    }
}
