//! The codes, severities and roles of findings (verdicts.md §2): a stable contract.

use std::fmt;

use serde::Serialize;

/// Diagnosis codes of verdicts.md §2. Names are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Ok,
    BlockedAsExpected,
    SgIngressMissing,
    SgEgressMissing,
    SgDeny,
    NaclDeny,
    NaclReturnBlocked,
    AccessControlDeny,
    IcmpBlockedForUdpCheck,
    HealthCheckSourceNotAllowed,
    HealthCheckPortBlocked,
    RulesNotEnforced,
    PortClosed,
    HostFirewallSuspected,
    ConfigDriftAllowed,
    ResponseCodeMismatch,
    TlsHandshakeFailed,
    TimeoutSlowResponse,
    NoRoute,
    ProbePerspectiveDiffers,
    LbSubnetTooSmall,
    LbSubnetFewFreeAddresses,
    TargetZoneWithoutLbSubnet,
    /// An expectation says a flow must be blocked, and the configuration allows it.
    ExpectationViolated,
    /// The probe could not run (permission, resource); only the configuration was judged.
    ProbeError,
    /// An internet-facing load balancer in a subnet without a default route to an internet
    /// gateway.
    LbSubnetNotPublic,
    /// No route covers the destination (or the way back).
    RouteMissing,
    /// The route that matches goes nowhere: its target is gone.
    RouteBlackhole,
    /// A target's subnet has no default route out (NAT or internet gateway).
    TargetNoInternetEgress,
    /// A listener forwards to a backend group without members.
    TargetGroupEmpty,
    /// A backend group with members that no listener forwards to.
    TargetGroupNotInUse,
    /// A zone of the load balancer with no targets while cross-zone balancing is off.
    ZoneWithoutTargets,
    /// The provider's own health report disagrees with the prediction and the probe.
    ReportedHealthDiffers,
}

impl Code {
    pub fn severity(self) -> Severity {
        use Code::*;
        match self {
            Ok | BlockedAsExpected => Severity::Ok,
            RulesNotEnforced | TargetNoInternetEgress => Severity::Info,
            ConfigDriftAllowed
            | ProbePerspectiveDiffers
            | ProbeError
            | TargetGroupEmpty
            | TargetGroupNotInUse
            | ZoneWithoutTargets
            | ReportedHealthDiffers => Severity::Warning,
            SgIngressMissing
            | SgEgressMissing
            | SgDeny
            | NaclDeny
            | NaclReturnBlocked
            | AccessControlDeny
            | IcmpBlockedForUdpCheck
            | HealthCheckSourceNotAllowed
            | HealthCheckPortBlocked
            | PortClosed
            | HostFirewallSuspected
            | ResponseCodeMismatch
            | TlsHandshakeFailed
            | TimeoutSlowResponse
            | NoRoute
            | LbSubnetTooSmall
            | LbSubnetFewFreeAddresses
            | TargetZoneWithoutLbSubnet
            | ExpectationViolated
            | LbSubnetNotPublic
            | RouteMissing
            | RouteBlackhole => Severity::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "OK",
            BlockedAsExpected => "BLOCKED_AS_EXPECTED",
            SgIngressMissing => "SG_INGRESS_MISSING",
            SgEgressMissing => "SG_EGRESS_MISSING",
            SgDeny => "SG_DENY",
            NaclDeny => "NACL_DENY",
            NaclReturnBlocked => "NACL_RETURN_BLOCKED",
            AccessControlDeny => "ACCESS_CONTROL_DENY",
            IcmpBlockedForUdpCheck => "ICMP_BLOCKED_FOR_UDP_CHECK",
            HealthCheckSourceNotAllowed => "HEALTH_CHECK_SOURCE_NOT_ALLOWED",
            HealthCheckPortBlocked => "HEALTH_CHECK_PORT_BLOCKED",
            RulesNotEnforced => "RULES_NOT_ENFORCED",
            PortClosed => "PORT_CLOSED",
            HostFirewallSuspected => "HOST_FIREWALL_SUSPECTED",
            ConfigDriftAllowed => "CONFIG_DRIFT_ALLOWED",
            ResponseCodeMismatch => "RESPONSE_CODE_MISMATCH",
            TlsHandshakeFailed => "TLS_HANDSHAKE_FAILED",
            TimeoutSlowResponse => "TIMEOUT_SLOW_RESPONSE",
            NoRoute => "NO_ROUTE",
            ProbePerspectiveDiffers => "PROBE_PERSPECTIVE_DIFFERS",
            LbSubnetTooSmall => "LB_SUBNET_TOO_SMALL",
            LbSubnetFewFreeAddresses => "LB_SUBNET_FEW_FREE_ADDRESSES",
            TargetZoneWithoutLbSubnet => "TARGET_ZONE_WITHOUT_LB_SUBNET",
            ExpectationViolated => "EXPECTATION_VIOLATED",
            ProbeError => "PROBE_ERROR",
            LbSubnetNotPublic => "LB_SUBNET_NOT_PUBLIC",
            RouteMissing => "ROUTE_MISSING",
            RouteBlackhole => "ROUTE_BLACKHOLE",
            TargetNoInternetEgress => "TARGET_NO_INTERNET_EGRESS",
            TargetGroupEmpty => "TARGET_GROUP_EMPTY",
            TargetGroupNotInUse => "TARGET_GROUP_NOT_IN_USE",
            ZoneWithoutTargets => "ZONE_WITHOUT_TARGETS",
            ReportedHealthDiffers => "REPORTED_HEALTH_DIFFERS",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finding severity; the order is that of the exit code's concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a check stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Clients → the load balancer's listener.
    Client,
    /// The member's traffic port, as the load balancer forwards to it.
    Traffic,
    /// The health check (for UDP_CONNECT also its ICMP echo).
    HealthCheck,
    /// A listener on the load balancer's address, through its access control.
    Listener,
    /// A flow from `expectations:`.
    Expectation,
    /// A finding about the configuration alone.
    Configuration,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Traffic => "traffic",
            Role::HealthCheck => "health_check",
            Role::Listener => "listener",
            Role::Expectation => "expectation",
            Role::Configuration => "configuration",
        }
    }
}
