//! Fix features: what a fix planned after a failed round must address (every finding of one
//! group, each group once), checked against the contract and the plan so far.

use std::collections::{BTreeMap, BTreeSet};

use super::contract::{check_ids, Contract, Feature, Table, Violation};
use super::findings::FindingGroup;
use super::ids::{FeatureId, MilestoneId};

/// Checks fix features written after a failed round of `milestone`. `existing` is the plan so
/// far, `accepted` the fix features this planning run already had accepted, `groups` the open
/// blocking findings grouped by what they concern. Each fix feature addresses every finding of
/// exactly one group, and no group gets two fixes: fixes are planned per feature, not per
/// finding. A fix spanning the groups of two features is refused too, because it would leave
/// unclear which feature a fix that fails again is redone for.
pub fn validate_fix_features(
    contract: &Contract,
    existing: &[Feature],
    milestone: &MilestoneId,
    groups: &[FindingGroup],
    accepted: &[Feature],
    fixes: &[Feature],
) -> Vec<Violation> {
    let mut out = Vec::new();
    if fixes.is_empty() {
        out.push(Violation::new(
            Table::Feature,
            None,
            "id",
            "write at least one fix feature",
        ));
    }
    check_ids(
        Table::Feature,
        fixes.iter().map(|f| f.id.as_str()),
        &mut out,
    );
    // Which fix feature took each group, by the group's index.
    let mut taken: BTreeMap<usize, &FeatureId> = BTreeMap::new();
    for fix in accepted {
        if let Some(index) = group_of(groups, fix) {
            taken.insert(index, &fix.id);
        }
    }
    for (index, feature) in fixes.iter().enumerate() {
        if existing.iter().chain(accepted).any(|f| f.id == feature.id) {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "id",
                format!(
                    "feature `{}` already exists; fix features need new ids",
                    feature.id
                ),
            ));
        }
        if &feature.milestone != milestone {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "milestone",
                format!("fix features belong to the failing milestone `{milestone}`"),
            ));
        }
        if feature.title.trim().is_empty() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "title",
                "title must not be empty",
            ));
        }
        if feature.addresses.is_empty() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "addresses",
                "a fix feature names the findings it resolves: every open finding of one group",
            ));
        }
        let mut touched: BTreeSet<usize> = BTreeSet::new();
        for finding in &feature.addresses {
            match groups
                .iter()
                .position(|g| g.ids().contains(finding.as_str()))
            {
                Some(group) => {
                    touched.insert(group);
                }
                None => out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "addresses",
                    format!("`{finding}` is not an open finding"),
                )),
            }
        }
        if touched.len() > 1 {
            let names: Vec<String> = touched
                .iter()
                .map(|&g| groups[g].concern.to_string())
                .collect();
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "addresses",
                format!(
                    "the findings of {} are separate groups; write one fix feature per group",
                    names.join(" and ")
                ),
            ));
        }
        if let [group] = touched.iter().copied().collect::<Vec<_>>()[..] {
            let missing: Vec<&str> = groups[group]
                .findings
                .iter()
                .map(|f| f.id.as_str())
                .filter(|id| !feature.addresses.iter().any(|a| a == id))
                .collect();
            if !missing.is_empty() {
                out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "addresses",
                    format!(
                        "a fix feature addresses every open finding of its group; the group of {} also has {}",
                        groups[group].concern,
                        missing.join(", ")
                    ),
                ));
            }
            if let Some(other) = taken.insert(group, &feature.id) {
                out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "addresses",
                    format!(
                        "the findings of {} are already addressed by fix feature `{other}`",
                        groups[group].concern
                    ),
                ));
            }
        }
        for assertion_id in &feature.fulfils {
            if contract.assertion(assertion_id).is_none() {
                out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "fulfils",
                    format!("unknown assertion `{assertion_id}`"),
                ));
            }
        }
    }
    out
}

/// The group a fix feature addresses (the first one it names a finding of).
fn group_of(groups: &[FindingGroup], fix: &Feature) -> Option<usize> {
    fix.addresses
        .iter()
        .find_map(|id| groups.iter().position(|g| g.ids().contains(id.as_str())))
}

/// The groups no fix feature in `fixes` addresses, in order.
pub fn unaddressed_groups<'a>(
    groups: &'a [FindingGroup],
    fixes: &[Feature],
) -> Vec<&'a FindingGroup> {
    let addressed: BTreeSet<usize> = fixes.iter().filter_map(|f| group_of(groups, f)).collect();
    groups
        .iter()
        .enumerate()
        .filter(|(index, _)| !addressed.contains(index))
        .map(|(_, group)| group)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::contract::parse_reference;
    use crate::spec::contract::tests::GOOD;

    fn fix(id: &str, addresses: &[&str]) -> Feature {
        Feature {
            id: id.into(),
            milestone: "m1".into(),
            title: "fix".into(),
            description: String::new(),
            fulfils: vec![],
            test_command: None,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn group(concern: crate::spec::Concern, ids: &[&str]) -> FindingGroup {
        FindingGroup {
            concern,
            findings: ids
                .iter()
                .map(|id| crate::spec::Finding {
                    id: id.to_string(),
                    milestone: "m1".into(),
                    round: 1,
                    feature: None,
                    assertion: None,
                    source: crate::spec::FindingSource::Scrutiny,
                    severity: crate::spec::Severity::Blocking,
                    title: "t".into(),
                    detail: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn fix_features_address_whole_groups_once() {
        use crate::spec::Concern;
        let reference = parse_reference(Path::new("c.toml"), GOOD).unwrap();
        let contract = reference.contract();
        let groups = vec![
            group(Concern::Feature("f1".into()), &["F1", "F2"]),
            group(Concern::Milestone("m1".into()), &["F3"]),
        ];
        let check = |accepted: &[Feature], fixes: &[Feature]| -> Vec<String> {
            validate_fix_features(
                &contract,
                &reference.features,
                &"m1".into(),
                &groups,
                accepted,
                fixes,
            )
            .iter()
            .map(ToString::to_string)
            .collect()
        };
        assert!(check(&[], &[fix("x1", &["F1", "F2"]), fix("x2", &["F3"])]).is_empty());
        assert_eq!(
            check(&[], &[fix("x1", &["F1"])]),
            vec!["features[0].addresses: a fix feature addresses every open finding of its group; the group of feature `f1` also has F2"]
        );
        assert_eq!(
            check(&[], &[fix("x1", &["F1", "F2", "F3"])]),
            vec!["features[0].addresses: the findings of feature `f1` and milestone `m1` are separate groups; write one fix feature per group"]
        );
        assert_eq!(
            check(&[fix("x1", &["F1", "F2"])], &[fix("x2", &["F2", "F1"])]),
            vec!["features[0].addresses: the findings of feature `f1` are already addressed by fix feature `x1`"]
        );
        assert_eq!(
            check(&[fix("x1", &["F3"])], &[fix("x1", &["F1", "F2"])]),
            vec!["features[0].id: feature `x1` already exists; fix features need new ids"]
        );
        assert_eq!(
            check(&[], &[fix("x1", &["F9"])]),
            vec!["features[0].addresses: `F9` is not an open finding"]
        );
        let accepted = [fix("x1", &["F3"])];
        let left: Vec<String> = unaddressed_groups(&groups, &accepted)
            .iter()
            .map(|g| g.concern.to_string())
            .collect();
        assert_eq!(left, vec!["feature `f1`"]);
    }
}
