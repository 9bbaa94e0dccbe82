//! The native YAML format: the serde form of [`Model`], documented field by field in
//! `docs/config.md`. Unknown fields are rejected; errors name the line, column and field path.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;
use super::yaml_nesting::{MAX_FLOW_DEPTH, flow_depth};
use probe_model::Model;

/// Parses a YAML document into a model (not validated: see [`probe_model::validate`]).
pub fn parse(bytes: &[u8], file: &Path) -> Result<Model, ConfigError> {
    let blank = |line: &str| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace())
        || std::str::from_utf8(bytes).is_ok_and(|text| text.lines().all(blank))
    {
        return Err(ConfigError::Syntax {
            file: file.to_path_buf(),
            line: None,
            column: None,
            path: ".".to_string(),
            message: "the file is empty (or only comments): nothing to check (see docs/config.md)"
                .to_string(),
        });
    }
    parse_document(bytes, file)
}

/// Deserializes one YAML document into `T`, for every YAML format this crate reads (the native
/// configuration, the agent's web configuration). Refuses bytes that are not UTF-8 and flow
/// collections nested deeper than [`MAX_FLOW_DEPTH`]; errors carry the line, column and field
/// path.
pub fn parse_document<T: DeserializeOwned>(bytes: &[u8], file: &Path) -> Result<T, ConfigError> {
    let syntax = |line, column, path: String, message: String| ConfigError::Syntax {
        file: file.to_path_buf(),
        line,
        column,
        path,
        message,
    };
    let text = super::utf8(bytes, file)?;
    // The YAML scanner's time grows with the square of the flow nesting depth: refuse deep
    // nesting before it starts.
    if let Some((line, column)) = flow_depth(text, MAX_FLOW_DEPTH).too_deep_at {
        return Err(syntax(
            Some(line),
            Some(column),
            ".".to_string(),
            format!(
                "`[` and `{{` nested more than {MAX_FLOW_DEPTH} deep; the YAML parser's time grows \
                 with the square of the depth, and no configuration needs this"
            ),
        ));
    }
    let de = serde_norway::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let path = super::field_path(e.path().to_string());
        let inner = e.into_inner();
        let (line, column) = inner
            .location()
            .map(|l| (Some(l.line()), Some(l.column())))
            .unwrap_or((None, None));
        let mut message = super::strip_position(&inner.to_string());
        if line.is_some_and(|l| l > text.lines().count()) {
            message.push_str(" (the file ends there: is it cut short?)");
        }
        let at = |l: usize, c: usize| {
            text.lines()
                .nth(l.saturating_sub(1))
                .and_then(|t| t.chars().nth(c.saturating_sub(1)))
        };
        if let (Some(l), Some(c)) = (line, column)
            && at(l, c) == Some('\t')
        {
            message.push_str(" (a tab: YAML indents with spaces)");
        }
        // serde_norway prefixes its own (shorter) path; ours is already in front.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.contains(' ')
            && path.starts_with(prefix)
        {
            message = rest.to_string();
        }
        if message.contains("more than one document") {
            let line = second_document(text);
            return syntax(
                line,
                line.map(|_| 1),
                ".".to_string(),
                "a second YAML document (`---`): put the whole configuration in one".to_string(),
            );
        }
        syntax(line, column, path, message)
    })
}

/// The line of the `---` that starts a second document, if one does.
fn second_document(text: &str) -> Option<usize> {
    let mut content = false;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker && content {
            return Some(i + 1);
        }
        let trimmed = line.trim_start();
        if !trimmed.is_empty() && !trimmed.starts_with('#') && !line.starts_with('%') {
            content = true;
        }
    }
    None
}

/// Adds the line and column of its field to an error found after `bytes` were parsed (a web
/// configuration's missing key file, say), when the field is in the text.
pub fn place(error: ConfigError, bytes: &[u8]) -> ConfigError {
    super::place_with(error, |_, path| super::place::in_yaml(bytes, path))
}

