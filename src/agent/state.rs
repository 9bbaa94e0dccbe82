//! What the agent knows: the checks of the loaded configuration, each with its latest
//! observation, its threshold state and its finding.
//!
//! One [`World`] per loaded configuration. A reload builds a new world and carries over, check by
//! check (matched by their labels), the threshold state, the latest observation and finding and
//! the metric series, so a reload neither resets a backend to `initial` nor drops its series.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::metrics::{CheckSeries, Metrics, check_labels};
use crate::diagnose::{self, Check, Finding, Perspectives, Report, Seen};
use crate::health::{Health, InitialRule, Thresholds};
use crate::model::{Model, PortRange};
use crate::plan::{self, ProbeKey};
use crate::policy::Policy;
use crate::probe::{Observation, ProbeContext, ProbeSpec, Protocol};

/// Overrides of the health checks' own timing, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timing {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// One scheduled check.
pub(crate) struct Slot {
    pub check: Check,
    pub spec: ProbeSpec,
    pub ctx: Arc<ProbeContext>,
    pub interval: Duration,
    pub timeout: Duration,
    perspectives: Perspectives,
    pub health: Health,
    /// The finding of the latest observation, which it holds (`observed`): the one copy of it.
    /// Boxed: a slot stays small (under 1 KB) to move, and to hold twice while a reload builds
    /// the next configuration's slots.
    pub finding: Option<Box<Finding>>,
    pub in_flight: bool,
    pub series: CheckSeries,
    /// Why this check's probe cannot run at all (no ICMP permission), if so.
    pub cannot_run: Option<String>,
    /// The latest results, for the status page's sparkline.
    pub recent: Recent,
}

impl Slot {
    /// The check's label values, in [`CHECK_LABELS`](super::metrics::CHECK_LABELS) order, made
    /// from the check (a slot keeps them only rendered, in its series).
    pub(crate) fn labels(&self) -> [String; 6] {
        check_labels(&self.check, self.spec.target.protocol)
    }
}

/// The latest results of a check, newest in bit 0 (a pass is 1): 8 bytes a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recent {
    pub bits: u32,
    /// How many of the bits are results (at most [`Recent::KEPT`]).
    pub len: u8,
}

impl Recent {
    /// Results kept: as many as `bits` holds.
    pub(crate) const KEPT: u8 = u32::BITS as u8;

    pub(crate) fn push(&mut self, passed: bool) {
        self.bits = self.bits << 1 | u32::from(passed);
        self.len = (self.len + 1).min(Self::KEPT);
    }
}

/// The agent's state under one configuration.
pub(crate) struct World {
    pub generation: u64,
    pub policy: Policy,
    pub slots: Vec<Slot>,
    /// Findings from the configuration alone (subnet sizes, zones).
    pub statics: Vec<Finding>,
    /// Networks `/probe` may reach.
    pub allow: Vec<IpNet>,
    /// The probe context `/probe` derives its own from.
    pub base: Arc<ProbeContext>,
}

/// What building a world needs besides the model.
pub(crate) struct Build<'a> {
    pub generation: u64,
    pub timing: Timing,
    /// Shares its ICMP sockets and TLS roots with every check and with `/probe`.
    pub base: Arc<ProbeContext>,
    /// Set when ICMP sockets could not be opened: ICMP checks report it instead of probing.
    pub icmp_error: Option<String>,
    pub extra_allow: &'a [IpNet],
    pub agent_ports: PortRange,
    /// Only the checks (and static findings) this shard owns.
    pub shard: Option<super::shard::Shard>,
}

