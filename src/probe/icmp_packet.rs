//! ICMP echo packets: building requests and reading what comes back. Pure: no sockets.
//!
//! What a socket hands over depends on its kind:
//!
//! | socket                  | bytes start with      |
//! |-------------------------|-----------------------|
//! | raw ICMPv4 (`SOCK_RAW`) | the IPv4 header       |
//! | datagram ICMPv4 (ping)  | the ICMP header       |
//! | raw or datagram ICMPv6  | the ICMPv6 header     |
//!
//! An incoming message matters only if it is an echo reply that carries our payload back, or an
//! error (destination unreachable, time exceeded) that quotes an echo request: the quote names the
//! request's destination, identifier and sequence, which is how an error is tied to the probe that
//! caused it. Everything else — echo requests arriving on loopback, replies with another payload,
//! errors about other protocols, truncated or malformed packets — is ignored, never an error: a raw
//! socket sees every ICMP packet the host receives, forged ones included.
//!
//! A reply must return the request's data unchanged (RFC 792, RFC 4443 §4.2). The payload carries
//! a secret of the run (see `icmp`), so a reply that does not carry it back answers another
//! process's ping or was forged by a host that never saw the request: it is not counted. An
//! error's quote is not checked against the payload, since routers may quote only the first 8
//! bytes of the request (RFC 792).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::IcmpError;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const UNREACH_V4: u8 = 3;
const TIME_EXCEEDED_V4: u8 = 11;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const UNREACH_V6: u8 = 1;
const TIME_EXCEEDED_V6: u8 = 3;
const PROTO_ICMP: u8 = 1;
const PROTO_ICMPV6: u8 = 58;

/// An ICMP message that answers one of our echo requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// An echo reply from `from`.
    Reply { from: IpAddr, ident: u16, seq: u16 },
    /// An error about the echo request sent to `to`.
    Error {
        to: IpAddr,
        ident: u16,
        seq: u16,
        error: IcmpError,
    },
}

impl Incoming {
    /// The address the echo request went to, the identifier and the sequence number.
    pub fn key(&self) -> (IpAddr, u16, u16) {
        match *self {
            Incoming::Reply { from, ident, seq } => (from, ident, seq),
            Incoming::Error { to, ident, seq, .. } => (to, ident, seq),
        }
    }
}

/// An echo request with `ident`, `seq` and `payload`. The ICMPv4 checksum is filled in; the
/// kernel computes ICMPv6's, which covers a pseudo-header with the source address.
pub fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + payload.len());
    packet.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    packet.push(0);
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(payload);
    if !v6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Reads an ICMPv4 message received from `from`; `with_ip_header` for raw sockets. An echo reply
/// is ours only if its data is `payload`.
pub fn parse_v4(
    bytes: &[u8],
    from: Ipv4Addr,
    with_ip_header: bool,
    payload: &[u8],
) -> Option<Incoming> {
    let icmp = if with_ip_header {
        let (header_len, proto, _dst) = ipv4_header(bytes)?;
        if proto != PROTO_ICMP {
            return None;
        }
        bytes.get(header_len..)?
    } else {
        bytes
    };
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    match kind {
        ECHO_REPLY_V4 => {
            if icmp.get(8..)? != payload {
                return None;
            }
            let (ident, seq) = ident_seq(icmp)?;
            Some(Incoming::Reply {
                from: IpAddr::V4(from),
                ident,
                seq,
            })
        }
        UNREACH_V4 | TIME_EXCEEDED_V4 => {
            let quoted = icmp.get(8..)?;
            let (header_len, proto, to) = ipv4_header(quoted)?;
            let echo = quoted.get(header_len..)?;
            if proto != PROTO_ICMP || *echo.first()? != ECHO_REQUEST_V4 {
                return None;
            }
            let (ident, seq) = ident_seq(echo)?;
            Some(Incoming::Error {
                to: IpAddr::V4(to),
                ident,
                seq,
                error: IcmpError {
                    icmp_type: kind,
                    code,
                    from: Some(IpAddr::V4(from)),
                    v6: false,
                },
            })
        }
        _ => None,
    }
}

