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

    fn run(&mut self, m: &Model) {
        let subnets: HashSet<&str> = m.subnets.iter().map(|s| s.id.as_str()).collect();
        let groups: HashSet<&str> = m.security_groups.iter().map(|s| s.id.as_str()).collect();
        let addr_groups: HashSet<&str> = m.address_groups.iter().map(|s| s.id.as_str()).collect();
        let backend_groups: HashSet<&str> =
            m.backend_groups.iter().map(|s| s.name.as_str()).collect();

        self.unique(
            "subnet id",
            m.subnets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("subnets[{i}].id"), s.id.as_str())),
        );
        self.unique(
            "security group id",
            m.security_groups
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("security_groups[{i}].id"), s.id.as_str())),
        );
        self.unique(
            "network ACL id",
            m.network_acls
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("network_acls[{i}].id"), s.id.as_str())),
        );
        self.unique(
            "address group id",
            m.address_groups
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("address_groups[{i}].id"), s.id.as_str())),
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

        let refs = |v: &mut Self, path: String, ids: &[String], set: &HashSet<&str>, what| {
            for (j, id) in ids.iter().enumerate() {
                if !set.contains(id.as_str()) {
                    v.err(
                        format!("{path}[{j}]"),
                        format!("{what} {id:?} is not defined"),
                    );
                }
            }
        };

        refs(
            self,
            "agent.security_groups".into(),
            &m.agent.security_groups,
            &groups,
            "security group",
        );
        if let Some(s) = &m.agent.subnet
            && !subnets.contains(s.as_str())
        {
            self.err("agent.subnet", format!("subnet {s:?} is not defined"));
        }

        for (i, lb) in m.load_balancers.iter().enumerate() {
            let p = format!("load_balancers[{i}]");
            refs(
                self,
                format!("{p}.subnets"),
                &lb.subnets,
                &subnets,
                "subnet",
            );
            refs(
                self,
                format!("{p}.security_groups"),
                &lb.security_groups,
                &groups,
                "security group",
            );
            for (j, l) in lb.listeners.iter().enumerate() {
                let lp = format!("{p}.listeners[{j}]");
                if l.port == 0 {
                    self.err(format!("{lp}.port"), "port 0 is not a listener port");
                }
                if let Some(bg) = &l.backend_group
                    && !backend_groups.contains(bg.as_str())
                {
                    self.err(
                        format!("{lp}.backend_group"),
                        format!("backend group {bg:?} is not defined"),
                    );
                }
                if let Some(ac) = &l.access_control {
                    refs(
                        self,
                        format!("{lp}.access_control.address_groups"),
                        &ac.address_groups,
                        &addr_groups,
                        "address group",
                    );
                }
            }
        }

        for (i, bg) in m.backend_groups.iter().enumerate() {
            let p = format!("backend_groups[{i}]");
            if bg.port == Some(0) {
                self.err(format!("{p}.port"), "port 0 is not a traffic port");
            }
            if let Some(hc) = &bg.health_check {
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
                    && !subnets.contains(s.as_str())
                {
                    self.err(
                        format!("{mp}.subnet"),
                        format!("subnet {s:?} is not defined"),
                    );
                }
                refs(
                    self,
                    format!("{mp}.security_groups"),
                    &mem.security_groups,
                    &groups,
                    "security group",
                );
            }
        }

        for (i, sg) in m.security_groups.iter().enumerate() {
            for (j, r) in sg.rules.iter().enumerate() {
                self.sg_rule(
                    &format!("security_groups[{i}].rules[{j}]"),
                    r,
                    &groups,
                    &addr_groups,
                );
            }
        }

        for (i, acl) in m.network_acls.iter().enumerate() {
            let p = format!("network_acls[{i}]");
            refs(
                self,
                format!("{p}.subnets"),
                &acl.subnets,
                &subnets,
                "subnet",
            );
            for (dir, rules) in [("inbound", &acl.inbound), ("outbound", &acl.outbound)] {
                let mut numbers = HashSet::new();
                for (j, r) in rules.iter().enumerate() {
                    let rp = format!("{p}.{dir}[{j}]");
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
