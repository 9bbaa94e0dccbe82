//! The AWS importer: a directory of AWS CLI JSON outputs → [`Model`].
//!
//! Users already have the JSON that `aws ... describe-*` prints; retyping it would introduce the
//! very mistakes `probe` looks for. Each file is recognised by its top-level key, never its name,
//! so `aws ec2 describe-subnets > anything.json` works. Several files with the same key are merged
//! (an object that appears twice must be identical in both). `docs/import-aws.md` has the commands
//! that produce the files. One module per API family reads its outputs; each module's table lists
//! its keys.
//!
//! | API family            | file                         | top-level keys                                                 |
//! |-----------------------|------------------------------|----------------------------------------------------------------|
//! | ELB v2 (ALB/NLB/GWLB) | `elbv2/mod.rs`               | `LoadBalancers`, `Listeners`, `TargetGroups`, `TargetHealthDescriptions` |
//! |                       | `elbv2/attributes.rs`        | `Attributes` (+ `LoadBalancerArn` or `TargetGroupArn`)         |
//! |                       | `elbv2/rules.rs`             | `Rules` (+ `ListenerArn`)                                      |
//! | EC2                   | `ec2/mod.rs` and its modules | `Reservations`, `Subnets`, `SecurityGroups`, `SecurityGroupRules`, `NetworkAcls`, `PrefixLists`, `Entries` |
//! |                       | `ec2/routes.rs`              | `RouteTables`, `Vpcs`, `InternetGateways`, `NatGateways`, `VpcPeeringConnections` |
//! |                       | `ec2/network_interfaces.rs`  | `NetworkInterfaces`                                            |
//! | ELB (Classic)         | `elb.rs`                     | `LoadBalancerDescriptions`, `InstanceStates`, `LoadBalancerAttributes` |
//!
//! Outputs no family reads but that AWS prints (`describe-volumes`, `describe-tags`, …) are
//! skipped with a warning (`UNUSED`); only JSON no AWS command prints is refused.
//!
//! What is derived rather than read:
//!
//! * A target-health file names its target group by a `TargetGroupArn` key beside
//!   `TargetHealthDescriptions` (the CLI does not print one, so users wrap the output); without it
//!   the file belongs to the only target group, and is an error when there are several.
//! * Instance targets take their address, subnet and security groups from `describe-instances`;
//!   IP targets take them from the instance interface that owns the address, when there is one.
//! * The network ACLs' default entries (rule 32767, and 32768 for IPv6) are dropped: the model
//!   implies the final deny.
//! * A subnet that no network ACL lists is associated with its VPC's default ACL, as AWS does.
//! * A security group or prefix list that a rule references but the dump lacks (another account's
//!   group, an unexported prefix list) becomes an empty placeholder named `NOT_IN_DUMP`, so the
//!   references resolve; an empty prefix list matches no address.

mod ec2;
mod elb;
mod elbv2;

use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use super::import::{self, Collection, Family, ImportError, Importer, Order, Placeholders, Unused};
use super::{ConfigError, JsonFile, Origins};
use probe_model::Model;

/// The name given to placeholder security groups and prefix lists that rules reference but the
/// dump lacks.
pub(crate) const NOT_IN_DUMP: &str = "(not in the dump)";

/// The API families, in the order messages list their keys.
const FAMILIES: &[Family<Dump>] = &[
    elbv2::FAMILY,
    ec2::FAMILY,
    ec2::ROUTE_FAMILY,
    ec2::ENI_FAMILY,
    elb::FAMILY,
    elbv2::ATTRIBUTES_FAMILY,
    elbv2::RULES_FAMILY,
];

/// How many of the known keys an error about a foreign file lists: the rest are in
/// `docs/import-aws.md`, and a message that long would be cut.
const KEYS_LISTED: usize = 11;

