//! Objects with their origin, and the merge of objects of one kind read from several files.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::rc::Rc;

use super::ImportError;
use crate::Origins;

/// One object of a dump and where it came from, for errors and [`Origins`].
#[derive(Debug)]
pub(crate) struct Item<T> {
    pub file: Rc<Path>,
    /// The object's JSON path in its file: `SecurityGroups[2]`, `firewall`.
    pub path: String,
    pub value: T,
}

impl<T> Item<T> {
    /// The JSON path of `field` inside the object; `""` is the object itself.
    pub(crate) fn json_path(&self, field: &str) -> String {
        if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    /// An error about `field` of the object (`""`: the object itself).
    pub(crate) fn err(&self, field: &str, message: impl fmt::Display) -> ImportError {
        ImportError::at(&self.file, self.json_path(field), message)
    }

    /// Records that the model item at `model_path` came from this object.
    pub(crate) fn origin(&self, origins: &mut Origins, model_path: String) {
        origins.add(model_path, &self.file, self.path.clone());
    }

    /// Records that the model item at `model_path` came from `field` of this object.
    pub(crate) fn field_origin(&self, origins: &mut Origins, model_path: String, field: &str) {
        origins.add(model_path, &self.file, self.json_path(field));
    }
}

/// A kind of object a [`Collection`] holds: what messages call one ("security group").
pub(crate) trait Kind {
    const WHAT: &'static str;
}

/// Objects of one kind from every file, in file order. Dumps overlap (pages saved twice, a list
/// and a show response, two exports of one account), so an id seen again is kept once if both
/// copies are identical; if they differ, which one is current is unknown, and [`check`] says so.
///
/// [`check`]: Collection::check
#[derive(Debug)]
pub(crate) struct Collection<T> {
    /// The first copy of each id, and every object without one.
    items: Vec<Item<T>>,
    by_id: HashMap<String, usize>,
    /// The first copy that differs from the one kept.
    conflict: Option<ImportError>,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            items: Vec::new(),
            by_id: HashMap::new(),
            conflict: None,
        }
    }
}

impl<T: Kind + PartialEq> Collection<T> {
    /// Adds an object; `id: None` is always kept.
    pub(crate) fn push(&mut self, id: Option<&str>, item: Item<T>) {
        let Some(id) = id else {
            self.items.push(item);
            return;
        };
        match self.by_id.get(id) {
            Some(&i) => {
                let prev = &self.items[i];
                if prev.value != item.value && self.conflict.is_none() {
                    self.conflict = Some(item.err(
                        "",
                        format!(
                            "{} {id} differs from its copy at {} in {}; keep one dump of it",
                            T::WHAT,
                            prev.path,
                            prev.file.display()
                        ),
                    ));
                }
            }
            None => {
                self.by_id.insert(id.to_string(), self.items.len());
                self.items.push(item);
            }
        }
    }

    /// Adds every object of `items`, each under the id `id` gives it.
    pub(crate) fn extend(
        &mut self,
        items: impl IntoIterator<Item = Item<T>>,
        id: impl Fn(&T) -> Option<&str>,
    ) {
        for item in items {
            let key = id(&item.value).map(str::to_string);
            self.push(key.as_deref(), item);
        }
    }

    /// The first copy of an id that differs from the copy kept, if any.
    pub(crate) fn check(&self) -> Result<(), ImportError> {
        self.conflict.clone().map_or(Ok(()), Err)
    }
}

impl<T> Collection<T> {
    pub(crate) fn get(&self, id: &str) -> Option<&Item<T>> {
        self.index(id).and_then(|i| self.items.get(i))
    }

    /// The position of the object with `id` among [`Collection::iter`]'s.
    pub(crate) fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// One copy of each object, in the order first seen.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Item<T>> {
        self.items.iter()
    }
}
