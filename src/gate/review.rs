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
        .and_then(|r| <Vec<Read> as serde::Deserialize>::deserialize(r).ok())
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

    async fn with_reviews(&self, entries: &[LogRow]) -> Result<HashMap<i64, Review>, GateError> {
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
        let reviews = self.with_reviews(&out).await?;
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

/// The log's head and the last verification of its chain.
#[derive(Clone, Debug)]
pub struct LogStatus {
    pub head: i64,
    pub verified: Option<crate::audit::Verified>,
}

impl RequestGate {
    /// The chain's head and when it was last verified (board_member, dpo).
    pub async fn access_log_status(&self) -> Result<LogStatus, GateError> {
        self.require_board("accessLogStatus")?;
        let head = rows::head(self.inner.store.conn()).await?;
        Ok(LogStatus {
            head: head.seq,
            verified: self.inner.log.last_verified(),
        })
    }

    /// Verifies the whole chain now (board_member, dpo); the check is itself logged.
    pub async fn verify_access_log(&self) -> Result<LogStatus, GateError> {
        self.require_board("verifyAccessLog")?;
        let report = self.inner.log.verify(1).await?;
        self.act(serde_json::json!({
            "action": "verify_access_log",
            "intact": report.is_intact(),
            "head": report.head,
        }));
        self.access_log_status().await
    }
}

/// How often one protocol clause decided reads in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClauseUsage {
    pub protocol: String,
    pub version: String,
    pub clause: String,
    pub summary: String,
    /// Reads it released (including break-glass).
    pub released: u64,
    /// Reads it refused.
    pub refused: u64,
    pub last_used: Option<chrono::DateTime<Utc>>,
}

/// Something in the log the board should look at, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// `heavy_reader`, `no_involvement` or `out_of_hours`.
    pub kind: String,
    pub principal: String,
    pub organisation: String,
    /// The entries behind it (positions in the chain), newest first, at most 20.
    pub entries: Vec<i64>,
    /// The evidence in words.
    pub evidence: String,
}

/// The most entries a usage or anomaly scan reads.
const REVIEW_SCAN_LIMIT: usize = 200_000;

/// Whether a time is outside 07:00-19:00 on a weekday (UTC).
fn out_of_hours(at: chrono::DateTime<Utc>) -> bool {
    use chrono::{Datelike, Timelike, Weekday};
    matches!(at.weekday(), Weekday::Sat | Weekday::Sun) || !(7..19).contains(&at.hour())
}

impl RequestGate {
    /// Entries in `[from, to)`, newest first, up to the scan limit; and whether it was hit.
    async fn scan(
        &self,
        from: Option<chrono::DateTime<Utc>>,
        to: Option<chrono::DateTime<Utc>>,
    ) -> Result<(Vec<LogRow>, bool), GateError> {
        let filter = LogFilter {
            from,
            to,
            ..LogFilter::default()
        };
        let (mut out, mut before) = (Vec::new(), None);
        loop {
            let page = rows::search(self.inner.store.conn(), &filter, before, 5_000).await?;
            let Some(last) = page.last() else {
                return Ok((out, false));
            };
            before = Some(last.seq);
            out.extend(page);
            if out.len() >= REVIEW_SCAN_LIMIT {
                return Ok((out, true));
            }
        }
    }

    /// For every clause of every protocol loaded, how many reads it released and refused
    /// since `since`, and when it was last used: clauses nobody uses are candidates for
    /// withdrawal at review. The flag says the scan stopped at its limit.
    pub async fn protocol_usage(
        &self,
        since: chrono::DateTime<Utc>,
    ) -> Result<(Vec<ClauseUsage>, bool), GateError> {
        self.require_board("protocolUsage")?;
        self.act(serde_json::json!({ "action": "protocol_usage" }));
        let (entries, limited) = self.scan(Some(since), None).await?;
        let mut usage: Vec<ClauseUsage> = self
            .inner
            .rules
            .protocols()
            .iter()
            .flat_map(|p| {
                p.clauses.iter().map(|c| ClauseUsage {
                    protocol: p.id.clone(),
                    version: p.version.clone(),
                    clause: c.id.clone(),
                    summary: c.summary.clone(),
                    released: 0,
                    refused: 0,
                    last_used: None,
                })
            })
            .collect();
        for e in &entries {
            for r in reads_of(e) {
                let (Some(p), Some(v), Some(c)) = (&r.protocol, &r.protocol_version, &r.clause)
                else {
                    continue;
                };
                if let Some(u) = usage
                    .iter_mut()
                    .find(|u| &u.protocol == p && &u.version == v && &u.clause == c)
                {
                    if r.released > 0 {
                        u.released += r.released;
                    } else {
                        u.refused += r.withheld.max(1);
                    }
                    u.last_used = u.last_used.max(Some(e.at));
                }
            }
        }
        Ok((usage, limited))
    }

