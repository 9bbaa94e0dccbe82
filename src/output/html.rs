//! HTML: the report file of `check`, `validate` and `explain --output html`, and the pieces the
//! agent's live status page (`/`) is made of.
//!
//! One rendering of a finding — its heading, prediction beside observation, path diagram and fix —
//! serves both, drawn from the [`Finding`] that `--output json` serialises (verdicts.md §4): the
//! page has no model of the path of its own. Everything is inline (CSS, SVG, a few lines of
//! script whose hash the Content-Security-Policy names), so a page fetches nothing: a report
//! attached to a ticket opens offline, and the status page works behind the agent's TLS and
//! basic authentication with no other origin involved.
//!
//! Colour is never the only signal: every state carries a word and a symbol (✕ error,
//! ⚠ warning, ℹ info, ✓ ok), the blocking hop is drawn dashed and thick and says "blocks here",
//! and a sparkline's failures are short bars as well as red ones. Light and dark follow
//! `prefers-color-scheme`.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::findings::grouped;
/// The heading a finding is grouped under, and its check and observation in words (the table's).
pub(crate) use super::findings::{check_cell, group_key, observed_cell};
use crate::diagnose::{Finding, Report, Role, Severity, Summary};
use crate::model::Action;
use crate::policy::{HopView, Leg};

/// `s` escaped for HTML text and attribute values (also inside inline SVG).
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The symbol and word of a severity: what a reader without colour sees.
pub fn severity_label(s: Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Error => ("✕", "error"),
        Severity::Warning => ("⚠", "warning"),
        Severity::Info => ("ℹ", "info"),
        Severity::Ok => ("✓", "ok"),
    }
}

/// A severity badge: symbol, word, and the class that colours it.
pub fn badge(out: &mut String, s: Severity) {
    let (sym, word) = severity_label(s);
    let _ = write!(
        out,
        "<span class=\"badge {word}\"><span aria-hidden=\"true\">{sym}</span> {}</span>",
        word.to_uppercase()
    );
}

/// The Content-Security-Policy of a page whose only script is `script`: nothing is fetched
/// from anywhere (`connect-src` is the page's own origin where `served` is set, for the status
/// page's updates, which also may not be framed), no other script runs, no form posts
/// elsewhere. A report file carries it in a `<meta>` element, where `frame-ancestors` is not
/// allowed.
pub fn content_security_policy(script: &str, served: bool) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, script.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{hash}'; \
         connect-src {}; form-action 'self'; base-uri 'none'{}",
        if served { "'self'" } else { "'none'" },
        if served {
            "; frame-ancestors 'none'"
        } else {
            ""
        }
    )
}

