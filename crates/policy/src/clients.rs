//! Clients as a set of addresses: the client leg judges ranges (the internet, a network's
//! CIDRs), not one address.
//!
//! The client ranges are cut at every boundary that a rule, a route or an access list draws,
//! so that within one piece (an [`Atom`]) every one of them either covers all of the piece or
//! none of it. One address then stands for the whole piece, and the ordinary evaluator judges
//! it exactly: a flow from the clients passes for the pieces whose address passes.

use crate::net::Net;
use crate::{Endpoint, Policy, Remote};

/// A piece of a client range that every rule, route and access list treats alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Atom {
    v6: bool,
    /// First and last address, in [`Net`]'s 128-bit space.
    lo: u128,
    hi: u128,
}

/// Bits of the 128-bit space one address of the family spans (IPv4 sits in the top 32 bits).
fn unit(v6: bool) -> u32 {
    if v6 { 0 } else { 96 }
}

fn span(n: Net) -> (u128, u128) {
    let host = if n.len == 0 {
        u128::MAX
    } else {
        (1u128 << (128 - u32::from(n.len))).wrapping_sub(1)
    };
    (n.bits, n.bits | host)
}

impl Atom {
    /// Whether it is IPv6.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// The address that stands for the piece.
    pub fn representative(&self) -> Net {
        Net {
            v6: self.v6,
            bits: self.lo,
            len: if self.v6 { 128 } else { 32 },
        }
    }

    /// How many addresses it holds (saturating).
    pub fn size(&self) -> u128 {
        ((self.hi - self.lo) >> unit(self.v6)).saturating_add(1)
    }

    /// The fewest prefixes that cover exactly the piece, largest first.
    pub fn prefixes(&self) -> Vec<Net> {
        let shift = unit(self.v6);
        let bits = if self.v6 { 128 } else { 32 };
        let (mut lo, hi) = (self.lo >> shift, self.hi >> shift);
        let mut out = Vec::new();
        loop {
            // The largest aligned block at `lo` that stays within `hi`.
            let mut size = if lo == 0 {
                bits
            } else {
                lo.trailing_zeros().min(bits)
            };
            while size > 0
                && lo
                    .checked_add((1u128 << size) - 1)
                    .is_none_or(|end| end > hi)
            {
                size -= 1;
            }
            out.push(Net {
                v6: self.v6,
                bits: lo << shift,
                len: (bits - size) as u8,
            });
            let next = if size == 128 {
                None
            } else {
                lo.checked_add(1u128 << size)
            };
            match next {
                Some(n) if n <= hi && n > lo => lo = n,
                _ => break,
            }
        }
        out.sort_by_key(|n| n.len);
        out
    }
}

/// The internet's client addresses: IPv4 without the private, shared, loopback, link-local,
/// multicast and reserved ranges (an internet gateway admits none of them as a source), and
/// IPv6 global unicast (`2000::/3`).
pub fn internet() -> Vec<Net> {
    const NOT_INTERNET: [&str; 9] = [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ];
    let mut out = Vec::new();
    let mut at: u128 = 0;
    let mut cuts: Vec<(u128, u128)> = NOT_INTERNET
        .iter()
        .filter_map(|s| s.parse::<ipnet::IpNet>().ok())
        .map(|n| span(Net::from_net(n)))
        .collect();
    cuts.sort();
    for (lo, hi) in cuts {
        if lo > at {
            out.extend(
                Atom {
                    v6: false,
                    lo: at,
                    hi: lo - 1,
                }
                .prefixes(),
            );
        }
        at = at.max(hi.saturating_add(1));
    }
    if let Ok(n) = "2000::/3".parse::<ipnet::IpNet>() {
        out.push(Net::from_net(n));
    }
    out
}

/// Whether all of `net` is internet address space ([`internet`]).
pub fn is_public(net: ipnet::IpNet) -> bool {
    let n = Net::from_net(net);
    internet().iter().any(|p| p.contains(n))
}

