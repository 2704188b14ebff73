//! Where a person's records came from and why each was linked, and the review of doubtful
//! links: `person.provenance`, `matchReviewQueue`, `confirmMatch`, `rejectMatch`,
//! `splitPerson`.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::{bad_input, gate_failed, parse_id};
use super::person::{Organisation, Person, gate};
use crate::gate::matches::{self as m, MAX_REVIEW_PAGE, Provenance};
use crate::linkage::describe_method;
use crate::linkage::probabilistic::PairScore;
use crate::model::{PersonId, SourceRecordId};

/// One comparison behind a match probability.
#[derive(SimpleObject, Clone)]
pub struct MatchComparison {
    /// `name`, `date_of_birth`, `address`, `sex` or `identifier`.
    pub name: String,
    /// The level of agreement, 0 = disagree.
    pub level: i32,
    /// The level in words.
    pub label: String,
    /// The match weight it added: log2 of how much likelier it is for one person than two.
    pub weight: f64,
}

fn comparisons(score: &Option<PairScore>) -> Vec<MatchComparison> {
    score
        .iter()
        .flat_map(|s| &s.comparisons)
        .map(|c| MatchComparison {
            name: c.name.clone(),
            level: i32::from(c.level),
            label: c.label.clone(),
            weight: c.weight,
        })
        .collect()
}

/// A source record behind a person and why it was linked to them.
pub struct LinkedRecord(pub Provenance);

#[Object]
impl LinkedRecord {
    /// The source record's id in the hub.
    async fn id(&self) -> ID {
        ID(self.0.id.0.to_string())
    }
    /// The connector that delivered it.
    async fn connector(&self) -> &str {
        &self.0.connector
    }
    /// The organisation that holds it.
    async fn organisation(&self) -> Organisation {
        Organisation(self.0.organisation.clone())
    }
    /// The record's key at its source.
    async fn source_key(&self) -> &str {
        &self.0.source_key
    }
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.0.fetched_at
    }
    /// How it was linked: `deterministic:nhs_number`, `probabilistic`, `review:confirmed`, …
    async fn method(&self) -> Option<&str> {
        self.0.method.as_deref()
    }
    /// Why it was linked, in words; for a probabilistic link, with each comparison's weight.
    async fn explanation(&self) -> String {
        let method = describe_method(self.0.method.as_deref().unwrap_or(""));
        match self.pair_score() {
            Some(s) => format!("{method}: {}", s.explain()),
            None => method.to_owned(),
        }
    }
    /// The match probability of a probabilistic link.
    async fn score(&self) -> Option<f64> {
        self.0.score
    }
    /// The comparisons behind the score.
    async fn comparisons(&self) -> Vec<MatchComparison> {
        comparisons(&self.pair_score())
    }
}

impl LinkedRecord {
    fn pair_score(&self) -> Option<PairScore> {
        serde_json::from_str(self.0.detail.as_deref()?).ok()
    }
}

/// A pair of persons the hub could not decide on: a record's person and a candidate.
pub struct MatchReview(m::MatchReview);

#[Object]
impl MatchReview {
    async fn id(&self) -> ID {
        ID(self.0.row.id.to_string())
    }
    /// `open`, `confirmed`, `rejected` or `superseded` (another candidate was confirmed).
    async fn status(&self) -> &str {
        &self.0.row.status
    }
    /// The match probability.
    async fn score(&self) -> f64 {
        self.0.row.score
    }
    /// The score in words and numbers.
    async fn explanation(&self) -> String {
        self.0
            .score
            .as_ref()
            .map(PairScore::explain)
            .unwrap_or_default()
    }
    async fn comparisons(&self) -> Vec<MatchComparison> {
        comparisons(&self.0.score)
    }
    /// The source record that arrived and was not linked.
    async fn source_record_id(&self) -> ID {
        ID(self.0.row.source_record.0.to_string())
    }
    /// The person the record is on (read through the protocols like any person).
    async fn record_person(&self) -> Person {
        Person(self.0.row.record_person)
    }
    /// The person it may be.
    async fn candidate_person(&self) -> Person {
        Person(self.0.row.candidate_person)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.row.created_at
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.row.decided_at
    }
    /// The reviewer's subject.
    async fn decided_by(&self) -> Option<&str> {
        self.0.row.decided_by.as_deref()
    }
    async fn note(&self) -> Option<&str> {
        self.0.row.note.as_deref()
    }
}

/// A page of the review queue, oldest first.
#[derive(SimpleObject)]
pub struct MatchReviewPage {
    pub reviews: Vec<MatchReview>,
    pub has_next: bool,
    /// Pass as `after` for the next page.
    pub end_cursor: Option<ID>,
}

#[derive(Default)]
pub struct MatchQuery;

#[Object]
impl MatchQuery {
    /// Pairs waiting for a reviewer (the `[linkage] review_roles`), oldest first. Each read
    /// of the queue is logged.
    async fn match_review_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<ID>,
    ) -> Result<MatchReviewPage> {
        let first = usize::try_from(first)
            .ok()
            .filter(|f| *f <= MAX_REVIEW_PAGE)
            .ok_or_else(|| bad_input(format!("`first` must be between 0 and {MAX_REVIEW_PAGE}")))?;
        let after = after
            .as_ref()
            .map(|a| parse_id::<uuid::Uuid>(a, "review"))
            .transpose()?;
        let page = gate(ctx)?
            .match_review_queue(first, after)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        let end_cursor = page.reviews.last().map(|r| ID(r.row.id.to_string()));
        Ok(MatchReviewPage {
            reviews: page.reviews.into_iter().map(MatchReview).collect(),
            has_next: page.has_next,
            end_cursor,
        })
    }
}

#[derive(Default)]
pub struct MatchMutation;

fn need_note(note: &str) -> Result<()> {
    if note.trim().is_empty() {
        return Err(bad_input("a decision on a link needs a note saying why"));
    }
    Ok(())
}

#[Object]
impl MatchMutation {
    /// Confirms a queued pair: the two persons are one, and the record's person is merged into
    /// the candidate. Refused when they hold different NHS numbers or UPNs. Logged. Null when
    /// no review has the id.
    async fn confirm_match(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
    ) -> Result<Option<MatchReview>> {
        need_note(&note)?;
        let id = parse_id::<uuid::Uuid>(&id, "review")?;
        let review = gate(ctx)?
            .confirm_match(id, &note)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(review.map(MatchReview))
    }

    /// Rejects a queued pair: the two stay apart and are never linked automatically. Logged.
    async fn reject_match(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
    ) -> Result<Option<MatchReview>> {
        need_note(&note)?;
        let id = parse_id::<uuid::Uuid>(&id, "review")?;
        let review = gate(ctx)?
            .reject_match(id, &note)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(review.map(MatchReview))
    }

    /// Undoes a wrong merge: the named source records (see `person.provenance`), with the
    /// records of facts about them and everything derived from them, move to a new person,
    /// which is returned. The two are recorded as not one. Logged.
    async fn split_person(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        source_records: Vec<ID>,
        note: String,
    ) -> Result<Option<Person>> {
        need_note(&note)?;
        let person = parse_id::<PersonId>(&person_id, "person")?;
        let records = source_records
            .iter()
            .map(|r| parse_id::<uuid::Uuid>(r, "source record").map(SourceRecordId))
            .collect::<Result<Vec<_>>>()?;
        if records.is_empty() {
            return Err(bad_input("name at least one source record to split off"));
        }
        let new = gate(ctx)?
            .split_person(person, &records, &note)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(new.map(Person))
    }
}
