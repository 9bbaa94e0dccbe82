//! Load balancer and target group attributes (`aws elbv2 describe-load-balancer-attributes`,
//! `aws elbv2 describe-target-group-attributes`, key `Attributes`).
//!
//! The CLI prints `{"Attributes": [{"Key": ..., "Value": ...}]}` and nothing that says whose they
//! are, so the dump wraps each output with its owner:
//! `{"LoadBalancerArn": "...", "Attributes": [...]}` or
//! `{"TargetGroupArn": "...", "Attributes": [...]}`, one output per file. Values are strings,
//! booleans included (`"true"`). Read:
//!
//! | owner        | key                                 | becomes                                   |
//! |--------------|-------------------------------------|-------------------------------------------|
//! | load balancer| `load_balancing.cross_zone.enabled` | `cross_zone`                              |
//! | target group | `load_balancing.cross_zone.enabled` | `cross_zone` (`use_load_balancer_configuration`: not set) |
//! | target group | `preserve_client_ip.enabled`        | `preserve_client_ip`                      |
//!
//! Every other key is ignored. A key the output lacks keeps AWS's default (the model's): cross-zone
//! on for an ALB, off for an NLB; client IP preservation as `BackendGroup::preserves_client_ip`
//! says. `describe-listener-attributes` (wrapped with `ListenerArn`) is recognised and skipped.

use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;

use super::super::Dump;
use crate::ConfigError;
use crate::import::{DumpFile, Family, ImportError, Item};
use probe_model::BackendGroup;

pub(in crate::aws) const FAMILY: Family<Dump> = Family {
    keys: &["Attributes"],
    wrappers: &["LoadBalancerArn", "TargetGroupArn", "ListenerArn"],
    add,
};

const CROSS_ZONE: &str = "load_balancing.cross_zone.enabled";
const PRESERVE_CLIENT_IP: &str = "preserve_client_ip.enabled";
/// A target group's cross-zone value that defers to its load balancer.
const USE_LB: &str = "use_load_balancer_configuration";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    attributes: Option<Vec<RawAttribute>>,
    load_balancer_arn: Option<String>,
    target_group_arn: Option<String>,
    listener_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "an attribute object with Key and Value")]
pub(super) struct RawAttribute {
    key: String,
    #[serde(default)]
    value: String,
}

/// Whose attributes a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::aws) enum Owner {
    LoadBalancer(String),
    TargetGroup(String),
}

/// One wrapped attributes output.
#[derive(Debug)]
pub(in crate::aws) struct AttributesFile {
    file: Rc<Path>,
    owner: Owner,
    attributes: Vec<Item<RawAttribute>>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    let Some(attributes) = doc.attributes else {
        return Ok(());
    };
    let owner = match (
        doc.load_balancer_arn,
        doc.target_group_arn,
        doc.listener_arn,
    ) {
        (Some(lb), None, None) => Owner::LoadBalancer(lb),
        (None, Some(tg), None) => Owner::TargetGroup(tg),
        (None, None, Some(listener)) => {
            tracing::warn!(
                "{}: attributes of listener {listener} (describe-listener-attributes), which \
                 probe does not use: skipped",
                file.path.display()
            );
            return Ok(());
        }
        (None, None, None) => {
            return Err(ImportError::in_file(
                &file.path,
                "attributes without a LoadBalancerArn or TargetGroupArn: the CLI does not say \
                 whose they are, so wrap the output of `aws elbv2 \
                 describe-load-balancer-attributes` as {\"LoadBalancerArn\": \"...\", \
                 \"Attributes\": [...]} and that of `describe-target-group-attributes` as \
                 {\"TargetGroupArn\": \"...\", \"Attributes\": [...]}, one per file",
            )
            .into());
        }
        _ => {
            return Err(ImportError::in_file(
                &file.path,
                "attributes with more than one of LoadBalancerArn, TargetGroupArn and \
                 ListenerArn: wrap each output with its own owner, one per file",
            )
            .into());
        }
    };
    let attributes = file.listed("Attributes", attributes);
    for a in &attributes {
        check_value(a, &owner)?;
    }
    // The same owner dumped twice must say the same; otherwise which is current is unknown.
    if let Some(prev) = dump.attributes.iter().find(|a| a.owner == owner) {
        let values = |a: &[Item<RawAttribute>]| -> Vec<RawAttribute> {
            a.iter().map(|i| i.value.clone()).collect()
        };
        if values(&prev.attributes) != values(&attributes) {
            return Err(ImportError::in_file(
                &file.path,
                format!(
                    "the attributes of {} differ from those in {}; keep one dump of them",
                    owner.arn(),
                    prev.file.display()
                ),
            )
            .into());
        }
        return Ok(());
    }
    dump.attributes.push(AttributesFile {
        file: Rc::clone(&file.path),
        owner,
        attributes,
    });
    Ok(())
}

