//! Fixes as Huawei Cloud KooCLI (`hcloud`) commands and console steps.

use probe_model::AccessMode;

use super::{AccessEntry, AclPorts, AclRule, Fixes, Matcher, RouteFix, SgRule, SubnetFix, generic};
use probe_model::RouteTargetKind;

pub(crate) struct Huawei;

impl Fixes for Huawei {
    fn security_group_rule(&self, r: &SgRule) -> String {
        let remote = if r.ingress() {
            match &r.src_group {
                Some(g) => format!("--security_group_rule.remote_group_id={g}"),
                None => format!("--security_group_rule.remote_ip_prefix={}", r.src_net),
            }
        } else {
            format!("--security_group_rule.remote_ip_prefix={}", r.dst_host)
        };
        let ports = match (r.icmp, r.port) {
            (None, Some(p)) => format!(" --security_group_rule.multiport={p}"),
            _ => String::new(),
        };
        format!(
            "{}hcloud VPC CreateSecurityGroupRule/v3 --cli-region=<region> --project_id=<project> --security_group_rule.security_group_id={} --security_group_rule.direction={} --security_group_rule.ethertype={} --security_group_rule.protocol={}{ports} {remote} --security_group_rule.action=allow --security_group_rule.priority=1",
            r.deny_note,
            r.group,
            r.direction,
            if r.v6 { "IPv6" } else { "IPv4" },
            r.proto
        )
    }

    /// Huawei firewall (network ACL) rules are ordered: the new rule is inserted by position,
    /// right after the rule above the deny that matched (`insert_after_rule`; without it, at the
    /// top of the direction's list).
    fn acl_rule(&self, r: &AclRule) -> String {
        let dir = if r.egress {
            "egress_rules"
        } else {
            "ingress_rules"
        };
        let item = format!("--firewall.{dir}.1");
        let proto = match r.proto {
            "-1" => "any",
            p => p,
        };
        let remote = if r.egress {
            "destination_ip_address"
        } else {
            "source_ip_address"
        };
        let ports = match r.ports {
            AclPorts::Port(p) => format!(" {item}.destination_port={p}"),
            AclPorts::Ephemeral => format!(" {item}.destination_port=1024-65535"),
            AclPorts::Icmp { .. } | AclPorts::All => String::new(),
        };
        let position = match &r.after_id {
            Some(id) => format!(" --firewall.insert_after_rule={id}"),
            None => String::new(),
        };
        let place = match (&r.before_label, &r.after_id) {
            (Some(n), _) => format!("above its rule {n}, the deny that matched"),
            (None, Some(_)) => "after its last rule, above the default deny".to_string(),
            (None, None) => "first".to_string(),
        };
        format!(
            "insert into firewall {} ({place}): hcloud VPC AddFirewallRules/v3 --cli-region=<region> --project_id=<project> --firewall_id={}{position} {item}.action=allow {item}.protocol={proto} {item}.ip_version={} {item}.{remote}={}{ports}",
            r.acl,
            r.acl,
            if r.v6 { 6 } else { 4 },
            r.remote
        )
    }

    fn access_entry(&self, r: &AccessEntry) -> String {
        match r.mode {
            Some(AccessMode::Blacklist) => format!(
                "remove {} from the listener's blacklist, IP address group {}: hcloud ELB BatchDeleteIpList --cli-region=<region> --project_id=<project> --ipgroup_id={} --ipgroup.ip_list.1.ip={} (or switch the listener's access control off)",
                r.entry, r.id, r.id, r.entry
            ),
            _ if r.source.prefix_len() < r.source.max_prefix_len() => format!(
                "IP address group {} is the listener's whitelist and admits only its own entries, not clients {}: if they must reach the listener, add their ranges (hcloud ELB UpdateIpList --cli-region=<region> --project_id=<project> --ipgroup_id={} --ipgroup.ip_list.1.ip=<client range>); if the whitelist is meant, name the intended clients in the load balancer's `clients:` so they are judged instead",
                r.id, r.source, r.id
            ),
            _ => format!(
                "add {} to IP address group {}, the listener's whitelist: hcloud ELB UpdateIpList --cli-region=<region> --project_id=<project> --ipgroup_id={} --ipgroup.ip_list.1.ip={}",
                r.addr,
                r.id,
                r.id,
                super::host_prefix(r.addr)
            ),
        }
    }

    fn matcher(&self, r: &Matcher) -> String {
        format!(
            "make the health-check path answer {} (no redirect), or set the health monitor's expected_codes to {}",
            r.codes, r.widen
        )
    }

    fn subnet_too_small(&self, r: &SubnetFix) -> String {
        generic::Generic.subnet_too_small(r)
    }

    fn subnet_few_free(&self, r: &SubnetFix) -> String {
        generic::Generic.subnet_few_free(r)
    }

    fn zone_without_subnet(&self, r: &SubnetFix) -> String {
        generic::Generic.zone_without_subnet(r)
    }

    fn rules_not_enforced(&self, dedicated: bool) -> String {
        format!(
            "control access on the listener (ELB > Listeners > Access Control: an IP address group whitelist){}",
            if dedicated {
                ", or enable \"IP as a backend\" on the load balancer"
            } else {
                ", or turn the listener's transparent client IP off (then the rules apply, to traffic from 100.125.0.0/16)"
            }
        )
    }

    /// VPC route tables (`UpdateRouteTable`, v1 API): the route's next hop by its Huawei type.
    fn route(&self, r: &RouteFix) -> String {
        let (kind, hop) = match &r.via {
            Some(v) => (
                match v.kind {
                    RouteTargetKind::NatGateway => "nat",
                    RouteTargetKind::Peering => "peering",
                    RouteTargetKind::VpnGateway => "vpn",
                    RouteTargetKind::Instance => "ecs",
                    RouteTargetKind::TransitGateway => "er",
                    _ => "<type>",
                },
                v.id.clone().unwrap_or_else(|| "<next hop id>".to_string()),
            ),
            None => (
                "<nat | peering | vpn | ecs | …>",
                "<next hop id>".to_string(),
            ),
        };
        format!(
            "hcloud VPC UpdateRouteTable --routetable_id={} --routetable.routes.add.1.destination={} --routetable.routes.add.1.type={kind} --routetable.routes.add.1.nexthop={hop} (an EIP, not a route, gives a Huawei load balancer its internet side)",
            r.table, r.destination
        )
    }

    fn register_targets(&self, group: &str) -> String {
        format!(
            "add members: hcloud ELB BatchCreateMembers --pool_id={group} --members.1.address=<address> --members.1.protocol_port=<port>; or point the listener at a pool that has them"
        )
    }

    fn forward_to(&self, group: &str) -> String {
        format!(
            "make it a listener's default pool (hcloud ELB UpdateListener --listener_id=<id> --listener.default_pool_id={group}), or delete the pool if it is left over"
        )
    }

    fn cross_zone(&self, group: &str, zone: &str) -> String {
        generic::Generic.cross_zone(group, zone)
    }

    fn nat_egress(&self, table: &str) -> String {
        format!(
            "if they need the internet: a NAT gateway (SNAT rule) for the subnet, or a default route to it: hcloud VPC UpdateRouteTable --routetable_id={table} --routetable.routes.add.1.destination=0.0.0.0/0 --routetable.routes.add.1.type=nat --routetable.routes.add.1.nexthop=<nat gateway id>"
        )
    }
}
