//! Partnership indicators (KPIs) as de-identified tables, and the small-number suppression that
//! makes them safe to publish.
//!
//! Every KPI is one table: a row per month of the period asked for, and a row for the whole
//! period; a column per category of a breakdown (outcome, age band, ...) when it has one, and
//! the row's total. A table of events (referrals, plans, attendances) is *additive*: its
//! months add up to the period row, column by column. A table of children (persistent absence)
//! is not: a child can appear in several months but once in the period.
//!
//! # The suppression rule
//!
//! Published sums are what let a reader recover a hidden cell: a row's total minus its visible
//! cells, or (in an additive table) the period's figure minus the visible months. So the rule
//! is stated over *groups*: a set of cells together with a published total they add up to
//! (each row of a breakdown with its total; each column of an additive table with the period
//! row). Referral tables that count the same referrals (the referral rate, re-referrals and
//! timeliness) share their total cells, so they are suppressed as one problem and cannot be
//! played against each other.
//!
//! 1. **Primary:** a count from 1 to 4 ([`THRESHOLD`] − 1) is suppressed. Zero is published:
//!    it identifies nobody, and a zero is never picked as a complement below, so a reader
//!    learns nothing from which cells are hidden.
//! 2. **Secondary:** in every group whose total is published and which holds a suppressed
//!    cell, the suppressed cells must be at least two, add up to at least [`THRESHOLD`], and
//!    add up to more than their number (hidden cells are never zero, so five hidden cells
//!    adding up to five are all ones). A group whose total is itself suppressed (as another
//!    group's complement) needs at least one suppressed member, or its visible members would
//!    add up to it. Until a group is safe, its smallest non-zero visible cell is suppressed
//!    too (the first such cell on a tie); if no such cell is left, its total is suppressed
//!    instead, and the group whose member that total is takes it from there.
//! 3. Step 2 is repeated over every group until nothing changes, so a complement chosen for a
//!    row is itself protected in its column (and the other way round).
//!
//! Then no published total minus the visible cells of its group equals one suppressed cell,
//! and no set of suppressed cells in a group is small enough to pin each to a value. The rule
//! protects each row and column; it does not claim to defeat solving the whole table as a
//! system of equations (statistical agencies use linear programming for that).
//!
//! A figure derived from counts (a rate per 10,000, a percentage) is shown only when every
//! count it is computed from is shown.
//!
//! Limits: pure; no IO, no store, no gate.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::early_help::AssessmentOutcome;
use super::referrals::vocabulary;

/// Counts below this are suppressed.
pub const THRESHOLD: u64 = 5;

/// A set of cells and the published total they add up to (indices into a cell vector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub members: Vec<usize>,
    pub total: usize,
}

/// Which of `values` to suppress so that no suppressed value can be recovered from the totals
/// of `groups`: the rule in the module documentation.
pub fn suppress(values: &[u64], groups: &[Group]) -> Vec<bool> {
    let mut hidden: Vec<bool> = values.iter().map(|v| (1..THRESHOLD).contains(v)).collect();
    loop {
        let mut changed = false;
        for g in groups {
            while !safe(values, &hidden, g) {
                let complement = g
                    .members
                    .iter()
                    .copied()
                    .filter(|&i| !hidden[i] && values[i] > 0)
                    .min_by_key(|&i| values[i]);
                match complement {
                    Some(i) => hidden[i] = true,
                    None if !hidden[g.total] => hidden[g.total] = true,
                    // Nothing left to hide: every member is hidden or zero.
                    None => break,
                }
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

/// Whether no hidden cell of `g` can be worked out from `g` alone.
fn safe(values: &[u64], hidden: &[bool], g: &Group) -> bool {
    let (count, sum) = g
        .members
        .iter()
        .filter(|&&i| hidden[i])
        .fold((0u64, 0u64), |(n, s), &i| (n + 1, s + values[i]));
    if hidden[g.total] {
        // A hidden total is the sum of its members: it needs a hidden member beside it.
        count >= 1
    } else {
        count == 0 || (count >= 2 && sum >= THRESHOLD && sum > count)
    }
}

/// A stretch of days, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Window {
    /// The calendar months `self` touches, each cut to `self`.
    pub fn months(self) -> Vec<Window> {
        let mut out = Vec::new();
        let mut start = self.from;
        while start <= self.to {
            let next = first_of_next_month(start);
            let end = next.pred_opt().unwrap_or(next).min(self.to);
            out.push(Window {
                from: start,
                to: end,
            });
            start = next;
        }
        out
    }

    /// Which of `months` holds `day`, if any.
    pub fn month_index(months: &[Window], day: NaiveDate) -> Option<usize> {
        months.iter().position(|m| m.from <= day && day <= m.to)
    }

    /// The month's label, e.g. `2027-01`.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.from.year(), self.from.month())
    }
}

fn first_of_next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MAX)
}

