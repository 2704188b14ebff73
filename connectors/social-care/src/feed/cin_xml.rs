//! Renders envelopes as a CIN census XML document, one `Child` per envelope, holding the
//! `CINdetails` episodes that fall in the return's collection year.
//!
//! How facts become episodes: each `referral` opens a `CINdetails`; a `contact` whose outcome
//! was a referral on the same day is that episode's contact, and any other contact is an
//! episode of its own with `ReferralNFA` true (closed the same day, RC8). Assessments, section
//! 47 enquiries and plans join the latest referral on or before them (else the first; else an
//! episode of their own). An episode belongs to the collection year of its latest date, so
//! each year's return holds the episodes it last saw and no episode is in two years.
//! `cp_flag` facts are not rendered: the reader derives them from the plans.
//!
//! Limits: pure; no IO.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use kinship_connector_sdk::{SourceFact, SourceRecord};
use quick_xml::escape::escape;

use super::{child_id, fact_date, payload_date, payload_dates, payload_text};
use crate::codes;

/// One `CINdetails` in the making.
struct Episode<'a> {
    referred: NaiveDate,
    source: Option<&'a str>,
    need: Option<&'a str>,
    nfa: bool,
    closed: Option<NaiveDate>,
    reason: Option<&'a str>,
    disabilities: Vec<&'a str>,
    assessments: Vec<&'a SourceFact>,
    plans: Vec<&'a SourceFact>,
    enquiries: Vec<&'a SourceFact>,
    protection: Vec<&'a SourceFact>,
}

impl<'a> Episode<'a> {
    fn new(referred: NaiveDate, source: Option<&'a str>, nfa: bool) -> Self {
        Self {
            referred,
            source,
            need: None,
            nfa,
            closed: None,
            reason: None,
            disabilities: Vec::new(),
            assessments: Vec::new(),
            plans: Vec::new(),
            enquiries: Vec::new(),
            protection: Vec::new(),
        }
    }

    /// Every date the episode holds; the latest decides its collection year.
    fn latest(&self) -> NaiveDate {
        let mut latest = self.referred.max(self.closed.unwrap_or(self.referred));
        for f in self
            .assessments
            .iter()
            .chain(&self.plans)
            .chain(&self.enquiries)
            .chain(&self.protection)
        {
            latest = latest.max(f.occurred_at.date_naive());
            if let Some(obj) = f.payload.as_object() {
                // A conference target is a plan, not an event: it must not move the episode
                // into a year that has not begun.
                let events = obj.iter().filter(|(k, _)| k.as_str() != "InitialCPCtarget");
                for (_, v) in events {
                    let dates = v.as_str().into_iter().chain(
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|x| x.as_str()),
                    );
                    for d in dates.filter_map(codes::parse_iso) {
                        latest = latest.max(d);
                    }
                }
            }
        }
        latest
    }

    fn year(&self) -> i32 {
        codes::collection_year(self.latest())
    }
}

fn kind_facts<'a>(r: &'a SourceRecord, kind: &str) -> Vec<&'a SourceFact> {
    let mut facts: Vec<&SourceFact> = r.facts.iter().filter(|f| f.kind == kind).collect();
    facts.sort_by_key(|f| f.occurred_at);
    facts
}

