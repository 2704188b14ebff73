//! Envelope → FHIR R4 UK Core resources, one at a time, as the feed serves them.
//!
//! - the envelope's identity → `Patient` (every envelope that describes a person);
//! - each relationship it declares to another envelope → `RelatedPerson` (the other person,
//!   related to this patient by a v3 RoleCode, with the Kinship parental-responsibility
//!   extension when the envelope says);
//! - each fact → `Encounter`, `Condition` or `Flag` by its kind and category (see
//!   [`resource_type`]), typed with the Kinship fact-kind and data-category codes so the
//!   parser reads back the same kind and category.
//!
//! Ids are derived from source keys (see [`fhir_id`]), so a resource keeps its id across
//! renders and upserts.
//!
//! Limits: pure; the caller supplies the envelope, its related envelopes, version and time.

use chrono::{DateTime, SecondsFormat, Utc};
use kinship_connector_sdk::{
    Identity, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
    SourceRelationship,
};
use serde_json::{Map, Value, json};

use crate::codes::{self, ResourceType};

/// Which resource a fact renders as, or `None` for a category a health server does not hold.
pub fn resource_type(fact: &SourceFact) -> Option<ResourceType> {
    if fact.category == "social_care.child_protection_flag" {
        return Some(ResourceType::Flag);
    }
    if !fact.category.starts_with("health.") {
        return None;
    }
    let is_condition = fact.kind.ends_with("condition")
        || fact.payload.get("resourceType").and_then(Value::as_str) == Some("Condition");
    Some(if is_condition {
        ResourceType::Condition
    } else {
        ResourceType::Encounter
    })
}

/// Whether an envelope renders a Patient: it describes a person (or names no other record
/// that does).
pub fn has_patient(record: &SourceRecord) -> bool {
    !record.identity.is_empty() || record.subject.is_none()
}

/// The RelatedPerson code of a relationship, when it renders as one.
pub fn relationship_renders(rel: &SourceRelationship) -> bool {
    codes::relationship_code(&rel.kind, None).is_some()
}

/// A FHIR id for a source key: letters, digits and `-` kept, every other byte escaped as `.XX`
/// (so distinct keys give distinct ids); an id longer than FHIR's 64 characters becomes a
/// hash.
pub fn fhir_id(key: &str) -> String {
    bounded(escape(key))
}

/// The id of a resource that belongs to an envelope under a sub-key (a fact key, a related
/// record's key): the two escaped parts joined by `..`, which no escaped part contains.
pub fn child_id(key: &str, sub: &str) -> String {
    bounded(format!("{}..{}", escape(key), escape(sub)))
}

fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!(".{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str(".00");
    }
    out
}

fn bounded(id: String) -> String {
    if id.len() <= 64 {
        return id;
    }
    // FNV-1a twice with different offsets: 128 bits, ample for ids within one feed.
    let fnv = |offset: u64| {
        id.bytes().fold(offset, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        })
    };
    format!(
        "h{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// The ODS code of an organisation id `<kind>:<code>`.
fn ods(organisation: &str) -> &str {
    organisation
        .split_once(':')
        .map_or(organisation, |(_, code)| code)
}

fn ods_reference(organisation: &str) -> Value {
    json!({ "identifier": { "system": codes::ODS_SYSTEM, "value": ods(organisation) } })
}

/// An instant as FHIR writes it, with as many fractional digits as it has.
fn instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `meta.lastUpdated` from milliseconds since the epoch.
pub fn last_updated(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn meta(version: u32, updated_ms: i64, profile: &str) -> Value {
    json!({
        "versionId": version.to_string(),
        "lastUpdated": last_updated(updated_ms),
        "profile": [format!("{}{profile}", codes::PROFILE_PREFIX)],
    })
}

/// The envelope's Patient.
pub fn patient(record: &SourceRecord, version: u32, updated_ms: i64) -> Value {
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("Patient"));
    r.insert("id".into(), json!(fhir_id(&record.source_key)));
    r.insert("meta".into(), meta(version, updated_ms, "Patient"));
    person(&mut r, &record.identity);
    r.insert(
        "managingOrganization".into(),
        ods_reference(&record.organisation),
    );
    Value::Object(r)
}

/// The RelatedPerson for relationship `rel` of `record`: `related` as it stands to the
/// patient the record describes.
pub fn related_person(
    record: &SourceRecord,
    rel: &SourceRelationship,
    related: &Identity,
    version: u32,
    updated_ms: i64,
) -> Value {
    let id = child_id(&record.source_key, &rel.related_key);
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("RelatedPerson"));
    r.insert("id".into(), json!(id));
    r.insert("meta".into(), meta(version, updated_ms, "RelatedPerson"));
    if let Some(pr) = rel.parental_responsibility {
        r.insert(
            "extension".into(),
            json!([{ "url": codes::PARENTAL_RESPONSIBILITY_EXTENSION, "valueBoolean": pr }]),
        );
    }
    let mut identifiers = vec![json!({
        "system": codes::RELATED_PERSON_ID_SYSTEM,
        "value": id,
        "assigner": ods_reference(&record.organisation),
    })];
    identifiers.extend(related.identifiers.iter().map(identifier));
    r.insert("identifier".into(), Value::Array(identifiers));
    r.insert("active".into(), json!(true));
    r.insert(
        "patient".into(),
        json!({ "reference": format!("Patient/{}", fhir_id(&record.source_key)) }),
    );
    if let Some((code, display)) = codes::relationship_code(&rel.kind, related.sex.as_deref()) {
        r.insert(
            "relationship".into(),
            json!([{ "coding": [{ "system": codes::ROLE_CODE_SYSTEM, "code": code, "display": display }] }]),
        );
    }
    let mut person_part = Map::new();
    person(
        &mut person_part,
        &Identity {
            identifiers: Vec::new(),
            ..related.clone()
        },
    );
    r.extend(person_part);
    Value::Object(r)
}