impl Policy {
    /// Every prefix a rule, route or access list that a flow through `endpoints` (and from
    /// `clients`) can meet names: where client ranges are cut. The groups and subnets of the
    /// endpoints, every subnet the clients overlap (its ACL, its route table and its own range),
    /// and the listener's access list.
    fn boundaries(
        &self,
        clients: &[Net],
        endpoints: &[&Endpoint],
        listener: Option<(u32, u32)>,
    ) -> Vec<Net> {
        let mut nets = Vec::new();
        let rule = |r: &crate::CRule, nets: &mut Vec<Net>| {
            if let Remote::Net(n) = r.remote {
                nets.push(n);
            }
            if let Some(l) = r.local {
                nets.push(l);
            }
        };
        let mut groups: Vec<u32> = endpoints
            .iter()
            .flat_map(|e| e.groups.iter().copied())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            if let Some(g) = self.groups.get(g as usize) {
                g.ingress
                    .iter()
                    .chain(&g.egress)
                    .for_each(|r| rule(r, &mut nets));
            }
        }
        let mut subnets: Vec<u32> = endpoints.iter().filter_map(|e| e.subnet).collect();
        subnets.extend(
            self.subnet_nets
                .iter()
                .enumerate()
                .filter(|(_, s)| clients.iter().any(|c| c.overlaps(**s)))
                .map(|(i, _)| i as u32),
        );
        subnets.sort_unstable();
        subnets.dedup();
        for s in subnets {
            if let Some(net) = self.subnet_nets.get(s as usize) {
                nets.push(*net);
            }
            if let Some(a) = self.subnet_acl.get(s as usize).copied().flatten() {
                let a = &self.acls[a as usize];
                a.inbound
                    .iter()
                    .chain(&a.outbound)
                    .for_each(|r| rule(r, &mut nets));
            }
            if let Some(t) = self.subnet_routes.get(s as usize).copied().flatten() {
                nets.extend(self.route_tables[t as usize].routes.iter().map(|r| r.net));
            }
        }
        if let Some((_, listed)) = listener.and_then(|l| self.access.get(&l)) {
            nets.extend(listed.iter().copied());
        }
        nets
    }

    /// The pieces of `clients` that every rule, route and access list on the way through
    /// `endpoints` treats alike, in address order. Overlapping client ranges are merged.
    pub fn atoms(
        &self,
        clients: &[Net],
        endpoints: &[&Endpoint],
        listener: Option<(u32, u32)>,
    ) -> Vec<Atom> {
        cut(clients, &self.boundaries(clients, endpoints, listener))
    }

    /// The clients of load balancer `lb`: its configured client ranges, else the internet for
    /// an internet-facing one, else its network's ranges for an internal one (every subnet's,
    /// when the model has no networks). `None` when the scheme is not known: the client leg is
    /// then not judged.
    pub fn clients_of(&self, lb: usize) -> Option<Vec<Net>> {
        let m = &self.model;
        let l = m.load_balancers.get(lb)?;
        if let Some(c) = &l.clients {
            return Some(c.iter().map(|n| Net::from_net(*n)).collect());
        }
        match l.scheme? {
            probe_model::Scheme::InternetFacing => Some(internet()),
            probe_model::Scheme::Internal => {
                let networks: Vec<&str> = l
                    .subnets
                    .iter()
                    .filter_map(|id| m.subnets.iter().find(|s| &s.id == id))
                    .filter_map(|s| s.network.as_deref())
                    .collect();
                let cidrs: Vec<Net> = m
                    .networks
                    .iter()
                    .filter(|n| networks.contains(&n.id.as_str()))
                    .flat_map(|n| n.cidrs.iter().map(|c| Net::from_net(c.trunc())))
                    .collect();
                if cidrs.is_empty() {
                    Some(self.subnet_nets.clone())
                } else {
                    Some(cidrs)
                }
            }
        }
    }

    /// Whether load balancer `lb`'s clients are the internet (not configured ranges).
    pub fn clients_are_internet(&self, lb: usize) -> bool {
        self.model.load_balancers.get(lb).is_some_and(|l| {
            l.clients.is_none() && l.scheme == Some(probe_model::Scheme::InternetFacing)
        })
    }

    /// Where the client leg of load balancer `lb` arrives: each of its nodes (address, the
    /// load balancer's security groups, the node's subnet), else each of its subnets as a range.
    pub fn lb_destinations(&self, lb: usize) -> Vec<Endpoint> {
        let Some(l) = self.model.load_balancers.get(lb) else {
            return Vec::new();
        };
        let groups = self.group_ids(&l.security_groups);
        if !l.nodes.is_empty() {
            return l
                .nodes
                .iter()
                .map(|n| Endpoint {
                    net: Net::from_addr(n.address),
                    groups: groups.clone(),
                    subnet: self.subnet_for(n.subnet.as_deref(), n.address),
                })
                .collect();
        }
        l.subnets
            .iter()
            .filter_map(|id| self.subnet_index.get(id).copied())
            .map(|si| Endpoint {
                net: self.subnet_nets[si as usize],
                groups: groups.clone(),
                subnet: Some(si),
            })
            .collect()
    }
}

/// Cuts `clients` at every boundary of `marks`.
fn cut(clients: &[Net], marks: &[Net]) -> Vec<Atom> {
    let mut ranges: Vec<(bool, u128, u128)> = clients
        .iter()
        .map(|&n| {
            let (lo, hi) = span(n);
            (n.v6, lo, hi)
        })
        .collect();
    ranges.sort();
    let mut merged: Vec<(bool, u128, u128)> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if last.0 == r.0 && r.1 <= last.2.saturating_add(1) => {
                last.2 = last.2.max(r.2);
            }
            _ => merged.push(r),
        }
    }
    let mut atoms = Vec::new();
    for (v6, lo, hi) in merged {
        let mut cuts: Vec<u128> = marks
            .iter()
            .filter(|m| m.v6 == v6)
            .flat_map(|&m| {
                let (a, b) = span(m);
                [Some(a), b.checked_add(1)]
            })
            .flatten()
            .filter(|&c| c > lo && c <= hi)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut start = lo;
        for c in cuts {
            atoms.push(Atom {
                v6,
                lo: start,
                hi: c - 1,
            });
            start = c;
        }
        atoms.push(Atom { v6, lo: start, hi });
    }
    atoms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Net {
        Net::from_net(s.parse().expect("cidr"))
    }

    #[test]
    fn an_atom_is_covered_by_its_prefixes() {
        let a = Atom {
            v6: false,
            lo: n("10.0.0.0/32").bits,
            hi: span(n("10.0.2.255/32")).1,
        };
        let p: Vec<String> = a
            .prefixes()
            .iter()
            .map(|p| p.to_ipnet().to_string())
            .collect();
        assert_eq!(p, ["10.0.0.0/23", "10.0.2.0/24"]);
        assert_eq!(a.size(), 768);
        assert_eq!(a.representative().to_string(), "10.0.0.0");
    }

    #[test]
    fn the_internet_leaves_out_private_ranges() {
        let net = internet();
        let covers = |a: &str| {
            net.iter()
                .any(|p| p.contains(Net::from_addr(a.parse().expect("addr"))))
        };
        assert!(covers("8.8.8.8") && covers("203.0.113.7") && covers("2001:db8::1"));
        assert!(!covers("10.1.2.3") && !covers("192.168.0.1") && !covers("172.16.5.5"));
        assert!(!covers("100.64.0.1") && !covers("127.0.0.1") && !covers("fd00::1"));
    }
}
