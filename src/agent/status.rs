//! The agent's live status page (`/`): every check with its threshold state, outcome, finding
//! code, last change and a sparkline of its recent results; under each, its finding drawn as the
//! HTML report draws it (one rendering, [`crate::output::html`]).
//!
//! Filtering (failing only, by backend group, by code) and paging happen here, on the server:
//! a 10,000-check fleet sends a browser one page of [`PAGE_SIZE`] rows, never the fleet. The
//! page works as a plain form without script; with it, the filters apply as they change and the
//! rows are fetched again every few seconds (`?fragment=1`) and swapped in place, keeping the
//! open rows open and the focus where it was.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use super::state::{Slot, World};
use crate::diagnose::{Finding, Severity, Summary};
use crate::health::HealthState;
use crate::output::html::{self, esc};

/// Rows a page shows.
pub(crate) const PAGE_SIZE: usize = 50;

/// What the page is asked for: `?failing=1&group=G&code=C&page=N&fragment=1`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StatusQuery {
    pub failing: bool,
    pub group: Option<String>,
    pub code: Option<String>,
    /// From 1.
    pub page: usize,
    /// Only the part the page's script swaps in.
    pub fragment: bool,
}

impl StatusQuery {
    /// Reads the query string; an unknown parameter or a bad value is an error naming it.
    pub(crate) fn parse(query: Option<&str>) -> Result<StatusQuery, String> {
        let mut q = StatusQuery {
            page: 1,
            ..StatusQuery::default()
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let flag = || match &*v {
                "1" | "true" | "on" | "" => Ok(true),
                "0" | "false" | "off" => Ok(false),
                _ => Err(format!("{k}={v:?}: true or false")),
            };
            match &*k {
                "failing" => q.failing = flag()?,
                "fragment" => q.fragment = flag()?,
                "group" => q.group = Some(v.into_owned()).filter(|g| !g.is_empty()),
                "code" => q.code = Some(v.into_owned()).filter(|c| !c.is_empty()),
                "page" => {
                    q.page = v
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| format!("page={v:?}: a page number from 1"))?;
                }
                _ => {
                    return Err(format!(
                        "{k}: unknown parameter (failing, group, code, page, fragment)"
                    ));
                }
            }
        }
        Ok(q)
    }

    /// The query string of this filter at page `page` (without `fragment`).
    fn href(&self, page: usize) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if self.failing {
            s.append_pair("failing", "1");
        }
        if let Some(g) = &self.group {
            s.append_pair("group", g);
        }
        if let Some(c) = &self.code {
            s.append_pair("code", c);
        }
        if page > 1 {
            s.append_pair("page", &page.to_string());
        }
        format!("?{}", s.finish())
    }
}

/// What the page says about the agent itself.
pub(crate) struct About {
    pub shard: Option<String>,
    pub now: Instant,
    pub now_unix: f64,
}

/// One row: a scheduled check or a finding from the configuration alone.
#[derive(Clone, Copy)]
enum Row<'a> {
    Check(usize, &'a Slot),
    Static(usize, &'a Finding),
}

impl<'a> Row<'a> {
    fn finding(&self) -> Option<&'a Finding> {
        match *self {
            Row::Check(_, s) => s.finding.as_deref(),
            Row::Static(_, f) => Some(f),
        }
    }

    fn group(&self) -> &'a str {
        match *self {
            Row::Check(_, s) => s.check.backend_group.as_deref().unwrap_or(""),
            Row::Static(_, f) => f.backend_group.as_deref().unwrap_or(""),
        }
    }

    /// Worst first; a check not yet probed after the failing ones, before the passing ones.
    fn rank(&self) -> u8 {
        match self.finding().map(|f| f.severity) {
            Some(Severity::Error) => 0,
            Some(Severity::Warning) => 1,
            None => 2,
            Some(Severity::Info) => 3,
            Some(Severity::Ok) => 4,
        }
    }

    /// Checks before static findings, each in configuration order.
    fn order(&self) -> (u8, usize) {
        match *self {
            Row::Check(i, _) => (0, i),
            Row::Static(i, _) => (1, i),
        }
    }

    fn id(&self) -> String {
        match *self {
            Row::Check(i, _) => format!("c{i}"),
            Row::Static(i, _) => format!("s{i}"),
        }
    }
}