/// The style sheet of both pages.
pub const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--card:#f6f8fa;
--err:#b42318;--err-bg:#fdecea;--warn:#7a4f00;--warn-bg:#fff3d4;--ok:#1a7f37;--ok-bg:#e7f5ea;
--info:#0b5cad;--info-bg:#e8f1fb;--link:#0b5cad;font-family:system-ui,-apple-system,"Segoe UI",
"DejaVu Sans",sans-serif;line-height:1.45}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9ba6b2;--line:#3d444d;
--card:#161b22;--err:#ff8a80;--err-bg:#3b1217;--warn:#f2c461;--warn-bg:#33260a;--ok:#6bd98a;
--ok-bg:#10301b;--info:#82c4ff;--info-bg:#0d2a47;--link:#82c4ff}}
[hidden]{display:none!important}body{margin:0;background:var(--bg);color:var(--fg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
h3{font-size:1.05rem;margin:1.25rem 0 .5rem;overflow-wrap:anywhere}h4{font-size:1rem;margin:0 0 .4rem}
a{color:var(--link)}p{margin:.3rem 0}.muted{color:var(--muted)}
:focus-visible{outline:3px solid var(--info);outline-offset:2px}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.9em}
.counts{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;padding:0;margin:.5rem 0}
.counts li{border:1px solid var(--line);border-radius:.4rem;padding:.3rem .7rem;background:var(--card)}
.badge{display:inline-block;border-radius:.3rem;padding:0 .4rem;font-size:.8rem;font-weight:700;
white-space:nowrap;border:1px solid currentColor}
.badge.error{color:var(--err);background:var(--err-bg)}.badge.warning{color:var(--warn);background:var(--warn-bg)}
.badge.ok{color:var(--ok);background:var(--ok-bg)}.badge.info{color:var(--info);background:var(--info-bg)}
.finding{border:1px solid var(--line);border-left-width:.4rem;border-radius:.4rem;padding:.6rem .8rem;
margin:.6rem 0;background:var(--bg)}
.finding.error{border-left-color:var(--err)}.finding.warning{border-left-color:var(--warn)}
.finding.ok{border-left-color:var(--ok)}.finding.info{border-left-color:var(--info)}
.finding dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.4rem 0}
.finding dt{color:var(--muted)}.finding dd{margin:0;overflow-wrap:anywhere}
.fix pre{white-space:pre-wrap;overflow-wrap:anywhere;user-select:all;background:var(--card);
border:1px solid var(--line);border-radius:.3rem;padding:.5rem;margin:.2rem 0}
.fix button,.filters button{font:inherit}.copy{display:none}.js .copy{display:inline-block}
figure.path{margin:.5rem 0}figure.path svg{max-width:100%;height:auto;display:block}
figure.path figcaption{font-size:.85rem;color:var(--muted)}
svg .n rect{width:440px;height:40px;rx:6px;fill:var(--card);stroke:var(--line);stroke-width:1.5}
svg .n.allow rect{stroke:var(--ok)}svg .n.end rect{stroke:var(--info)}
svg .n.block rect{fill:var(--err-bg);stroke:var(--err);stroke-width:3;stroke-dasharray:7 3}
svg .n.unreached rect{stroke-dasharray:2 3}svg .n.unreached text{fill:var(--muted)}
svg text{fill:var(--fg);font-size:13px;font-family:system-ui,"DejaVu Sans",sans-serif}
svg .d{fill:var(--muted);font-size:12px}svg .n.block .d{fill:var(--err);font-weight:700}
svg .n.allow text.i{fill:var(--ok)}svg .n.block text.i{fill:var(--err)}svg text.i{font-size:16px}
svg .a{stroke:var(--muted);stroke-width:1.5;fill:none;marker-end:url(#ah)}.ah{fill:var(--muted)}
svg.spark rect.p{fill:var(--ok)}svg.spark rect.f{fill:var(--err)}
"#;

/// What a report page says about how it was made.
pub struct ReportContext<'a> {
    /// `check`, `validate` or `explain`.
    pub command: &'a str,
    /// The command line, as the user would type it again.
    pub invocation: String,
    /// When, RFC 3339.
    pub generated: String,
}

/// The "Copy" button beside each fix, for both pages: shown only where script runs (without
/// it, one click on the fix selects it whole), handled by one listener for rows swapped in later.
pub const COPY_SCRIPT: &str = "document.documentElement.classList.add('js');\
document.addEventListener('click',e=>{const b=e.target.closest('button.copy');if(!b)return;\
const c=b.parentElement.querySelector('code');\
const done=()=>{b.textContent='Copied';setTimeout(()=>b.textContent='Copy',1500)};\
const select=()=>{const r=document.createRange();r.selectNodeContents(c);\
const s=getSelection();s.removeAllRanges();s.addRange(r);done()};\
if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(c.textContent)\
.then(done,select)}else{select()}});";

/// The report's one script.
const REPORT_SCRIPT: &str = COPY_SCRIPT;

/// The whole report file: summary, then findings grouped by backend, failures first, each with
/// its path diagram and fix.
pub fn render_report(report: &Report, ctx: &ReportContext<'_>) -> String {
    let s = &report.summary;
    let mut out = String::with_capacity(4096 + report.findings.len() * 2048);
    let verdict = if s.error > 0 {
        format!("{} error{}", s.error, if s.error == 1 { "" } else { "s" })
    } else if s.warning > 0 {
        format!(
            "{} warning{}",
            s.warning,
            if s.warning == 1 { "" } else { "s" }
        )
    } else {
        "all OK".to_string()
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <title>probe {} — {}</title><style>{CSS}</style></head><body>{SVG_DEFS}\
         <header><h1>probe {}: {}</h1><p class=\"muted\"><code>{}</code> · {}</p></header><main>",
        esc(&content_security_policy(REPORT_SCRIPT, false)),
        esc(ctx.command),
        esc(&verdict),
        esc(ctx.command),
        esc(&verdict),
        esc(&ctx.invocation),
        esc(&ctx.generated),
    );
    out.push_str("<section aria-labelledby=\"summary\"><h2 id=\"summary\">Summary</h2>");
    summary_counts(&mut out, s);
    let _ = write!(out, "<p>{} findings.</p></section>", s.findings);
    out.push_str(
        "<section aria-labelledby=\"findings\"><h2 id=\"findings\">Findings by backend</h2>",
    );
    if report.findings.is_empty() {
        out.push_str("<p>No findings: the configuration names nothing to check.</p>");
    }
    let mut n = 0;
    let mut drawn = Drawn::default();
    for (key, findings) in grouped(report) {
        let worst = findings.first().map_or(Severity::Ok, |f| f.severity);
        let _ = write!(out, "<section class=\"group\"><h3>");
        badge(&mut out, worst);
        let _ = write!(out, " {}</h3>", esc(&key));
        for f in findings {
            n += 1;
            finding_card(&mut out, f, &format!("f{n}"), 4, Some(&mut drawn));
        }
        out.push_str("</section>");
    }
    let _ = writeln!(
        out,
        "</section></main><footer><p class=\"muted\">Written by probe {}. Codes and fields: \
         verdicts.md; the same findings as <code>--output json</code>.</p></footer>\
         <script>{REPORT_SCRIPT}</script></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// The counts by severity as a list of badges with their numbers, the worst first.
pub fn summary_counts(out: &mut String, s: &Summary) {
    out.push_str("<ul class=\"counts\">");
    for (s, n) in [
        (Severity::Error, s.error),
        (Severity::Warning, s.warning),
        (Severity::Info, s.info),
        (Severity::Ok, s.ok),
    ] {
        out.push_str("<li>");
        badge(out, s);
        let _ = write!(out, " <strong>{n}</strong></li>");
    }
    out.push_str("</ul>");
}

/// One finding as an `<article>`: heading (severity, the check, its code), what the
/// configuration predicts beside what the probe saw (and what the provider reported), the
/// path diagram, the blocking rule and the fix. `level` is the heading level of its title.
pub fn finding_card(out: &mut String, f: &Finding, id: &str, level: u8, drawn: Option<&mut Drawn>) {
    let (_, word) = severity_label(f.severity);
    let _ = write!(
        out,
        "<article class=\"finding {word}\" id=\"{}\" aria-labelledby=\"{}-h\"><h{level} id=\"{}-h\">",
        esc(id),
        esc(id),
        esc(id)
    );
    badge(out, f.severity);
    let _ = write!(out, " {} — <code>{}</code>", esc(&check_cell(f)), f.code);
    for c in &f.also {
        let _ = write!(out, " <code>+{c}</code>");
    }
    let _ = write!(out, "</h{level}>");
    if !f.summary.is_empty() {
        let _ = write!(out, "<p>{}</p>", esc(&f.summary));
    }
    out.push_str("<dl>");
    let predicted = match &f.expected {
        Some(v) if v.decision == Action::Allow => "allow: every component on the path admits it",
        Some(_) => "deny",
        None => "not judged from the configuration",
    };
    let _ = write!(out, "<dt>Predicted</dt><dd>{predicted}");
    if let Some(b) = &f.blocking {
        let _ = write!(
            out,
            " at {} <code>{}</code> {} rule <code>{}</code>",
            kind_label(b.kind),
            esc(&b.id),
            b.direction,
            esc(&b.rule)
        );
    }
    out.push_str("</dd>");
    if f.role != Role::Configuration {
        let _ = write!(out, "<dt>Observed</dt><dd>{}", esc(&observed_cell(f)));
        if let Some(d) = f.observed.as_ref().and_then(|o| o.detail.as_deref()) {
            let _ = write!(out, " <span class=\"muted\">({})</span>", esc(d));
        }
        out.push_str("</dd>");
    }
    if let Some(r) = &f.reported {
        let _ = write!(
            out,
            "<dt>Reported by the provider</dt><dd>{}",
            esc(&r.state)
        );
        if let Some(reason) = &r.reason {
            let _ = write!(out, " ({})", esc(reason));
        }
        out.push_str("</dd>");
    }
    out.push_str("</dl>");
    if f.expected.is_some() {
        if f.severity == Severity::Ok {
            // Failures show their path; a passing one has it one click away.
            out.push_str("<details><summary>Path</summary>");
            diagram(out, f, drawn);
            out.push_str("</details>");
        } else {
            diagram(out, f, drawn);
        }
    }
    if let Some(fix) = &f.fix {
        let _ = write!(
            out,
            "<div class=\"fix\"><p><strong>Fix</strong></p><pre><code>{}</code></pre>\
             <button type=\"button\" class=\"copy\">Copy</button></div>",
            esc(fix)
        );
    }
    out.push_str("</article>");
}

/// The provider-neutral name of a hop's kind (`blocking.kind`, `path[].kind`).
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "security_group" => "security group",
        "network_acl" => "network ACL / firewall",
        "access_control" => "access control",
        "route_table" => "route table",
        "host" => "host",
        "service" => "service",
        _ => "component",
    }
}

/// Where a finding's flow starts: by its role.
fn source_label(f: &Finding) -> (String, String) {
    let lb = f
        .load_balancer
        .as_deref()
        .map(|l| format!("load balancer {l}"))
        .unwrap_or_else(|| "the load balancer".to_string());
    match f.role {
        Role::Client => ("clients".to_string(), format!("of {lb}")),
        Role::Traffic => ("forwarded traffic".to_string(), format!("from {lb}")),
        Role::HealthCheck => ("health check".to_string(), format!("from {lb}")),
        Role::Listener => (
            "this agent".to_string(),
            "as a client of the listener".to_string(),
        ),
        Role::Expectation => (
            "expectation".to_string(),
            f.backend.clone().unwrap_or_default(),
        ),
        Role::Configuration => ("configuration".to_string(), lb),
    }
}

/// Where it ends: the member's (or listener's) port.
fn target_label(f: &Finding) -> (String, String) {
    let what = match f.role {
        Role::Client | Role::Listener => "listener",
        Role::Expectation => "destination",
        _ => "member",
    };
    let name = f.backend.as_deref().unwrap_or("");
    let mut title = format!("{what} {name}").trim().to_string();
    let addr = match (f.address, f.port) {
        (Some(a), Some(p)) if a.is_ipv6() => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        _ => String::new(),
    };
    let proto = f.protocol.unwrap_or("");
    if !addr.is_empty() {
        let _ = write!(title, " · {addr}");
    }
    if !proto.is_empty() {
        let _ = write!(title, "/{proto}");
    }
    (title, observed_cell(f))
}

const NODE_W: u32 = 440;
const NODE_H: u32 = 40;
const GAP: u32 = 16;
/// Characters of a node's line that fit its width at 13 px.
const LINE_CHARS: usize = 58;

/// Definitions the diagrams share (the arrowhead), once per page, before the first diagram.
pub const SVG_DEFS: &str = "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\">\
<defs><marker id=\"ah\" viewBox=\"0 0 10 10\" refX=\"5\" refY=\"9\" markerWidth=\"7\" markerHeight=\"7\">\
<path class=\"ah\" d=\"M0 0H10L5 9z\"/></marker></defs></svg>";

/// `s` cut to fit a node, and whether it was cut.
fn clip(s: &str) -> (Cow<'_, str>, bool) {
    if s.chars().count() <= LINE_CHARS {
        (Cow::Borrowed(s), false)
    } else {
        let mut t: String = s.chars().take(LINE_CHARS - 1).collect();
        t.push('…');
        (Cow::Owned(t), true)
    }
}

/// One node of the diagram at row `i`, a list item for a screen reader: icon, title, detail;
/// `class` says allow / block / unreached / end. A clipped line keeps its whole text in a
/// `<title>` (the tooltip, and what is read out).
fn node(out: &mut String, i: u32, class: &str, icon: &str, title: &str, detail: &str) {
    node_styled(out, i, class, icon, title, detail, false);
}

/// [`node`]; `shared` for a node that a `<use>` elsewhere draws again: the style sheet does
/// not reach into a `<use>`'s copy, so such a node (always an allowing hop) carries its own
/// geometry and colours (the colours' variables still follow light and dark).
fn node_styled(
    out: &mut String,
    i: u32,
    class: &str,
    icon: &str,
    title: &str,
    detail: &str,
    shared: bool,
) {
    let y = i * (NODE_H + GAP);
    if i > 0 {
        // The arrowhead is the style sheet's `marker-end`.
        let _ = write!(
            out,
            "<path class=\"a\"{} d=\"M{} {}v{}\"/>",
            if shared {
                " style=\"stroke:var(--muted);stroke-width:1.5;fill:none;marker-end:url(#ah)\""
            } else {
                ""
            },
            NODE_W / 2 + 1,
            y - GAP + 1,
            GAP - 8
        );
    }
    let (t, cut_t) = clip(title);
    let (d, cut_d) = clip(detail);
    let _ = write!(
        out,
        "<g class=\"n {class}\" role=\"listitem\" transform=\"translate(1,{y})\">"
    );
    if cut_t || cut_d {
        let _ = write!(out, "<title>{} — {}</title>", esc(title), esc(detail));
    }
    // The box's size is the style sheet's (`svg .n rect`).
    if shared {
        let _ = write!(
            out,
            "<rect width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" \
             style=\"fill:var(--card);stroke:var(--ok);stroke-width:1.5\"/>\
             <text class=\"i\" x=\"12\" y=\"26\" aria-hidden=\"true\" \
             style=\"fill:var(--ok);font-size:16px\">{icon}</text>\
             <text x=\"36\" y=\"17\" style=\"fill:var(--fg);font-size:13px\">{} \
             <tspan class=\"d\" x=\"36\" dy=\"16\" style=\"fill:var(--muted);font-size:12px\">{}</tspan>\
             </text></g>",
            esc(&t),
            esc(&d),
        );
    } else {
        let _ = write!(
            out,
            "<rect/><text class=\"i\" x=\"12\" y=\"26\" aria-hidden=\"true\">{icon}</text>\
             <text x=\"36\" y=\"17\">{} <tspan class=\"d\" x=\"36\" dy=\"16\">{}</tspan></text></g>",
            esc(&t),
            esc(&d),
        );
    }
}

fn hop_text(h: &HopView, blocking: bool) -> (String, String) {
    let title = format!("{} {}", kind_label(h.kind.as_str()), h.id);
    let leg = if h.leg == Leg::Return {
        " (return path)"
    } else {
        ""
    };
    let verdict = match (h.decision, blocking) {
        (_, true) => "BLOCKS HERE",
        (Action::Allow, _) => "allow",
        (Action::Deny, _) => "deny",
    };
    let rule = if h.rule == "*" {
        "rule * (default)".to_string()
    } else {
        format!("rule {}", h.rule)
    };
    (title, format!("{}{leg} · {rule} · {verdict}", h.direction))
}

/// The passing paths a page has drawn, by their components: a finding whose path crosses the
/// same components, each allowing by the same rule, uses that drawing again (SVG `<use>`)
/// instead of repeating it. A fleet's passing paths are few: a report of 100 backends
/// stays a few hundred kilobytes. Failing paths are always drawn whole.
#[derive(Debug, Default)]
pub struct Drawn {
    by_path: std::collections::HashMap<String, (String, String)>,
}

impl Drawn {
    /// The key of a path that can be shared: every hop allows.
    fn key(v: &crate::policy::VerdictView) -> Option<String> {
        if v.decision != Action::Allow || v.path.iter().any(|h| h.decision != Action::Allow) {
            return None;
        }
        let mut k = String::new();
        for h in &v.path {
            let _ = write!(
                k,
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1e}",
                h.kind.as_str(),
                h.id,
                h.direction,
                h.rule,
                h.leg
            );
        }
        Some(k)
    }
}

