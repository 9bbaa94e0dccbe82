//! Where a field path is in a YAML or JSON document, for the problems found after parsing (a
//! duplicate id, a reference to nothing, a value out of range).
//!
//! Neither parser keeps positions in the values it builds, but both put the position of the value
//! being read into an error raised while reading it. So the document is read again by a visitor
//! that walks down the path, skipping everything else, and fails at the value the path names; the
//! error's position is the answer. When the path goes further than the document (a field left to
//! its default), the deepest node that exists is named instead: for YAML, the start of the
//! mapping or sequence that lacks the field.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The line and column (both from 1) of `path` in a YAML document, or of its deepest existing
/// ancestor; `None` when the text does not parse that far.
pub(crate) fn in_yaml(bytes: &[u8], path: &str) -> Option<(usize, usize)> {
    let steps = steps(path)?;
    let de = serde_norway::Deserializer::from_slice(bytes);
    match Seek(&steps).deserialize(de) {
        Err(e) if marks_a_place(&e.to_string()) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The line and column of `path` in a JSON document: where the parser stood when it had read the
/// value (just past a scalar, at the first key of an object or the first item of an array).
/// When the path goes further than the document, the deepest node that exists is named: JSON
/// reports where a missing field was looked for at the end of its object, so the document is read
/// again for the parent.
pub(crate) fn in_json(bytes: &[u8], path: &str) -> Option<(usize, usize)> {
    let mut steps = steps(path)?;
    loop {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        match Seek(&steps).deserialize(&mut de) {
            Err(e) if e.line() == 0 => return None,
            Err(e) if e.to_string().contains(HERE) => return Some((e.line(), e.column())),
            Err(e) if e.to_string().contains(ABSENT) && !steps.is_empty() => {
                steps.pop();
            }
            _ => return None,
        }
    }
}

/// The message of the error that marks the place; never shown.
const HERE: &str = "<the place looked for>";
/// The message of the error raised where the path goes further than the document.
const ABSENT: &str = "<no further>";

fn marks_a_place(message: &str) -> bool {
    message.contains(HERE) || message.contains(ABSENT)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `backend_groups[0].members[1].port` → key, index, key, index, key. `.` and `` are the root.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            steps.push(Step::Index(inner[..end].parse().ok()?));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}

/// Walks down `steps`; always fails: with [`HERE`] at the place, [`ABSENT`] at the deepest node
/// when the path goes further, or with the parser's own error.
struct Seek<'a>(&'a [Step]);

impl Seek<'_> {
    /// At a scalar: the place, unless the path goes on.
    fn scalar<E: de::Error>(&self) -> E {
        if self.0.is_empty() { here() } else { absent() }
    }
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn here<E: de::Error>() -> E {
    E::custom(HERE)
}

fn absent<E: de::Error>() -> E {
    E::custom(ABSENT)
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(self.scalar())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self.0.split_first() {
            None => Err(here()),
            Some((Step::Key(want), rest)) => {
                while let Some(key) = map.next_key::<String>()? {
                    if &key == want {
                        // Seek always fails; a success means there was nothing to find.
                        map.next_value_seed(Seek(rest))?;
                        break;
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Err(absent())
            }
            Some((Step::Index(_), _)) => Err(absent()),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.0.split_first() {
            None => Err(here()),
            Some((Step::Index(want), rest)) => {
                for _ in 0..*want {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return Err(absent());
                    }
                }
                seq.next_element_seed(Seek(rest))?;
                Err(absent())
            }
            Some((Step::Key(_), _)) => Err(absent()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indices() {
        assert_eq!(
            steps("backend_groups[0].members[12].port"),
            Some(vec![
                Step::Key("backend_groups".into()),
                Step::Index(0),
                Step::Key("members".into()),
                Step::Index(12),
                Step::Key("port".into()),
            ])
        );
        assert_eq!(steps("."), Some(vec![]));
        assert_eq!(steps("a[0][1]").map(|s| s.len()), Some(3));
        assert_eq!(steps("a[x]"), None);
        assert_eq!(steps("a[0]b"), None);
    }

    const YAML: &str = "subnets:\n  - id: a\n    cidr: 10.0.0.0/24\n  - {id: b, cidr: 10.0.1.0/24}\nbackend_groups:\n  - name: web\n    members:\n      - address: 10.0.0.5\n";

    #[test]
    fn yaml_values_are_found_by_path() {
        let at = |p: &str| in_yaml(YAML.as_bytes(), p);
        assert_eq!(at("subnets[0].id"), Some((2, 9)));
        assert_eq!(at("subnets[1].id"), Some((4, 10)));
        assert_eq!(at("subnets[1]"), Some((4, 5)));
        assert_eq!(at("backend_groups[0].members[0].address"), Some((8, 18)));
    }

    #[test]
    fn a_missing_field_names_its_parent() {
        let at = |p: &str| in_yaml(YAML.as_bytes(), p);
        // The member has no port: the member's mapping.
        assert_eq!(at("backend_groups[0].members[0].port"), Some((8, 9)));
        // No third subnet: the list.
        assert_eq!(at("subnets[2].id"), Some((2, 3)));
        assert_eq!(at("agent.subnet"), Some((1, 1)));
    }

    #[test]
    fn a_missing_json_field_names_its_object() {
        let json = "{\n  \"Members\": [\n    {\n      \"Id\": \"m-1\"\n    }\n  ]\n}\n";
        let at = |p: &str| in_json(json.as_bytes(), p).map(|(line, _)| line);
        assert_eq!(at("Members[0].Id"), Some(4));
        assert_eq!(at("Members[0].Port"), Some(4));
        assert_eq!(at("Members[3].Port"), Some(3));
    }

    #[test]
    fn unparsable_text_has_no_place() {
        assert_eq!(in_yaml(b"a: [", "a[0]"), None);
        assert_eq!(in_json(b"{\"a\": [", "a[0]"), None);
    }

    #[test]
    fn json_values_are_found_by_path() {
        let json = "{\n  \"LoadBalancers\": [\n    {\"Name\": \"a\"},\n    {\n      \"Name\": \"b\",\n      \"SecurityGroups\": [\"sg-1\", \"sg-2\"]\n    }\n  ]\n}\n";
        let at = |p: &str| in_json(json.as_bytes(), p).map(|(line, _)| line);
        assert_eq!(at("LoadBalancers[0]"), Some(3));
        // An object is placed at its first key.
        assert_eq!(at("LoadBalancers[1]"), Some(5));
        assert_eq!(at("LoadBalancers[1].SecurityGroups[1]"), Some(6));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text, any path: an answer or none, never a panic.
        #[test]
        fn never_panics(text in "[\\[\\]{}:, \\-\"'a-z0-9\n#]{0,80}", path in "[a-z.\\[\\]0-9?]{0,20}") {
            let _ = in_yaml(text.as_bytes(), &path);
            let _ = in_json(text.as_bytes(), &path);
            let _ = crate::yaml::parse(text.as_bytes(), std::path::Path::new("p.yaml"));
            let _ = crate::JsonFile::new("p.json".into(), text.into_bytes());
        }
    }
}
