//! Security groups and address groups that rules reference but the dump lacks (another account's
//! group, an unexported prefix list) become empty placeholders, so the model's references
//! resolve: membership of a group is decided by which interfaces carry it, not by its rules, and
//! an empty address group matches no address.

use std::collections::{HashMap, HashSet};

use probe_model::{AddressGroup, Model, SecurityGroup};

/// How a provider's placeholders look. Each provider keeps what its users have always seen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placeholders {
    /// The name a placeholder is given: AWS `(not in the dump)`, Huawei none.
    pub name: Option<&'static str>,
    pub order: Order,
}

/// The order in which placeholders are appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// By id (AWS).
    ById,
    /// In the order the rules first reference them (Huawei).
    FirstReference,
}

/// What the security groups' rules reference and the model lacks, each id once, in the
/// [`Order`] of the placeholders.
#[derive(Debug, Default)]
pub(crate) struct Missing {
    /// Now placeholders.
    pub security_groups: Vec<String>,
    /// Now placeholders.
    pub address_groups: Vec<String>,
    /// In the model, but without addresses: a rule naming one matches no address.
    pub empty_address_groups: Vec<String>,
}

/// Appends a placeholder for every security group and address group a security-group rule
/// references and the model lacks; says which, and which referenced address groups are empty.
pub(crate) fn add_placeholders(model: &mut Model, style: &Placeholders) -> Missing {
    let missing = missing(model, style.order);
    let name = || style.name.map(str::to_string);
    model
        .security_groups
        .extend(missing.security_groups.iter().map(|id| SecurityGroup {
            id: id.clone(),
            name: name(),
            rules: Vec::new(),
        }));
    model
        .address_groups
        .extend(missing.address_groups.iter().map(|id| AddressGroup {
            id: id.clone(),
            name: name(),
            cidrs: Vec::new(),
        }));
    missing
}

fn missing(model: &Model, order: Order) -> Missing {
    let groups: HashSet<&str> = model
        .security_groups
        .iter()
        .map(|g| g.id.as_str())
        .collect();
    let lists: HashMap<&str, bool> = model
        .address_groups
        .iter()
        .map(|g| (g.id.as_str(), g.cidrs.is_empty()))
        .collect();
    let mut missing = Missing::default();
    for rule in model.security_groups.iter().flat_map(|g| &g.rules) {
        if let Some(g) = &rule.group
            && !groups.contains(g.as_str())
        {
            missing.security_groups.push(g.clone());
        }
        if let Some(l) = &rule.address_group {
            match lists.get(l.as_str()) {
                None => missing.address_groups.push(l.clone()),
                Some(true) => missing.empty_address_groups.push(l.clone()),
                Some(false) => {}
            }
        }
    }
    for ids in [
        &mut missing.security_groups,
        &mut missing.address_groups,
        &mut missing.empty_address_groups,
    ] {
        once_each(ids, order);
    }
    missing
}

/// Keeps the first of each id; sorted by id for [`Order::ById`].
fn once_each(ids: &mut Vec<String>, order: Order) {
    if order == Order::ById {
        ids.sort();
    }
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
}