/// The record's CIN episodes, in referral order.
fn episodes(r: &SourceRecord) -> Vec<Episode<'_>> {
    let mut eps: Vec<Episode<'_>> = Vec::new();
    for f in kind_facts(r, "referral") {
        let mut e = Episode::new(
            fact_date(f, "CINreferralDate"),
            payload_text(f, "ReferralSource"),
            false,
        );
        e.need = payload_text(f, "PrimaryNeedCode");
        e.closed = payload_date(f, "CINclosureDate");
        e.reason = payload_text(f, "ReasonForClosure");
        e.disabilities = f
            .payload
            .get("Disabilities")
            .and_then(|d| d.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        eps.push(e);
    }
    let referrals = eps.len();
    let mut absorbed = vec![false; referrals];
    for f in kind_facts(r, "contact") {
        let on = f.occurred_at.date_naive();
        let source = payload_text(f, "ReferralSource");
        let progressed = payload_text(f, "ContactOutcome") == Some("referral");
        let same_day = (0..referrals).find(|&i| !absorbed[i] && eps[i].referred == on);
        match same_day {
            Some(i) if progressed => {
                absorbed[i] = true;
                if eps[i].source.is_none() {
                    eps[i].source = source;
                }
            }
            _ => {
                let mut e = Episode::new(on, source, true);
                e.need = payload_text(f, "PrimaryNeedCode");
                // The DfE's rule for a referral with no further action: closed that day, RC8.
                e.closed = Some(on);
                e.reason = Some("RC8");
                eps.push(e);
            }
        }
    }
    for (kind, start_key) in [
        ("assessment", "AssessmentActualStartDate"),
        ("cin_plan", "CINPlanStartDate"),
        ("s47_enquiry", "S47ActualStartDate"),
        ("cp_plan", "CPPstartDate"),
    ] {
        for f in kind_facts(r, kind) {
            let on = fact_date(f, start_key);
            let home = (0..referrals)
                .filter(|&i| eps[i].referred <= on)
                .max_by_key(|&i| eps[i].referred)
                .or((referrals > 0).then_some(0));
            let i = match home {
                Some(i) => i,
                None => {
                    // No referral to hang it on: it opens an episode of its own.
                    eps.push(Episode::new(on, None, false));
                    eps.len() - 1
                }
            };
            let e = &mut eps[i];
            match kind {
                "assessment" => e.assessments.push(f),
                "cin_plan" => {
                    if e.need.is_none() {
                        e.need = payload_text(f, "PrimaryNeedCode");
                    }
                    e.plans.push(f);
                }
                "s47_enquiry" => e.enquiries.push(f),
                _ => e.protection.push(f),
            }
        }
    }
    eps.sort_by_key(|e| (e.referred, e.nfa));
    eps
}

/// The collection years this record has episodes in.
pub(super) fn years(r: &SourceRecord) -> BTreeSet<i32> {
    episodes(r).iter().map(Episode::year).collect()
}

fn element(out: &mut String, indent: usize, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        let _ = writeln!(out, "{:indent$}<{name}>{}</{name}>", "", escape(v));
    }
}

fn date_element(out: &mut String, indent: usize, name: &str, value: Option<NaiveDate>) {
    element(out, indent, name, value.map(codes::iso).as_deref());
}

