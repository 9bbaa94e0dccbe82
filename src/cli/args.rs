//! The command line, as clap reads it: every flag of every subcommand, and their value parsers.
//! The subcommands' modules take their arguments from here; nothing here runs anything.

use std::io::{self, IsTerminal};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper::header::{HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::config::Source;
use crate::engine;
use crate::model::{Provider, StatusSpec};
use crate::observation::Protocol;
use crate::observation::target;
use crate::output::Format;

/// Live health-check probe: tells a silent drop, an ICMP reject, a closed port, a bad status and a
/// slow application apart, over TCP, UDP, ICMP, HTTP and HTTPS.
#[derive(Debug, Parser)]
#[command(
    name = "probe",
    version,
    about,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub sweep: SweepArgs,

    /// More logging on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log lines as text or as JSON objects (one per line), on stderr.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// An ad hoc run against explicit targets.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// HOST, HOST:PORT, \[V6\]:PORT, a CIDR prefix (with --port), or a URL such as
    /// https://web-1:8443/health. Repeat for more targets.
    #[arg(short = 't', long = "target", value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Read targets from FILE, one per line; `#` starts a comment. `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub targets_file: Option<PathBuf>,

    /// Protocol for targets that are not URLs.
    #[arg(short = 'P', long, value_name = "PROTO", default_value = "tcp", value_parser = parse_protocol)]
    pub protocol: Protocol,

    /// Port for targets that do not name one.
    #[arg(short = 'p', long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Deadline of each probe (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// ICMP echo requests per probe.
    #[arg(short = 'c', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub count: u16,

    /// Probes in flight at once [default: 32768, kept below the open-file limit].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub concurrency: Option<u64>,

    /// Of those, HTTP(S) probes in flight at once [default: 256].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub http_concurrency: Option<u64>,

    /// Start at most this many probes per second.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// HTTP request path for targets that are not URLs.
    #[arg(long, default_value = "/")]
    pub path: String,

    /// HTTP Host header and TLS server name.
    #[arg(long)]
    pub host: Option<String>,

    /// HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,

    /// Extra HTTP header, "Name: value". Repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Expected HTTP status codes in ELB syntax: 200, 200,202, 200-399.
    #[arg(long, default_value = "200-299", value_parser = parse_status)]
    pub expect_status: StatusSpec,

    /// UDP payload, as text.
    #[arg(long, conflicts_with = "payload_hex")]
    pub payload: Option<String>,

    /// UDP payload, as hex (e.g. 0d0a).
    #[arg(long, value_parser = parse_hex)]
    pub payload_hex: Option<HexBytes>,

    /// UDP: the response must contain this text to pass.
    #[arg(long, conflicts_with = "expect_response_hex")]
    pub expect_response: Option<String>,

    /// UDP: the response must contain these bytes (hex) to pass.
    #[arg(long, value_parser = parse_hex)]
    pub expect_response_hex: Option<HexBytes>,

    /// HTTPS: accept any certificate (its expiry is still reported).
    #[arg(long)]
    pub insecure: bool,

    /// HTTPS: trust the CA certificates in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// HTTP: read at most this many body bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: u64,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    /// When to colour the table.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,

    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stdout: always, never, or on a terminal unless `NO_COLOR` is set.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// Bytes given in hex on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

pub(crate) fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse().map_err(|e: target::TargetError| e.to_string())
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 1s, 500ms)"))?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!("{s:?} must be more than 0 and at most 1h"));
    }
    Ok(d)
}

pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (engine::MIN_RATE..=engine::MAX_RATE).contains(&r) => Ok(r),
        _ => Err(format!(
            "{s:?} is not a number of probes per second from {} to {}",
            engine::MIN_RATE,
            engine::MAX_RATE
        )),
    }
}

pub(crate) fn parse_status(s: &str) -> Result<StatusSpec, String> {
    s.parse()
        .map_err(|e: crate::model::StatusSpecError| e.to_string())
}

