//! Reads a CIN census XML document (DOMAIN §6) into one record per `Child`:
//! `cin:<LA>:<Year>:<LAchildID>`, keyed by collection year so a new year's return does not
//! erase the last.
//!
//! What each element becomes:
//! - `ChildIdentifiers` → identity: `PersonBirthDate`, `GenderCurrent` (1 male, 2 female,
//!   9 other, 0 unknown), `UPN` / `FormerUPN` (checked; a failing check rejects the child) and
//!   `la_person_id` = `la:<LA>:<LAchildID>`. `UPNunknown` codes are reasons, never identifiers.
//! - each `CINdetails` → a `contact` (`social_care.contact_referral`; `ReferralNFA` true means
//!   the contact went no further) and, unless NFA, a `referral` with the need code, closure
//!   and the child's `Disabilities`;
//! - `Assessments` → `assessment` and `Section47` → `s47_enquiry` (`social_care.assessment`,
//!   factors in the payload); `CINPlanDates` → `cin_plan` (`social_care.child_in_need`);
//!   `ChildProtectionPlans` → `cp_plan` (`social_care.child_protection`, categories of abuse
//!   and review dates) and a `cp_flag` (`social_care.child_protection_flag`, code `CPP`,
//!   active while the plan is open).
//!
//! Dates carry no time: facts occur at midnight UTC of their date. A child that breaks a rule
//! (no `LAchildID`, a UPN failing its check, a date that is not a date) is rejected with the
//! exact bytes of its `Child` element; the others land. A document that is not XML, or not a
//! CIN census, is one rejected entry.
//!
//! Limits: pure; no IO. Reasons name elements, never their values.

use chrono::NaiveDate;
use kinship_connector_sdk::identifiers::Upn;
use kinship_connector_sdk::{Identity, SourceFact, SourceIdentifier, SourceRecord};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Value, json};

use crate::codes;
use crate::record::{self, FactSpec, Keys, Output, json_date};

/// A small element tree: a census child is a few kilobytes, so each is read whole and walked.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of a child element, `None` when absent or empty.
    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Why a child was refused: the path of the element at fault and what is wrong with it.
struct Fault(String);

fn fault(path: &str, what: &str) -> Fault {
    Fault(format!("`{path}` {what}"))
}

/// How deep elements may nest: the census needs six levels; a document nesting far deeper is
/// not a census, and reading it must not exhaust the stack.
const MAX_DEPTH: usize = 32;

/// Reads the element whose start tag was just read, with everything inside it.
fn read_node(reader: &mut Reader<&[u8]>, start: &BytesStart<'_>) -> Result<Node, String> {
    read_nested(reader, start, 0)
}

fn read_nested(
    reader: &mut Reader<&[u8]>,
    start: &BytesStart<'_>,
    depth: usize,
) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err("nests elements too deeply".into());
    }
    let mut node = Node {
        name: name_of(start),
        ..Node::default()
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let child = read_nested(reader, &e, depth + 1)?;
                node.children.push(child);
            }
            Ok(Event::Empty(e)) => node.children.push(Node {
                name: name_of(&e),
                ..Node::default()
            }),
            Ok(Event::Text(t)) => node.text.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => node.text.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                let entity = format!("&{};", &*r);
                match quick_xml::escape::unescape(&entity) {
                    Ok(s) => node.text.push_str(&s),
                    Err(_) => return Err("uses an undefined entity".into()),
                }
            }
            Ok(Event::End(_)) => return Ok(node),
            Ok(Event::Eof) => return Err(format!("ends before `</{}>`", node.name)),
            Ok(_) => {}
            Err(e) => return Err(xml_error(&e)),
        }
    }
}

fn name_of(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

/// A parser error in words that cannot carry document content: element names at most.
fn xml_error(e: &quick_xml::Error) -> String {
    use quick_xml::errors::IllFormedError;
    match e {
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("closes `{expected}` with `</{found}>`")
        }
        quick_xml::Error::IllFormed(_) => "is not well-formed XML".into(),
        quick_xml::Error::Syntax(_) => "has an XML syntax error".into(),
        quick_xml::Error::Encoding(_) => "is not in a readable encoding".into(),
        _ => "cannot be read as XML".into(),
    }
}

