//! What the configuration fuzz targets share: the invariants every parsed model and every error
//! must satisfy. No I/O: the agent's port range is a constant, not `/proc`.

use std::net::IpAddr;
use std::path::Path;

use probe::config::yaml_nesting::{MAX_FLOW_DEPTH, flow_depth};
use probe::config::{ConfigError, JsonFile, yaml};
use probe::diagnose::{self, Report};
use probe::model::{Model, PortRange, validate};
use probe::output::render_findings;
use probe::policy::Policy;

/// Linux's default ephemeral port range, standing in for `sys::local_port_range()`.
const AGENT_PORTS: PortRange = PortRange {
    from: 32768,
    to: 60999,
};

/// An error must render (no panic in `Display`), say something, and name the file it is about
/// (every file the targets use is named `fuzz…`).
pub fn check_error(e: &ConfigError) {
    let text = e.to_string();
    assert!(!text.trim().is_empty(), "empty error message: {e:?}");
    assert!(
        text.starts_with("fuzz"),
        "error does not name its file: {text:?}"
    );
    let _ = format!("{e:?}");
}

/// A parsed model: validation runs without panic; the model survives the YAML round trip that
/// `probe import` relies on; a valid model compiles, plans, evaluates and renders findings the
/// way `probe validate` does.
pub fn check_model(model: &Model) {
    let errors = validate(model);
    for e in &errors {
        assert!(!e.to_string().is_empty());
    }

    let text = match yaml::render(model, "fuzz") {
        Ok(t) => t,
        Err(e) => panic!("a parsed model does not render as YAML: {e}"),
    };
    match yaml::parse(text.as_bytes(), Path::new("fuzz-rendered.yaml")) {
        Ok(back) => {
            if back != *model {
                panic!(
                    "the rendered YAML parses to another model: {}\n{text}",
                    first_difference(model, &back)
                );
            }
        }
        Err(e) => panic!("the rendered YAML does not parse: {e}\n{text}"),
    }

    if !errors.is_empty() {
        return;
    }
    let policy = Policy::compile(model);
    let mut findings: Vec<_> = diagnose::plan(&policy, None)
        .iter()
        .map(|c| {
            let p = diagnose::perspectives(&policy, c, AGENT_PORTS);
            diagnose::diagnose(&policy, c, &p, None)
        })
        .collect();
    findings.extend(diagnose::static_findings(&policy));
    let report = Report::new(findings);
    let _ = render_findings(&report, false);
    if let Err(e) = serde_json::to_string(&report) {
        panic!("the report does not serialize: {e}");
    }
}

/// Splits an importer input into JSON documents at NUL bytes (which JSON text cannot contain).
/// A first part that is an IP address is the agent's address (`--source-addr`), not a document.
pub fn json_files(data: &[u8]) -> Result<(Vec<JsonFile>, Option<IpAddr>), ConfigError> {
    let mut parts = data.split(|&b| b == 0).peekable();
    let agent = parts
        .peek()
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|s| s.trim().parse::<IpAddr>().ok());
    if agent.is_some() {
        parts.next();
    }
    let mut files = Vec::new();
    for (i, part) in parts.enumerate() {
        files.push(JsonFile::new(
            format!("fuzz-{i}.json").into(),
            part.to_vec(),
        )?);
    }
    Ok((files, agent))
}

/// What `config::load` does after an importer: the given agent address wins, then validation.
pub fn check_imported(result: Result<Model, ConfigError>, agent: Option<IpAddr>) {
    match result {
        Ok(mut model) => {
            if let Some(a) = agent {
                model.agent.address = Some(a);
            }
            check_model(&model);
        }
        Err(e) => check_error(&e),
    }
}

/// The first line where two values' `Debug` forms differ, with the lines before it for context.
fn first_difference(a: &impl std::fmt::Debug, b: &impl std::fmt::Debug) -> String {
    let (a, b) = (format!("{a:#?}"), format!("{b:#?}"));
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let context = a[i.saturating_sub(6)..i].join("\n");
    format!(
        "\n{context}\n-   {}\n+   {}",
        a.get(i).unwrap_or(&"(end)"),
        b.get(i).unwrap_or(&"(end)")
    )
}

/// The guard in front of the YAML parser (`config::yaml_nesting`) must see every flow collection
/// libyaml's scanner opens: where it lets a document through, its depth is at least the scanner's,
/// and equal when the scanner reads the whole document without an error.
pub fn check_yaml_nesting(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let guard = flow_depth(text, MAX_FLOW_DEPTH);
    if guard.too_deep_at.is_some() {
        return;
    }
    let (scanner, complete) = libyaml_flow_depth(data);
    assert!(
        guard.max >= scanner,
        "the guard sees flow depth {} where libyaml's scanner reaches {scanner}",
        guard.max
    );
    if complete {
        assert_eq!(
            guard.max, scanner,
            "the guard sees flow depth {} in a document libyaml scans to the end at {scanner}",
            guard.max
        );
    }
}

/// The deepest flow nesting libyaml's scanner reaches in `text` before its first error, and
/// whether it scanned to the end of the stream.
#[allow(unsafe_code)]
pub fn libyaml_flow_depth(text: &[u8]) -> (usize, bool) {
    use std::mem::MaybeUninit;
    use unsafe_libyaml_norway as unsafe_yaml;
    // SAFETY: the parser is initialised before use and deleted once; `text` outlives it; every
    // token is deleted after its type is read.
    unsafe {
        let mut parser = MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit();
        if !unsafe_yaml::yaml_parser_initialize(parser.as_mut_ptr()).ok {
            return (0, false);
        }
        let parser = parser.as_mut_ptr();
        unsafe_yaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as _);
        let (mut depth, mut max) = (0usize, 0usize);
        let complete = loop {
            let mut token = MaybeUninit::<unsafe_yaml::yaml_token_t>::uninit();
            if !unsafe_yaml::yaml_parser_scan(parser, token.as_mut_ptr()).ok {
                break false;
            }
            let kind = (*token.as_ptr()).type_;
            unsafe_yaml::yaml_token_delete(token.as_mut_ptr());
            match kind {
                unsafe_yaml::YAML_FLOW_SEQUENCE_START_TOKEN
                | unsafe_yaml::YAML_FLOW_MAPPING_START_TOKEN => {
                    depth += 1;
                    max = max.max(depth);
                }
                unsafe_yaml::YAML_FLOW_SEQUENCE_END_TOKEN
                | unsafe_yaml::YAML_FLOW_MAPPING_END_TOKEN => {
                    depth = depth.saturating_sub(1);
                }
                unsafe_yaml::YAML_STREAM_END_TOKEN => break true,
                _ => {}
            }
        };
        unsafe_yaml::yaml_parser_delete(parser);
        (max, complete)
    }
}
