//! The load balancer's healthy/unhealthy threshold state machine (rise/fall).
//!
//! A load balancer does not flip a backend on one result: it counts consecutive passes and
//! failures. `probe agent` runs the same machine on its own results, with the health check's own
//! thresholds, so its verdict on a backend changes on the same probe as the load balancer's would.
//! Time is passed in, never read: the machine is pure and can be driven by a test.
//!
//! | state       | result | consecutive count reaches        | next state  |
//! |-------------|--------|----------------------------------|-------------|
//! | `initial`   | pass   | the initial rule (1, or `rise`)   | `healthy`   |
//! | `initial`   | fail   | `fall`                           | `unhealthy` |
//! | `healthy`   | fail   | `fall`                           | `unhealthy` |
//! | `unhealthy` | pass   | `rise`                           | `healthy`   |
//!
//! Any other result resets the opposite count and keeps the state. The initial rule follows the
//! provider: an AWS target "must pass one health check to be considered healthy" after it is
//! registered (Elastic Load Balancing user guide, *Health checks for your target groups*), as does
//! an Envoy host at start-up; a Huawei Cloud backend starts offline and needs `max_retries`
//! (`rise`) passes.

use std::time::Instant;

/// Where a backend stands in the load balancer's eyes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// Registered, not yet judged.
    Initial,
    Healthy,
    Unhealthy,
}

impl HealthState {
    pub const ALL: [HealthState; 3] = [
        HealthState::Initial,
        HealthState::Healthy,
        HealthState::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// How many passes take a backend out of `initial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialRule {
    /// One pass (AWS, Envoy).
    OnePass,
    /// `rise` passes (Huawei Cloud).
    Rise,
}

/// The thresholds of one health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive passes that make an unhealthy backend healthy.
    pub rise: u32,
    /// Consecutive failures that make a backend unhealthy.
    pub fall: u32,
    pub initial: InitialRule,
}

impl Thresholds {
    /// Thresholds below 1 are taken as 1: a count of zero would flip on no evidence.
    pub fn new(rise: u32, fall: u32, initial: InitialRule) -> Self {
        Thresholds {
            rise: rise.max(1),
            fall: fall.max(1),
            initial,
        }
    }
}

/// A change of state, returned by [`Health::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: HealthState,
    pub to: HealthState,
}

/// The machine for one backend check.
#[derive(Debug, Clone)]
pub struct Health {
    thresholds: Thresholds,
    state: HealthState,
    passes: u32,
    failures: u32,
    since: Option<Instant>,
    transitions: u64,
}

impl Health {
    pub fn new(thresholds: Thresholds) -> Self {
        Health {
            thresholds,
            state: HealthState::Initial,
            passes: 0,
            failures: 0,
            since: None,
            transitions: 0,
        }
    }

