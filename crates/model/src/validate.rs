//! Checks a parsed model for what serde cannot see: duplicate ids, references to things that do
//! not exist, values out of range. Each error names the field path and the bad value.

use std::collections::HashSet;
use std::fmt;

use super::{IpProto, Model, SgRule};

/// One problem in a model, located by its field path (`backend_groups[0].members[2].subnet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ModelError {}

/// Every problem in `model`, in document order. Empty means the model can be evaluated.
pub fn validate(model: &Model) -> Vec<ModelError> {
    let mut v = Validator::default();
    v.run(model);
    v.errors
}

#[derive(Default)]
struct Validator {
    errors: Vec<ModelError>,
}

/// The ids and names a model defines, that references must name.
struct Ids<'m> {
    subnets: HashSet<&'m str>,
    groups: HashSet<&'m str>,
    addr_groups: HashSet<&'m str>,
    backend_groups: HashSet<&'m str>,
}

impl<'m> Ids<'m> {
    fn of(m: &'m Model) -> Self {
        Ids {
            subnets: m.subnets.iter().map(|s| s.id.as_str()).collect(),
            groups: m.security_groups.iter().map(|s| s.id.as_str()).collect(),
            addr_groups: m.address_groups.iter().map(|s| s.id.as_str()).collect(),
            backend_groups: m.backend_groups.iter().map(|s| s.name.as_str()).collect(),
        }
    }
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ModelError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn unique<'a>(&mut self, what: &str, items: impl Iterator<Item = (String, &'a str)>) {
        let mut seen = HashSet::new();
        for (path, id) in items {
            if id.trim().is_empty() {
                self.err(path, format!("empty {what}"));
            } else if !seen.insert(id) {
                self.err(path, format!("duplicate {what} {id:?}"));
            }
        }
    }

    /// Every check, in document order.
    fn run(&mut self, m: &Model) {
        let ids = Ids::of(m);
        self.unique_ids(m);
        self.refs(
            "agent.security_groups",
            &m.agent.security_groups,
            &ids.groups,
            "security group",
        );
        if let Some(s) = &m.agent.subnet
            && !ids.subnets.contains(s.as_str())
        {
            self.err("agent.subnet", format!("subnet {s:?} is not defined"));
        }
        self.load_balancers(m, &ids);
        self.backend_groups(m, &ids);
        for (i, sg) in m.security_groups.iter().enumerate() {
            for (j, r) in sg.rules.iter().enumerate() {
                self.sg_rule(
                    &format!("security_groups[{i}].rules[{j}]"),
                    r,
                    &ids.groups,
                    &ids.addr_groups,
                );
            }
        }
        self.network_acls(m, &ids);
        self.expectations(m);
        self.routing(m, &ids);
    }

    /// Networks, route tables and what names them: references resolve, one main table per
    /// network, a subnet in one table at most.
    fn routing(&mut self, m: &Model, ids: &Ids) {
        self.unique(
            "network id",
            m.networks
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("networks[{i}].id"), n.id.as_str())),
        );
        self.unique(
            "route table id",
            m.route_tables
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("route_tables[{i}].id"), t.id.as_str())),
        );
        let networks: HashSet<&str> = m.networks.iter().map(|n| n.id.as_str()).collect();
        for (i, s) in m.subnets.iter().enumerate() {
            if let Some(n) = &s.network
                && !networks.is_empty()
                && !networks.contains(n.as_str())
            {
                self.err(
                    format!("subnets[{i}].network"),
                    format!("network {n:?} is not defined"),
                );
            }
        }
        let mut mains = std::collections::HashMap::new();
        let mut owner = std::collections::HashMap::new();
        for (i, t) in m.route_tables.iter().enumerate() {
            let p = format!("route_tables[{i}]");
            if let Some(n) = &t.network
                && !networks.is_empty()
                && !networks.contains(n.as_str())
            {
                self.err(
                    format!("{p}.network"),
                    format!("network {n:?} is not defined"),
                );
            }
            if t.main
                && let Some(prev) = mains.insert(t.network.as_deref(), t.id.as_str())
            {
                self.err(
                    format!("{p}.main"),
                    format!("{prev:?} is already the main route table of its network"),
                );
            }
            self.refs(&format!("{p}.subnets"), &t.subnets, &ids.subnets, "subnet");
            for (j, s) in t.subnets.iter().enumerate() {
                if let Some(prev) = owner.insert(s.as_str(), t.id.as_str())
                    && prev != t.id
                {
                    self.err(
                        format!("{p}.subnets[{j}]"),
                        format!("subnet {s:?} is already associated with route table {prev:?}"),
                    );
                }
            }
        }
        for (i, lb) in m.load_balancers.iter().enumerate() {
            for (j, n) in lb.nodes.iter().enumerate() {
                if let Some(s) = &n.subnet
                    && !ids.subnets.contains(s.as_str())
                {
                    self.err(
                        format!("load_balancers[{i}].nodes[{j}].subnet"),
                        format!("subnet {s:?} is not defined"),
                    );
                }
            }
            for (j, l) in lb.listeners.iter().enumerate() {
                for (k, f) in l.forwards.iter().enumerate() {
                    if !ids.backend_groups.contains(f.backend_group.as_str()) {
                        self.err(
                            format!(
                                "load_balancers[{i}].listeners[{j}].forwards[{k}].backend_group"
                            ),
                            format!("backend group {:?} is not defined", f.backend_group),
                        );
                    }
                }
            }
        }
    }

    fn unique_ids(&mut self, m: &Model) {
        fn paths<'a, T>(
            list: &'a [T],
            key: &'a str,
            id: impl Fn(&T) -> &str + 'a,
        ) -> impl Iterator<Item = (String, &'a str)> + 'a {
            list.iter()
                .enumerate()
                .map(move |(i, x)| (format!("{key}[{i}].id"), id(x)))
        }
        self.unique("subnet id", paths(&m.subnets, "subnets", |s| &s.id));
        self.unique(
            "security group id",
            paths(&m.security_groups, "security_groups", |s| &s.id),
        );
        self.unique(
            "network ACL id",
            paths(&m.network_acls, "network_acls", |s| &s.id),
        );
        self.unique(
            "address group id",
            paths(&m.address_groups, "address_groups", |s| &s.id),
        );
        self.unique(
            "load balancer name",
            m.load_balancers
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("load_balancers[{i}].name"), s.name.as_str())),
        );
        self.unique(
            "backend group name",
            m.backend_groups
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("backend_groups[{i}].name"), s.name.as_str())),
        );
    }

    /// Each of `ids` must name one of `set`.
    fn refs(&mut self, path: &str, ids: &[String], set: &HashSet<&str>, what: &str) {
        for (j, id) in ids.iter().enumerate() {
            if !set.contains(id.as_str()) {
                self.err(
                    format!("{path}[{j}]"),
                    format!("{what} {id:?} is not defined"),
                );
            }
        }
    }

    fn load_balancers(&mut self, m: &Model, ids: &Ids) {
        for (i, lb) in m.load_balancers.iter().enumerate() {
            let p = format!("load_balancers[{i}]");
            self.refs(&format!("{p}.subnets"), &lb.subnets, &ids.subnets, "subnet");
            self.refs(
                &format!("{p}.security_groups"),
                &lb.security_groups,
                &ids.groups,
                "security group",
            );
            for (j, l) in lb.listeners.iter().enumerate() {
                let lp = format!("{p}.listeners[{j}]");
                if l.port == 0 {
                    self.err(format!("{lp}.port"), "port 0 is not a listener port");
                }
                if let Some(bg) = &l.backend_group
                    && !ids.backend_groups.contains(bg.as_str())
                {
                    self.err(
                        format!("{lp}.backend_group"),
                        format!("backend group {bg:?} is not defined"),
                    );
                }
                if let Some(ac) = &l.access_control {
                    self.refs(
                        &format!("{lp}.access_control.address_groups"),
                        &ac.address_groups,
                        &ids.addr_groups,
                        "address group",
                    );
                }
            }
        }
    }

    fn backend_groups(&mut self, m: &Model, ids: &Ids) {
        for (i, bg) in m.backend_groups.iter().enumerate() {
            let p = format!("backend_groups[{i}]");
            if bg.port == Some(0) {
                self.err(format!("{p}.port"), "port 0 is not a traffic port");
            }
            if let Some(hc) = &bg.health_check {
                self.health_check(&p, hc);
            }
            for (j, mem) in bg.members.iter().enumerate() {
                let mp = format!("{p}.members[{j}]");
                match (mem.port, bg.port) {
                    (Some(0), _) => self.err(format!("{mp}.port"), "port 0 is not a traffic port"),
                    (None, None) => self.err(
                        format!("{mp}.port"),
                        "no port: give the member a port or its backend group one",
                    ),
                    _ => {}
                }
                if let Some(s) = &mem.subnet
                    && !ids.subnets.contains(s.as_str())
                {
                    self.err(
                        format!("{mp}.subnet"),
                        format!("subnet {s:?} is not defined"),
                    );
                }
                self.refs(
                    &format!("{mp}.security_groups"),
                    &mem.security_groups,
                    &ids.groups,
                    "security group",
                );
            }
        }
    }

    fn health_check(&mut self, p: &str, hc: &super::HealthCheck) {
        if hc.timeout_s == 0 {
            self.err(
                format!("{p}.health_check.timeout_s"),
                "a timeout of 0 s never passes",
            );
        }
        if hc.interval_s == 0 {
            self.err(
                format!("{p}.health_check.interval_s"),
                "an interval of 0 s is not a schedule",
            );
        }
        if hc.healthy_threshold == 0 || hc.unhealthy_threshold == 0 {
            self.err(format!("{p}.health_check"), "thresholds must be at least 1");
        }
        if let Err(e) = hc.expected_codes.parse::<super::StatusSpec>() {
            self.err(format!("{p}.health_check.expected_codes"), e.to_string());
        }
    }

    fn network_acls(&mut self, m: &Model, ids: &Ids) {
        for (i, acl) in m.network_acls.iter().enumerate() {
            let p = format!("network_acls[{i}]");
            self.refs(
                &format!("{p}.subnets"),
                &acl.subnets,
                &ids.subnets,
                "subnet",
            );
            for (dir, rules) in [("inbound", &acl.inbound), ("outbound", &acl.outbound)] {
                self.acl_rules(&format!("{p}.{dir}"), rules);
            }
        }
        // A subnet in two ACLs is ambiguous: the provider allows one association per subnet.
        let mut owner = std::collections::HashMap::new();
        for (i, acl) in m.network_acls.iter().enumerate() {
            for (j, s) in acl.subnets.iter().enumerate() {
                if let Some(prev) = owner.insert(s.as_str(), acl.id.as_str())
                    && prev != acl.id
                {
                    self.err(
                        format!("network_acls[{i}].subnets[{j}]"),
                        format!("subnet {s:?} is already associated with {prev:?}"),
                    );
                }
            }
        }
    }

    /// One direction of an ACL: numbers in range and unique, protocol fields that apply.
    fn acl_rules(&mut self, p: &str, rules: &[super::AclRule]) {
        let mut numbers = HashSet::new();
        for (j, r) in rules.iter().enumerate() {
            let rp = format!("{p}[{j}]");
            if !(1..=32766).contains(&r.number) {
                self.err(
                    format!("{rp}.number"),
                    format!(
                        "rule number {} is outside 1-32766 (32767 is the implicit default deny)",
                        r.number
                    ),
                );
            } else if !numbers.insert(r.number) {
                self.err(
                    format!("{rp}.number"),
                    format!("duplicate rule number {}", r.number),
                );
            }
            self.proto_fields(&rp, r.protocol, &r.ports, r.icmp_type, r.icmp_code);
            if !r.source_ports.is_any() && !r.protocol.has_ports() {
                self.err(
                    format!("{rp}.source_ports"),
                    format!("ports only apply to tcp and udp, not {}", r.protocol),
                );
            }
        }
    }

    fn expectations(&mut self, m: &Model) {
        for (i, e) in m.expectations.iter().enumerate() {
            let p = format!("expectations[{i}]");
            if let Err(msg) = super::parse_flow_target(&e.to) {
                self.err(format!("{p}.to"), msg);
            }
            if let Err(msg) = super::parse_source(&e.from) {
                self.err(format!("{p}.from"), msg);
            }
            if let Some(name) = e.from.strip_prefix("lb:")
                && !m.load_balancers.iter().any(|lb| lb.name == name)
            {
                self.err(
                    format!("{p}.from"),
                    format!("load balancer {name:?} is not defined"),
                );
            }
        }
    }

    fn sg_rule(
        &mut self,
        p: &str,
        r: &SgRule,
        groups: &HashSet<&str>,
        addr_groups: &HashSet<&str>,
    ) {
        let remotes =
            r.cidr.is_some() as u8 + r.group.is_some() as u8 + r.address_group.is_some() as u8;
        if remotes > 1 {
            self.err(
                p.to_string(),
                "give at most one of cidr, group, address_group",
            );
        }
        if let Some(g) = &r.group
            && !groups.contains(g.as_str())
        {
            self.err(
                format!("{p}.group"),
                format!("security group {g:?} is not defined"),
            );
        }
        if let Some(g) = &r.address_group
            && !addr_groups.contains(g.as_str())
        {
            self.err(
                format!("{p}.address_group"),
                format!("address group {g:?} is not defined"),
            );
        }
        if let Some(pr) = r.priority
            && !(1..=100).contains(&pr)
        {
            self.err(
                format!("{p}.priority"),
                format!("priority {pr} is outside 1-100"),
            );
        }
        self.proto_fields(p, r.protocol, &r.ports, r.icmp_type, r.icmp_code);
    }

    fn proto_fields(
        &mut self,
        p: &str,
        proto: IpProto,
        ports: &super::PortSet,
        icmp_type: Option<u8>,
        icmp_code: Option<u8>,
    ) {
        if !ports.is_any() && !proto.has_ports() {
            self.err(
                format!("{p}.ports"),
                format!("ports only apply to tcp and udp, not {proto}"),
            );
        }
        if (icmp_type.is_some() || icmp_code.is_some()) && !proto.is_icmp() {
            self.err(
                format!("{p}.icmp_type"),
                format!("ICMP type and code only apply to icmp and icmpv6, not {proto}"),
            );
        }
        if icmp_code.is_some() && icmp_type.is_none() {
            self.err(format!("{p}.icmp_code"), "an ICMP code needs an ICMP type");
        }
    }
}
