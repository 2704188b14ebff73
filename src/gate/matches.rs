//! Explaining and correcting links: where a person's records came from and why each was
//! linked (`person.provenance`), the queue of doubtful pairs, and a reviewer's decisions on
//! them (`confirmMatch`, `rejectMatch`, `splitPerson`). Decisions need one of the configured
//! review roles; each is recorded in the access log as an action on every person it touches.
//! The identity a reviewer looks at to decide is read through the gate like any other.

use std::collections::HashMap;

use chrono::Utc;
use uuid::Uuid;

use super::{GateError, Gated, RequestGate};
use crate::linkage::Method;
use crate::linkage::probabilistic::PairScore;
use crate::model::{DataCategory, IdentifierSystem, Person, PersonId, SourceRecordId};
use crate::store::matches as rows;
pub use crate::store::matches::Provenance;
use crate::store::sync::{MatchReviewRow, strong_identifiers_of};
use crate::store::{begin_write, graph};

/// A queued pair, with its score explained.
#[derive(Clone, Debug)]
pub struct MatchReview {
    pub row: MatchReviewRow,
    /// The score and its comparisons, as the engine stored them.
    pub score: Option<PairScore>,
}

impl From<MatchReviewRow> for MatchReview {
    fn from(row: MatchReviewRow) -> Self {
        Self {
            score: serde_json::from_str(&row.detail).ok(),
            row,
        }
    }
}

/// A page of the review queue.
#[derive(Clone, Debug, Default)]
pub struct ReviewPage {
    pub reviews: Vec<MatchReview>,
    pub has_next: bool,
}

/// The most reviews one page holds.
pub const MAX_REVIEW_PAGE: usize = 200;

