//! Sharding one configuration's checks between N agents (`probe agent --shard K/N`, K from 0 to
//! N-1, like a StatefulSet's pod ordinal and Prometheus's `hashmod`).
//!
//! Each check goes to one shard by rendezvous (highest-random-weight) hashing of its identity,
//! the six labels of its series: every shard computes a weight for the check, and the shard with
//! the highest weight owns it. Every agent decides alone, from the configuration alone, and they
//! agree; going from N to N+1 shards moves only the checks the new shard wins, about 1/(N+1) of
//! them, and no check moves between the old shards.
//!
//! The hash is FNV-1a over the identity, finished per shard with the SplitMix64 mixer: fixed
//! here, so agents built from different versions of this program, or by different compilers,
//! still agree (the standard library's hasher promises no such thing).

use std::fmt;

/// At most this many shards (each agent computes one weight per shard and check).
pub(crate) const MAX_SHARDS: u32 = 1024;

/// Shard `index` (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not K/N (for example 0/3: the first of three)"))?;
        let number = |v: &str, what: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} {v:?} in {s:?} is not a number"))
        };
        let (index, count) = (number(k, "shard")?, number(n, "shard count")?);
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "shard count {count} in {s:?} is outside 1-{MAX_SHARDS}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index} in {s:?} is outside 0-{} (shards count from 0)",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether this shard owns the thing identified by `parts`.
    pub(crate) fn owns<S: AsRef<str>>(&self, parts: &[S]) -> bool {
        owner(parts, self.count) == self.index
    }
}

/// The shard (from 0) of `count` that owns the thing identified by `parts`.
pub(crate) fn owner<S: AsRef<str>>(parts: &[S], count: u32) -> u32 {
    let key = identity(parts);
    (0..count).max_by_key(|&i| (weight(key, i), i)).unwrap_or(0)
}

/// FNV-1a (64-bit) of the parts, each followed by a 0 byte so that ("ab", "c") ≠ ("a", "bc").
fn identity<S: AsRef<str>>(parts: &[S]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.as_ref().as_bytes().iter().chain(&[0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The weight of shard `i` for a key: SplitMix64's finaliser of the key mixed with the shard.
fn weight(key: u64, i: u32) -> u64 {
    let mut z = key ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(i: u32) -> [String; 6] {
        [
            format!("group-{}", i % 7),
            format!("web-{i}"),
            format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            "80".into(),
            "http".into(),
            "traffic".into(),
        ]
    }

    #[test]
    fn the_flag_is_k_of_n_and_bad_values_say_why() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(
            "0/1".parse::<Shard>().map(|s| s.to_string()),
            Ok("0/1".into())
        );
        for (bad, why) in [
            ("3", "is not K/N"),
            ("3/3", "shard 3 in \"3/3\" is outside 0-2"),
            ("1/1", "outside 0-0"),
            ("1/0", "shard count 0"),
            ("1/5000", "outside 1-1024"),
            ("a/3", "shard \"a\""),
            ("1/x", "shard count \"x\""),
        ] {
            let err = bad.parse::<Shard>().expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn the_hash_is_fixed_across_builds() {
        // FNV-1a's reference value for "a" is 0xaf63dc4c8601ec8c; the identity adds a 0 byte.
        assert_eq!(identity(&["a"]), 0x089b_e207_b544_f1e4);
        // Agents of different builds must agree: these owners are part of the contract.
        let owners: Vec<u32> = (0..8).map(|i| owner(&key(i), 4)).collect();
        assert_eq!(owners, FIXED_OWNERS);
    }

    const FIXED_OWNERS: [u32; 8] = [3, 2, 2, 1, 0, 1, 0, 1];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every check has exactly one owner among N shards, and going to N+1 shards moves only
        /// the checks the new shard takes: about 1/(N+1) of them.
        #[test]
        fn shards_partition_and_growing_moves_about_one_in_n(n in 1u32..12, base in 0u32..1_000_000) {
            let checks = 4000u32;
            let mut moved = 0u32;
            for i in base..base + checks {
                let k = key(i);
                let owners: Vec<u32> =
                    (0..n).filter(|&s| Shard { index: s, count: n }.owns(&k)).collect();
                prop_assert_eq!(owners.len(), 1);
                let before = owner(&k, n);
                let after = owner(&k, n + 1);
                if before != after {
                    prop_assert_eq!(after, n, "a check moved between old shards");
                    moved += 1;
                }
            }
            let expected = f64::from(checks) / f64::from(n + 1);
            let got = f64::from(moved);
            // Binomial: well within 5 standard deviations (at most sqrt(4000/4) ≈ 32 checks).
            let sd = (f64::from(checks) * (1.0 / f64::from(n + 1)) * (1.0 - 1.0 / f64::from(n + 1))).sqrt();
            prop_assert!((got - expected).abs() <= 5.0 * sd, "moved {moved} of {checks}, expected about {expected:.0}");
        }
    }
}
