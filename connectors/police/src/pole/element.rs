//! One POLE element at a time: a person, location, event or link read from its JSON into a
//! checked value, or a reason naming the field that is wrong. Reasons never carry a value:
//! serde's own messages can quote the input, so fields are read by hand from a `Value`.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use kinship_connector_sdk::identifiers::{IdentifierError, PncId};
use kinship_connector_sdk::{SourceIdentifier, SourceName};
use serde_json::{Map, Value};

/// Why an element was refused, naming the field (`persons[2].dob`), never its value.
pub type Reason = String;

/// A person element.
pub struct Person {
    pub names: Vec<SourceName>,
    pub dob: Option<NaiveDate>,
    pub sex: Option<String>,
    pub pnc_id: Option<SourceIdentifier>,
    /// The event at whose link this person's record is current; the record is emitted on the
    /// page that links the person to it (see `pole`).
    pub last_event: Option<String>,
}

/// A location element.
pub struct Location {
    pub uprn: Option<String>,
    pub postcode: Option<String>,
    pub lines: Vec<String>,
    pub town: String,
}

/// An event element.
pub struct Event {
    pub event_type: String,
    pub reference: Option<String>,
    pub occurred_from: DateTime<Utc>,
    pub occurred_to: Option<DateTime<Utc>>,
    pub location: Option<String>,
    pub details: Map<String, Value>,
}

/// A link element: one role between two elements.
pub struct Link {
    pub from: String,
    pub to: String,
    pub role: String,
    pub details: Map<String, Value>,
    /// For a residence: `home`, `old`, `placement`, `temp`.
    pub usage: Option<String>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// Field access with reasons that name `ctx.key`.
pub struct Fields<'a> {
    ctx: String,
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// The element's fields, or a reason when it is not a JSON object.
    pub fn of(ctx: String, value: &'a Value) -> Result<Self, Reason> {
        match value.as_object() {
            Some(obj) => Ok(Self { ctx, obj }),
            None => Err(format!("`{ctx}` is not an object")),
        }
    }

    fn name(&self, key: &str) -> String {
        format!("`{}.{key}`", self.ctx)
    }

    /// A string field that may be absent or null.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Reason> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{} is not a string", self.name(key))),
        }
    }

    /// A string field that must be present.
    pub fn req_str(&self, key: &str) -> Result<&'a str, Reason> {
        self.opt_str(key)?
            .ok_or_else(|| format!("{} is missing", self.name(key)))
    }

    /// A `YYYY-MM-DD` date that may be absent.
    pub fn opt_date(&self, key: &str) -> Result<Option<NaiveDate>, Reason> {
        let Some(s) = self.opt_str(key).map_err(|_| self.not_a_date(key))? else {
            return Ok(None);
        };
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| self.not_a_date(key))
    }

    fn not_a_date(&self, key: &str) -> Reason {
        format!("{} is not a date", self.name(key))
    }

    /// An RFC 3339 instant (or a bare date, read as midnight UTC) that may be absent.
    pub fn opt_instant(&self, key: &str) -> Result<Option<DateTime<Utc>>, Reason> {
        let bad = || format!("{} is not a date-time", self.name(key));
        let Some(s) = self.opt_str(key).map_err(|_| bad())? else {
            return Ok(None);
        };
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| Some(t.and_utc()))
            .ok_or_else(bad)
    }

    /// An object of free fields (`details`) that may be absent.
    pub fn opt_object(&self, key: &str) -> Result<Map<String, Value>, Reason> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(format!("{} is not an object", self.name(key))),
        }
    }

    /// An array field that may be absent.
    pub fn opt_array(&self, key: &str) -> Result<&'a [Value], Reason> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(_) => Err(format!("{} is not an array", self.name(key))),
        }
    }
}

