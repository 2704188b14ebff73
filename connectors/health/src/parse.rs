//! Reads one FHIR resource (Patient, RelatedPerson, Encounter, Condition, Flag) into an SDK
//! envelope, or says why it cannot, naming the element and never its value.
//!
//! - Patient and RelatedPerson are identity records; Encounter, Condition and Flag carry one
//!   fact each about their `subject`.
//! - A resource marked `entered-in-error` is delivered with no facts: it retracts what an
//!   earlier version said.
//! - The record's organisation is the ODS code on the resource's organisation reference,
//!   mapped to a hub kind by [`Config::organisation`].
//!
//! Limits: pure, no IO; identifier checks come from the SDK, codes from [`crate::codes`].

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use kinship_connector_sdk::identifiers::{IdentifierError, NhsNumber, PncId, Upn};
use kinship_connector_sdk::{
    Identity, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
    SourceRelationship, catalogue,
};
use serde_json::{Map, Value, json};

use crate::codes::{self, ResourceType};
use crate::config::Config;

/// Why a resource could not be read. Names the element, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("`{0}` is not valid JSON")]
    NotJson(&'static str),
    #[error("`{0}` is missing")]
    Missing(String),
    #[error("`{0}` is not {1}")]
    Invalid(String, &'static str),
    #[error("`{0}` fails its {1} check")]
    CheckFailed(String, &'static str),
    #[error("`resourceType` is not one of Patient, RelatedPerson, Encounter, Condition, Flag")]
    UnexpectedType,
}

/// What could be read of any resource before its body: enough to track the high-water mark
/// and to dedupe even a resource that is then rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub resource_type: Option<ResourceType>,
    pub id: Option<String>,
    pub version: Option<String>,
    pub last_updated: Option<DateTime<Utc>>,
}

impl Header {
    /// The source key the record would have, `Type/id`.
    pub fn source_key(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.resource_type?.as_str(),
            self.id.as_ref()?
        ))
    }
}

/// A resource read: its header, and the record or why not.
pub struct Parsed {
    pub header: Header,
    pub record: Result<SourceRecord, Problem>,
}

/// Reads one resource from its exact bytes.
pub fn resource(raw: &str, config: &Config) -> Parsed {
    let value: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(_) => {
            return Parsed {
                header: Header::default(),
                record: Err(Problem::NotJson("resource")),
            };
        }
    };
    let Some(map) = value.as_object() else {
        return Parsed {
            header: Header::default(),
            record: Err(Problem::Invalid("resource".into(), "an object")),
        };
    };
    let header = header(map);
    let record = body(map, &header, config).map(|mut r| {
        r.raw = raw.to_owned();
        r
    });
    Parsed { header, record }
}

