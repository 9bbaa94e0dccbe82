//! Fixes as native YAML (docs/config.md): what to add to the configuration, for setups that are
//! written by hand, and for the rules of a provider that has no command for them.

use probe_model::AccessMode;

use super::{
    AccessEntry, AclPorts, AclRule, Fixes, Matcher, RouteFix, RouteProblem, SgRule, SubnetFix,
};

pub(crate) struct Generic;

impl Fixes for Generic {
    fn security_group_rule(&self, r: &SgRule) -> String {
        let ports = match (r.icmp, r.port) {
            (Some(t), _) => format!("icmp_type: {t}"),
            (None, Some(p)) => format!("ports: {p}"),
            (None, None) => String::new(),
        };
        let remote = match r.remote() {
            (Some(g), _) => format!("group: {g}"),
            (None, net) => format!("cidr: {net}"),
        };
        format!(
            "{}add to security group {}: {{direction: {}, protocol: {}, {ports}, {remote}}}",
            r.deny_note, r.group, r.direction, r.proto
        )
    }

    fn acl_rule(&self, r: &AclRule) -> String {
        let n = r.number;
        let ports = match r.ports {
            AclPorts::Icmp { .. } | AclPorts::All => String::new(),
            AclPorts::Ephemeral => "ports: 1024-65535, ".to_string(),
            AclPorts::Port(p) => format!("ports: {p}, "),
        };
        format!(
            "add to {} {}, {} rule {n}{}: {{number: {n}, action: allow, protocol: {}, {ports}cidr: {}}}",
            if r.stateful {
                "firewall"
            } else {
                "network ACL"
            },
            r.acl,
            if r.egress { "outbound" } else { "inbound" },
            r.before
                .map(|d| format!(" (before rule {d})"))
                .unwrap_or_default(),
            r.proto,
            r.remote
        )
    }

    fn access_entry(&self, r: &AccessEntry) -> String {
        match r.mode {
            Some(AccessMode::Blacklist) => {
                format!("remove {} from the listener's access_control", r.entry)
            }
            _ if r.source.prefix_len() < r.source.max_prefix_len() => format!(
                "the listener's access_control admits only its own ranges, not clients {}: if they must reach it, add their ranges to access_control.cidrs; if the list is meant, name the intended clients in the load balancer's `clients:` so they are judged instead",
                r.source
            ),
            _ => format!(
                "add {} to the listener's access_control.cidrs",
                super::host_prefix(r.addr)
            ),
        }
    }

    fn matcher(&self, r: &Matcher) -> String {
        format!(
            "make the health-check path answer {} (no redirect), or set health_check.expected_codes: \"{}\"",
            r.codes, r.widen
        )
    }

    fn subnet_too_small(&self, r: &SubnetFix) -> String {
        format!(
            "move load balancer {} to a larger subnet than {}",
            r.lb, r.subnet
        )
    }

    fn subnet_few_free(&self, r: &SubnetFix) -> String {
        format!(
            "free addresses in {} or move load balancer {} to a larger subnet",
            r.subnet, r.lb
        )
    }

    fn zone_without_subnet(&self, r: &SubnetFix) -> String {
        format!(
            "give load balancer {} a subnet in {}",
            r.lb,
            r.zone.unwrap_or("<zone>")
        )
    }

    fn rules_not_enforced(&self, _dedicated: bool) -> String {
        "control access on the listener (its access_control), or make the load balancer's traffic subject to the backends' rules".to_string()
    }

    fn route(&self, r: &RouteFix) -> String {
        let via = match &r.via {
            Some(v) => match &v.id {
                Some(id) => format!("{{kind: {}, id: {id}}}", v.kind.as_str()),
                None => format!("{{kind: {}, id: <id>}}", v.kind.as_str()),
            },
            None => "{kind: <internet_gateway | nat_gateway | peering | …>, id: <id>}".to_string(),
        };
        let what = match r.problem {
            RouteProblem::Missing => "add to",
            RouteProblem::Blackhole | RouteProblem::OneWay => "replace in",
        };
        format!(
            "{what} route table {}: {{destination: {}, via: {via}}}",
            r.table, r.destination
        )
    }

    fn register_targets(&self, group: &str) -> String {
        format!(
            "add members to backend group {group}, or forward the listener to a group that has them"
        )
    }

    fn forward_to(&self, group: &str) -> String {
        format!(
            "forward a listener to backend group {group} (backend_group or forwards), or remove the group if it is left over"
        )
    }

    fn cross_zone(&self, group: &str, zone: &str) -> String {
        format!("add members in {zone} to backend group {group}, or set cross_zone: true on it")
    }

    fn nat_egress(&self, table: &str) -> String {
        format!(
            "if they need the internet: add to route table {table}: {{destination: 0.0.0.0/0, via: {{kind: nat_gateway, id: <id>}}}}"
        )
    }
}
