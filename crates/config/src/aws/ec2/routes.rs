//! Where packets go: VPCs, their route tables, and the gateways and peerings routes point at.
//!
//! | top-level key            | command (`aws ec2 …`)              | becomes                                |
//! |--------------------------|------------------------------------|----------------------------------------|
//! | `RouteTables`            | `describe-route-tables`            | `route_tables`                         |
//! | `Vpcs`                   | `describe-vpcs`                    | `networks`                             |
//! | `InternetGateways`       | `describe-internet-gateways`       | whether a route's gateway is attached  |
//! | `NatGateways`            | `describe-nat-gateways`            | whether a route's NAT gateway works    |
//! | `VpcPeeringConnections`  | `describe-vpc-peering-connections` | whether a route's peering is active    |
//!
//! AWS marks a route `blackhole` when its target is gone, but a dump is a snapshot taken call by
//! call, and AWS does not mark every dead target: a route to a NAT gateway that `failed` stays
//! `active`. So a route whose gateway the dump shows dead (a NAT gateway `deleted` or `failed`, a
//! peering not `active`, an internet gateway not attached to the table's VPC) is made a blackhole
//! here, with the reason in the route's `reason`. A target the dump does not describe is taken as
//! AWS states the route.

use ipnet::IpNet;
use serde::Deserialize;

