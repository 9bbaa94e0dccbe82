//! A compact address prefix for fast matching: both families in one `u128`, IPv4 in the top
//! 32 bits so that one mask formula serves both.

use std::net::IpAddr;

use ipnet::IpNet;

/// An address prefix. A single address is a prefix of full length.
///
/// Packed to 8-byte alignment: 24 bytes rather than the 32 a 16-aligned `u128` takes, so that
/// compiled rules (which hold one or two) are denser in cache. Fields are only read by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed(8))]
pub struct Net {
    pub(crate) bits: u128,
    pub(crate) v6: bool,
    pub(crate) len: u8,
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        !0u128 << (128 - u32::from(len))
    }
}

impl Net {
    pub fn from_addr(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Net {
                v6: false,
                bits: u128::from(u32::from(a)) << 96,
                len: 32,
            },
            IpAddr::V6(a) => Net {
                v6: true,
                bits: u128::from(a),
                len: 128,
            },
        }
    }

    pub fn from_net(net: IpNet) -> Self {
        let net = net.trunc();
        let mut n = Net::from_addr(net.addr());
        n.len = net.prefix_len();
        n.bits &= mask(n.len);
        n
    }

    /// Whether every address of `other` is in `self`.
    pub fn contains(self, other: Net) -> bool {
        self.v6 == other.v6 && other.len >= self.len && (other.bits & mask(self.len)) == self.bits
    }

    /// Whether `self` and `other` share at least one address.
    pub fn overlaps(self, other: Net) -> bool {
        let m = mask(self.len.min(other.len));
        self.v6 == other.v6 && (self.bits & m) == (other.bits & m)
    }

    pub fn is_v6(self) -> bool {
        self.v6
    }

    /// The prefix as an `IpNet`, for messages and fixes.
    pub fn to_ipnet(self) -> IpNet {
        if self.v6 {
            IpNet::new(IpAddr::from(self.bits.to_be_bytes()), self.len)
        } else {
            let a = (self.bits >> 96) as u32;
            IpNet::new(IpAddr::from(a.to_be_bytes()), self.len)
        }
        .unwrap_or_else(|_| IpNet::from(IpAddr::from([0u8, 0, 0, 0])))
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.to_ipnet();
        if n.prefix_len() == n.max_prefix_len() {
            write!(f, "{}", n.addr())
        } else {
            write!(f, "{n}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Net {
        match s.parse::<IpNet>() {
            Ok(net) => Net::from_net(net),
            Err(_) => Net::from_addr(s.parse().expect("test address")),
        }
    }

    #[test]
    fn containment_and_overlap_follow_prefix_lengths() {
        assert!(n("10.0.0.0/16").contains(n("10.0.1.5")));
        assert!(n("10.0.0.0/16").contains(n("10.0.1.0/24")));
        assert!(!n("10.0.1.0/24").contains(n("10.0.0.0/16")));
        assert!(n("10.0.1.0/24").overlaps(n("10.0.0.0/16")));
        assert!(!n("10.0.1.0/24").overlaps(n("10.0.2.0/24")));
        assert!(n("0.0.0.0/0").contains(n("192.0.2.1")));
        assert!(
            !n("0.0.0.0/0").contains(n("2001:db8::1")),
            "families never mix"
        );
        assert!(n("::/0").contains(n("2001:db8::1")));
        assert!(
            n("10.0.0.7/24").contains(n("10.0.0.1")),
            "host bits are dropped"
        );
        assert_eq!(n("10.0.1.0/24").to_string(), "10.0.1.0/24");
        assert_eq!(n("10.0.1.5").to_string(), "10.0.1.5");
    }
}
