//! What each cloud does differently, as data: one [`Profile`] per [`Provider`], chosen by an
//! exhaustive `match`, so a new provider cannot compile without saying how it behaves.
//!
//! | behaviour | AWS | Huawei Cloud | generic |
//! |---|---|---|---|
//! | health checks of a kind that come from a fixed range | — | shared: `100.125.0.0/16` | — |
//! | security groups and firewalls skipped for the traffic of L4 listeners | no | dedicated without "IP as a backend"; shared with transparent client IP | no |
//! | a new member is healthy after | one pass | `rise` passes | one pass |
//! | load balancer subnets: at least /27, 8 free addresses, one per target zone | yes | no | no |
//! | what its subnet ACLs are called | network ACL | firewall | network ACL |
//! | the internet side of an internet-facing load balancer | its subnets' route to an internet gateway | its EIP | a route |
//! | health checks from the load balancer's node addresses, when known | yes | no: its backend subnet | yes |
//!
//! Fix commands in each provider's own terms are the diagnosis's (`diagnose::fix`).

use serde::{Deserialize, Serialize};

use super::LbKind;

/// Which cloud's semantics apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Huawei,
    #[default]
    Generic,
}

/// The Huawei shared load balancers' health-check source range.
pub const HUAWEI_SHARED_HC_SOURCE: &str = "100.125.0.0/16";

/// A provider's behaviour. See the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Load balancer kinds whose health checks come from a fixed range, not their subnets.
    pub fixed_health_check_sources: &'static [(LbKind, &'static str)],
    /// Whether the traffic of some layer-4 listeners bypasses security groups and firewalls
    /// (Huawei: a dedicated load balancer's without "IP as a backend", a shared one's with
    /// transparent client IP; `probe_policy::rules_enforced`).
    pub l4_rules_need_ip_as_backend: bool,
    /// Whether a new member needs `rise` passes to be healthy (else one pass does).
    pub initially_needs_rise: bool,
    /// The size rules of load balancer subnets, where the provider has them.
    pub lb_subnets: Option<SubnetRules>,
    /// What the provider calls a subnet ACL.
    pub acl_noun: &'static str,
    /// Whether an internet-facing load balancer's subnets need a default route to an internet
    /// gateway (AWS: a public subnet). Huawei gives a load balancer its internet side by an
    /// EIP instead, whatever the subnet's routes.
    pub internet_via_route_table: bool,
    /// Whether the load balancer's health checks (and proxied traffic) come from its nodes'
    /// addresses when the dump has them (AWS: its network interfaces). Huawei's dedicated load
    /// balancers use addresses of their backend subnet, not the VIP or the EIP's address.
    pub health_checks_from_nodes: bool,
}

/// How large a load balancer subnet must be and where it must be (AWS: seed 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetRules {
    /// The longest IPv4 prefix allowed (27: a /27 or larger).
    pub max_prefix_len: u8,
    /// The fewest free addresses that let the load balancer scale.
    pub min_free_addresses: u32,
    /// Whether every zone with targets needs a load balancer subnet.
    pub one_per_target_zone: bool,
}

const AWS: Profile = Profile {
    fixed_health_check_sources: &[],
    l4_rules_need_ip_as_backend: false,
    initially_needs_rise: false,
    lb_subnets: Some(SubnetRules {
        max_prefix_len: 27,
        min_free_addresses: 8,
        one_per_target_zone: true,
    }),
    acl_noun: "network ACL",
    internet_via_route_table: true,
    health_checks_from_nodes: true,
};

const HUAWEI: Profile = Profile {
    fixed_health_check_sources: &[(LbKind::Shared, HUAWEI_SHARED_HC_SOURCE)],
    l4_rules_need_ip_as_backend: true,
    initially_needs_rise: true,
    lb_subnets: None,
    acl_noun: "firewall",
    internet_via_route_table: false,
    health_checks_from_nodes: false,
};

const GENERIC: Profile = Profile {
    fixed_health_check_sources: &[],
    l4_rules_need_ip_as_backend: false,
    initially_needs_rise: false,
    lb_subnets: None,
    acl_noun: "network ACL",
    internet_via_route_table: true,
    health_checks_from_nodes: true,
};

impl Provider {
    /// This provider's behaviour.
    pub fn profile(self) -> &'static Profile {
        match self {
            Provider::Aws => &AWS,
            Provider::Huawei => &HUAWEI,
            Provider::Generic => &GENERIC,
        }
    }

    /// Every provider, for tests and listings.
    pub const ALL: [Provider; 3] = [Provider::Aws, Provider::Huawei, Provider::Generic];

    /// The name as the YAML and the command line spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Huawei => "huawei",
            Provider::Generic => "generic",
        }
    }
}

impl Profile {
    /// The fixed health-check source range of load balancers of `kind`, if the provider has one.
    pub fn fixed_health_check_source(&self, kind: LbKind) -> Option<&'static str> {
        self.fixed_health_check_sources
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, range)| *range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixed_health_check_source_is_a_prefix() {
        for p in Provider::ALL {
            for (_, range) in p.profile().fixed_health_check_sources {
                assert!(range.parse::<ipnet::IpNet>().is_ok(), "{p:?}: {range}");
            }
        }
    }

    #[test]
    fn names_round_trip_through_serde() {
        for p in Provider::ALL {
            let text = serde_norway::to_string(&p).expect("serialize");
            assert_eq!(text.trim(), p.as_str());
        }
    }
}
