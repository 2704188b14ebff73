//! The board's review of the access log (board_member, dpo).

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::{bad_input, gate_failed, parse_category, parse_id};
use super::person::gate;
use crate::gate::review::{AccessFilter, reads_of};
use crate::model::PersonId;
use crate::store::log::{LogFilter, LogRow, Review};

/// What the board filters the access log by; every field given narrows it.
#[derive(InputObject, Default)]
pub struct AccessLogFilter {
    /// The principal's subject (user id).
    pub principal: Option<String>,
    /// An organisation (`police:anyshire`) or a kind of organisation (`police`).
    pub agency: Option<String>,
    /// A person whose data was read or refused.
    pub subject: Option<ID>,
    pub category: Option<String>,
    pub purpose: Option<String>,
    /// A reason code: `permitted`, `break_glass`, `consent_required`, ...
    pub decision: Option<String>,
    pub break_glass: Option<bool>,
    /// Entries with a read flagged for the board: break-glass, or a shielded person.
    pub flagged: Option<bool>,
    /// A protocol id, e.g. `P-MASH`.
    pub protocol: Option<String>,
    /// The id of a registered operation.
    pub registered_operation: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One category of one person's data in an entry, and what was decided.
#[derive(SimpleObject)]
pub struct AccessRead {
    pub subject: ID,
    pub category: String,
    /// The organisation that holds the data.
    pub owner: String,
    pub decision: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub clause: Option<String>,
    pub released: u64,
    pub withheld: u64,
    pub obligations: Vec<String>,
}

/// The board's finding on a break-glass read.
#[derive(SimpleObject)]
pub struct BreakGlassFinding {
    pub outcome: String,
    pub note: String,
    pub reviewed_by: String,
    pub reviewed_at: DateTime<Utc>,
}

impl From<Review> for BreakGlassFinding {
    fn from(r: Review) -> Self {
        Self {
            outcome: r.outcome,
            note: r.note,
            reviewed_by: r.reviewed_by,
            reviewed_at: r.reviewed_at,
        }
    }
}

/// One access-log entry: one request that read or refused personal data.
#[derive(SimpleObject)]
pub struct AccessLogEntry {
    /// The entry's position in the chain.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub client_addr: Option<String>,
    pub principal: String,
    pub organisation: String,
    pub roles: Vec<String>,
    pub purpose: Option<String>,
    /// The written justification, for break-glass reads.
    pub justification: Option<String>,
    pub break_glass: bool,
    pub operation_name: Option<String>,
    /// The id of the registered operation the request ran, if it was one.
    pub registered_operation: Option<String>,
    pub query_hash: String,
    pub outcome: String,
    pub subjects: Vec<ID>,
    pub reads: Vec<AccessRead>,
    pub prev_hash: String,
    pub entry_hash: String,
    /// The board's finding, for a reviewed break-glass read.
    pub finding: Option<BreakGlassFinding>,
}

fn entry(row: LogRow, finding: Option<Review>) -> AccessLogEntry {
    let reads = reads_of(&row)
        .into_iter()
        .map(|r| AccessRead {
            subject: ID(r.subject.to_string()),
            category: r.category.to_string(),
            owner: r.owner.to_string(),
            decision: r.decision,
            protocol: r.protocol,
            protocol_version: r.protocol_version,
            clause: r.clause,
            released: r.released,
            withheld: r.withheld,
            obligations: r.obligations,
        })
        .collect();
    AccessLogEntry {
        seq: row.seq,
        at: row.at,
        request_id: row.request_id,
        client_addr: row.client_addr,
        principal: row.principal_subject,
        organisation: row.principal_organisation,
        roles: row.principal_roles,
        purpose: row.purpose,
        justification: row.justification,
        break_glass: row.break_glass,
        operation_name: row.operation_name,
        registered_operation: row.registered_operation,
        query_hash: row.query_hash,
        outcome: row.outcome,
        subjects: row.subjects.iter().map(|s| ID(s.to_string())).collect(),
        reads,
        prev_hash: row.prev_hash,
        entry_hash: row.entry_hash,
        finding: finding.map(Into::into),
    }
}

/// A page of the access log, newest first.
#[derive(SimpleObject)]
pub struct AccessLogPage {
    pub entries: Vec<AccessLogEntry>,
    /// Give as `after` for the next page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
    /// The search looked at its limit of entries before finding a page; narrow the filter
    /// (a time range, a principal) to see further back.
    pub scan_limited: bool,
}

/// How often one protocol clause decided reads.
#[derive(SimpleObject)]
pub struct ClauseUsage {
    pub protocol: String,
    pub protocol_version: String,
    pub clause: String,
    pub summary: String,
    pub released: u64,
    pub refused: u64,
    /// Null: not used in the period (a candidate for withdrawal at review).
    pub last_used: Option<DateTime<Utc>>,
}

/// Clause usage over a period.
#[derive(SimpleObject)]
pub struct ProtocolUsage {
    pub clauses: Vec<ClauseUsage>,
    /// The scan stopped at its limit; the counts cover the newest entries only.
    pub scan_limited: bool,
}

/// Something the board should look at.
#[derive(SimpleObject)]
pub struct Anomaly {
    /// `heavy_reader`, `no_involvement` or `out_of_hours`.
    pub kind: String,
    pub principal: String,
    pub organisation: String,
    /// The entries behind it, newest first (at most 20).
    pub entries: Vec<i64>,
    pub evidence: String,
}

/// Anomalies over a period.
#[derive(SimpleObject)]
pub struct AnomalyReport {
    pub anomalies: Vec<Anomaly>,
    pub scan_limited: bool,
}

/// What the access summary groups by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SummaryKey {
    /// The reader's kind of organisation.
    Agency,
    Category,
    Purpose,
    /// The ISO week, e.g. `2026-W47`.
    Week,
    /// The reason code.
    Decision,
}

