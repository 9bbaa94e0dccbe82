//! Where packets go: VPCs, their route tables, and the NAT gateways and peerings routes point at.
//!
//! | top-level key                  | call                                         | becomes                          |
//! |--------------------------------|----------------------------------------------|----------------------------------|
//! | `vpcs` / `vpc`                 | VPC `ListVpcs` (v1 or v3)                    | `networks`                       |
//! | `routetable` / `routetables`   | VPC `ShowRouteTable` per table (v1)          | `route_tables`                   |
//! | `peerings` / `peering`         | VPC `ListVpcPeerings` (v2.0)                 | whether a route's peering works  |
//! | `nat_gateways` / `nat_gateway` | NAT `ListNatGateways` (v2)                   | whether a route's NAT gateway works |
//!
//! Huawei routes carry no state, so a route whose next hop the dump shows dead is made a
//! blackhole here with the reason (a peering whose `status` is not `ACTIVE`; a NAT gateway that
//! is `INACTIVE`, being deleted, or frozen). A next hop the dump does not describe is taken as
//! working. `ListRouteTables` leaves the routes out, so a table known only from it is an error,
//! like a firewall known only from `ListFirewall`.
//!
//! A VPC routes its own ranges locally whatever its tables list: each table gets a `local` route
//! for every CIDR of its VPC (`cidr` and the v3 `extend_cidrs`), for every subnet of the VPC
//! outside them (IPv6 subnets), and for Huawei's cloud-service range 100.64.0.0/10 (shared load
//! balancers' 100.125.0.0/16, the internal DNS), which every VPC reaches as a system route;
//! unless the table already lists that destination.
//!
//! Huawei has no internet gateway: an EIP bound to a port gives it its internet side, whatever
//! the route table says (`Profile::internet_via_route_table` is false for Huawei), so no route
//! here is of kind `internet_gateway`.

use std::collections::HashMap;

use ipnet::IpNet;
use serde::Deserialize;

use super::values::{de, owned, text};
use super::vpc::SubnetIndex;
use super::{Dump, responses};
use crate::import::{Collection, DumpFile, Family, ImportError, Item, Kind};
use crate::{ConfigError, Origins};
use probe_model::{Network, Route, RouteState, RouteTable, RouteTarget, RouteTargetKind, Subnet};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &[
        "vpcs",
        "vpc",
        "routetables",
        "routetable",
        "peerings",
        "peering",
        "nat_gateways",
        "nat_gateway",
    ],
    wrappers: &[],
    add,
};

/// The routing keys of one file, list and show-one responses; unknown keys (`page_info`,
/// `request_id`, `peerings_links`) are ignored.
#[derive(Debug, Default, Deserialize, PartialEq)]
struct Doc {
    #[serde(default, deserialize_with = "de::null_default")]
    vpcs: Vec<RawVpc>,
    #[serde(default)]
    vpc: Option<RawVpc>,
    #[serde(default, deserialize_with = "de::null_default")]
    routetables: Vec<RawRouteTable>,
    #[serde(default)]
    routetable: Option<RawRouteTable>,
    #[serde(default, deserialize_with = "de::null_default")]
    peerings: Vec<RawPeering>,
    #[serde(default)]
    peering: Option<RawPeering>,
    #[serde(default, deserialize_with = "de::null_default")]
    nat_gateways: Vec<RawNatGateway>,
    #[serde(default)]
    nat_gateway: Option<RawNatGateway>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let d: Doc = file.parse()?;
    dump.vpcs.extend(responses(file, "vpc", d.vpcs, d.vpc));
    dump.route_tables
        .extend(responses(file, "routetable", d.routetables, d.routetable));
    let peerings = responses(file, "peering", d.peerings, d.peering);
    dump.peerings.extend(peerings, |p| Some(p.id.as_str()));
    let nats = responses(file, "nat_gateway", d.nat_gateways, d.nat_gateway);
    dump.nat_gateways.extend(nats, |n| Some(n.id.as_str()));
    Ok(())
}

/// VPC v1 (`GET /v1/{project_id}/vpcs`) or v3 (`GET /v3/{project_id}/vpc/vpcs`, with the
/// secondary CIDRs in `extend_cidrs`). Both versions may be dumped: their CIDRs are merged.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a VPC object")]
pub(super) struct RawVpc {
    id: String,
    #[serde(default, deserialize_with = "de::opt_net")]
    cidr: Option<IpNet>,
    /// v3 only: secondary CIDRs.
    #[serde(default, deserialize_with = "de::address_list")]
    extend_cidrs: Vec<IpNet>,
}