/// The importer. [`import`] gives its model; `config::model_of` keeps the origins too, to place
/// the model's consistency problems in the dump.
pub(crate) const IMPORTER: Importer<Dump> = Importer {
    families: FAMILIES,
    unused: UNUSED,
    unrecognised,
};

/// AWS outputs that no family reads, skipped with a warning: users dump more than `probe` needs
/// (a script that saves every `describe-*` of a VPC), and a known output is not a mistake. Only
/// a key no AWS output has makes a file foreign, and an error.
const UNUSED: &[Unused] = &[
    unused("AccountAttributes", "ec2 describe-account-attributes"),
    unused("Addresses", "ec2 describe-addresses"),
    unused("AvailabilityZones", "ec2 describe-availability-zones"),
    unused("Certificates", "elbv2 describe-listener-certificates"),
    unused("DhcpOptions", "ec2 describe-dhcp-options"),
    unused(
        "EgressOnlyInternetGateways",
        "ec2 describe-egress-only-internet-gateways",
    ),
    unused("FlowLogs", "ec2 describe-flow-logs"),
    unused("Images", "ec2 describe-images"),
    unused("InstanceStatuses", "ec2 describe-instance-status"),
    unused("KeyPairs", "ec2 describe-key-pairs"),
    unused("LaunchTemplates", "ec2 describe-launch-templates"),
    unused("Limits", "elbv2 describe-account-limits"),
    unused("PolicyDescriptions", "elb describe-load-balancer-policies"),
    unused("Regions", "ec2 describe-regions"),
    unused("Snapshots", "ec2 describe-snapshots"),
    unused("SslPolicies", "elbv2 describe-ssl-policies"),
    unused("TagDescriptions", "elbv2 describe-tags / elb describe-tags"),
    unused("Tags", "ec2 describe-tags"),
    unused(
        "TransitGatewayAttachments",
        "ec2 describe-transit-gateway-attachments",
    ),
    unused("TransitGateways", "ec2 describe-transit-gateways"),
    unused("TrustStores", "elbv2 describe-trust-stores"),
    unused("VpcEndpoints", "ec2 describe-vpc-endpoints"),
    unused("Volumes", "ec2 describe-volumes"),
];

const fn unused(key: &'static str, command: &'static str) -> Unused {
    Unused { key, command }
}

const PLACEHOLDERS: Placeholders = Placeholders {
    name: Some(NOT_IN_DUMP),
    order: Order::ById,
};

/// Builds the model from AWS CLI outputs already in memory; pure, so tests and other front ends can
/// feed it. With `agent_address`, the agent's security groups and subnet come from the instance
/// interface that has that address. Not validated: [`crate::model_of`] does that.
pub fn import(files: &[JsonFile], agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    IMPORTER.model(files, agent_address)
}

fn unrecognised(found: &[String], known: &[&str]) -> String {
    let found = if found.is_empty() {
        "none".to_string()
    } else {
        found.join(", ")
    };
    let listed = known[..known.len().min(KEYS_LISTED)].join(", ");
    let more = match known.len().saturating_sub(KEYS_LISTED) {
        0 => String::new(),
        n => format!(" or {n} more (docs/import-aws.md lists them)"),
    };
    format!(
        "not an AWS CLI output this importer reads (top-level keys: {found}); \
         expected one of {listed}{more}"
    )
}

