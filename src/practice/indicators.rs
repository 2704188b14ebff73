//! Indicators of need as data: rule files in `protocols/indicators/`, each a set of indicators
//! over facts, grouped into criteria (the Supporting Families headline criteria ship built in).
//!
//! An indicator holds for a person when at least `at_least` of their facts of one of its kinds
//! match all its conditions within its window. Evaluation is pure and works on [`Observed`]
//! facts (what a rule can read: kind, time, payload), so the same code serves a whole
//! population, one family after a new fact, and a governed read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::model::{DataCategory, FactId, OrganisationId, PersonId};

/// The built-in set: the Supporting Families headline criteria.
pub const SUPPORTING_FAMILIES_TOML: &str =
    include_str!("../../protocols/indicators/supporting-families.toml");

/// A set of indicators: one rule file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorSet {
    pub id: String,
    pub title: String,
    pub version: String,
    #[serde(default)]
    pub source: Option<String>,
    /// Criterion id → its title, in file order of ids.
    pub criteria: BTreeMap<String, String>,
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// Where it was read from; `None` for the built-in set.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// Whom an indicator is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    Child,
    Adult,
    Any,
}

impl AppliesTo {
    fn covers(self, is_child: bool) -> bool {
        match self {
            Self::Child => is_child,
            Self::Adult => !is_child,
            Self::Any => true,
        }
    }
}

/// One indicator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub id: String,
    pub title: String,
    /// The criterion of the set it evidences.
    pub criterion: String,
    pub applies_to: AppliesTo,
    /// Fact kinds it reads.
    pub kinds: Vec<String>,
    /// Conditions on the payload, all of which must hold.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// How many matching facts it takes.
    #[serde(default = "one")]
    pub at_least: u32,
    /// The window, ending now; every fact counts without one.
    #[serde(default)]
    pub within_days: Option<u32>,
}

fn one() -> u32 {
    1
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Present,
    Absent,
}

/// A condition on one payload field.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A payload key; dots reach into objects.
    pub field: String,
    pub op: Op,
    #[serde(default)]
    pub value: Option<Value>,
}

impl Condition {
    /// Whether the payload satisfies it. A missing field satisfies only `absent` (and `ne`).
    pub fn holds(&self, payload: &Value) -> bool {
        let found = self
            .field
            .split('.')
            .try_fold(payload, |v, key| v.get(key))
            .filter(|v| !v.is_null());
        let Some(v) = found else {
            return matches!(self.op, Op::Absent | Op::Ne);
        };
        let want = self.value.as_ref();
        match self.op {
            Op::Present => true,
            Op::Absent => false,
            Op::Eq => want.is_some_and(|w| same(v, w)),
            Op::Ne => want.is_none_or(|w| !same(v, w)),
            Op::In => want
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|w| same(v, w))),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let (Some(a), Some(b)) = (number(v), want.and_then(number)) else {
                    return false;
                };
                match self.op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    _ => a >= b,
                }
            }
        }
    }
}

/// Numbers compare as numbers (90 equals 90.0); everything else as JSON.
fn same(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A number, or a string holding one (sources write "87.5" as often as 87.5).
fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// What a rule can read of a fact, with what the gate needs to govern it as evidence.
#[derive(Clone, Debug)]
pub struct Observed {
    pub id: FactId,
    pub person: PersonId,
    pub kind: String,
    pub category: DataCategory,
    pub organisation: OrganisationId,
    pub occurred_at: DateTime<Utc>,
    pub payload: Value,
}

/// An indicator that holds for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub set: String,
    pub indicator: String,
    pub criterion: String,
    pub person: PersonId,
    /// When the facts in the current window reached the threshold.
    pub since: DateTime<Utc>,
    /// The matching facts in the window, oldest first.
    pub evidence: Vec<FactId>,
}

impl Indicator {
    fn matches(&self, f: &Observed, from: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        self.kinds.contains(&f.kind)
            && f.occurred_at <= now
            && from.is_none_or(|from| f.occurred_at > from)
            && self.when.iter().all(|c| c.holds(&f.payload))
    }

