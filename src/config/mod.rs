//! Reading the expected configuration: the native YAML format and the providers' own JSON.
//!
//! This is the only module that reads files the user gives (configurations, dumps, web
//! configurations and their PEM files, targets files), each through [`read_file`] with its
//! [`Limit`]: nothing larger is read into memory. Parsing works on bytes and is pure; the `load_*`
//! functions add the file system. Every error names the file, the line and column, the field path
//! (`backend_groups[0].members[1].port`), and the bad value. Problems found after parsing
//! (duplicate ids, references to nothing) are placed too: [`place`] reads the text again up to the
//! field, and an imported item remembers the dump file and JSON path it came from ([`Origins`]).
//!
//! | source                 | entry point                       | recognised by                      |
//! |------------------------|-----------------------------------|------------------------------------|
//! | native YAML            | [`load_yaml`] / [`yaml::parse`]   | `--config FILE`                    |
//! | AWS CLI JSON outputs   | [`aws::load_dir`]                 | each file's top-level key          |
//! | Huawei Cloud API JSON  | [`huawei::load_dir`]              | each file's top-level key          |
//! | agent web settings     | [`web::load`] / [`web::parse`]    | `--web-config FILE`                |

pub mod aws;
pub mod huawei;
mod place;
pub mod web;
pub mod yaml;
pub mod yaml_nesting;

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::model::{Model, ModelError};

/// How large a file of one kind may be. Files are refused before they are parsed: a regular file
/// by its size, a pipe after reading one byte more than the limit, so nothing larger is ever held
/// in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What the file is, for the message: "a YAML configuration file".
    pub what: &'static str,
}

/// The native YAML configuration and the agent's web configuration. serde_norway holds every
/// YAML event of a document in memory before deserializing it, up to ~70 bytes per input byte
/// for a file of one-character scalars; 16 MiB is ~300,000 backends in block style and at most
/// ~1 GiB while parsing.
pub const YAML_LIMIT: Limit = Limit {
    bytes: 16 << 20,
    what: "a YAML configuration file",
};

/// One JSON file of a provider dump. `describe-instances` of a large account runs to tens of MB;
/// JSON is deserialized as it is read, unknown fields skipped, so memory stays near the file's size.
pub const JSON_LIMIT: Limit = Limit {
    bytes: 64 << 20,
    what: "a provider dump (JSON) file",
};

/// All the JSON files of one provider dump directory together.
pub const DUMP_LIMIT: u64 = 256 << 20;

/// A targets file: 1,048,576 targets (the most one run probes) of up to ~60 characters.
pub const TARGETS_LIMIT: Limit = Limit {
    bytes: 64 << 20,
    what: "a targets file",
};

/// A certificate, key or CA file named by the web configuration.
pub const PEM_LIMIT: Limit = Limit {
    bytes: 16 << 20,
    what: "a PEM file",
};

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
pub struct Origins(Vec<(String, PathBuf, String)>);

impl Origins {
    pub fn add(&mut self, model_path: String, file: &Path, json_path: String) {
        self.0.push((model_path, file.to_path_buf(), json_path));
    }

