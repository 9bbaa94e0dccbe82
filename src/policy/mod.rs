//! The evaluator. Placeholder until the next commit.

/// Parses `ADDR:PORT/PROTO` or `ADDR/icmp`.
pub fn parse_flow_target(s: &str) -> Result<(), String> {
    let _ = s;
    Ok(())
}

/// Parses a flow source.
pub fn parse_source(s: &str) -> Result<(), String> {
    let _ = s;
    Ok(())
}
