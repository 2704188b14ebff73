//! Checks on protocols beyond what loading refuses: special-category or criminal-offence
//! data without the condition it needs, overlapping clauses that disagree, protocols expired,
//! not yet in force or past review. Each finding names the file and line.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::protocol::{Clause, Protocol};
use crate::model::catalogue::Catalogue;
use crate::model::{DataCategory, DataClass};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing wrong with a protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(
            f,
            "{}:{}: {level}: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

/// The line (1-based) of the first line containing `needle` at or after `from`.
fn line_of(text: &str, needle: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map_or(from.max(1), |(i, _)| i + 1)
}

/// The line where a clause starts (its `id = "..."`).
fn clause_line(text: &str, clause: &Clause) -> usize {
    let clauses = line_of(text, "[[clauses]]", 1);
    line_of(text, &format!("id = \"{}\"", clause.id), clauses)
}

/// The categories a clause shares, expanded from patterns.
fn categories(c: &Clause) -> Vec<DataCategory> {
    DataCategory::ALL
        .iter()
        .copied()
        .filter(|cat| c.categories.iter().any(|p| p.matches(*cat)))
        .collect()
}

/// Lints protocols read from their files; `texts` are the files' contents in the same order.
pub fn lint(protocols: &[(Protocol, String)], today: NaiveDate) -> Vec<Finding> {
    let catalogue = Catalogue::embedded();
    let mut out = Vec::new();
    for (p, text) in protocols {
        let at = |line: usize, severity: Severity, message: String| Finding {
            file: p.source.clone(),
            line,
            severity,
            message,
        };
        if let Some(end) = p.expires_on
            && end < today
        {
            out.push(at(
                line_of(text, "expires_on", 1),
                Severity::Warning,
                format!("`{}` expired on {end} and grants nothing", p.id),
            ));
        }
        if p.effective_from > today {
            out.push(at(
                line_of(text, "effective_from", 1),
                Severity::Warning,
                format!(
                    "`{}` takes effect on {} and grants nothing until then",
                    p.id, p.effective_from
                ),
            ));
        }
        if p.review_overdue(today) {
            out.push(at(
                line_of(text, "review_by", 1),
                Severity::Warning,
                format!(
                    "`{}` was due for review by {}: it stays in force, but every decision under it is flagged for the board",
                    p.id,
                    p.review_by.unwrap_or_default()
                ),
            ));
        }
        for c in &p.clauses {
            let line = clause_line(text, c);
            let cats = categories(c);
            let special: Vec<&str> = cats
                .iter()
                .filter(|cat| {
                    matches!(
                        catalogue.class(**cat),
                        Some(
                            DataClass::SpecialCategory
                                | DataClass::SpecialCategoryHeightened
                                | DataClass::SpecialAndCriminal
                        )
                    )
                })
                .map(|c| c.as_str())
                .collect();
            if !special.is_empty() && c.lawful_basis.article9.is_none() {
                out.push(at(
                    line,
                    Severity::Error,
                    format!(
                        "clause `{}` shares special-category data ({}) without an Article 9 condition, so it shares none of it",
                        c.id,
                        special.join(", ")
                    ),
                ));
            }
            if !special.is_empty()
                && c.lawful_basis
                    .article9
                    .as_deref()
                    .is_some_and(|a| a.contains("9(2)(g)"))
                && c.lawful_basis.schedule1.is_none()
            {
                out.push(at(
                    line,
                    Severity::Error,
                    format!(
                        "clause `{}` relies on Article 9(2)(g) without naming its DPA 2018 Schedule 1 condition",
                        c.id
                    ),
                ));
            }
            let criminal: Vec<&str> = cats
                .iter()
                .filter(|cat| {
                    matches!(
                        catalogue.class(**cat),
                        Some(DataClass::CriminalOffence | DataClass::SpecialAndCriminal)
                    )
                })
                .map(|c| c.as_str())
                .collect();
            if !criminal.is_empty() && c.lawful_basis.article10.is_none() {
                out.push(at(
                    line,
                    Severity::Error,
                    format!(
                        "clause `{}` shares criminal-offence data ({}) without an Article 10 authority, so it shares none of it",
                        c.id,
                        criminal.join(", ")
                    ),
                ));
            }
        }
    }
    out.extend(overlaps(protocols));
    out.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    out
}

/// Whether two lists have a value in common.
fn shared<T: PartialEq>(x: &[T], y: &[T]) -> bool {
    x.iter().any(|v| y.contains(v))
}

/// Two clauses that share the same category between the same kinds of organisation, for the
/// same purpose and role, but set different conditions: a reader gets the more generous one,
/// which is rarely what both sets of signatories meant.
fn overlaps(protocols: &[(Protocol, String)]) -> Vec<Finding> {
    let clauses: Vec<(&Protocol, &String, &Clause)> = protocols
        .iter()
        .flat_map(|(p, t)| p.clauses.iter().map(move |c| (p, t, c)))
        .collect();
    let mut out = Vec::new();
    for (i, (pa, ta, a)) in clauses.iter().enumerate() {
        for (pb, _, b) in clauses.iter().skip(i + 1) {
            if !(shared(&a.from, &b.from)
                && shared(&a.to, &b.to)
                && shared(&a.purposes, &b.purposes)
                && shared(&a.roles, &b.roles))
            {
                continue;
            }
            let cats_a = categories(a);
            let common: Vec<&str> = categories(b)
                .into_iter()
                .filter(|c| cats_a.contains(c))
                .map(|c| c.as_str())
                .collect();
            if common.is_empty() {
                continue;
            }
            let mut differences = Vec::new();
            if a.consent != b.consent {
                differences.push("consent");
            }
            if a.relationship != b.relationship || a.involvements != b.involvements {
                differences.push("need-to-know");
            }
            if a.fields != b.fields {
                differences.push("fields released");
            }
            if a.break_glass != b.break_glass {
                differences.push("break-glass");
            }
            if differences.is_empty() {
                continue;
            }
            out.push(Finding {
                file: pa.source.clone(),
                line: clause_line(ta, a),
                severity: Severity::Warning,
                message: format!(
                    "clause `{}` of `{}` and clause `{}` of `{}` both share {} for the same agencies, purpose and role but differ in {}; the more permissive applies",
                    a.id,
                    pa.id,
                    b.id,
                    pb.id,
                    common.join(", "),
                    differences.join(", ")
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::protocol::parse;

    fn protocol(text: &str) -> (Protocol, String) {
        (
            parse(std::path::Path::new("p.toml"), text).expect("parses"),
            text.to_owned(),
        )
    }

    const BASE: &str = r#"
id = "P-T"
title = "Test"
version = "1"
status = "active"
parties = ["local_authority", "school"]
effective_from = 2025-01-01
expires_on = 2025-12-31
review_by = 2025-06-01
approved_by = "board"
rule_set = "advice"
retention = "6 years"

[[clauses]]
id = "1.1"
summary = "attendance and SEN"
from = ["school"]
to = ["local_authority"]
purposes = ["early_help"]
roles = ["early_help_practitioner"]
categories = ["education.attendance", "education.sen", "police.incident"]
relationship = "required"
involvements = ["taf_member"]
consent = "required"

[clauses.lawful_basis]
article6 = "6(1)(e) public task"
"#;

    #[test]
    fn missing_conditions_and_dates_are_named_with_their_lines() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let found = lint(&[protocol(BASE)], today);
        let text: Vec<String> = found.iter().map(|f| f.to_string()).collect();
        assert!(
            text.iter()
                .any(|f| f.contains("p.toml:8: warning") && f.contains("expired")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|f| f.contains("p.toml:9: warning") && f.contains("review")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|f| f.contains("error")
                && f.contains("education.sen")
                && f.contains("Article 9")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|f| f.contains("error")
                && f.contains("police.incident")
                && f.contains("Article 10")),
            "{text:?}"
        );
        let clause_line = found
            .iter()
            .find(|f| f.message.contains("Article 9"))
            .unwrap()
            .line;
        assert_eq!(clause_line, 15, "the clause's `id` line");
    }

    #[test]
    fn overlapping_clauses_that_disagree_are_reported_and_agreeing_ones_are_not() {
        let today = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        let other = BASE
            .replace("P-T", "P-U")
            .replace("consent = \"required\"", "consent = \"not_required\"");
        let found = lint(&[protocol(BASE), protocol(&other)], today);
        assert!(
            found
                .iter()
                .any(|f| f.message.contains("differ in consent")),
            "{found:?}"
        );
        let same = BASE.replace("P-T", "P-U");
        let found = lint(&[protocol(BASE), protocol(&same)], today);
        assert!(
            !found.iter().any(|f| f.message.contains("differ")),
            "{found:?}"
        );
    }

    #[test]
    fn the_shipped_protocols_have_no_errors() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols");
        let mut loaded = Vec::new();
        for p in super::super::protocol::load_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(&p.source).unwrap();
            loaded.push((p, text));
        }
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let errors: Vec<String> = lint(&loaded, today)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}