    /// The origin of the longest registered prefix of `path` (a whole path segment).
    pub fn find(&self, path: &str) -> Option<(&Path, &str)> {
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

/// Loads and validates a model from any source. `agent_address` (from `--source`) lets the
/// importers find the agent's own interface and security groups. Consistency problems are placed
/// in the file: line and column of the YAML value, or the dump file, JSON path, line and column
/// of the object an imported item came from.
pub fn load(source: &Source, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    let (mut model, placer) = match source {
        Source::Yaml(p) => {
            let bytes = read_file(p, YAML_LIMIT)?;
            let model = yaml::parse(&bytes, p)?;
            (model, Placer::Yaml(bytes))
        }
        Source::Aws(d) => {
            let files = read_json_dir(d)?;
            let (model, origins) = aws::import_with_origins(&files, agent_address)?;
            (model, Placer::Import(files, origins))
        }
        Source::Huawei(d) => {
            let files = read_json_dir(d)?;
            let (model, origins) = huawei::import_with_origins(&files, agent_address)?;
            (model, Placer::Import(files, origins))
        }
    };
    if let Some(a) = agent_address {
        model.agent.address = Some(a);
    }
    let errors = crate::model::validate(&model);
    if errors.is_empty() {
        Ok(model)
    } else {
        Err(placer.invalid(source.path(), errors))
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

/// [`load`], making sure the agent's address is known: given, in the configuration, or the
/// local address that routes to the first backend (found with a connected UDP socket; no packet
/// is sent). Importers run again with the detected address so they can find the agent's own
/// security groups.
pub fn load_with_agent(source: &Source, given: Option<IpAddr>) -> Result<Model, ConfigError> {
    let model = load(source, given)?;
    if model.agent.address.is_some() {
        return Ok(model);
    }
    let first = model
        .backend_groups
        .iter()
        .flat_map(|g| &g.members)
        .map(|m| m.address)
        .next();
    let Some(dst) = first else {
        return Ok(model);
    };
    let local = crate::probe::sys::local_address_for(dst).map_err(|e| ConfigError::Import {
        file: source.path().to_path_buf(),
        message: format!(
            "cannot find the local address that routes to {dst}: {e}; give --source-addr"
        ),
    })?;
    tracing::info!("agent address detected: {local}");
    match source {
        Source::Yaml(_) => {
            let mut model = model;
            model.agent.address = Some(local);
            Ok(model)
        }
        _ => load(source, Some(local)),
    }
}

/// Reads a native YAML file (not validated yet: [`load`] does that).
pub fn load_yaml(path: &Path) -> Result<Model, ConfigError> {
    let bytes = read_file(path, YAML_LIMIT)?;
    yaml::parse(&bytes, path)
}

/// Reads a whole file of at most `limit` bytes, refusing directories. A regular file is refused
/// by its size before anything is read; anything else (a pipe, `/dev/stdin`) is read up to one
/// byte past the limit.
pub fn read_file(path: &Path, limit: Limit) -> Result<Vec<u8>, ConfigError> {
    let io = |reason: String| ConfigError::Io {
        file: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| io(format!("cannot read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| io(format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(io("is a directory, not a file".to_string()));
    }
    if meta.is_file() && meta.len() > limit.bytes {
        return Err(io(too_large(Some(meta.len()), limit)));
    }
    read_bounded(file, limit).map_err(io)
}

/// Reads standard input, at most `limit` bytes; errors name it `<stdin>`.
pub fn read_stdin(limit: Limit) -> Result<Vec<u8>, ConfigError> {
    read_bounded(std::io::stdin().lock(), limit).map_err(|reason| ConfigError::Io {
        file: PathBuf::from("<stdin>"),
        reason,
    })
}

fn read_bounded(reader: impl Read, limit: Limit) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader
        .take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large(None, limit));
    }
    Ok(bytes)
}

/// "100.0 MiB is larger than the 64 MiB limit for a targets file"; `size` is `None` for a pipe,
/// whose size is known only once one byte past the limit was read.
fn too_large(size: Option<u64>, limit: Limit) -> String {
    match size {
        Some(n) => format!(
            "{:.1} MiB is larger than the {} MiB limit for {}",
            n as f64 / f64::from(1 << 20),
            limit.bytes >> 20,
            limit.what
        ),
        None => format!(
            "goes on past the {} MiB limit for {}",
            limit.bytes >> 20,
            limit.what
        ),
    }
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

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

/// An error about one value of a dump file, named by its JSON path; [`place_in_dump`] adds the
/// line and column.
pub(crate) fn dump_error(file: &Path, path: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Syntax {
        file: file.to_path_buf(),
        line: None,
        column: None,
        path,
        message: message.into(),
    }
}

/// Adds the line and column of its JSON path to an importer's error about one value.
pub(crate) fn place_in_dump(error: ConfigError, files: &[JsonFile]) -> ConfigError {
    place_with(error, |file, path| {
        files
            .iter()
            .find(|f| f.path == file)
            .and_then(|f| place::in_json(&f.bytes, path))
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

/// One JSON document of an import directory.
#[derive(Debug, Clone)]
pub struct JsonFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// The document's top-level keys, by which importers recognise it.
    pub keys: Vec<String>,
}

impl JsonFile {
    /// Parses `bytes` enough to learn the top-level keys (the values are skipped, not kept);
    /// the error names line and column.
    pub fn new(path: PathBuf, bytes: Vec<u8>) -> Result<Self, ConfigError> {
        // JSON has no byte order mark, but Windows tools write one: it is dropped, not an error.
        let bytes = match bytes.strip_prefix(BOM) {
            Some(rest) => rest.to_vec(),
            None => bytes,
        };
        utf8(&bytes, &path)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError::Syntax {
                file: path,
                line: None,
                column: None,
                path: ".".to_string(),
                message: "the file is empty: expected the JSON object a describe or list call \
                          prints"
                    .to_string(),
            });
        }
        let TopKeys(keys) = parse_json(&path, &bytes)?;
        Ok(JsonFile { path, bytes, keys })
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// Deserializes the document into `T`, with field path, line and column on error.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        parse_json(&self.path, &self.bytes)
    }
}

/// The top-level keys of a JSON object, its values skipped.
struct TopKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for TopKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = TopKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object at the top level")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(TopKeys(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// Deserializes JSON bytes into `T`; errors carry the file, line, column and field path.
pub fn parse_json<T: DeserializeOwned>(file: &Path, bytes: &[u8]) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = result.map_err(|e| {
        let path = field_path(e.path().to_string());
        let inner = e.into_inner();
        let mut message = strip_position(&inner.to_string());
        if inner.is_eof() {
            message.push_str(" (the file ends there: is it cut short?)");
        }
        ConfigError::Syntax {
            file: file.to_path_buf(),
            line: (inner.line() > 0).then_some(inner.line()),
            column: (inner.column() > 0).then_some(inner.column()),
            path,
            message,
        }
    })?;
    de.end().map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: Some(e.line()),
        column: Some(e.column()),
        path: ".".to_string(),
        message: strip_position(&e.to_string()),
    })?;
    Ok(value)
}

/// serde_json and serde_norway append " at line L column C"; the error already says where.
/// libyaml also puts one in the middle ("did not find expected ',' at line 9 column 1, while
/// parsing a flow mapping at line 8 column 14"); every copy goes.
fn strip_position(message: &str) -> String {
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
fn field_path(path: String) -> String {
    let trimmed = path.trim_end_matches(".?").trim_end_matches('?');
    if trimmed.is_empty() {
        ".".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Reads every `*.json` file of an import directory, sorted by name. Other files are ignored, so
/// a README beside the dumps does no harm; a directory without JSON is an error.
pub fn read_json_dir(dir: &Path) -> Result<Vec<JsonFile>, ConfigError> {
    let io = |reason: String| ConfigError::Io {
        file: dir.to_path_buf(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(format!("cannot read directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(format!("cannot read directory: {e}")))?;
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            && path.is_file()
        {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(io("no *.json files in the directory".to_string()));
    }
    let mut total: u64 = 0;
    paths
        .into_iter()
        .map(|p| {
            let bytes = read_file(&p, JSON_LIMIT)?;
            total += bytes.len() as u64;
            if total > DUMP_LIMIT {
                return Err(io(format!(
                    "its *.json files are larger than the {} MiB limit for a provider dump \
                     (the limit was passed at {})",
                    DUMP_LIMIT >> 20,
                    p.display()
                )));
            }
            JsonFile::new(p, bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Limit = Limit {
        bytes: 8,
        what: "a test file",
    };

    #[test]
    fn files_over_the_limit_are_refused_by_size_or_after_the_limit() {
        let dir = std::env::temp_dir().join(format!("probe-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("big.yaml");
        std::fs::write(&path, vec![b'x'; 3 << 20]).expect("write");
        let e = read_file(&path, TINY).expect_err("too big").to_string();
        assert!(
            e.ends_with("big.yaml: 3.0 MiB is larger than the 0 MiB limit for a test file"),
            "{e}"
        );
        std::fs::write(&path, b"12345678").expect("write");
        assert_eq!(read_file(&path, TINY).expect("at the limit"), b"12345678");
        assert!(
            read_file(&dir, TINY)
                .expect_err("a directory")
                .to_string()
                .contains("is a directory")
        );
        let _ = std::fs::remove_dir_all(&dir);
        // A stream of unknown size is read one byte past the limit, no further.
        let mut stream = std::io::Cursor::new(vec![b'x'; 1 << 20]);
        let e = read_bounded(&mut stream, TINY).expect_err("too long");
        assert_eq!(e, "goes on past the 0 MiB limit for a test file");
        assert_eq!(stream.position(), 9);
        assert_eq!(read_bounded(&b"1234"[..], TINY).expect("short"), b"1234");
    }

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

    /// serde_json stops at 128 levels, before the stack does, and says where.
    #[test]
    fn deeply_nested_json_is_an_error_naming_the_place() {
        // A top-level array is refused before its depth matters.
        let e = JsonFile::new("dump.json".into(), "[".repeat(100_000).into_bytes())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("expected a JSON object at the top level"), "{e}");
        // Cut short or closed, 100,000 levels end in an error that says where, never in a
        // stack overflow: values of unknown keys are skipped without recursion, known ones are
        // parsed under serde_json's limit of 128.
        for text in [
            format!("{{\"Subnets\": {}", "[".repeat(100_000)),
            format!("{{\"a\": {}", "{\"a\": ".repeat(100_000)),
            format!(
                "{{\"Subnets\": {}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        ] {
            let e = match JsonFile::new("dump.json".into(), text.into_bytes()) {
                Ok(f) => match f.parse::<serde_json::Value>() {
                    Ok(_) => "parsed".to_string(),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            assert!(
                e.starts_with("dump.json:1:")
                    && (e.contains("recursion limit exceeded") || e.contains("EOF while parsing")),
                "{e}"
            );
        }
    }
}