/// What a KPI's headline value is, from the shown counts of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    /// The row's total.
    Count,
    /// The row's total per 10,000 of a population (children, say).
    Per10k { population: Cell },
    /// The columns `numerator` as a percentage of the columns `denominator` (the row's total
    /// when empty).
    Percent {
        numerator: Vec<usize>,
        denominator: Vec<usize>,
    },
}

/// One count as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub count: u64,
    pub suppressed: bool,
}

impl Cell {
    /// A count nothing else constrains, suppressed by the primary rule alone (a population).
    pub fn alone(count: u64) -> Self {
        Self {
            count,
            suppressed: (1..THRESHOLD).contains(&count),
        }
    }

    /// The count, or `None` when suppressed.
    pub fn shown(self) -> Option<u64> {
        (!self.suppressed).then_some(self.count)
    }
}

/// One row as published: a month, or the whole period.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub window: Window,
    /// One per column of the breakdown (none for a KPI without one).
    pub cells: Vec<Cell>,
    pub total: Cell,
    /// The headline value; `None` when a count it needs is suppressed or it is undefined.
    pub value: Option<f64>,
}

/// The counts of one KPI before suppression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// The breakdown's columns; empty when the KPI is a single count. Never exactly one.
    pub columns: Vec<&'static str>,
    /// Per month: the cells (one per column) and the total.
    pub months: Vec<(Vec<u64>, u64)>,
    /// The whole period.
    pub period: (Vec<u64>, u64),
    /// Whether the months add up to the period (events, not children).
    pub additive: bool,
}

impl Counts {
    /// Empty counts for `columns` over `months` months.
    pub fn new(columns: Vec<&'static str>, months: usize, additive: bool) -> Self {
        let k = columns.len();
        Self {
            columns,
            months: vec![(vec![0; k], 0); months],
            period: (vec![0; k], 0),
            additive,
        }
    }

    /// Counts one event (or child) in column `column` (ignored when the KPI has no breakdown)
    /// in month `month` and in the period.
    pub fn add(&mut self, month: Option<usize>, column: Option<usize>) {
        if let Some(m) = month.and_then(|m| self.months.get_mut(m)) {
            m.1 += 1;
            if let Some(c) = column.and_then(|c| m.0.get_mut(c)) {
                *c += 1;
            }
        }
        self.period.1 += 1;
        if let Some(c) = column.and_then(|c| self.period.0.get_mut(c)) {
            *c += 1;
        }
    }
}

/// A KPI's table as published.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub series: Vec<Row>,
    pub period: Row,
}