/// The path of a finding as an SVG diagram inside a `<figure>`: where the flow starts, each
/// component it crosses in order with the rule that decided it, and the member's port with the
/// live result. The blocking hop is marked; what lies past it is not reached. A screen reader
/// reads it as a list, in order. Nothing is drawn for a finding the configuration does not
/// judge (no `expected`). Needs [`SVG_DEFS`] once on the page.
pub fn diagram(out: &mut String, f: &Finding, drawn: Option<&mut Drawn>) {
    let Some(v) = &f.expected else { return };
    // Drawn before on this page: its components, once; here only the two ends.
    let key = drawn
        .as_ref()
        .and_then(|_| Drawn::key(v))
        .filter(|k| !k.is_empty());
    let (mut shared, mut register) = (None, None);
    if let (Some(d), Some(k)) = (drawn, key) {
        match d.by_path.get(&k) {
            Some(first) => shared = Some(first.clone()),
            None => {
                let gid = format!("p{}", d.by_path.len());
                let label = format!(
                    "{} of {}",
                    check_cell(f),
                    f.backend.as_deref().unwrap_or("?")
                );
                d.by_path.insert(k, (gid.clone(), label));
                register = Some(gid);
            }
        }
    }
    let blocked_at = v.path.iter().position(|h| {
        h.decision == Action::Deny
            && f.blocking
                .as_ref()
                .is_none_or(|b| b.id == h.id && b.kind == h.kind.as_str())
    });
    let hops = v.path.len();
    let reached = v.decision == Action::Allow;
    let caption = format!(
        "Path: {hops} component{}{}",
        if hops == 1 { "" } else { "s" },
        match blocked_at {
            Some(i) => format!(", blocked at hop {}", i + 1),
            None if reached => ", all allow".to_string(),
            None => String::new(),
        }
    );
    let rows = hops as u32 + 2;
    let height = rows * NODE_H + (rows - 1) * GAP + 2;
    let w = NODE_W + 2;
    let _ = write!(
        out,
        "<figure class=\"path\"><svg viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" \
         role=\"list\" aria-label=\"{caption}\">"
    );
    let (st, sd) = source_label(f);
    node(out, 0, "end", "●", &st, &sd);
    if let Some((gid, label)) = &shared {
        let _ = write!(
            out,
            "<use href=\"#{gid}\" role=\"listitem\" aria-label=\"the same {hops} components as \
             the path of {}, each allowing\"/>",
            esc(label)
        );
    } else {
        if let Some(gid) = &register {
            let _ = write!(out, "<g id=\"{gid}\" role=\"none\">");
        }
        for (i, h) in v.path.iter().enumerate() {
            let blocking = blocked_at == Some(i);
            let unreached = blocked_at.is_some_and(|b| i > b);
            let (title, detail) = hop_text(h, blocking);
            let (class, icon) = match (blocking, unreached, h.decision) {
                (true, _, _) => ("block", "✕"),
                (_, true, _) => ("unreached", "·"),
                (_, _, Action::Allow) => ("allow", "✓"),
                (_, _, Action::Deny) => ("block", "✕"),
            };
            node_styled(
                out,
                i as u32 + 1,
                class,
                icon,
                &title,
                &detail,
                register.is_some(),
            );
        }
        if register.is_some() {
            out.push_str("</g>");
        }
    }
    let (tt, td) = target_label(f);
    let detail = if reached {
        format!("observed: {td}")
    } else {
        format!("not reached (predicted) · observed: {td}")
    };
    node(
        out,
        rows - 1,
        if reached { "end" } else { "unreached" },
        if reached { "●" } else { "·" },
        &tt,
        &detail,
    );
    let _ = write!(out, "</svg><figcaption>{caption}</figcaption></figure>");
}

