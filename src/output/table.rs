//! The human table: a row per probe, colour only on a terminal.

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::observation::{Observation, State};

/// Renders a table with columns target, address (only when some target is a host name whose
/// address the target does not show), protocol, state, reason, latency, detail.
pub fn render_table(observations: &[Observation], color: bool) -> String {
    let addresses: Vec<String> = observations.iter().map(address_not_in_target).collect();
    let show_address = addresses.iter().any(|a| !a.is_empty());
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let mut header = vec!["TARGET"];
    if show_address {
        header.push("ADDRESS");
    }
    header.extend(["PROTO", "STATE", "REASON", "LATENCY", "DETAIL"]);
    table.set_header(header);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    for (o, address) in observations.iter().zip(addresses) {
        let state = Cell::new(o.state.as_str());
        let state = if color {
            state.fg(state_color(o))
        } else {
            state
        };
        let mut row = vec![Cell::new(&o.target)];
        if show_address {
            row.push(Cell::new(address));
        }
        row.extend([
            Cell::new(o.protocol.as_str()),
            state,
            Cell::new(o.reason.as_str()),
            Cell::new(o.rtt_ms.map(format_ms).unwrap_or_else(|| "-".into())),
            Cell::new(detail(o)),
        ]);
        table.add_row(row);
    }
    table.to_string()
}

/// The probed address when the target does not already show it (a host name).
fn address_not_in_target(o: &Observation) -> String {
    match o.address {
        Some(ip) if !o.target.contains(&ip.to_string()) => ip.to_string(),
        _ => String::new(),
    }
}

fn state_color(o: &Observation) -> Color {
    match o.state {
        State::Open if o.success => Color::Green,
        State::Open | State::OpenFiltered => Color::Yellow,
        State::Error => Color::Magenta,
        _ => Color::Red,
    }
}

fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// One line of the most useful facts of a probe.
fn detail(o: &Observation) -> String {
    let mut parts: Vec<String> = Vec::new();
    let http_answered = o.http.as_ref().is_some_and(|h| h.status.is_some());
    if let Some(http) = &o.http
        && let Some(status) = http.status
    {
        let verdict = if http.matched {
            "matched"
        } else {
            "not matched"
        };
        parts.push(format!("HTTP {status} {verdict}"));
        if let Some(loc) = &http.location {
            parts.push(format!("Location: {loc}"));
        }
    }
    if let Some(tls) = &o.tls {
        if let Some(v) = &tls.version {
            parts.push(v.clone());
        }
        if let (Some(na), Some(secs)) = (&tls.not_after, tls.expires_in_s) {
            let days = secs.div_euclid(86_400);
            let when = if secs < 0 {
                "expired".to_string()
            } else {
                format!("in {days} d")
            };
            parts.push(format!(
                "cert expires {} ({when})",
                na.get(..10).unwrap_or(na)
            ));
        }
    }
    if let Some(p) = &o.ping {
        let mut s = format!("{}/{} replies", p.received, p.sent);
        if let (Some(min), Some(avg), Some(max)) = (p.min_ms, p.avg_ms, p.max_ms) {
            s.push_str(&format!(", rtt {min:.2}/{avg:.2}/{max:.2} ms"));
        }
        parts.push(s);
    }
    if let Some(u) = &o.udp {
        parts.push(format!("{} bytes back", u.response_bytes));
    }
    if let Some(icmp) = &o.icmp {
        parts.push(icmp.describe());
    }
    // An answered HTTP probe's detail only restates the status mismatch shown above.
    if let Some(d) = &o.detail
        && !http_answered
    {
        parts.push(d.clone());
    }
    parts.join(", ")
}

/// `4096 probes in 1.02 s: 2048 open, 1024 closed, 1024 filtered (2048 failed)`.
pub fn summary_line(observations: &[Observation], elapsed: Duration) -> String {
    let mut by_state: BTreeMap<State, usize> = BTreeMap::new();
    for o in observations {
        *by_state.entry(o.state).or_default() += 1;
    }
    let states: Vec<String> = by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let failed = observations.iter().filter(|o| !o.success).count();
    let noun = if observations.len() == 1 {
        "probe"
    } else {
        "probes"
    };
    format!(
        "{} {noun} in {:.2} s: {} ({} passed, {} failed)",
        observations.len(),
        elapsed.as_secs_f64(),
        states.join(", "),
        observations.len() - failed,
        failed
    )
}
