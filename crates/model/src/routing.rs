//! Where packets may go: networks (AWS VPCs, Huawei VPCs), their route tables and the gateways
//! routes point at.
//!
//! | fact | how the model says it |
//! |---|---|
//! | a subnet uses exactly one route table | its explicit association (`subnets:`), else the `main` table of its network |
//! | the most specific route wins | longest-prefix match over `routes` ([`RouteTable::route_for`]) |
//! | the network's own ranges are local | a route with `via: {kind: local}` for each CIDR |
//! | a route whose target is gone drops traffic | `state: blackhole` |
//! | a public subnet | a default route (`0.0.0.0/0`, `::/0`) to an internet gateway |
//!
//! A model without route tables says nothing about routes, and none are judged.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::values;

/// A network: an AWS or Huawei Cloud VPC, with its address ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a network: a mapping with id and cidrs"
)]
pub struct Network {
    pub id: String,
    #[serde(deserialize_with = "values::net::cidrs", default)]
    pub cidrs: Vec<IpNet>,
}

/// A route table and the subnets that use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a route table: a mapping with id, network, main, subnets and routes"
)]
pub struct RouteTable {
    pub id: String,
    /// The network (VPC) it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The network's main table: it routes every subnet of the network that no table names.
    #[serde(default, skip_serializing_if = "is_false")]
    pub main: bool,
    /// Subnets explicitly associated with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One route: a destination and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a route: a mapping with destination, via and state"
)]
pub struct Route {
    #[serde(deserialize_with = "values::net::cidr")]
    pub destination: IpNet,
    pub via: RouteTarget,
    #[serde(default, skip_serializing_if = "RouteState::is_active")]
    pub state: RouteState,
    /// Why the route is a blackhole, when the provider's own state does not say so but the
    /// state of its target does (an AWS route to a deleted NAT gateway, a peering that is not
    /// active, an internet gateway detached from the network): for reports, not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a route points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a route target: a mapping with kind and, but for local, id"
)]
pub struct RouteTarget {
    pub kind: RouteTargetKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The kinds of route target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTargetKind {
    /// The network's own range.
    Local,
    /// An internet gateway: the internet, both ways.
    InternetGateway,
    /// An egress-only internet gateway (IPv6 out).
    EgressOnlyInternetGateway,
    /// A NAT gateway: the internet, outbound only.
    NatGateway,
    /// A peering connection to another network.
    Peering,
    /// A transit gateway.
    TransitGateway,
    /// A VPN gateway (AWS virtual private gateway, Huawei VPN).
    VpnGateway,
    /// An instance or a network interface (an appliance).
    Instance,
    /// A gateway or service endpoint.
    Endpoint,
    /// Anything else the provider routes to.
    Other,
}

impl RouteTargetKind {
    /// Whether a default route via this target makes a subnet public: reachable from the
    /// internet.
    pub fn is_internet(self) -> bool {
        self == RouteTargetKind::InternetGateway
    }

    /// Whether a default route via this target gives the subnet's hosts a way out to the
    /// internet (to fetch software and patches).
    pub fn is_egress(self) -> bool {
        matches!(
            self,
            RouteTargetKind::InternetGateway
                | RouteTargetKind::EgressOnlyInternetGateway
                | RouteTargetKind::NatGateway
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteTargetKind::Local => "local",
            RouteTargetKind::InternetGateway => "internet_gateway",
            RouteTargetKind::EgressOnlyInternetGateway => "egress_only_internet_gateway",
            RouteTargetKind::NatGateway => "nat_gateway",
            RouteTargetKind::Peering => "peering",
            RouteTargetKind::TransitGateway => "transit_gateway",
            RouteTargetKind::VpnGateway => "vpn_gateway",
            RouteTargetKind::Instance => "instance",
            RouteTargetKind::Endpoint => "endpoint",
            RouteTargetKind::Other => "other",
        }
    }
}

/// Whether a route carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteState {
    #[default]
    Active,
    /// Its target is gone (a deleted NAT gateway, a detached internet gateway): traffic that
    /// matches it is dropped.
    Blackhole,
}

impl RouteState {
    fn is_active(&self) -> bool {
        *self == RouteState::Active
    }
}

impl RouteTable {
    /// The route that decides where `addr` goes: the longest prefix that contains it.
    pub fn route_for(&self, addr: IpAddr) -> Option<(usize, &Route)> {
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.destination.contains(&addr))
            .max_by_key(|(_, r)| r.destination.prefix_len())
    }

    /// The default route of `addr`'s family (`0.0.0.0/0` or `::/0`), if the table has one.
    pub fn default_route(&self, v6: bool) -> Option<(usize, &Route)> {
        self.routes
            .iter()
            .enumerate()
            .find(|(_, r)| r.destination.prefix_len() == 0 && r.destination.addr().is_ipv6() == v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, kind: RouteTargetKind) -> Route {
        Route {
            destination: dst.parse().expect("cidr"),
            via: RouteTarget { kind, id: None },
            state: RouteState::Active,
            reason: None,
        }
    }

    #[test]
    fn the_longest_prefix_decides() {
        let t = RouteTable {
            id: "rtb".into(),
            network: None,
            main: true,
            subnets: vec![],
            routes: vec![
                route("0.0.0.0/0", RouteTargetKind::InternetGateway),
                route("10.0.0.0/16", RouteTargetKind::Local),
                route("10.0.5.0/24", RouteTargetKind::Peering),
            ],
        };
        let at = |a: &str| t.route_for(a.parse().expect("addr")).map(|(i, _)| i);
        assert_eq!(at("10.0.5.9"), Some(2));
        assert_eq!(at("10.0.6.9"), Some(1));
        assert_eq!(at("8.8.8.8"), Some(0));
        assert_eq!(at("2001:db8::1"), None);
        assert_eq!(t.default_route(false).map(|(i, _)| i), Some(0));
        assert_eq!(t.default_route(true), None);
    }
}