/// Where the children go: the LA and year from the header, else from configuration and the
/// return's name.
struct Header {
    la: String,
    year: i32,
}

/// Reads one CIN census document. `file` names it in reasons; `fallback_la` and
/// `fallback_year` stand in when the header lacks `LEA` or `Year`.
pub(crate) fn read(
    doc: &str,
    file: &str,
    fallback_la: &str,
    fallback_year: Option<i32>,
    out: &mut Output,
) {
    let mut reader = Reader::from_str(doc);
    let mut header: Option<Header> = None;
    let mut root_seen = false;
    let mut in_children = false;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                let reason = format!("`{file}` {} at byte {before}", xml_error(&e));
                out.reject(None, reason, doc.get(before..).unwrap_or(doc));
                return;
            }
        };
        match event {
            Event::Start(e) if !root_seen => {
                root_seen = true;
                if e.local_name().as_ref() != "Message" {
                    let reason = format!(
                        "`{file}` is not a CIN census: its root element is `{}`, not `Message`",
                        name_of(&e)
                    );
                    out.reject(None, reason, doc);
                    return;
                }
            }
            Event::Start(e) if in_children && e.local_name().as_ref() == "Child" => {
                let node = read_node(&mut reader, &e);
                let after = usize::try_from(reader.buffer_position()).unwrap_or(doc.len());
                let raw = doc.get(before..after).unwrap_or_default();
                let node = match node {
                    Ok(n) => n,
                    Err(what) => {
                        // The rest of the document cannot be read past a broken element.
                        let rest = doc.get(before..).unwrap_or(doc);
                        out.reject(None, format!("`Child` {what}"), rest);
                        return;
                    }
                };
                if header.is_none() {
                    header = fallback_header(fallback_la, fallback_year);
                }
                let Some(h) = header.as_ref() else {
                    out.reject(
                        None,
                        format!("`{file}` has no `CollectionDetails/Year` and its return's name holds no year"),
                        raw,
                    );
                    continue;
                };
                match child(&node, h) {
                    Ok(rec) => out.records.push(SourceRecord {
                        raw: raw.to_owned(),
                        ..rec
                    }),
                    Err((key, Fault(reason))) => out.reject(key, reason, raw),
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "Children" => in_children = true,
            Event::Start(e) if e.local_name().as_ref() == "Header" => {
                let node = match read_node(&mut reader, &e) {
                    Ok(n) => n,
                    Err(what) => {
                        out.reject(None, format!("`{file}` `Header` {what}"), doc);
                        return;
                    }
                };
                match read_header(&node, fallback_la, fallback_year) {
                    Ok(h) => header = Some(h),
                    Err(Fault(reason)) => {
                        out.reject(None, format!("`{file}` {reason}"), doc);
                        return;
                    }
                }
            }
            Event::Start(e) => {
                // An element this reader does not use: skip it whole.
                if let Err(what) = read_node(&mut reader, &e) {
                    out.reject(None, format!("`{file}` `{}` {what}", name_of(&e)), doc);
                    return;
                }
            }
            Event::End(e) if e.local_name().as_ref() == "Children" => in_children = false,
            Event::End(e) if e.local_name().as_ref() == "Message" => return,
            Event::Text(t) if !root_seen && !t.trim().is_empty() => {
                out.reject(
                    None,
                    format!("`{file}` is not XML: it has no `Message` root element"),
                    doc,
                );
                return;
            }
            Event::Eof => {
                let reason = if root_seen {
                    format!("`{file}` ends before `</Message>`: it may be truncated")
                } else {
                    format!("`{file}` is not XML: it has no `Message` root element")
                };
                out.reject(None, reason, doc);
                return;
            }
            _ => {}
        }
    }
}

/// The header a document without one is read under; `None` when no year is known.
fn fallback_header(la: &str, year: Option<i32>) -> Option<Header> {
    year.map(|year| Header {
        la: la.to_owned(),
        year,
    })
}

