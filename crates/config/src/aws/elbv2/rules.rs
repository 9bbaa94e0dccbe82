//! Listener rules (`aws elbv2 describe-rules`, key `Rules`): the target groups a listener
//! forwards to besides its default action's.
//!
//! `describe-rules` takes one listener per call and its output does not name it. The dump wraps
//! it as `{"ListenerArn": "...", "Rules": [...]}`; without the wrapper, the listener is read from
//! each rule's ARN (`…:listener-rule/app/NAME/LB/LISTENER/RULE` belongs to
//! `…:listener/app/NAME/LB/LISTENER`). The default rule (`IsDefault`) repeats the listener's
//! `DefaultActions` and is skipped. Each `forward` action's target groups become the listener's
//! `forwards`, with `rule` = the rule's priority and the weights of a weighted forward.

use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;

use super::super::Dump;
use super::{RawAction, forward_groups};
use crate::ConfigError;
use crate::import::{DumpFile, Family, ImportError, Item};

pub(in crate::aws) const FAMILY: Family<Dump> = Family {
    keys: &["Rules"],
    wrappers: &["ListenerArn"],
    add,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    rules: Option<Vec<RawRule>>,
    /// Not printed by the CLI: the dump adds it to say whose rules they are.
    listener_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(expecting = "a rule object")]
pub(super) struct RawRule {
    rule_arn: Option<String>,
    /// A number as a string, `"default"` for the default rule.
    priority: Option<String>,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    actions: Vec<RawAction>,
}

/// One `describe-rules` output.
#[derive(Debug)]
pub(in crate::aws) struct RulesFile {
    file: Rc<Path>,
    listener_arn: Option<String>,
    rules: Vec<Item<RawRule>>,
}

fn add(dump: &mut Dump, file: &DumpFile<'_>) -> Result<(), ConfigError> {
    let doc: Doc = file.parse()?;
    if let Some(rules) = doc.rules {
        dump.rules.push(RulesFile {
            file: Rc::clone(&file.path),
            listener_arn: doc.listener_arn,
            rules: file.listed("Rules", rules),
        });
    }
    Ok(())
}

/// The listener a rule's ARN belongs to.
fn listener_of(rule_arn: &str) -> Option<String> {
    let (head, tail) = rule_arn.split_once(":listener-rule/")?;
    let (listener, _rule) = tail.rsplit_once('/')?;
    Some(format!("{head}:listener/{listener}"))
}

impl RawRule {
    /// Its priority as a number, for ordering; the default rule, and anything unreadable, last.
    fn order(&self) -> u32 {
        self.priority
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(u32::MAX)
    }
}

impl Dump {
    /// The rules of the listener `arn`, by priority, default rules left out.
    fn rules_of(&self, arn: &str) -> Vec<&Item<RawRule>> {
        let mut out: Vec<&Item<RawRule>> = self
            .rules
            .iter()
            .flat_map(|f| {
                f.rules.iter().filter(move |r| {
                    let owner = f
                        .listener_arn
                        .clone()
                        .or_else(|| r.value.rule_arn.as_deref().and_then(listener_of));
                    owner.as_deref() == Some(arn) && !r.value.is_default
                })
            })
            .collect();
        out.sort_by_key(|r| r.value.order());
        out
    }

    /// The groups the rules of listener `arn` forward to: (name, weight, rule priority).
    pub(super) fn rule_forwards(
        &self,
        arn: &str,
    ) -> Result<Vec<(String, Option<u32>, String)>, ImportError> {
        let mut out = Vec::new();
        for r in self.rules_of(arn) {
            let priority = r.value.priority.clone().unwrap_or_default();
            for (target, weight) in forward_groups(&r.value.actions) {
                let name = self.group_name(target, r, "Actions")?;
                out.push((name, weight, priority.clone()));
            }
        }
        Ok(out)
    }

    /// Rules whose listener the dump does not have: an error at the wrapper, or at the rule
    /// whose ARN names it; a bare file whose rules have no ARN cannot be placed at all.
    pub(super) fn check_rules(&self) -> Result<(), ImportError> {
        let known = |arn: &str| {
            self.listeners
                .iter()
                .any(|l| l.value.listener_arn.as_deref() == Some(arn))
        };
        for f in &self.rules {
            if let Some(arn) = &f.listener_arn {
                if !known(arn) {
                    return Err(ImportError::at(
                        &f.file,
                        "ListenerArn".to_string(),
                        format!(
                            "listener {arn} is not in any describe-listeners output (Listeners)"
                        ),
                    ));
                }
                continue;
            }
            for r in &f.rules {
                match r.value.rule_arn.as_deref().map(|a| (a, listener_of(a))) {
                    Some((_, Some(listener))) if known(&listener) => {}
                    Some((_, Some(listener))) => {
                        return Err(r.err(
                            "RuleArn",
                            format!(
                                "listener {listener} is not in any describe-listeners output \
                                 (Listeners)"
                            ),
                        ));
                    }
                    Some((arn, None)) => {
                        return Err(r.err(
                            "RuleArn",
                            format!(
                                "{arn:?} is not a listener rule ARN, and the file has no \
                                 ListenerArn: wrap the output of `aws elbv2 describe-rules` as \
                                 {{\"ListenerArn\": \"...\", \"Rules\": [...]}}"
                            ),
                        ));
                    }
                    None => {
                        return Err(r.err(
                            "",
                            "a rule without RuleArn, and the file has no ListenerArn: wrap the \
                             output of `aws elbv2 describe-rules` as \
                             {\"ListenerArn\": \"...\", \"Rules\": [...]}",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::listener_of;

    #[test]
    fn a_rule_arn_names_its_listener() {
        assert_eq!(
            listener_of(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/5f3c/9a8b/1c2d"
            )
            .as_deref(),
            Some("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/5f3c/9a8b")
        );
        assert_eq!(
            listener_of("arn:aws:elasticloadbalancing:listener/app/x/1/2"),
            None
        );
    }
}