/// Reads an ICMPv6 message received from `from` (no IP header on either socket kind). An echo
/// reply is ours only if its data is `payload`.
pub fn parse_v6(icmp: &[u8], from: Ipv6Addr, payload: &[u8]) -> Option<Incoming> {
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    match kind {
        ECHO_REPLY_V6 => {
            if icmp.get(8..)? != payload {
                return None;
            }
            let (ident, seq) = ident_seq(icmp)?;
            Some(Incoming::Reply {
                from: IpAddr::V6(from),
                ident,
                seq,
            })
        }
        UNREACH_V6 | TIME_EXCEEDED_V6 => {
            // The quoted IPv6 header is 40 bytes; an echo request carries no extension headers.
            let quoted = icmp.get(8..)?;
            if quoted.first()? >> 4 != 6 || *quoted.get(6)? != PROTO_ICMPV6 {
                return None;
            }
            let to: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
            let echo = quoted.get(40..)?;
            if *echo.first()? != ECHO_REQUEST_V6 {
                return None;
            }
            let (ident, seq) = ident_seq(echo)?;
            Some(Incoming::Error {
                to: IpAddr::V6(Ipv6Addr::from(to)),
                ident,
                seq,
                error: IcmpError {
                    icmp_type: kind,
                    code,
                    from: Some(IpAddr::V6(from)),
                    v6: true,
                },
            })
        }
        _ => None,
    }
}

