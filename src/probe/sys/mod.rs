//! Platform code: sockets with `IP_RECVERR`, the socket error queue, resource limits.
//!
//! This is the only module that deals with file descriptors and socket options below what tokio
//! offers. Everything here goes through `socket2` and `nix`'s safe wrappers; no `unsafe` is
//! needed except to register a socket with tokio's reactor (`register`) and to set the allocator's
//! mmap threshold (`release_large_frees`). The kernel behaviour it relies on (Linux):
//!
//! * With `IP_RECVERR` / `IPV6_RECVERR` set, an ICMP error for a socket is queued on its error
//!   queue with the ICMP type, code and the offender's address (`sock_extended_err`), readable with
//!   `recvmsg(MSG_ERRQUEUE)`.
//! * A TCP socket in `SYN_SENT` that receives any ICMP destination unreachable aborts the connect
//!   with the mapped errno (`icmp_err_convert`) and queues the ICMP error too, so a TCP probe can tell
//!   `admin-prohibited` from `host-unreach` and name the sender.
//! * A connected UDP socket gets `sk_err` set and the error queued, so `recv` fails and the queue
//!   says why.

pub mod privileges;

use std::io::{self, IoSliceMut, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, timeout_at};

use super::IcmpError;

/// How a TCP connect ended.
#[derive(Debug)]
pub enum Connect {
    /// The three-way handshake completed. The socket is not registered with the reactor: a TCP
    /// probe only closes it, an HTTP probe hands it to tokio (`TcpStream::from_std`).
    Established(Socket),
    /// The connect failed with `errno`; `icmp` is the ICMP error behind it, when one came.
    Failed { errno: i32, icmp: Option<IcmpError> },
    /// Nothing came back before the deadline.
    TimedOut,
}

/// Opens a fresh TCP connection to `addr`, giving up at `deadline`.
///
/// The socket has `SO_LINGER 0`, so dropping the stream sends RST and leaves no `TIME_WAIT` behind:
/// a sweep of thousands of targets does not exhaust ephemeral ports, and every probe is a new flow
/// that firewall rule changes apply to. `Err` means the probe could not run (no file descriptor, no
/// local address), never that the target failed.
pub async fn tcp_connect(addr: SocketAddr, deadline: Instant) -> io::Result<Connect> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(SockProtocol::TCP),
    )?;
    socket.set_linger(Some(Duration::ZERO))?;
    set_recverr(&socket, addr.is_ipv4())?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => return established(socket),
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return refused_or_io(&socket, e),
    }
    // On a local link the answer is often in before `connect` returns: the kernel processes the
    // peer's SYN-ACK or RST in the same softirq that sent the SYN. Two cheap checks then save the
    // reactor registration (two `epoll_ctl` calls and a wake-up) for most of a LAN sweep.
    if let Some(err) = socket.take_error()? {
        return refused_or_io(&socket, err);
    }
    if socket.peer_addr().is_ok() {
        return established(socket);
    }
    let fd = register(socket, Interest::WRITABLE | Interest::ERROR)?;
    loop {
        let mut guard =
            match timeout_at(deadline, fd.ready(Interest::WRITABLE | Interest::ERROR)).await {
                Ok(guard) => guard?,
                Err(_elapsed) => return Ok(Connect::TimedOut),
            };
        if let Some(err) = fd.get_ref().take_error()? {
            return refused_or_io(fd.get_ref(), err);
        }
        // Writable without a pending error: connected, unless the wake-up was spurious.
        match fd.get_ref().peer_addr() {
            Ok(_) => {
                drop(guard);
                return established(fd.into_inner());
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN) => guard.clear_ready(),
            Err(e) => return refused_or_io(fd.get_ref(), e),
        }
    }
}

fn established(socket: Socket) -> io::Result<Connect> {
    Ok(Connect::Established(socket))
}

/// Turns a connect error into a `Connect::Failed` when it is the network's answer, or back into an
/// `Err` when it is a local resource problem.
fn refused_or_io(socket: &Socket, err: io::Error) -> io::Result<Connect> {
    let errno = err.raw_os_error().unwrap_or(0);
    let icmp = read_icmp_error(socket);
    if icmp.is_some() || crate::probe::errno::classify_errno(errno).is_some() {
        Ok(Connect::Failed { errno, icmp })
    } else {
        Err(err)
    }
}

/// A UDP socket connected to `addr`, with `IP_RECVERR` set, registered with tokio.
pub fn udp_connected(addr: SocketAddr) -> io::Result<AsyncFd<Socket>> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking().cloexec(),
        Some(SockProtocol::UDP),
    )?;
    set_recverr(&socket, addr.is_ipv4())?;
    socket.connect(&SockAddr::from(addr))?;
    register(socket, Interest::READABLE | Interest::ERROR)
}

