//! What a UDP probe adds to its observation.

use serde::Serialize;

/// What came back to a UDP probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UdpInfo {
    pub response_bytes: usize,
    /// Whether the response contained the expected bytes; `None` when nothing was expected.
    pub matched: Option<bool>,
}