/// The page (or its fragment) for `q`.
pub(crate) fn render(world: &World, q: &StatusQuery, about: &About) -> String {
    let rows: Vec<Row<'_>> = world
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| Row::Check(i, s))
        .chain(
            world
                .statics
                .iter()
                .enumerate()
                .map(|(i, f)| Row::Static(i, f)),
        )
        .collect();
    let mut summary = Summary::default();
    let mut health = [0usize; HealthState::ALL.len()];
    for r in &rows {
        if let Some(f) = r.finding() {
            summary.count(f.severity);
        }
        if let Row::Check(_, s) = r {
            health[s.health.state() as usize] += 1;
        }
    }
    let mut kept: Vec<Row<'_>> = rows
        .iter()
        .copied()
        .filter(|r| {
            (!q.failing || r.rank() < 2)
                && q.group.as_deref().is_none_or(|g| r.group() == g)
                && q.code
                    .as_deref()
                    .is_none_or(|c| r.finding().is_some_and(|f| f.code.as_str() == c))
        })
        .collect();
    kept.sort_unstable_by(|a, b| {
        (a.rank(), a.group(), a.order()).cmp(&(b.rank(), b.group(), b.order()))
    });
    let pages = kept.len().div_ceil(PAGE_SIZE).max(1);
    let page = q.page.min(pages);
    let shown = &kept[(page - 1) * PAGE_SIZE..kept.len().min(page * PAGE_SIZE)];

    let mut out = String::with_capacity(16 * 1024 + shown.len() * 3 * 1024);
    if !q.fragment {
        head(&mut out, world, q, about, &rows);
    }
    // The fragment: counts, rows, pager.
    let _ = write!(
        out,
        "<section aria-labelledby=\"now\"><h2 id=\"now\">Now</h2><p>{} checks:",
        world.slots.len()
    );
    for (i, state) in [
        HealthState::Healthy,
        HealthState::Unhealthy,
        HealthState::Initial,
    ]
    .into_iter()
    .enumerate()
    {
        out.push_str(if i == 0 { " " } else { " · " });
        health_badge(&mut out, state);
        let _ = write!(out, " {}", health[state as usize]);
    }
    out.push_str("</p>");
    html::summary_counts(&mut out, &summary);
    let first = (page - 1) * PAGE_SIZE;
    let _ = write!(
        out,
        "<p id=\"showing\">Showing {}–{} of {} rows{}, worst first; updated {}.</p></section>",
        if shown.is_empty() { 0 } else { first + 1 },
        first + shown.len(),
        kept.len(),
        if q.failing || q.group.is_some() || q.code.is_some() {
            " (filtered)"
        } else {
            ""
        },
        rfc3339(about.now_unix)
    );
    out.push_str(
        "<section aria-labelledby=\"checks\"><h2 id=\"checks\">Checks and findings</h2>\
         <div class=\"row head\" aria-hidden=\"true\"><span>State</span><span>Backend</span>\
         <span>Check</span><span>Outcome</span><span>Finding</span><span>Last change</span>\
         <span>Recent</span></div><ul class=\"checks\">",
    );
    if shown.is_empty() {
        out.push_str("<li><p>No check matches these filters.</p></li>");
    }
    for r in shown {
        row(&mut out, r, about);
    }
    out.push_str("</ul>");
    pager(&mut out, q, page, pages);
    out.push_str("</section>");
    if !q.fragment {
        let _ = writeln!(
            out,
            "</main><script>{}</script></body></html>",
            SCRIPT.as_str()
        );
    }
    out
}

/// The page's head, header and filter form; the filters' choices (groups, codes) with their
/// counts are only needed here, not in the fragment the script fetches every few seconds.
fn head(out: &mut String, world: &World, q: &StatusQuery, about: &About, rows: &[Row<'_>]) {
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        if !r.group().is_empty() {
            *groups.entry(r.group()).or_default() += 1;
        }
        if let Some(f) = r.finding() {
            *codes.entry(f.code.as_str()).or_default() += 1;
        }
    }
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>probe agent — status</title><style>{}{STATUS_CSS}</style></head><body>{}\
         <header><h1>probe agent</h1><p class=\"muted\">{} checks · configuration generation {}{} · \
         <a href=\"metrics\">metrics</a> · <a href=\"findings\">findings</a> (JSON) · \
         <a href=\"probe?target=127.0.0.1:9465&amp;module=tcp_connect\">probe</a> · \
         <a href=\"-/healthy\">healthy</a> · <a href=\"-/ready\">ready</a></p>",
        html::CSS,
        html::SVG_DEFS,
        world.slots.len(),
        world.generation,
        about
            .shard
            .as_deref()
            .map(|s| format!(" · shard {}", esc(s)))
            .unwrap_or_default(),
    );
    out.push_str(
        "<form id=\"filters\" class=\"filters\" method=\"get\" action=\"\" aria-label=\"Filters\">",
    );
    let _ = write!(
        out,
        "<label><input type=\"checkbox\" name=\"failing\" value=\"1\"{}> Failing only</label>",
        if q.failing { " checked" } else { "" }
    );
    let _ = write!(
        out,
        "<label>Backend group <select name=\"group\"><option value=\"\">all</option>"
    );
    for (g, n) in &groups {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{} ({n})</option>",
            esc(g),
            if q.group.as_deref() == Some(g) {
                " selected"
            } else {
                ""
            },
            esc(g)
        );
    }
    out.push_str(
        "</select></label><label>Code <select name=\"code\"><option value=\"\">all</option>",
    );
    for (c, n) in &codes {
        let _ = write!(
            out,
            "<option value=\"{c}\"{}>{c} ({n})</option>",
            if q.code.as_deref() == Some(c) {
                " selected"
            } else {
                ""
            }
        );
    }
    out.push_str(
        "</select></label><button type=\"submit\" id=\"apply\">Apply</button></form>\
         <p id=\"stale\" class=\"badge warning\" role=\"status\" hidden>Not updating: the agent did \
         not answer; showing the last rows received.</p></header><main id=\"live\" aria-live=\"off\">",
    );
}

