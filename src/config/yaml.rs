//! The native YAML format: the serde form of [`Model`], documented field by field in
//! `docs/config.md`. Unknown fields are rejected; errors name the line, column and field path.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;
use crate::model::Model;

/// Parses a YAML document into a model (not validated: see [`crate::model::validate`]).
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
/// configuration, the agent's web configuration). Refuses bytes that are not UTF-8; errors carry
/// the line, column and field path.
pub fn parse_document<T: DeserializeOwned>(bytes: &[u8], file: &Path) -> Result<T, ConfigError> {
    let syntax = |line, column, path: String, message: String| ConfigError::Syntax {
        file: file.to_path_buf(),
        line,
        column,
        path,
        message,
    };
    let text = super::utf8(bytes, file)?;
    if let Some((line, column)) = nested_too_deep(text) {
        return Err(syntax(
            Some(line),
            Some(column),
            ".".to_string(),
            format!(
                "`[` and `{{` nested more than {} deep; the YAML parser's time grows with the \
                 square of the depth, and no configuration needs this",
                super::MAX_YAML_NESTING
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

/// Where a `[` or `{` opens a flow collection nested more than [`super::MAX_YAML_NESTING`]
/// deep, by two scans that do not parse: one counts every bracket, the other skips comments and
/// quoted scalars inside flow collections. Either finding the depth refuses the file. A file
/// crafted to mislead both (quotes that the YAML parser reads as plain text) is not caught.
fn nested_too_deep(text: &str) -> Option<(usize, usize)> {
    raw_depth(text.as_bytes()).or_else(|| flow_depth(text.as_bytes()))
}

/// Line and column (from 1, in bytes) of index `i`.
fn position(bytes: &[u8], i: usize) -> (usize, usize) {
    let before = &bytes[..i];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |n| n + 1);
    (line, i - start + 1)
}

fn raw_depth(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > super::MAX_YAML_NESTING {
                    return Some(position(bytes, i));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn flow_depth(bytes: &[u8]) -> Option<(usize, usize)> {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut depth = 0usize;
    // Inside a flow collection: whether a quote here would start a quoted scalar (rather than
    // be part of a plain one).
    let mut token_start = true;
    let mut prev = b'\n';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' if space(prev) => {
                while i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' if depth > 0 && token_start => {
                i += 1;
                while i < bytes.len() {
                    match (b, bytes[i]) {
                        (b'"', b'\\') => i += 1,
                        (b'\'', b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 1,
                        (q, c) if q == c => break,
                        _ => {}
                    }
                    i += 1;
                }
                token_start = false;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > super::MAX_YAML_NESTING {
                    return Some(position(bytes, i));
                }
                token_start = true;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                token_start = false;
            }
            b',' => token_start = true,
            b':' | b'?' | b'-' => {
                let next = bytes.get(i + 1).copied().unwrap_or(b' ');
                token_start = space(next)
                    || matches!(next, b',' | b'[' | b']' | b'{' | b'}' | b'"' | b'\'')
                    || matches!(prev, b'"' | b'\'' | b']' | b'}');
            }
            c if space(c) => {}
            _ => token_start = false,
        }
        prev = bytes.get(i).copied().unwrap_or(b' ');
        i += 1;
    }
    None
}

/// Adds the line and column of its field to an error found after `bytes` were parsed (a web
/// configuration's missing key file, say), when the field is in the text.
pub fn place(error: ConfigError, bytes: &[u8]) -> ConfigError {
    match error {
        ConfigError::Syntax {
            file,
            line: None,
            column: None,
            path,
            message,
        } if path != "." => {
            let at = super::place::in_yaml(bytes, &path);
            ConfigError::Syntax {
                file,
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                path,
                message,
            }
        }
        other => other,
    }
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
    fn deep_flow_nesting_is_refused_before_parsing() {
        let deep = format!("subnets: {}", "[".repeat(100_000));
        let e = err(&deep);
        assert!(
            e.starts_with("lb.yaml:1:138: `[` and `{` nested more than 128 deep"),
            "{e}"
        );
        // Closers hidden in quoted scalars do not hide the depth.
        let quoted = format!("subnets: {}", "[ \"]\", ".repeat(200));
        assert!(err(&quoted).contains("nested more than 128 deep"));
        // Balanced brackets in strings and comments, and ordinary nesting, pass the scan.
        let fine = "subnets: [{id: \"a[\", cidr: 10.0.0.0/24}]  # ]]]]\nexpectations: [[]]\n";
        assert_eq!(nested_too_deep(fine), None);
        assert_eq!(nested_too_deep(&"[".repeat(128)), None);
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
}
