//! Governed reads of indicators of need.
//!
//! That an indicator holds is itself data: a need the hub derived, in the catalogue's
//! `early_help.family_outcomes` ("Supporting Families needs and claims"), held by the local
//! authority that runs the programme (`[practice] local_authority`). A caller sees an
//! indicator only where a protocol shares that category with them for their purpose. The
//! facts that are its evidence are then each governed as they always are: evidence the caller
//! may not see is counted, never shown, and the indicator says why.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Denial, GateError, Gated, RequestGate, denial, keep_fields, limited_summary};
use crate::model::{DataCategory, Fact, FactId, FamilyId, OrganisationId, PersonId};
use crate::practice::indicators::{Hit, IndicatorSet, IndicatorSets};
use crate::store::{graph, indicators as store};

/// The category an indicator's holding is governed as.
pub const CATEGORY: DataCategory = DataCategory::EarlyHelpFamilyOutcomes;

/// An indicator that holds for a person, as released.
#[derive(Clone, Debug)]
pub struct IndicatorRead {
    pub set: Arc<IndicatorSet>,
    pub indicator: String,
    pub criterion: String,
    pub person: PersonId,
    pub since: DateTime<Utc>,
    /// The evidence the caller may see, oldest first.
    pub evidence: Vec<Fact>,
    /// How many evidence facts were withheld.
    pub evidence_withheld: u64,
    /// Why, when every evidence fact was withheld.
    pub evidence_denial: Option<Denial>,
}

/// A family that meets enough criteria, as released.
#[derive(Clone, Debug)]
pub struct FamilyMatch {
    pub family: FamilyId,
    /// Criterion id → the indicators that hold for it, with the member they hold for.
    pub criteria: BTreeMap<String, Vec<(String, PersonId)>>,
}

/// A page of families meeting criteria.
#[derive(Clone, Debug, Default)]
pub struct FamiliesPage {
    pub families: Vec<FamilyMatch>,
    /// The last family examined: the cursor of the next page.
    pub last: Option<FamilyId>,
    pub has_next: bool,
}

/// A hit waiting for its evidence: the person, the hit, the evidence the caller may see, how
/// many were withheld, and why when none may be seen.
type Pending = (PersonId, Hit, Vec<FactId>, u64, Option<Denial>);

/// The most candidate families one page examines, so a caller who may see little cannot make
/// one request scan the whole area.
const SCAN_LIMIT: u64 = 2_000;

impl RequestGate {
    fn indicator_set(&self, id: &str) -> Result<Arc<IndicatorSet>, GateError> {
        self.inner
            .gate
            .indicator_sets()
            .get(id)
            .cloned()
            .ok_or_else(|| GateError::Invalid(format!("no indicator set `{id}`")))
    }

    fn practice_owner(&self) -> OrganisationId {
        self.inner.gate.practice_owner()
    }

    /// The indicators of `set` that hold for each person now, evaluated from their facts.
    pub async fn person_indicators(
        &self,
        ids: &[PersonId],
        set: &str,
    ) -> Result<HashMap<PersonId, Gated<Vec<IndicatorRead>>>, GateError> {
        self.require_purpose()?;
        let set = self.indicator_set(set)?;
        let contexts = self.contexts(ids).await?;
        let conn = self.inner.store.conn();
        let only = IndicatorSets::only(Arc::clone(&set));
        let (hits, observed) = store::evaluate(conn, &only, ids, self.inner.now).await?;
        let owner = self.practice_owner();
        let facts_of: HashMap<FactId, (DataCategory, OrganisationId)> = observed
            .iter()
            .map(|f| (f.id, (f.category, f.organisation.clone())))
            .collect();
        let mut by_person: HashMap<PersonId, Vec<Hit>> = HashMap::new();
        for h in hits {
            by_person.entry(h.person).or_default().push(h);
        }
        // Which evidence facts each permitted hit may show, decided per (category, owner).
        let mut out = HashMap::new();
        let mut wanted: BTreeSet<FactId> = BTreeSet::new();
        let mut pending: Vec<Pending> = Vec::new();
        for id in ids {
            let Some(ctx) = contexts.get(id).filter(|c| c.person.is_some()) else {
                continue;
            };
            let hits = by_person.remove(id).unwrap_or_default();
            let d = self.decide(ctx, *id, CATEGORY, &owner);
            let key = (*id, CATEGORY, owner.clone());
            if !d.permits() {
                self.record(key, &d, 0, hits.len() as u64);
                out.insert(*id, Err(denial(CATEGORY, &d)));
                continue;
            }
            self.record(key, &d, hits.len() as u64, 0);
            out.insert(*id, Ok(Vec::new()));
            for hit in hits {
                let mut shown = Vec::new();
                let mut withheld = 0;
                let mut refusal: Option<Denial> = None;
                for f in &hit.evidence {
                    let Some((category, org)) = facts_of.get(f) else {
                        continue;
                    };
                    let d = self.decide(ctx, *id, *category, org);
                    if d.permits() {
                        shown.push(*f);
                    } else {
                        withheld += 1;
                        self.record((*id, *category, org.clone()), &d, 0, 1);
                        if refusal.as_ref().is_none_or(|r| d.reason > r.reason) {
                            refusal = Some(denial(*category, &d));
                        }
                    }
                }
                wanted.extend(&shown);
                let refusal = refusal.filter(|_| shown.is_empty());
                pending.push((*id, hit, shown, withheld, refusal));
            }
        }
        let wanted: Vec<FactId> = wanted.into_iter().collect();
        let mut facts: HashMap<FactId, Fact> = graph::facts_by_id(conn, &wanted)
            .await?
            .into_iter()
            .map(|f| (f.id, f))
            .collect();
        for (person, hit, shown, withheld, refusal) in pending {
            let Some(ctx) = contexts.get(&person) else {
                continue;
            };
            let mut evidence = Vec::with_capacity(shown.len());
            for id in shown {
                let Some(mut fact) = facts.remove(&id) else {
                    continue;
                };
                let d = self.decide(ctx, person, fact.category, &fact.organisation);
                if let Some(fields) = &d.fields {
                    fact.payload = keep_fields(fact.payload, fields);
                    fact.summary = limited_summary(&d);
                }
                self.record((person, fact.category, fact.organisation.clone()), &d, 1, 0);
                evidence.push(fact);
            }
            if let Some(Ok(list)) = out.get_mut(&person) {
                list.push(IndicatorRead {
                    set: Arc::clone(&set),
                    indicator: hit.indicator,
                    criterion: hit.criterion,
                    person,
                    since: hit.since,
                    evidence,
                    evidence_withheld: withheld,
                    evidence_denial: refusal,
                });
            }
        }
        Ok(out)
    }

