//! The ICMP reader: what a raw or ping socket hands over, including errors that quote the IP
//! header and echo request of the probe that caused them.
//!
//! Input: byte 0 picks the socket (`% 3`: ICMPv4 ping socket, ICMPv4 raw socket with the IP
//! header, ICMPv6), bytes 1..17 are the sender's address (ICMPv4 uses the first 4), the rest is
//! the packet. Whatever is read must come from inside the packet, at the offsets the protocol
//! puts it (checked against an independent reading here), a reply must carry the run's payload
//! back (bit 7 of byte 0 chooses whether the expected payload is the packet's own), and an error
//! must classify and describe without panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use probe::probe::icmp_packet::{Incoming, checksum, echo_request, parse_v4, parse_v6};

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Where a quoted or outer IPv4 header says its payload starts, if the header is whole.
fn ipv4_payload(b: &[u8], at: usize) -> Option<usize> {
    let first = *b.get(at)?;
    let len = usize::from(first & 0x0f) * 4;
    (first >> 4 == 4 && len >= 20 && at + len <= b.len()).then_some(at + len)
}

fn check_v4(packet: &[u8], from: Ipv4Addr, raw: bool, payload: &[u8], got: Option<Incoming>) {
    let Some(got) = got else { return };
    let icmp = if raw {
        assert_eq!(packet[9], 1, "outer IP protocol is not ICMP");
        ipv4_payload(packet, 0).expect("a whole outer IPv4 header")
    } else {
        0
    };
    match got {
        Incoming::Reply {
            from: f,
            ident,
            seq,
        } => {
            assert_eq!(packet[icmp], 0, "not an echo reply");
            assert!(icmp + 8 <= packet.len(), "reply header outside the packet");
            assert_eq!(
                &packet[icmp + 8..],
                payload,
                "a reply without the run's payload"
            );
            assert_eq!(
                (f, ident, seq),
                (
                    IpAddr::V4(from),
                    be16(packet, icmp + 4),
                    be16(packet, icmp + 6)
                )
            );
        }
        Incoming::Error {
            to,
            ident,
            seq,
            error,
        } => {
            assert!(matches!(packet[icmp], 3 | 11), "not an error type");
            assert_eq!(
                (error.icmp_type, error.code),
                (packet[icmp], packet[icmp + 1])
            );
            assert_eq!((error.from, error.v6), (Some(IpAddr::V4(from)), false));
            let quoted = icmp + 8;
            let echo = ipv4_payload(packet, quoted).expect("a whole quoted IPv4 header");
            assert_eq!(packet[quoted + 9], 1, "the quoted datagram is not ICMP");
            assert!(
                echo + 8 <= packet.len(),
                "quoted echo header outside the packet"
            );
            assert_eq!(packet[echo], 8, "the quote is not an echo request");
            let dst: [u8; 4] = packet[quoted + 16..quoted + 20]
                .try_into()
                .expect("4 bytes");
            assert_eq!(to, IpAddr::V4(Ipv4Addr::from(dst)));
            assert_eq!(
                (ident, seq),
                (be16(packet, echo + 4), be16(packet, echo + 6))
            );
        }
    }
}

fn check_v6(packet: &[u8], from: Ipv6Addr, payload: &[u8], got: Option<Incoming>) {
    let Some(got) = got else { return };
    match got {
        Incoming::Reply {
            from: f,
            ident,
            seq,
        } => {
            assert_eq!(packet[0], 129, "not an echo reply");
            assert!(packet.len() >= 8, "reply header outside the packet");
            assert_eq!(&packet[8..], payload, "a reply without the run's payload");
            assert_eq!(
                (f, ident, seq),
                (IpAddr::V6(from), be16(packet, 4), be16(packet, 6))
            );
        }
        Incoming::Error {
            to,
            ident,
            seq,
            error,
        } => {
            assert!(matches!(packet[0], 1 | 3), "not an error type");
            assert_eq!((error.icmp_type, error.code), (packet[0], packet[1]));
            assert_eq!((error.from, error.v6), (Some(IpAddr::V6(from)), true));
            // ICMPv6 header (8) + quoted IPv6 header (40) + echo request header (8).
            assert!(
                packet.len() >= 8 + 40 + 8,
                "quoted echo header outside the packet"
            );
            assert_eq!(packet[8] >> 4, 6, "the quote is not IPv6");
            assert_eq!(packet[8 + 6], 58, "the quoted datagram is not ICMPv6");
            assert_eq!(packet[48], 128, "the quote is not an echo request");
            let dst: [u8; 16] = packet[32..48].try_into().expect("16 bytes");
            assert_eq!(to, IpAddr::V6(Ipv6Addr::from(dst)));
            assert_eq!((ident, seq), (be16(packet, 52), be16(packet, 54)));
        }
    }
}

/// What the prober does with a result: key it, and classify an error from both ends.
fn use_result(got: Option<Incoming>) {
    let Some(got) = got else { return };
    let (to, _, _) = got.key();
    if let Incoming::Error { error, .. } = got {
        let described = error.describe();
        assert!(described.contains(&format!("{}/{}", error.icmp_type, error.code)));
        for target in [to, error.from.unwrap_or(to)] {
            let (state, reason) = error.classify(target);
            assert!(!state.as_str().is_empty() && !reason.as_str().is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (addr, packet) = rest.split_at(rest.len().min(16));
    let mut octets = [0u8; 16];
    octets[..addr.len()].copy_from_slice(addr);
    let v4_from = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]);
    let v6_from = Ipv6Addr::from(octets);
    // The payload the run expects back: half the time the packet's own echo data (so a reply
    // can match), otherwise a fixed one (so it must not).
    let raw = selector % 3 == 1;
    let data = if raw {
        ipv4_payload(packet, 0)
    } else {
        Some(0)
    };
    let payload = match data.and_then(|i| packet.get(i + 8..)) {
        Some(own) if selector & 0x80 != 0 => own,
        _ => b"probe-fuzz-payload".as_slice(),
    };
    let got = match selector % 3 {
        0 | 1 => {
            let got = parse_v4(packet, v4_from, raw, payload);
            check_v4(packet, v4_from, raw, payload, got);
            got
        }
        _ => {
            let got = parse_v6(packet, v6_from, payload);
            check_v6(packet, v6_from, payload, got);
            got
        }
    };
    use_result(got);

    // What we send reads back as ours once the peer turns it into a reply.
    let v6 = selector % 3 == 2;
    let ident = u16::from_be_bytes([octets[0], octets[1]]);
    let seq = u16::from_be_bytes([octets[2], octets[3]]);
    let mut request = echo_request(v6, ident, seq, packet);
    if !v6 {
        assert_eq!(
            checksum(&request),
            0,
            "an echo request's checksum does not verify"
        );
    }
    request[0] = if v6 { 129 } else { 0 };
    let reply = if v6 {
        parse_v6(&request, v6_from, packet)
    } else {
        parse_v4(&request, v4_from, false, packet)
    };
    assert!(
        matches!(reply, Some(Incoming::Reply { ident: i, seq: s, .. }) if (i, s) == (ident, seq)),
        "our own echo reply is not read back: {reply:?}"
    );
});