    /// Reads in `[from, to)` the board should look at: principals who read far more children
    /// than others in the same role, reads with no involvement (break-glass, and refusals for
    /// want of one), and reads out of hours (before 07:00 or after 19:00 UTC, or at weekends).
    pub async fn anomalies(
        &self,
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
    ) -> Result<(Vec<Anomaly>, bool), GateError> {
        self.require_board("anomalies")?;
        self.act(serde_json::json!({ "action": "anomalies" }));
        let (entries, limited) = self.scan(Some(from), Some(to)).await?;
        type Key = (String, String);
        let key = |e: &LogRow| {
            (
                e.principal_subject.clone(),
                e.principal_organisation.clone(),
            )
        };
        let mut subjects: HashMap<Key, std::collections::BTreeSet<PersonId>> = HashMap::new();
        let mut role_of: HashMap<Key, String> = HashMap::new();
        let mut no_involvement: HashMap<Key, Vec<i64>> = HashMap::new();
        let mut late: HashMap<Key, Vec<i64>> = HashMap::new();
        for e in &entries {
            let reads = reads_of(e);
            let released: Vec<&Read> = reads.iter().filter(|r| r.released > 0).collect();
            if !released.is_empty() {
                subjects
                    .entry(key(e))
                    .or_default()
                    .extend(released.iter().map(|r| r.subject));
                role_of.insert(key(e), e.principal_roles.join(","));
                if out_of_hours(e.at) {
                    late.entry(key(e)).or_default().push(e.seq);
                }
            }
            if reads.iter().any(|r| {
                matches!(
                    r.decision.as_str(),
                    "break_glass" | "no_legitimate_relationship"
                )
            }) {
                no_involvement.entry(key(e)).or_default().push(e.seq);
            }
        }
        let mut out = Vec::new();
        // Heavy readers: more than three times their role's median and more than ten children.
        let mut by_role: HashMap<&str, Vec<usize>> = HashMap::new();
        for (k, s) in &subjects {
            by_role
                .entry(role_of.get(k).map_or("", String::as_str))
                .or_default()
                .push(s.len());
        }
        for counts in by_role.values_mut() {
            counts.sort_unstable();
        }
        for (k, s) in &subjects {
            let role = role_of.get(k).map_or("", String::as_str);
            let peers = &by_role[role];
            let median = peers[peers.len() / 2];
            if peers.len() > 1 && s.len() > 10 && s.len() > 3 * median.max(1) {
                out.push(Anomaly {
                    kind: "heavy_reader".into(),
                    principal: k.0.clone(),
                    organisation: k.1.clone(),
                    entries: Vec::new(),
                    evidence: format!(
                        "read {} children; the median for {role} is {median} ({} peers)",
                        s.len(),
                        peers.len()
                    ),
                });
            }
        }
        for (kind, found, words) in [
            (
                "no_involvement",
                no_involvement,
                "reads with no recorded involvement (break-glass or refused for want of one)",
            ),
            ("out_of_hours", late, "reads out of hours"),
        ] {
            for (k, seqs) in found {
                out.push(Anomaly {
                    kind: kind.into(),
                    principal: k.0,
                    organisation: k.1,
                    evidence: format!("{} {words}", seqs.len()),
                    entries: seqs.into_iter().take(20).collect(),
                });
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.principal).cmp(&(&b.kind, &b.principal)));
        Ok((out, limited))
    }
}

/// How to group the access summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryKey {
    /// The reader's kind of organisation.
    Agency,
    Category,
    Purpose,
    /// The ISO week (`2026-W47`).
    Week,
    Decision,
}

/// One group of the access summary: its key values and counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The values of the grouping keys, in the order asked for.
    pub key: Vec<String>,
    /// Reads (subject × category × holder) decided.
    pub reads: u64,
    pub released: u64,
    pub denied: u64,
    pub break_glass: u64,
}

impl RequestGate {
    /// Reads in `[from, to)` counted by the keys asked for (agency × category × purpose ×
    /// week by default), denials and break-glass included. The flag says the scan stopped at
    /// its limit.
    pub async fn access_summary(
        &self,
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
        keys: &[SummaryKey],
    ) -> Result<(Vec<SummaryRow>, bool), GateError> {
        use chrono::Datelike;
        self.require_board("accessSummary")?;
        self.act(serde_json::json!({ "action": "access_summary" }));
        let (entries, limited) = self.scan(Some(from), Some(to)).await?;
        let mut groups: std::collections::BTreeMap<Vec<String>, SummaryRow> = Default::default();
        for e in &entries {
            let agency = e
                .principal_organisation
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            let week = format!("{}-W{:02}", e.at.iso_week().year(), e.at.iso_week().week());
            for r in reads_of(e) {
                let key: Vec<String> = keys
                    .iter()
                    .map(|k| match k {
                        SummaryKey::Agency => agency.clone(),
                        SummaryKey::Category => r.category.to_string(),
                        SummaryKey::Purpose => e.purpose.clone().unwrap_or_default(),
                        SummaryKey::Week => week.clone(),
                        SummaryKey::Decision => r.decision.clone(),
                    })
                    .collect();
                let row = groups.entry(key.clone()).or_insert_with(|| SummaryRow {
                    key,
                    reads: 0,
                    released: 0,
                    denied: 0,
                    break_glass: 0,
                });
                row.reads += 1;
                if r.released > 0 {
                    row.released += 1;
                } else {
                    row.denied += 1;
                }
                if r.decision == "break_glass" {
                    row.break_glass += 1;
                }
            }
        }
        Ok((groups.into_values().collect(), limited))
    }
}