    /// The indicators of `set` that hold for each family's members now. A member whose
    /// indicators the caller may not see is counted in `withheld`.
    pub async fn family_indicators(
        &self,
        ids: &[FamilyId],
        set: &str,
    ) -> Result<HashMap<FamilyId, (Vec<IndicatorRead>, u64)>, GateError> {
        self.require_purpose()?;
        let members = graph::members(self.inner.store.conn(), ids).await?;
        let persons: Vec<PersonId> = members
            .iter()
            .map(|m| m.person_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let reads = self.person_indicators(&persons, set).await?;
        let mut out: HashMap<FamilyId, (Vec<IndicatorRead>, u64)> =
            ids.iter().map(|f| (*f, (Vec::new(), 0))).collect();
        for m in members {
            let Some(entry) = out.get_mut(&m.family_id) else {
                continue;
            };
            match reads.get(&m.person_id) {
                Some(Ok(list)) => entry.0.extend(list.iter().cloned()),
                Some(Err(_)) => entry.1 += 1,
                None => {}
            }
        }
        for (list, _) in out.values_mut() {
            list.sort_by(|a, b| (&a.criterion, &a.indicator).cmp(&(&b.criterion, &b.indicator)));
        }
        Ok(out)
    }

    /// Families (of kind `family`) whose members' stored indicators of `set` meet at least
    /// `min` criteria the caller may see, a page at a time after `after`.
    pub async fn families_meeting_criteria(
        &self,
        set: &str,
        min: u32,
        first: usize,
        after: Option<FamilyId>,
    ) -> Result<FamiliesPage, GateError> {
        self.require_purpose()?;
        let set = self.indicator_set(set)?;
        let conn = self.inner.store.conn();
        let owner = self.practice_owner();
        let mut page = FamiliesPage {
            last: after,
            ..FamiliesPage::default()
        };
        let mut scanned = 0;
        while page.families.len() < first && scanned < SCAN_LIMIT {
            let batch = (first - page.families.len()).clamp(20, 200) as u64;
            let candidates = store::families_meeting(conn, &set.id, min, page.last, batch).await?;
            if candidates.is_empty() {
                return Ok(page);
            }
            scanned += candidates.len() as u64;
            let hits = store::family_hits(conn, &set.id, &candidates).await?;
            let persons: Vec<PersonId> = hits
                .iter()
                .map(|h| h.person)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let contexts = self.contexts(&persons).await?;
            for family in &candidates {
                if page.families.len() == first {
                    page.has_next = true;
                    return Ok(page);
                }
                page.last = Some(*family);
                let mut criteria: BTreeMap<String, Vec<(String, PersonId)>> = BTreeMap::new();
                for h in hits.iter().filter(|h| h.family == *family) {
                    let Some(ctx) = contexts.get(&h.person) else {
                        continue;
                    };
                    let d = self.decide(ctx, h.person, CATEGORY, &owner);
                    let key = (h.person, CATEGORY, owner.clone());
                    if d.permits() {
                        self.record(key, &d, 1, 0);
                        criteria
                            .entry(h.criterion.clone())
                            .or_default()
                            .push((h.indicator.clone(), h.person));
                    } else {
                        self.record(key, &d, 0, 1);
                    }
                }
                if criteria.len() >= min as usize {
                    page.families.push(FamilyMatch {
                        family: *family,
                        criteria,
                    });
                }
            }
        }
        // Stopped by a full page or the scan limit: say whether a candidate is left.
        page.has_next = !store::families_meeting(conn, &set.id, min, page.last, 1)
            .await?
            .is_empty();
        Ok(page)
    }
}
