//! ICMP echo probe over one shared socket per address family.
//!
//! All probes of a run share one socket per family and one receive task per socket; a reply is
//! handed to its probe by (address, sequence number), and the sequence number is unique per echo
//! request of the run. The socket is `SOCK_RAW` when the process holds CAP_NET_RAW, otherwise a
//! datagram ICMP socket (allowed by `net.ipv4.ping_group_range`). A raw socket sees every ICMP
//! packet the host receives, so its replies must also carry this run's identifier; on a
//! datagram socket the kernel picks the identifier and filters by it.
//!
//! A reply counts only if it comes from the probed address, answers a sequence number still
//! waited for, and carries back the run's payload: a fixed text followed by 8 random bytes drawn
//! when the sockets open. The identifier and the first sequence number are random too. So a host
//! that does not see the requests cannot make a dropped address look up with forged replies, nor
//! quote an echo request it cannot name in a forged error; and a reply counts once however many
//! copies come back.
//!
//! | what came back                         | state         | reason             |
//! |----------------------------------------|---------------|--------------------|
//! | at least one echo reply                | `open`        | `echo-reply`       |
//! | destination unreachable, prohibited    | `rejected`    | `admin-prohibited`…|
//! | destination unreachable, no route      | `unreachable` | `host-unreach`…    |
//! | nothing before the deadline            | `filtered`    | `no-response`      |
//!
//! ICMP errors reach a raw socket as packets quoting the request (read by `icmp_packet`), and a
//! datagram socket through its error queue (`IP_RECVERR`), so both kinds tell a reject from a drop.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use socket2::{SockAddr, Socket};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::icmp_packet::{self, Incoming};
use super::sys::{self, IcmpSocketKind};
use super::{
    IcmpError, IcmpNeed, Observation, Phase, PingStats, ProbeSettings, ProbeSetupError, ProbeSpec,
    Reason, State, millis,
};

/// The start of every echo request's data, so captures show who sent it; 8 random bytes of the
/// run follow it.
const PAYLOAD_TEXT: &[u8] = b"probe health-check echo ";

/// Longest gap between the echo requests of one probe.
const MAX_SPACING: Duration = Duration::from_millis(100);

/// The shared ICMP sockets of a run, and their receive tasks.
pub struct IcmpClients {
    v4: Option<Arc<Family>>,
    v6: Option<Arc<Family>>,
    next_seq: AtomicU16,
    receivers: Vec<JoinHandle<()>>,
}

/// One address family's socket and the probes waiting on it.
struct Family {
    fd: AsyncFd<Socket>,
    kind: IcmpSocketKind,
    /// Send-only raw sockets, one per worker thread (see `sys::IcmpSockets`).
    senders: Vec<Socket>,
    v6: bool,
    /// This run's identifier, checked on a raw socket.
    ident: u16,
    /// The data of every echo request, which a reply must carry back.
    payload: Arc<[u8]>,
    waiters: Mutex<HashMap<(IpAddr, u16), Waiter>>,
    next_id: AtomicU64,
}

struct Waiter {
    /// Tells this registration from a later one under the same key.
    id: u64,
    tx: oneshot::Sender<Heard>,
}

/// What the receive task heard for one echo request.
enum Heard {
    Reply(Instant),
    Error(IcmpError),
}

impl IcmpClients {
    /// Opens the sockets a run needs. Must be called inside a tokio runtime.
    pub fn open(need: IcmpNeed) -> Result<Self, ProbeSetupError> {
        // An identifier and a payload of this run's own: two agents on one host do not take each
        // other's replies (raw sockets see every echo reply), and a forger must see the requests.
        let secret = unpredictable();
        let ident = (secret >> 64) as u16;
        let first_seq = (secret >> 80) as u16;
        let payload: Arc<[u8]> = [PAYLOAD_TEXT, &(secret as u64).to_be_bytes()]
            .concat()
            .into();
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let open = |v6: bool| -> Result<Arc<Family>, ProbeSetupError> {
            let sockets = sys::icmp_sockets(v6, workers).map_err(|source| {
                ProbeSetupError::IcmpPermission {
                    family: if v6 { 6 } else { 4 },
                    source,
                }
            })?;
            Ok(Arc::new(Family {
                fd: sockets.recv,
                kind: sockets.kind,
                senders: sockets.senders,
                v6,
                ident,
                payload: payload.clone(),
                waiters: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }))
        };
        let v4 = need.v4.then(|| open(false)).transpose()?;
        let v6 = need.v6.then(|| open(true)).transpose()?;
        let receivers = [&v4, &v6]
            .into_iter()
            .flatten()
            .map(|family| tokio::spawn(receive(family.clone())))
            .collect();
        Ok(IcmpClients {
            v4,
            v6,
            next_seq: AtomicU16::new(first_seq),
            receivers,
        })
    }