/// Suppresses tables as one problem. Tables in `linked` count the same things in their
/// totals (the same referrals, broken down differently): their total cells are one cell each,
/// so a total hidden in one is hidden in all. Each table comes with its measure.
pub fn publish(window: Window, tables: &[(Counts, Measure)], linked: bool) -> Vec<Table> {
    let months = window.months();
    let mut values: Vec<u64> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    // Per table: per row (months then the period), the cell indices and the total index.
    let mut layout: Vec<Vec<(Vec<usize>, usize)>> = Vec::new();
    let mut shared_totals: Option<Vec<usize>> = None;
    for (counts, _) in tables {
        let rows: Vec<&(Vec<u64>, u64)> = counts
            .months
            .iter()
            .chain(std::iter::once(&counts.period))
            .collect();
        let totals: Vec<usize> = match (&shared_totals, linked) {
            (Some(t), true) => t.clone(),
            _ => {
                let t: Vec<usize> = rows
                    .iter()
                    .map(|r| {
                        values.push(r.1);
                        values.len() - 1
                    })
                    .collect();
                if linked {
                    shared_totals = Some(t.clone());
                }
                t
            }
        };
        let mut table_layout = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            let cells: Vec<usize> = row
                .0
                .iter()
                .map(|v| {
                    values.push(*v);
                    values.len() - 1
                })
                .collect();
            if !cells.is_empty() {
                groups.push(Group {
                    members: cells.clone(),
                    total: totals[r],
                });
            }
            table_layout.push((cells, totals[r]));
        }
        if counts.additive && !counts.months.is_empty() {
            let period = table_layout.len() - 1;
            for c in 0..counts.columns.len() {
                groups.push(Group {
                    members: (0..period).map(|r| table_layout[r].0[c]).collect(),
                    total: table_layout[period].0[c],
                });
            }
            // Linked tables share their total column: its group is added once.
            if !linked || layout.is_empty() {
                groups.push(Group {
                    members: (0..period).map(|r| table_layout[r].1).collect(),
                    total: table_layout[period].1,
                });
            }
        }
        layout.push(table_layout);
    }
    let hidden = suppress(&values, &groups);
    let cell = |i: usize| Cell {
        count: values[i],
        suppressed: hidden[i],
    };
    tables
        .iter()
        .zip(layout)
        .map(|((counts, measure), rows)| {
            let mut published: Vec<Row> = rows
                .iter()
                .enumerate()
                .map(|(r, (cells, total))| {
                    let cells: Vec<Cell> = cells.iter().map(|&i| cell(i)).collect();
                    let total = cell(*total);
                    Row {
                        window: months.get(r).copied().unwrap_or(window),
                        value: value(measure, &cells, total),
                        cells,
                        total,
                    }
                })
                .collect();
            let period = published.pop().unwrap_or(Row {
                window,
                cells: vec![],
                total: Cell::alone(0),
                value: None,
            });
            Table {
                columns: counts.columns.clone(),
                series: published,
                period,
            }
        })
        .collect()
}

