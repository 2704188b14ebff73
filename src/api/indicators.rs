//! Indicators of need: `person.indicators`, `family.indicators`, `familiesMeetingCriteria`
//! and the rule sets themselves (`indicatorSets`).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::{bad_input, gate_failed, parse_id};
use super::family::Family;
use super::person::{Fact, Person, gate};
use crate::gate::indicators::{FamilyMatch, IndicatorRead};
use crate::model::FamilyId;
use crate::practice::indicators::{AppliesTo, IndicatorSet};

/// The set a read uses when none is named.
pub const DEFAULT_SET: &str = "supporting-families";

/// The most families one page of `familiesMeetingCriteria` returns.
const MAX_FAMILIES_PAGE: i32 = 200;

/// A criterion of a set.
#[derive(SimpleObject, Clone)]
pub struct Criterion {
    pub id: String,
    pub title: String,
}

fn criterion(set: &IndicatorSet, id: &str) -> Criterion {
    Criterion {
        id: id.to_owned(),
        title: set.criteria.get(id).cloned().unwrap_or_default(),
    }
}

/// An indicator that holds for a person, with the evidence the caller may see.
pub struct Indicator(pub IndicatorRead);

#[Object]
impl Indicator {
    /// The indicator's id within its set, e.g. `persistent_absence`.
    async fn id(&self) -> &str {
        &self.0.indicator
    }

    async fn title(&self) -> &str {
        self.0
            .set
            .indicator(&self.0.indicator)
            .map_or("", |i| i.title.as_str())
    }

    /// The set it belongs to.
    async fn set(&self) -> &str {
        &self.0.set.id
    }

    /// The criterion it evidences.
    async fn criterion(&self) -> Criterion {
        criterion(&self.0.set, &self.0.criterion)
    }

    /// The person it holds for.
    async fn person(&self) -> Person {
        Person(self.0.person)
    }

    /// When the facts in its window reached its threshold.
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }

    /// The evidence the caller may see, oldest first; each fact gated by its own category
    /// and holder.
    async fn evidence(&self) -> Vec<Fact> {
        self.0.evidence.iter().cloned().map(Fact).collect()
    }

    /// How many evidence facts were withheld.
    async fn evidence_withheld(&self) -> u64 {
        self.0.evidence_withheld
    }

    /// Why, when no evidence could be shown: the refusal of the closest category.
    async fn evidence_withheld_reason(&self) -> Option<String> {
        self.0.evidence_denial.as_ref().map(ToString::to_string)
    }
}

/// A family's indicators, with how many members' indicators were withheld.
pub struct FamilyIndicators(pub Vec<IndicatorRead>, pub u64);

#[Object]
impl FamilyIndicators {
    async fn items(&self) -> Vec<Indicator> {
        self.0.iter().cloned().map(Indicator).collect()
    }

    /// The distinct criteria the items meet.
    async fn criteria_met(&self) -> Vec<Criterion> {
        let mut ids: Vec<(&IndicatorSet, &str)> = self
            .0
            .iter()
            .map(|r| (&*r.set, r.criterion.as_str()))
            .collect();
        ids.sort_by_key(|(_, c)| *c);
        ids.dedup_by_key(|(_, c)| *c);
        ids.into_iter().map(|(s, c)| criterion(s, c)).collect()
    }

    /// Members whose indicators the caller may not see.
    async fn withheld(&self) -> u64 {
        self.1
    }
}

/// A criterion a family meets, and the indicators behind it.
#[derive(SimpleObject)]
pub struct CriterionMet {
    pub criterion: Criterion,
    /// The indicator ids that hold for it.
    pub indicators: Vec<String>,
    /// How many members they hold for.
    pub members: u64,
}

/// A family meeting enough criteria.
pub struct FamilyCriteria(FamilyMatch, std::sync::Arc<IndicatorSet>);

#[Object]
impl FamilyCriteria {
    async fn family(&self) -> Family {
        Family(self.0.family)
    }

    /// How many criteria it meets.
    async fn criteria_count(&self) -> u64 {
        self.0.criteria.len() as u64
    }

