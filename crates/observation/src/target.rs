//! Targets as users write them, parsed into what to probe. Pure: no resolution, no I/O.
//!
//! | written                       | means                                                  |
//! |-------------------------------|--------------------------------------------------------|
//! | `10.0.0.5`, `web-1.internal`  | that host, on `--port` (ICMP needs no port)            |
//! | `10.0.0.5:8080`               | that host and port                                     |
//! | `[fd00::5]:8080`, `fd00::5`   | IPv6, in brackets when a port follows                  |
//! | `10.0.0.0/24`                 | every host address of the prefix, on `--port`          |
//! | `https://web-1:8443/health`   | protocol, host, port and path from the URL             |
//!
//! A URL's scheme picks the protocol of that target (`http`, `https`, `tcp`, `udp`, `icmp`);
//! otherwise `--protocol` does. HTTP defaults to port 80 and HTTPS to 443.
//!
//! ```
//! use probe_observation::target::{parse, Protocol, TargetDefaults};
//!
//! let targets = parse("https://web-1:8443/health", &TargetDefaults::default())?;
//! assert_eq!(targets[0].protocol, Protocol::Https);
//! assert_eq!(targets[0].port, Some(8443));
//! assert_eq!(targets[0].path, "/health");
//!
//! let subnet = TargetDefaults { port: Some(80), ..TargetDefaults::default() };
//! assert_eq!(parse("10.0.1.0/29", &subnet)?.len(), 6);
//! # Ok::<(), probe_observation::target::TargetError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::Serialize;

/// The most targets one run expands to. A /12 is already a million probes.
pub const MAX_TARGETS: usize = 1 << 20;

/// Probe protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Http,
    Https,
}

impl Protocol {
    pub const ALL: [Protocol; 5] = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Icmp,
        Protocol::Http,
        Protocol::Https,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    /// HTTP or HTTPS.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Https)
    }

    /// The port a URL of this protocol implies.
    fn default_port(self) -> Option<u16> {
        match self {
            Protocol::Http => Some(80),
            Protocol::Https => Some(443),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| TargetError::UnknownProtocol(s.to_string()))
    }
}

/// A host: a literal address or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// One thing to probe, before name resolution.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// How the target is shown and reported: `10.0.0.5:80`, `web-1`, `https://web-1/health`.
    pub label: String,
    pub host: Host,
    /// Destination port; `None` only for ICMP.
    pub port: Option<u16>,
    pub protocol: Protocol,
    /// HTTP request path (with query), `/` by default.
    pub path: String,
}

/// What applies to a target that does not say it itself.
#[derive(Debug, Clone)]
pub struct TargetDefaults {
    pub protocol: Protocol,
    pub port: Option<u16>,
    pub path: String,
}

impl Default for TargetDefaults {
    fn default() -> Self {
        TargetDefaults {
            protocol: Protocol::Tcp,
            port: None,
            path: "/".to_string(),
        }
    }
}

/// Why a target could not be parsed. Each variant names the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target")]
    Empty,
    #[error("invalid port {value:?} in target {target:?}: must be a number from 1 to 65535")]
    InvalidPort { target: String, value: String },
    #[error("target {target:?} has no port: give HOST:PORT or --port for {protocol}")]
    MissingPort { target: String, protocol: Protocol },
    #[error("invalid prefix {target:?}: {reason}")]
    InvalidCidr { target: String, reason: String },
    #[error(
        "prefix {target:?} expands to {count} addresses, more than the {max} one run may probe"
    )]
    TooManyTargets {
        target: String,
        count: u128,
        max: usize,
    },
    #[error("{target:?} brings the targets to {count}, more than the {max} one run may probe")]
    TooManyInFile {
        target: String,
        count: usize,
        max: usize,
    },
    #[error("unsupported URL scheme {scheme:?} in {target:?}: use http, https, tcp, udp or icmp")]
    UnsupportedScheme { target: String, scheme: String },
    #[error("invalid host {host:?} in target {target:?}")]
    InvalidHost { target: String, host: String },
    #[error("unknown protocol {0:?}: use tcp, udp, icmp, http or https")]
    UnknownProtocol(String),
}

/// Parses one target, expanding a prefix into its host addresses.
pub fn parse(input: &str, defaults: &TargetDefaults) -> Result<Vec<Target>, TargetError> {
    let mut targets = Vec::new();
    parse_into(input, defaults, &mut targets)?;
    Ok(targets)
}

