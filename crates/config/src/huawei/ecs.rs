//! ECS: the servers behind load balancer members, for their security groups (ELB members carry
//! none).
//!
//! | top-level key          | call                                  | becomes                          |
//! |------------------------|---------------------------------------|----------------------------------|
//! | `servers` / `server`   | `ListServersDetails` (ECS v1)         | members' and agent's groups      |

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::values::{de, text};
use super::{Dump, responses};
use crate::ConfigError;
use crate::import::{Collection, DumpFile, Family, ImportError, Item, Kind};
use probe_model::SecurityGroup;

pub(super) const FAMILY: Family<Dump> = Family {
    keys: &["servers", "server"],
    wrappers: &[],
    add,
};

/// The ECS keys of one file.
#[derive(Debug, Default, Deserialize, PartialEq)]
struct Doc {
    #[serde(default, deserialize_with = "de::null_default")]
    servers: Vec<RawServer>,
    #[serde(default)]
    server: Option<RawServer>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let d: Doc = file.parse()?;
    let servers = responses(file, "server", d.servers, d.server);
    dump.servers.extend(servers, |s| Some(s.id.as_str()));
    Ok(())
}

/// ECS server (`GET /v1/{project_id}/cloudservers/detail`).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a server object")]
pub(super) struct RawServer {
    id: String,
    #[serde(default)]
    name: Option<String>,
    /// Network id → the server's addresses on it.
    #[serde(default, deserialize_with = "de::null_default")]
    addresses: HashMap<String, Vec<RawServerAddress>>,
    #[serde(default, deserialize_with = "de::null_default")]
    security_groups: Vec<RawServerGroup>,
}

impl Kind for RawServer {
    const WHAT: &str = "server";
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a server address object")]
struct RawServerAddress {
    #[serde(default, deserialize_with = "de::opt_ip")]
    addr: Option<IpAddr>,
    /// `fixed` (private) or `floating` (an EIP, not on the interface).
    #[serde(default, rename = "OS-EXT-IPS:type")]
    kind: Option<String>,
}

/// `name` is "the name or the UUID"; `id` is not always present.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(expecting = "a server group object")]
struct RawServerGroup {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Security groups of ECS servers, by server id and by private address.
#[derive(Debug, Default)]
pub(super) struct ServerIndex {
    by_id: HashMap<String, Vec<String>>,
    pub(super) by_address: HashMap<IpAddr, Vec<String>>,
}

impl ServerIndex {
    /// A server's groups must be in the security-group dump: `groups` are the dumped ones, the
    /// placeholders not added yet, since a missing group would otherwise read as one without
    /// rules.
    pub(super) fn build(
        items: &Collection<RawServer>,
        groups: &[SecurityGroup],
    ) -> Result<Self, ImportError> {
        let mut index = ServerIndex::default();
        for item in items.iter() {
            let s = &item.value;
            let ids = server_groups(item, groups)?;
            for a in s.addresses.values().flatten() {
                let floating = a.kind.as_deref() == Some("floating");
                if let (Some(addr), false) = (a.addr, floating) {
                    index.by_address.insert(addr, ids.clone());
                }
            }
            index.by_id.insert(s.id.clone(), ids);
        }
        Ok(index)
    }

    /// The groups of a member's server: by its ECS id, else by its address.
    pub(super) fn groups_for(&self, instance_id: Option<&str>, address: IpAddr) -> Vec<String> {
        instance_id
            .and_then(|id| self.by_id.get(id))
            .or_else(|| self.by_address.get(&address))
            .cloned()
            .unwrap_or_default()
    }
}

/// The ids of a server's security groups, each once. A group is named by id, or by "the name or
/// the UUID": an id first, then a name no other dumped group has.
fn server_groups(
    item: &Item<RawServer>,
    dumped: &[SecurityGroup],
) -> Result<Vec<String>, ImportError> {
    let s = &item.value;
    let label = match text(&s.name) {
        Some(n) => format!("server {n} ({})", s.id),
        None => format!("server {}", s.id),
    };
    let mut ids: Vec<String> = Vec::new();
    for (j, g) in s.security_groups.iter().enumerate() {
        let field = format!("security_groups[{j}]");
        let found: Vec<&SecurityGroup> = match (text(&g.id), text(&g.name)) {
            (Some(id), _) => dumped.iter().filter(|sg| sg.id == id).collect(),
            (None, Some(name)) => {
                let by_id: Vec<_> = dumped.iter().filter(|sg| sg.id == name).collect();
                if by_id.is_empty() {
                    dumped
                        .iter()
                        .filter(|sg| sg.name.as_deref() == Some(name))
                        .collect()
                } else {
                    by_id
                }
            }
            (None, None) => continue,
        };
        let wanted = text(&g.id).or(text(&g.name)).unwrap_or_default();
        match found.as_slice() {
            [sg] => {
                if !ids.contains(&sg.id) {
                    ids.push(sg.id.clone());
                }
            }
            [] => {
                return Err(item.err(
                    &field,
                    format!(
                        "{label} carries security group {wanted:?}, which is not in the \
                         security_groups dump"
                    ),
                ));
            }
            _ => {
                return Err(item.err(
                    &field,
                    format!(
                        "{label} carries security group {wanted:?}: several dumped groups \
                         have that name"
                    ),
                ));
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use crate::huawei::tests::import_err;
    use crate::import::testing::json_file as doc;

    #[test]
    fn server_groups_must_be_dumped() {
        let servers = r#"{"servers": [{"id": "i1", "name": "web", "addresses": {"net": [
            {"addr": "10.0.0.1", "OS-EXT-IPS:type": "fixed"}]},
            "security_groups": [{"name": "sg-missing"}]}]}"#;
        let err = import_err(&[doc("servers.json", servers)]);
        assert!(
            err.contains("servers[0].security_groups[0]") && err.contains("sg-missing"),
            "{err}"
        );
    }
}