/// Names, gender, birth date, identifiers and addresses, in FHIR element order.
fn person(r: &mut Map<String, Value>, identity: &Identity) {
    if !identity.identifiers.is_empty() {
        r.insert(
            "identifier".into(),
            Value::Array(identity.identifiers.iter().map(identifier).collect()),
        );
    }
    if !identity.names.is_empty() {
        r.insert(
            "name".into(),
            Value::Array(identity.names.iter().map(name).collect()),
        );
    }
    if let Some(sex) = &identity.sex {
        r.insert("gender".into(), json!(sex));
    }
    if let Some(dob) = identity.date_of_birth {
        r.insert(
            "birthDate".into(),
            json!(dob.format("%Y-%m-%d").to_string()),
        );
    }
    if !identity.addresses.is_empty() {
        r.insert(
            "address".into(),
            Value::Array(identity.addresses.iter().map(address).collect()),
        );
    }
}

fn identifier(id: &SourceIdentifier) -> Value {
    if id.system == "nhs_number" {
        let (code, display) = if id.verified {
            ("01", "Number present and verified")
        } else {
            ("02", "Number present but not traced")
        };
        json!({
            "extension": [{
                "url": codes::NHS_VERIFICATION_EXTENSION,
                "valueCodeableConcept": { "coding": [{
                    "system": codes::NHS_VERIFICATION_SYSTEM,
                    "code": code,
                    "display": display,
                }] },
            }],
            "system": codes::NHS_NUMBER_SYSTEM,
            "value": id.value,
        })
    } else {
        json!({
            "system": format!("{}{}", codes::CATALOGUE_ID_PREFIX, id.system),
            "value": id.value,
        })
    }
}

fn name(n: &SourceName) -> Value {
    let mut m = Map::new();
    m.insert("use".into(), json!(n.usage));
    if !n.family.is_empty() {
        m.insert("family".into(), json!(n.family));
    }
    if !n.given.is_empty() {
        m.insert("given".into(), json!([n.given]));
    }
    Value::Object(m)
}

fn address(a: &SourceAddress) -> Value {
    let mut m = Map::new();
    if let Some(uprn) = &a.uprn {
        m.insert(
            "extension".into(),
            json!([{
                "url": codes::ADDRESS_KEY_EXTENSION,
                "extension": [
                    { "url": "type", "valueCoding": { "system": codes::ADDRESS_KEY_TYPE_SYSTEM, "code": "uprn" } },
                    { "url": "value", "valueString": uprn },
                ],
            }]),
        );
    }
    m.insert("use".into(), json!(codes::fhir_address_use(&a.usage)));
    let mut lines = vec![json!(a.line1)];
    if let Some(l2) = &a.line2 {
        lines.push(json!(l2));
    }
    m.insert("line".into(), Value::Array(lines));
    if !a.town.is_empty() {
        m.insert("city".into(), json!(a.town));
    }
    if !a.postcode.is_empty() {
        m.insert("postalCode".into(), json!(a.postcode));
    }
    if a.valid_from.is_some() || a.valid_to.is_some() {
        let mut p = Map::new();
        if let Some(d) = a.valid_from {
            p.insert("start".into(), json!(d.format("%Y-%m-%d").to_string()));
        }
        if let Some(d) = a.valid_to {
            p.insert("end".into(), json!(d.format("%Y-%m-%d").to_string()));
        }
        m.insert("period".into(), Value::Object(p));
    }
    Value::Object(m)
}