fn header(map: &Map<String, Value>) -> Header {
    let meta = map.get("meta").and_then(Value::as_object);
    let text = |m: Option<&Map<String, Value>>, k: &str| {
        m.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Header {
        resource_type: map
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(ResourceType::parse),
        id: text(Some(map), "id").filter(|id| is_fhir_id(id)),
        version: text(meta, "versionId"),
        last_updated: text(meta, "lastUpdated").and_then(|s| instant(&s)),
    }
}

fn body(
    map: &Map<String, Value>,
    header: &Header,
    config: &Config,
) -> Result<SourceRecord, Problem> {
    let ty = header.resource_type.ok_or(Problem::UnexpectedType)?;
    let o = Obj::new(map, ty.as_str());
    if header.id.is_none() {
        return Err(match o.str("id")? {
            None => Problem::Missing(o.path("id")),
            Some(_) => Problem::Invalid(o.path("id"), "a FHIR id"),
        });
    }
    if header.last_updated.is_none() {
        let meta = o.obj("meta")?;
        return Err(
            match meta.as_ref().map(|m| m.str("lastUpdated")).transpose()? {
                Some(Some(_)) => Problem::Invalid(o.path("meta.lastUpdated"), "an instant"),
                _ => Problem::Missing(o.path("meta.lastUpdated")),
            },
        );
    }
    let key = header.source_key().ok_or(Problem::UnexpectedType)?;
    match ty {
        ResourceType::Patient => patient(&o, key, config),
        ResourceType::RelatedPerson => related_person(&o, key, config),
        ResourceType::Encounter => encounter(&o, key, config),
        ResourceType::Condition => condition(&o, key, config, header),
        ResourceType::Flag => flag(&o, key, config, header),
    }
}

// ---------------------------------------------------------------------------------------------
// Identity resources
// ---------------------------------------------------------------------------------------------

fn patient(o: &Obj<'_>, key: String, config: &Config) -> Result<SourceRecord, Problem> {
    let org = o
        .obj("managingOrganization")?
        .ok_or_else(|| Problem::Missing(o.path("managingOrganization")))?;
    let organisation = organisation(&org, config)?;
    // `link` (replaced-by merges) stays in `raw`: linkage, not the connector, decides
    // whether two records are one person.
    Ok(SourceRecord {
        source_key: key,
        organisation,
        subject: None,
        identity: person(o)?,
        facts: Vec::new(),
        raw: String::new(),
    })
}

fn related_person(o: &Obj<'_>, key: String, config: &Config) -> Result<SourceRecord, Problem> {
    let patient = o
        .obj("patient")?
        .ok_or_else(|| Problem::Missing(o.path("patient")))?;
    let related_key = patient_reference(&patient)?;
    // RelatedPerson has no organisation element: the assigner of its local identifier says
    // who holds the record.
    let mut organisation_id = None;
    for id in o.objs("identifier")? {
        if let Some(assigner) = id.obj("assigner")?
            && let Some(org) = ods_reference(&assigner)?
        {
            organisation_id = Some(config.organisation(org));
            break;
        }
    }
    let organisation =
        organisation_id.ok_or_else(|| Problem::Missing(o.path("identifier.assigner")))?;
    let mut identity = person(o)?;
    let mut relation = None;
    for rel in o.objs("relationship")? {
        for coding in rel.objs("coding")? {
            if coding.str("system")? == Some(codes::ROLE_CODE_SYSTEM)
                && let Some(found) = coding.str("code")?.and_then(codes::relationship_from_code)
            {
                relation = Some(found);
                break;
            }
        }
        if relation.is_some() {
            break;
        }
    }
    let mut responsibility = None;
    for ext in o.objs("extension")? {
        if ext.str("url")? == Some(codes::PARENTAL_RESPONSIBILITY_EXTENSION) {
            responsibility = Some(
                ext.bool("valueBoolean")?
                    .ok_or_else(|| Problem::Missing(ext.path("valueBoolean")))?,
            );
        }
    }
    if let Some((kind, implied)) = relation {
        identity.relationships.push(SourceRelationship {
            related_key,
            kind: kind.to_owned(),
            parental_responsibility: responsibility.or(implied),
        });
    }
    Ok(SourceRecord {
        source_key: key,
        organisation,
        subject: None,
        identity,
        facts: Vec::new(),
        raw: String::new(),
    })
}

/// The identity elements Patient and RelatedPerson share.
fn person(o: &Obj<'_>) -> Result<Identity, Problem> {
    let mut identity = Identity::default();
    for name in o.objs("name")? {
        let usage = match name.str("use")? {
            None => "official",
            Some(u) => match codes::name_use(u) {
                Some(u) => u,
                // An anonymous name names nobody.
                None if u == "anonymous" => continue,
                None => return Err(Problem::Invalid(name.path("use"), "a name use")),
            },
        };
        let given = name.strs("given")?.first().copied().unwrap_or_default();
        let family = name.str("family")?.unwrap_or_default();
        if given.is_empty() && family.is_empty() {
            continue;
        }
        identity.names.push(SourceName {
            given: given.to_owned(),
            family: family.to_owned(),
            usage: usage.to_owned(),
        });
    }
    if let Some(gender) = o.str("gender")? {
        if !matches!(gender, "male" | "female" | "other" | "unknown") {
            return Err(Problem::Invalid(
                o.path("gender"),
                "an administrative gender",
            ));
        }
        identity.sex = Some(gender.to_owned());
    }
    if let Some(dob) = o.str("birthDate")? {
        identity.date_of_birth =
            date(dob).map_err(|()| Problem::Invalid(o.path("birthDate"), "a date"))?;
    }
    identity.identifiers = identifiers(o)?;
    for address in o.objs("address")? {
        if let Some(a) = address_of(&address)? {
            identity.addresses.push(a);
        }
    }
    Ok(identity)
}

fn identifiers(o: &Obj<'_>) -> Result<Vec<SourceIdentifier>, Problem> {
    let mut out = Vec::new();
    for id in o.objs("identifier")? {
        let Some(system) = id.str("system")? else {
            continue;
        };
        if system == codes::NHS_NUMBER_SYSTEM {
            let path = id.path("value");
            let value = id
                .str("value")?
                .ok_or_else(|| Problem::Missing(path.clone()))?;
            let nhs: NhsNumber = value.parse().map_err(|e| checked(path, e))?;
            out.push(SourceIdentifier {
                system: "nhs_number".into(),
                value: nhs.to_string(),
                verified: nhs_verified(&id)?,
            });
        } else if let Some(kind) = system.strip_prefix(codes::CATALOGUE_ID_PREFIX)
            && catalogue::IDENTIFIER_SYSTEMS.contains(&kind)
            && kind != "nhs_number"
        {
            let path = id.path("value");
            let value = id
                .str("value")?
                .ok_or_else(|| Problem::Missing(path.clone()))?;
            let value = match kind {
                "upn" | "former_upn" => value
                    .parse::<Upn>()
                    .map_err(|e| checked(path, e))?
                    .to_string(),
                "pnc_id" => value
                    .parse::<PncId>()
                    .map_err(|e| checked(path, e))?
                    .to_string(),
                _ => value.to_owned(),
            };
            out.push(SourceIdentifier {
                system: kind.to_owned(),
                value,
                verified: true,
            });
        }
        // Any other system (a trust's own MRN, the Kinship related-person id) names a record,
        // not a person: linkage never sees it.
    }
    Ok(out)
}

fn checked(path: String, e: IdentifierError) -> Problem {
    match e {
        IdentifierError::Malformed(what) => Problem::Invalid(path, article(what)),
        IdentifierError::CheckFailed(what) => Problem::CheckFailed(path, what),
    }
}

fn article(what: &'static str) -> &'static str {
    match what {
        "NHS number" => "an NHS number",
        "UPN" => "a UPN",
        "PNC ID" => "a PNC ID",
        _ => "an identifier",
    }
}

/// Whether the UK Core verification status says `01`, number present and verified.
fn nhs_verified(id: &Obj<'_>) -> Result<bool, Problem> {
    for ext in id.objs("extension")? {
        if ext.str("url")? != Some(codes::NHS_VERIFICATION_EXTENSION) {
            continue;
        }
        if let Some(cc) = ext.obj("valueCodeableConcept")? {
            for coding in cc.objs("coding")? {
                if coding.str("code")? == Some("01") {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

fn address_of(a: &Obj<'_>) -> Result<Option<SourceAddress>, Problem> {
    let usage = match a.str("use")? {
        None => "home",
        Some(u) => match codes::address_use(u) {
            Some(u) => u,
            None => return Ok(None),
        },
    };
    let lines = a.strs("line")?;
    let line2 = lines
        .get(1..)
        .filter(|rest| !rest.is_empty())
        .map(|rest| rest.join(", "));
    let (valid_from, valid_to) = match a.obj("period")? {
        Some(p) => (
            p.str("start")?
                .map(|s| date(s).map_err(|()| Problem::Invalid(p.path("start"), "a date")))
                .transpose()?
                .flatten(),
            p.str("end")?
                .map(|s| date(s).map_err(|()| Problem::Invalid(p.path("end"), "a date")))
                .transpose()?
                .flatten(),
        ),
        None => (None, None),
    };
    let mut uprn = None;
    for ext in a.objs("extension")? {
        if ext.str("url")? != Some(codes::ADDRESS_KEY_EXTENSION) {
            continue;
        }
        let mut is_uprn = false;
        let mut value = None;
        for sub in ext.objs("extension")? {
            match sub.str("url")? {
                Some("type") => {
                    is_uprn = sub
                        .obj("valueCoding")?
                        .map(|c| c.str("code"))
                        .transpose()?
                        .flatten()
                        == Some("uprn");
                }
                Some("value") => value = sub.str("valueString")?,
                _ => {}
            }
        }
        if is_uprn {
            uprn = value.map(str::to_owned);
        }
    }
    Ok(Some(SourceAddress {
        line1: lines.first().copied().unwrap_or_default().to_owned(),
        line2,
        town: a.str("city")?.unwrap_or_default().to_owned(),
        postcode: a.str("postalCode")?.unwrap_or_default().to_owned(),
        uprn,
        usage: usage.to_owned(),
        valid_from,
        valid_to,
    }))
}

// ---------------------------------------------------------------------------------------------
// Fact resources
// ---------------------------------------------------------------------------------------------

fn encounter(o: &Obj<'_>, key: String, config: &Config) -> Result<SourceRecord, Problem> {
    let subject = subject(o)?;
    let provider = o
        .obj("serviceProvider")?
        .ok_or_else(|| Problem::Missing(o.path("serviceProvider")))?;
    let organisation = organisation(&provider, config)?;
    let status = o
        .str("status")?
        .ok_or_else(|| Problem::Missing(o.path("status")))?;
    let mut record = SourceRecord {
        source_key: key,
        organisation,
        subject: Some(subject),
        identity: Identity::default(),
        facts: Vec::new(),
        raw: String::new(),
    };
    if status == "entered-in-error" {
        return Ok(record);
    }
    let class = o
        .obj("class")?
        .map(|c| c.str("code"))
        .transpose()?
        .flatten();
    let types = o.objs("type")?;
    let reasons = o.objs("reasonCode")?;
    let mut type_codes = Vec::new();
    for t in &types {
        type_codes.extend(codings(t)?);
    }
    let mut reason_codes = Vec::new();
    for r in &reasons {
        reason_codes.extend(codings(r)?);
    }
    let self_harm = type_codes.iter().chain(&reason_codes).any(|c| {
        c.system == Some(codes::SNOMED_SYSTEM)
            && c.code.is_some_and(|c| codes::SELF_HARM_CODES.contains(&c))
    });
    let declared = declared_kind(&type_codes);
    // A self-harm code makes the attendance a mental health one whatever else it says: the
    // heightened category must not be lost to a lesser declared kind.
    let (kind, category) = match declared {
        Some((kind, category)) if !self_harm || category == "health.mental_health" => {
            (kind, category)
        }
        _ if self_harm => ("self_harm_attendance".to_owned(), "health.mental_health"),
        _ => {
            let (kind, category) = match class {
                Some("EMER") => ("ed_attendance", "health.unscheduled_care"),
                Some("IMP" | "ACUTE" | "NONAC") => ("admission", "health.unscheduled_care"),
                _ => ("encounter", "health.condition"),
            };
            (kind.to_owned(), category)
        }
    };
    let period = o
        .obj("period")?
        .ok_or_else(|| Problem::Missing(o.path("period.start")))?;
    let start = period
        .str("start")?
        .ok_or_else(|| Problem::Missing(period.path("start")))?;
    let occurred_at =
        date_time(start).ok_or_else(|| Problem::Invalid(period.path("start"), "a dateTime"))?;
    let end = period.str("end")?;
    if let Some(end) = end
        && date_time(end).is_none()
    {
        return Err(Problem::Invalid(period.path("end"), "a dateTime"));
    }
    let summary = first_text(&types)?
        .or(first_text(&reasons)?)
        .unwrap_or_else(|| display_of(&kind).to_owned());

    let mut payload = Map::new();
    payload.insert("resourceType".into(), json!("Encounter"));
    payload.insert("status".into(), json!(status));
    put(&mut payload, "class", class);
    if !reason_codes.is_empty() {
        payload.insert(
            "reasonCode".into(),
            Value::Array(reason_codes.iter().map(Coding::to_json).collect()),
        );
    }
    let mut p = Map::new();
    p.insert("start".into(), json!(start));
    put(&mut p, "end", end);
    payload.insert("period".into(), Value::Object(p));
    if let Some(priority) = o.obj("priority")? {
        put(
            &mut payload,
            "priority",
            codings(&priority)?.first().and_then(|c| c.code),
        );
    }
    if let Some(h) = o.obj("hospitalization")?
        && let Some(d) = h.obj("dischargeDisposition")?
    {
        let code = codings(&d)?.first().and_then(|c| c.code);
        put(
            &mut payload,
            "dischargeDisposition",
            code.or(d.str("text")?),
        );
    }
    record.facts.push(SourceFact {
        key: "encounter".into(),
        category: category.to_owned(),
        agency: None,
        kind,
        occurred_at,
        summary,
        payload: Value::Object(payload),
    });
    Ok(record)
}

fn condition(
    o: &Obj<'_>,
    key: String,
    config: &Config,
    header: &Header,
) -> Result<SourceRecord, Problem> {
    let subject = subject(o)?;
    let mut holder = None;
    for element in ["recorder", "asserter"] {
        if let Some(r) = o.obj(element)?
            && let Some(code) = ods_reference(&r)?
        {
            holder = Some(config.organisation(code));
            break;
        }
    }
    let organisation = holder.ok_or_else(|| Problem::Missing(o.path("recorder")))?;
    let clinical = status_code(o, "clinicalStatus")?;
    let verification = status_code(o, "verificationStatus")?;
    let mut record = SourceRecord {
        source_key: key,
        organisation,
        subject: Some(subject),
        identity: Identity::default(),
        facts: Vec::new(),
        raw: String::new(),
    };
    if verification == Some("entered-in-error") {
        return Ok(record);
    }
    let code = o
        .obj("code")?
        .ok_or_else(|| Problem::Missing(o.path("code")))?;
    let code_codings = codings(&code)?;
    let snomed = code_codings
        .iter()
        .find(|c| c.system == Some(codes::SNOMED_SYSTEM) && c.code.is_some());
    let mut declared = None;
    for cat in o.objs("category")? {
        if let Some(found) = declared_kind(&codings(&cat)?) {
            declared = Some(found);
        }
    }
    let coded = snomed
        .and_then(|c| c.code)
        .and_then(codes::condition_category);
    // A heightened category from the code wins over a lesser declared one; otherwise the
    // declared kind stands, and without one the code's category or `health.condition`.
    let (kind, category) = match (declared, coded) {
        (Some((_, declared)), Some(coded)) if declared != coded => {
            (codes::condition_kind(coded).to_owned(), coded)
        }
        (Some(found), _) => found,
        (None, Some(coded)) => (codes::condition_kind(coded).to_owned(), coded),
        (None, None) => ("condition".to_owned(), "health.condition"),
    };
    let onset = o.str("onsetDateTime")?.or(match o.obj("onsetPeriod")? {
        Some(p) => p.str("start")?,
        None => None,
    });
    let occurred_at = match onset {
        Some(s) => {
            date_time(s).ok_or_else(|| Problem::Invalid(o.path("onset[x]"), "a dateTime"))?
        }
        None => match o.str("recordedDate")? {
            Some(s) => date_time(s)
                .ok_or_else(|| Problem::Invalid(o.path("recordedDate"), "a dateTime"))?,
            None => header
                .last_updated
                .ok_or_else(|| Problem::Missing(o.path("meta.lastUpdated")))?,
        },
    };
    let summary = match code.str("text")? {
        Some(t) => t.to_owned(),
        None => snomed
            .and_then(|c| c.display)
            .unwrap_or_else(|| display_of(&kind))
            .to_owned(),
    };
    let mut payload = Map::new();
    payload.insert("resourceType".into(), json!("Condition"));
    put(&mut payload, "clinicalStatus", clinical);
    put(&mut payload, "verificationStatus", verification);
    if let Some(c) = snomed {
        payload.insert("code".into(), c.to_json());
    }
    put(&mut payload, "onset", onset);
    record.facts.push(SourceFact {
        key: "condition".into(),
        category: category.to_owned(),
        agency: None,
        kind,
        occurred_at,
        summary,
        payload: Value::Object(payload),
    });
    Ok(record)
}

fn flag(
    o: &Obj<'_>,
    key: String,
    config: &Config,
    header: &Header,
) -> Result<SourceRecord, Problem> {
    let subject = subject(o)?;
    let author = o
        .obj("author")?
        .ok_or_else(|| Problem::Missing(o.path("author")))?;
    let organisation = organisation(&author, config)?;
    let status = o
        .str("status")?
        .ok_or_else(|| Problem::Missing(o.path("status")))?;
    let mut record = SourceRecord {
        source_key: key,
        organisation,
        subject: Some(subject),
        identity: Identity::default(),
        facts: Vec::new(),
        raw: String::new(),
    };
    if status == "entered-in-error" {
        return Ok(record);
    }
    let code = o
        .obj("code")?
        .ok_or_else(|| Problem::Missing(o.path("code")))?;
    let flag_code = codings(&code)?
        .into_iter()
        .find(|c| c.system == Some(codes::CP_FLAG_SYSTEM))
        .and_then(|c| c.code)
        .ok_or_else(|| Problem::Missing(code.path("coding[cp-is-flag]")))?;
    let Some(&(flag_code, display)) = codes::CP_FLAG_CODES.iter().find(|(c, _)| *c == flag_code)
    else {
        return Err(Problem::Invalid(code.path("coding"), "a CP-IS flag code"));
    };
    let (start, end) = match o.obj("period")? {
        Some(p) => (p.str("start")?, p.str("end")?),
        None => (None, None),
    };
    let occurred_at = match start {
        Some(s) => {
            date_time(s).ok_or_else(|| Problem::Invalid(o.path("period.start"), "a dateTime"))?
        }
        None => header
            .last_updated
            .ok_or_else(|| Problem::Missing(o.path("meta.lastUpdated")))?,
    };
    if let Some(e) = end
        && date_time(e).is_none()
    {
        return Err(Problem::Invalid(o.path("period.end"), "a dateTime"));
    }
    let summary = code.str("text")?.unwrap_or(display).to_owned();
    let mut period = Map::new();
    put(&mut period, "start", start);
    put(&mut period, "end", end);
    let payload = json!({
        "resourceType": "Flag",
        "status": status,
        "code": flag_code,
        "period": period,
    });
    record.facts.push(SourceFact {
        key: "flag".into(),
        category: "social_care.child_protection_flag".into(),
        // CP-IS flags are the local authority's information, carried on health records.
        agency: Some("social_care".into()),
        kind: "cp_flag".into(),
        occurred_at,
        summary,
        payload,
    });
    Ok(record)
}

/// The kind and category a Kinship fact-kind coding declares. A kind the table does not know
/// keeps its code when a data-category coding names a health category for it.
fn declared_kind(codings: &[Coding<'_>]) -> Option<(String, &'static str)> {
    let kind_code = codings
        .iter()
        .find(|c| c.system == Some(codes::FACT_KIND_SYSTEM))
        .and_then(|c| c.code);
    if let Some(k) = kind_code.and_then(codes::kind) {
        return Some((k.kind.to_owned(), k.category));
    }
    let category = codings.iter().find_map(|c| {
        let code = c
            .code
            .filter(|_| c.system == Some(codes::DATA_CATEGORY_SYSTEM))?;
        catalogue::CATEGORIES
            .iter()
            .copied()
            .find(|cat| *cat == code && cat.starts_with("health."))
    })?;
    let kind = kind_code
        .filter(|k| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .unwrap_or("encounter");
    Some((kind.to_owned(), category))
}

fn display_of(kind: &str) -> &'static str {
    codes::kind(kind).map_or("Health record", |k| k.display)
}

fn status_code<'a>(o: &Obj<'a>, element: &str) -> Result<Option<&'a str>, Problem> {
    let Some(cc) = o.obj(element)? else {
        return Ok(None);
    };
    Ok(codings(&cc)?.first().and_then(|c| c.code))
}

fn first_text<'a>(ccs: &[Obj<'a>]) -> Result<Option<String>, Problem> {
    for cc in ccs {
        if let Some(t) = cc.str("text")?.filter(|t| !t.trim().is_empty()) {
            return Ok(Some(t.to_owned()));
        }
    }
    Ok(None)
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), json!(v));
    }
}

// ---------------------------------------------------------------------------------------------
// References and organisations
// ---------------------------------------------------------------------------------------------

fn subject(o: &Obj<'_>) -> Result<String, Problem> {
    let s = o
        .obj("subject")?
        .ok_or_else(|| Problem::Missing(o.path("subject")))?;
    patient_reference(&s)
}

/// `Patient/{id}` from a reference, relative or absolute.
fn patient_reference(r: &Obj<'_>) -> Result<String, Problem> {
    let reference = r
        .str("reference")?
        .ok_or_else(|| Problem::Missing(r.path("reference")))?;
    let mut parts = reference.trim_end_matches('/').rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(id), Some("Patient")) if is_fhir_id(id) => Ok(format!("Patient/{id}")),
        _ => Err(Problem::Invalid(r.path("reference"), "a Patient reference")),
    }
}