/// The whole document for one collection year.
pub(super) fn render(
    la: &str,
    year: i32,
    issued: DateTime<Utc>,
    members: &[std::sync::Arc<SourceRecord>],
) -> String {
    let mut out = String::with_capacity(512 + members.len() * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Message>\n  <Header>\n");
    out.push_str("    <CollectionDetails>\n      <Collection>CIN</Collection>\n");
    let _ = writeln!(out, "      <Year>{year}</Year>");
    date_element(&mut out, 6, "ReferenceDate", codes::reference_date(year));
    out.push_str("    </CollectionDetails>\n    <Source>\n      <SourceLevel>L</SourceLevel>\n");
    element(&mut out, 6, "LEA", Some(la));
    out.push_str("      <SoftwareCode>Kinship feed</SoftwareCode>\n");
    out.push_str("      <Release>1</Release>\n      <SerialNo>001</SerialNo>\n");
    let _ = writeln!(
        out,
        "      <DateTime>{}</DateTime>",
        issued.format("%Y-%m-%dT%H:%M:%S")
    );
    out.push_str("    </Source>\n  </Header>\n  <Children>\n");
    for r in members {
        child(&mut out, r, year);
    }
    out.push_str("  </Children>\n</Message>\n");
    out
}

fn child(out: &mut String, r: &SourceRecord, year: i32) {
    let eps: Vec<Episode<'_>> = episodes(r)
        .into_iter()
        .filter(|e| e.year() == year)
        .collect();
    let id = child_id(r);
    out.push_str("    <Child>\n      <ChildIdentifiers>\n");
    element(out, 8, "LAchildID", Some(&id));
    for (system, name) in [("upn", "UPN"), ("former_upn", "FormerUPN")] {
        let value = r.identity.identifiers.iter().find(|i| i.system == system);
        element(out, 8, name, value.map(|i| i.value.as_str()));
    }
    date_element(out, 8, "PersonBirthDate", r.identity.date_of_birth);
    let gender = match r.identity.sex.as_deref() {
        Some("male") => "1",
        Some("female") => "2",
        Some("other") => "9",
        _ => "0",
    };
    element(out, 8, "GenderCurrent", Some(gender));
    out.push_str("      </ChildIdentifiers>\n      <ChildCharacteristics>\n");
    // The envelope holds no ethnicity: "information not yet obtained".
    out.push_str("        <Ethnicity>NOBT</Ethnicity>\n");
    let disabilities: BTreeSet<&str> = eps
        .iter()
        .flat_map(|e| e.disabilities.iter().copied())
        .collect();
    if !disabilities.is_empty() {
        out.push_str("        <Disabilities>\n");
        for d in disabilities {
            element(out, 10, "Disability", Some(d));
        }
        out.push_str("        </Disabilities>\n");
    }
    out.push_str("      </ChildCharacteristics>\n");
    for e in &eps {
        details(out, e);
    }
    out.push_str("    </Child>\n");
}

fn details(out: &mut String, e: &Episode<'_>) {
    out.push_str("      <CINdetails>\n");
    date_element(out, 8, "CINreferralDate", Some(e.referred));
    // The XSD requires a source: 10 is "unknown".
    element(out, 8, "ReferralSource", Some(e.source.unwrap_or("10")));
    element(out, 8, "PrimaryNeedCode", e.need);
    date_element(out, 8, "CINclosureDate", e.closed);
    element(out, 8, "ReasonForClosure", e.reason);
    let icpc = e
        .enquiries
        .iter()
        .find_map(|f| payload_date(f, "DateOfInitialCPC"));
    date_element(out, 8, "DateOfInitialCPC", icpc);
    for f in &e.assessments {
        out.push_str("        <Assessments>\n");
        date_element(
            out,
            10,
            "AssessmentActualStartDate",
            Some(fact_date(f, "AssessmentActualStartDate")),
        );
        date_element(
            out,
            10,
            "AssessmentInternalReviewDate",
            payload_date(f, "AssessmentInternalReviewDate"),
        );
        date_element(
            out,
            10,
            "AssessmentAuthorisationDate",
            payload_date(f, "AssessmentAuthorisationDate"),
        );
        let factors = super::payload_strings(f, "AssessmentFactors");
        if !factors.is_empty() {
            out.push_str("          <FactorsIdentifiedAtAssessment>\n");
            for factor in factors {
                element(out, 12, "AssessmentFactors", Some(factor));
            }
            out.push_str("          </FactorsIdentifiedAtAssessment>\n");
        }
        out.push_str("        </Assessments>\n");
    }
    for f in &e.plans {
        out.push_str("        <CINPlanDates>\n");
        date_element(
            out,
            10,
            "CINPlanStartDate",
            Some(fact_date(f, "CINPlanStartDate")),
        );
        date_element(out, 10, "CINPlanEndDate", payload_date(f, "CINPlanEndDate"));
        out.push_str("        </CINPlanDates>\n");
    }
    for f in &e.enquiries {
        out.push_str("        <Section47>\n");
        date_element(
            out,
            10,
            "S47ActualStartDate",
            Some(fact_date(f, "S47ActualStartDate")),
        );
        date_element(
            out,
            10,
            "InitialCPCtarget",
            payload_date(f, "InitialCPCtarget"),
        );
        date_element(
            out,
            10,
            "DateOfInitialCPC",
            payload_date(f, "DateOfInitialCPC"),
        );
        let not_required = f
            .payload
            .get("ICPCnotRequired")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        element(
            out,
            10,
            "ICPCnotRequired",
            Some(if not_required { "true" } else { "false" }),
        );
        out.push_str("        </Section47>\n");
    }
    element(
        out,
        8,
        "ReferralNFA",
        Some(if e.nfa { "true" } else { "false" }),
    );
    for f in &e.protection {
        out.push_str("        <ChildProtectionPlans>\n");
        date_element(out, 10, "CPPstartDate", Some(fact_date(f, "CPPstartDate")));
        date_element(out, 10, "CPPendDate", payload_date(f, "CPPendDate"));
        let initial = payload_text(f, "InitialCategoryOfAbuse");
        let latest = payload_text(f, "LatestCategoryOfAbuse").or(initial);
        element(out, 10, "InitialCategoryOfAbuse", initial.or(latest));
        element(out, 10, "LatestCategoryOfAbuse", latest);
        let previous = f
            .payload
            .get("NumberOfPreviousCPP")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        element(out, 10, "NumberOfPreviousCPP", Some(&previous.to_string()));
        let reviews = payload_dates(f, "CPPreviewDates");
        if !reviews.is_empty() {
            out.push_str("          <Reviews>\n");
            for d in reviews {
                date_element(out, 12, "CPPreviewDate", Some(d));
            }
            out.push_str("          </Reviews>\n");
        }
        out.push_str("        </ChildProtectionPlans>\n");
    }
    out.push_str("      </CINdetails>\n");
}