/// The subject reference of the envelope's facts.
fn subject(record: &SourceRecord) -> Value {
    let key = match (&record.subject, has_patient(record)) {
        (Some(s), false) => s.as_str(),
        _ => record.source_key.as_str(),
    };
    json!({ "reference": format!("Patient/{}", fhir_id(key)) })
}

fn kind_coding(fact: &SourceFact) -> Value {
    let display = codes::kind(&fact.kind).map_or(fact.kind.as_str(), |k| k.display);
    json!({
        "coding": [
            { "system": codes::FACT_KIND_SYSTEM, "code": fact.kind, "display": display },
            { "system": codes::DATA_CATEGORY_SYSTEM, "code": fact.category },
        ],
    })
}

/// A payload string, if it is one.
fn text<'a>(payload: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(payload, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

/// The SNOMED-style codings a payload's `reasonCode` (one object or a list) carries.
fn payload_codings(value: Option<&Value>) -> Vec<Value> {
    let items: Vec<&Value> = match value {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|c| {
            let code = c.get("code")?.as_str()?;
            let system = c
                .get("system")
                .and_then(Value::as_str)
                .unwrap_or(codes::SNOMED_SYSTEM);
            let display = c.get("display").and_then(Value::as_str);
            let mut coding = json!({ "system": system, "code": code });
            if let Some(d) = display {
                coding["display"] = json!(d);
            }
            Some(json!({ "coding": [coding], "text": display.unwrap_or(code) }))
        })
        .collect()
}

/// An Encounter for fact `k` of the envelope.
pub fn encounter(record: &SourceRecord, k: usize, version: u32, updated_ms: i64) -> Option<Value> {
    let fact = record.facts.get(k)?;
    let p = &fact.payload;
    let status = text(p, &["status"])
        .filter(|s| {
            matches!(
                *s,
                "planned"
                    | "arrived"
                    | "triaged"
                    | "in-progress"
                    | "onleave"
                    | "finished"
                    | "cancelled"
                    | "entered-in-error"
                    | "unknown"
            )
        })
        .unwrap_or("finished");
    let class = text(p, &["class", "code"]).unwrap_or(match fact.kind.as_str() {
        "ed_attendance" | "self_harm_attendance" => "EMER",
        "admission" => "IMP",
        "development_review" => "HH",
        _ => "AMB",
    });
    let class_display = match class {
        "EMER" => "emergency",
        "IMP" => "inpatient encounter",
        "HH" => "home health",
        _ => "ambulatory",
    };
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("Encounter"));
    r.insert("id".into(), json!(child_id(&record.source_key, &fact.key)));
    r.insert("meta".into(), meta(version, updated_ms, "Encounter"));
    r.insert("status".into(), json!(status));
    r.insert(
        "class".into(),
        json!({ "system": codes::ACT_CODE_SYSTEM, "code": class, "display": class_display }),
    );
    let mut ty = kind_coding(fact);
    ty["text"] = json!(fact.summary);
    r.insert("type".into(), json!([ty]));
    if let Some(priority) = text(p, &["priority"]) {
        let code = match priority {
            "urgent" => Some(("UR", "urgent")),
            "routine" => Some(("R", "routine")),
            "emergency" => Some(("EM", "emergency")),
            _ => None,
        };
        if let Some((code, display)) = code {
            r.insert(
                "priority".into(),
                json!({ "coding": [{ "system": codes::ACT_PRIORITY_SYSTEM, "code": code, "display": display }] }),
            );
        }
    }
    r.insert("subject".into(), subject(record));
    let mut period = json!({ "start": instant(&fact.occurred_at) });
    if let Some(end) = text(p, &["period", "end"]).filter(|e| crate::parse::instant(e).is_some()) {
        period["end"] = json!(end);
    }
    r.insert("period".into(), period);
    let mut reasons = payload_codings(p.get("reasonCode"));
    if reasons.is_empty()
        && let Some(reason) = text(p, &["reason"])
    {
        reasons.push(json!({ "text": reason }));
    }
    if !reasons.is_empty() {
        r.insert("reasonCode".into(), Value::Array(reasons));
    }
    if let Some(d) = text(p, &["dischargeDisposition"]) {
        r.insert(
            "hospitalization".into(),
            json!({ "dischargeDisposition": { "text": d } }),
        );
    }
    r.insert(
        "serviceProvider".into(),
        ods_reference(&record.organisation),
    );
    Some(Value::Object(r))
}

