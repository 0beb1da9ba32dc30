//! Model selection the way papers pick hyperparameters: choose, per group, the
//! combination of some axes (e.g. `lr`) with the best mean on one split (`val`), then
//! report the records of another split (`test`) for that choice only.

use std::collections::{BTreeMap, BTreeSet};

use crate::ReportError;
use crate::order::{compare_label_tuples, suggest};
use crate::table::{ABSENT_LABEL, Better, ResultRecord};

/// What to select on and what to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The metric the choice is made by, e.g. `w2`.
    pub by: String,
    /// The column that names the split of a record, usually `split`.
    pub split_column: String,
    /// The split the choice is made on, e.g. `val`.
    pub select_split: String,
    /// The split whose records are reported, e.g. `test`.
    pub report_split: String,
    /// The axes to choose, e.g. `["lr"]`.
    pub over: Vec<String>,
    /// Which direction of `by` is better.
    pub better: Better,
}

/// The choice made for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The group: every axis of the selection records except the chosen, pooled and split
    /// ones, as (name, label), sorted by name.
    pub group: Vec<(String, String)>,
    /// The chosen label of each `over` axis, in the order of `Selection::over`.
    pub chosen: Vec<(String, String)>,
    /// The mean of `by` over the pooled axes for the chosen combination.
    pub by_mean: f64,
    /// How many combinations of the `over` labels the group had.
    pub candidates: usize,
}

/// The result of [`select`].
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The reported records (every metric) of the chosen combinations, in input order;
    /// the `over` axes and the split column are no longer axes (still columns).
    pub records: Vec<ResultRecord>,
    /// One choice per group, sorted by group labels.
    pub choices: Vec<Choice>,
}

/// `name=label name=label ...`, or `(all records)` for the empty group.
fn describe(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        "(all records)".to_string()
    } else {
        pairs
            .iter()
            .map(|(n, l)| format!("{n}={l}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A group's (axis, label) pairs.
type Group = Vec<(String, String)>;

/// The `by` values (and their instances) of one candidate, by pooled labels.
type Runs<'a> = BTreeMap<Vec<String>, (f64, &'a str)>;

fn label<'a>(record: &'a ResultRecord, name: &str) -> &'a str {
    record
        .columns
        .get(name)
        .map(String::as_str)
        .unwrap_or(ABSENT_LABEL)
}

