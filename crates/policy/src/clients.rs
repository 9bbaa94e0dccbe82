//! Clients as a set of addresses: the client leg judges ranges (the internet, a network's
//! CIDRs), not one address.
//!
//! The client ranges are cut at every boundary that a rule, a route or an access list draws,
//! so that within one piece (an [`Atom`]) every one of them either covers all of the piece or
//! none of it. One address then stands for the whole piece, and the ordinary evaluator judges
//! it exactly: a flow from the clients passes for the pieces whose address passes.

use crate::net::Net;
use crate::{Policy, Remote};

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
    /// Every prefix a rule, route or access list names: where client ranges are cut.
    fn boundaries(&self) -> Vec<Net> {
        let mut nets = Vec::new();
        let mut rule = |r: &crate::CRule| {
            if let Remote::Net(n) = r.remote {
                nets.push(n);
            }
            if let Some(l) = r.local {
                nets.push(l);
            }
        };
        for g in &self.groups {
            g.ingress.iter().chain(&g.egress).for_each(&mut rule);
        }
        for a in &self.acls {
            a.inbound.iter().chain(&a.outbound).for_each(&mut rule);
        }
        for (_, listed) in self.access.values() {
            nets.extend(listed.iter().copied());
        }
        for t in &self.route_tables {
            nets.extend(t.routes.iter().map(|r| r.net));
        }
        nets
    }

    /// The pieces of `clients` that every rule, route and access list treats alike, in address
    /// order. Overlapping client ranges are merged.
    pub fn atoms(&self, clients: &[Net]) -> Vec<Atom> {
        let marks = self.boundaries();
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