fn row(out: &mut String, r: &Row<'_>, about: &About) {
    let id = r.id();
    let _ = write!(
        out,
        "<li><details id=\"{id}\"><summary id=\"{id}-s\" class=\"row\">"
    );
    match *r {
        Row::Check(_, s) => {
            out.push_str("<span>");
            health_badge(out, s.health.state());
            out.push_str("</span>");
            let l = s.labels();
            let _ = write!(
                out,
                "<span class=\"wrap\">{} <span class=\"muted\">{}</span></span>",
                esc(&l[1]),
                esc(&l[2])
            );
            let port = if l[3].is_empty() {
                String::new()
            } else {
                format!("/{}", l[3])
            };
            let _ = write!(
                out,
                "<span>{} {}{}</span>",
                esc(&l[5].replace('_', " ")),
                esc(&l[4]),
                port
            );
        }
        Row::Static(_, f) => {
            out.push_str(
                "<span><span class=\"badge info\"><span aria-hidden=\"true\">≡</span> CONFIG</span></span>",
            );
            let _ = write!(
                out,
                "<span class=\"wrap\">{}</span><span>{}</span>",
                esc(&html::group_key(f)),
                esc(&html::check_cell(f))
            );
        }
    }
    match r.finding() {
        Some(f) => {
            let outcome = match &f.observed {
                Some(_) => html::observed_cell(f),
                None => "not probed (judged from the configuration)".to_string(),
            };
            let _ = write!(out, "<span class=\"wrap\">{}</span><span>", esc(&outcome));
            html::badge(out, f.severity);
            let _ = write!(out, " <code>{}</code></span>", f.code);
        }
        None => {
            let why = match r {
                Row::Check(_, s) => s.cannot_run.as_deref().unwrap_or("not probed yet"),
                Row::Static(..) => "",
            };
            let _ = write!(
                out,
                "<span class=\"wrap\">{}</span><span class=\"muted\">—</span>",
                esc(why)
            );
        }
    }
    match *r {
        Row::Check(_, s) => {
            match s.health.since() {
                Some(t) => {
                    let ago = about.now.saturating_duration_since(t).as_secs_f64();
                    let _ = write!(
                        out,
                        "<span><time datetime=\"{}\">{} ago</time></span>",
                        rfc3339(about.now_unix - ago),
                        human(ago)
                    );
                }
                None => out.push_str("<span class=\"muted\">never</span>"),
            }
            out.push_str("<span>");
            html::sparkline(out, s.recent.bits, u32::from(s.recent.len));
            out.push_str("</span>");
        }
        Row::Static(..) => out.push_str("<span></span><span></span>"),
    }
    out.push_str("</summary>");
    match r.finding() {
        Some(f) => html::finding_card(out, f, &format!("{id}-f"), 3, None),
        None => {
            out.push_str("<p class=\"muted\">No finding yet: the first probe has not ended.</p>")
        }
    }
    out.push_str("</details></li>");
}

/// A threshold state as a badge: symbol, word, colour.
fn health_badge(out: &mut String, state: HealthState) {
    let (icon, word, class) = match state {
        HealthState::Healthy => ("✓", "HEALTHY", "ok"),
        HealthState::Unhealthy => ("✕", "UNHEALTHY", "error"),
        HealthState::Initial => ("○", "INITIAL", "info"),
    };
    let _ = write!(
        out,
        "<span class=\"badge {class}\"><span aria-hidden=\"true\">{icon}</span> {word}</span>"
    );
}

fn pager(out: &mut String, q: &StatusQuery, page: usize, pages: usize) {
    if pages <= 1 {
        return;
    }
    out.push_str("<nav class=\"pager\" aria-label=\"Pages\">");
    if page > 1 {
        let _ = write!(
            out,
            "<a href=\"{}\" rel=\"prev\" data-page>← Previous</a>",
            esc(&q.href(page - 1))
        );
    }
    let _ = write!(out, " <span>Page {page} of {pages}</span> ");
    if page < pages {
        let _ = write!(
            out,
            "<a href=\"{}\" rel=\"next\" data-page>Next →</a>",
            esc(&q.href(page + 1))
        );
    }
    out.push_str("</nav>");
}

