//! What the importers' unit tests share.
#![allow(clippy::disallowed_methods)] // tests read their fixtures

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::{Dump, Importer, JsonFile};
use crate::ConfigError;
use probe_model::{Model, validate};

pub(crate) fn json_file(name: &str, text: &str) -> JsonFile {
    JsonFile::new(PathBuf::from(name), text.as_bytes().to_vec()).expect("valid JSON")
}

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

pub(crate) fn net(s: &str) -> IpNet {
    s.parse().expect("a CIDR")
}

/// The model of an import that must succeed and validate.
pub(crate) fn valid(imported: Result<Model, ConfigError>) -> Model {
    let model = imported.expect("imports");
    assert_eq!(validate(&model), vec![], "model does not validate");
    model
}

/// The message of an import that must fail.
pub(crate) fn failure(imported: Result<Model, ConfigError>) -> String {
    match imported {
        Ok(m) => panic!("expected an error, got {m:?}"),
        Err(e) => e.to_string(),
    }
}

/// Reads every JSON file of `dir` and builds the model.
pub(crate) fn load_dir<D: Dump>(
    importer: &Importer<D>,
    dir: &Path,
    agent_address: Option<IpAddr>,
) -> Result<Model, ConfigError> {
    importer.model(&read_json_dir(dir)?, agent_address)
}

/// The `*.json` files of a fixture directory, sorted by name, as the binary's reader returns them
/// (the crate itself reads no files: this is for its tests).
pub(crate) fn read_json_dir(dir: &Path) -> Result<Vec<JsonFile>, ConfigError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("fixture file");
            JsonFile::new(p, bytes)
        })
        .collect()
}

/// A path in the repository (fixtures, `probes/`), from this crate's tests.
pub(crate) fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}