use super::super::Dump;
use crate::import::{DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{
    AddressGroup, Network, Route, RouteState, RouteTable, RouteTarget, RouteTargetKind,
};

pub(in crate::aws) const FAMILY: Family<Dump> = Family {
    keys: &[
        "RouteTables",
        "Vpcs",
        "InternetGateways",
        "NatGateways",
        "VpcPeeringConnections",
    ],
    wrappers: &[],
    add,
};

/// The routing keys of one file; unknown fields are ignored, as everywhere in the AWS importer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    route_tables: Option<Vec<RawRouteTable>>,
    vpcs: Option<Vec<RawVpc>>,
    internet_gateways: Option<Vec<RawInternetGateway>>,
    nat_gateways: Option<Vec<RawNatGateway>>,
    vpc_peering_connections: Option<Vec<RawPeering>>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    let tables = file.listed("RouteTables", doc.route_tables.into_iter().flatten());
    dump.route_tables
        .extend(tables, |t| Some(t.route_table_id.as_str()));
    let vpcs = file.listed("Vpcs", doc.vpcs.into_iter().flatten());
    dump.vpcs.extend(vpcs, |v| Some(v.vpc_id.as_str()));
    let igws = file.listed(
        "InternetGateways",
        doc.internet_gateways.into_iter().flatten(),
    );
    dump.internet_gateways
        .extend(igws, |g| Some(g.internet_gateway_id.as_str()));
    let nats = file.listed("NatGateways", doc.nat_gateways.into_iter().flatten());
    dump.nat_gateways
        .extend(nats, |g| Some(g.nat_gateway_id.as_str()));
    let peerings = file.listed(
        "VpcPeeringConnections",
        doc.vpc_peering_connections.into_iter().flatten(),
    );
    dump.peerings
        .extend(peerings, |p| Some(p.vpc_peering_connection_id.as_str()));
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a route table object")]
pub(in crate::aws) struct RawRouteTable {
    route_table_id: String,
    vpc_id: Option<String>,
    #[serde(default)]
    associations: Vec<RawAssociation>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

impl Kind for RawRouteTable {
    const WHAT: &str = "route table";
}

/// A route table association: the VPC's main table (`Main`, no subnet), a subnet's explicit
/// table, or a gateway's (edge association, ingress routing: not a subnet's route, not read).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a route table association object")]
struct RawAssociation {
    #[serde(default)]
    main: bool,
    subnet_id: Option<String>,
    association_state: Option<RawState>,
}

impl RawAssociation {
    /// Whether the association is in force: `associated`, or no state (older outputs).
    fn in_force(&self) -> bool {
        self.association_state
            .as_ref()
            .is_none_or(|s| s.state.as_deref().is_none_or(|s| s == "associated"))
    }
}

/// `{"State": "..."}`, as associations and CIDR blocks carry it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a state object")]
struct RawState {
    state: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawRouteState {
    Active,
    Blackhole,
    /// Listed by the API, meaning undocumented (VPC Route Server routes that were not installed):
    /// such a route is left out, with a warning.
    Filtered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum RawOrigin {
    CreateRouteTable,
    CreateRoute,
    EnableVgwRoutePropagation,
    Advertisement,
    /// Anything newer: ranked as a static route.
    #[serde(other)]
    Other,
}

/// One route. Exactly one destination and (but for Route Server routes) one target is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a route object")]
struct RawRoute {
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    destination_cidr_block: Option<IpNet>,
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    destination_ipv6_cidr_block: Option<IpNet>,
    destination_prefix_list_id: Option<String>,
    gateway_id: Option<String>,
    nat_gateway_id: Option<String>,
    vpc_peering_connection_id: Option<String>,
    transit_gateway_id: Option<String>,
    instance_id: Option<String>,
    network_interface_id: Option<String>,
    egress_only_internet_gateway_id: Option<String>,
    /// Not printed by `describe-route-tables` (a Gateway Load Balancer endpoint shows as
    /// `GatewayId: vpce-…`), but the name `create-route` takes: read too.
    vpc_endpoint_id: Option<String>,
    carrier_gateway_id: Option<String>,
    local_gateway_id: Option<String>,
    core_network_arn: Option<String>,
    odb_network_arn: Option<String>,
    origin: Option<RawOrigin>,
    state: Option<RawRouteState>,
}

impl RawRoute {
    /// Where the route sends packets. `GatewayId` carries several kinds, told apart by prefix.
    fn target(&self) -> RouteTarget {
        let t = |kind, id: &String| RouteTarget {
            kind,
            id: Some(id.clone()),
        };
        use RouteTargetKind as K;
        if let Some(id) = &self.nat_gateway_id {
            t(K::NatGateway, id)
        } else if let Some(id) = &self.vpc_peering_connection_id {
            t(K::Peering, id)
        } else if let Some(id) = &self.transit_gateway_id {
            t(K::TransitGateway, id)
        } else if let Some(id) = &self.egress_only_internet_gateway_id {
            t(K::EgressOnlyInternetGateway, id)
        } else if let Some(id) = self
            .instance_id
            .as_ref()
            .or(self.network_interface_id.as_ref())
        {
            t(K::Instance, id)
        } else if let Some(id) = &self.vpc_endpoint_id {
            t(K::Endpoint, id)
        } else if let Some(id) = &self.gateway_id {
            match id.as_str() {
                "local" => RouteTarget {
                    kind: K::Local,
                    id: None,
                },
                g if g.starts_with("igw-") => t(K::InternetGateway, id),
                g if g.starts_with("vgw-") => t(K::VpnGateway, id),
                g if g.starts_with("vpce-") => t(K::Endpoint, id),
                _ => t(K::Other, id),
            }
        } else if let Some(id) = self
            .carrier_gateway_id
            .as_ref()
            .or(self.local_gateway_id.as_ref())
            .or(self.core_network_arn.as_ref())
            .or(self.odb_network_arn.as_ref())
        {
            t(K::Other, id)
        } else {
            RouteTarget {
                kind: K::Other,
                id: None,
            }
        }
    }

    /// Where the route wins a tie of equal prefixes (lower first): AWS prefers a static route to
    /// a prefix-list route, and both to a propagated one; the evaluator takes the first of equal
    /// prefixes.
    fn rank(&self) -> u8 {
        match (self.origin, &self.destination_prefix_list_id) {
            (Some(RawOrigin::EnableVgwRoutePropagation | RawOrigin::Advertisement), _) => 2,
            (_, Some(_)) => 1,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a VPC object")]
pub(in crate::aws) struct RawVpc {
    vpc_id: String,
    /// The primary IPv4 block, also listed in `CidrBlockAssociationSet`.
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    cidr_block: Option<IpNet>,
    cidr_block_association_set: Option<Vec<RawCidrAssociation>>,
    #[serde(default)]
    ipv6_cidr_block_association_set: Vec<RawIpv6CidrAssociation>,
}

impl Kind for RawVpc {
    const WHAT: &str = "VPC";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a CIDR block association object")]
struct RawCidrAssociation {
    #[serde(deserialize_with = "probe_model::values::net::cidr")]
    cidr_block: IpNet,
    cidr_block_state: Option<RawState>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an IPv6 CIDR block association object")]
struct RawIpv6CidrAssociation {
    /// Absent while a block from a pool is still being associated.
    #[serde(deserialize_with = "probe_model::values::net::opt_cidr", default)]
    ipv6_cidr_block: Option<IpNet>,
    ipv6_cidr_block_state: Option<RawState>,
}

/// Whether a VPC's CIDR block is in use: `associated` (or no state given).
fn associated(state: &Option<RawState>) -> bool {
    state
        .as_ref()
        .is_none_or(|s| s.state.as_deref().is_none_or(|s| s == "associated"))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an internet gateway object")]
pub(in crate::aws) struct RawInternetGateway {
    internet_gateway_id: String,
    #[serde(default)]
    attachments: Vec<RawAttachment>,
}

impl Kind for RawInternetGateway {
    const WHAT: &str = "internet gateway";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an attachment object")]
struct RawAttachment {
    vpc_id: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a NAT gateway object")]
pub(in crate::aws) struct RawNatGateway {
    nat_gateway_id: String,
    /// `pending | failed | available | deleting | deleted`.
    state: Option<String>,
}

impl Kind for RawNatGateway {
    const WHAT: &str = "NAT gateway";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a VPC peering connection object")]
pub(in crate::aws) struct RawPeering {
    vpc_peering_connection_id: String,
    status: Option<RawPeeringStatus>,
}

impl Kind for RawPeering {
    const WHAT: &str = "VPC peering connection";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a peering status object")]
struct RawPeeringStatus {
    code: Option<String>,
}

impl Dump {
    /// VPCs with the CIDR blocks associated with them (IPv4, then IPv6).
    pub(in crate::aws) fn networks(&self, origins: &mut Origins) -> Vec<Network> {
        let mut out = Vec::new();
        for (i, v) in self.vpcs.iter().enumerate() {
            v.origin(origins, format!("networks[{i}]"));
            let raw = &v.value;
            let mut cidrs: Vec<IpNet> = match &raw.cidr_block_association_set {
                Some(set) => set
                    .iter()
                    .filter(|a| associated(&a.cidr_block_state))
                    .map(|a| a.cidr_block)
                    .collect(),
                None => raw.cidr_block.into_iter().collect(),
            };
            cidrs.extend(
                raw.ipv6_cidr_block_association_set
                    .iter()
                    .filter(|a| associated(&a.ipv6_cidr_block_state))
                    .filter_map(|a| a.ipv6_cidr_block),
            );
            cidrs.dedup();
            out.push(Network {
                id: raw.vpc_id.clone(),
                cidrs,
            });
        }
        out
    }

    /// Route tables, with the routes whose target the dump shows dead made blackholes, and
    /// prefix-list routes expanded into one route per CIDR of the list (`address_groups`, read
    /// from `describe-managed-prefix-lists` and its entries); a prefix list without entries in
    /// the dump leaves its route out, with a warning.
    pub(in crate::aws) fn route_tables(
        &self,
        address_groups: &[AddressGroup],
        origins: &mut Origins,
    ) -> Result<Vec<RouteTable>, ImportError> {
        let mut out = Vec::new();
        for (i, t) in self.route_tables.iter().enumerate() {
            t.origin(origins, format!("route_tables[{i}]"));
            out.push(self.route_table(t, i, address_groups, origins)?);
        }
        Ok(out)
    }

    fn route_table(
        &self,
        t: &Item<RawRouteTable>,
        i: usize,
        address_groups: &[AddressGroup],
        origins: &mut Origins,
    ) -> Result<RouteTable, ImportError> {
        let raw = &t.value;
        let mut table = RouteTable {
            id: raw.route_table_id.clone(),
            network: raw.vpc_id.clone(),
            main: false,
            subnets: Vec::new(),
            routes: Vec::new(),
        };
        for a in raw.associations.iter().filter(|a| a.in_force()) {
            table.main |= a.main;
            if let Some(s) = &a.subnet_id
                && !table.subnets.contains(s)
            {
                table.subnets.push(s.clone());
            }
        }
        let mut order: Vec<usize> = (0..raw.routes.len()).collect();
        order.sort_by_key(|&j| raw.routes[j].rank());
        for j in order {
            let r = &raw.routes[j];
            let field = format!("Routes[{j}]");
            let state = match r.state {
                Some(RawRouteState::Filtered) => {
                    tracing::warn!(
                        "{}: {}: route table {} route {field} is in state `filtered`, which AWS \
                         does not document: it is left out",
                        t.file.display(),
                        t.path,
                        raw.route_table_id
                    );
                    continue;
                }
                Some(RawRouteState::Blackhole) => RouteState::Blackhole,
                Some(RawRouteState::Active) | None => RouteState::Active,
            };
            let via = r.target();
            let reason = match state {
                RouteState::Active => self.dead_target(r, raw.vpc_id.as_deref()),
                RouteState::Blackhole => None,
            };
            let state = if reason.is_some() {
                RouteState::Blackhole
            } else {
                state
            };
            for destination in destinations(r, t, &field, address_groups)? {
                t.field_origin(
                    origins,
                    format!("route_tables[{i}].routes[{}]", table.routes.len()),
                    &field,
                );
                table.routes.push(Route {
                    destination,
                    via: via.clone(),
                    state,
                    reason: reason.clone(),
                });
            }
        }
        Ok(table)
    }

    /// Why an `active` route's target cannot carry traffic, when the dump shows it: a NAT
    /// gateway `deleted` or `failed`, a peering whose status is not `active`, an internet gateway
    /// not attached (`available`, or the API enum's `attached`) to the table's VPC.
    fn dead_target(&self, r: &RawRoute, vpc: Option<&str>) -> Option<String> {
        if let Some(id) = &r.nat_gateway_id {
            let state = self.nat_gateways.get(id)?.value.state.as_deref()?;
            return matches!(state, "deleted" | "failed")
                .then(|| format!("NAT gateway {id} is {state}"));
        }
        if let Some(id) = &r.vpc_peering_connection_id {
            let p = self.peerings.get(id)?;
            let code = p.value.status.as_ref().and_then(|s| s.code.as_deref());
            return match code {
                Some("active") => None,
                Some(code) => Some(format!("VPC peering connection {id} is {code}, not active")),
                None => Some(format!("VPC peering connection {id} has no status")),
            };
        }
        let id = r.gateway_id.as_ref().filter(|g| g.starts_with("igw-"))?;
        let igw = self.internet_gateways.get(id)?;
        let vpc = vpc?;
        let attached = igw.value.attachments.iter().any(|a| {
            a.vpc_id.as_deref() == Some(vpc)
                && a.state
                    .as_deref()
                    .is_none_or(|s| s == "available" || s == "attached")
        });
        (!attached).then(|| format!("internet gateway {id} is not attached to {vpc}"))
    }
}

/// A route's destinations: its CIDR, or every CIDR of its prefix list.
fn destinations(
    r: &RawRoute,
    t: &Item<RawRouteTable>,
    field: &str,
    address_groups: &[AddressGroup],
) -> Result<Vec<IpNet>, ImportError> {
    if let Some(net) = r.destination_cidr_block.or(r.destination_ipv6_cidr_block) {
        return Ok(vec![net]);
    }
    let Some(pl) = &r.destination_prefix_list_id else {
        return Err(t.err(
            field,
            "a route without DestinationCidrBlock, DestinationIpv6CidrBlock or \
             DestinationPrefixListId",
        ));
    };
    let cidrs = address_groups
        .iter()
        .find(|g| &g.id == pl)
        .map(|g| g.cidrs.clone())
        .unwrap_or_default();
    if cidrs.is_empty() {
        tracing::warn!(
            "{}: {}.{field}: route to prefix list {pl} is left out: its entries are not in the \
             dump (add `aws ec2 get-managed-prefix-list-entries`, wrapped with its PrefixListId)",
            t.file.display(),
            t.path
        );
    }
    Ok(cidrs)
}
