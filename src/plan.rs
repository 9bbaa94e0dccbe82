//! The probe plan: how a check of the diagnosis is probed, the target it becomes and the settings
//! its probe runs with.
//!
//! `probe check` and `probe agent` both turn checks into probes here, so the two send the same
//! packets. Checks that share a [`ProbeKey`] share one [`ProbeSettings`] (and so one probe
//! context); the key is what differs between health checks: the timeout, the HTTP `Host` and the
//! status matcher.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use crate::diagnose::{Check, ProbeKind};
use crate::model::{StatusSpec, StatusSpecError};
use crate::probe::http::HttpSettings;
use crate::probe::target::Host;
use crate::probe::{ProbeSettings, ProbeSpec, Protocol, Target};

/// Longest probe deadline a health check may ask for.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// The settings a check's probe needs beyond its target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProbeKey {
    pub timeout: Duration,
    pub host: Option<String>,
    pub codes: Option<String>,
}

impl ProbeKey {
    /// The key of `check`, with its health check's timeout (1 s to 120 s).
    pub(crate) fn of(check: &Check) -> Self {
        let (host, codes) = match &check.probe {
            ProbeKind::Http {
                host,
                expected_codes,
                ..
            } => (host.clone(), Some(expected_codes.clone())),
            _ => (None, None),
        };
        ProbeKey {
            timeout: Duration::from_secs(u64::from(check.timeout_s))
                .clamp(Duration::from_secs(1), MAX_TIMEOUT),
            host,
            codes,
        }
    }

    /// The probe settings of checks with this key. Fails only on a status matcher that does not
    /// parse, which validation of the configuration rules out.
    pub(crate) fn settings(&self) -> Result<ProbeSettings, StatusSpecError> {
        let expect = match &self.codes {
            Some(c) => c.parse::<StatusSpec>()?,
            None => StatusSpec::default(),
        };
        Ok(ProbeSettings {
            timeout: self.timeout,
            http: HttpSettings {
                host: self.host.clone(),
                expect,
                // Load balancers do not verify backend certificates; neither does the check.
                insecure: true,
                ..HttpSettings::default()
            },
            ..ProbeSettings::default()
        })
    }
}

/// Groups the indices of the checks the agent can send by their key.
pub(crate) fn group_by_key<'a>(
    checks: impl IntoIterator<Item = (usize, &'a Check)>,
) -> HashMap<ProbeKey, Vec<usize>> {
    let mut groups: HashMap<ProbeKey, Vec<usize>> = HashMap::new();
    for (i, c) in checks {
        if c.probe_from_agent {
            groups.entry(ProbeKey::of(c)).or_default().push(i);
        }
    }
    groups
}

/// The probe of a check: its target at the check's address (nothing to resolve).
pub(crate) fn spec_for(check: &Check) -> ProbeSpec {
    let target = target_for(check);
    ProbeSpec {
        addr: SocketAddr::new(check.address, target.port.unwrap_or(0)),
        target: Arc::new(target),
        resolve: Duration::ZERO,
    }
}

/// The probe target of a check.
pub(crate) fn target_for(check: &Check) -> Target {
    let protocol = match &check.probe {
        ProbeKind::Tcp => Protocol::Tcp,
        ProbeKind::Udp => Protocol::Udp,
        ProbeKind::Icmp => Protocol::Icmp,
        ProbeKind::Http { tls: false, .. } => Protocol::Http,
        ProbeKind::Http { tls: true, .. } => Protocol::Https,
    };
    let path = match &check.probe {
        ProbeKind::Http { path, .. } => path.clone(),
        _ => "/".to_string(),
    };
    let port = check.packet.port();
    let label = match (protocol, port) {
        (Protocol::Icmp, _) | (_, None) => check.address.to_string(),
        (_, Some(p)) => SocketAddr::new(check.address, p).to_string(),
    };
    Target {
        label,
        host: Host::Ip(check.address),
        port,
        protocol,
        path,
    }
}
