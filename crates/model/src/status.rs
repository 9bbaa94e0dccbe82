//! The status matcher of HTTP(S) health checks, parsed when the configuration or the command
//! line is read: `200`, `200,202`, `200-299` (ELB syntax, which Huawei's `expected_codes` shares).

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// Expected HTTP status codes in ELB matcher syntax: `200`, `200,202`, `200-299`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec(Vec<RangeInclusive<u16>>);

impl StatusSpec {
    pub fn matches(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.contains(&status))
    }
}

impl Default for StatusSpec {
    /// Any 2xx, as blackbox_exporter's default.
    fn default() -> Self {
        StatusSpec(vec![200..=299])
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

/// A status matcher that is not in ELB syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status matcher {spec:?}: {reason} (use 200, 200,202 or 200-399)")]
pub struct StatusSpecError {
    pub spec: String,
    pub reason: String,
}

impl FromStr for StatusSpec {
    type Err = StatusSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| StatusSpecError {
            spec: s.to_string(),
            reason,
        };
        let code = |t: &str| -> Result<u16, StatusSpecError> {
            match t.trim().parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(err(format!(
                    "{:?} is not a status code from 100 to 599",
                    t.trim()
                ))),
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (code(a)?, code(b)?);
                    if a > b {
                        return Err(err(format!("range {a}-{b} is empty")));
                    }
                    a..=b
                }
                None => {
                    let c = code(part)?;
                    c..=c
                }
            };
            ranges.push(range);
        }
        Ok(StatusSpec(ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spec_accepts_elb_syntax() {
        let cases: &[(&str, &[u16], &[u16])] = &[
            ("200", &[200], &[201, 302]),
            ("200,202", &[200, 202], &[201]),
            ("200-399", &[200, 302, 399], &[199, 400]),
            ("200-204, 301", &[204, 301], &[302]),
        ];
        for (spec, yes, no) in cases {
            let s: StatusSpec = spec.parse().expect("valid matcher");
            for c in *yes {
                assert!(s.matches(*c), "{spec} should match {c}");
            }
            for c in *no {
                assert!(!s.matches(*c), "{spec} should not match {c}");
            }
        }
        assert_eq!(StatusSpec::default().to_string(), "200-299");
    }

    #[test]
    fn status_spec_rejects_bad_matchers_naming_the_value() {
        for (spec, needle) in [
            ("abc", "\"abc\" is not a status code"),
            ("700", "\"700\" is not a status code"),
            ("300-200", "range 300-200 is empty"),
            ("", "\"\" is not a status code"),
        ] {
            let err = spec.parse::<StatusSpec>().expect_err(spec).to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }
}