    fn family(&self, ip: IpAddr) -> Option<&Arc<Family>> {
        match ip {
            IpAddr::V4(_) => self.v4.as_ref(),
            IpAddr::V6(_) => self.v6.as_ref(),
        }
    }
}

impl Drop for IcmpClients {
    fn drop(&mut self) {
        for task in &self.receivers {
            task.abort();
        }
    }
}

impl Family {
    /// The send-only socket of the calling thread, if there are any.
    fn sender(&self) -> Option<&Socket> {
        thread_local!(static SLOT: Cell<Option<usize>> = const { Cell::new(None) });
        static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
        if self.senders.is_empty() {
            return None;
        }
        let slot = SLOT.with(|slot| match slot.get() {
            Some(n) => n,
            None => {
                let n = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
                slot.set(Some(n));
                n
            }
        });
        self.senders.get(slot % self.senders.len())
    }

    /// Sends `packet` to `to`: on this thread's send-only socket if it takes it at once, else on
    /// the shared socket, waiting for room in its buffer until `deadline`. `Err` is the echo's
    /// outcome when sending failed.
    async fn send(&self, packet: &[u8], to: &SockAddr, deadline: Instant) -> Result<(), Echo> {
        if self.sender().is_some_and(|s| s.send_to(packet, to).is_ok()) {
            return Ok(());
        }
        loop {
            match self.fd.get_ref().send_to(packet, to) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    match timeout_at(deadline, self.fd.writable()).await {
                        Ok(Ok(mut guard)) => guard.clear_ready(),
                        Ok(Err(e)) => return Err(Echo::Failed(format!("cannot send: {e}"))),
                        Err(_elapsed) => return Err(Echo::Lost),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(match e.raw_os_error() {
                        Some(errno) => Echo::SendErrno(errno),
                        None => Echo::Failed(format!("cannot send: {e}")),
                    });
                }
            }
        }
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<(IpAddr, u16), Waiter>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands what was heard to the probe waiting for (address, sequence), if any.
    fn deliver(&self, key: (IpAddr, u16), heard: Heard) {
        if let Some(waiter) = self.waiters().remove(&key) {
            let _ = waiter.tx.send(heard);
        }
    }

    /// Handles one datagram from the socket.
    fn handle(&self, bytes: &[u8], from: IpAddr) {
        let incoming = match from {
            IpAddr::V4(from) => {
                let raw = self.kind == IcmpSocketKind::Raw;
                icmp_packet::parse_v4(bytes, from, raw, &self.payload)
            }
            IpAddr::V6(from) => icmp_packet::parse_v6(bytes, from, &self.payload),
        };
        let Some(incoming) = incoming else { return };
        let (addr, ident, seq) = incoming.key();
        if self.kind == IcmpSocketKind::Raw && ident != self.ident {
            return; // another process's ping
        }
        let heard = match incoming {
            Incoming::Reply { .. } => Heard::Reply(Instant::now()),
            Incoming::Error { error, .. } => Heard::Error(error),
        };
        self.deliver((addr, seq), heard);
    }