/// The ODS code of an organisation reference, if it carries one.
fn ods_reference<'a>(r: &Obj<'a>) -> Result<Option<&'a str>, Problem> {
    let Some(id) = r.obj("identifier")? else {
        return Ok(None);
    };
    if id.str("system")? != Some(codes::ODS_SYSTEM) {
        return Ok(None);
    }
    let code = id
        .str("value")?
        .ok_or_else(|| Problem::Missing(id.path("value")))?;
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Problem::Invalid(id.path("value"), "an ODS code"));
    }
    Ok(Some(code))
}

fn organisation(r: &Obj<'_>, config: &Config) -> Result<String, Problem> {
    ods_reference(r)?
        .map(|code| config.organisation(code))
        .ok_or_else(|| Problem::Missing(r.path("identifier[ods-organization-code]")))
}

// ---------------------------------------------------------------------------------------------
// Dates, codings and the JSON walker
// ---------------------------------------------------------------------------------------------

/// A FHIR `id`: 1 to 64 of letters, digits, `-` and `.`.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// A FHIR `instant`.
pub fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A FHIR `date` (or the date of a `dateTime`): a full date, `None` for a partial one
/// (`2019`, `2019-05`), an error for anything else.
fn date(s: &str) -> Result<Option<NaiveDate>, ()> {
    if let Some(t) = instant(s) {
        return Ok(Some(t.date_naive()));
    }
    match s.len() {
        10 => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ()),
        7 => NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
            .map(|_| None)
            .map_err(|_| ()),
        4 if s.bytes().all(|b| b.is_ascii_digit()) => Ok(None),
        _ => Err(()),
    }
}

