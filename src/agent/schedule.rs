//! When each check runs: start times spread over the interval, and missed ticks skipped.
//!
//! The arithmetic is pure (times are passed in) so it can be tested without waiting.
//!
//! * **Spread.** Check `i` of `n` first runs at `start + interval × (i + u) / n`, with `u` drawn
//!   uniformly from [0, 1): the checks of one interval are evenly spaced, and jittered within their
//!   slot so that several agents (or a restarted one) do not line up with each other.
//! * **Skip, don't burst.** If a tick is late by whole intervals (the process was stopped, the
//!   machine suspended), the missed ticks are dropped and the check resumes on its own grid: one
//!   probe, not a burst of catch-up probes. This is `tokio::time::MissedTickBehavior::Skip`, for
//!   thousands of checks on one timer.

use std::time::{Duration, Instant};

/// A small, fast, seedable generator (SplitMix64) for jitter; not for anything secret.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// The next value in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The first run of check `index` of `count` with `interval`, from `start`.
pub(crate) fn first_due(
    start: Instant,
    interval: Duration,
    index: usize,
    count: usize,
    jitter: &mut Jitter,
) -> Instant {
    let count = count.max(1) as f64;
    let frac = ((index as f64 + jitter.next_unit()) / count).clamp(0.0, 1.0);
    start + interval.mul_f64(frac)
}

/// The tick after `due`, and how many ticks were missed because `now` is already past them.
pub(crate) fn next_due(due: Instant, interval: Duration, now: Instant) -> (Instant, u64) {
    let interval = interval.max(Duration::from_millis(1));
    let next = due + interval;
    if next > now {
        return (next, 0);
    }
    let late = now.duration_since(due).as_nanos();
    let missed = (late / interval.as_nanos()) as u64;
    let skip = u32::try_from(missed + 1).unwrap_or(u32::MAX);
    (due + interval * skip, missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_runs_are_spread_evenly_over_the_interval() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        let mut j = Jitter::new(7);
        let n = 1000;
        let offsets: Vec<f64> = (0..n)
            .map(|i| {
                first_due(start, interval, i, n, &mut j)
                    .duration_since(start)
                    .as_secs_f64()
            })
            .collect();
        // Every 1-second slice of the interval holds 100 ± 1 first runs: no thundering herd.
        for s in 0..10 {
            let in_slice = offsets
                .iter()
                .filter(|&&o| o >= s as f64 && o < (s + 1) as f64)
                .count();
            assert!((99..=101).contains(&in_slice), "second {s}: {in_slice}");
        }
        assert!(offsets.iter().all(|&o| (0.0..10.0).contains(&o)));
    }

    #[test]
    fn jitter_moves_a_check_within_its_slot() {
        let start = Instant::now();
        let interval = Duration::from_secs(4);
        let a = first_due(start, interval, 1, 4, &mut Jitter::new(1));
        let b = first_due(start, interval, 1, 4, &mut Jitter::new(2));
        assert_ne!(a, b);
        for t in [a, b] {
            let o = t.duration_since(start);
            assert!(
                o >= Duration::from_secs(1) && o < Duration::from_secs(2),
                "{o:?}"
            );
        }
    }

    #[test]
    fn on_time_ticks_advance_by_one_interval() {
        let t0 = Instant::now();
        let i = Duration::from_secs(5);
        assert_eq!(next_due(t0, i, t0), (t0 + i, 0));
        assert_eq!(
            next_due(t0, i, t0 + Duration::from_millis(4999)),
            (t0 + i, 0)
        );
    }

    #[test]
    fn late_ticks_skip_to_the_next_point_on_the_grid() {
        let t0 = Instant::now();
        let i = Duration::from_secs(5);
        // 12 s late: the ticks at +5 and +10 are missed; the next is +15, on the original grid.
        assert_eq!(
            next_due(t0, i, t0 + Duration::from_secs(12)),
            (t0 + 3 * i, 2)
        );
        // Exactly on a grid point: that point has passed, so the next one.
        assert_eq!(
            next_due(t0, i, t0 + Duration::from_secs(10)),
            (t0 + 3 * i, 2)
        );
        assert_eq!(
            next_due(t0, i, t0 + Duration::from_secs(5)),
            (t0 + 2 * i, 1)
        );
    }

    #[test]
    fn jitter_values_are_uniform_enough() {
        let mut j = Jitter::new(42);
        let xs: Vec<f64> = (0..10_000).map(|_| j.next_unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }
}
