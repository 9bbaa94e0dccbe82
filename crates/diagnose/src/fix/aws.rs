//! Fixes as AWS CLI commands.

use super::{
    AccessEntry, AclPorts, AclRule, Fixes, Matcher, RouteFix, RouteProblem, SgRule, SubnetFix,
    generic,
};
use probe_model::RouteTargetKind;

pub(crate) struct Aws;

impl Fixes for Aws {
    fn security_group_rule(&self, r: &SgRule) -> String {
        let (group, net) = r.remote();
        let deny_note = &r.deny_note;
        let id = &r.group;
        let proto = r.proto;
        if r.ingress() && r.icmp.is_none() {
            let remote_flag = match group {
                Some(g) => format!("--source-group {g}"),
                None => format!("--cidr {net}"),
            };
            format!(
                "{deny_note}aws ec2 authorize-security-group-ingress --group-id {id} --protocol {proto} --port {} {remote_flag}",
                r.port.map_or("-1".to_string(), |p| p.to_string())
            )
        } else {
            let remote_perm = match group {
                Some(g) => format!("UserIdGroupPairs=[{{GroupId={g}}}]"),
                None if r.v6 => format!("Ipv6Ranges=[{{CidrIpv6={net}}}]"),
                None => format!("IpRanges=[{{CidrIp={net}}}]"),
            };
            let (from, to) = r.from_to;
            format!(
                "{deny_note}aws ec2 authorize-security-group-{} --group-id {id} --ip-permissions 'IpProtocol={proto},FromPort={from},ToPort={to},{remote_perm}'",
                if r.ingress() { "ingress" } else { "egress" }
            )
        }
    }

    fn acl_rule(&self, r: &AclRule) -> String {
        let ports = match r.ports {
            AclPorts::Icmp {
                icmp_type,
                reply: false,
            } => format!(" --icmp-type-code Type={icmp_type},Code=-1"),
            AclPorts::Icmp { reply: true, .. } => format!(
                " --icmp-type-code Type={},Code=-1",
                if r.v6 { 129 } else { 0 }
            ),
            AclPorts::Ephemeral => " --port-range From=1024,To=65535".to_string(),
            AclPorts::Port(p) => format!(" --port-range From={p},To={p}"),
            AclPorts::All => String::new(),
        };
        format!(
            "aws ec2 create-network-acl-entry --network-acl-id {} {} --rule-number {} --protocol {}{ports} --{} {} --rule-action allow",
            r.acl,
            if r.egress { "--egress" } else { "--ingress" },
            r.number,
            r.proto_number,
            if r.v6 {
                "ipv6-cidr-block"
            } else {
                "cidr-block"
            },
            r.remote
        )
    }

    fn access_entry(&self, r: &AccessEntry) -> String {
        // AWS listeners have no access lists of their own; the model's are native.
        generic::Generic.access_entry(r)
    }

    fn matcher(&self, r: &Matcher) -> String {
        format!(
            "make the health-check path answer {} (no redirect), or accept the status: aws elbv2 modify-target-group --target-group-arn {} --matcher HttpCode={}",
            r.codes,
            r.group_id.as_deref().unwrap_or("<arn>"),
            r.widen
        )
    }

    fn subnet_too_small(&self, r: &SubnetFix) -> String {
        format!(
            "aws ec2 create-subnet --vpc-id <vpc> --availability-zone {} --cidr-block <a free /27 or larger>, then aws elbv2 set-subnets --load-balancer-arn {} --subnets <the new subnet ids>",
            r.zone.unwrap_or("<zone>"),
            r.lb
        )
    }

    fn subnet_few_free(&self, r: &SubnetFix) -> String {
        format!(
            "free addresses in {} (release unused ENIs / Elastic IPs) or move the load balancer to a larger subnet in the same zone",
            r.subnet
        )
    }

    fn zone_without_subnet(&self, r: &SubnetFix) -> String {
        format!(
            "create a public subnet (/27 or larger, 8+ free addresses) in {} and add it: aws elbv2 set-subnets --load-balancer-arn {} --subnets <current subnets> <new subnet>",
            r.zone.unwrap_or("<zone>"),
            r.lb
        )
    }

    fn rules_not_enforced(&self, dedicated: bool) -> String {
        generic::Generic.rules_not_enforced(dedicated)
    }

    fn route(&self, r: &RouteFix) -> String {
        let dst_flag = if r.v6 {
            "--destination-ipv6-cidr-block"
        } else {
            "--destination-cidr-block"
        };
        let target = match &r.via {
            Some(via) => {
                let flag = match via.kind {
                    RouteTargetKind::InternetGateway | RouteTargetKind::VpnGateway => "--gateway-id",
                    RouteTargetKind::EgressOnlyInternetGateway => "--egress-only-internet-gateway-id",
                    RouteTargetKind::NatGateway => "--nat-gateway-id",
                    RouteTargetKind::Peering => "--vpc-peering-connection-id",
                    RouteTargetKind::TransitGateway => "--transit-gateway-id",
                    RouteTargetKind::Instance => "--instance-id",
                    RouteTargetKind::Endpoint => "--vpc-endpoint-id",
                    RouteTargetKind::Local | RouteTargetKind::Other => "--gateway-id",
                };
                format!("{flag} {}", via.id.as_deref().unwrap_or("<target id>"))
            }
            None => "--gateway-id <igw-…, or --nat-gateway-id, --vpc-peering-connection-id, --transit-gateway-id …>".to_string(),
        };
        let table = &r.table;
        let dst = &r.destination;
        let associate = match (&r.better_table, &r.subnet) {
            (Some(t), Some(s)) if t != table => format!(
                "; or give the subnet the route table that already has it: aws ec2 replace-route-table-association --association-id <the association of {s} in {table}> --route-table-id {t}"
            ),
            _ => String::new(),
        };
        match r.problem {
            RouteProblem::Missing => format!(
                "aws ec2 create-route --route-table-id {table} {dst_flag} {dst} {target}{associate}"
            ),
            RouteProblem::Blackhole => format!(
                "the route's target is gone: aws ec2 replace-route --route-table-id {table} {dst_flag} {dst} {target} (or aws ec2 delete-route --route-table-id {table} {dst_flag} {dst} if nothing should carry it)"
            ),
            RouteProblem::OneWay => format!(
                "answers to {dst} leave through a gateway that carries only connections opened from inside: aws ec2 replace-route --route-table-id {table} {dst_flag} {dst} {target}{associate}"
            ),
        }
    }

    fn register_targets(&self, group: &str) -> String {
        format!(
            "register targets: aws elbv2 register-targets --target-group-arn {group} --targets Id=<instance id or address>[,Port=<port>]; or forward the listener to a group that has them"
        )
    }

    fn forward_to(&self, group: &str) -> String {
        format!(
            "forward a listener to it (aws elbv2 modify-listener --listener-arn <arn> --default-actions Type=forward,TargetGroupArn={group}), or deregister the targets if the group is left over"
        )
    }

    fn cross_zone(&self, group: &str, zone: &str) -> String {
        format!(
            "register targets in {zone}, or turn cross-zone load balancing on: aws elbv2 modify-target-group-attributes --target-group-arn {group} --attributes Key=load_balancing.cross_zone.enabled,Value=true"
        )
    }

    fn nat_egress(&self, table: &str) -> String {
        format!(
            "if they need the internet: a NAT gateway in a public subnet of the zone and a default route to it: aws ec2 create-route --route-table-id {table} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id <nat-…>"
        )
    }
}