/// One group of the access summary.
#[derive(SimpleObject)]
pub struct SummaryRow {
    /// The group's values, in the order of `groupBy`.
    pub key: Vec<String>,
    /// Reads decided (one per subject, category and holder in a request).
    pub reads: u64,
    pub released: u64,
    pub denied: u64,
    pub break_glass: u64,
}

/// Counts of reads over a period.
#[derive(SimpleObject)]
pub struct AccessSummary {
    pub rows: Vec<SummaryRow>,
    pub scan_limited: bool,
}

/// The board's review queries, merged into the query root.
#[derive(Default)]
pub struct ReviewQuery;

#[Object]
impl ReviewQuery {
    /// The access log, newest first, filtered (board_member, dpo). Looking is itself logged.
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: AccessLogFilter,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<AccessLogPage> {
        let first = first.clamp(1, 500) as usize;
        let after = after
            .map(|a| {
                a.parse::<i64>()
                    .map_err(|_| bad_input("`after` is not a cursor from this list"))
            })
            .transpose()?;
        let category = filter.category.as_deref().map(parse_category).transpose()?;
        let f = AccessFilter {
            log: LogFilter {
                principal: filter.principal,
                organisation: filter.agency,
                purpose: filter.purpose,
                break_glass: filter.break_glass,
                flagged: filter.flagged,
                subject: filter
                    .subject
                    .as_ref()
                    .map(|id| parse_id::<PersonId>(id, "person"))
                    .transpose()?,
                from: filter.from,
                to: filter.to,
                seqs: None,
                registered_operation: filter.registered_operation,
            },
            category,
            decision: filter.decision,
            protocol: filter.protocol,
        };
        let mut page = gate(ctx)?
            .access_log(f, first, after)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        let end_cursor = page.entries.last().map(|e| e.seq.to_string());
        Ok(AccessLogPage {
            entries: page
                .entries
                .into_iter()
                .map(|e| {
                    let finding = page.reviews.remove(&e.seq);
                    entry(e, finding)
                })
                .collect(),
            end_cursor,
            has_next_page: page.has_next,
            scan_limited: page.scan_limited,
        })
    }

    /// Every access to one person's data, newest first, each entry with only the reads about
    /// them: for a subject access request or a complaint (board_member, dpo).
    async fn subject_access_report(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        #[graphql(default = 500)] first: i32,
    ) -> Result<Vec<AccessLogEntry>> {
        let person = parse_id::<PersonId>(&person_id, "person")?;
        let rows = gate(ctx)?
            .subject_access_report(person, first.clamp(1, 10_000) as usize)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(rows.into_iter().map(|r| entry(r, None)).collect())
    }

