//! The importers' error: about one value of a dump file, named by its JSON path, or about a whole
//! file. The path travels as a field, so placing the error (line and column) never depends on
//! how its message reads.

use std::fmt;
use std::path::{Path, PathBuf};

use super::JsonFile;
use crate::{ConfigError, place, place_with};

/// A problem an importer found in what a dump says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportError {
    pub file: PathBuf,
    /// The JSON path of the value at fault (`Listeners[0].LoadBalancerArn`); `None` when the
    /// problem is the file as a whole.
    pub json_path: Option<String>,
    pub message: String,
}

impl ImportError {
    /// About the value at `json_path` of `file`.
    pub(crate) fn at(file: &Path, json_path: String, message: impl fmt::Display) -> Self {
        ImportError {
            file: file.to_path_buf(),
            json_path: Some(json_path),
            message: message.to_string(),
        }
    }

    /// About `file` as a whole.
    pub(crate) fn in_file(file: &Path, message: impl fmt::Display) -> Self {
        ImportError {
            file: file.to_path_buf(),
            json_path: None,
            message: message.to_string(),
        }
    }
}

/// An error about a value becomes a syntax error at its field path, which [`place_in_dump`] gives
/// a line and column; one about a file stays an import error.
impl From<ImportError> for ConfigError {
    fn from(e: ImportError) -> Self {
        match e.json_path {
            Some(path) => ConfigError::Syntax {
                file: e.file,
                line: None,
                column: None,
                path,
                message: e.message,
            },
            None => ConfigError::Import {
                file: e.file,
                message: e.message,
            },
        }
    }
}

/// Adds the line and column of its JSON path to an error about one value of a dump.
pub(super) fn place_in_dump(error: ConfigError, files: &[JsonFile]) -> ConfigError {
    place_with(error, |file, path| {
        files
            .iter()
            .find(|f| f.path == file)
            .and_then(|f| place::in_json(&f.bytes, path))
    })
}