/// Renders a model as native YAML, with a header naming where it came from.
pub fn render(model: &Model, origin: &str) -> Result<String, serde_norway::Error> {
    let body = serde_norway::to_string(model)?;
    Ok(format!(
        "# probe configuration imported from {origin}.\n\
         # Field reference: docs/config.md. Check it with `probe validate --config FILE`.\n{body}"
    ))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests read fixtures and time themselves
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text.as_bytes(), Path::new("lb.yaml")) {
            Ok(m) => panic!("parsed: {m:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_field_is_named_with_line_column_and_path() {
        let e = err("backend_groups:\n  - name: web\n    protocol: http\n    prot: 80\n");
        assert!(
            e.starts_with("lb.yaml:4:5: backend_groups[0].prot: unknown field `prot`"),
            "{e}"
        );
    }

    #[test]
    fn bad_value_names_its_path() {
        let e = err("subnets:\n  - id: a\n    cidr: 10.0.0.0/33\n");
        assert!(e.starts_with("lb.yaml:3:11: subnets[0].cidr:"), "{e}");
        let e = err(
            "security_groups:\n  - id: sg\n    rules:\n      - direction: ingress\n        ports: 70000\n",
        );
        assert!(e.contains("security_groups[0].rules[0].ports"), "{e}");
        assert!(e.contains("70000"), "{e}");
    }

    #[test]
    fn empty_and_binary_files_are_refused() {
        assert!(err("").contains("empty"));
        let e = match parse(b"agent:\n  \xff\xfe", Path::new("x.yaml")) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("parsed"),
        };
        assert!(
            e.starts_with("x.yaml:2:3: not UTF-8 text: byte 0xff at offset 9"),
            "{e}"
        );
    }

    #[test]
    fn a_second_document_names_its_line() {
        let e = err("# probe\nsubnets: []\n---\nsubnets: []\n");
        assert!(e.starts_with("lb.yaml:3:1: a second YAML document"), "{e}");
    }

    #[test]
    fn render_round_trips() {
        let text = "subnets:\n  - id: s\n    cidr: 10.0.0.0/24\nsecurity_groups:\n  - id: sg\n    rules:\n      - direction: ingress\n        protocol: tcp\n        ports: 80,443\n        cidr: 10.0.0.0/24\n";
        let m = parse(text.as_bytes(), Path::new("a.yaml")).expect("parses");
        let out = render(&m, "test").expect("renders");
        let back = parse(out.as_bytes(), Path::new("b.yaml")).expect("re-parses");
        assert_eq!(m, back);
    }

    /// Found by the `yaml_config` fuzz target (seed `policy-tests-*.yaml`): a rule on every port
    /// renders without `ports`, and must parse back to the same model.
    #[test]
    fn render_round_trips_a_rule_on_every_port() {
        let text = "network_acls:\n  - id: acl\n    inbound:\n      - {number: 200, action: deny, protocol: \"6\", ports: 0-65535, cidr: 10.0.0.0/24}\n";
        let m = parse(text.as_bytes(), Path::new("a.yaml")).expect("parses");
        let out = render(&m, "test").expect("renders");
        assert!(!out.contains("ports"), "{out}");
        let back = parse(out.as_bytes(), Path::new("b.yaml")).expect("re-parses");
        assert_eq!(m, back);
    }

    /// Found by the deep-nesting inputs of the fuzzing work: 64 KiB of `[` kept the YAML scanner
    /// busy for two seconds, a quarter of a minute in the fuzzing build (its time grows with the
    /// square of the flow nesting depth). Deep flow nesting is refused before the scanner runs,
    /// naming where it goes too deep.
    #[test]
    fn deep_flow_nesting_is_refused_quickly() {
        let started = std::time::Instant::now();
        let e = err(&format!(
            "subnets: {}{}\n",
            "[".repeat(1 << 20),
            "]".repeat(1 << 20)
        ));
        assert!(
            e.starts_with("lb.yaml:1:74: `[` and `{` nested more than 64 deep"),
            "{e}"
        );
        for text in [
            format!("agent: {}\n", "{a: ".repeat(200_000)),
            format!("subnets: {}\n", "[ \"]\", ".repeat(100_000)),
        ] {
            let e = err(&text);
            assert!(e.contains("nested more than 64 deep"), "{e}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn nesting_within_the_limits_parses() {
        let text = "security_groups:\n  - id: sg\n    rules:\n      - {direction: ingress, ports: [[80, [443]]]}\n";
        let m = parse(text.as_bytes(), Path::new("a.yaml")).expect("parses");
        assert!(m.security_groups[0].rules[0].ports.contains(443));
    }

    /// Port lists nest (a list of lists is one list), so block nesting reaches serde_norway's
    /// recursion limit of 128 rather than the stack's end.
    #[test]
    fn deep_block_nesting_stops_at_the_recursion_limit() {
        let rule = "security_groups:\n  - id: sg\n    rules:\n      - direction: ingress\n        ports:\n";
        let e = err(&format!("{rule}          {}80\n", "- ".repeat(10_000)));
        assert!(e.contains("recursion limit exceeded"), "{e}");
    }

    /// Anchors and aliases that expand to 10^9 ports: serde_norway's repetition limit stops them.
    #[test]
    fn alias_expansion_is_bounded() {
        let mut ports = String::from("[&a0 [80, 81, 82, 83, 84, 85, 86, 87, 88, 89]");
        for i in 1..9 {
            ports.push_str(&format!(
                ", &a{i} [{}]",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        ports.push(']');
        let started = std::time::Instant::now();
        let e = err(&format!(
            "security_groups:\n  - id: sg\n    rules:\n      - direction: ingress\n        ports: {ports}\n"
        ));
        assert!(e.contains("repetition limit exceeded"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