/// VPC v1 route table: `ShowRouteTable` (`routetable`, with `routes`) or `ListRouteTables`
/// (`routetables`, without).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a route table object")]
pub(super) struct RawRouteTable {
    id: String,
    #[serde(default)]
    vpc_id: Option<String>,
    /// The VPC's default table: it routes every subnet that no table names.
    #[serde(default)]
    default: Option<bool>,
    #[serde(default, deserialize_with = "de::null_default")]
    subnets: Vec<RawSubnetRef>,
    #[serde(default)]
    routes: Option<Vec<RawRoute>>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a subnet reference object ({\"id\": ...})")]
struct RawSubnetRef {
    id: String,
}

/// SDK `RouteTableRoute`: `type`, `destination`, `nexthop`, `description`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a route object")]
struct RawRoute {
    #[serde(rename = "type")]
    kind: String,
    #[serde(deserialize_with = "probe_model::values::net::cidr")]
    destination: IpNet,
    #[serde(default)]
    nexthop: Option<String>,
}

/// VPC peering (`GET /v2.0/vpc/peerings`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a VPC peering object")]
pub(super) struct RawPeering {
    id: String,
    /// `PENDING_ACCEPTANCE`, `REJECTED`, `EXPIRED`, `DELETED`, `ACTIVE`.
    #[serde(default)]
    status: Option<String>,
}

impl Kind for RawPeering {
    const WHAT: &str = "VPC peering";
}

/// Public NAT gateway (`GET /v2/{project_id}/nat_gateways`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a NAT gateway object")]
pub(super) struct RawNatGateway {
    id: String,
    /// `ACTIVE`, `PENDING_CREATE`, `PENDING_UPDATE`, `PENDING_DELETE`, `INACTIVE`.
    #[serde(default)]
    status: Option<String>,
    /// `false` = frozen.
    #[serde(default)]
    admin_state_up: Option<bool>,
}

impl Kind for RawNatGateway {
    const WHAT: &str = "NAT gateway";
}

/// A route `type` → the model's kind of target. Huawei's list (SDK `RouteTableRoute.type`):
/// `local`, `ecs`, `eni`, `subeni`, `vip`, `nat`, `peering`, `vpn`, `dc`, `cc`, `egw`, `er`;
/// anything newer is `other`, with a warning.
fn target_kind(kind: &str) -> Option<RouteTargetKind> {
    use RouteTargetKind as K;
    Some(match kind.to_ascii_lowercase().as_str() {
        "local" => K::Local,
        // An instance, its (sub-)interface, or a virtual IP: an appliance in the VPC.
        "ecs" | "eni" | "subeni" | "vip" => K::Instance,
        "nat" => K::NatGateway,
        "peering" => K::Peering,
        // A VPN gateway, or a Direct Connect gateway: on-premises networks, as AWS's virtual
        // private gateway carries both.
        "vpn" | "dc" => K::VpnGateway,
        // Enterprise Router and Cloud Connect join VPCs (and regions): a transit gateway.
        "er" | "cc" => K::TransitGateway,
        // "egw": a VPC endpoint.
        "egw" => K::Endpoint,
        _ => return None,
    })
}

/// VPCs → networks, each id once, with the CIDRs of every copy (v1 and v3).
pub(super) fn networks(items: &[Item<RawVpc>], origins: &mut Origins) -> Vec<Network> {
    let mut out: Vec<Network> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for item in items {
        let v = &item.value;
        let i = *index.entry(v.id.as_str()).or_insert_with(|| {
            item.origin(origins, format!("networks[{}]", out.len()));
            out.push(Network {
                id: v.id.clone(),
                cidrs: Vec::new(),
            });
            out.len() - 1
        });
        for net in v.cidr.iter().chain(&v.extend_cidrs) {
            let net = net.trunc();
            if !out[i].cidrs.contains(&net) {
                out[i].cidrs.push(net);
            }
        }
    }
    out
}

/// One copy of each route table, in the order first seen: the first, unless a later one has the
/// routes it lacks.
fn with_routes(items: &[Item<RawRouteTable>]) -> Vec<&Item<RawRouteTable>> {
    let mut chosen: Vec<&Item<RawRouteTable>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for item in items {
        match index.get(item.value.id.as_str()) {
            Some(&i) => {
                if chosen[i].value.routes.is_none() && item.value.routes.is_some() {
                    chosen[i] = item;
                }
            }
            None => {
                index.insert(item.value.id.as_str(), chosen.len());
                chosen.push(item);
            }
        }
    }
    chosen
}

/// Route tables, with their VPC's local ranges and the routes whose next hop the dump shows
/// dead made blackholes.
pub(super) fn route_tables(
    dump: &Dump,
    subnet_index: &SubnetIndex,
    networks: &[Network],
    subnets: &[Subnet],
    origins: &mut Origins,
) -> Result<Vec<RouteTable>, ImportError> {
    let mut out = Vec::new();
    for item in with_routes(&dump.route_tables) {
        let raw = &item.value;
        let Some(routes) = &raw.routes else {
            return Err(item.err(
                "",
                format!(
                    "route table {} has no routes: ListRouteTables leaves them out; save \
                     ShowRouteTable (`{{\"routetable\": ...}}`) for each route table",
                    raw.id
                ),
            ));
        };
        let i = out.len();
        item.origin(origins, format!("route_tables[{i}]"));
        let mut table = RouteTable {
            id: raw.id.clone(),
            network: owned(&raw.vpc_id),
            main: raw.default == Some(true),
            subnets: Vec::new(),
            routes: Vec::new(),
        };
        for (j, s) in raw.subnets.iter().enumerate() {
            let ids = subnet_index.network_ids(&s.id).ok_or_else(|| {
                item.err(
                    &format!("subnets[{j}].id"),
                    format!(
                        "subnet {} is not in the subnets dump (save ListSubnets)",
                        s.id
                    ),
                )
            })?;
            for id in ids {
                if !table.subnets.contains(&id) {
                    table.subnets.push(id);
                }
            }
        }
        for (j, r) in routes.iter().enumerate() {
            let field = format!("routes[{j}]");
            let kind = target_kind(&r.kind).unwrap_or_else(|| {
                tracing::warn!(
                    "{}: {}.{field}.type: route type {:?} is not one Huawei documents: read as \
                     `other`",
                    item.file.display(),
                    item.path,
                    r.kind
                );
                RouteTargetKind::Other
            });
            let hop = owned(&r.nexthop);
            if kind != RouteTargetKind::Local && hop.is_none() {
                return Err(item.err(
                    &format!("{field}.nexthop"),
                    format!("a {} route needs a nexthop", r.kind),
                ));
            }
            let reason = dead_hop(dump, kind, hop.as_deref());
            item.field_origin(
                origins,
                format!("route_tables[{i}].routes[{}]", table.routes.len()),
                &field,
            );
            table.routes.push(Route {
                destination: r.destination.trunc(),
                via: RouteTarget {
                    kind,
                    id: if kind == RouteTargetKind::Local {
                        None
                    } else {
                        hop
                    },
                },
                state: if reason.is_some() {
                    RouteState::Blackhole
                } else {
                    RouteState::Active
                },
                reason,
            });
        }
        add_local_routes(&mut table, networks, subnets);
        out.push(table);
    }
    Ok(out)
}

/// Huawei's cloud-service range, routed locally in every VPC.
const CLOUD_SERVICES: IpNet = IpNet::V4(ipnet::Ipv4Net::new_assert(
    std::net::Ipv4Addr::new(100, 64, 0, 0),
    10,
));

/// The `local` routes of the table's VPC that it does not list: the VPC's CIDRs, its subnets'
/// CIDRs outside them, and the cloud-service range.
fn add_local_routes(table: &mut RouteTable, networks: &[Network], subnets: &[Subnet]) {
    let mut local: Vec<IpNet> = Vec::new();
    if let Some(vpc) = table.network.as_deref() {
        local.extend(
            networks
                .iter()
                .filter(|n| n.id == vpc)
                .flat_map(|n| n.cidrs.iter().copied()),
        );
        for s in subnets.iter().filter(|s| s.network.as_deref() == Some(vpc)) {
            let cidr = s.cidr.trunc();
            if !local.iter().any(|l| l.contains(&cidr)) {
                local.push(cidr);
            }
        }
    }
    local.push(CLOUD_SERVICES);
    for destination in local {
        if table.routes.iter().any(|r| r.destination == destination) {
            continue;
        }
        table.routes.push(Route {
            destination,
            via: RouteTarget {
                kind: RouteTargetKind::Local,
                id: None,
            },
            state: RouteState::Active,
            reason: None,
        });
    }
}

/// Why a route's next hop cannot carry traffic, when the dump shows it: a peering whose status is
/// not `ACTIVE`, a NAT gateway `INACTIVE` or `PENDING_DELETE`, or frozen (`admin_state_up`
/// false).
fn dead_hop(dump: &Dump, kind: RouteTargetKind, hop: Option<&str>) -> Option<String> {
    let id = hop?;
    match kind {
        RouteTargetKind::Peering => {
            let p = dump.peerings.get(id)?;
            match text(&p.value.status) {
                Some(s) if s.eq_ignore_ascii_case("ACTIVE") => None,
                Some(s) => Some(format!("VPC peering {id} is {s}, not ACTIVE")),
                None => Some(format!("VPC peering {id} has no status")),
            }
        }
        RouteTargetKind::NatGateway => {
            let n = &dump.nat_gateways.get(id)?.value;
            if n.admin_state_up == Some(false) {
                return Some(format!("NAT gateway {id} is frozen (admin_state_up false)"));
            }
            let s = text(&n.status)?;
            ["INACTIVE", "PENDING_DELETE"]
                .iter()
                .any(|d| s.eq_ignore_ascii_case(d))
                .then(|| format!("NAT gateway {id} is {s}"))
        }
        _ => None,
    }
}

/// Checks objects saved twice; VPCs and route tables merge their own way.
pub(super) fn check_copies(dump: &Dump) -> Result<(), ImportError> {
    dump.peerings.check()?;
    dump.nat_gateways.check()
}

/// The kinds the dump collects for this module.
pub(super) type Peerings = Collection<RawPeering>;
pub(super) type NatGateways = Collection<RawNatGateway>;
