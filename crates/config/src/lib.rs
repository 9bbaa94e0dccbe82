//! Reading the expected configuration: the native YAML format and the providers' own JSON.
//!
//! Parsing works on bytes and is pure: the `probe` binary reads the files the user gives
//! (configurations, dumps), each with its limit, and hands their bytes to [`model_of`]. Every
//! error names the file, the line and
//! column, the field path (`backend_groups[0].members[1].port`), and the bad value. Problems found
//! after parsing (duplicate ids, references to nothing) are placed too: `place` reads the text
//! again up to the field, and an imported item remembers the dump file and JSON path it came from
//! (`Origins`).
//!
//! | source                 | entry point (pure)               | recognised by                      |
//! |------------------------|----------------------------------|------------------------------------|
//! | native YAML            | [`model_of`] ([`yaml::parse`])   | `--config FILE`                    |
//! | AWS CLI JSON outputs   | [`model_of`] ([`aws::import`])   | each file's top-level keys         |
//! | Huawei Cloud API JSON  | [`model_of`] ([`huawei::import`])| each file's top-level keys         |
//!
//! # Layout
//!
//! | module                     | what it holds                                                   |
//! |----------------------------|-----------------------------------------------------------------|
//! | [`yaml`], [`yaml_nesting`] | the native format, and the guard in front of its parser         |
//! | `import`                   | what the importers share: recognising files, merging copies, placeholders |
//! | [`aws`], [`huawei`]        | one importer per provider, one file per API family              |
//! | `place`                    | the line and column of a field path in YAML or JSON             |

pub mod aws;
pub mod huawei;
mod import;
mod place;
pub mod yaml;
pub mod yaml_nesting;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use import::JsonFile;

use probe_model::{Model, ModelError};

/// At most this many consistency problems are listed; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 20;

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {reason}")]
    Io { file: PathBuf, reason: String },
    /// A syntax or type error at a known place.
    #[error("{}", located(file, *line, *column, path, message))]
    Syntax {
        file: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        /// Field path, `.` for the document root.
        path: String,
        message: String,
    },
    /// The document parsed but does not make a consistent model.
    #[error("{}", invalid(errors, *more))]
    Invalid {
        /// The configuration file or the import directory.
        file: PathBuf,
        /// The first [`MAX_LISTED_PROBLEMS`] problems, in document order, each placed in its
        /// file.
        errors: Vec<Problem>,
        /// How many problems there are beyond those.
        more: usize,
    },
    /// An import directory problem that is not about one value.
    #[error("{}: {}", file.display(), clip(message, MAX_MESSAGE_CHARS))]
    Import { file: PathBuf, message: String },
}

fn located(
    file: &Path,
    line: Option<usize>,
    column: Option<usize>,
    path: &str,
    message: &str,
) -> String {
    let mut s = file.display().to_string();
    if let Some(l) = line {
        s.push_str(&format!(":{l}"));
        if let Some(c) = column {
            s.push_str(&format!(":{c}"));
        }
    }
    let message = clip(message, MAX_MESSAGE_CHARS);
    if path.is_empty() || path == "." {
        format!("{s}: {message}")
    } else {
        format!("{s}: {}: {message}", clip(path, MAX_PATH_CHARS))
    }
}

/// Longer messages are cut in the middle: a 1 MB value echoed in an error helps nobody.
const MAX_MESSAGE_CHARS: usize = 400;
/// Longer field paths are cut in the middle: 128 levels of `[0]` say no more than 20.
const MAX_PATH_CHARS: usize = 100;

/// `text` with its middle replaced by `…` when it has more than `max` characters; the end is
/// kept too, as it often says what was expected.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= max {
        return text.into();
    }
    let head = text
        .char_indices()
        .nth(max / 2)
        .map_or(text.len(), |(i, _)| i);
    let tail = text
        .char_indices()
        .rev()
        .nth((max / 2).saturating_sub(2))
        .map_or(0, |(i, _)| i);
    format!("{}…{}", &text[..head], &text[tail..]).into()
}

fn invalid(errors: &[Problem], more: usize) -> String {
    let mut lines: Vec<String> = errors.iter().map(Problem::to_string).collect();
    if more > 0 {
        lines.push(format!(
            "… and {more} more problem{}",
            if more == 1 { "" } else { "s" }
        ));
    }
    lines.join("\n")
}