/// The headline value of a row, when every count it needs is shown.
pub fn value(measure: &Measure, cells: &[Cell], total: Cell) -> Option<f64> {
    let sum = |cols: &[usize]| -> Option<u64> {
        if cols.is_empty() {
            return total.shown();
        }
        cols.iter()
            .map(|&c| cells.get(c).and_then(|c| c.shown()))
            .sum()
    };
    match measure {
        Measure::Count => total.shown().map(|n| n as f64),
        Measure::Per10k { population } => {
            let (n, p) = (total.shown()?, population.shown()?);
            (p > 0).then(|| round1(n as f64 * 10_000.0 / p as f64))
        }
        Measure::Percent {
            numerator,
            denominator,
        } => {
            let (n, d) = (sum(numerator)?, sum(denominator)?);
            (d > 0).then(|| round1(n as f64 * 100.0 / d as f64))
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

vocabulary! {
    /// The partnership indicators `kpis` answers, in the order it answers them.
    Kpi {
        ReferralRate = "referral_rate",
        ReReferrals = "re_referrals",
        DecidedOnTime = "decided_on_time",
        EarlyHelpStarted = "early_help_started",
        EarlyHelpClosed = "early_help_closed",
        CpPlanRate = "cp_plan_rate",
        PersistentAbsence = "persistent_absence_known_to_social_care",
        SelfHarm = "self_harm_10_24",
    }
}

impl Kpi {
    /// What it is called on a page.
    pub fn title(self) -> &'static str {
        match self {
            Self::ReferralRate => "Referrals per 10,000 children",
            Self::ReReferrals => "Re-referrals within twelve months",
            Self::DecidedOnTime => "Referrals decided on time",
            Self::EarlyHelpStarted => "Early help assessments started",
            Self::EarlyHelpClosed => "Early help assessments closed, by outcome",
            Self::CpPlanRate => "Child protection plans started per 10,000 children",
            Self::PersistentAbsence => "Persistent absence among children known to social care",
            Self::SelfHarm => "Emergency attendances for self-harm, aged 10 to 24",
        }
    }

    /// The unit of its value.
    pub fn unit(self) -> &'static str {
        match self {
            Self::ReferralRate | Self::CpPlanRate => "per 10,000 children",
            Self::ReReferrals | Self::DecidedOnTime | Self::PersistentAbsence => "percent",
            Self::EarlyHelpClosed => "percent needs met",
            Self::EarlyHelpStarted | Self::SelfHarm => "count",
        }
    }

    /// How it is counted, in a sentence.
    pub fn definition(self) -> &'static str {
        match self {
            Self::ReferralRate => {
                "referrals submitted to the front door in the period, per 10,000 children the hub holds"
            }
            Self::ReReferrals => {
                "referrals submitted in the period about a child referred within the twelve months before, as a percentage of all referrals submitted"
            }
            Self::DecidedOnTime => {
                "referrals submitted in the period by whether they were decided by the time they were due; the value is the percentage of decided referrals decided on time"
            }
            Self::EarlyHelpStarted => "early help assessments started in the period",
            Self::EarlyHelpClosed => {
                "early help assessments closed in the period, by outcome; the value is the percentage closed with needs met"
            }
            Self::CpPlanRate => {
                "child protection plans starting in the period, per 10,000 children the hub holds"
            }
            Self::PersistentAbsence => {
                "children known to social care (a social care contact, referral, assessment, plan or looked-after episode before the period ended) with attendance recorded in the period, by whether they attended under 90% of sessions"
            }
            Self::SelfHarm => {
                "emergency department attendances coded as self-harm in the period, of persons aged 10 to 24 at the attendance, by age band"
            }
        }
    }

    /// The breakdown's columns: none, or at least two.
    pub fn columns(self) -> Vec<&'static str> {
        match self {
            Self::ReReferrals => vec!["re_referral", "first_referral"],
            Self::DecidedOnTime => vec!["decided_on_time", "decided_late", "awaiting_decision"],
            Self::EarlyHelpClosed => AssessmentOutcome::ALL.iter().map(|o| o.as_str()).collect(),
            Self::PersistentAbsence => vec!["persistently_absent", "not_persistently_absent"],
            Self::SelfHarm => vec!["aged_10_14", "aged_15_19", "aged_20_24"],
            Self::ReferralRate | Self::EarlyHelpStarted | Self::CpPlanRate => vec![],
        }
    }

    /// Whether its months add up to its period (it counts events, not children).
    pub fn additive(self) -> bool {
        self != Self::PersistentAbsence
    }

    /// How its headline value is computed; `population` is the child population.
    pub fn measure(self, population: Cell) -> Measure {
        match self {
            Self::ReferralRate | Self::CpPlanRate => Measure::Per10k { population },
            Self::ReReferrals | Self::EarlyHelpClosed | Self::PersistentAbsence => {
                Measure::Percent {
                    numerator: vec![0],
                    denominator: vec![],
                }
            }
            Self::DecidedOnTime => Measure::Percent {
                numerator: vec![0],
                denominator: vec![0, 1],
            },
            Self::EarlyHelpStarted | Self::SelfHarm => Measure::Count,
        }
    }
}

/// The timeliness column of a referral: decided by when it was due (as
/// [`super::referrals::Referral::decided_late`] judges it), decided late, or awaiting a
/// decision.
pub fn timeliness(due_at: DateTime<Utc>, decided_at: Option<DateTime<Utc>>) -> usize {
    match decided_at {
        Some(at) if at <= due_at => 0,
        Some(_) => 1,
        None => 2,
    }
}