/// Chooses, per group, the `selection.over` labels with the best mean `selection.by` on
/// `selection.select_split`, and returns the `selection.report_split` records of those
/// choices.
///
/// * The selection records are those whose `split_column` label is `select_split` and
///   whose metric is `by`. They are grouped by every axis label except the `over` axes,
///   the `pooled` axes (averaged away, e.g. seeds) and the split column.
/// * Within a group, `by` is averaged over the pooled axes for each combination of `over`
///   labels; the combination with the best mean wins. Ties go to the first combination
///   in [`compare_label_tuples`] order; a non-finite mean never wins, so a group whose
///   candidates are all non-finite has no choice and reports nothing.
/// * The result holds every record (of any metric) whose split is `report_split`, whose
///   group has a choice and whose `over` labels equal it, with the `over` names and the
///   split column removed from its `axes` (they stay in `columns`).
///
/// Errors: `by` is no record's metric ([`ReportError::UnknownMetric`]); no selection
/// record ([`ReportError::NoSelectionRecords`]); an `over` name is not an axis of the
/// selection records ([`ReportError::UnknownSelectionAxis`]); two selection records of
/// one group agree on every `over` and pooled label ([`ReportError::DuplicateRecord`]);
/// a group with a choice has no report record for it ([`ReportError::NoReportRecords`]).
pub fn select(
    records: &[ResultRecord],
    selection: &Selection,
    pooled: &[String],
) -> Result<Selected, ReportError> {
    let metrics: BTreeSet<&str> = records.iter().map(|r| r.metric.as_str()).collect();
    if !metrics.contains(selection.by.as_str()) {
        let available: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
        return Err(ReportError::UnknownMetric {
            name: selection.by.clone(),
            suggestions: suggest(&selection.by, &available),
            available,
        });
    }
    let of_metric = || records.iter().filter(|r| r.metric == selection.by);
    let selecting: Vec<&ResultRecord> = of_metric()
        .filter(|r| r.columns.get(&selection.split_column) == Some(&selection.select_split))
        .collect();
    if selecting.is_empty() {
        let mut available: Vec<String> = of_metric()
            .filter_map(|r| r.columns.get(&selection.split_column).cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        available.sort_by(|a, b| crate::compare_labels(a, b));
        return Err(ReportError::NoSelectionRecords {
            split_column: selection.split_column.clone(),
            split: selection.select_split.clone(),
            metric: selection.by.clone(),
            available,
        });
    }
    let axes: BTreeSet<&str> = selecting
        .iter()
        .flat_map(|r| r.axes.iter().map(String::as_str))
        .collect();
    for name in &selection.over {
        if !axes.contains(name.as_str()) {
            let available: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
            return Err(ReportError::UnknownSelectionAxis {
                name: name.clone(),
                split: selection.select_split.clone(),
                metric: selection.by.clone(),
                suggestions: suggest(name, &available),
                available,
            });
        }
    }
    let is_group_axis = |axis: &str| {
        axis != selection.split_column
            && !selection.over.iter().any(|o| o == axis)
            && !pooled.iter().any(|p| p == axis)
    };
    let group_axes: Vec<&str> = axes.iter().copied().filter(|a| is_group_axis(a)).collect();
    let group_of = |record: &ResultRecord| -> Vec<(String, String)> {
        group_axes
            .iter()
            .map(|a| (a.to_string(), label(record, a).to_string()))
            .collect()
    };
    let over_of = |record: &ResultRecord| -> Vec<String> {
        selection
            .over
            .iter()
            .map(|o| label(record, o).to_string())
            .collect()
    };

    // group -> over labels -> pooled labels -> value.
    let mut groups: BTreeMap<Group, BTreeMap<Vec<String>, Runs>> = BTreeMap::new();
    for record in &selecting {
        let runs = groups
            .entry(group_of(record))
            .or_default()
            .entry(over_of(record))
            .or_default();
        let pooled_labels: Vec<String> = pooled
            .iter()
            .map(|p| label(record, p).to_string())
            .collect();
        if let Some((_, first)) =
            runs.insert(pooled_labels, (record.value, record.instance.as_str()))
        {
            return Err(ReportError::DuplicateRecord {
                cell: describe(&group_of(record)),
                first_instance: first.to_string(),
                second_instance: record.instance.clone(),
                detail: format!(
                    "are both the `{}` = `{}` result of `{}` for {}",
                    selection.split_column,
                    selection.select_split,
                    selection.by,
                    selection
                        .over
                        .iter()
                        .chain(pooled)
                        .map(|n| format!("{n}={}", label(record, n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }

    let mut choices: Vec<Choice> = Vec::new();
    for (group, candidates) in &groups {
        let mut ordered: Vec<(&Vec<String>, f64)> = candidates
            .iter()
            .map(|(over, runs)| {
                let sum: f64 = runs.values().map(|(value, _)| value).sum();
                (over, sum / runs.len() as f64)
            })
            .collect();
        ordered.sort_by(|a, b| compare_label_tuples(a.0, b.0));
        let mut best: Option<(&Vec<String>, f64)> = None;
        for (over, mean) in ordered {
            if !mean.is_finite() {
                continue;
            }
            if best.is_none_or(|(_, best_mean)| selection.better.beats(mean, best_mean)) {
                best = Some((over, mean));
            }
        }
        if let Some((over, by_mean)) = best {
            choices.push(Choice {
                group: group.clone(),
                chosen: selection.over.iter().cloned().zip(over.clone()).collect(),
                by_mean,
                candidates: candidates.len(),
            });
        }
    }
    choices.sort_by(|a, b| {
        let labels = |c: &Choice| c.group.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>();
        compare_label_tuples(&labels(a), &labels(b))
    });

    let chosen: BTreeMap<Vec<(String, String)>, Vec<String>> = choices
        .iter()
        .map(|c| {
            (
                c.group.clone(),
                c.chosen.iter().map(|(_, l)| l.clone()).collect(),
            )
        })
        .collect();
    let mut reported: Vec<ResultRecord> = Vec::new();
    let mut groups_reported: BTreeSet<Vec<(String, String)>> = BTreeSet::new();
    for record in records {
        if record.columns.get(&selection.split_column) != Some(&selection.report_split) {
            continue;
        }
        let group = group_of(record);
        if chosen.get(&group) != Some(&over_of(record)) {
            continue;
        }
        let mut kept = record.clone();
        kept.axes
            .retain(|a| *a != selection.split_column && !selection.over.contains(a));
        reported.push(kept);
        groups_reported.insert(group);
    }
    if let Some(missing) = choices.iter().find(|c| !groups_reported.contains(&c.group)) {
        return Err(ReportError::NoReportRecords {
            group: describe(&missing.group),
            chosen: describe(&missing.chosen),
            split_column: selection.split_column.clone(),
            select_split: selection.select_split.clone(),
            report_split: selection.report_split.clone(),
        });
    }
    Ok(Selected {
        records: reported,
        choices,
    })
}