/// One consistency problem of a model, placed where the user can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file to fix: the YAML file, or the dump file the item came from (the import directory
    /// when the importer made the item up).
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// For imports, the JSON path of the dump item the problem is in (`LoadBalancers[0]`); the
    /// model's field path in `error` then says which of its values is wrong. `None` for YAML,
    /// whose paths are the model's own.
    pub origin: Option<String>,
    pub error: ModelError,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match &self.origin {
            None => located(
                &self.file,
                self.line,
                self.column,
                &self.error.path,
                &self.error.message,
            ),
            Some(origin) => located(
                &self.file,
                self.line,
                self.column,
                origin,
                &format!(
                    "{} ({} of the imported configuration)",
                    self.error.message, self.error.path
                ),
            ),
        };
        f.write_str(&text)
    }
}

/// Where the items of an imported model came from, so that its consistency problems can be
/// placed in the dump: a model path (`load_balancers[0]`, `network_acls[1].inbound[3]`) → the
/// file and the JSON path of the object it was made from (`LoadBalancers[2]`,
/// `NetworkAcls[0].Entries[5]`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins(Vec<(String, PathBuf, String)>);

impl Origins {
    pub(crate) fn add(&mut self, model_path: String, file: &Path, json_path: String) {
        self.0.push((model_path, file.to_path_buf(), json_path));
    }

    /// The origin of the longest registered prefix of `path` (a whole path segment).
    pub(crate) fn find(&self, path: &str) -> Option<(&Path, &str)> {
        self.0
            .iter()
            .filter(|(p, _, _)| {
                path.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
            .max_by_key(|(p, _, _)| p.len())
            .map(|(_, f, j)| (f.as_path(), j.as_str()))
    }
}

/// Where the configuration comes from, as the command line names it.
#[derive(Debug, Clone)]
pub enum Source {
    Yaml(PathBuf),
    Aws(PathBuf),
    Huawei(PathBuf),
}

impl Source {
    /// The file or directory.
    pub fn path(&self) -> &Path {
        match self {
            Source::Yaml(p) | Source::Aws(p) | Source::Huawei(p) => p,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Yaml(p) => write!(f, "{}", p.display()),
            Source::Aws(p) => write!(f, "AWS directory {}", p.display()),
            Source::Huawei(p) => write!(f, "Huawei directory {}", p.display()),
        }
    }
}

/// What was read for a [`Source`]: the configuration's bytes, or a dump directory's files.
pub enum Input {
    Yaml(Vec<u8>),
    Aws(Vec<JsonFile>),
    Huawei(Vec<JsonFile>),
}

/// The model of what was read: parses or imports `input`, read from `path`, and validates the
/// model, placing each consistency problem in the file it comes from. Pure.
pub fn model_of(
    path: &Path,
    input: Input,
    agent_address: Option<IpAddr>,
) -> Result<Model, ConfigError> {
    let (mut model, placer) = match input {
        Input::Yaml(bytes) => {
            let model = yaml::parse(&bytes, path)?;
            (model, Placer::Yaml(bytes))
        }
        Input::Aws(files) => {
            let (model, origins) = aws::IMPORTER.import(&files, agent_address)?;
            (model, Placer::Import(files, origins))
        }
        Input::Huawei(files) => {
            let (model, origins) = huawei::IMPORTER.import(&files, agent_address)?;
            (model, Placer::Import(files, origins))
        }
    };
    if let Some(a) = agent_address {
        model.agent.address = Some(a);
    }
    let errors = probe_model::validate(&model);
    if errors.is_empty() {
        Ok(model)
    } else {
        Err(placer.invalid(path, errors))
    }
}

/// How [`load`] finds the place of a consistency problem in what it read.
enum Placer {
    /// The YAML text: the model's field paths are its paths.
    Yaml(Vec<u8>),
    /// The dump files, and where each model item came from.
    Import(Vec<JsonFile>, Origins),
}

/// Finding a place means parsing the file again up to it; files are parsed at most this many
/// bytes in all, so a huge file with many problems lists the later ones without a line.
const PLACING_BUDGET: usize = 32 << 20;

impl Placer {
    fn invalid(&self, source: &Path, errors: Vec<ModelError>) -> ConfigError {
        let more = errors.len().saturating_sub(MAX_LISTED_PROBLEMS);
        let mut budget = PLACING_BUDGET;
        let mut spend = |bytes: &[u8]| {
            let ok = budget >= bytes.len();
            budget = budget.saturating_sub(bytes.len());
            ok
        };
        let errors = errors
            .into_iter()
            .take(MAX_LISTED_PROBLEMS)
            .map(|error| match self {
                Placer::Yaml(bytes) => {
                    let at = if spend(bytes) {
                        place::in_yaml(bytes, &error.path)
                    } else {
                        None
                    };
                    Problem {
                        file: source.to_path_buf(),
                        line: at.map(|a| a.0),
                        column: at.map(|a| a.1),
                        origin: None,
                        error,
                    }
                }
                Placer::Import(files, origins) => match origins.find(&error.path) {
                    Some((file, json_path)) => {
                        let bytes = files.iter().find(|f| f.path == file).map(|f| &f.bytes[..]);
                        let at = bytes
                            .filter(|b| spend(b))
                            .and_then(|b| place::in_json(b, json_path));
                        Problem {
                            file: file.to_path_buf(),
                            line: at.map(|a| a.0),
                            column: at.map(|a| a.1),
                            origin: Some(json_path.to_string()),
                            error,
                        }
                    }
                    None => Problem {
                        file: source.to_path_buf(),
                        line: None,
                        column: None,
                        origin: None,
                        error,
                    },
                },
            })
            .collect();
        ConfigError::Invalid {
            file: source.to_path_buf(),
            errors,
            more,
        }
    }
}

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// `bytes` as text, or an error naming the line and the offset of the first byte that is not
/// UTF-8, and that byte.
pub fn utf8<'a>(bytes: &'a [u8], file: &Path) -> Result<&'a str, ConfigError> {
    // A byte order mark (Windows editors, PowerShell's `Out-File -Encoding utf8`) is not text.
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let before = &bytes[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        let byte = bytes.get(offset).copied().unwrap_or_default();
        ConfigError::Syntax {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            path: ".".to_string(),
            message: format!(
                "not UTF-8 text: byte 0x{byte:02x} at offset {offset} (a binary file?)"
            ),
        }
    })
}