impl RequestGate {
    fn require_reviewer(&self, what: &str) -> Result<(), GateError> {
        let roles = &self.inner.gate.review_roles;
        if roles.iter().any(|r| self.principal().has_role(*r)) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(GateError::Forbidden(format!(
                "`{what}` needs one of the roles {}",
                names.join(", ")
            )))
        }
    }

    /// The source records behind each person and how each was linked, released per record
    /// as the holder's `person.identity`.
    pub async fn provenance(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Vec<(PersonId, Provenance)>>>, GateError> {
        self.require_purpose()?;
        let rows = rows::provenance(self.inner.store.conn(), ids).await?;
        self.release_lists(
            ids,
            rows,
            |(p, _)| *p,
            |(_, r)| (DataCategory::PersonIdentity, &r.organisation),
        )
        .await
    }

    /// Open reviews, oldest first.
    pub async fn match_review_queue(
        &self,
        first: usize,
        after: Option<Uuid>,
    ) -> Result<ReviewPage, GateError> {
        self.require_reviewer("matchReviewQueue")?;
        let mut rows = rows::open(self.inner.store.conn(), after, first as u64 + 1).await?;
        let has_next = rows.len() > first;
        rows.truncate(first);
        self.act(serde_json::json!({
            "action": "match_review_queue",
            "reviews": rows.len(),
        }));
        Ok(ReviewPage {
            reviews: rows.into_iter().map(MatchReview::from).collect(),
            has_next,
        })
    }

    /// Logs a decision as an action on each person it touches.
    fn act_on(&self, action: &str, review: Option<Uuid>, persons: &[PersonId], note: &str) {
        for p in persons {
            self.act(serde_json::json!({
                "action": action,
                "review": review.map(|r| r.to_string()),
                "subject": p.to_string(),
                "note": note,
            }));
        }
    }

    /// Loads an open review, or says why not.
    async fn open_review(&self, id: Uuid) -> Result<Option<MatchReviewRow>, GateError> {
        let Some(row) = rows::get(self.inner.store.conn(), id).await? else {
            return Ok(None);
        };
        if row.status != "open" {
            return Err(GateError::Invalid(format!(
                "review {id} was already decided: {}",
                row.status
            )));
        }
        Ok(Some(row))
    }

    /// Confirms a queued pair: the record's person and the candidate are one person, and
    /// everything of the first moves to the second. Refused when the two hold different NHS
    /// numbers or UPNs. `None` when no review has the id.
    pub async fn confirm_match(
        &self,
        id: Uuid,
        note: &str,
    ) -> Result<Option<MatchReview>, GateError> {
        self.require_reviewer("confirmMatch")?;
        let Some(row) = self.open_review(id).await? else {
            return Ok(None);
        };
        let (from, into) = (row.record_person, row.candidate_person);
        let conn = self.inner.store.conn();
        let txn = begin_write(conn).await?;
        if from != into {
            let mut held: HashMap<(IdentifierSystem, PersonId), String> = HashMap::new();
            for (p, system, value) in strong_identifiers_of(&txn, &[from, into]).await? {
                held.insert((system, p), value);
            }
            for system in [IdentifierSystem::NhsNumber, IdentifierSystem::Upn] {
                if let (Some(a), Some(b)) = (held.get(&(system, from)), held.get(&(system, into)))
                    && a != b
                {
                    return Err(GateError::Invalid(format!(
                        "the two persons hold different {} values: they cannot be one person",
                        system.as_str()
                    )));
                }
            }
            rows::merge(&txn, from, into).await?;
            crate::store::families::rebuild(&txn, &[into], Utc::now()).await?;
            let sets = self.inner.gate.indicator_sets();
            crate::store::indicators::refresh(&txn, &sets, &[from, into], Utc::now()).await?;
        }
        let now = Utc::now();
        let by = self.principal().subject.clone();
        rows::decide(&txn, id, "confirmed", &by, Some(note), now).await?;
        rows::supersede(&txn, row.source_record, &by, now).await?;
        rows::set_method(&txn, &[row.source_record], Method::Confirmed.as_str()).await?;
        let decided = rows::get(&txn, id).await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on("confirm_match", Some(id), &[from, into], note);
        Ok(decided.map(MatchReview::from))
    }

    /// Rejects a queued pair: the two stay apart, and are never linked automatically.
    pub async fn reject_match(
        &self,
        id: Uuid,
        note: &str,
    ) -> Result<Option<MatchReview>, GateError> {
        self.require_reviewer("rejectMatch")?;
        let Some(row) = self.open_review(id).await? else {
            return Ok(None);
        };
        let conn = self.inner.store.conn();
        let by = self.principal().subject.clone();
        if !rows::decide(conn, id, "rejected", &by, Some(note), Utc::now()).await? {
            return Err(GateError::Invalid(format!(
                "review {id} was already decided"
            )));
        }
        self.act_on(
            "reject_match",
            Some(id),
            &[row.record_person, row.candidate_person],
            note,
        );
        Ok(rows::get(conn, id).await?.map(MatchReview::from))
    }

    /// Splits a wrong merge: the named source records (and the records of facts about them)
    /// move, with everything derived from them, to a new person, and the two persons are
    /// recorded as not one. Returns the new person; `None` when no person has the id.
    pub async fn split_person(
        &self,
        person: PersonId,
        records: &[SourceRecordId],
        note: &str,
    ) -> Result<Option<PersonId>, GateError> {
        self.require_reviewer("splitPerson")?;
        let conn = self.inner.store.conn();
        let txn = begin_write(conn).await?;
        let Some(old) = graph::persons(&txn, &[person]).await?.pop() else {
            return Ok(None);
        };
        let moving = rows::records_with_followers(&txn, person, records).await?;
        if moving.is_empty() {
            return Err(GateError::Invalid(
                "none of the named source records is linked to this person".into(),
            ));
        }
        let all = rows::provenance(&txn, &[person]).await?;
        if all.iter().all(|(_, r)| moving.contains(&r.id)) {
            return Err(GateError::Invalid(
                "every source record of the person was named: nothing would remain".into(),
            ));
        }
        let moved_dob = graph::names(&txn, &[person])
            .await?
            .into_iter()
            .filter(|n| n.source_record.is_some_and(|s| moving.contains(&s)))
            .find_map(|n| n.date_of_birth);
        let now = Utc::now();
        let new = Person {
            id: PersonId::new(),
            date_of_birth: moved_dob.or(old.date_of_birth),
            ..old
        };
        rows::insert_person(&txn, &new, now).await?;
        rows::move_records(&txn, &moving, person, new.id).await?;
        rows::set_method(&txn, &moving, Method::Split.as_str()).await?;
        crate::store::families::rebuild(&txn, &[person, new.id], now).await?;
        let sets = self.inner.gate.indicator_sets();
        crate::store::indicators::refresh(&txn, &sets, &[person, new.id], now).await?;
        let by = self.principal().subject.clone();
        crate::store::sync::insert_reviews(
            &txn,
            &[MatchReviewRow {
                id: Uuid::now_v7(),
                source_record: moving[0],
                record_person: new.id,
                candidate_person: person,
                score: 0.0,
                detail: "{}".into(),
                status: "rejected".into(),
                created_at: now,
                decided_at: Some(now),
                decided_by: Some(by),
                note: Some(format!("split: {note}")),
            }],
        )
        .await?;
        txn.commit().await.map_err(crate::store::StoreError::from)?;
        self.act_on("split_person", None, &[person, new.id], note);
        Ok(Some(new.id))
    }
}