pub(crate) fn parse_hex(s: &str) -> Result<HexBytes, String> {
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.len() % 2 != 0 {
        return Err(format!("{s:?} has an odd number of hex digits"));
    }
    clean
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let text = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(text, 16)
                .map_err(|_| format!("{text:?} at byte {} of {s:?} is not hex", i + 1))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(HexBytes)
}

/// Subcommands that work from the expected configuration.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe every backend's traffic and health-check ports and compare with the configuration.
    Check(CheckArgs),
    /// Judge one flow against the configuration and show the path, without sending packets.
    Explain(ExplainArgs),
    /// Parse and lint a configuration, judging every flow from the load balancer's side.
    Validate(ValidateArgs),
    /// Print the native YAML of a provider's JSON dumps, for editing.
    Import(ImportArgs),
    /// Keep probing on each health check's interval and serve /metrics, /probe and /findings to
    /// Prometheus.
    Agent(AgentArgs),
}

/// Where the configuration comes from: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ConfigSource {
    /// Native YAML configuration (docs/config.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of AWS CLI JSON outputs (docs/import-aws.md).
    #[arg(long, value_name = "DIR")]
    pub aws: Option<PathBuf>,
    /// Directory of Huawei Cloud API JSON responses (docs/import-huawei.md).
    #[arg(long, value_name = "DIR")]
    pub huawei: Option<PathBuf>,
}

impl ConfigSource {
    pub fn source(&self) -> Source {
        match (&self.config, &self.aws, &self.huawei) {
            (Some(p), _, _) => Source::Yaml(p.clone()),
            (_, Some(d), _) => Source::Aws(d.clone()),
            (_, _, Some(d)) => Source::Huawei(d.clone()),
            // clap's group makes one of them present.
            (None, None, None) => Source::Yaml(PathBuf::from("-")),
        }
    }
}

/// Where `probe check` runs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Standpoint {
    /// Inside the network, beside the load balancer.
    Agent,
    /// Outside, as one of the load balancer's clients.
    Clients,
}

/// Output format of the configuration commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Findings grouped by backend, failures first, with summary and fix.
    Table,
    /// The JSON of verdicts.md §4.
    Json,
    /// One self-contained HTML page (inline CSS and SVG, nothing fetched): the summary, and
    /// each finding with its path drawn hop by hop, the blocking hop marked, and its fix.
    Html,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// The agent's own address, when it differs from the one that routes to the backends
    /// (importers look the agent's security groups up by it).
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<IpAddr>,
    /// Check only this backend group, member name or member address.
    #[arg(long, value_name = "BACKEND")]
    pub only: Option<String>,
    /// Where this run stands: `agent` (inside the network, as the load balancer's neighbour:
    /// every member, listener and expectation) or `clients` (outside, where the load
    /// balancer's clients are: each listener is probed at the load balancer's address or its
    /// nodes', and the client leg judged with the result).
    #[arg(long, value_enum, default_value = "agent")]
    pub from: Standpoint,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ReportFormat,
    /// Probes in flight at once.
    #[arg(short, long, default_value_t = 256)]
    pub concurrency: u64,
    /// Colour in the table: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Do not show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// The agent's own address, as for `check`.
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<IpAddr>,
    /// Flow source: an address, a CIDR, `agent`, `lb` (every load balancer's health-check
    /// source), `lb:NAME`, or `clients` (a load balancer's clients, to one of its listeners:
    /// the internet for an internet-facing one, its network for an internal one).
    #[arg(long, value_name = "FROM")]
    pub from: String,
    /// Flow destination: ADDR:PORT/tcp, ADDR:PORT/udp or ADDR/icmp.
    #[arg(long, value_name = "ADDR:PORT/PROTO")]
    pub to: String,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ReportFormat,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: ReportFormat,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Whose JSON: aws or huawei.
    #[arg(value_parser = parse_dump_provider)]
    pub provider: Provider,
    /// The directory of JSON files.
    pub dir: PathBuf,
    /// The agent's address, to take its security groups from the dump.
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<IpAddr>,
}

