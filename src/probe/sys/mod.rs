//! Platform code: sockets with `IP_RECVERR`, the socket error queue, resource limits.
//!
//! This is the only module that deals with file descriptors and socket options below what tokio
//! offers. Everything here goes through `socket2` and `nix`'s safe wrappers; no `unsafe` is
//! needed except to register a socket with tokio's reactor (`register`). The kernel behaviour it relies on (Linux):
//!
//! * With `IP_RECVERR` / `IPV6_RECVERR` set, an ICMP error for a socket is queued on its error
//!   queue with the ICMP type, code and the offender's address (`sock_extended_err`), readable with
//!   `recvmsg(MSG_ERRQUEUE)`.
//! * A TCP socket in `SYN_SENT` that receives any ICMP destination unreachable aborts the connect
//!   with the mapped errno (`icmp_err_convert`) and queues the ICMP error too, so a TCP probe can tell
//!   `admin-prohibited` from `host-unreach` and name the sender.
//! * A connected UDP socket gets `sk_err` set and the error queued, so `recv` fails and the queue
//!   says why.

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
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::IcmpError;

/// How a TCP connect ended.
#[derive(Debug)]
pub enum Connect {
    /// The three-way handshake completed.
    Established(TcpStream),
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
    socket.set_tcp_nodelay(true)?;
    set_recverr(&socket, addr.is_ipv4())?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => return established(socket),
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return refused_or_io(&socket, e),
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
    let stream: std::net::TcpStream = socket.into();
    Ok(Connect::Established(TcpStream::from_std(stream)?))
}

/// Turns a connect error into a `Connect::Failed` when it is the network's answer, or back into an
/// `Err` when it is a local resource problem.
fn refused_or_io(socket: &Socket, err: io::Error) -> io::Result<Connect> {
    let errno = err.raw_os_error().unwrap_or(0);
    let icmp = read_icmp_error(socket);
    if icmp.is_some() || super::icmp_error::classify_errno(errno).is_some() {
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
    if icmp.is_some() || super::icmp_error::classify_errno(errno).is_some() {
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
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        match c {
            ControlMessageOwned::Ipv4RecvErr(ee, offender) => {
                if ee.ee_origin != nix::libc::SO_EE_ORIGIN_ICMP {
                    continue;
                }
                let from =
                    offender.map(|sa| IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                return Some(IcmpError {
                    icmp_type: ee.ee_type,
                    code: ee.ee_code,
                    from,
                    v6: false,
                });
            }
            ControlMessageOwned::Ipv6RecvErr(ee, offender) => {
                if ee.ee_origin != nix::libc::SO_EE_ORIGIN_ICMP6 {
                    continue;
                }
                let from = offender.map(|sa| IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                return Some(IcmpError {
                    icmp_type: ee.ee_type,
                    code: ee.ee_code,
                    from,
                    v6: true,
                });
            }
            _ => {}
        }
    }
    None
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
pub fn local_port_range() -> crate::model::PortRange {
    let (from, to) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|t| t.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(a, b)| a <= b)
        .unwrap_or((32768, 60999));
    crate::model::PortRange { from, to }
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
