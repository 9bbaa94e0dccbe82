//! Classic Load Balancers (`aws elb describe-load-balancers`, key `LoadBalancerDescriptions`):
//! recognised, so a directory that holds them imports, but not modelled yet: each file is named in
//! a warning and left out.

use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;

use super::Dump;
use crate::ConfigError;
use crate::import::{DumpFile, Family};

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &["LoadBalancerDescriptions"],
    wrappers: &[],
    add,
};

/// The Classic keys of one file: only whether there are any.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    load_balancer_descriptions: Option<serde::de::IgnoredAny>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    if doc.load_balancer_descriptions.is_some() {
        dump.classic.push(Rc::clone(&file.path));
    }
    Ok(())
}

/// Warns about each file of Classic Load Balancers read since the last call, once its file is
/// known to import.
pub(super) fn warn_skipped(files: &mut Vec<Rc<Path>>) {
    for file in files.drain(..) {
        tracing::warn!(
            "{}: Classic Load Balancers (LoadBalancerDescriptions) are not imported yet; \
             they are left out of the model",
            file.display()
        );
    }
}
