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

/// One line of the most useful facts of a probe (each protocol says which are its own).
fn detail(o: &Observation) -> String {
    crate::probe::detail(o).join(", ")
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
