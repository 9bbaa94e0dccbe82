//! What a socket error means when no ICMP error came with it: the kernel's own verdict (no route
//! in the local table, a refused connection). Mapped to the taxonomy of [`crate::observation`].

use crate::observation::{Reason, State};

/// Classifies a connect or receive error that came without an ICMP quote (the kernel's own
/// verdict, e.g. no route in the local table).
pub(super) fn classify_errno(errno: i32) -> Option<(State, Reason)> {
    use nix::errno::Errno;
    match Errno::from_raw(errno) {
        Errno::ECONNREFUSED => Some((State::Closed, Reason::Reset)),
        Errno::EHOSTUNREACH | Errno::EHOSTDOWN => Some((State::Unreachable, Reason::HostUnreach)),
        Errno::ENETUNREACH | Errno::ENONET => Some((State::Unreachable, Reason::NetUnreach)),
        Errno::ETIMEDOUT => Some((State::Filtered, Reason::NoResponse)),
        Errno::EACCES | Errno::EPERM => Some((State::Rejected, Reason::AdminProhibited)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_without_icmp_maps_refused_to_closed_and_unreach_to_unreachable() {
        use nix::errno::Errno;
        assert_eq!(
            classify_errno(Errno::ECONNREFUSED as i32),
            Some((State::Closed, Reason::Reset))
        );
        assert_eq!(
            classify_errno(Errno::ENETUNREACH as i32),
            Some((State::Unreachable, Reason::NetUnreach))
        );
        assert_eq!(classify_errno(Errno::EMFILE as i32), None);
    }
}