    /// Whether it holds for a person with these facts at `now`.
    pub fn evaluate(
        &self,
        set: &str,
        person: PersonId,
        facts: &[&Observed],
        now: DateTime<Utc>,
    ) -> Option<Hit> {
        let from = self
            .within_days
            .map(|d| now - TimeDelta::days(i64::from(d)));
        let mut matched: Vec<&Observed> = facts
            .iter()
            .copied()
            .filter(|f| self.matches(f, from, now))
            .collect();
        let need = usize::try_from(self.at_least.max(1)).unwrap_or(usize::MAX);
        if matched.len() < need {
            return None;
        }
        matched.sort_by_key(|f| (f.occurred_at, f.id));
        Some(Hit {
            set: set.to_owned(),
            indicator: self.id.clone(),
            criterion: self.criterion.clone(),
            person,
            since: matched[need - 1].occurred_at,
            evidence: matched.iter().map(|f| f.id).collect(),
        })
    }
}

impl IndicatorSet {
    /// Parses and checks a rule file.
    pub fn parse(path: Option<&Path>, text: &str) -> Result<Self, IndicatorError> {
        let name = path.map_or_else(|| "built-in".to_owned(), |p| p.display().to_string());
        let invalid = |message: String| IndicatorError::Invalid {
            file: name.clone(),
            message,
        };
        let mut set: IndicatorSet = toml::from_str(text)
            .map_err(|e| invalid(crate::gate::protocol::toml_error(text, &e)))?;
        set.path = path.map(Path::to_owned);
        set.check().map_err(invalid)?;
        Ok(set)
    }

    /// The built-in Supporting Families set.
    pub fn supporting_families() -> Self {
        Self::parse(None, SUPPORTING_FAMILIES_TOML).unwrap_or_else(|e| {
            unreachable!("the built-in indicator set is checked by a test: {e}")
        })
    }

    fn check(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("the set has no id".into());
        }
        let mut ids = BTreeSet::new();
        for i in &self.indicators {
            let name = format!("indicator `{}`", i.id);
            if !ids.insert(i.id.as_str()) {
                return Err(format!("{name} is defined twice"));
            }
            if !self.criteria.contains_key(&i.criterion) {
                return Err(format!(
                    "{name}: criterion `{}` is not in [criteria]",
                    i.criterion
                ));
            }
            if i.kinds.is_empty() {
                return Err(format!("{name}: reads no fact kinds"));
            }
            if i.at_least == 0 {
                return Err(format!("{name}: at_least must be 1 or more"));
            }
            for c in &i.when {
                check_condition(c).map_err(|m| format!("{name}: `{}`: {m}", c.field))?;
            }
        }
        Ok(())
    }

    /// The fact kinds any of its indicators reads.
    pub fn kinds(&self) -> BTreeSet<&str> {
        self.indicators
            .iter()
            .flat_map(|i| i.kinds.iter().map(String::as_str))
            .collect()
    }

    /// Every indicator that holds for one person.
    pub fn evaluate(
        &self,
        person: PersonId,
        is_child: bool,
        facts: &[&Observed],
        now: DateTime<Utc>,
    ) -> Vec<Hit> {
        self.indicators
            .iter()
            .filter(|i| i.applies_to.covers(is_child))
            .filter_map(|i| i.evaluate(&self.id, person, facts, now))
            .collect()
    }

    /// An indicator by id.
    pub fn indicator(&self, id: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.id == id)
    }
}

fn check_condition(c: &Condition) -> Result<(), String> {
    match (c.op, &c.value) {
        (Op::Present | Op::Absent, None) => Ok(()),
        (Op::Present | Op::Absent, Some(_)) => Err("present and absent take no value".into()),
        (_, None) => Err("needs a value".into()),
        (Op::In, Some(v)) if !v.is_array() => Err("`in` needs a list".into()),
        (Op::Lt | Op::Le | Op::Gt | Op::Ge, Some(v)) if number(v).is_none() => {
            Err("an ordering needs a number".into())
        }
        _ => Ok(()),
    }
}