/// A sparkline of the last `len` results, oldest first, bit 0 the newest (`bits`): a pass is a
/// tall green bar, a failure a short red one. Its label says the count in words.
pub fn sparkline(out: &mut String, bits: u32, len: u32) {
    let len = len.min(u32::BITS);
    let passes = (0..len).filter(|i| bits >> i & 1 == 1).count();
    let w = len.max(1) * 4;
    let _ = write!(
        out,
        "<svg class=\"spark\" width=\"{w}\" height=\"16\" viewBox=\"0 0 {w} 16\" role=\"img\" \
         aria-label=\"{passes} of {len} recent results passed\"><title>{passes} of {len} recent results passed</title>"
    );
    for k in 0..len {
        // Oldest on the left.
        let bit = len - 1 - k;
        let x = k * 4;
        if bits >> bit & 1 == 1 {
            let _ = write!(
                out,
                "<rect class=\"p\" x=\"{x}\" y=\"1\" width=\"3\" height=\"14\"/>"
            );
        } else {
            let _ = write!(
                out,
                "<rect class=\"f\" x=\"{x}\" y=\"10\" width=\"3\" height=\"5\"/>"
            );
        }
    }
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{self, Mode};
    use crate::policy::Policy;

    /// Seed 004's configuration with `edit` applied, judged as `probe validate` judges it.
    fn validate(edit: impl Fn(String) -> String) -> Report {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/path/seed-004.yaml");
        let text = edit(std::fs::read_to_string(&path).expect("fixture"));
        let model = crate::config::yaml::parse(text.as_bytes(), &path).expect("valid YAML");
        let policy = Policy::compile(&model);
        diagnose::report(&policy, (32768..=60999).into(), Mode::Static).expect("report")
    }

    /// The outbound ACL rule 90 denies the health-check port to app-b.
    fn nacl_deny(text: String) -> String {
        text.replace(
            "      - {number: 110, action: allow, protocol: tcp, ports: \"80,8081\", cidr: 10.0.0.0/16}",
            "      - {number: 90, action: deny, protocol: tcp, ports: 8081, cidr: 10.0.2.0/24}\n      \
             - {number: 110, action: allow, protocol: tcp, ports: \"80,8081\", cidr: 10.0.0.0/16}",
        )
    }

    fn page(report: &Report) -> String {
        render_report(
            report,
            &ReportContext {
                command: "validate",
                invocation: "probe validate --config seed-004.yaml".into(),
                generated: "2026-12-03T00:00:00Z".into(),
            },
        )
    }

    #[test]
    fn the_blocking_acl_rule_is_the_one_marked_hop_and_what_follows_is_not_reached() {
        let report = validate(nacl_deny);
        let blocked: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.blocking.is_some())
            .collect();
        assert_eq!(blocked.len(), 1, "web-2's health check");
        let mut out = String::new();
        diagram(&mut out, blocked[0], None);
        assert_eq!(out.matches("class=\"n block\"").count(), 1, "{out}");
        let marked = &out[out.find("class=\"n block\"").expect("marked")..];
        let marked = &marked[..marked.find("</g>").expect("end of node")];
        assert!(
            marked.contains("network ACL / firewall acl-pub")
                && marked.contains("egress · rule 90 · BLOCKS HERE"),
            "{marked}"
        );
        // Source, the hops up to the ACL, and the member, which the flow does not reach.
        let hops = blocked[0].expected.as_ref().map_or(0, |v| v.path.len());
        assert_eq!(out.matches("role=\"listitem\"").count(), hops + 2);
        assert!(out.contains("not reached (predicted)"), "{out}");
        assert!(out.contains(&format!("blocked at hop {hops}")), "{out}");
    }

    #[test]
    fn a_report_has_every_finding_failures_first_with_its_fix() {
        let report = validate(nacl_deny);
        let html = page(&report);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            html.matches("<article class=\"finding ").count(),
            report.findings.len()
        );
        let first = html.find("<article class=\"finding ").expect("an article");
        assert!(html[first..].starts_with("<article class=\"finding error\""));
        let fix = report
            .findings
            .iter()
            .find_map(|f| f.fix.as_deref())
            .expect("a fix");
        assert!(html.contains(&*esc(fix)), "the fix, escaped, ready to copy");
        assert!(html.contains("<title>probe validate — 1 error</title>"));
        // No fetch of anything: no URL outside the page, a policy that forbids one.
        for needle in ["src=\"http", "href=\"http", "url(http", "@import"] {
            assert!(!html.contains(needle), "{needle}");
        }
        assert!(html.contains("default-src &#39;none&#39;"));
    }

    #[test]
    fn names_from_the_configuration_are_escaped_everywhere() {
        let report = validate(|t| nacl_deny(t).replace("web-2", "web-2<script>alert(1)</script>"));
        let html = page(&report);
        assert!(!html.contains("<script>alert"), "raw markup from a name");
        assert!(html.contains("web-2&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(
            html.matches("<script>").count(),
            1,
            "the page's own script only"
        );
    }

    #[test]
    fn a_hundred_backends_stay_a_few_hundred_kilobytes() {
        let members: String = (0..100)
            .map(|n| {
                format!(
                    "      - {{name: web-{n}, address: 10.0.{}.{}, security_groups: [sg-web]}}\n",
                    1 + n % 2,
                    10 + n
                )
            })
            .collect();
        let report = validate(|t| {
            let t = nacl_deny(t);
            let at = t.find("      - {name: web-1").expect("members");
            format!("{}{members}", &t[..at])
        });
        assert_eq!(report.findings.len(), 201);
        let size = page(&report).len();
        assert!(size < 400_000, "{size} bytes for 100 backends");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert!(matches!(esc("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn sparkline_draws_oldest_left_and_counts_in_words() {
        let mut s = String::new();
        // Newest (bit 0) passed, the one before failed, the oldest passed.
        sparkline(&mut s, 0b101, 3);
        assert!(s.contains("2 of 3 recent results passed"));
        let bars: Vec<&str> = s
            .match_indices("class=\"")
            .map(|(i, _)| &s[i + 7..i + 8])
            .collect();
        assert_eq!(bars, ["s", "p", "f", "p"]);
    }

    #[test]
    fn policy_hashes_the_script() {
        let p = content_security_policy("x", false);
        // sha256("x") in base64.
        assert!(
            p.contains("'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"),
            "{p}"
        );
        assert!(p.contains("connect-src 'none'"));
    }
}