/// [`parse`], appending to `targets` (a targets file of 65,536 lines costs no vector per line).
fn parse_into(
    input: &str,
    defaults: &TargetDefaults,
    targets: &mut Vec<Target>,
) -> Result<(), TargetError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(TargetError::Empty);
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        targets.push(parse_url(text, scheme, rest, defaults)?);
        return Ok(());
    }
    if text.contains('/') {
        return parse_cidr(text, defaults, targets);
    }
    let (host, port) = split_host_port(text)?;
    targets.push(build(
        text,
        host,
        port,
        defaults.protocol,
        defaults.path.clone(),
        defaults,
    )?);
    Ok(())
}

/// Parses a targets file: one target per line, `#` starts a comment, blank lines are skipped.
/// The error names the line.
pub fn parse_lines(
    text: &str,
    defaults: &TargetDefaults,
) -> Result<Vec<Target>, (usize, TargetError)> {
    let mut targets = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        parse_into(line, defaults, &mut targets).map_err(|e| (index + 1, e))?;
        if targets.len() > MAX_TARGETS {
            return Err((
                index + 1,
                TargetError::TooManyInFile {
                    target: line.to_string(),
                    count: targets.len(),
                    max: MAX_TARGETS,
                },
            ));
        }
    }
    Ok(targets)
}

fn parse_url(
    text: &str,
    scheme: &str,
    rest: &str,
    defaults: &TargetDefaults,
) -> Result<Target, TargetError> {
    let protocol: Protocol = scheme.parse().map_err(|_| TargetError::UnsupportedScheme {
        target: text.to_string(),
        scheme: scheme.to_string(),
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, defaults.path.clone()),
    };
    if authority.contains('@') {
        return Err(TargetError::InvalidHost {
            target: text.to_string(),
            host: authority.to_string(),
        });
    }
    let (host, port) = split_host_port(authority).map_err(|e| match e {
        TargetError::InvalidPort { value, .. } => TargetError::InvalidPort {
            target: text.to_string(),
            value,
        },
        other => other,
    })?;
    let port = port.or(protocol.default_port());
    let mut target = build(text, host, port, protocol, path, defaults)?;
    target.label = text.to_string();
    Ok(target)
}

/// Appends the host addresses of a prefix, refusing it before it expands when `targets` would
/// then hold more than [`MAX_TARGETS`] (`count` in the error is that total).
fn parse_cidr(
    text: &str,
    defaults: &TargetDefaults,
    targets: &mut Vec<Target>,
) -> Result<(), TargetError> {
    let net: IpNet = text.parse().map_err(|_| TargetError::InvalidCidr {
        target: text.to_string(),
        reason: cidr_reason(text),
    })?;
    let count: u128 = match net {
        IpNet::V4(n) => 1u128 << (32 - n.prefix_len()),
        IpNet::V6(n) => 1u128 << (128 - n.prefix_len()).min(127),
    };
    let total = targets.len() as u128 + count;
    if total > MAX_TARGETS as u128 {
        return Err(TargetError::TooManyTargets {
            target: text.to_string(),
            count: total,
            max: MAX_TARGETS,
        });
    }
    let protocol = defaults.protocol;
    let port = defaults.port.or(protocol.default_port());
    if port.is_none() && protocol != Protocol::Icmp {
        return Err(TargetError::MissingPort {
            target: text.to_string(),
            protocol,
        });
    }
    targets.extend(net.hosts().map(|ip| {
        let host = Host::Ip(ip);
        Target {
            label: label_for(&host, port, protocol),
            host,
            port: port.filter(|_| protocol != Protocol::Icmp),
            protocol,
            path: defaults.path.clone(),
        }
    }));
    Ok(())
}

