//! What the importers' unit tests share.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::{Dump, Importer, JsonFile};
use crate::config::{ConfigError, read_json_dir};
use crate::model::{Model, validate};

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