    pub fn state(&self) -> HealthState {
        self.state
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// When the current state began (`None` while still `initial`).
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// State changes so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Takes new thresholds (a reloaded configuration) and keeps the state and the counts.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// Counts one result observed at `at`; returns the transition it causes, if any.
    pub fn record(&mut self, passed: bool, at: Instant) -> Option<Transition> {
        if passed {
            self.failures = 0;
            self.passes = self.passes.saturating_add(1);
        } else {
            self.passes = 0;
            self.failures = self.failures.saturating_add(1);
        }
        let t = self.thresholds;
        let to = match self.state {
            HealthState::Initial if passed => {
                let needed = match t.initial {
                    InitialRule::OnePass => 1,
                    InitialRule::Rise => t.rise,
                };
                (self.passes >= needed).then_some(HealthState::Healthy)
            }
            HealthState::Unhealthy if passed => {
                (self.passes >= t.rise).then_some(HealthState::Healthy)
            }
            HealthState::Initial | HealthState::Healthy if !passed => {
                (self.failures >= t.fall).then_some(HealthState::Unhealthy)
            }
            _ => None,
        }?;
        let from = self.state;
        self.state = to;
        self.since = Some(at);
        self.transitions += 1;
        Some(Transition { from, to })
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a starting instant for the tests' own timeline
mod tests {
    use super::*;
    use std::time::Duration;

    use HealthState::{Healthy, Initial, Unhealthy};

    /// Feeds `results` ('+' pass, '-' fail) and returns the state after each.
    fn run(t: Thresholds, results: &str) -> Vec<HealthState> {
        let start = Instant::now();
        let mut h = Health::new(t);
        results
            .chars()
            .enumerate()
            .map(|(i, c)| {
                h.record(c == '+', start + Duration::from_secs(i as u64));
                h.state()
            })
            .collect()
    }

    #[test]
    fn aws_defaults_flip_exactly_on_the_threshold_probe() {
        // AWS target group defaults: healthy 5, unhealthy 2; one pass leaves `initial`.
        let aws = Thresholds::new(5, 2, InitialRule::OnePass);
        let table: &[(&str, &[HealthState])] = &[
            ("+", &[Healthy]),
            ("-", &[Initial]),
            ("--", &[Initial, Unhealthy]),
            ("+-", &[Healthy, Healthy]),
            ("+--", &[Healthy, Healthy, Unhealthy]),
            ("+-+-", &[Healthy; 4]),
            (
                "--+++++",
                &[
                    Initial, Unhealthy, Unhealthy, Unhealthy, Unhealthy, Unhealthy, Healthy,
                ],
            ),
            (
                "--++++-+++++",
                &[
                    Initial, Unhealthy, Unhealthy, Unhealthy, Unhealthy, Unhealthy, Unhealthy,
                    Unhealthy, Unhealthy, Unhealthy, Unhealthy, Healthy,
                ],
            ),
        ];
        for (input, want) in table {
            assert_eq!(run(aws, input), *want, "results {input}");
        }
    }

    #[test]
    fn huawei_backends_need_rise_passes_to_come_online() {
        let huawei = Thresholds::new(3, 3, InitialRule::Rise);
        assert_eq!(
            run(huawei, "++++"),
            [Initial, Initial, Healthy, Healthy],
            "max_retries=3 passes"
        );
        assert_eq!(
            run(huawei, "++-+++"),
            [Initial, Initial, Initial, Initial, Initial, Healthy]
        );
        assert_eq!(run(huawei, "---"), [Initial, Initial, Unhealthy]);
    }

    #[test]
    fn transitions_are_reported_once_with_their_time() {
        let start = Instant::now();
        let mut h = Health::new(Thresholds::new(2, 2, InitialRule::OnePass));
        assert_eq!(
            h.record(true, start),
            Some(Transition {
                from: Initial,
                to: Healthy
            })
        );
        assert_eq!(h.record(true, start + Duration::from_secs(1)), None);
        assert_eq!(h.record(false, start + Duration::from_secs(2)), None);
        let at = start + Duration::from_secs(3);
        assert_eq!(
            h.record(false, at),
            Some(Transition {
                from: Healthy,
                to: Unhealthy
            })
        );
        assert_eq!(h.since(), Some(at));
        assert_eq!(h.transitions(), 2);
    }

    #[test]
    fn zero_thresholds_are_taken_as_one() {
        let t = Thresholds::new(0, 0, InitialRule::Rise);
        assert_eq!(run(t, "-+-"), [Unhealthy, Healthy, Unhealthy]);
    }

    #[test]
    fn new_thresholds_keep_state_and_counts() {
        let start = Instant::now();
        let mut h = Health::new(Thresholds::new(5, 3, InitialRule::OnePass));
        h.record(true, start);
        h.record(false, start);
        h.set_thresholds(Thresholds::new(5, 2, InitialRule::OnePass));
        assert_eq!(h.record(false, start).map(|t| t.to), Some(Unhealthy));
    }
}