/// Says what is wrong with a prefix, e.g. `prefix length 33 is longer than 32`.
fn cidr_reason(text: &str) -> String {
    let Some((addr, len)) = text.split_once('/') else {
        return "expected ADDRESS/LENGTH".to_string();
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return format!("{addr:?} is not an IP address");
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match len.parse::<u8>() {
        Ok(n) if n > max => format!("prefix length {n} is longer than {max}"),
        _ => format!("prefix length {len:?} is not a number from 0 to {max}"),
    }
}

/// Splits `host`, `host:port`, `[v6]:port`, `[v6]` or a bare IPv6 address.
fn split_host_port(text: &str) -> Result<(Host, Option<u16>), TargetError> {
    let invalid_host = |host: &str| TargetError::InvalidHost {
        target: text.to_string(),
        host: host.to_string(),
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| invalid_host(text))?;
        let ip: IpAddr = inside.parse().map_err(|_| invalid_host(inside))?;
        let port = match after {
            "" => None,
            p => Some(parse_port(
                text,
                p.strip_prefix(':').ok_or_else(|| invalid_host(text))?,
            )?),
        };
        return Ok((Host::Ip(ip), port));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), None));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(parse_port(text, p)?)),
        None => (text, None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), port));
    }
    // A fully qualified name may end in the root's dot (`web-1.example.com.`): it is resolved
    // as written, without the resolver's search domains.
    if !is_host_name(host.strip_suffix('.').unwrap_or(host)) {
        return Err(invalid_host(host));
    }
    Ok((Host::Name(host.to_ascii_lowercase()), port))
}

fn parse_port(target: &str, value: &str) -> Result<u16, TargetError> {
    match value.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(TargetError::InvalidPort {
            target: target.to_string(),
            value: value.to_string(),
        }),
    }
}

/// RFC 1123 host name: labels of letters, digits and hyphens (underscores tolerated, as DNS
/// service names use them), at most 253 characters.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn build(
    text: &str,
    host: Host,
    port: Option<u16>,
    protocol: Protocol,
    path: String,
    defaults: &TargetDefaults,
) -> Result<Target, TargetError> {
    let port = port.or(defaults.port).or(protocol.default_port());
    if protocol == Protocol::Icmp {
        return Ok(Target {
            label: label_for(&host, None, protocol),
            host,
            port: None,
            protocol,
            path,
        });
    }
    let Some(port) = port else {
        return Err(TargetError::MissingPort {
            target: text.to_string(),
            protocol,
        });
    };
    Ok(Target {
        label: label_for(&host, Some(port), protocol),
        host,
        port: Some(port),
        protocol,
        path,
    })
}

