//! What the three readers share when they build envelopes: the organisation and LA person id
//! forms, fact keys that stay unique within a record, and a rejection that names the field.
//!
//! Limits: builds values only; it reads no document and knows no format.

use std::collections::HashSet;

use chrono::NaiveDate;
use kinship_connector_sdk::{Rejected, SourceFact, SourceIdentifier, SourceRecord};
use serde_json::json;

use crate::codes;

/// What reading one return gave: records and the parts that could not be read.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejected>,
}

impl Output {
    /// Quarantines `raw` with a reason that names the field, never its value.
    pub(crate) fn reject(&mut self, source_key: Option<String>, reason: String, raw: &str) {
        self.rejected.push(Rejected {
            source_key,
            reason,
            // The engine needs something to quarantine even when the document was empty.
            raw: if raw.is_empty() {
                "(empty)".into()
            } else {
                raw.into()
            },
        });
    }
}

/// The organisation id of a local authority, `local_authority:<LA>`.
pub(crate) fn organisation(la: &str) -> String {
    format!("local_authority:{la}")
}

/// The LA's own id for a child, `la:<LA>:<id>` (DOMAIN §2): the CIN `LAchildID`, the 903
/// `CHILD` and the early help `CHILD` are the same id within one LA.
pub(crate) fn la_person_id(la: &str, child: &str) -> SourceIdentifier {
    SourceIdentifier {
        system: "la_person_id".into(),
        value: format!("la:{la}:{child}"),
        // The LA issues this id: its own records are the authority for it.
        verified: true,
    }
}

/// Whether an LA number can stand in an organisation id and a source key.
pub(crate) fn is_la_code(la: &str) -> bool {
    !la.is_empty() && la.len() <= 16 && la.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Hands out fact keys unique within one record: a second fact with the same natural key
/// (two contacts on one day) gets `#2`, in document order, so keys are stable across pulls of
/// the same document.
#[derive(Default)]
pub(crate) struct Keys(HashSet<String>);

impl Keys {
    pub(crate) fn key(&mut self, base: String) -> String {
        if self.0.insert(base.clone()) {
            return base;
        }
        let mut n = 2;
        loop {
            let candidate = format!("{base}#{n}");
            if self.0.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

/// The parts of a fact every reader fills in.
pub(crate) struct FactSpec {
    pub key: String,
    pub category: &'static str,
    pub agency: Option<&'static str>,
    pub kind: &'static str,
    pub on: NaiveDate,
    pub summary: String,
    pub payload: serde_json::Value,
}

impl From<FactSpec> for SourceFact {
    fn from(f: FactSpec) -> Self {
        SourceFact {
            key: f.key,
            category: f.category.into(),
            agency: f.agency.map(Into::into),
            kind: f.kind.into(),
            occurred_at: codes::instant(f.on),
            summary: f.summary,
            payload: f.payload,
        }
    }
}

/// A date as a payload value: `YYYY-MM-DD`, or `null` when absent.
pub(crate) fn json_date(date: Option<NaiveDate>) -> serde_json::Value {
    date.map_or(serde_json::Value::Null, |d| codes::iso(d).into())
}

/// The CP-IS flag an unscheduled-care setting sees for a plan or a period of care: active
/// while it is open, inactive with its end date after.
pub(crate) fn flag(
    keys: &mut Keys,
    code: &'static str,
    start: NaiveDate,
    end: Option<NaiveDate>,
) -> SourceFact {
    let what = if code == "CPP" {
        "Child protection plan"
    } else {
        "Looked after child"
    };
    let summary = match end {
        None => format!(
            "{what} flag (CP-IS): active since {}",
            codes::long_date(start)
        ),
        Some(e) => format!("{what} flag (CP-IS): ended {}", codes::long_date(e)),
    };
    let payload = json!({
        "status": if end.is_none() { "active" } else { "inactive" },
        "code": code,
        "period": { "start": codes::iso(start), "end": json_date(end) },
    });
    FactSpec {
        key: keys.key(format!("cp_flag:{code}:{}", codes::iso(start))),
        category: "social_care.child_protection_flag",
        agency: None,
        kind: "cp_flag",
        on: start,
        summary,
        payload,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_numbered_in_order() {
        let mut keys = Keys::default();
        assert_eq!(keys.key("contact:2026-01-02".into()), "contact:2026-01-02");
        assert_eq!(
            keys.key("contact:2026-01-02".into()),
            "contact:2026-01-02#2"
        );
        assert_eq!(
            keys.key("contact:2026-01-02".into()),
            "contact:2026-01-02#3"
        );
    }

    #[test]
    fn la_codes_are_plain_alphanumerics() {
        assert!(is_la_code("999"));
        assert!(!is_la_code("9 9"));
        assert!(!is_la_code(""));
        assert_eq!(organisation("999"), "local_authority:999");
        assert_eq!(la_person_id("999", "12").value, "la:999:12");
    }
}