    async fn criteria(&self) -> Vec<CriterionMet> {
        self.0
            .criteria
            .iter()
            .map(|(id, hits)| {
                let mut indicators: Vec<String> = hits.iter().map(|(i, _)| i.clone()).collect();
                indicators.sort();
                indicators.dedup();
                let mut members: Vec<_> = hits.iter().map(|(_, p)| *p).collect();
                members.sort();
                members.dedup();
                CriterionMet {
                    criterion: criterion(&self.1, id),
                    indicators,
                    members: members.len() as u64,
                }
            })
            .collect()
    }
}

/// A page of families meeting criteria, in family id order.
#[derive(SimpleObject)]
pub struct FamilyCriteriaPage {
    pub families: Vec<FamilyCriteria>,
    pub has_next: bool,
    /// Pass as `after` for the next page.
    pub end_cursor: Option<ID>,
}

/// An indicator as its rule file defines it.
#[derive(SimpleObject)]
pub struct IndicatorRule {
    pub id: String,
    pub title: String,
    pub criterion: String,
    /// `child`, `adult` or `any`.
    pub applies_to: String,
    pub kinds: Vec<String>,
    pub at_least: u32,
    pub within_days: Option<u32>,
}

/// A set of indicators (no personal data).
#[derive(SimpleObject)]
pub struct IndicatorSetInfo {
    pub id: String,
    pub title: String,
    pub version: String,
    pub source: Option<String>,
    pub criteria: Vec<Criterion>,
    pub indicators: Vec<IndicatorRule>,
}

impl From<&IndicatorSet> for IndicatorSetInfo {
    fn from(s: &IndicatorSet) -> Self {
        Self {
            id: s.id.clone(),
            title: s.title.clone(),
            version: s.version.clone(),
            source: s.source.clone(),
            criteria: s.criteria.keys().map(|c| criterion(s, c)).collect(),
            indicators: s
                .indicators
                .iter()
                .map(|i| IndicatorRule {
                    id: i.id.clone(),
                    title: i.title.clone(),
                    criterion: i.criterion.clone(),
                    applies_to: match i.applies_to {
                        AppliesTo::Child => "child",
                        AppliesTo::Adult => "adult",
                        AppliesTo::Any => "any",
                    }
                    .to_owned(),
                    kinds: i.kinds.clone(),
                    at_least: i.at_least,
                    within_days: i.within_days,
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct IndicatorQuery;

#[Object]
impl IndicatorQuery {
    /// The indicator sets in force and their rules.
    async fn indicator_sets(&self, ctx: &Context<'_>) -> Result<Vec<IndicatorSetInfo>> {
        let sets = gate(ctx)?.indicator_sets();
        Ok(sets.iter().map(|s| IndicatorSetInfo::from(&**s)).collect())
    }

    /// Families (not households) whose members meet at least `minCriteria` criteria of `set`
    /// that the caller may see, in family id order. For a role a protocol shares
    /// `early_help.family_outcomes` with for the declared purpose (the early help team under
    /// P-EH); each family examined is logged.
    async fn families_meeting_criteria(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "DEFAULT_SET.to_owned()")] set: String,
        #[graphql(default = 3)] min_criteria: i32,
        #[graphql(default = 50)] first: i32,
        after: Option<ID>,
    ) -> Result<FamilyCriteriaPage> {
        if !(1..=MAX_FAMILIES_PAGE).contains(&first) {
            return Err(bad_input(format!(
                "`first` must be between 1 and {MAX_FAMILIES_PAGE}"
            )));
        }
        let min = u32::try_from(min_criteria)
            .ok()
            .filter(|m| *m >= 1)
            .ok_or_else(|| bad_input("`minCriteria` must be 1 or more"))?;
        let after = after
            .as_ref()
            .map(|a| parse_id::<uuid::Uuid>(a, "family").map(FamilyId))
            .transpose()?;
        let gate = gate(ctx)?;
        let rules = gate
            .indicator_sets()
            .get(&set)
            .cloned()
            .ok_or_else(|| bad_input(format!("no indicator set `{set}`")))?;
        let page = gate
            .families_meeting_criteria(&set, min, first as usize, after)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(FamilyCriteriaPage {
            end_cursor: page.last.map(|f| ID(f.to_string())),
            has_next: page.has_next,
            families: page
                .families
                .into_iter()
                .map(|m| FamilyCriteria(m, std::sync::Arc::clone(&rules)))
                .collect(),
        })
    }
}
