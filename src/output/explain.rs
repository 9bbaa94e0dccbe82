//! `probe explain` as text: each judgement of the flow, the components it crosses in order with
//! the rule that decided each, and the finding's code, summary and fix.

use std::fmt::Write;

use crate::diagnose::{Code, Report, Role};
use crate::model::Action;
use crate::policy::Leg;

/// The text of `probe explain --from FROM --to TO` for its report.
pub fn render_explain(from: &str, to: &str, report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let decision =
            f.expected
                .as_ref()
                .map_or("no component on the path", |v| match v.decision {
                    Action::Allow => "ALLOW",
                    Action::Deny => "DENY",
                });
        let _ = writeln!(out, "{from} → {to}: {decision}");
        let leg = match f.role {
            Role::Traffic => " (its forwarded traffic)",
            Role::HealthCheck => " (its health check)",
            Role::Client => " (its clients)",
            _ => "",
        };
        if let Some(lb) = &f.load_balancer {
            let _ = writeln!(out, "  as load balancer {lb}{leg}");
        }
        if f.expected.as_ref().is_some_and(|v| v.path.is_empty()) {
            let _ = writeln!(
                out,
                "  nothing on the path decides it: no security group, ACL, access control or route applies"
            );
        }
        for hop in f.expected.iter().flat_map(|v| &v.path) {
            let _ = writeln!(
                out,
                "  {:<5} {:<15} {:<24} {:<8} rule {}{}",
                hop.decision.to_string(),
                hop.kind.as_str(),
                hop.id,
                hop.direction.to_string(),
                hop.rule,
                if hop.leg == Leg::Return {
                    " (return path)"
                } else {
                    ""
                }
            );
        }
        if f.code != Code::Ok {
            let _ = writeln!(out, "  {}: {}", f.code, f.summary);
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "  fix: {fix}");
        }
    }
    out
}
