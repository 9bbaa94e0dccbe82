//! One file of a provider dump: its bytes and its top-level keys, by which importers recognise
//! it, and the JSON parsing every importer uses.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::{BOM, ConfigError, field_path, strip_position, utf8};

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

    pub(crate) fn has_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// Deserializes the document into `T`, with field path, line and column on error.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
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
fn parse_json<T: DeserializeOwned>(file: &Path, bytes: &[u8]) -> Result<T, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