/// Makes glibc's allocator map every block of 128 KiB or more on its own and unmap it when freed.
///
/// By default glibc raises this threshold to the size of the largest block freed (up to 32 MiB),
/// so the agent's `/metrics` page (16 MB at 5,000 members) is then carved from the heap and stays
/// resident, or not, depending on what was allocated above it: 40 to 115 MB more RSS, moving in
/// steps of 8 to 24 MB. With the threshold fixed, resident memory is what the agent holds. A no-op
/// on other C libraries.
#[allow(unsafe_code)]
pub fn release_large_frees() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt changes an allocator parameter and takes no pointers; glibc serialises it
    // against concurrent allocations with its arena locks.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Registers an owned socket with tokio's reactor.
#[allow(unsafe_code)]
fn register(socket: Socket, interest: Interest) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: `AsyncFd` takes ownership of `socket`, a `socket2::Socket` that owns its file
    // descriptor: the descriptor is open, and nothing else can close or replace it while the
    // `AsyncFd` holds the socket. `Socket::as_raw_fd` always returns that same descriptor.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(io::Error::from)
}

/// Outcome of waiting on a connected UDP socket.
#[derive(Debug)]
pub enum UdpReply {
    Datagram(Vec<u8>),
    Icmp { errno: i32, icmp: Option<IcmpError> },
    TimedOut,
}

/// Sends `payload` on a connected UDP socket and waits for the first datagram or ICMP error.
pub async fn udp_exchange(
    fd: &AsyncFd<Socket>,
    payload: &[u8],
    deadline: Instant,
) -> io::Result<UdpReply> {
    match fd.get_ref().send(payload) {
        Ok(_) => {}
        Err(e) => {
            // An error for an earlier datagram, or no route: the network's answer.
            if let Some(reply) = udp_error(fd.get_ref(), e)? {
                return Ok(reply);
            }
        }
    }
    let mut buf = vec![0u8; 65_536];
    loop {
        let mut guard =
            match timeout_at(deadline, fd.ready(Interest::READABLE | Interest::ERROR)).await {
                Ok(guard) => guard?,
                Err(_elapsed) => return Ok(UdpReply::TimedOut),
            };
        // `Read for &Socket` is `recv(2)` on the connected socket.
        let mut socket: &Socket = fd.get_ref();
        match socket.read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(UdpReply::Datagram(buf));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
            Err(e) => match udp_error(fd.get_ref(), e)? {
                Some(reply) => return Ok(reply),
                None => guard.clear_ready(),
            },
        }
    }
}

fn udp_error(socket: &Socket, err: io::Error) -> io::Result<Option<UdpReply>> {
    let errno = err.raw_os_error().unwrap_or(0);
    let icmp = read_icmp_error(socket);
    if icmp.is_some() || crate::probe::errno::classify_errno(errno).is_some() {
        Ok(Some(UdpReply::Icmp { errno, icmp }))
    } else if err.kind() == io::ErrorKind::Interrupted {
        Ok(None)
    } else {
        Err(err)
    }
}

fn set_recverr(socket: &Socket, v4: bool) -> io::Result<()> {
    let result = if v4 {
        setsockopt(socket, sockopt::Ipv4RecvErr, &true)
    } else {
        setsockopt(socket, sockopt::Ipv6RecvErr, &true)
    };
    result.map_err(io::Error::from)
}

/// Reads the first ICMP error from the socket's error queue, if there is one.
pub fn read_icmp_error(socket: &Socket) -> Option<IcmpError> {
    let mut data = [0u8; 576];
    read_error_queue(socket, &mut data)?.icmp
}

/// The local address the kernel would use to reach `dst`: how the agent finds its own address
/// when the configuration does not give it. A connected UDP socket sends nothing.
pub fn local_address_for(dst: IpAddr) -> io::Result<IpAddr> {
    let any: IpAddr = if dst.is_ipv6() {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let socket = std::net::UdpSocket::bind((any, 0))?;
    socket.connect((dst, 9))?;
    Ok(socket.local_addr()?.ip())
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), from which the agent's
/// probes take their source ports; Linux's default when it cannot be read.
pub fn local_port_range() -> std::ops::RangeInclusive<u16> {
    let (from, to) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|t| t.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(a, b)| a <= b)
        .unwrap_or((32768, 60999));
    from..=to
}

/// Raises the soft open-file limit to the hard limit and returns the new soft limit.
///
/// A sweep keeps one socket per probe in flight; the engine sizes its concurrency from this.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// Receive buffer asked for on the shared ICMP sockets: a sweep of 65,536 addresses gets up to as
/// many echo replies within a fraction of a second, about 1 KiB of buffer each, and the kernel
/// drops what does not fit (a reply lost there would be reported as `filtered`).
const ICMP_RCVBUF: usize = 64 << 20;