/// Everything read from the directory, before it becomes a model.
#[derive(Debug, Default)]
pub(crate) struct Dump {
    subnets: Collection<ec2::RawSubnet>,
    security_groups: Collection<ec2::RawSecurityGroup>,
    sg_rules: Collection<ec2::RawSgRule>,
    network_acls: Collection<ec2::RawNetworkAcl>,
    instances: Collection<ec2::RawInstance>,
    load_balancers: Collection<elbv2::RawLoadBalancer>,
    listeners: Collection<elbv2::RawListener>,
    target_groups: Collection<elbv2::RawTargetGroup>,
    health: Vec<elbv2::HealthFile>,
    prefix_lists: Collection<ec2::RawPrefixList>,
    /// `Entries` files by prefix list id.
    prefix_entries: Vec<ec2::PrefixEntries>,
    /// A file of `Entries` without the `PrefixListId` that says whose they are.
    unnamed_entries: Option<Rc<Path>>,
    route_tables: Collection<ec2::RawRouteTable>,
    vpcs: Collection<ec2::RawVpc>,
    internet_gateways: Collection<ec2::RawInternetGateway>,
    nat_gateways: Collection<ec2::RawNatGateway>,
    peerings: Collection<ec2::RawPeering>,
    network_interfaces: Collection<ec2::RawNetworkInterface>,
    /// Wrapped `describe-load-balancer-attributes` and `describe-target-group-attributes`.
    attributes: Vec<elbv2::AttributesFile>,
    /// `describe-rules` outputs.
    rules: Vec<elbv2::RulesFile>,
    classic: Collection<elb::RawClassic>,
    classic_health: Vec<elb::ClassicFile<Vec<import::Item<elb::RawInstanceState>>>>,
    classic_attributes: Vec<elb::ClassicFile<import::Item<elb::RawClassicAttributes>>>,
}

impl import::Dump for Dump {
    /// A file's objects must agree with the copies of earlier files (checked kind by kind, in
    /// this order, so a file with several differing copies names the first kind's), and its
    /// prefix list entries must name their list.
    fn check_file(&mut self) -> Result<(), ImportError> {
        self.subnets.check()?;
        self.security_groups.check()?;
        self.sg_rules.check()?;
        self.network_acls.check()?;
        self.instances.check()?;
        self.load_balancers.check()?;
        self.listeners.check()?;
        self.target_groups.check()?;
        self.prefix_lists.check()?;
        self.route_tables.check()?;
        self.vpcs.check()?;
        self.internet_gateways.check()?;
        self.nat_gateways.check()?;
        self.peerings.check()?;
        self.network_interfaces.check()?;
        self.classic.check()?;
        self.check_prefix_entries()?;
        Ok(())
    }

    fn build(self, agent_address: Option<IpAddr>) -> Result<(Model, Origins), ImportError> {
        let mut origins = Origins::default();
        let mut model = Model {
            subnets: self.subnets(&mut origins),
            ..Model::default()
        };
        model.address_groups = self.address_groups(&mut origins);
        model.security_groups = self.security_groups(&mut origins)?;
        model.network_acls = self.network_acls(&mut origins)?;
        model.networks = self.networks(&mut origins);
        model.route_tables = self.route_tables(&model.address_groups, &mut origins)?;
        let enis = self.enis();
        let interfaces = ec2::Interfaces::new(&self.instances, &enis);
        self.check_attribute_owners()?;
        model.backend_groups = self.backend_groups(&interfaces, &mut origins)?;
        model.load_balancers = self.load_balancers(&enis, &mut origins)?;
        let classic = self.classic(
            &interfaces,
            &enis,
            (&model.load_balancers, &model.backend_groups),
            &mut origins,
        )?;
        model.load_balancers.extend(classic.load_balancers);
        model.backend_groups.extend(classic.backend_groups);
        let missing = import::add_placeholders(&mut model, &PLACEHOLDERS);
        ec2::warn_prefix_lists(&missing);
        if let Some(address) = agent_address {
            model.agent = ec2::agent(address, &interfaces);
        }
        Ok((model, origins))
    }
}

