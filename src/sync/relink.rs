//! `kinship link --all`: relinks the whole graph. Every person's linkage records go through
//! the same Fellegi–Sunter model `kinship link` runs over files (blocking, u from random pairs,
//! m by EM over the graph's own pairs, name frequencies), and then:
//!
//! - two persons whose records match at or above the link threshold, with names agreeing,
//!   become one, unless a reviewer rejected the pair or the merge would put two different NHS
//!   numbers or UPNs on one person; the records that had been the absorbed person's own take
//!   the method `probabilistic` with the score and its explanation;
//! - a pair between the thresholds (or above, with names that do not agree) is queued for
//!   review, unless it is already queued or rejected.
//!
//! Links are only added: a wrong one is undone with `splitPerson`. Families and households
//! of merged persons are rebuilt.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use chrono::Utc;
use uuid::Uuid;

use super::SyncError;
use super::apply::linkage_records;
use crate::config::LinkageConfig;
use crate::linkage::identifiers_clash;
use crate::linkage::probabilistic::{Linker, Record, Scored, Scorer, names_agree};
use crate::model::{IdentifierSystem, PersonId};
use crate::store::families::{self, find};
use crate::store::matches as rows;
use crate::store::sync::{MatchReviewRow, insert_reviews, strong_identifiers_of};
use crate::store::{Store, begin_write};

/// What a relink did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relinked {
    pub persons_before: u64,
    pub persons_after: u64,
    pub records: u64,
    pub pairs_compared: u64,
    /// Persons merged into another.
    pub merged: u64,
    /// Pairs queued for review.
    pub queued: u64,
    pub seconds: f64,
}

/// Below this many linkage records the graph's pairs are too few to estimate m by EM.
const MIN_FOR_EM: usize = 2_000;

/// Persons read per page while gathering the graph.
const PAGE: u64 = 5_000;