fn read_header(
    node: &Node,
    fallback_la: &str,
    fallback_year: Option<i32>,
) -> Result<Header, Fault> {
    let details = node.child("CollectionDetails");
    if let Some(c) = details.and_then(|d| d.text_of("Collection"))
        && c != "CIN"
    {
        return Err(fault("CollectionDetails/Collection", "is not `CIN`"));
    }
    let year = match details.and_then(|d| d.text_of("Year")) {
        Some(y) => Some(
            y.parse::<i32>()
                .ok()
                .filter(|y| (1900..=9999).contains(y))
                .ok_or_else(|| fault("CollectionDetails/Year", "is not a year"))?,
        ),
        None => fallback_year,
    };
    let year = year.ok_or_else(|| {
        fault(
            "CollectionDetails/Year",
            "is missing and the return's name holds no year",
        )
    })?;
    let la = match node.all("Source").find_map(|s| s.text_of("LEA")) {
        Some(lea) if record::is_la_code(lea) => lea.to_owned(),
        Some(_) => return Err(fault("Source/LEA", "is not an LA number")),
        None => fallback_la.to_owned(),
    };
    Ok(Header { la, year })
}

type ChildError = (Option<String>, Fault);

/// One `Child` as a record (without its raw bytes, which the caller adds).
fn child(node: &Node, h: &Header) -> Result<SourceRecord, ChildError> {
    let ids = node
        .child("ChildIdentifiers")
        .ok_or((None, fault("ChildIdentifiers", "is missing")))?;
    let id = ids
        .text_of("LAchildID")
        .ok_or((None, fault("ChildIdentifiers/LAchildID", "is missing")))?;
    let key = format!("cin:{}:{}:{id}", h.la, h.year);
    let with_key = |f: Fault| (Some(key.clone()), f);
    let identity = identity(ids, &h.la, id).map_err(with_key)?;
    let disabilities: Vec<&str> = node
        .child("ChildCharacteristics")
        .and_then(|c| c.child("Disabilities"))
        .map(|d| {
            d.all("Disability")
                .map(|x| x.text.trim())
                .filter(|t| !t.is_empty() && *t != "NONE")
                .collect()
        })
        .unwrap_or_default();
    let mut keys = Keys::default();
    let mut facts = Vec::new();
    for details in node.all("CINdetails") {
        episode(details, &disabilities, &mut keys, &mut facts).map_err(with_key)?;
    }
    Ok(SourceRecord {
        source_key: key.clone(),
        organisation: record::organisation(&h.la),
        subject: None,
        identity,
        facts,
        raw: String::new(),
    })
}

fn identity(ids: &Node, la: &str, id: &str) -> Result<Identity, Fault> {
    let mut identifiers = vec![record::la_person_id(la, id)];
    for (element, system) in [("UPN", "upn"), ("FormerUPN", "former_upn")] {
        if let Some(v) = ids.text_of(element) {
            let upn: Upn = v
                .parse()
                .map_err(|e| Fault(format!("`ChildIdentifiers/{element}`: {e}")))?;
            identifiers.push(SourceIdentifier {
                system: system.into(),
                value: upn.to_string(),
                // The census does not say whether the LA checked the UPN with the school.
                verified: false,
            });
        }
    }
    let dob = date(ids, "PersonBirthDate", "ChildIdentifiers/PersonBirthDate")?;
    // Read so that a malformed one is refused, though the envelope has nowhere to put it.
    date(
        ids,
        "ExpectedPersonBirthDate",
        "ChildIdentifiers/ExpectedPersonBirthDate",
    )?;
    date(ids, "PersonDeathDate", "ChildIdentifiers/PersonDeathDate")?;
    let sex = match ids.text_of("GenderCurrent") {
        None => None,
        Some("1") => Some("male"),
        Some("2") => Some("female"),
        Some("9") => Some("other"),
        Some("0") => Some("unknown"),
        Some(_) => {
            return Err(fault(
                "ChildIdentifiers/GenderCurrent",
                "is not 0, 1, 2 or 9",
            ));
        }
    };
    Ok(Identity {
        date_of_birth: dob,
        sex: sex.map(Into::into),
        identifiers,
        ..Identity::default()
    })
}

/// An optional date element: absent is `None`, present but not a date is a fault.
fn date(node: &Node, name: &str, path: &str) -> Result<Option<NaiveDate>, Fault> {
    node.text_of(name)
        .map(|t| codes::parse_iso(t).ok_or_else(|| fault(path, "is not a date")))
        .transpose()
}