/// Reads a person element. `ctx` is its place on the page, e.g. `persons[2]`.
pub fn person(ctx: &str, value: &Value) -> Result<Person, Reason> {
    let f = Fields::of(ctx.to_owned(), value)?;
    f.req_str("id")?;
    let mut names = Vec::new();
    for (j, n) in f.opt_array("names")?.iter().enumerate() {
        let nf = Fields::of(format!("{ctx}.names[{j}]"), n)?;
        names.push(SourceName {
            given: nf.opt_str("given")?.unwrap_or_default().to_owned(),
            family: nf.opt_str("family")?.unwrap_or_default().to_owned(),
            usage: nf.opt_str("usage")?.unwrap_or("official").to_owned(),
        });
    }
    let dob = f.opt_date("dob")?;
    let sex = match f.opt_str("sex")? {
        None => None,
        Some(s) => Some(
            sex(s)
                .ok_or_else(|| format!("`{ctx}.sex` is not a known code"))?
                .to_owned(),
        ),
    };
    let pnc_id = match f.opt_str("pnc_id")? {
        None => None,
        Some(s) => {
            let id = PncId::from_str(s).map_err(|e| match e {
                IdentifierError::Malformed(_) => format!("`{ctx}.pnc_id` is not well formed"),
                IdentifierError::CheckFailed(_) => format!("`{ctx}.pnc_id` fails its check"),
            })?;
            Some(SourceIdentifier {
                system: "pnc_id".into(),
                value: id.to_string(),
                // The force's own system is the authority that issues PNC IDs.
                verified: true,
            })
        }
    };
    Ok(Person {
        names,
        dob,
        sex,
        pnc_id,
        last_event: f.opt_str("last_event")?.map(str::to_owned),
    })
}

/// The envelope's sex code for a POLE one (words or the usual single letters).
fn sex(code: &str) -> Option<&'static str> {
    match code.trim().to_ascii_lowercase().as_str() {
        "female" | "f" => Some("female"),
        "male" | "m" => Some("male"),
        "other" | "x" | "indeterminate" => Some("other"),
        "unknown" | "u" | "not known" => Some("unknown"),
        _ => None,
    }
}

/// Reads a location element; its `address` is `{lines[], town}` or one line of text.
pub fn location(ctx: &str, value: &Value) -> Result<Location, Reason> {
    let f = Fields::of(ctx.to_owned(), value)?;
    f.req_str("id")?;
    let (lines, town) = match value.get("address") {
        None | Some(Value::Null) => (Vec::new(), String::new()),
        Some(Value::String(s)) => (vec![s.trim().to_owned()], String::new()),
        Some(a @ Value::Object(_)) => {
            let af = Fields::of(format!("{ctx}.address"), a)?;
            let mut lines = Vec::new();
            for (j, l) in af.opt_array("lines")?.iter().enumerate() {
                match l.as_str() {
                    Some(s) => lines.push(s.to_owned()),
                    None => return Err(format!("`{ctx}.address.lines[{j}]` is not a string")),
                }
            }
            (lines, af.opt_str("town")?.unwrap_or_default().to_owned())
        }
        Some(_) => return Err(format!("`{ctx}.address` is not an object or text")),
    };
    Ok(Location {
        uprn: f.opt_str("uprn")?.map(str::to_owned),
        postcode: f.opt_str("postcode")?.map(str::to_owned),
        lines,
        town,
    })
}

/// Reads an event element.
pub fn event(ctx: &str, value: &Value) -> Result<Event, Reason> {
    let f = Fields::of(ctx.to_owned(), value)?;
    f.req_str("id")?;
    let event_type = f.req_str("type")?.trim().to_ascii_lowercase();
    let occurred_from = f
        .opt_instant("occurred_from")?
        .ok_or_else(|| format!("`{ctx}.occurred_from` is missing"))?;
    Ok(Event {
        event_type,
        reference: f.opt_str("reference")?.map(str::to_owned),
        occurred_from,
        occurred_to: f.opt_instant("occurred_to")?,
        location: f.opt_str("location")?.map(str::to_owned),
        details: f.opt_object("details")?,
    })
}