    /// Reads in `[from, to)` counted by agency, category, purpose and week (or the keys in
    /// `groupBy`), denials and break-glass included (board_member, dpo).
    async fn access_summary(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(
            default_with = "vec![SummaryKey::Agency, SummaryKey::Category, SummaryKey::Purpose, SummaryKey::Week]"
        )]
        group_by: Vec<SummaryKey>,
    ) -> Result<AccessSummary> {
        use crate::gate::review::SummaryKey as K;
        let keys: Vec<K> = group_by
            .iter()
            .map(|k| match k {
                SummaryKey::Agency => K::Agency,
                SummaryKey::Category => K::Category,
                SummaryKey::Purpose => K::Purpose,
                SummaryKey::Week => K::Week,
                SummaryKey::Decision => K::Decision,
            })
            .collect();
        let (rows, limited) = gate(ctx)?
            .access_summary(from, to, &keys)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(AccessSummary {
            rows: rows
                .into_iter()
                .map(|r| SummaryRow {
                    key: r.key,
                    reads: r.reads,
                    released: r.released,
                    denied: r.denied,
                    break_glass: r.break_glass,
                })
                .collect(),
            scan_limited: limited,
        })
    }

    /// For every protocol clause, how many reads it released and refused since `since`, and
    /// when it was last used (board_member, dpo).
    async fn protocol_usage(
        &self,
        ctx: &Context<'_>,
        since: DateTime<Utc>,
    ) -> Result<ProtocolUsage> {
        let (usage, limited) = gate(ctx)?
            .protocol_usage(since)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(ProtocolUsage {
            clauses: usage
                .into_iter()
                .map(|u| ClauseUsage {
                    protocol: u.protocol,
                    protocol_version: u.version,
                    clause: u.clause,
                    summary: u.summary,
                    released: u.released,
                    refused: u.refused,
                    last_used: u.last_used,
                })
                .collect(),
            scan_limited: limited,
        })
    }

    /// Reads in `[from, to)` to look at: principals reading far more children than peers in
    /// the same role, reads with no involvement, reads out of hours (board_member, dpo).
    async fn anomalies(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<AnomalyReport> {
        let (found, limited) = gate(ctx)?
            .anomalies(from, to)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(AnomalyReport {
            anomalies: found
                .into_iter()
                .map(|a| Anomaly {
                    kind: a.kind,
                    principal: a.principal,
                    organisation: a.organisation,
                    entries: a.entries,
                    evidence: a.evidence,
                })
                .collect(),
            scan_limited: limited,
        })
    }

    /// The chain's head and its last verification (board_member, dpo). The hub verifies the
    /// whole chain at start and every `[audit] verify_seconds`.
    async fn access_log_status(&self, ctx: &Context<'_>) -> Result<AccessLogStatus> {
        let status = gate(ctx)?
            .access_log_status()
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(status.into())
    }

    /// Break-glass reads awaiting the board's finding, newest first (board_member, dpo).
    async fn break_glass_review(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
    ) -> Result<Vec<AccessLogEntry>> {
        let rows = gate(ctx)?
            .break_glass_queue(first.clamp(1, 1_000) as usize)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(rows.into_iter().map(|r| entry(r, None)).collect())
    }
}

/// The access log's head and the last verification of its chain.
#[derive(SimpleObject)]
pub struct AccessLogStatus {
    /// The last entry's position.
    pub head: i64,
    /// Null until this hub has verified the chain.
    pub last_verification: Option<LogVerification>,
}

/// One verification of the whole chain.
#[derive(SimpleObject)]
pub struct LogVerification {
    pub verified_at: DateTime<Utc>,
    pub intact: bool,
    pub entries_checked: u64,
    /// The head the chain was checked up to.
    pub head: i64,
    pub checkpoints_checked: u64,
    /// The first entry found changed, removed, inserted or reordered.
    pub first_break: Option<i64>,
    /// How it was broken: `changed`, `prev_hash_mismatch`, `missing`, `reordered`,
    /// `truncated`, `checkpoint_mismatch`, `checkpoint_signature`.
    pub break_kind: Option<String>,
    pub seconds: f64,
}

impl From<crate::gate::review::LogStatus> for AccessLogStatus {
    fn from(s: crate::gate::review::LogStatus) -> Self {
        Self {
            head: s.head,
            last_verification: s.verified.map(|(at, v)| LogVerification {
                verified_at: at,
                intact: v.is_intact(),
                entries_checked: v.checked,
                head: v.head,
                checkpoints_checked: v.checkpoints,
                first_break: v.first_break.as_ref().map(|(seq, _)| *seq),
                break_kind: v.first_break.as_ref().and_then(|(_, kind)| {
                    serde_json::to_value(kind)
                        .ok()?
                        .get("kind")?
                        .as_str()
                        .map(str::to_owned)
                }),
                seconds: v.seconds,
            }),
        }
    }
}

/// What the board found of a break-glass read.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum FindingOutcome {
    /// The justification stands.
    Appropriate,
    /// It did not justify the read; the owner and the principal's organisation follow up.
    Inappropriate,
    /// More is needed before the board decides.
    NeedsFollowUp,
}

/// The board's writes.
#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Verifies the whole access-log chain now and returns the result (board_member, dpo).
    async fn verify_access_log(&self, ctx: &Context<'_>) -> Result<AccessLogStatus> {
        let status = gate(ctx)?
            .verify_access_log()
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(status.into())
    }

    /// Records the board's finding on break-glass entry `seq` (board_member, dpo). A finding is
    /// recorded once; it is itself logged. Null when the entry is not a break-glass read.
    async fn review_break_glass(
        &self,
        ctx: &Context<'_>,
        seq: i64,
        outcome: FindingOutcome,
        note: String,
    ) -> Result<Option<BreakGlassFinding>> {
        let outcome = match outcome {
            FindingOutcome::Appropriate => "appropriate",
            FindingOutcome::Inappropriate => "inappropriate",
            FindingOutcome::NeedsFollowUp => "needs_follow_up",
        };
        if note.trim().is_empty() {
            return Err(bad_input("a finding needs a note"));
        }
        let review = gate(ctx)?
            .review_break_glass(seq, outcome, &note)
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        Ok(review.map(Into::into))
    }
}