fn required_date(node: &Node, name: &str, path: &str) -> Result<NaiveDate, Fault> {
    date(node, name, path)?.ok_or_else(|| fault(path, "is missing"))
}

fn boolean(node: &Node, name: &str, path: &str) -> Result<Option<bool>, Fault> {
    node.text_of(name)
        .map(|t| codes::parse_bool(t).ok_or_else(|| fault(path, "is not true, false, 1 or 0")))
        .transpose()
}

fn fact(
    keys: &mut Keys,
    base: String,
    category: &'static str,
    kind: &'static str,
    on: NaiveDate,
    summary: String,
    payload: Value,
) -> SourceFact {
    FactSpec {
        key: keys.key(base),
        category,
        agency: None,
        kind,
        on,
        summary,
        payload,
    }
    .into()
}

/// The facts of one `CINdetails`: contact, referral, assessments, plans, enquiries.
fn episode(
    d: &Node,
    disabilities: &[&str],
    keys: &mut Keys,
    facts: &mut Vec<SourceFact>,
) -> Result<(), Fault> {
    let referred = required_date(d, "CINreferralDate", "CINdetails/CINreferralDate")?;
    let source = d.text_of("ReferralSource");
    let need = d.text_of("PrimaryNeedCode");
    let nfa = boolean(d, "ReferralNFA", "CINdetails/ReferralNFA")?.unwrap_or(false);
    let closed = date(d, "CINclosureDate", "CINdetails/CINclosureDate")?;
    let reason = d.text_of("ReasonForClosure");
    let icpc = date(d, "DateOfInitialCPC", "CINdetails/DateOfInitialCPC")?;
    let from = match source {
        Some(code) => format!(
            "{} (source code {code})",
            codes::words(codes::referral_source, code)
        ),
        None => "an unrecorded source".to_owned(),
    };

    let mut contact = json!({
        "ReferralSource": source,
        "ContactOutcome": if nfa { "NFA" } else { "referral" },
    });
    if nfa && let (Some(n), Some(map)) = (need, contact.as_object_mut()) {
        map.insert("PrimaryNeedCode".into(), n.into());
    }
    let summary = format!(
        "Contact from {from}; {}",
        if nfa {
            "no further action after screening"
        } else {
            "progressed to referral"
        }
    );
    let on = codes::iso(referred);
    facts.push(fact(
        keys,
        format!("contact:{on}"),
        "social_care.contact_referral",
        "contact",
        referred,
        summary,
        contact,
    ));

    if !nfa {
        let mut payload = json!({
            "ReferralSource": source,
            "PrimaryNeedCode": need,
            "ReferralNFA": false,
            "CINreferralDate": on,
        });
        if let Some(map) = payload.as_object_mut() {
            if let Some(c) = closed {
                map.insert("CINclosureDate".into(), codes::iso(c).into());
            }
            if let Some(r) = reason {
                map.insert("ReasonForClosure".into(), r.into());
            }
            if let Some(i) = icpc {
                map.insert("DateOfInitialCPC".into(), codes::iso(i).into());
            }
            if !disabilities.is_empty() {
                map.insert("Disabilities".into(), json!(disabilities));
            }
        }
        let mut summary = match need {
            Some(n) => format!(
                "Referral accepted; primary need {n} ({})",
                codes::words(codes::primary_need, n)
            ),
            None => "Referral accepted".to_owned(),
        };
        if let Some(c) = closed {
            summary.push_str(&format!("; case closed {}", codes::long_date(c)));
            if let Some(r) = reason {
                summary.push_str(&format!(
                    " ({})",
                    codes::words(codes::reason_for_closure, r)
                ));
            }
        }
        facts.push(fact(
            keys,
            format!("referral:{on}"),
            "social_care.contact_referral",
            "referral",
            referred,
            summary,
            payload,
        ));
    }

    for a in d.all("Assessments") {
        facts.push(assessment(a, keys)?);
    }
    for p in d.all("CINPlanDates") {
        facts.push(cin_plan(p, need, keys)?);
    }
    for s in d.all("Section47") {
        facts.push(section47(s, keys)?);
    }
    for p in d.all("ChildProtectionPlans") {
        let (plan, flag) = cp_plan(p, keys)?;
        facts.push(plan);
        facts.push(flag);
    }
    Ok(())
}

