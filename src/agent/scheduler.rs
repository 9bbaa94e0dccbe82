//! The scheduler: one task, one timer, every check.
//!
//! Due times sit in a binary heap; the task sleeps until the earliest (and [`COALESCE`] more, so
//! that one wake-up starts every check due meanwhile), starts every check that is due, and puts
//! each back at its next tick ([`super::schedule::next_due`]). A probe runs in its
//! own task only while it probes, holding a permit of the agent's semaphore: 10,000 checks are
//! 10,000 heap entries, not 10,000 sleeping tasks. A check whose previous probe is still running,
//! or that finds every permit taken, skips the tick (counted in
//! `probe_agent_ticks_skipped_total`) rather than queueing: queued probes would burst later.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::schedule::{Jitter, first_due, next_due};
use super::state::World;
use super::{Agent, unix_now};
use crate::diagnose::Code;
use crate::probe::{self, Observation};

type Heap = BinaryHeap<Reverse<(Instant, usize)>>;

/// How late a probe may start so that the checks due close together start on one wake-up: at
/// 10,000 checks every 10 s, one wake-up every 20 ms starts about 20 probes, where waking for
/// each took a wake-up per probe. Small beside any interval (1 s at least).
const COALESCE: Duration = Duration::from_millis(50);

/// Runs until `cancel`; rebuilds its schedule whenever the configuration is reloaded.
pub(crate) async fn run(agent: Arc<Agent>, cancel: CancellationToken) {
    let mut generations = agent.subscribe();
    let seed = std::process::id() as u64 ^ (unix_now() * 1e9) as u64;
    let mut jitter = Jitter::new(seed);
    'world: loop {
        let (generation, mut heap) = {
            let w = agent.world();
            (w.generation, plan(&w, Instant::now(), &mut jitter))
        };
        generations.mark_unchanged();
        loop {
            let next = heap.peek().map(|Reverse((due, _))| *due);
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = generations.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // A reload is announced after its world is in place, and the scheduler may
                    // have woken, found it and planned for it already: planning again would put
                    // checks just started back at the front, to be skipped as still in flight.
                    if agent.world().generation != generation {
                        continue 'world;
                    }
                    continue;
                }
                _ = sleep_until(next.map_or_else(far_future, |n| n + COALESCE)) => {}
            }
            let now = Instant::now();
            let mut w = agent.world();
            if w.generation != generation {
                continue 'world;
            }
            while let Some(&Reverse((due, index))) = heap.peek() {
                if due > now {
                    break;
                }
                heap.pop();
                let Some(interval) = w.slots.get(index).map(|s| s.interval) else {
                    continue;
                };
                dispatch(&agent, &mut w, index);
                let (next, missed) = next_due(due.into_std(), interval, now.into_std());
                if missed > 0 {
                    agent.metrics.skipped("late", missed);
                }
                heap.push(Reverse((Instant::from_std(next), index)));
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// First runs of every check, spread over each check's interval.
fn plan(w: &World, now: Instant, jitter: &mut Jitter) -> Heap {
    let n = w.slots.len();
    w.slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Reverse((
                Instant::from_std(first_due(now.into_std(), s.interval, i, n, jitter)),
                i,
            ))
        })
        .collect()
}

/// Starts the probe of check `index`, unless its previous probe is still running or the
/// concurrency cap is reached.
fn dispatch(agent: &Arc<Agent>, w: &mut World, index: usize) {
    let generation = w.generation;
    let Some(slot) = w.slots.get_mut(index) else {
        return;
    };
    if slot.in_flight {
        agent.metrics.skipped("in_flight", 1);
        return;
    }
    if let Some(why) = slot.cannot_run.clone() {
        let obs = Observation::error(&slot.spec.target, Some(slot.spec.addr.ip()), why);
        record(agent, w, index, obs, Duration::ZERO);
        return;
    }
    let Ok(permit) = agent.probes.clone().try_acquire_owned() else {
        agent.metrics.skipped("concurrency", 1);
        return;
    };
    slot.in_flight = true;
    let (spec, ctx) = (slot.spec.clone(), slot.ctx.clone());
    let task_agent = agent.clone();
    agent.tracker.spawn(async move {
        let _permit = permit;
        task_agent.metrics.in_flight.inc();
        let start = Instant::now();
        let obs = probe::run_guarded(&spec, &ctx).await;
        let took = start.elapsed();
        task_agent.metrics.in_flight.dec();
        let mut w = task_agent.world();
        // A result from before a reload is dropped: the check may have changed or gone.
        if w.generation == generation {
            record(&task_agent, &mut w, index, obs, took);
        }
    });
}

/// Applies an observation and logs what it changed.
fn record(agent: &Agent, w: &mut World, index: usize, obs: Observation, took: Duration) {
    let Some(change) = w.apply(
        index,
        obs,
        took,
        std::time::Instant::now(),
        unix_now(),
        &agent.metrics,
    ) else {
        return;
    };
    let Some(slot) = w.slots.get(index) else {
        return;
    };
    let c = &slot.check;
    let port = c.packet.port();
    if let Some(t) = change.transition {
        tracing::info!(
            backend = %c.backend,
            address = %c.address,
            port,
            protocol = slot.spec.target.protocol.as_str(),
            role = c.role.as_str(),
            from = t.from.as_str(),
            to = t.to.as_str(),
            "threshold state changed"
        );
    }
    if let (Some(code), Some(f)) = (change.code, &slot.finding) {
        let blocking = f
            .blocking
            .as_ref()
            .map(|b| format!("{} {} {} {}", b.kind, b.id, b.direction, b.rule));
        if code == Code::Ok {
            if !change.first {
                tracing::info!(backend = %c.backend, address = %c.address, port, role = c.role.as_str(), "finding cleared");
            }
        } else {
            tracing::warn!(
                backend = %c.backend,
                address = %c.address,
                port,
                role = c.role.as_str(),
                code = code.as_str(),
                blocking,
                fix = f.fix.as_deref(),
                "{}",
                f.summary
            );
        }
    }
}