/// A Condition for fact `k` of the envelope.
pub fn condition(record: &SourceRecord, k: usize, version: u32, updated_ms: i64) -> Option<Value> {
    let fact = record.facts.get(k)?;
    let p = &fact.payload;
    let clinical = text(p, &["clinicalStatus"])
        .filter(|s| {
            matches!(
                *s,
                "active" | "recurrence" | "relapse" | "inactive" | "remission" | "resolved"
            )
        })
        .unwrap_or("active");
    let verification = text(p, &["verificationStatus"]).filter(|s| {
        matches!(
            *s,
            "unconfirmed"
                | "provisional"
                | "differential"
                | "confirmed"
                | "refuted"
                | "entered-in-error"
        )
    });
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("Condition"));
    r.insert("id".into(), json!(child_id(&record.source_key, &fact.key)));
    r.insert("meta".into(), meta(version, updated_ms, "Condition"));
    r.insert(
        "clinicalStatus".into(),
        json!({ "coding": [{ "system": codes::CONDITION_CLINICAL_SYSTEM, "code": clinical }] }),
    );
    if let Some(v) = verification {
        r.insert(
            "verificationStatus".into(),
            json!({ "coding": [{ "system": codes::CONDITION_VERIFICATION_SYSTEM, "code": v }] }),
        );
    }
    r.insert(
        "category".into(),
        json!([
            { "coding": [{ "system": codes::CONDITION_CATEGORY_SYSTEM, "code": "problem-list-item", "display": "Problem List Item" }] },
            kind_coding(fact),
        ]),
    );
    let mut code = json!({ "text": fact.summary });
    if let Some(c) = payload_codings(p.get("code")).into_iter().next() {
        code["coding"] = c["coding"].clone();
    }
    r.insert("code".into(), code);
    r.insert("subject".into(), subject(record));
    r.insert("onsetDateTime".into(), json!(instant(&fact.occurred_at)));
    r.insert("asserter".into(), ods_reference(&record.organisation));
    Some(Value::Object(r))
}

/// A Flag for fact `k` of the envelope.
pub fn flag(record: &SourceRecord, k: usize, version: u32, updated_ms: i64) -> Option<Value> {
    let fact = record.facts.get(k)?;
    let p = &fact.payload;
    let status = text(p, &["status"])
        .filter(|s| matches!(*s, "active" | "inactive" | "entered-in-error"))
        .unwrap_or("active");
    let (code, display) = text(p, &["code"])
        .and_then(|c| codes::CP_FLAG_CODES.iter().find(|(code, _)| *code == c))
        .copied()
        .unwrap_or(codes::CP_FLAG_CODES[0]);
    let mut period = json!({ "start": instant(&fact.occurred_at) });
    if let Some(end) = text(p, &["period", "end"]).filter(|e| {
        crate::parse::instant(e).is_some()
            || chrono::NaiveDate::parse_from_str(e, "%Y-%m-%d").is_ok()
    }) {
        period["end"] = json!(end);
    }
    Some(json!({
        "resourceType": "Flag",
        "id": child_id(&record.source_key, &fact.key),
        "meta": meta(version, updated_ms, "Flag"),
        "status": status,
        "code": {
            "coding": [{ "system": codes::CP_FLAG_SYSTEM, "code": code, "display": display }],
            "text": fact.summary,
        },
        "subject": subject(record),
        "period": period,
        "author": ods_reference(&record.organisation),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fhir_ids_and_distinct_for_distinct_keys() {
        let a = fhir_id("RX1/pat-000001");
        assert_eq!(a, "RX1.2Fpat-000001");
        assert!(crate::parse::is_fhir_id(&a));
        assert_ne!(fhir_id("a/b"), fhir_id("a.b"));
        assert_ne!(child_id("a", "b..c"), child_id("a..b", "c"));
        let long = fhir_id(&"x/".repeat(40));
        assert!(crate::parse::is_fhir_id(&long), "{long}");
    }

    #[test]
    fn facts_render_as_the_resource_their_kind_needs() {
        let fact = |kind: &str, category: &str| SourceFact {
            key: "f".into(),
            category: category.into(),
            agency: None,
            kind: kind.into(),
            occurred_at: DateTime::<Utc>::default(),
            summary: String::new(),
            payload: Value::Null,
        };
        assert_eq!(
            resource_type(&fact("ed_attendance", "health.unscheduled_care")),
            Some(ResourceType::Encounter)
        );
        assert_eq!(
            resource_type(&fact("mental_health_condition", "health.mental_health")),
            Some(ResourceType::Condition)
        );
        assert_eq!(
            resource_type(&fact("cp_flag", "social_care.child_protection_flag")),
            Some(ResourceType::Flag)
        );
        assert_eq!(
            resource_type(&fact("exclusion", "education.exclusions")),
            None
        );
    }
}