/// Which kind of ICMP socket the kernel granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpSocketKind {
    /// `SOCK_RAW`: needs CAP_NET_RAW; sees every ICMP packet the host receives.
    Raw,
    /// `SOCK_DGRAM` "ping" socket: allowed by `net.ipv4.ping_group_range`; the kernel sets the
    /// identifier, hands over only this socket's replies, and queues ICMP errors on the error queue.
    Datagram,
}

/// The ICMP sockets of one address family.
pub struct IcmpSockets {
    /// Receives every reply and error; registered with tokio. Also sends when `senders` is empty
    /// or a sender's buffer is full.
    pub recv: AsyncFd<Socket>,
    pub kind: IcmpSocketKind,
    /// Raw sockets that only send, one per runtime worker: the kernel serialises `sendto` on one
    /// socket with a sleeping lock, and two threads sending on one raw socket spend a fifth of a
    /// sweep waiting for each other. Each has a filter that drops everything it would receive.
    pub senders: Vec<Socket>,
}

/// Opens the ICMP sockets for one address family — raw when the process may, else one datagram
/// ping socket — non-blocking, with a large receive buffer and `IP_RECVERR`, the receiving one
/// registered with tokio. The error is the datagram socket's (the raw one's is always EPERM).
pub fn icmp_sockets(v6: bool, senders: usize) -> io::Result<IcmpSockets> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, SockProtocol::ICMPV6)
    } else {
        (Domain::IPV4, SockProtocol::ICMPV4)
    };
    let raw = || Socket::new(domain, Type::RAW.nonblocking().cloexec(), Some(protocol));
    let (socket, kind) = match raw() {
        Ok(s) => (s, IcmpSocketKind::Raw),
        Err(_) => (
            Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), Some(protocol))?,
            IcmpSocketKind::Datagram,
        ),
    };
    if setsockopt(&socket, sockopt::RcvBufForce, &ICMP_RCVBUF).is_err() {
        // Without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max.
        let _ = setsockopt(&socket, sockopt::RcvBuf, &ICMP_RCVBUF);
    }
    let mut send_only = Vec::new();
    match kind {
        IcmpSocketKind::Datagram => set_recverr(&socket, !v6)?,
        IcmpSocketKind::Raw => {
            // BPF "return 0": a raw socket gets a copy of every ICMP packet; these drop theirs.
            let drop_all = [socket2::SockFilter::new(0x06, 0, 0, 0)];
            for _ in 0..senders {
                let sender = raw()?;
                sender.attach_filter(&drop_all)?;
                send_only.push(sender);
            }
        }
    }
    let recv = register(
        socket,
        Interest::READABLE | Interest::WRITABLE | Interest::ERROR,
    )?;
    Ok(IcmpSockets {
        recv,
        kind,
        senders: send_only,
    })
}

/// Receives one datagram without waiting: its length and sender.
pub fn recv_from(socket: &Socket, buf: &mut [u8]) -> io::Result<(usize, Option<IpAddr>)> {
    let (n, from) = nix::sys::socket::recvfrom::<SockaddrStorage>(socket.as_raw_fd(), buf)?;
    Ok((n, from.and_then(|a| sockaddr_ip(&a))))
}

fn sockaddr_ip(addr: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// One message from a socket's error queue.
#[derive(Debug)]
pub struct QueuedError {
    /// The ICMP error, when the message came from one (not a local error).
    pub icmp: Option<IcmpError>,
    /// Where the datagram that caused it was going.
    pub dest: Option<IpAddr>,
    /// Bytes of that datagram copied into the caller's buffer (for a ping socket, the echo
    /// request's ICMP header and payload).
    pub len: usize,
}

/// Takes the next message off the socket's error queue, its data into `data`; `None` when the
/// queue is empty.
pub fn read_error_queue(socket: &Socket, data: &mut [u8]) -> Option<QueuedError> {
    let mut iov = [IoSliceMut::new(data)];
    let mut cmsg = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let dest = msg.address.as_ref().and_then(sockaddr_ip);
    let len = msg.bytes;
    let mut icmp = None;
    for c in msg.cmsgs().ok()? {
        match c {
            ControlMessageOwned::Ipv4RecvErr(ee, offender)
                if ee.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP =>
            {
                let from =
                    offender.map(|sa| IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                icmp = Some(IcmpError {
                    icmp_type: ee.ee_type,
                    code: ee.ee_code,
                    from,
                    v6: false,
                });
                break;
            }
            ControlMessageOwned::Ipv6RecvErr(ee, offender)
                if ee.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP6 =>
            {
                let from = offender.map(|sa| IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                icmp = Some(IcmpError {
                    icmp_type: ee.ee_type,
                    code: ee.ee_code,
                    from,
                    v6: true,
                });
                break;
            }
            _ => {}
        }
    }
    Some(QueuedError { icmp, dest, len })
}