fn label_for(host: &Host, port: Option<u16>, protocol: Protocol) -> String {
    match (host, port) {
        (_, None) => host.to_string(),
        (_, Some(_)) if protocol == Protocol::Icmp => host.to_string(),
        (Host::Ip(IpAddr::V6(ip)), Some(p)) => format!("[{ip}]:{p}"),
        (h, Some(p)) => format!("{h}:{p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(protocol: Protocol, port: Option<u16>) -> TargetDefaults {
        TargetDefaults {
            protocol,
            port,
            path: "/".into(),
        }
    }

    fn one(input: &str, d: &TargetDefaults) -> Target {
        let mut v = parse(input, d).expect("valid target");
        assert_eq!(v.len(), 1, "{input}");
        v.remove(0)
    }

    #[test]
    fn host_port_forms_parse_to_host_and_port() {
        let d = defaults(Protocol::Tcp, Some(22));
        let cases: &[(&str, &str, Option<u16>, &str)] = &[
            ("10.0.0.5", "10.0.0.5", Some(22), "10.0.0.5:22"),
            ("10.0.0.5:80", "10.0.0.5", Some(80), "10.0.0.5:80"),
            ("[fd00::5]:8080", "fd00::5", Some(8080), "[fd00::5]:8080"),
            ("fd00::5", "fd00::5", Some(22), "[fd00::5]:22"),
            ("[::1]", "::1", Some(22), "[::1]:22"),
            (
                "Web-1.Internal:443",
                "web-1.internal",
                Some(443),
                "web-1.internal:443",
            ),
        ];
        for (input, host, port, label) in cases {
            let t = one(input, &d);
            assert_eq!(t.host.to_string(), *host, "{input}");
            assert_eq!(t.port, *port, "{input}");
            assert_eq!(t.label, *label, "{input}");
            assert_eq!(t.protocol, Protocol::Tcp);
        }
    }

    #[test]
    fn url_picks_protocol_port_and_path() {
        let d = defaults(Protocol::Tcp, None);
        let t = one("https://web-1:8443/health?deep=1", &d);
        assert_eq!(t.protocol, Protocol::Https);
        assert_eq!(t.port, Some(8443));
        assert_eq!(t.path, "/health?deep=1");
        assert_eq!(t.label, "https://web-1:8443/health?deep=1");
        let t = one("http://10.0.0.1", &d);
        assert_eq!(
            (t.protocol, t.port, t.path.as_str()),
            (Protocol::Http, Some(80), "/")
        );
        let t = one("https://[fd00::1]/x", &d);
        assert_eq!((t.port, t.host.to_string()), (Some(443), "fd00::1".into()));
        let t = one("udp://10.0.0.1:53", &d);
        assert_eq!((t.protocol, t.port), (Protocol::Udp, Some(53)));
        let t = one("http://h?q=1", &d);
        assert_eq!(t.path, "/?q=1");
    }

    #[test]
    fn cidr_expands_to_host_addresses_on_the_default_port() {
        let d = defaults(Protocol::Tcp, Some(80));
        let v = parse("10.1.0.0/30", &d).expect("valid prefix");
        let labels: Vec<_> = v.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["10.1.0.1:80", "10.1.0.2:80"]);
        let v = parse("10.1.0.7/32", &d).expect("valid prefix");
        assert_eq!(v.len(), 1);
        let icmp = parse("10.1.0.0/29", &defaults(Protocol::Icmp, None)).expect("valid");
        assert_eq!(icmp.len(), 6);
        assert!(icmp.iter().all(|t| t.port.is_none()));
    }

    #[test]
    fn bad_targets_name_the_bad_value() {
        let d = defaults(Protocol::Tcp, None);
        let cases: &[(&str, &str)] = &[
            ("10.0.0.1:70000", "invalid port \"70000\""),
            ("10.0.0.1:0", "invalid port \"0\""),
            ("10.0.0.1:http", "invalid port \"http\""),
            ("10.0.0.1", "has no port"),
            ("10.0.0.0/33", "prefix length 33 is longer than 32"),
            ("10.0.0.0/8", "more than the"),
            ("ftp://x", "unsupported URL scheme \"ftp\""),
            ("bad host!:80", "invalid host \"bad host!\""),
            ("[fd00::1:80", "invalid host"),
            ("https://u@h/", "invalid host \"u@h\""),
            ("http://h:99999/", "invalid port \"99999\""),
            ("", "empty target"),
            ("300.1.1.1:80", "invalid host \"300.1.1.1\""),
        ];
        for (input, needle) in cases {
            let err = parse(input, &d).expect_err(input).to_string();
            assert!(
                err.contains(needle),
                "{input:?} gave {err:?}, wanted {needle:?}"
            );
        }
    }

    #[test]
    fn targets_file_skips_comments_and_names_the_bad_line() {
        let d = defaults(Protocol::Tcp, Some(80));
        let text = "# backends\n10.0.0.1\n\n10.0.0.2:81  # second\nhttps://web/health\n";
        let v = parse_lines(text, &d).expect("valid file");
        let labels: Vec<_> = v.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["10.0.0.1:80", "10.0.0.2:81", "https://web/health"]);
        let (line, err) = parse_lines("10.0.0.1\n10.0.0.1:0\n", &d).expect_err("bad port");
        assert_eq!(line, 2);
        assert!(matches!(err, TargetError::InvalidPort { .. }));
    }

    /// Noticed while looking into a `targets` fuzz target timeout: a file of two /12 prefixes
    /// built two million targets before it was refused. The prefix that would overflow is refused
    /// before it expands.
    #[test]
    fn a_targets_file_is_refused_at_the_prefix_that_would_overflow() {
        let d = defaults(Protocol::Tcp, Some(80));
        let (line, err) = parse_lines("10.0.0.0/12\n10.16.0.0/12\n", &d).expect_err("too many");
        assert_eq!(line, 2);
        assert!(
            matches!(
                err,
                TargetError::TooManyTargets {
                    count: 2_097_150,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            parse_lines("10.0.0.0/12\n", &d).map(|t| t.len()),
            Ok(1_048_574)
        );
    }

    #[test]
    fn a_fully_qualified_name_may_end_in_a_dot() {
        let d = defaults(Protocol::Tcp, None);
        let t = one("web-1.example.com.:80", &d);
        assert_eq!(t.host, Host::Name("web-1.example.com.".to_string()));
        let t = one("https://Web-1.Example.com./health", &d);
        assert_eq!(t.host, Host::Name("web-1.example.com.".to_string()));
        assert_eq!(t.port, Some(443));
        // One dot, not two; and a dot alone is no name.
        assert!(parse("web-1.example.com..:80", &d).is_err());
        assert!(parse(".:80", &d).is_err());
    }

    #[test]
    fn protocol_names_parse_case_insensitively() {
        assert_eq!("HTTPS".parse::<Protocol>(), Ok(Protocol::Https));
        assert!("sctp".parse::<Protocol>().is_err());
    }
}
