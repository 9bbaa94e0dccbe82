//! Least privilege for the agent: after it has bound its port, it keeps CAP_NET_RAW (ICMP echo
//! and raw sockets) and nothing else.
//!
//! | set | after [`keep_only_net_raw`] |
//! |---|---|
//! | permitted, effective | CAP_NET_RAW if the process held it, else empty |
//! | inheritable, ambient | empty: nothing passes to a child |
//! | bounding | CAP_NET_RAW only (when the process may change it, i.e. held CAP_SETPCAP) |
//! | `no_new_privs` | set: no execve can grant more, setuid binaries included |
//!
//! Linux capabilities belong to a thread, not a process. The drop must therefore happen while
//! the process has one thread, before the async runtime starts; every thread created afterwards
//! inherits the reduced sets. `cli::main` does exactly that.
//!
//! A process that runs as root keeps uid 0 but, without CAP_DAC_OVERRIDE, can read only files
//! that uid 0 owns or that are readable by all: a configuration reloaded later must be readable
//! under those rules. The systemd unit and the Kubernetes manifests in `deploy/` start the agent
//! as a non-root user with only CAP_NET_RAW, which this leaves as it is.

use caps::{CapSet, Capability, CapsHashSet};

/// What the process holds after [`keep_only_net_raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// Whether CAP_NET_RAW is still held (it was held before).
    pub net_raw: bool,
    /// The capabilities given up, by name (`CAP_SYS_ADMIN`, …); empty when there were none.
    pub dropped: Vec<String>,
    /// Why the bounding set could not be narrowed, when it could not (no CAP_SETPCAP).
    pub bounding_kept: Option<String>,
}

/// The drop failed: the process still holds more than it should, so the agent does not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot drop capabilities ({step}): {reason}")]
pub struct DropError {
    step: &'static str,
    reason: String,
}

fn failed(step: &'static str) -> impl FnOnce(caps::errors::CapsError) -> DropError {
    move |e| DropError {
        step,
        reason: e.to_string(),
    }
}

/// Gives up every capability but CAP_NET_RAW, in every set, and sets `no_new_privs`.
///
/// Must be called while the process has a single thread (see the module docs).
pub fn keep_only_net_raw() -> Result<Kept, DropError> {
    let permitted = caps::read(None, CapSet::Permitted).map_err(failed("read permitted"))?;
    let keep: CapsHashSet = permitted
        .iter()
        .copied()
        .filter(|c| *c == Capability::CAP_NET_RAW)
        .collect();
    let mut dropped: Vec<String> = permitted
        .iter()
        .filter(|c| !keep.contains(c))
        .map(|c| c.to_string())
        .collect();
    dropped.sort();

    // The bounding set only matters for a later execve, and narrowing it needs CAP_SETPCAP in the
    // effective set: raise what is permitted first, narrow, then lower everything.
    caps::set(None, CapSet::Effective, &permitted).map_err(failed("raise effective"))?;
    let mut bounding_kept = None;
    if let Ok(bounding) = caps::read(None, CapSet::Bounding) {
        for cap in bounding.iter().filter(|c| **c != Capability::CAP_NET_RAW) {
            if let Err(e) = caps::drop(None, CapSet::Bounding, *cap) {
                bounding_kept = Some(e.to_string());
                break;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(failed("clear ambient"))?;
    caps::clear(None, CapSet::Inheritable).map_err(failed("clear inheritable"))?;
    caps::set(None, CapSet::Effective, &keep).map_err(failed("set effective"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(failed("set permitted"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| DropError {
        step: "no_new_privs",
        reason: e.to_string(),
    })?;

    // Trust, but read back.
    let now = caps::read(None, CapSet::Permitted).map_err(failed("read back"))?;
    if now.iter().any(|c| *c != Capability::CAP_NET_RAW) {
        return Err(DropError {
            step: "read back",
            reason: format!("still permitted: {now:?}"),
        });
    }
    Ok(Kept {
        net_raw: now.contains(&Capability::CAP_NET_RAW),
        dropped,
        bounding_kept,
    })
}