#[cfg(test)]
mod whole_path_tests;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ipnet::IpNet;

    use super::*;
    use crate::import::testing::{self, ip, json_file as json, net};
    use probe_model::{
        AclRule, Action, Agent, AppProto, Direction, HealthCheckPort, HealthCheckProto, IpProto,
        LbKind, Listener, Member, PortRange, Provider, ReportedHealth, SecurityGroup, TargetType,
        validate,
    };

    const LB_SG: &str = "sg-0123456789abcdef0";

    const WEB_SG: &str = "sg-0fedcba9876543210";

    const AGENT_SG: &str = "sg-0a1b2c3d4e5f67890";

    const PUBLIC_1A: &str = "subnet-0a1b2c3d4e5f60718";

    const PUBLIC_1B: &str = "subnet-0b2c3d4e5f6a70819";

    const PRIVATE_1A: &str = "subnet-0c3d4e5f6a7b8091a";

    const PRIVATE_1B: &str = "subnet-0d4e5f6a7b8c901ab";

    fn fixture_dir() -> PathBuf {
        crate::import::testing::repo("tests/fixtures/aws/alb-private")
    }

    fn load_dir(dir: &Path, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
        testing::load_dir(&IMPORTER, dir, agent_address)
    }

    pub(super) fn ok(files: &[JsonFile]) -> Model {
        testing::valid(import(files, None))
    }

    pub(super) fn err(files: &[JsonFile]) -> String {
        testing::failure(import(files, None))
    }

    pub(super) const INSTANCES: &str = r#"{"Reservations": [{"Instances": [{
        "InstanceId": "i-0123456789abcdef0", "PrivateIpAddress": "10.0.1.10",
        "SubnetId": "subnet-a", "SecurityGroups": [{"GroupName": "app", "GroupId": "sg-app"}],
        "NetworkInterfaces": [
          {"SubnetId": "subnet-a", "Groups": [{"GroupId": "sg-app"}], "PrivateIpAddress": "10.0.1.10",
           "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": "10.0.1.10"},
                                  {"Primary": false, "PrivateIpAddress": "10.0.1.11"}]},
          {"SubnetId": "subnet-b", "Groups": [{"GroupId": "sg-db"}], "PrivateIpAddress": "10.0.2.20",
           "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": "10.0.2.20"}]}]}]}]}"#;

    pub(super) const SUBNETS_AND_GROUPS: &str = r#"{
        "Subnets": [{"SubnetId": "subnet-a", "CidrBlock": "10.0.1.0/24"},
                    {"SubnetId": "subnet-b", "CidrBlock": "10.0.2.0/24"}],
        "SecurityGroups": [{"GroupId": "sg-app"}, {"GroupId": "sg-db"}]}"#;

    #[test]
    fn alb_private_fixture_imports_to_the_expected_model() {
        let model = load_dir(&fixture_dir(), Some(ip("10.0.0.10"))).expect("imports");
        assert_eq!(validate(&model), vec![]);

        assert_eq!(model.subnets.len(), 4);
        assert_eq!(model.subnets[0].id, PUBLIC_1A);
        assert_eq!(model.subnets[0].cidr, net("10.0.0.0/24"));
        assert_eq!(model.subnets[0].zone.as_deref(), Some("eu-west-1a"));
        assert_eq!(model.subnets[0].free_addresses, Some(246));

        let [lb] = model.load_balancers.as_slice() else {
            panic!("one load balancer: {:?}", model.load_balancers)
        };
        assert_eq!(lb.name, "web-alb");
        assert_eq!((lb.provider, lb.kind), (Provider::Aws, LbKind::Alb));
        assert!(
            lb.id
                .as_deref()
                .is_some_and(|a| a.ends_with("/web-alb/5f3c2a1b0e9d8c7b"))
        );
        assert_eq!(lb.subnets, [PUBLIC_1A, PUBLIC_1B]);
        assert_eq!(lb.security_groups, [LB_SG]);
        assert_eq!(lb.health_check_sources, None);
        assert_eq!(
            lb.listeners,
            [Listener {
                name: None,
                protocol: AppProto::Http,
                port: 80,
                backend_group: Some("web".to_string()),
                access_control: None,
                forwards: Vec::new(),
            }]
        );

        let [bg] = model.backend_groups.as_slice() else {
            panic!("one backend group: {:?}", model.backend_groups)
        };
        assert_eq!(bg.name, "web");
        assert_eq!((bg.protocol, bg.port), (AppProto::Http, Some(80)));
        assert_eq!(bg.target_type, Some(TargetType::Instance));
        let hc = bg.health_check.as_ref().expect("a health check");
        assert_eq!(hc.protocol, HealthCheckProto::Http);
        assert_eq!(hc.port, HealthCheckPort::Port(8081));
        assert_eq!(hc.port_for(80), 8081);
        assert_eq!(
            (hc.path.as_str(), hc.expected_codes.as_str()),
            ("/health", "200")
        );
        assert_eq!((hc.interval_s, hc.timeout_s), (30, 5));
        assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (5, 2));
        let healthy = Some(ReportedHealth {
            state: "healthy".to_string(),
            reason: None,
        });
        assert_eq!(
            bg.members,
            [
                Member {
                    name: Some("i-0a7f3c9e1b2d4f601".to_string()),
                    address: ip("10.0.1.25"),
                    port: Some(80),
                    subnet: Some(PRIVATE_1A.to_string()),
                    security_groups: vec![WEB_SG.to_string()],
                    reported_health: healthy.clone(),
                },
                Member {
                    name: Some("i-0b8e4d0f2c3a5e702".to_string()),
                    address: ip("10.0.11.37"),
                    port: Some(80),
                    subnet: Some(PRIVATE_1B.to_string()),
                    security_groups: vec![WEB_SG.to_string()],
                    reported_health: healthy,
                },
            ]
        );

        let ids: Vec<_> = model
            .security_groups
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(ids, [LB_SG, WEB_SG, AGENT_SG]);
        let lb_sg = &model.security_groups[0];
        assert_eq!(lb_sg.name.as_deref(), Some("web-alb-sg"));
        let summary: Vec<_> = lb_sg
            .rules
            .iter()
            .map(|r| {
                (
                    r.direction,
                    r.protocol,
                    r.ports.to_string(),
                    r.cidr,
                    r.group.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Direction::Ingress,
                    IpProto::Tcp,
                    "80".into(),
                    Some(net("0.0.0.0/0")),
                    None
                ),
                (
                    Direction::Egress,
                    IpProto::Tcp,
                    "80".into(),
                    None,
                    Some(WEB_SG.into())
                ),
                (
                    Direction::Egress,
                    IpProto::Tcp,
                    "8081".into(),
                    None,
                    Some(WEB_SG.into())
                ),
            ]
        );
        assert_eq!(
            lb_sg.rules[0].description.as_deref(),
            Some("HTTP from anywhere")
        );
        let web_sg = &model.security_groups[1];
        assert_eq!(web_sg.rules.len(), 4);
        assert_eq!(web_sg.rules[2].cidr, Some(net("10.0.0.0/16")));
        assert_eq!(web_sg.rules[3].protocol, IpProto::Any);

        let [app, default] = model.network_acls.as_slice() else {
            panic!("two network ACLs: {:?}", model.network_acls)
        };
        assert_eq!(app.name.as_deref(), Some("acl-app"));
        assert!(!app.stateful);
        assert_eq!(app.subnets, [PRIVATE_1A, PRIVATE_1B]);
        let rules = |rules: &[AclRule]| -> Vec<(u32, Action, IpProto, String, Option<IpNet>)> {
            rules
                .iter()
                .map(|r| (r.number, r.action, r.protocol, r.ports.to_string(), r.cidr))
                .collect()
        };
        let vpc = Some(net("10.0.0.0/16"));
        assert_eq!(
            rules(&app.inbound),
            [
                (100, Action::Allow, IpProto::Tcp, "80".into(), vpc),
                (110, Action::Allow, IpProto::Tcp, "8081".into(), vpc),
            ]
        );
        assert_eq!(
            rules(&app.outbound),
            [(100, Action::Allow, IpProto::Tcp, "1024-65535".into(), vpc)]
        );
        assert_eq!(app.outbound[0].ports.0, [PortRange::EPHEMERAL]);
        // public-1a is listed; public-1b is not and falls to the VPC's default ACL.
        assert_eq!(default.subnets, [PUBLIC_1A, PUBLIC_1B]);
        let all = Some(net("0.0.0.0/0"));
        assert_eq!(
            rules(&default.inbound),
            [(100, Action::Allow, IpProto::Any, "any".into(), all)]
        );
        assert_eq!(rules(&default.outbound), rules(&default.inbound));

        assert_eq!(
            model.agent,
            Agent {
                address: Some(ip("10.0.0.10")),
                security_groups: vec![AGENT_SG.to_string()],
                subnet: Some(PUBLIC_1A.to_string()),
            }
        );
        assert!(model.address_groups.is_empty());
    }

    #[test]
    fn files_are_recognised_by_key_not_name() {
        let files = crate::import::testing::read_json_dir(&fixture_dir()).expect("reads");
        let expected = ok(&files);
        // Other names, other order: the same model.
        let renamed: Vec<JsonFile> = files
            .iter()
            .rev()
            .enumerate()
            .map(|(i, f)| JsonFile {
                path: PathBuf::from(format!("output-{i}.json")),
                ..f.clone()
            })
            .collect();
        assert_eq!(ok(&renamed), expected);
    }

    #[test]
    fn file_without_a_known_key_is_an_error_naming_it_and_its_keys() {
        let subnets = json("net.json", r#"{"Subnets": []}"#);
        let other = json("notes.json", r#"{"vpcs": [], "NextToken": null}"#);
        let e = err(&[subnets, other]);
        assert!(e.starts_with("notes.json: "), "{e}");
        assert!(
            e.contains("vpcs, NextToken") || e.contains("NextToken, vpcs"),
            "{e}"
        );
        assert!(e.contains("SecurityGroups"), "{e}");
        let e = err(&[json("empty.json", "{}")]);
        assert!(
            e.contains("empty.json") && e.contains("top-level keys: none"),
            "{e}"
        );
    }

    #[test]
    fn groups_referenced_but_not_dumped_become_placeholders() {
        let sg = json(
            "sg.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "web", "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [
                    {"GroupId": "sg-other", "UserId": "210987654321", "Description": "peer"}],
                 "PrefixListIds": [{"PrefixListId": "pl-missing"}]}]}]}"#,
        );
        let model = ok(&[sg]);
        assert_eq!(model.security_groups.len(), 2);
        assert_eq!(
            model.security_groups[1],
            SecurityGroup {
                id: "sg-other".to_string(),
                name: Some(NOT_IN_DUMP.to_string()),
                rules: vec![],
            }
        );
        let rules = &model.security_groups[0].rules;
        assert_eq!(rules[0].address_group.as_deref(), Some("pl-missing"));
        assert_eq!(rules[1].description.as_deref(), Some("peer"));
        assert_eq!(model.address_groups[0].id, "pl-missing");
        assert!(model.address_groups[0].cidrs.is_empty());
    }

    #[test]
    fn several_dumps_of_one_kind_merge_and_must_agree() {
        let a = json(
            "a.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]}"#,
        );
        let b = json(
            "b.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-2"}, {"GroupId": "sg-3"}]}"#,
        );
        let model = ok(&[a.clone(), b]);
        let ids: Vec<_> = model
            .security_groups
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(ids, ["sg-1", "sg-2", "sg-3"]);

        let c = json(
            "c.json",
            r#"{"SecurityGroups": [{"GroupId": "sg-2", "GroupName": "renamed"}]}"#,
        );
        let e = err(&[a, c]);
        assert!(
            e.starts_with("c.json:1:21: SecurityGroups[0]: security group sg-2 differs")
                && e.contains("a.json"),
            "{e}"
        );
    }
}