/// Reads a link element.
pub fn link(ctx: &str, value: &Value) -> Result<Link, Reason> {
    let f = Fields::of(ctx.to_owned(), value)?;
    Ok(Link {
        from: f.req_str("from")?.to_owned(),
        to: f.req_str("to")?.to_owned(),
        role: f.req_str("role")?.trim().to_ascii_lowercase(),
        details: f.opt_object("details")?,
        usage: f.opt_str("usage")?.map(str::to_owned),
        valid_from: f.opt_date("valid_from")?,
        valid_to: f.opt_date("valid_to")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_person_reads_names_dob_sex_and_a_canonical_pnc_id() {
        let p = person(
            "persons[0]",
            &json!({"id": "AN-P-1", "pnc_id": "01/12345H",
                    "names": [{"given": "Kai", "family": "Brennan"}],
                    "dob": "2009-04-11", "sex": "M", "last_event": "AN-2025-1"}),
        )
        .expect("valid");
        assert_eq!(p.names[0].usage, "official");
        assert_eq!(p.sex.as_deref(), Some("male"));
        assert_eq!(p.pnc_id.map(|i| i.value).as_deref(), Some("2001/0012345H"));
        assert_eq!(p.last_event.as_deref(), Some("AN-2025-1"));
    }

    #[test]
    fn person_reasons_name_the_field_not_the_value() {
        let cases = [
            (
                json!({"id": "p", "pnc_id": "2001/0012345J"}),
                "`persons[4].pnc_id` fails its check",
            ),
            (
                json!({"id": "p", "pnc_id": "12-AB"}),
                "`persons[4].pnc_id` is not well formed",
            ),
            (
                json!({"id": "p", "dob": "11/04/2009"}),
                "`persons[4].dob` is not a date",
            ),
            (
                json!({"id": "p", "dob": 2009}),
                "`persons[4].dob` is not a date",
            ),
            (
                json!({"id": "p", "sex": "Q"}),
                "`persons[4].sex` is not a known code",
            ),
            (json!({"pnc_id": null}), "`persons[4].id` is missing"),
            (
                json!({"id": "p", "names": {"given": "A"}}),
                "`persons[4].names` is not an array",
            ),
            (json!(["p"]), "`persons[4]` is not an object"),
        ];
        for (value, reason) in cases {
            match person("persons[4]", &value) {
                Ok(_) => panic!("accepted: {reason}"),
                Err(got) => assert_eq!(got, reason),
            }
        }
    }

    #[test]
    fn an_event_needs_a_type_and_a_start() {
        assert_eq!(
            event(
                "events[1]",
                &json!({"id": "e", "occurred_from": "2025-01-01T10:00:00Z"})
            )
            .err(),
            Some("`events[1].type` is missing".to_owned())
        );
        assert_eq!(
            event("events[1]", &json!({"id": "e", "type": "incident"})).err(),
            Some("`events[1].occurred_from` is missing".to_owned())
        );
        assert_eq!(
            event(
                "events[1]",
                &json!({"id": "e", "type": "incident", "occurred_from": "yesterday"})
            )
            .err(),
            Some("`events[1].occurred_from` is not a date-time".to_owned())
        );
        let e = event(
            "events[1]",
            &json!({"id": "e", "type": "Disposal", "occurred_from": "2025-01-01",
                    "details": {"outcome": "youth_caution"}}),
        )
        .expect("valid");
        assert_eq!(e.event_type, "disposal");
        assert_eq!(e.occurred_from.to_rfc3339(), "2025-01-01T00:00:00+00:00");
        assert_eq!(e.details["outcome"], "youth_caution");
    }

    #[test]
    fn a_location_reads_structured_or_one_line_addresses() {
        let l = location(
            "locations[0]",
            &json!({"id": "L1", "uprn": "100000000001", "postcode": "AN1 2BC",
                    "address": {"lines": ["Flat 2", "14 Mill Lane"], "town": "Anytown"}}),
        )
        .expect("valid");
        assert_eq!(l.lines, vec!["Flat 2", "14 Mill Lane"]);
        assert_eq!(l.town, "Anytown");
        let one = location(
            "locations[0]",
            &json!({"id": "L2", "address": "3 Elm Road"}),
        )
        .expect("valid");
        assert_eq!(one.lines, vec!["3 Elm Road"]);
        assert_eq!(
            location("locations[0]", &json!({"id": "L3", "address": 7})).err(),
            Some("`locations[0].address` is not an object or text".to_owned())
        );
    }

    #[test]
    fn a_link_needs_both_ends_and_a_role() {
        assert_eq!(
            link("links[0]", &json!({"from": "p", "to": "e"})).err(),
            Some("`links[0].role` is missing".to_owned())
        );
        let l = link(
            "links[0]",
            &json!({"from": "p", "to": "L", "role": "Resident", "valid_from": "2020-05-01"}),
        )
        .expect("valid");
        assert_eq!(l.role, "resident");
        assert_eq!(l.valid_from, NaiveDate::from_ymd_opt(2020, 5, 1));
    }
}