/// The providers whose dumps `probe import` reads.
fn parse_dump_provider(s: &str) -> Result<Provider, String> {
    match s {
        "aws" => Ok(Provider::Aws),
        "huawei" => Ok(Provider::Huawei),
        _ => Err(format!(
            "{s:?} is not a provider whose dumps probe reads (aws, huawei)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub source: ConfigSource,
    /// The agent's own address, when it differs from the one that routes to the backends.
    #[arg(long, value_name = "ADDR")]
    pub source_addr: Option<std::net::IpAddr>,
    /// Address and port of the HTTP server (/metrics, /probe, /findings).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9465")]
    pub listen: SocketAddr,
    /// TLS and basic-auth settings, in the exporter-toolkit web config format
    /// (docs/agent-web-config.md).
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Probe every check at this interval instead of its health check's own.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Give every probe this deadline instead of its health check's timeout (never more than the
    /// interval).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Scheduled probes in flight at most; a tick that finds them all busy is skipped and counted.
    /// Default: 32,768, or what the open-file limit leaves after the HTTP server's connections
    /// and /probe requests, if less.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub concurrency: Option<u64>,
    /// A network /probe may reach besides the configured members, load balancers and subnets
    /// (CIDR, or an address). Repeat for more.
    #[arg(long, value_name = "CIDR", value_parser = parse_net)]
    pub probe_allow: Vec<IpNet>,
    /// /probe requests served at once; more wait, up to their scrape timeout, then get 503.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub probe_concurrency: u64,
    /// HTTP connections served at once; more wait in the listen backlog.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub http_max_connections: u64,
    /// How long a client may take to send its request headers (also closes idle keep-alive
    /// connections).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub http_header_timeout: Duration,
    /// This agent's share of the checks: shard K of N (`2/3`). N agents with the same
    /// configuration and --shard 1/N … N/N probe every check exactly once between them (by
    /// rendezvous hashing of each check's labels: going to N+1 moves about 1/(N+1) of the
    /// checks); every series is labelled `shard="K/N"`. docs/agent.md, "Sharding".
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::agent::shard::Shard>,
    /// Also keep a duration histogram per check (`probe_check_duration_seconds`, 14 series a
    /// check). By default durations are a histogram per backend group, role and protocol, and
    /// each check has the last probe's duration as a gauge.
    #[arg(long)]
    pub per_check_histograms: bool,
    /// Runtime worker threads (default: one per CPU). An agent of TCP and plain HTTP checks
    /// spends much of its CPU waking workers, and one worker wakes none: fewer threads, less
    /// CPU. Fleets of HTTPS checks (a TLS handshake each) want more.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// How long a request other than /probe may take.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub http_request_timeout: Duration,
}

/// A CIDR, or a bare address taken as a single host.
fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither a CIDR (10.0.0.0/16) nor an address"))
}

/// An extra HTTP header, `Name: value`.
pub(crate) fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("invalid header {text:?}: expected \"Name: value\""))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("invalid header name {:?} in {text:?}", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("invalid header value {:?} in {text:?}", value.trim()))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads_parse_and_bad_digits_are_named() {
        assert_eq!(parse_hex("0d 0a"), Ok(HexBytes(vec![13, 10])));
        assert!(parse_hex("abc").expect_err("odd").contains("odd number"));
        assert!(
            parse_hex("zz")
                .expect_err("bad")
                .contains("\"zz\" at byte 1")
        );
    }

    #[test]
    fn headers_need_a_colon_and_valid_names() {
        let (n, v) = parse_header("X-Probe: yes").expect("valid header");
        assert_eq!((n.as_str(), v.to_str().ok()), ("x-probe", Some("yes")));
        assert!(parse_header("no colon").is_err());
        assert!(
            parse_header("bad name: x")
                .expect_err("space")
                .contains("bad name")
        );
    }

    #[test]
    fn durations_must_be_positive_and_bounded() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