/// The value of an attribute `probe` reads must be one AWS prints; checked as the file is read,
/// so the error names it whether or not its owner is in the dump.
fn check_value(a: &Item<RawAttribute>, owner: &Owner) -> Result<(), ImportError> {
    match (a.value.key.as_str(), owner) {
        (CROSS_ZONE, Owner::TargetGroup(_)) if a.value.value == USE_LB => Ok(()),
        (CROSS_ZONE, _) | (PRESERVE_CLIENT_IP, Owner::TargetGroup(_)) => boolean(a).map(|_| ()),
        _ => Ok(()),
    }
}

impl Owner {
    fn arn(&self) -> &str {
        match self {
            Owner::LoadBalancer(a) | Owner::TargetGroup(a) => a,
        }
    }
}

/// A `"true"`/`"false"` attribute.
fn boolean(item: &Item<RawAttribute>) -> Result<bool, ImportError> {
    match item.value.value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(item.err(
            "Value",
            format!(
                "{other:?} is not a value of {} (true or false)",
                item.value.key
            ),
        )),
    }
}

impl Dump {
    /// The attributes of `owner`, if dumped.
    fn attributes_of(&self, owner: &Owner) -> &[Item<RawAttribute>] {
        self.attributes
            .iter()
            .find(|a| &a.owner == owner)
            .map_or(&[], |a| a.attributes.as_slice())
    }

    /// An attributes file whose owner the dump does not describe: an error at its wrapper.
    pub(in crate::aws) fn check_attribute_owners(&self) -> Result<(), ImportError> {
        for a in &self.attributes {
            let (known, key, what) = match &a.owner {
                Owner::LoadBalancer(arn) => (
                    self.load_balancers.get(arn).is_some(),
                    "LoadBalancerArn",
                    "load balancer",
                ),
                Owner::TargetGroup(arn) => (
                    self.target_groups.get(arn).is_some(),
                    "TargetGroupArn",
                    "target group",
                ),
            };
            if !known {
                let listing = match key {
                    "LoadBalancerArn" => "describe-load-balancers output (LoadBalancers)",
                    _ => "describe-target-groups output (TargetGroups)",
                };
                return Err(ImportError::at(
                    &a.file,
                    key.to_string(),
                    format!("{what} {} is not in any {listing}", a.owner.arn()),
                ));
            }
        }
        Ok(())
    }

    /// A load balancer's `load_balancing.cross_zone.enabled`, if dumped.
    pub(super) fn lb_cross_zone(&self, arn: &str) -> Result<Option<bool>, ImportError> {
        let owner = Owner::LoadBalancer(arn.to_string());
        match self
            .attributes_of(&owner)
            .iter()
            .find(|a| a.value.key == CROSS_ZONE)
        {
            Some(a) => boolean(a).map(Some),
            None => Ok(None),
        }
    }

    /// A target group's cross-zone override and client IP preservation, if dumped.
    pub(super) fn apply_group_attributes(
        &self,
        arn: &str,
        group: &mut BackendGroup,
    ) -> Result<(), ImportError> {
        let owner = Owner::TargetGroup(arn.to_string());
        for a in self.attributes_of(&owner) {
            match a.value.key.as_str() {
                CROSS_ZONE if a.value.value == USE_LB => {
                    group.cross_zone = None;
                }
                CROSS_ZONE => group.cross_zone = Some(boolean(a)?),
                PRESERVE_CLIENT_IP => group.preserve_client_ip = Some(boolean(a)?),
                _ => {}
            }
        }
        Ok(())
    }
}