/// The identifier and sequence number of an echo request or reply (bytes 4..8 of its header).
pub fn ident_seq(echo: &[u8]) -> Option<(u16, u16)> {
    let b = echo.get(4..8)?;
    Some((
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

/// An IPv4 header's length in bytes, protocol and destination, if `bytes` starts with one.
fn ipv4_header(bytes: &[u8]) -> Option<(usize, u8, Ipv4Addr)> {
    let first = *bytes.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || bytes.len() < header_len {
        return None;
    }
    let dst: [u8; 4] = bytes.get(16..20)?.try_into().ok()?;
    Some((header_len, bytes[9], Ipv4Addr::from(dst)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn echo_request_v4_has_a_valid_checksum_and_fields() {
        let p = echo_request(false, 0x1234, 7, b"abc");
        assert_eq!(p[0], 8);
        assert_eq!(ident_seq(&p), Some((0x1234, 7)));
        // A packet with a correct checksum sums to zero.
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[8..], b"abc");
        let v6 = echo_request(true, 1, 2, b"");
        assert_eq!((v6[0], v6.len()), (128, 8));
    }

    #[test]
    fn checksum_matches_rfc_1071_example() {
        // RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2; the checksum is its
        // complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn a_v4_reply_is_read_with_and_without_the_ip_header() {
        let mut reply = echo_request(false, 9, 10, b"x");
        reply[0] = 0;
        let from = Ipv4Addr::new(10, 0, 0, 2);
        let want = Incoming::Reply {
            from: from.into(),
            ident: 9,
            seq: 10,
        };
        assert_eq!(parse_v4(&reply, from, false, b"x"), Some(want));
        let raw = ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &reply);
        assert_eq!(parse_v4(&raw, from, true, b"x"), Some(want));
    }

    #[test]
    fn a_reply_without_our_payload_is_not_ours() {
        let from = Ipv4Addr::new(10, 0, 0, 2);
        let sent = b"probe health-check echo 12345678";
        let reply = |data: &[u8]| {
            let mut r = echo_request(false, 9, 10, data);
            r[0] = 0;
            r
        };
        assert!(parse_v4(&reply(sent), from, false, sent).is_some());
        // Right identifier and sequence, but another payload: another process's ping, or forged
        // by someone who did not see the request; also truncated, padded and empty.
        let mut flipped = sent.to_vec();
        flipped[sent.len() - 1] ^= 0xff;
        let mut padded = sent.to_vec();
        padded.push(0);
        for data in [&flipped[..], &sent[..8], &padded[..], b""] {
            assert_eq!(parse_v4(&reply(data), from, false, sent), None, "{data:?}");
            let raw = ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &reply(data));
            assert_eq!(parse_v4(&raw, from, true, sent), None, "{data:?}");
        }
        let from6: Ipv6Addr = "fd00::2".parse().expect("address");
        let reply6 = |data: &[u8]| {
            let mut r = echo_request(true, 9, 10, data);
            r[0] = 129;
            r
        };
        assert!(parse_v6(&reply6(sent), from6, sent).is_some());
        assert_eq!(parse_v6(&reply6(&flipped), from6, sent), None);
    }

    #[test]
    fn a_v4_error_is_tied_to_the_quoted_request() {
        let request = echo_request(false, 9, 10, b"payload");
        let quoted = ipv4(1, [10, 0, 0, 1], [10, 9, 9, 9], &request[..8]);
        let mut error = vec![3, 13, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&quoted);
        let router = Ipv4Addr::new(10, 0, 0, 254);
        let raw = ipv4(1, router.octets(), [10, 0, 0, 1], &error);
        match parse_v4(&raw, router, true, b"payload") {
            Some(Incoming::Error {
                to,
                ident,
                seq,
                error,
            }) => {
                assert_eq!(to, IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)));
                assert_eq!((ident, seq), (9, 10));
                assert_eq!((error.icmp_type, error.code), (3, 13));
                assert_eq!(error.from, Some(IpAddr::V4(router)));
            }
            other => panic!("not an error for our request: {other:?}"),
        }
    }

    #[test]
    fn other_traffic_and_malformed_packets_are_ignored() {
        let from = Ipv4Addr::new(10, 0, 0, 2);
        // Our own echo request, seen on loopback.
        let request = echo_request(false, 1, 1, b"");
        assert_eq!(parse_v4(&request, from, false, b""), None);
        // An error quoting a TCP segment, not an echo request.
        let quoted = ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &[0; 8]);
        let mut error = vec![3, 3, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&quoted);
        assert_eq!(parse_v4(&error, from, false, b""), None);
        // Not ICMP inside the IP header; truncated headers; a bad IHL.
        assert_eq!(
            parse_v4(&ipv4(17, [0; 4], [0; 4], &[0; 8]), from, true, b""),
            None
        );
        for n in 0..error.len() {
            let _ = parse_v4(&error[..n], from, false, b"");
            let _ = parse_v4(&error[..n], from, true, b"");
        }
        assert_eq!(parse_v4(&[0x41; 40], from, true, b""), None);
        assert_eq!(parse_v4(&[0x4f; 40], from, true, b""), None);
    }

    #[test]
    fn v6_replies_and_errors_are_read() {
        let from: Ipv6Addr = "fd00::2".parse().expect("address");
        let mut reply = echo_request(true, 5, 6, b"");
        reply[0] = 129;
        assert_eq!(
            parse_v6(&reply, from, b""),
            Some(Incoming::Reply {
                from: from.into(),
                ident: 5,
                seq: 6
            })
        );
        let to: Ipv6Addr = "fd00::9".parse().expect("address");
        let mut quoted = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        quoted.extend_from_slice(&from.octets());
        quoted.extend_from_slice(&to.octets());
        quoted.extend_from_slice(&echo_request(true, 5, 6, b""));
        let mut error = vec![1, 1, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&quoted);
        let got = parse_v6(&error, from, b"").expect("an error for our request");
        assert_eq!(got.key(), (IpAddr::V6(to), 5, 6));
        for n in 0..error.len() {
            let _ = parse_v6(&error[..n], from, b"");
        }
        // Neighbour solicitation and echo requests are not ours.
        assert_eq!(parse_v6(&[135, 0, 0, 0, 0, 0, 0, 0], from, b""), None);
        assert_eq!(parse_v6(&echo_request(true, 5, 6, b""), from, b""), None);
    }
}
