//! What the provider importers share: reading a dump file by file, merging what several files
//! say about one object, placing errors, and the placeholders for what a dump references but
//! lacks. Each provider (`aws/`, `huawei/`) is a [`Dump`] (every object read, by kind) and a table
//! of [`Family`]s, one per API family, each naming the top-level keys it reads and how it adds a
//! file's objects to the dump.
//!
//! | piece               | what it is                                                                 |
//! |---------------------|----------------------------------------------------------------------------|
//! | [`JsonFile`]        | one file's bytes and its top-level keys, by which a family recognises it   |
//! | [`DumpFile`]        | a file being added: parses it and names its objects' JSON paths            |
//! | [`Item`]            | an object and where it came from (file, JSON path), for errors and origins |
//! | [`Collection`]      | objects of one kind by id: a copy seen twice must be identical             |
//! | [`ImportError`]     | a problem with one value (its JSON path) or with a whole file              |
//! | [`add_placeholders`]| empty security groups and address groups for references the dump lacks    |
//!
//! An import is a pure function of the files' bytes ([`Importer::import`]): for each file, the
//! families that read one of its keys parse it and add its objects, then the dump checks what the
//! file added ([`Dump::check_file`]); once every file is read, the dump builds the model. Errors
//! that name a JSON path get the line and column of that value.

mod collection;
mod error;
mod json_file;
mod placeholders;
#[cfg(test)]
pub(crate) mod testing;

use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use serde::de::DeserializeOwned;

pub(crate) use collection::{Collection, Item, Kind};
pub(crate) use error::ImportError;
pub use json_file::JsonFile;
pub(crate) use placeholders::{Missing, Order, Placeholders, add_placeholders};

use super::{ConfigError, Origins};
use probe_model::Model;

/// One API family of a provider (ELB, VPC, EC2, ...): the top-level keys it reads and how a file
/// with any of them becomes objects of the dump.
pub(crate) struct Family<D> {
    /// The keys that recognise a file as this family's, in the order messages list them.
    pub keys: &'static [&'static str],
    /// Keys the family reads too that recognise nothing alone: the wrappers users add to say what
    /// a response belongs to (`TargetGroupArn`, `pool_id`).
    pub wrappers: &'static [&'static str],
    /// Parses the family's keys of the file and adds its objects to the dump. Fails only on what
    /// the file itself says; problems between objects are found by [`Dump::check_file`] and
    /// [`Dump::build`].
    pub add: fn(&mut D, &DumpFile<'_>) -> Result<(), ConfigError>,
}

impl<D> Family<D> {
    /// Whether the family reads any key of `file`.
    fn reads(&self, file: &JsonFile) -> bool {
        self.keys
            .iter()
            .chain(self.wrappers)
            .any(|k| file.has_key(k))
    }
}

/// Everything a provider read, by kind, until it becomes a model.
pub(crate) trait Dump: Default {
    /// Runs after each file is added: problems found by comparing the file with those before it.
    fn check_file(&mut self) -> Result<(), ImportError> {
        Ok(())
    }

    /// The model, and where each of its items came from (not validated: [`super::load`] does
    /// that).
    fn build(self, agent_address: Option<IpAddr>) -> Result<(Model, Origins), ImportError>;
}

/// A provider output that importers recognise but do not use (`aws ec2 describe-volumes`): a file
/// of one is skipped with a warning naming it, not refused as foreign.
pub(crate) struct Unused {
    /// The top-level key that recognises it.
    pub key: &'static str,
    /// The command that prints it, for the warning.
    pub command: &'static str,
}

/// A provider's importer: its families, and what it says of a file none of them reads.
pub(crate) struct Importer<D: 'static> {
    pub families: &'static [Family<D>],
    /// Outputs of the provider that no family reads and that are skipped, with a warning, rather
    /// than refused: users dump more than `probe` needs, and a known output is no mistake.
    pub unused: &'static [Unused],
    /// The message for a file whose top-level keys (`found`) no family reads; `known` lists the
    /// families' keys.
    pub unrecognised: fn(found: &[String], known: &[&str]) -> String,
}

