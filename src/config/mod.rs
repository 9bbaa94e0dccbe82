//! Reading the expected configuration: the native YAML format and the providers' own JSON.
//!
//! This is the only module that reads configuration files. Parsing works on bytes and is pure;
//! the `load_*` functions add the file system. Every error names the file, the line and column
//! where the parser knows them, the field path (`backend_groups[0].members[1].port`), and the bad
//! value.
//!
//! | source                 | entry point                       | recognised by                      |
//! |------------------------|-----------------------------------|------------------------------------|
//! | native YAML            | [`load_yaml`] / [`yaml::parse`]   | `--config FILE`                    |
//! | AWS CLI JSON outputs   | [`aws::load_dir`]                 | each file's top-level key          |
//! | Huawei Cloud API JSON  | [`huawei::load_dir`]              | each file's top-level key          |
//! | agent web settings     | [`web::load`] / [`web::parse`]    | `--web.config.file FILE`           |

pub mod aws;
pub mod huawei;
pub mod web;
pub mod yaml;
pub mod yaml_nesting;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::model::{Model, ModelError};

/// Files larger than this are refused before they are read into memory.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

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
    #[error("{}", invalid(file, errors))]
    Invalid {
        file: PathBuf,
        errors: Vec<ModelError>,
    },
    /// An import directory problem that is not about one value.
    #[error("{file}: {message}")]
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
    if path.is_empty() || path == "." {
        format!("{s}: {message}")
    } else {
        format!("{s}: {path}: {message}")
    }
}

fn invalid(file: &Path, errors: &[ModelError]) -> String {
    let mut s = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&format!("{}: {e}", file.display()));
    }
    s
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
/// importers find the agent's own interface and security groups.
pub fn load(source: &Source, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    let model = match source {
        Source::Yaml(p) => load_yaml(p)?,
        Source::Aws(d) => aws::load_dir(d, agent_address)?,
        Source::Huawei(d) => huawei::load_dir(d, agent_address)?,
    };
    let file = source.path();
    let mut model = model;
    if let Some(a) = agent_address {
        model.agent.address = Some(a);
    }
    let errors = crate::model::validate(&model);
    if errors.is_empty() {
        Ok(model)
    } else {
        Err(ConfigError::Invalid {
            file: file.to_path_buf(),
            errors,
        })
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
    let bytes = read_file(path)?;
    yaml::parse(&bytes, path)
}

/// Reads a whole file, refusing directories and files over [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let io = |reason: String| ConfigError::Io {
        file: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(io("is a directory, not a file".to_string()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io(format!(
            "{} bytes is larger than the {} MiB a configuration file may have",
            meta.len(),
            MAX_FILE_BYTES >> 20
        )));
    }
    std::fs::read(path).map_err(|e| io(format!("cannot read: {e}")))
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
    /// Parses `bytes` enough to learn the top-level keys; the error names line and column.
    pub fn new(path: PathBuf, bytes: Vec<u8>) -> Result<Self, ConfigError> {
        let value: serde_json::Value = parse_json(&path, &bytes)?;
        let keys = match value {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => {
                return Err(ConfigError::Syntax {
                    file: path,
                    line: Some(1),
                    column: Some(1),
                    path: ".".to_string(),
                    message: format!(
                        "expected a JSON object at the top level, found {}",
                        json_kind(&other)
                    ),
                });
            }
        };
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

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Deserializes JSON bytes into `T`; errors carry the file, line, column and field path.
pub fn parse_json<T: DeserializeOwned>(file: &Path, bytes: &[u8]) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = strip_position(&inner.to_string());
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
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
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
    paths
        .into_iter()
        .map(|p| {
            let bytes = read_file(&p)?;
            JsonFile::new(p, bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json stops at 128 levels, before the stack does, and says where.
    #[test]
    fn deeply_nested_json_is_an_error_naming_the_place() {
        for text in [
            "[".repeat(100_000),
            format!("{{\"Subnets\": {}", "[".repeat(100_000)),
            format!("{{\"a\": {}", "{\"a\": ".repeat(100_000)),
        ] {
            let e = match JsonFile::new("dump.json".into(), text.into_bytes()) {
                Ok(f) => panic!("parsed: {:?}", f.keys),
                Err(e) => e.to_string(),
            };
            assert!(
                e.starts_with("dump.json:1:") && e.contains("recursion limit exceeded"),
                "{e}"
            );
        }
    }
}