/// A FHIR `dateTime` as an instant: a date alone is its midnight UTC.
fn date_time(s: &str) -> Option<DateTime<Utc>> {
    instant(s).or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
    })
}

/// One `Coding`.
struct Coding<'a> {
    system: Option<&'a str>,
    code: Option<&'a str>,
    display: Option<&'a str>,
}

impl Coding<'_> {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "system", self.system);
        put(&mut m, "code", self.code);
        put(&mut m, "display", self.display);
        Value::Object(m)
    }
}

fn codings<'a>(cc: &Obj<'a>) -> Result<Vec<Coding<'a>>, Problem> {
    cc.objs("coding")?
        .iter()
        .map(|c| {
            Ok(Coding {
                system: c.str("system")?,
                code: c.str("code")?,
                display: c.str("display")?,
            })
        })
        .collect()
}

/// A JSON object with the FHIR path that reached it, so every problem names its element.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(map: &'a Map<String, Value>, path: &str) -> Self {
        Self {
            map,
            path: path.to_owned(),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, Problem> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Problem::Invalid(self.path(key), "a string")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, Problem> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Problem::Invalid(self.path(key), "a boolean")),
        }
    }

    fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, Problem> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.path(key),
            })),
            Some(_) => Err(Problem::Invalid(self.path(key), "an object")),
        }
    }

    fn array(&self, key: &str) -> Result<&'a [Value], Problem> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(Problem::Invalid(self.path(key), "an array")),
        }
    }

    fn objs(&self, key: &str) -> Result<Vec<Obj<'a>>, Problem> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(map) => Ok(Obj {
                    map,
                    path: format!("{}.{key}[{i}]", self.path),
                }),
                _ => Err(Problem::Invalid(
                    format!("{}.{key}[{i}]", self.path),
                    "an object",
                )),
            })
            .collect()
    }

    fn strs(&self, key: &str) -> Result<Vec<&'a str>, Problem> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    Problem::Invalid(format!("{}.{key}[{i}]", self.path), "a string")
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::for_base_url("http://127.0.0.1:1");
        c.organisation_kinds
            .insert("Y99001".into(), "gp_practice".into());
        c
    }

    fn read(v: Value) -> Result<SourceRecord, String> {
        resource(&v.to_string(), &config())
            .record
            .map_err(|p| p.to_string())
    }

    const META: &str = "2025-01-01T10:00:00Z";

    fn patient(extra: Value) -> Value {
        let mut p = json!({
            "resourceType": "Patient",
            "id": "p1",
            "meta": { "versionId": "1", "lastUpdated": META },
            "managingOrganization": { "identifier": { "system": codes::ODS_SYSTEM, "value": "Y99001" } },
        });
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
            p.extend(extra);
        }
        p
    }

    fn encounter(extra: Value) -> Value {
        let mut e = json!({
            "resourceType": "Encounter",
            "id": "e1",
            "meta": { "versionId": "1", "lastUpdated": META },
            "status": "finished",
            "class": { "system": codes::ACT_CODE_SYSTEM, "code": "AMB" },
            "subject": { "reference": "Patient/p1" },
            "period": { "start": "2024-05-01T09:30:00Z" },
            "serviceProvider": { "identifier": { "system": codes::ODS_SYSTEM, "value": "RY1" } },
        });
        if let (Some(e), Value::Object(extra)) = (e.as_object_mut(), extra) {
            e.extend(extra);
        }
        e
    }

    #[test]
    fn the_raw_bytes_are_the_resource_exactly() {
        let raw = patient(json!({})).to_string().replace(",", ", ");
        let parsed = resource(&raw, &config());
        assert_eq!(parsed.record.map(|r| r.raw), Ok(raw));
        assert_eq!(parsed.header.source_key().as_deref(), Some("Patient/p1"));
    }

    #[test]
    fn unreadable_resources_are_rejected_by_name() {
        assert_eq!(
            resource("{\"resourceType\":", &config()).record.err(),
            Some(Problem::NotJson("resource"))
        );
        assert_eq!(
            read(json!({ "resourceType": "Observation", "id": "o1" })),
            Err(
                "`resourceType` is not one of Patient, RelatedPerson, Encounter, Condition, Flag"
                    .into()
            )
        );
        assert_eq!(
            read(patient(json!({ "id": "has space" }))),
            Err("`Patient.id` is not a FHIR id".into())
        );
        assert_eq!(
            read(patient(json!({ "meta": { "lastUpdated": "yesterday" } }))),
            Err("`Patient.meta.lastUpdated` is not an instant".into())
        );
    }

    #[test]
    fn wrong_json_types_name_the_element() {
        for (extra, reason) in [
            (
                json!({ "name": { "family": "Hartley" } }),
                "`Patient.name` is not an array",
            ),
            (
                json!({ "name": [{ "given": "Amelia" }] }),
                "`Patient.name[0].given` is not an array",
            ),
            (
                json!({ "address": ["14 Larch Close"] }),
                "`Patient.address[0]` is not an object",
            ),
            (
                json!({ "birthDate": 20220314 }),
                "`Patient.birthDate` is not a string",
            ),
            (
                json!({ "gender": "girl" }),
                "`Patient.gender` is not an administrative gender",
            ),
            (
                json!({ "name": [{ "use": "alias", "family": "X" }] }),
                "`Patient.name[0].use` is not a name use",
            ),
        ] {
            assert_eq!(read(patient(extra)), Err(reason.into()));
        }
    }

    #[test]
    fn other_catalogue_identifiers_are_checked_with_the_sdk() {
        let id = |system: &str, value: &str| {
            patient(
                json!({ "identifier": [{ "system": format!("{}{system}", codes::CATALOGUE_ID_PREFIX), "value": value }] }),
            )
        };
        let ok = read(id("upn", "B801200005001")).expect("a valid UPN");
        assert_eq!(ok.identity.identifiers[0].system, "upn");
        assert_eq!(
            read(id("upn", "A801200005001")),
            Err("`Patient.identifier[0].value` fails its UPN check".into())
        );
        assert_eq!(
            read(patient(
                json!({ "identifier": [{ "system": codes::NHS_NUMBER_SYSTEM, "value": "12345" }] })
            )),
            Err("`Patient.identifier[0].value` is not an NHS number".into())
        );
    }

    #[test]
    fn unknown_ods_codes_take_the_default_kind() {
        let r = read(encounter(json!({}))).expect("an encounter");
        assert_eq!(r.organisation, "acute_trust:RY1");
        assert_eq!(
            read(patient(json!({}))).map(|r| r.organisation),
            Ok("gp_practice:Y99001".into())
        );
    }

    #[test]
    fn a_self_harm_code_outranks_a_lesser_declared_kind() {
        let r = read(encounter(json!({
            "type": [{ "coding": [{ "system": codes::FACT_KIND_SYSTEM, "code": "ed_attendance" }] }],
            "reasonCode": [{ "coding": [{ "system": codes::SNOMED_SYSTEM, "code": "287182007" }] }],
        })))
        .expect("an encounter");
        assert_eq!(r.facts[0].kind, "self_harm_attendance");
        assert_eq!(r.facts[0].category, "health.mental_health");
    }

    #[test]
    fn an_unknown_kind_keeps_its_code_under_its_declared_category() {
        let r = read(encounter(json!({
            "type": [{ "coding": [
                { "system": codes::FACT_KIND_SYSTEM, "code": "growth_check" },
                { "system": codes::DATA_CATEGORY_SYSTEM, "code": "health.development" },
            ], "text": "Height and weight on the 50th centile" }],
        })))
        .expect("an encounter");
        assert_eq!(r.facts[0].kind, "growth_check");
        assert_eq!(r.facts[0].category, "health.development");
        assert_eq!(r.facts[0].summary, "Height and weight on the 50th centile");
        let r = read(encounter(json!({}))).expect("an encounter");
        assert_eq!(
            (r.facts[0].kind.as_str(), r.facts[0].category.as_str()),
            ("encounter", "health.condition")
        );
    }

    #[test]
    fn a_subject_must_be_a_patient() {
        assert_eq!(
            read(encounter(json!({ "subject": { "reference": "Group/g1" } }))),
            Err("`Encounter.subject.reference` is not a Patient reference".into())
        );
        assert_eq!(
            read(encounter(json!({ "period": { "start": "last Tuesday" } }))),
            Err("`Encounter.period.start` is not a dateTime".into())
        );
    }
}