impl<D: Dump> Importer<D> {
    /// [`Importer::import`] without the origins.
    pub(crate) fn model(
        &self,
        files: &[JsonFile],
        agent_address: Option<IpAddr>,
    ) -> Result<Model, ConfigError> {
        self.import(files, agent_address).map(|(model, _)| model)
    }

    /// Builds the model from dump files already in memory, and says which file and JSON path
    /// each of its items came from. Pure: no I/O.
    pub(crate) fn import(
        &self,
        files: &[JsonFile],
        agent_address: Option<IpAddr>,
    ) -> Result<(Model, Origins), ConfigError> {
        self.read_and_build(files, agent_address)
            .map_err(|e| error::place_in_dump(e, files))
    }

    fn read_and_build(
        &self,
        files: &[JsonFile],
        agent_address: Option<IpAddr>,
    ) -> Result<(Model, Origins), ConfigError> {
        let mut dump = D::default();
        for file in files {
            self.add(&mut dump, file)?;
            dump.check_file()?;
        }
        Ok(dump.build(agent_address)?)
    }

    /// Every key a family recognises a file by, in the families' order.
    fn keys(&self) -> Vec<&'static str> {
        self.families.iter().flat_map(|f| f.keys).copied().collect()
    }

    /// Adds one file through every family that reads one of its keys. A file that mixes families
    /// is parsed once by each; when several fail, the error reported is the first in the file,
    /// as one parse of the whole file would have found. A file with no key a family reads is
    /// skipped with a warning when it is a known output that `probe` does not use, and refused
    /// otherwise.
    fn add(&self, dump: &mut D, file: &JsonFile) -> Result<(), ConfigError> {
        let known = self.keys();
        if !known.iter().any(|k| file.has_key(k)) {
            if let Some(unused) = self.unused.iter().find(|u| file.has_key(u.key)) {
                tracing::warn!(
                    "{}: {} output of `{}`, which probe does not use: the file is skipped",
                    file.path.display(),
                    unused.key,
                    unused.command
                );
                return Ok(());
            }
            let message = (self.unrecognised)(&file.keys, &known);
            return Err(ImportError::in_file(&file.path, message).into());
        }
        let file = DumpFile::new(file);
        let mut first: Option<ConfigError> = None;
        for family in self.families.iter().filter(|f| f.reads(file.json)) {
            if let Err(e) = (family.add)(dump, &file)
                && first.as_ref().is_none_or(|f| position(&e) < position(f))
            {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Where a parse error is, for choosing the first of several; one without a place sorts last.
fn position(e: &ConfigError) -> (usize, usize) {
    match e {
        ConfigError::Syntax { line, column, .. } => {
            (line.unwrap_or(usize::MAX), column.unwrap_or(usize::MAX))
        }
        _ => (usize::MAX, usize::MAX),
    }
}

/// A file being added to a dump: parses it and gives its objects their file and JSON path.
pub(crate) struct DumpFile<'a> {
    pub json: &'a JsonFile,
    /// Shared by every object of the file.
    pub path: Rc<Path>,
}

impl<'a> DumpFile<'a> {
    fn new(json: &'a JsonFile) -> Self {
        DumpFile {
            json,
            path: Rc::from(json.path.as_path()),
        }
    }

    /// Deserializes the file into `T` (a family's keys, the others skipped), with field path,
    /// line and column on error.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.json.parse()
    }

    /// One object at `path`.
    pub(crate) fn item<T>(&self, path: String, value: T) -> Item<T> {
        Item {
            file: Rc::clone(&self.path),
            path,
            value,
        }
    }

    /// The objects of the list under `key`, each at `key[i]`.
    pub(crate) fn listed<T>(&self, key: &str, list: impl IntoIterator<Item = T>) -> Vec<Item<T>> {
        list.into_iter()
            .enumerate()
            .map(|(i, value)| self.item(format!("{key}[{i}]"), value))
            .collect()
    }
}