    /// Handles the error queue of a datagram socket: each entry quotes our echo request.
    fn drain_error_queue(&self, buf: &mut [u8]) {
        while let Some(queued) = sys::read_error_queue(self.fd.get_ref(), buf) {
            let quoted = buf.get(..queued.len).unwrap_or_default();
            if let (Some(error), Some(dest), Some((_ident, seq))) =
                (queued.icmp, queued.dest, icmp_packet::ident_seq(quoted))
            {
                self.deliver((dest, seq), Heard::Error(error));
            }
        }
    }
}

/// The receive task of one socket: reads every datagram and hands replies and errors to the
/// probes waiting for them. Runs until the clients are dropped.
async fn receive(family: Arc<Family>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok(mut guard) = family.fd.ready(Interest::READABLE | Interest::ERROR).await else {
            return;
        };
        if family.kind == IcmpSocketKind::Datagram {
            family.drain_error_queue(&mut buf);
        }
        loop {
            match sys::recv_from(family.fd.get_ref(), &mut buf) {
                Ok((n, Some(from))) => family.handle(&buf[..n], from),
                Ok((_, None)) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Would block, or a pending socket error whose cause is on the error queue, read
                // at the next wake-up.
                Err(_) => {
                    guard.clear_ready();
                    break;
                }
            }
        }
    }
}

/// Removes a waiter that is still registered when its probe ends (timed out or cancelled).
struct Registration<'a> {
    family: &'a Family,
    key: (IpAddr, u16),
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiters = self.family.waiters();
        if waiters.get(&self.key).is_some_and(|w| w.id == self.id) {
            waiters.remove(&self.key);
        }
    }
}

/// What one echo request came back with.
enum Echo {
    Reply(Duration),
    Error(IcmpError),
    Lost,
    /// Sending failed with this errno (e.g. no route in the local table).
    SendErrno(i32),
    Failed(String),
}

/// Sends one echo request with `seq` to `ip` and waits for its answer until `deadline`.
async fn echo(family: &Family, ip: IpAddr, seq: u16, deadline: Instant) -> Echo {
    let key = (ip, seq);
    let id = family.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    family.waiters().insert(key, Waiter { id, tx });
    let _registration = Registration { family, key, id };

    let packet = icmp_packet::echo_request(family.v6, family.ident, seq, &family.payload);
    let to = SockAddr::from(SocketAddr::new(ip, 0));
    let sent = Instant::now();
    if let Err(failed) = family.send(&packet, &to, deadline).await {
        return failed;
    }
    match timeout_at(deadline, rx).await {
        Ok(Ok(Heard::Reply(at))) => Echo::Reply(at.saturating_duration_since(sent)),
        Ok(Ok(Heard::Error(error))) => Echo::Error(error),
        Ok(Err(_)) | Err(_) => Echo::Lost,
    }
}

/// The table's detail: replies and round trips. Returns whether the detail text is restated
/// (never).
pub(crate) fn detail(obs: &Observation, parts: &mut Vec<String>) -> bool {
    if let Some(p) = &obs.ping {
        let mut s = format!("{}/{} replies", p.received, p.sent);
        if let (Some(min), Some(avg), Some(max)) = (p.min_ms, p.avg_ms, p.max_ms) {
            s.push_str(&format!(", rtt {min:.2}/{avg:.2}/{max:.2} ms"));
        }
        parts.push(s);
    }
    false
}

/// `/probe?module=icmp`'s own metric, as blackbox_exporter names it.
pub(crate) fn samples(obs: &Observation) -> Vec<super::Sample> {
    const NAME: &str = "probe_icmp_duration_seconds";
    const HELP: &str = "Duration of icmp request by phase";
    let rtt = obs.rtt_ms.map_or(0.0, |ms| ms / 1000.0);
    [("resolve", 0.0), ("setup", 0.0), ("rtt", rtt)]
        .into_iter()
        .map(|(phase, v)| super::Sample::labelled(NAME, HELP, ("phase", phase), v))
        .collect()
}

/// How an ICMP probe pings.
#[derive(Debug, Clone)]
pub struct IcmpSettings {
    /// Echo requests per probe (1 to 100).
    pub count: u16,
}

impl Default for IcmpSettings {
    fn default() -> Self {
        IcmpSettings { count: 1 }
    }
}