/// Why indicator sets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error("cannot read indicator sets from `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// The indicator sets in force: the built-in one, replaced or joined by files.
#[derive(Clone, Debug)]
pub struct IndicatorSets {
    sets: BTreeMap<String, Arc<IndicatorSet>>,
}

impl Default for IndicatorSets {
    fn default() -> Self {
        Self::built_in()
    }
}

impl IndicatorSets {
    /// The built-in set alone.
    pub fn built_in() -> Self {
        let sf = IndicatorSet::supporting_families();
        Self {
            sets: BTreeMap::from([(sf.id.clone(), Arc::new(sf))]),
        }
    }

    /// One set alone.
    pub fn only(set: Arc<IndicatorSet>) -> Self {
        Self {
            sets: BTreeMap::from([(set.id.clone(), set)]),
        }
    }

    /// The built-in set and every `*.toml` in `dir` (a missing folder adds nothing).
    pub fn load(dir: &Path) -> Result<Self, IndicatorError> {
        let mut sets = Self::built_in();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(sets),
            Err(source) => {
                return Err(IndicatorError::Io {
                    path: dir.to_owned(),
                    source,
                });
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        let mut from_files: BTreeSet<String> = BTreeSet::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| IndicatorError::Io {
                path: path.clone(),
                source,
            })?;
            let set = IndicatorSet::parse(Some(&path), &text)?;
            if !from_files.insert(set.id.clone()) {
                return Err(IndicatorError::Invalid {
                    file: path.display().to_string(),
                    message: format!("set id `{}` is used by two files", set.id),
                });
            }
            sets.sets.insert(set.id.clone(), Arc::new(set));
        }
        Ok(sets)
    }

    /// A set by id.
    pub fn get(&self, id: &str) -> Option<&Arc<IndicatorSet>> {
        self.sets.get(id)
    }

    /// Every set, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<IndicatorSet>> {
        self.sets.values()
    }

    /// Every fact kind any set reads: the only facts evaluation loads.
    pub fn kinds(&self) -> Vec<String> {
        let all: BTreeSet<&str> = self.sets.values().flat_map(|s| s.kinds()).collect();
        all.into_iter().map(str::to_owned).collect()
    }

    /// The fact kinds whose payload some indicator's conditions read.
    pub fn payload_kinds(&self) -> BTreeSet<&str> {
        self.sets
            .values()
            .flat_map(|s| s.indicators.iter())
            .filter(|i| !i.when.is_empty())
            .flat_map(|i| i.kinds.iter().map(String::as_str))
            .collect()
    }

    /// Every hit of every set for one person.
    pub fn evaluate(
        &self,
        person: PersonId,
        is_child: bool,
        facts: &[&Observed],
        now: DateTime<Utc>,
    ) -> Vec<Hit> {
        self.sets
            .values()
            .flat_map(|s| s.evaluate(person, is_child, facts, now))
            .collect()
    }
}

