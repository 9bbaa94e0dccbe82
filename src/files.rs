//! The file system: every file `probe` reads for its configuration (YAML configurations, dump
//! directories, web configurations and their PEM files, targets files) is read here, each with its
//! `Limit`, so that nothing larger is read into memory. Everything else in [`crate::config`] works on
//! the bytes read; this module and [`load_with_agent`]'s socket are its only I/O.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Input, JsonFile, Source};
use crate::model::Model;

/// How large a file of one kind may be. Files are refused before they are parsed: a regular file
/// by its size, a pipe after reading one byte more than the limit, so nothing larger is ever held
/// in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) bytes: u64,
    /// What the file is, for the message: "a YAML configuration file".
    pub(crate) what: &'static str,
}

/// The native YAML configuration and the agent's web configuration. serde_norway holds every
/// YAML event of a document in memory before deserializing it, up to ~70 bytes per input byte
/// for a file of one-character scalars; 16 MiB is ~300,000 backends in block style and at most
/// ~1 GiB while parsing.
pub(crate) const YAML_LIMIT: Limit = Limit {
    bytes: 16 << 20,
    what: "a YAML configuration file",
};

/// One JSON file of a provider dump. `describe-instances` of a large account runs to tens of MB;
/// JSON is deserialized as it is read, unknown fields skipped, so memory stays near the file's size.
pub(crate) const JSON_LIMIT: Limit = Limit {
    bytes: 64 << 20,
    what: "a provider dump (JSON) file",
};

/// All the JSON files of one provider dump directory together.
pub(crate) const DUMP_LIMIT: u64 = 256 << 20;

/// A targets file: 1,048,576 targets (the most one run probes) of up to ~60 characters.
pub(crate) const TARGETS_LIMIT: Limit = Limit {
    bytes: 64 << 20,
    what: "a targets file",
};

/// A certificate, key or CA file named by the web configuration.
pub(crate) const PEM_LIMIT: Limit = Limit {
    bytes: 16 << 20,
    what: "a PEM file",
};

/// Loads and validates a model from any source. `agent_address` (from `--source`) lets the
/// importers find the agent's own interface and security groups. Consistency problems are placed
/// in the file: line and column of the YAML value, or the dump file, JSON path, line and column
/// of the object an imported item came from. The reading is done here; [`crate::config::model_of`] does
/// the rest.
pub fn load(source: &Source, agent_address: Option<IpAddr>) -> Result<Model, ConfigError> {
    let input = match source {
        Source::Yaml(p) => Input::Yaml(read_file(p, YAML_LIMIT)?),
        Source::Aws(d) => Input::Aws(read_json_dir(d)?),
        Source::Huawei(d) => Input::Huawei(read_json_dir(d)?),
    };
    crate::config::model_of(source.path(), input, agent_address)
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

/// Reads a whole file of at most `limit` bytes, refusing directories. A regular file is refused
/// by its size before anything is read; anything else (a pipe, `/dev/stdin`) is read up to one
/// byte past the limit.
pub(crate) fn read_file(path: &Path, limit: Limit) -> Result<Vec<u8>, ConfigError> {
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
pub(crate) fn read_stdin(limit: Limit) -> Result<Vec<u8>, ConfigError> {
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

/// Reads every `*.json` file of an import directory, sorted by name. Other files are ignored, so
/// a README beside the dumps does no harm; a directory without JSON is an error.
pub(crate) fn read_json_dir(dir: &Path) -> Result<Vec<JsonFile>, ConfigError> {
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
}