fn assessment(a: &Node, keys: &mut Keys) -> Result<SourceFact, Fault> {
    const P: &str = "CINdetails/Assessments";
    let start = required_date(
        a,
        "AssessmentActualStartDate",
        &format!("{P}/AssessmentActualStartDate"),
    )?;
    let review = date(
        a,
        "AssessmentInternalReviewDate",
        &format!("{P}/AssessmentInternalReviewDate"),
    )?;
    let authorised = date(
        a,
        "AssessmentAuthorisationDate",
        &format!("{P}/AssessmentAuthorisationDate"),
    )?;
    let factors: Vec<&str> = a
        .child("FactorsIdentifiedAtAssessment")
        .map(|f| {
            f.all("AssessmentFactors")
                .map(|x| x.text.trim())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut payload = json!({
        "AssessmentActualStartDate": codes::iso(start),
        "AssessmentAuthorisationDate": json_date(authorised),
        "AssessmentFactors": factors,
    });
    if let (Some(r), Some(map)) = (review, payload.as_object_mut()) {
        map.insert("AssessmentInternalReviewDate".into(), codes::iso(r).into());
    }
    let mut summary = match authorised {
        Some(d) => format!(
            "Child and family assessment completed {}",
            codes::long_date(d)
        ),
        None => "Child and family assessment in progress".to_owned(),
    };
    if !factors.is_empty() {
        summary.push_str(&format!("; factors identified: {}", factors.join(", ")));
    }
    Ok(fact(
        keys,
        format!("assessment:{}", codes::iso(start)),
        "social_care.assessment",
        "assessment",
        start,
        summary,
        payload,
    ))
}

fn cin_plan(p: &Node, need: Option<&str>, keys: &mut Keys) -> Result<SourceFact, Fault> {
    let start = required_date(
        p,
        "CINPlanStartDate",
        "CINdetails/CINPlanDates/CINPlanStartDate",
    )?;
    let end = date(
        p,
        "CINPlanEndDate",
        "CINdetails/CINPlanDates/CINPlanEndDate",
    )?;
    let payload = json!({
        "CINPlanStartDate": codes::iso(start),
        "CINPlanEndDate": json_date(end),
        "PrimaryNeedCode": need,
    });
    let need_words = need.map(|n| codes::words(codes::primary_need, n));
    let summary = match (end, need_words) {
        (Some(e), Some(w)) => format!(
            "Child in need plan ({w}) from {} to {}",
            codes::long_date(start),
            codes::long_date(e)
        ),
        (Some(e), None) => format!(
            "Child in need plan from {} to {}",
            codes::long_date(start),
            codes::long_date(e)
        ),
        (None, Some(w)) => format!(
            "Child in need plan open since {}; primary need {w}",
            codes::long_date(start)
        ),
        (None, None) => format!("Child in need plan open since {}", codes::long_date(start)),
    };
    Ok(fact(
        keys,
        format!("cin_plan:{}", codes::iso(start)),
        "social_care.child_in_need",
        "cin_plan",
        start,
        summary,
        payload,
    ))
}

fn section47(s: &Node, keys: &mut Keys) -> Result<SourceFact, Fault> {
    const P: &str = "CINdetails/Section47";
    let start = required_date(s, "S47ActualStartDate", &format!("{P}/S47ActualStartDate"))?;
    let target = date(s, "InitialCPCtarget", &format!("{P}/InitialCPCtarget"))?;
    let icpc = date(s, "DateOfInitialCPC", &format!("{P}/DateOfInitialCPC"))?;
    let not_required =
        boolean(s, "ICPCnotRequired", &format!("{P}/ICPCnotRequired"))?.unwrap_or(false);
    let payload = json!({
        "S47ActualStartDate": codes::iso(start),
        "InitialCPCtarget": json_date(target),
        "DateOfInitialCPC": json_date(icpc),
        "ICPCnotRequired": not_required,
    });
    let summary = match (icpc, not_required) {
        (Some(d), _) => format!(
            "Section 47 enquiry; initial child protection conference held {}",
            codes::long_date(d)
        ),
        (None, true) => {
            "Section 47 enquiry; initial child protection conference not required".to_owned()
        }
        (None, false) => {
            "Section 47 enquiry started; initial child protection conference pending".to_owned()
        }
    };
    Ok(fact(
        keys,
        format!("s47:{}", codes::iso(start)),
        "social_care.assessment",
        "s47_enquiry",
        start,
        summary,
        payload,
    ))
}

fn cp_plan(p: &Node, keys: &mut Keys) -> Result<(SourceFact, SourceFact), Fault> {
    const P: &str = "CINdetails/ChildProtectionPlans";
    let start = required_date(p, "CPPstartDate", &format!("{P}/CPPstartDate"))?;
    let end = date(p, "CPPendDate", &format!("{P}/CPPendDate"))?;
    let initial = p.text_of("InitialCategoryOfAbuse");
    let latest = p.text_of("LatestCategoryOfAbuse").or(initial);
    let previous = p
        .text_of("NumberOfPreviousCPP")
        .map(|n| {
            n.parse::<u32>()
                .map_err(|_| fault(&format!("{P}/NumberOfPreviousCPP"), "is not a whole number"))
        })
        .transpose()?;
    let mut reviews = Vec::new();
    if let Some(r) = p.child("Reviews") {
        for d in r.all("CPPreviewDate") {
            let text = d.text.trim();
            let day = codes::parse_iso(text)
                .ok_or_else(|| fault(&format!("{P}/Reviews/CPPreviewDate"), "is not a date"))?;
            reviews.push(codes::iso(day));
        }
    }
    let payload = json!({
        "CPPstartDate": codes::iso(start),
        "CPPendDate": json_date(end),
        "InitialCategoryOfAbuse": initial,
        "LatestCategoryOfAbuse": latest,
        "NumberOfPreviousCPP": previous,
        "CPPreviewDates": reviews,
    });
    let category = latest.map_or_else(
        || "not recorded".to_owned(),
        |c| codes::words(codes::category_of_abuse, c),
    );
    let summary = match end {
        Some(e) => format!(
            "Child protection plan under category {category} from {} to {}",
            codes::long_date(start),
            codes::long_date(e)
        ),
        None => format!(
            "Child protection plan under category {category} since {}",
            codes::long_date(start)
        ),
    };
    let plan = fact(
        keys,
        format!("cp_plan:{}", codes::iso(start)),
        "social_care.child_protection",
        "cp_plan",
        start,
        summary,
        payload,
    );
    Ok((plan, record::flag(keys, "CPP", start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(header: &str, children: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<Message>{header}<Children>{children}</Children></Message>"
        )
    }

    const HEADER: &str = "<Header><CollectionDetails><Collection>CIN</Collection><Year>2026</Year></CollectionDetails><Source><LEA>999</LEA></Source></Header>";

    fn child(id: &str, inner: &str) -> String {
        format!(
            "<Child><ChildIdentifiers><LAchildID>{id}</LAchildID><GenderCurrent>2</GenderCurrent></ChildIdentifiers><ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>{inner}</Child>"
        )
    }

    const REFERRAL: &str = "<CINdetails><CINreferralDate>2025-06-02</CINreferralDate><ReferralSource>6</ReferralSource><ReferralNFA>false</ReferralNFA></CINdetails>";

    fn read_doc(text: &str, fallback_year: Option<i32>) -> Output {
        let mut out = Output::default();
        read(text, "cin.xml", "888", fallback_year, &mut out);
        out
    }

    #[test]
    fn a_document_without_a_header_takes_the_configured_la_and_the_names_year() {
        let out = read_doc(&doc("", &child("7", REFERRAL)), Some(2025));
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        assert_eq!(out.records[0].source_key, "cin:888:2025:7");
        assert_eq!(out.records[0].organisation, "local_authority:888");
        let out = read_doc(&doc("", &child("7", REFERRAL)), None);
        assert_eq!(out.records.len(), 0);
        assert!(
            out.rejected[0]
                .reason
                .contains("no `CollectionDetails/Year`")
        );
    }

    #[test]
    fn the_header_lea_and_year_key_the_records() {
        let out = read_doc(&doc(HEADER, &child("7", REFERRAL)), Some(2020));
        assert_eq!(out.records[0].source_key, "cin:999:2026:7");
        let facts: Vec<&str> = out.records[0]
            .facts
            .iter()
            .map(|f| f.kind.as_str())
            .collect();
        assert_eq!(facts, vec!["contact", "referral"]);
    }

    #[test]
    fn another_collection_is_refused_whole() {
        let header = HEADER.replace(
            "<Collection>CIN</Collection>",
            "<Collection>SEN2</Collection>",
        );
        let text = doc(&header, &child("7", REFERRAL));
        let out = read_doc(&text, None);
        assert!(out.records.is_empty());
        assert_eq!(out.rejected.len(), 1);
        assert!(
            out.rejected[0]
                .reason
                .contains("`CollectionDetails/Collection` is not `CIN`")
        );
        assert_eq!(out.rejected[0].raw, text);
    }

    #[test]
    fn a_truncated_document_keeps_the_children_before_the_break() {
        let text = doc(
            HEADER,
            &format!("{}{}", child("7", REFERRAL), child("8", REFERRAL)),
        );
        let cut = &text[..text.len() - 60];
        let out = read_doc(cut, None);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.rejected.len(), 1);
        assert!(
            out.rejected[0].reason.starts_with("`Child`"),
            "{}",
            out.rejected[0].reason
        );
    }

    #[test]
    fn a_mismatched_end_tag_names_the_elements_not_the_content() {
        let broken = child("7", REFERRAL).replace("</ReferralSource>", "</ReferralSauce>");
        let out = read_doc(&doc(HEADER, &broken), None);
        assert!(out.records.is_empty());
        assert!(
            out.rejected[0].reason.contains("closes `ReferralSource`"),
            "{}",
            out.rejected[0].reason
        );
    }

    #[test]
    fn entities_and_unknown_elements_are_read() {
        let inner = format!("<Extra><Note>x</Note></Extra>{REFERRAL}");
        let out = read_doc(&doc(HEADER, &child("A&amp;7", &inner)), None);
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        assert_eq!(out.records[0].source_key, "cin:999:2026:A&7");
    }

    #[test]
    fn bad_codes_and_numbers_reject_the_child_naming_the_element() {
        let gender = child("7", REFERRAL).replace("<GenderCurrent>2", "<GenderCurrent>5");
        let cpp = child(
            "8",
            "<CINdetails><CINreferralDate>2025-06-02</CINreferralDate><ReferralSource>6</ReferralSource><ReferralNFA>false</ReferralNFA><ChildProtectionPlans><CPPstartDate>2025-06-17</CPPstartDate><InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse><LatestCategoryOfAbuse>NEG</LatestCategoryOfAbuse><NumberOfPreviousCPP>two</NumberOfPreviousCPP></ChildProtectionPlans></CINdetails>",
        );
        let nfa = REFERRAL.replace("<ReferralNFA>false", "<ReferralNFA>maybe");
        let out = read_doc(
            &doc(HEADER, &format!("{gender}{cpp}{}", child("9", &nfa))),
            None,
        );
        assert!(out.records.is_empty());
        let reasons: Vec<&str> = out.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "`ChildIdentifiers/GenderCurrent` is not 0, 1, 2 or 9",
                "`CINdetails/ChildProtectionPlans/NumberOfPreviousCPP` is not a whole number",
                "`CINdetails/ReferralNFA` is not true, false, 1 or 0",
            ]
        );
        assert_eq!(
            out.rejected[0].source_key.as_deref(),
            Some("cin:999:2026:7")
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_content_and_deep_nesting_is_refused() {
        let text = format!("\u{feff}{}", doc(HEADER, &child("7", REFERRAL)));
        assert_eq!(read_doc(&text, None).records.len(), 1);
        let deep = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        let out = read_doc(&doc(HEADER, &child("7", &deep)), None);
        assert!(out.records.is_empty());
        assert!(out.rejected[0].reason.contains("too deeply"));
    }

    #[test]
    fn two_contacts_on_one_day_get_distinct_keys() {
        let nfa = "<CINdetails><CINreferralDate>2025-06-02</CINreferralDate><ReferralSource>9</ReferralSource><ReferralNFA>1</ReferralNFA></CINdetails>";
        let out = read_doc(&doc(HEADER, &child("7", &format!("{nfa}{nfa}"))), None);
        let keys: Vec<&str> = out.records[0]
            .facts
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(keys, vec!["contact:2025-06-02", "contact:2025-06-02#2"]);
    }
}