impl World {
    /// Plans every check the agent can send and builds their contexts, perspectives and fresh
    /// series: everything of a configuration that does not depend on the running one, so that
    /// it is built while the running world goes on probing. [`World::carry_over`] then takes
    /// over what the running world knew.
    pub(crate) fn build(model: Model, b: Build<'_>, metrics: &Metrics) -> Result<World, String> {
        // The model moves into the policy: a fleet's model is not held twice while the old
        // world still holds its own.
        let policy = Policy::from_model(model);
        let slots = plan_slots(&policy, &b, metrics)?;
        metrics.checks.set(slots.len() as i64);
        // The configuration's own findings, and the client legs the agent cannot probe from
        // inside (judged from the configuration alone, as `probe validate` does).
        let mut statics = diagnose::static_findings(&policy);
        statics.extend(diagnose::client_legs(&policy, b.agent_ports));
        if let Some(shard) = b.shard {
            statics.retain(|f| shard.owns(&static_identity(f)));
        }
        let allow = allowlist(policy.model(), b.extra_allow);
        Ok(World {
            generation: b.generation,
            policy,
            slots,
            statics,
            allow,
            base: b.base.clone(),
        })
    }

    /// Takes over from `previous`, check by check (matched by their labels), the threshold
    /// state, the latest observation and finding and the series, and judges the carried
    /// observations again under this configuration; forgets the series of checks that are
    /// gone. Nothing is copied: what `previous` keeps afterwards is its configuration alone.
    pub(crate) fn carry_over(&mut self, previous: &mut World, metrics: &Metrics) {
        let mut index = ByLabels::default();
        for (i, s) in previous.slots.iter().enumerate() {
            index.insert(label_hash(s.series.identity()), i);
        }
        let mut taken = vec![false; previous.slots.len()];
        for new in &mut self.slots {
            let found = index.find(label_hash(new.series.identity()), |i| {
                !taken[i] && previous.slots[i].series.identity() == new.series.identity()
            });
            let Some(i) = found else { continue };
            taken[i] = true;
            let old = &mut previous.slots[i];
            let thresholds = new.health.thresholds();
            std::mem::swap(&mut new.health, &mut old.health);
            new.health.set_thresholds(thresholds);
            new.finding = old.finding.take();
            new.recent = old.recent;
            std::mem::swap(&mut new.series, &mut old.series);
        }
        for (old, taken) in previous.slots.iter().zip(taken) {
            if !taken {
                metrics.forget(&old.labels());
            }
        }
        // Findings of carried observations are judged again under the new configuration.
        for i in 0..self.slots.len() {
            self.rejudge(i, metrics);
        }
    }

