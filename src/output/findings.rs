//! Findings for people: grouped by backend, failures first, each with its summary and fix.

use std::fmt::Write as _;

use crate::diagnose::{Finding, Report, Role, Severity};

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("{code}{s}{RESET}")
    } else {
        s.to_string()
    }
}

fn severity_cell(s: Severity, color: bool) -> String {
    let label = format!("{:<7}", s.as_str().to_uppercase());
    match s {
        Severity::Error => paint(&label, RED, color),
        Severity::Warning => paint(&label, YELLOW, color),
        Severity::Ok => paint(&label, GREEN, color),
        Severity::Info => label,
    }
}

/// The heading a finding is grouped under.
pub(crate) fn group_key(f: &Finding) -> String {
    match f.role {
        Role::Configuration => match &f.load_balancer {
            Some(lb) => format!("load balancer {lb} (configuration)"),
            None => "configuration".to_string(),
        },
        Role::Client => {
            let mut s = format!("clients → {}", f.backend.as_deref().unwrap_or("?"));
            if let Some(a) = f.address {
                let _ = write!(s, " ({a})");
            }
            if let Some(lb) = &f.load_balancer {
                let _ = write!(s, " · load balancer {lb}");
            }
            s
        }
        Role::Expectation => "expectations".to_string(),
        Role::Listener => format!(
            "load balancer {} listeners",
            f.load_balancer.as_deref().unwrap_or("?")
        ),
        _ => {
            let mut s = format!(
                "{} ({})",
                f.backend.as_deref().unwrap_or("?"),
                f.address.map(|a| a.to_string()).unwrap_or_default()
            );
            match (&f.backend_group, &f.load_balancer) {
                (Some(g), Some(lb)) => {
                    let _ = write!(s, " · backend group {g} · load balancer {lb}");
                }
                (Some(g), None) => {
                    let _ = write!(s, " · backend group {g}");
                }
                _ => {}
            }
            s
        }
    }
}

pub(crate) fn check_cell(f: &Finding) -> String {
    let role = match f.role {
        Role::Client => "client",
        Role::Traffic => "traffic",
        Role::HealthCheck => "health check",
        Role::Listener => "listener",
        Role::Expectation => f.backend.as_deref().unwrap_or("expectation"),
        Role::Configuration => "config",
    };
    let what = match (f.protocol, f.port) {
        (Some(p), Some(port)) => format!("{p}/{port}"),
        (Some(p), None) => p.to_string(),
        _ => String::new(),
    };
    format!("{role} {what}").trim().to_string()
}

pub(crate) fn observed_cell(f: &Finding) -> String {
    let Some(o) = &f.observed else {
        return "not probed".to_string();
    };
    let mut s = format!("{} {}", o.state, o.reason);
    if let Some(status) = o.http.as_ref().and_then(|h| h.status) {
        let _ = write!(s, " {status}");
    }
    if let Some(ms) = o.rtt_ms {
        let _ = write!(s, " {ms:.1} ms");
    }
    s
}

/// The findings grouped by backend (the heading of [`group_key`]), the worst group first and the
/// worst finding first within each: the order of the table and of the HTML report.
pub(crate) fn grouped(report: &Report) -> Vec<(String, Vec<&Finding>)> {
    let mut groups: Vec<(String, Vec<&Finding>)> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for f in &report.findings {
        let key = group_key(f);
        match at.get(&key) {
            Some(&i) => groups[i].1.push(f),
            None => {
                at.insert(key.clone(), groups.len());
                groups.push((key, vec![f]));
            }
        }
    }
    for (_, v) in &mut groups {
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    groups.sort_by_key(|(_, v)| {
        std::cmp::Reverse(v.iter().map(|f| f.severity).max().unwrap_or(Severity::Ok))
    });
    groups
}

/// Renders a report: one block per backend (worst first), one line per finding (worst first),
/// and under each finding that is not ok its summary, blocking rule and fix.
pub fn render_findings(report: &Report, color: bool) -> String {
    let groups = grouped(report);

    let rows: Vec<Vec<(String, String, String)>> = groups
        .iter()
        .map(|(_, v)| {
            v.iter()
                .map(|f| (check_cell(f), observed_cell(f), codes_cell(f)))
                .collect()
        })
        .collect();
    let w_check = rows.iter().flatten().map(|r| r.0.len()).max().unwrap_or(0);
    let w_obs = rows.iter().flatten().map(|r| r.1.len()).max().unwrap_or(0);

    let mut out = String::new();
    for ((key, findings), rows) in groups.iter().zip(&rows) {
        let _ = writeln!(out, "{}", paint(key, BOLD, color));
        for (f, (check, obs, codes)) in findings.iter().zip(rows) {
            let _ = writeln!(
                out,
                "  {} {check:<w_check$}  {obs:<w_obs$}  {codes}",
                severity_cell(f.severity, color)
            );
            if f.severity > Severity::Ok {
                let indent = "          ";
                if !f.summary.is_empty() {
                    let _ = writeln!(out, "{indent}{}", f.summary);
                }
                if let Some(b) = &f.blocking {
                    let _ = writeln!(
                        out,
                        "{indent}{}",
                        paint(
                            &format!(
                                "blocking: {} {} {} rule {}",
                                b.kind, b.id, b.direction, b.rule
                            ),
                            DIM,
                            color
                        )
                    );
                }
                if let Some(fix) = &f.fix {
                    let _ = writeln!(out, "{indent}fix: {fix}");
                }
            }
        }
        out.push('\n');
    }
    let s = &report.summary;
    let _ = write!(
        out,
        "{} findings: {} error, {} warning, {} info, {} ok",
        s.findings, s.error, s.warning, s.info, s.ok
    );
    out
}

fn codes_cell(f: &Finding) -> String {
    let mut s = f.code.as_str().to_string();
    for c in &f.also {
        let _ = write!(s, " +{c}");
    }
    s
}