/// Gives an error that names a field but no position the line and column `locate(file, path)`
/// finds, if it finds one.
pub(crate) fn place_with(
    error: ConfigError,
    locate: impl FnOnce(&Path, &str) -> Option<(usize, usize)>,
) -> ConfigError {
    match error {
        ConfigError::Syntax {
            file,
            line: None,
            column: None,
            path,
            message,
        } if path != "." => {
            let at = locate(&file, &path);
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

/// serde_json and serde_norway append " at line L column C"; the error already says where.
/// libyaml also puts one in the middle ("did not find expected ',' at line 9 column 1, while
/// parsing a flow mapping at line 8 column 14"); every copy goes.
pub(crate) fn strip_position(message: &str) -> String {
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let n = digits(after);
        match after[n..].strip_prefix(" column ") {
            Some(col) if n > 0 => rest = &col[digits(col)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    humane(&out)
}

/// serde names Rust's integer types; a configuration's reader knows ranges.
fn humane(message: &str) -> String {
    [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number"),
        ("expected i64", "expected a whole number"),
    ]
    .iter()
    .fold(message.to_string(), |m, (rust, plain)| {
        if m.ends_with(rust) {
            format!("{}{plain}", &m[..m.len() - rust.len()])
        } else {
            m
        }
    })
}

/// serde_path_to_error's path, without the `?` it gives a place it could not name.
pub(crate) fn field_path(path: String) -> String {
    let trimmed = path.trim_end_matches(".?").trim_end_matches('?');
    if trimmed.is_empty() {
        ".".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_in_the_middle() {
        assert_eq!(clip("short", 10), "short");
        let long = format!(
            "unknown field `{}`, expected one of `a`, `b`",
            "x".repeat(10_000)
        );
        let cut = clip(&long, 60);
        assert!(cut.chars().count() <= 61, "{cut}");
        assert!(cut.starts_with("unknown field `xxx"), "{cut}");
        assert!(cut.ends_with("expected one of `a`, `b`"), "{cut}");
    }

    #[test]
    fn a_byte_order_mark_is_not_text() {
        let text = utf8(b"\xef\xbb\xbf10.0.0.1:80\n", Path::new("t.txt")).expect("utf-8");
        assert_eq!(text, "10.0.0.1:80\n");
        let json = JsonFile::new(
            PathBuf::from("d.json"),
            b"\xef\xbb\xbf{\"Subnets\": []}".to_vec(),
        )
        .expect("a JSON dump with a byte order mark");
        assert_eq!(json.keys, ["Subnets"]);
    }

    #[test]
    fn not_utf8_names_line_column_and_byte() {
        let e = utf8(b"a: 1\nb: caf\xe9\n", Path::new("x.yaml")).expect_err("latin-1");
        assert_eq!(
            e.to_string(),
            "x.yaml:2:7: not UTF-8 text: byte 0xe9 at offset 11 (a binary file?)"
        );
    }
}