    fn rejudge(&mut self, index: usize, metrics: &Metrics) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let Some(obs) = slot.finding.as_ref().and_then(|f| f.observed.clone()) else {
            return;
        };
        let f = diagnose::diagnose(&self.policy, &slot.check, &slot.perspectives, Some(&obs));
        metrics.record_finding(&mut slot.series, &f);
        put(&mut slot.finding, f);
    }

    /// Takes one observation of slot `index`, made at `at` and taking `took`: metrics, threshold
    /// state, finding. Returns what changed, for the log.
    pub(crate) fn apply(
        &mut self,
        index: usize,
        obs: Observation,
        took: Duration,
        at: Instant,
        now_unix: f64,
        metrics: &Metrics,
    ) -> Option<Change> {
        let slot = self.slots.get_mut(index)?;
        slot.in_flight = false;
        metrics.record(&mut slot.series, &obs, took, now_unix);
        let seen = diagnose::seen(&obs);
        let transition = if seen == Seen::NotRun {
            // A probe that could not run says nothing about the backend.
            None
        } else {
            let t = slot.health.record(seen == Seen::Pass, at);
            slot.recent.push(seen == Seen::Pass);
            metrics.record_health(&mut slot.series, slot.health.state(), t.is_some());
            t
        };
        // The same outcome as last time is judged as last time: only the observation (its
        // round-trip time) changes, and no string of the finding is made again.
        if let Some(f) = slot.finding.as_deref_mut()
            && f.observed
                .as_ref()
                .is_some_and(|last| diagnose::judged_alike(last, &obs))
        {
            f.observed = Some(obs);
            // Debug builds (every test) judge it in full all the same, and compare.
            debug_assert_eq!(
                serde_json::to_value(diagnose::diagnose(
                    &self.policy,
                    &slot.check,
                    &slot.perspectives,
                    f.observed.as_ref()
                ))
                .ok(),
                serde_json::to_value(&*f).ok(),
                "an observation judged alike is judged as the last one"
            );
            return Some(Change {
                transition,
                code: None,
                first: false,
            });
        }
        let finding = diagnose::diagnose(&self.policy, &slot.check, &slot.perspectives, Some(&obs));
        metrics.record_finding(&mut slot.series, &finding);
        let before = slot.finding.as_ref().map(|f| f.code);
        let code_changed = before != Some(finding.code);
        let change = Change {
            transition,
            code: code_changed.then_some(finding.code),
            first: before.is_none(),
        };
        put(&mut slot.finding, finding);
        Some(change)
    }

    /// Every finding now: one per observed check, and the static ones.
    pub(crate) fn report(&self) -> Report {
        Report::new(
            self.slots
                .iter()
                .filter_map(|s| s.finding.as_deref().cloned())
                .chain(self.statics.iter().cloned())
                .collect(),
        )
    }

    /// One page of the findings (`/findings?offset=&limit=`), only those not OK with `failing`:
    /// the page's findings, the counts of every finding the filter keeps, and how many it keeps.
    pub(crate) fn report_page(
        &self,
        offset: usize,
        limit: usize,
        failing: bool,
    ) -> (Report, usize) {
        let kept = || {
            self.findings()
                .filter(move |f| !failing || f.severity != diagnose::Severity::Ok)
        };
        let mut summary = diagnose::Summary::default();
        for f in kept() {
            summary.count(f.severity);
        }
        let findings = kept().skip(offset).take(limit).cloned().collect();
        let total = summary.findings;
        (Report { findings, summary }, total)
    }

    /// Every check's series, for `/metrics`.
    pub(crate) fn series(&self) -> impl Iterator<Item = &CheckSeries> + Clone {
        self.slots.iter().map(|s| &s.series)
    }

    /// Findings for `probe_findings`.
    pub(crate) fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.slots
            .iter()
            .filter_map(|s| s.finding.as_deref())
            .chain(self.statics.iter())
    }

    /// How many checks have been probed at least once, of how many.
    pub(crate) fn observed(&self) -> (usize, usize) {
        let done = self.slots.iter().filter(|s| s.finding.is_some()).count();
        (done, self.slots.len())
    }
}

/// Stores `value` in `slot`, in the box already there if there is one (no allocation per
/// probe).
fn put<T>(slot: &mut Option<Box<T>>, value: T) {
    match slot {
        Some(b) => **b = value,
        None => *slot = Some(Box::new(value)),
    }
}

/// What one observation changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change {
    pub transition: Option<crate::health::Transition>,
    /// The finding's new code, if it changed.
    pub code: Option<diagnose::Code>,
    /// The first observation of the check.
    pub first: bool,
}

/// A check the agent will probe, before it becomes a [`Slot`].
struct Planned {
    check: Check,
    timeout: Duration,
    ctx: Arc<ProbeContext>,
    interval: Duration,
    labels: [String; 6],
    spec: ProbeSpec,
}

/// What identifies a static finding between shards: the same finding of the same configuration
/// is owned by one shard, so that the fleet reports it once.
fn static_identity(f: &diagnose::Finding) -> [String; 6] {
    [
        f.code.as_str().to_string(),
        f.role.as_str().to_string(),
        f.load_balancer.clone().unwrap_or_default(),
        f.address.map(|a| a.to_string()).unwrap_or_default(),
        f.port.map(|p| p.to_string()).unwrap_or_default(),
        f.summary.clone(),
    ]
}

/// The interval of `check` (the command line's, if set, written into the check) and its probe
/// key, whose timeout never exceeds the interval (a load balancer's timeout is always shorter).
fn timing_of(check: &mut Check, timing: Timing) -> (Duration, ProbeKey) {
    if let Some(i) = timing.interval {
        check.interval_s = i.as_secs().clamp(1, u64::from(u32::MAX)) as u32;
    }
    let interval = timing
        .interval
        .unwrap_or(Duration::from_secs(u64::from(check.interval_s.max(1))));
    let mut key = ProbeKey::of(check);
    if let Some(t) = timing.timeout {
        key.timeout = t;
    }
    key.timeout = key.timeout.min(interval);
    (interval, key)
}

