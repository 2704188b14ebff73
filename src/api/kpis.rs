//! Partnership indicators: `kpis(from, to, area)`, de-identified aggregates under the
//! `statistics` purpose. Nothing here names or links to a person: counts, rates and
//! percentages only, small counts suppressed (see `practice::kpis` for the rule).

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::NaiveDate;

use super::errors::{denied, gate_failed};
use super::person::gate;
use crate::gate::kpis::{KpiRead, KpiWithheld, KpisRead};
use crate::practice::kpis::{self as domain, Cell, Row};

/// One count as published: `count` is null when it is suppressed (never shown as zero).
#[derive(SimpleObject, Clone, Copy)]
pub struct KpiCount {
    /// The count; null when suppressed.
    pub count: Option<u64>,
    /// The count is between 1 and 4, or would let a suppressed count be worked out.
    pub suppressed: bool,
}

impl From<Cell> for KpiCount {
    fn from(c: Cell) -> Self {
        Self {
            count: c.shown(),
            suppressed: c.suppressed,
        }
    }
}

/// A row of a KPI's table: one month, or the whole period.
#[derive(SimpleObject, Clone)]
pub struct KpiRow {
    /// The first day counted.
    pub from: NaiveDate,
    /// The last day counted.
    pub to: NaiveDate,
    /// `2027-01` for a month; `period` for the whole period.
    pub label: String,
    /// One per column of the breakdown, in the order of `Kpi.columns`.
    pub cells: Vec<KpiCount>,
    pub total: KpiCount,
    /// The headline value in the KPI's unit; null when a count it needs is suppressed or it
    /// is undefined (nothing to divide by).
    pub value: Option<f64>,
}

fn row(r: &Row, label: String) -> KpiRow {
    KpiRow {
        from: r.window.from,
        to: r.window.to,
        label,
        cells: r.cells.iter().map(|c| (*c).into()).collect(),
        total: r.total.into(),
        value: r.value,
    }
}

/// A partnership indicator over the period, with its months.
pub struct Kpi(KpiRead);

#[Object]
impl Kpi {
    /// Its stable id, e.g. `referral_rate`.
    async fn id(&self) -> &str {
        self.0.kpi.as_str()
    }

    async fn title(&self) -> &str {
        self.0.kpi.title()
    }

    /// The unit of `value`, e.g. `per 10,000 children`, `percent`, `count`.
    async fn unit(&self) -> &str {
        self.0.kpi.unit()
    }

    /// How it is counted.
    async fn definition(&self) -> &str {
        self.0.kpi.definition()
    }

    /// The breakdown's columns (empty when the KPI is one count).
    async fn columns(&self) -> Vec<&str> {
        self.0.table.columns.clone()
    }

    /// The whole period.
    async fn period(&self) -> KpiRow {
        row(&self.0.table.period, "period".into())
    }

    /// Each calendar month of the period (the first and last cut to it), oldest first.
    async fn series(&self) -> Vec<KpiRow> {
        self.0
            .table
            .series
            .iter()
            .map(|r| row(r, r.window.label()))
            .collect()
    }

    /// The child population a rate is per (null for a KPI that is not a rate).
    async fn population(&self) -> Option<KpiCount> {
        self.0.population.map(Into::into)
    }
}

/// A KPI the protocols in force do not let the caller see, and why.
pub struct WithheldKpi(KpiWithheld);

#[Object]
impl WithheldKpi {
    async fn id(&self) -> &str {
        self.0.kpi.as_str()
    }

    async fn title(&self) -> &str {
        self.0.kpi.title()
    }

    /// The category it counts that was refused.
    async fn category(&self) -> &str {
        self.0.denial.category.as_str()
    }

    /// The refusal's stable reason code, e.g. `category_not_shared`.
    async fn reason(&self) -> &str {
        self.0.denial.reason.as_str()
    }

    /// The refusal in words.
    async fn message(&self) -> String {
        self.0.denial.to_string()
    }

    /// The protocol that decided, when one did.
    async fn protocol(&self) -> Option<&str> {
        self.0.denial.by.as_ref().map(|b| b.protocol.as_ref())
    }

    async fn clause(&self) -> Option<&str> {
        self.0.denial.by.as_ref().and_then(|b| b.clause.as_deref())
    }
}

/// The partnership indicators for a period and area.
pub struct Kpis(KpisRead);

#[Object]
impl Kpis {
    async fn from(&self) -> NaiveDate {
        self.0.window.from
    }

    async fn to(&self) -> NaiveDate {
        self.0.window.to
    }

    /// The postcode district counted, or null for the whole authority.
    async fn area(&self) -> Option<&str> {
        self.0.area.as_deref()
    }

    /// Counts below this are suppressed.
    async fn threshold(&self) -> u64 {
        domain::THRESHOLD
    }

    /// The children the hub holds in the area: the rates' denominator.
    async fn children(&self) -> KpiCount {
        self.0.children.into()
    }

    /// The indicators the caller may see, in a fixed order.
    async fn indicators(&self) -> Vec<Kpi> {
        self.0.kpis.iter().cloned().map(Kpi).collect()
    }

    /// The indicators the protocols withhold from the caller, with the reason.
    async fn withheld(&self) -> Vec<WithheldKpi> {
        self.0.withheld.iter().cloned().map(WithheldKpi).collect()
    }
}

/// `kpis`.
#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// The partnership indicators from `from` to `to` (both days included, UTC), each over
    /// the whole period and month by month, for the whole authority or, with `area`, the
    /// children with a current address in one postcode district (e.g. `AN1`; shielded
    /// children are counted only authority-wide). Only under the `statistics` purpose, and
    /// only what the protocols in force share for it; never a person. Counts from 1 to 4 are
    /// suppressed, with further cells suppressed so none can be worked out from a total.
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        from: NaiveDate,
        to: NaiveDate,
        area: Option<String>,
    ) -> Result<Kpis> {
        let read = gate(ctx)?
            .kpis(from, to, area.as_deref())
            .await
            .map_err(|e| gate_failed(ctx, &e))?;
        match read {
            Ok(read) => Ok(Kpis(read)),
            Err(d) => Err(denied(&d)),
        }
    }
}