/// Groups facts by person, keeping references.
pub fn by_person(facts: &[Observed]) -> HashMap<PersonId, Vec<&Observed>> {
    let mut out: HashMap<PersonId, Vec<&Observed>> = HashMap::new();
    for f in facts {
        out.entry(f.person).or_default().push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fact(kind: &str, days_ago: i64, payload: Value, now: DateTime<Utc>) -> Observed {
        Observed {
            id: FactId(uuid::Uuid::new_v4()),
            person: PersonId(uuid::Uuid::nil()),
            kind: kind.into(),
            category: DataCategory::EducationAttendance,
            organisation: "school:100001".parse().unwrap(),
            occurred_at: now - TimeDelta::days(days_ago),
            payload,
        }
    }

    #[test]
    fn the_built_in_set_loads_and_names_every_criterion_it_uses() {
        let set = IndicatorSet::supporting_families();
        assert_eq!(set.id, "supporting-families");
        assert_eq!(set.criteria.len(), 10);
        assert!(set.indicators.len() >= 10);
        assert!(set.kinds().contains("attendance_summary"));
    }

    #[test]
    fn persistent_absence_needs_two_terms_under_ninety_within_the_year() {
        let set = IndicatorSet::supporting_families();
        let pa = set.indicator("persistent_absence").unwrap();
        let now = Utc::now();
        let low = |d| {
            fact(
                "attendance_summary",
                d,
                json!({ "AttendancePercent": 86.5 }),
                now,
            )
        };
        let high = |d| {
            fact(
                "attendance_summary",
                d,
                json!({ "AttendancePercent": "95.0" }),
                now,
            )
        };
        let (a, b, c, old) = (low(200), high(100), low(30), low(400));
        let p = PersonId(uuid::Uuid::nil());
        assert!(pa.evaluate(&set.id, p, &[&a, &b], now).is_none());
        assert!(
            pa.evaluate(&set.id, p, &[&c, &old], now).is_none(),
            "outside the window"
        );
        let hit = pa.evaluate(&set.id, p, &[&c, &b, &a], now).unwrap();
        assert_eq!(
            hit.since, c.occurred_at,
            "the second low term brought it to two"
        );
        assert_eq!(hit.evidence, vec![a.id, c.id]);
    }

    #[test]
    fn conditions_compare_numbers_lists_and_absence() {
        let c = |field: &str, op, value| Condition {
            field: field.into(),
            op,
            value,
        };
        let p = json!({ "role": "suspect", "outcome": "arrested; charged", "a": { "b": 3 }, "end": null });
        assert!(c("role", Op::In, Some(json!(["suspect", "offender"]))).holds(&p));
        assert!(!c("role", Op::Eq, Some(json!("victim"))).holds(&p));
        assert!(c("a.b", Op::Ge, Some(json!(3))).holds(&p));
        assert!(!c("a.b", Op::Lt, Some(json!(3))).holds(&p));
        assert!(c("end", Op::Absent, None).holds(&p), "null is absent");
        assert!(c("missing", Op::Absent, None).holds(&p));
        assert!(!c("missing", Op::Eq, Some(json!(1))).holds(&p));
        assert!(
            !c("role", Op::Lt, Some(json!(3))).holds(&p),
            "a word is not a number"
        );
    }

    #[test]
    fn a_bad_rule_file_names_the_file_line_and_fault() {
        let bad = "id = \"x\"\ntitle = \"t\"\nversion = \"1\"\n[criteria]\na = \"A\"\n[[indicators]]\nid = \"i\"\ntitle = \"t\"\ncriterion = \"b\"\napplies_to = \"child\"\nkinds = [\"k\"]\n";
        let e = IndicatorSet::parse(Some(Path::new("x.toml")), bad).unwrap_err();
        assert!(e.to_string().contains("x.toml") && e.to_string().contains("criterion `b`"));
        let typo = bad.replace("applies_to = \"child\"", "applies_to = \"kid\"");
        let e = IndicatorSet::parse(Some(Path::new("x.toml")), &typo).unwrap_err();
        assert!(e.to_string().contains("line 10"), "{e}");
        let no_value = bad
            .replace("criterion = \"b\"", "criterion = \"a\"")
            .replace(
                "kinds = [\"k\"]",
                "kinds = [\"k\"]\nwhen = [{ field = \"f\", op = \"lt\" }]",
            );
        let e = IndicatorSet::parse(None, &no_value).unwrap_err();
        assert!(e.to_string().contains("needs a value"), "{e}");
    }

    #[test]
    fn applies_to_keeps_adult_indicators_off_children() {
        let set = IndicatorSet::supporting_families();
        let now = Utc::now();
        let victim = fact(
            "domestic_abuse_incident",
            10,
            json!({ "role": "victim" }),
            now,
        );
        let p = PersonId(uuid::Uuid::nil());
        let adult: Vec<String> = set
            .evaluate(p, false, &[&victim], now)
            .into_iter()
            .map(|h| h.indicator)
            .collect();
        assert_eq!(adult, vec!["domestic_abuse_victim"]);
        assert!(set.evaluate(p, true, &[&victim], now).is_empty());
    }
}