/// Relinks every person in the store, and re-evaluates the indicators of the persons merged.
pub async fn relink_all(
    store: &Store,
    config: &LinkageConfig,
    indicators: &crate::practice::indicators::IndicatorSets,
) -> Result<Relinked, SyncError> {
    let started = Instant::now();
    let conn = store.conn();
    let mut records: Vec<Record> = Vec::new();
    let mut owner: Vec<PersonId> = Vec::new();
    let mut after = None;
    let mut persons_before = 0u64;
    loop {
        let page = rows::person_ids(conn, after, PAGE).await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        persons_before += page.len() as u64;
        for (person, held) in linkage_records(conn, &page).await? {
            for r in held {
                records.push(r);
                owner.push(person);
            }
        }
        after = Some(last);
    }
    let (mut scored, summary) = Linker {
        left: &records,
        right: None,
    }
    .run();
    // Too few records to estimate m by EM: score the candidate pairs with the model sync uses.
    if records.len() < MIN_FOR_EM {
        let scorer = Scorer::standard(persons_before);
        for s in &mut scored {
            let (l, r) = (s.l, s.r);
            *s = match scorer.rescore(&records[l as usize], &records[r as usize]) {
                Some(fixed) => Scored { l, r, ..fixed },
                None => Scored {
                    probability: 0.0,
                    ..s.clone()
                },
            };
        }
    }

    let mut rejected: HashSet<(PersonId, PersonId)> = HashSet::new();
    let mut queued: HashSet<(PersonId, PersonId)> = HashSet::new();
    for (a, b, status) in rows::reviewed_pairs(conn).await? {
        let key = (a.min(b), a.max(b));
        if status == "rejected" {
            rejected.insert(key);
        } else {
            queued.insert(key);
        }
    }
    // The best pair of records for each pair of persons.
    let mut best: HashMap<(PersonId, PersonId), usize> = HashMap::new();
    for (i, s) in scored.iter().enumerate() {
        let (a, b) = (owner[s.l as usize], owner[s.r as usize]);
        if a == b || s.probability < config.review_threshold {
            continue;
        }
        let key = (a.min(b), a.max(b));
        let e = best.entry(key).or_insert(i);
        if scored[*e].probability < s.probability {
            *e = i;
        }
    }
    let mut pairs: Vec<((PersonId, PersonId), usize)> = best.into_iter().collect();
    pairs.sort_by(|x, y| {
        scored[y.1]
            .probability
            .total_cmp(&scored[x.1].probability)
            .then(x.0.cmp(&y.0))
    });

    // Strong identifiers each cluster holds, to refuse a merge that would join two.
    let involved: Vec<PersonId> = pairs
        .iter()
        .flat_map(|((a, b), _)| [*a, *b])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut held: HashMap<PersonId, BTreeSet<(IdentifierSystem, String)>> = HashMap::new();
    for chunk in involved.chunks(5_000) {
        for (p, system, value) in strong_identifiers_of(conn, chunk).await? {
            if matches!(system, IdentifierSystem::NhsNumber | IdentifierSystem::Upn) {
                held.entry(p).or_default().insert((system, value));
            }
        }
    }
    let mut parent: HashMap<PersonId, PersonId> = HashMap::new();
    let mut merges: Vec<(PersonId, PersonId, usize)> = Vec::new();
    let mut reviews: Vec<((PersonId, PersonId), usize)> = Vec::new();
    for ((a, b), i) in pairs {
        let s = &scored[i];
        let names_agree = names_agree(s.levels[0]);
        if s.probability >= config.link_threshold && names_agree && !rejected.contains(&(a, b)) {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra == rb {
                continue;
            }
            let (ha, hb) = (
                held.get(&ra).cloned().unwrap_or_default(),
                held.get(&rb).cloned().unwrap_or_default(),
            );
            if !identifiers_clash(&ha, &hb) {
                // The earlier person absorbs the later.
                let (into, from) = if ra < rb { (ra, rb) } else { (rb, ra) };
                parent.insert(from, into);
                held.entry(into)
                    .or_default()
                    .extend(hb.into_iter().chain(ha));
                merges.push((from, into, i));
                continue;
            }
        }
        if !queued.contains(&(a, b)) && !rejected.contains(&(a, b)) {
            reviews.push(((a, b), i));
        }
    }

    let now = Utc::now();
    let txn = begin_write(conn).await?;
    // Each absorbed person goes into its cluster's root, which is never itself absorbed.
    let mut touched: Vec<PersonId> = Vec::new();
    let mut absorbed: Vec<PersonId> = Vec::new();
    for (from, _, i) in &merges {
        let into = find(&mut parent, *from);
        let score = scored[*i].explained();
        let detail = serde_json::to_string(&score).unwrap_or_default();
        rows::mark_linked(
            &txn,
            *from,
            "probabilistic",
            Some(score.probability),
            Some(&detail),
        )
        .await?;
        rows::merge(&txn, *from, into).await?;
        touched.push(into);
        absorbed.push(*from);
    }
    families::rebuild(&txn, &touched, now).await?;
    absorbed.extend(&touched);
    crate::store::indicators::refresh(&txn, indicators, &absorbed, now).await?;
    // A review names a person that still exists: the root of each side.
    let sides: Vec<PersonId> = reviews
        .iter()
        .flat_map(|((a, b), _)| [*a, *b])
        .map(|p| find(&mut parent, p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let first = rows::first_records(&txn, &sides).await?;
    let mut seen: HashSet<(PersonId, PersonId)> = HashSet::new();
    let mut queue = Vec::new();
    for ((a, b), i) in reviews {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        // The later person's record is the one in doubt.
        let (record_person, candidate) = if ra > rb { (ra, rb) } else { (rb, ra) };
        if ra == rb || !seen.insert((record_person, candidate)) {
            continue;
        }
        let Some(record) = first.get(&record_person).copied() else {
            continue;
        };
        let score = scored[i].explained();
        queue.push(MatchReviewRow {
            id: Uuid::now_v7(),
            source_record: record,
            record_person,
            candidate_person: candidate,
            score: score.probability,
            detail: serde_json::to_string(&score).unwrap_or_default(),
            status: "open".into(),
            created_at: now,
            decided_at: None,
            decided_by: None,
            note: None,
        });
    }
    insert_reviews(&txn, &queue).await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(Relinked {
        persons_before,
        persons_after: persons_before - merges.len() as u64,
        records: records.len() as u64,
        pairs_compared: summary.pairs_compared,
        merged: merges.len() as u64,
        queued: queue.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
    })
}
