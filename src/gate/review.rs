//! The data-sharing board's view of the access log: filtered entries, a subject access report,
//! and the break-glass queue with its findings. Only `board_member` and `dpo` may look; every
//! look is itself an action in the log.

use std::collections::HashMap;

use chrono::Utc;

use super::{GateError, RequestGate};
use crate::audit::Read;
use crate::model::{DataCategory, PersonId, Role};
use crate::store::log::{self as rows, LogFilter, LogRow, Review};

/// What the board filters by: the stored columns, and what each entry decided.
#[derive(Clone, Debug, Default)]
pub struct AccessFilter {
    pub log: LogFilter,
    pub category: Option<DataCategory>,
    /// A reason code: `permitted`, `break_glass`, `consent_required`, ...
    pub decision: Option<String>,
    pub protocol: Option<String>,
}

impl AccessFilter {
    fn reads_match(&self, row: &LogRow) -> bool {
        if self.category.is_none() && self.decision.is_none() && self.protocol.is_none() {
            return true;
        }
        reads_of(row).iter().any(|r| {
            self.category.is_none_or(|c| r.category == c)
                && self.decision.as_ref().is_none_or(|d| &r.decision == d)
                && self
                    .protocol
                    .as_ref()
                    .is_none_or(|p| r.protocol.as_ref() == Some(p))
        })
    }
}

/// The reads an entry records.
pub fn reads_of(row: &LogRow) -> Vec<Read> {
    row.reads
        .get("reads")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default()
}

/// A page of entries, newest first, with the board's findings on them.
#[derive(Clone, Debug, Default)]
pub struct LogPage {
    pub entries: Vec<LogRow>,
    pub reviews: HashMap<i64, Review>,
    /// More entries match before the last one returned.
    pub has_next: bool,
    /// The scan stopped at its limit before `first` entries matched the read filters.
    pub scan_limited: bool,
}

/// How many stored entries one query looks at when filtering on what entries decided.
const SCAN_LIMIT: usize = 50_000;

/// The outcomes a board may record for a break-glass read.
pub const OUTCOMES: &[&str] = &["appropriate", "inappropriate", "needs_follow_up"];

impl RequestGate {
    fn require_board(&self, what: &str) -> Result<(), GateError> {
        let p = self.principal();
        if p.has_role(Role::BoardMember) || p.has_role(Role::Dpo) {
            Ok(())
        } else {
            Err(GateError::Forbidden(format!(
                "`{what}` needs the board_member or dpo role"
            )))
        }
    }

    async fn with_reviews(&self, entries: Vec<LogRow>) -> Result<HashMap<i64, Review>, GateError> {
        let flagged: Vec<i64> = entries
            .iter()
            .filter(|e| e.break_glass)
            .map(|e| e.seq)
            .collect();
        Ok(rows::reviews(self.inner.store.conn(), &flagged)
            .await?
            .into_iter()
            .map(|r| (r.seq, r))
            .collect())
    }

    /// Entries matching `filter`, newest first: `first` of them, before position `after`.
    pub async fn access_log(
        &self,
        filter: AccessFilter,
        first: usize,
        after: Option<i64>,
    ) -> Result<LogPage, GateError> {
        self.require_board("accessLog")?;
        self.act(serde_json::json!({
            "action": "access_log_query",
            "subject": filter.log.subject.map(|s| s.to_string()),
        }));
        let conn = self.inner.store.conn();
        let (mut out, mut before, mut scanned) = (Vec::new(), after, 0usize);
        let page = (first + 1).clamp(50, 1_000) as u64;
        let mut exhausted = false;
        while out.len() <= first && scanned < SCAN_LIMIT {
            let rows = rows::search(conn, &filter.log, before, page).await?;
            let Some(last) = rows.last() else {
                exhausted = true;
                break;
            };
            before = Some(last.seq);
            scanned += rows.len();
            let short = (rows.len() as u64) < page;
            out.extend(rows.into_iter().filter(|r| filter.reads_match(r)));
            if short {
                exhausted = true;
                break;
            }
        }
        let has_next = out.len() > first;
        out.truncate(first);
        let reviews = self.with_reviews(out.clone()).await?;
        Ok(LogPage {
            has_next,
            scan_limited: !exhausted && !has_next && scanned >= SCAN_LIMIT,
            entries: out,
            reviews,
        })
    }

    /// Every access to one person's data, newest first, each entry keeping only the reads
    /// about that person: what a subject access request or a complaint needs.
    pub async fn subject_access_report(
        &self,
        person: PersonId,
        first: usize,
    ) -> Result<Vec<LogRow>, GateError> {
        self.require_board("subjectAccessReport")?;
        self.act(serde_json::json!({
            "action": "subject_access_report",
            "subject": person.to_string(),
        }));
        let filter = LogFilter {
            subject: Some(person),
            ..LogFilter::default()
        };
        let mut rows = rows::search(self.inner.store.conn(), &filter, None, first as u64).await?;
        for row in &mut rows {
            let mine: Vec<Read> = reads_of(row)
                .into_iter()
                .filter(|r| r.subject == person)
                .collect();
            row.reads = serde_json::json!({ "reads": mine });
            row.subjects = vec![person];
        }
        Ok(rows)
    }

    /// Break-glass reads with no finding yet, newest first.
    pub async fn break_glass_queue(&self, first: usize) -> Result<Vec<LogRow>, GateError> {
        self.require_board("breakGlassReview")?;
        let conn = self.inner.store.conn();
        let seqs = rows::unreviewed_break_glass(conn, first as u64).await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.act(serde_json::json!({ "action": "break_glass_review_opened" }));
        let filter = LogFilter {
            seqs: Some(seqs),
            ..LogFilter::default()
        };
        Ok(rows::search(conn, &filter, None, first as u64).await?)
    }

    /// Records the board's finding on a break-glass read. `None` when entry `seq` is not a
    /// break-glass read; an error when it already has a finding.
    pub async fn review_break_glass(
        &self,
        seq: i64,
        outcome: &str,
        note: &str,
    ) -> Result<Option<Review>, GateError> {
        self.require_board("reviewBreakGlass")?;
        if !OUTCOMES.contains(&outcome) {
            return Err(GateError::Forbidden(format!(
                "outcome must be one of {}",
                OUTCOMES.join(", ")
            )));
        }
        let conn = self.inner.store.conn();
        let filter = LogFilter {
            seqs: Some(vec![seq]),
            break_glass: Some(true),
            ..LogFilter::default()
        };
        let Some(entry) = rows::search(conn, &filter, None, 1).await?.pop() else {
            return Ok(None);
        };
        let review = Review {
            seq,
            outcome: outcome.to_owned(),
            note: note.to_owned(),
            reviewed_by: self.principal().subject.clone(),
            reviewed_at: Utc::now(),
        };
        if !rows::insert_review(conn, &review).await? {
            return Err(GateError::Forbidden(format!(
                "entry #{seq} already has the board's finding"
            )));
        }
        self.act(serde_json::json!({
            "action": "review_break_glass",
            "entry": seq,
            "outcome": outcome,
            "subject": entry.subjects.first().map(|s| s.to_string()),
        }));
        Ok(Some(review))
    }
}