/// Seconds as people say them: 42 s, 5 min, 3 h, 2 d.
fn human(s: f64) -> String {
    let s = s.max(0.0) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

fn rfc3339(unix: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The page's own additions to the shared style sheet.
const STATUS_CSS: &str = r#"
.filters{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:center;margin:.6rem 0}
.filters select{font:inherit;max-width:100%}
.checks{list-style:none;padding:0;margin:0}.checks>li{border-bottom:1px solid var(--line)}
.row{display:grid;grid-template-columns:8rem minmax(8rem,1.4fr) minmax(7rem,1fr) minmax(8rem,1.2fr)
minmax(11rem,1.4fr) 5.5rem 8.5rem;gap:.6rem;align-items:center;padding:.35rem .3rem}
summary.row{cursor:pointer;list-style:none}summary.row::-webkit-details-marker{display:none}
summary.row:hover{background:var(--card)}.row.head{font-weight:700;color:var(--muted);border-bottom:2px solid var(--line)}
.wrap{overflow-wrap:anywhere}details>.finding{margin:.2rem .3rem .8rem}
.pager{display:flex;gap:1rem;justify-content:center;padding:.8rem}
@media (max-width:62rem){.row{grid-template-columns:1fr 1fr}.row.head{display:none}}
"#;

/// The page's Content-Security-Policy: its own script and style, fetches to its own origin.
pub(crate) static CSP: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| html::content_security_policy(&SCRIPT, true));

/// The page's one script (its hash is in the Content-Security-Policy): the copy buttons;
/// apply the filters as they change, follow the pager in place, and fetch the rows again every
/// five seconds while the page is visible.
pub(crate) static SCRIPT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}{STATUS_SCRIPT}", html::COPY_SCRIPT));

/// What the status page's script does besides the copy buttons.
const STATUS_SCRIPT: &str = "(()=>{const live=document.getElementById('live'),\
form=document.getElementById('filters'),stale=document.getElementById('stale');\
document.getElementById('apply').hidden=true;let busy=false,query=location.search.slice(1);\
const params=()=>{const p=new URLSearchParams();for(const[k,v]of new FormData(form))if(v)p.append(k,v);return p.toString()};\
async function load(){if(busy)return;busy=true;try{\
const r=await fetch(location.origin+location.pathname+'?'+(query?query+'&':'')+'fragment=1',{cache:'no-store'});\
if(!r.ok)throw new Error('HTTP '+r.status);const html=await r.text();\
const open=[...live.querySelectorAll('details[open]')].map(d=>d.id);\
const a=document.activeElement,focus=a&&live.contains(a)?a.id:'';\
live.innerHTML=html;for(const id of open){const d=document.getElementById(id);if(d)d.open=true}\
if(focus){const e=document.getElementById(focus);if(e)e.focus()}stale.hidden=true;\
document.documentElement.dataset.updated=Date.now()}catch(e){stale.hidden=false}finally{busy=false}}\
const go=q=>{query=q;history.replaceState(null,'',location.pathname+(q?'?'+q:''));load()};\
form.addEventListener('change',()=>go(params()));\
form.addEventListener('submit',e=>{e.preventDefault();go(params())});\
live.addEventListener('click',e=>{const a=e.target.closest('a[data-page]');if(!a)return;\
e.preventDefault();go(a.getAttribute('href').slice(1))});\
setInterval(()=>{if(!document.hidden)load()},5000)})();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_reads_filters_and_refuses_unknown_or_bad_values() {
        let q = StatusQuery::parse(Some("failing=1&group=web%20a&code=NACL_DENY&page=3"))
            .expect("valid");
        assert!(q.failing);
        assert_eq!(q.group.as_deref(), Some("web a"));
        assert_eq!(q.code.as_deref(), Some("NACL_DENY"));
        assert_eq!(q.page, 3);
        assert_eq!(q.href(4), "?failing=1&group=web+a&code=NACL_DENY&page=4");
        assert_eq!(StatusQuery::parse(None).expect("empty").page, 1);
        let e = StatusQuery::parse(Some("page=0")).expect_err("page 0");
        assert!(e.contains("page=\"0\""), "{e}");
        let e = StatusQuery::parse(Some("sort=x")).expect_err("unknown");
        assert!(e.starts_with("sort: unknown parameter"), "{e}");
        let e = StatusQuery::parse(Some("failing=maybe")).expect_err("bad flag");
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(42.9), "42 s");
        assert_eq!(human(300.0), "5 min");
        assert_eq!(human(7300.0), "2 h");
        assert_eq!(human(-1.0), "0 s");
    }
}