/// Sends `settings.icmp.count` echo requests to the spec's address and waits for them until one
/// deadline.
pub async fn probe(
    spec: &ProbeSpec,
    settings: &ProbeSettings,
    clients: &IcmpClients,
) -> Observation {
    let ip = spec.addr.ip();
    let Some(family) = clients.family(ip) else {
        return Observation::error(
            &spec.target,
            Some(ip),
            "no ICMP socket for this address family",
        );
    };
    let count = settings.icmp.count.max(1);
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let spacing = (settings.timeout / (2 * u32::from(count))).min(MAX_SPACING);
    let first_seq = clients.next_seq.fetch_add(count, Ordering::Relaxed);

    let pings = (0..count).map(|i| {
        let seq = first_seq.wrapping_add(i);
        let send_at = start + spacing * u32::from(i);
        async move {
            if i > 0 {
                sleep_until(send_at).await;
            }
            echo(family, ip, seq, deadline).await
        }
    });
    let echoes = futures_util::future::join_all(pings).await;

    let mut rtts = Vec::with_capacity(usize::from(count));
    let mut first_error = None;
    let mut send_errno = None;
    let mut failure = None;
    for echo in echoes {
        match echo {
            Echo::Reply(rtt) => rtts.push(rtt),
            Echo::Error(err) => {
                first_error.get_or_insert(err);
            }
            Echo::Lost => {}
            Echo::SendErrno(errno) => {
                send_errno.get_or_insert(errno);
            }
            Echo::Failed(text) => {
                failure.get_or_insert(text);
            }
        }
    }

    let mut obs = super::observation_for(spec, State::Filtered, Reason::NoResponse);
    obs.phase = Phase::Wait;
    obs.ping = Some(stats(count, &rtts));
    if !rtts.is_empty() {
        obs.state = State::Open;
        obs.reason = Reason::EchoReply;
        obs.success = true;
        obs.phase = Phase::Done;
        obs.rtt_ms = obs.ping.as_ref().and_then(|p| p.avg_ms);
    } else if let Some(err) = first_error {
        let (state, reason) = err.classify(ip);
        obs.state = state;
        obs.reason = reason;
        obs.icmp = Some(err);
    } else if let Some(errno) = send_errno {
        super::tcp::apply_failure(&mut obs, spec, errno, None);
    } else if let Some(text) = failure {
        obs.set_error(text);
    }
    obs
}

/// 128 bits no other host can predict: SipHash under the standard library's random keys, which
/// it draws from the operating system (`getrandom`) once per thread, of the time and the process.
fn unpredictable() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    let seed = (std::process::id(), std::time::SystemTime::now());
    let high = RandomState::new().hash_one(seed);
    let low = RandomState::new().hash_one((seed, high));
    (u128::from(high) << 64) | u128::from(low)
}

fn stats(sent: u16, rtts: &[Duration]) -> PingStats {
    let received = rtts.len() as u16;
    let ms: Vec<f64> = rtts.iter().map(|d| millis(*d)).collect();
    let avg = (!ms.is_empty()).then(|| ms.iter().sum::<f64>() / ms.len() as f64);
    PingStats {
        sent,
        received,
        loss: f64::from(sent - received) / f64::from(sent),
        min_ms: ms.iter().copied().reduce(f64::min),
        avg_ms: avg.map(|a| (a * 1000.0).round() / 1000.0),
        max_ms: ms.iter().copied().reduce(f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_secret_differs_between_runs() {
        assert_ne!(unpredictable(), unpredictable());
    }

    #[test]
    fn stats_report_loss_and_min_avg_max() {
        let s = stats(4, &[Duration::from_millis(1), Duration::from_millis(3)]);
        assert_eq!((s.sent, s.received), (4, 2));
        assert!((s.loss - 0.5).abs() < 1e-9);
        assert_eq!(
            (s.min_ms, s.avg_ms, s.max_ms),
            (Some(1.0), Some(2.0), Some(3.0))
        );
        let none = stats(3, &[]);
        assert_eq!((none.loss, none.avg_ms), (1.0, None));
    }
}