/// Every check the agent can send, as a slot with its timing and probe context (one per
/// settings key); the same probe under the same name (one expectation for several load
/// balancers) once. Every probe context is made first, so that a configuration that cannot be
/// probed (a bad `expected_codes`) fails before any series exists; then each check becomes its
/// slot as it is taken, with no list of planned checks beside the slots.
fn plan_slots(policy: &Policy, b: &Build<'_>, metrics: &Metrics) -> Result<Vec<Slot>, String> {
    let mut checks: Vec<Check> = diagnose::plan(policy, None)
        .into_iter()
        .filter(|c| c.probe_from_agent)
        .collect();
    let mut contexts: HashMap<ProbeKey, Arc<ProbeContext>> = HashMap::new();
    for check in &mut checks {
        let (_, key) = timing_of(check, b.timing);
        if contexts.contains_key(&key) {
            continue;
        }
        let settings = key.settings().map_err(|e| {
            format!(
                "backend group {}: health check expected_codes: {e}",
                check.backend_group.as_deref().unwrap_or("?")
            )
        })?;
        contexts.insert(key, Arc::new(b.base.with_settings(settings)));
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(checks.len());
    let mut seen_labels = ByLabels::default();
    for mut check in checks {
        let (interval, key) = timing_of(&mut check, b.timing);
        let Some(ctx) = contexts.get(&key).cloned() else {
            // Every key got its context above.
            continue;
        };
        let spec = plan::spec_for(&check);
        let labels = check_labels(&check, spec.target.protocol);
        let hash = label_hash(&labels);
        // A duplicate has the same labels, hence the same shard: only kept checks are indexed.
        if seen_labels
            .find(hash, |i| slots[i].labels() == labels)
            .is_some()
            || b.shard.is_some_and(|s| !s.owns(&labels))
        {
            continue;
        }
        seen_labels.insert(hash, slots.len());
        let planned = Planned {
            check,
            timeout: key.timeout,
            ctx,
            interval,
            labels,
            spec,
        };
        slots.push(slot(policy, b, metrics, planned));
    }
    Ok(slots)
}

/// A check's labels (the values, or as rendered) as one number, to find a check by its labels
/// without keeping a copy of them.
fn label_hash(labels: &(impl std::hash::Hash + ?Sized)) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

/// Items of a list (numbered from 0, in the order inserted) found by the hash of their labels:
/// the first item of each hash, and a chain through any others. Collisions of 64-bit hashes are
/// all but absent and are resolved exactly, by the caller's comparison. At 100,000 checks this
/// holds 1.2 MB where a map keyed by the labels held 600,000 copied strings.
#[derive(Default)]
struct ByLabels {
    first: HashMap<u64, usize>,
    /// The next item with the same hash, per item.
    next: Vec<Option<usize>>,
}

impl ByLabels {
    /// Adds item `i`, which must be the next number.
    fn insert(&mut self, hash: u64, i: usize) {
        debug_assert_eq!(i, self.next.len());
        self.next.push(self.first.insert(hash, i));
    }

    /// The first item with `hash` that `same` accepts.
    fn find(&self, hash: u64, mut same: impl FnMut(usize) -> bool) -> Option<usize> {
        let mut at = self.first.get(&hash).copied();
        while let Some(i) = at {
            if same(i) {
                return Some(i);
            }
            at = self.next.get(i).copied().flatten();
        }
        None
    }
}

/// The slot of a planned check, as new: threshold state `initial`, no observation yet, fresh
/// series ([`World::carry_over`] replaces them with the running check's).
fn slot(policy: &Policy, b: &Build<'_>, metrics: &Metrics, p: Planned) -> Slot {
    let protocol = p.spec.target.protocol;
    let needs_rise = p
        .check
        .load_balancer
        .and_then(|i| policy.model().load_balancers.get(i))
        .is_some_and(|lb| lb.provider.profile().initially_needs_rise);
    let initial = if needs_rise {
        InitialRule::Rise
    } else {
        InitialRule::OnePass
    };
    let thresholds = Thresholds::new(p.check.rise, p.check.fall, initial);
    let mut perspectives = diagnose::perspectives(policy, &p.check, b.agent_ports);
    // Kept as long as the configuration: no room for hops a path never had (at 100,000
    // checks, some 20 MB).
    for v in [
        &mut perspectives.agent,
        &mut perspectives.lb,
        &mut perspectives.lb_traffic,
    ]
    .into_iter()
    .flatten()
    {
        v.path.shrink_to_fit();
    }
    let cannot_run = (protocol == Protocol::Icmp)
        .then(|| b.icmp_error.clone())
        .flatten();
    Slot {
        check: p.check,
        spec: p.spec,
        ctx: p.ctx,
        interval: p.interval,
        timeout: p.timeout,
        perspectives,
        health: Health::new(thresholds),
        finding: None,
        in_flight: false,
        series: metrics.series(&p.labels, protocol),
        cannot_run,
        recent: Recent::default(),
    }
}

/// The networks `/probe` may reach by default: every configured member, load balancer address
/// and subnet, plus the operator's own entries.
pub(crate) fn allowlist(model: &Model, extra: &[IpNet]) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = model.subnets.iter().map(|s| s.cidr).collect();
    let hosts = model
        .backend_groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.address))
        .chain(model.load_balancers.iter().filter_map(|lb| lb.address));
    nets.extend(hosts.map(IpNet::from));
    nets.extend(extra.iter().copied());
    nets.sort();
    nets.dedup();
    nets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_sharing_a_hash_are_told_apart_by_their_comparison() {
        let items = ["a", "b", "c", "d"];
        let mut index = ByLabels::default();
        // Every item under one hash, as if all collided, and one under another.
        for i in 0..3 {
            index.insert(7, i);
        }
        index.insert(9, 3);
        for (i, item) in items.iter().enumerate() {
            let hash = if i == 3 { 9 } else { 7 };
            assert_eq!(index.find(hash, |j| items[j] == *item), Some(i));
        }
        assert_eq!(index.find(7, |j| items[j] == "d"), None);
        assert_eq!(index.find(8, |_| true), None);
    }

    fn config(members: &[(&str, &str)], unhealthy_threshold: u32) -> Model {
        let mut yaml = String::from(
            "agent: {address: 127.0.0.1, subnet: lb}\nsubnets:\n  - {id: lb, cidr: 127.0.0.0/24}\n  \
             - {id: fleet, cidr: 127.64.0.0/16}\nbackend_groups:\n  - name: fleet\n    protocol: tcp\n    \
             port: 80\n    health_check: {protocol: tcp, interval_s: 5, timeout_s: 1, ",
        );
        yaml.push_str(&format!(
            "unhealthy_threshold: {unhealthy_threshold}}}\n    members:\n"
        ));
        for (name, address) in members {
            yaml.push_str(&format!("      - {{name: {name}, address: {address}}}\n"));
        }
        crate::config::yaml::parse(yaml.as_bytes(), std::path::Path::new("agent.yaml"))
            .expect("test configuration")
    }

    fn world(model: Model, generation: u64, metrics: &Metrics) -> World {
        let base = ProbeContext::new(
            crate::probe::ProbeSettings::default(),
            crate::probe::IcmpNeed::default(),
        )
        .expect("probe context without ICMP");
        let b = Build {
            generation,
            timing: Timing::default(),
            base: Arc::new(base),
            icmp_error: None,
            extra_allow: &[],
            agent_ports: PortRange::EPHEMERAL,
            shard: None,
        };
        World::build(model, b, metrics).expect("world")
    }

    fn slot_of<'w>(w: &'w World, address: &str) -> &'w Slot {
        w.slots
            .iter()
            .find(|s| s.labels()[2] == address)
            .unwrap_or_else(|| panic!("no check of {address}"))
    }

    // A runtime: the probe context registers its sockets with the reactor.
    #[tokio::test]
    async fn a_reload_carries_each_unchanged_checks_state_over_and_starts_new_ones_afresh() {
        let metrics = Metrics::new(None, true).expect("metrics");
        let mut old = world(
            config(&[("m0", "127.64.0.2"), ("m1", "127.64.0.3")], 2),
            1,
            &metrics,
        );
        // m0 fails twice: unhealthy (threshold 2), one transition.
        let i = old
            .slots
            .iter()
            .position(|s| s.labels()[2] == "127.64.0.2")
            .expect("m0");
        for _ in 0..2 {
            let mut obs = Observation::error(&old.slots[i].spec.target, None, "test");
            obs.state = crate::probe::State::Filtered;
            obs.reason = crate::probe::Reason::NoResponse;
            old.apply(
                i,
                obs,
                Duration::from_millis(1),
                Instant::now(),
                0.0,
                &metrics,
            );
        }
        assert_eq!(
            slot_of(&old, "127.64.0.2").health.state().as_str(),
            "unhealthy"
        );

        // m1 goes, m2 comes, and the threshold changes.
        let mut new = world(
            config(&[("m0", "127.64.0.2"), ("m2", "127.64.0.4")], 3),
            2,
            &metrics,
        );
        new.carry_over(&mut old, &metrics);
        let m0 = slot_of(&new, "127.64.0.2");
        assert_eq!(m0.health.state().as_str(), "unhealthy");
        assert_eq!(m0.health.transitions(), 1);
        assert_eq!(
            m0.health.thresholds(),
            slot_of(
                &world(config(&[("m0", "127.64.0.2")], 3), 3, &metrics,),
                "127.64.0.2"
            )
            .health
            .thresholds(),
            "the new thresholds apply"
        );
        assert!(
            m0.finding.as_ref().is_some_and(|f| f.observed.is_some()),
            "the latest observation carried over"
        );
        assert_eq!(
            m0.recent,
            Recent { bits: 0, len: 2 },
            "its two failures carried over, for the sparkline"
        );
        let finding = m0
            .finding
            .as_deref()
            .expect("judged again under the new configuration");
        assert_eq!(
            finding.address.map(|a| a.to_string()).as_deref(),
            Some("127.64.0.2")
        );
        // Its series too (below).
        let m2 = slot_of(&new, "127.64.0.4");
        assert_eq!(m2.health.state().as_str(), "initial");
        assert!(m2.finding.is_none());
        assert!(new.slots.iter().all(|s| s.labels()[2] != "127.64.0.3"));
        // Nothing was copied: the old world keeps its configuration, not the state.
        assert!(old.slots.iter().all(|s| s.finding.is_none()));
        // m1's per-check histogram is forgotten; m0's and m2's are there.
        let text = metrics.encode(new.series());
        let histograms: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("probe_check_duration_seconds_count{"))
            .collect();
        assert!(
            histograms.iter().all(|l| !l.contains("127.64.0.3")),
            "{histograms:?}"
        );
        assert!(
            histograms.iter().any(|l| l.contains("127.64.0.2")),
            "{histograms:?}"
        );
    }

    #[test]
    fn recent_results_keep_the_newest_32() {
        let mut r = Recent::default();
        r.push(true);
        r.push(false);
        assert_eq!(r, Recent { bits: 0b10, len: 2 });
        for _ in 0..40 {
            r.push(true);
        }
        assert_eq!(r.len, 32);
        assert_eq!(r.bits, u32::MAX);
    }

    #[test]
    fn equal_labels_hash_alike_and_different_ones_apart() {
        let labels =
            |port: &str| ["web", "web-1", "10.0.1.5", port, "tcp", "traffic"].map(String::from);
        assert_eq!(label_hash(&labels("80")), label_hash(&labels("80")));
        assert_ne!(label_hash(&labels("80")), label_hash(&labels("8080")));
    }
}