/// The self-harm age band (10–14, 15–19, 20–24) of a person born on `born` on `on`.
pub fn self_harm_band(born: NaiveDate, on: NaiveDate) -> Option<usize> {
    let age = on.years_since(born)?;
    match age {
        10..=14 => Some(0),
        15..=19 => Some(1),
        20..=24 => Some(2),
        _ => None,
    }
}

/// Attendance under this percentage of possible sessions is persistent absence (DfE's
/// definition: missing 10% or more).
pub const PERSISTENT_ABSENCE_BELOW: f64 = 90.0;

/// A child's attendance over some summaries: sessions attended over sessions possible when
/// every summary gives both, otherwise the mean of their `AttendancePercent` (a number or a
/// numeric string). `None` when no summary says.
pub fn attendance_percent(summaries: &[serde_json::Value]) -> Option<f64> {
    let number = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let sessions: Option<Vec<(f64, f64)>> = summaries
        .iter()
        .map(|s| {
            Some((
                number(&s["SessionsAttended"])?,
                number(&s["SessionsPossible"])?,
            ))
        })
        .collect();
    if let Some(sessions) = sessions {
        let (attended, possible) = sessions
            .iter()
            .fold((0.0, 0.0), |(a, p), (sa, sp)| (a + sa, p + sp));
        if possible > 0.0 {
            return Some(attended * 100.0 / possible);
        }
    }
    let percents: Vec<f64> = summaries
        .iter()
        .filter_map(|s| number(&s["AttendancePercent"]))
        .collect();
    (!percents.is_empty()).then(|| percents.iter().sum::<f64>() / percents.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Whether a reader can recover some suppressed cell of `g` exactly from `g` alone.
    fn recoverable(values: &[u64], hidden: &[bool], g: &Group) -> bool {
        let h: Vec<usize> = g.members.iter().copied().filter(|&i| hidden[i]).collect();
        if hidden[g.total] {
            // The total is the sum of the members: with every member shown, so is it.
            return h.is_empty();
        }
        if h.is_empty() {
            return false;
        }
        let sum: u64 = h.iter().map(|&i| values[i]).sum();
        // One hidden cell is the total minus the rest; several hidden cells, each at least 1,
        // are pinned when their sum leaves no slack; a hidden sum under five is itself small.
        h.len() == 1 || sum < THRESHOLD || sum <= h.len() as u64
    }

    fn row(cells: &[u64]) -> (Vec<u64>, Vec<Group>) {
        let mut values = cells.to_vec();
        values.push(cells.iter().sum());
        let total = cells.len();
        (
            values,
            vec![Group {
                members: (0..total).collect(),
                total,
            }],
        )
    }

    #[test]
    fn counts_from_one_to_four_are_suppressed_and_zero_and_five_are_not() {
        let (values, groups) = row(&[0, 5, 12]);
        assert_eq!(suppress(&values, &groups), vec![false; 4]);
        for small in 1..5 {
            let (values, groups) = row(&[small, 20, 30]);
            let hidden = suppress(&values, &groups);
            assert!(hidden[0], "{small} is suppressed");
        }
    }

    #[test]
    fn one_small_cell_takes_the_next_smallest_with_it_so_the_total_does_not_reveal_it() {
        // Outcomes of closed assessments: needs met 40, stepped up 3, stepped down 9,
        // disengaged 12; total 64 published.
        let (values, groups) = row(&[40, 3, 9, 12]);
        let hidden = suppress(&values, &groups);
        assert_eq!(hidden, vec![false, true, true, false, false]);
        // Without the complement, 64 − 40 − 9 − 12 would give the 3 back.
        let primary_only: Vec<bool> = values.iter().map(|v| (1..5).contains(v)).collect();
        assert!(recoverable(&values, &primary_only, &groups[0]));
        assert!(!recoverable(&values, &hidden, &groups[0]));
    }

    #[test]
    fn two_small_cells_that_add_up_to_under_five_take_a_third() {
        // 1 and 2 hidden: 3 = total − visible, and each at least 1 leaves only {1, 2}.
        let (values, groups) = row(&[1, 2, 30, 6]);
        let hidden = suppress(&values, &groups);
        assert_eq!(hidden, vec![true, true, false, true, false]);
        // Two small cells that already add up to five are left as they are.
        let (values, groups) = row(&[1, 4, 30]);
        assert_eq!(suppress(&values, &groups), vec![true, true, false, false]);
    }

    #[test]
    fn a_zero_is_never_the_complement_and_when_nothing_else_is_left_the_total_goes() {
        let (values, groups) = row(&[3, 0, 0]);
        let hidden = suppress(&values, &groups);
        assert_eq!(hidden, vec![true, false, false, true]);
    }

    #[test]
    fn a_complement_chosen_in_a_row_is_protected_in_its_column_too() {
        // Two months by two columns, with month totals, column totals (the period row) and the
        // grand total: a 3×3 grid with the period row and total column.
        let months = Window {
            from: day(2027, 1, 1),
            to: day(2027, 2, 28),
        };
        let counts = Counts {
            columns: vec!["re_referral", "first_referral"],
            months: vec![(vec![2, 30], 32), (vec![10, 25], 35)],
            period: (vec![12, 55], 67),
            additive: true,
        };
        let t = &publish(months, &[(counts, Measure::Count)], false)[0];
        // January's 2 is small: its row hides the 30 beside it, its column February's 10;
        // the 30 then needs a partner in its column (February's 25), which leaves February's
        // row with two hidden cells as well.
        let shown = |r: &Row| r.cells.iter().map(|c| c.shown()).collect::<Vec<_>>();
        assert_eq!(shown(&t.series[0]), vec![None, None]);
        assert_eq!(shown(&t.series[1]), vec![None, None]);
        assert_eq!(shown(&t.period), vec![Some(12), Some(55)]);
        assert_eq!(t.period.total.shown(), Some(67));
        // Every row and every column of the published grid keeps its hidden cells hidden.
        let mut values = vec![];
        let mut hidden = vec![];
        for r in t.series.iter().chain([&t.period]) {
            for c in r.cells.iter().chain([&r.total]) {
                values.push(c.count);
                hidden.push(c.suppressed);
            }
        }
        let groups = [
            Group {
                members: vec![0, 1],
                total: 2,
            },
            Group {
                members: vec![3, 4],
                total: 5,
            },
            Group {
                members: vec![6, 7],
                total: 8,
            },
            Group {
                members: vec![0, 3],
                total: 6,
            },
            Group {
                members: vec![1, 4],
                total: 7,
            },
            Group {
                members: vec![2, 5],
                total: 8,
            },
        ];
        for g in &groups {
            assert!(!recoverable(&values, &hidden, g), "{g:?}");
        }
    }

    #[test]
    fn linked_tables_share_their_totals() {
        let window = Window {
            from: day(2027, 1, 1),
            to: day(2027, 2, 28),
        };
        // The same referrals: 3 in January, 20 in February.
        let rate = Counts {
            columns: vec![],
            months: vec![(vec![], 3), (vec![], 20)],
            period: (vec![], 23),
            additive: true,
        };
        let timeliness = Counts {
            columns: vec!["on_time", "late"],
            months: vec![(vec![3, 0], 3), (vec![12, 8], 20)],
            period: (vec![15, 8], 23),
            additive: true,
        };
        let tables = publish(
            window,
            &[(rate, Measure::Count), (timeliness, Measure::Count)],
            true,
        );
        // January's 3 is hidden in both tables, and so is February's 20 (its complement in
        // the column of totals): neither table gives the other away.
        for t in &tables {
            assert_eq!(t.series[0].total.shown(), None);
            assert_eq!(t.series[1].total.shown(), None);
            assert_eq!(t.period.total.shown(), Some(23));
        }
    }

    #[test]
    fn every_group_of_a_random_table_is_safe() {
        // A small deterministic generator: tables of 1..6 months by 2..5 columns with many
        // small counts.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2_000 {
            let (m, k) = (1 + next(6) as usize, 2 + next(4) as usize);
            let mut values = vec![0u64; (m + 1) * (k + 1)];
            let at = |r: usize, c: usize| r * (k + 1) + c;
            for r in 0..m {
                for c in 0..k {
                    let v = if next(3) == 0 { next(5) } else { next(40) };
                    values[at(r, c)] = v;
                    values[at(r, k)] += v;
                    values[at(m, c)] += v;
                    values[at(m, k)] += v;
                }
            }
            let mut groups = vec![];
            for r in 0..=m {
                groups.push(Group {
                    members: (0..k).map(|c| at(r, c)).collect(),
                    total: at(r, k),
                });
            }
            for c in 0..=k {
                groups.push(Group {
                    members: (0..m).map(|r| at(r, c)).collect(),
                    total: at(m, c),
                });
            }
            let hidden = suppress(&values, &groups);
            for (i, v) in values.iter().enumerate() {
                if (1..THRESHOLD).contains(v) {
                    assert!(hidden[i], "a small count is hidden");
                }
                if *v == 0 {
                    assert!(!hidden[i], "a zero is shown");
                }
            }
            for g in &groups {
                assert!(
                    !recoverable(&values, &hidden, g),
                    "{values:?} {hidden:?} {g:?}"
                );
            }
        }
    }

    #[test]
    fn derived_figures_need_every_count_they_use() {
        let shown = |n| Cell {
            count: n,
            suppressed: false,
        };
        let hidden = |n| Cell {
            count: n,
            suppressed: true,
        };
        let per10k = Measure::Per10k {
            population: shown(2_000),
        };
        assert_eq!(value(&per10k, &[], shown(30)), Some(150.0));
        assert_eq!(value(&per10k, &[], hidden(3)), None);
        let percent = Measure::Percent {
            numerator: vec![0],
            denominator: vec![0, 1],
        };
        assert_eq!(
            value(&percent, &[shown(9), shown(3)], shown(12)),
            Some(75.0)
        );
        assert_eq!(value(&percent, &[shown(9), hidden(3)], shown(12)), None);
        assert_eq!(value(&percent, &[shown(0), shown(0)], shown(0)), None);
    }

    #[test]
    fn age_bands_timeliness_and_attendance() {
        assert_eq!(self_harm_band(day(2012, 6, 1), day(2022, 6, 1)), Some(0));
        assert_eq!(
            self_harm_band(day(2012, 6, 2), day(2022, 6, 1)),
            None,
            "still 9"
        );
        assert_eq!(self_harm_band(day(2000, 1, 1), day(2024, 12, 31)), Some(2));
        assert_eq!(self_harm_band(day(2000, 1, 1), day(2025, 1, 1)), None, "25");
        let due = Utc::now();
        assert_eq!(timeliness(due, Some(due)), 0);
        assert_eq!(
            timeliness(due, Some(due + chrono::TimeDelta::seconds(1))),
            1
        );
        assert_eq!(timeliness(due, None), 2);
        let s = |a: u32, p: u32| serde_json::json!({ "SessionsAttended": a, "SessionsPossible": p, "AttendancePercent": 1 });
        assert_eq!(attendance_percent(&[s(80, 100), s(100, 100)]), Some(90.0));
        let pct = |p: &str| serde_json::json!({ "AttendancePercent": p });
        assert_eq!(attendance_percent(&[pct("86.0"), pct("80.0")]), Some(83.0));
        assert_eq!(attendance_percent(&[]), None);
    }

    #[test]
    fn months_are_calendar_months_cut_to_the_period() {
        let w = Window {
            from: day(2026, 11, 15),
            to: day(2027, 2, 3),
        };
        let months = w.months();
        let labels: Vec<String> = months.iter().map(|m| m.label()).collect();
        assert_eq!(labels, ["2026-11", "2026-12", "2027-01", "2027-02"]);
        assert_eq!(months[0].from, day(2026, 11, 15));
        assert_eq!(months[1].to, day(2026, 12, 31));
        assert_eq!(months[3].to, day(2027, 2, 3));
        assert_eq!(Window::month_index(&months, day(2027, 1, 31)), Some(2));
        assert_eq!(Window::month_index(&months, day(2027, 2, 4)), None);
    }
}
