//! The Kinship POLE profile's vocabulary: event types, link roles, and how an (event type,
//! role) pair becomes a data category and fact kind, and back. Both the parser and the feed's
//! renderer use it, so the two directions cannot drift. Pure functions, no IO.

use serde_json::{Map, Value};

/// Police incidents with a child as victim, witness or subject.
pub const INCIDENT: &str = "police.incident";
/// Domestic abuse with a child present or related.
pub const DOMESTIC_ABUSE: &str = "police.domestic_abuse";
/// Missing and absent episodes.
pub const MISSING_EPISODE: &str = "police.missing_episode";
/// CSE, CCE and county lines.
pub const EXPLOITATION: &str = "police.exploitation";
/// Arrests, charges and disposals (and the PNC ID behind them).
pub const YOUTH_JUSTICE: &str = "police.youth_justice";

/// Every category the connector emits.
pub const CATEGORIES: &[&str] = &[
    INCIDENT,
    DOMESTIC_ABUSE,
    MISSING_EPISODE,
    EXPLOITATION,
    YOUTH_JUSTICE,
];

/// Fact kinds, as the hub's catalogue names them.
pub mod kind {
    /// A domestic abuse incident.
    pub const DOMESTIC_ABUSE_INCIDENT: &str = "domestic_abuse_incident";
    /// A missing episode.
    pub const MISSING_EPISODE: &str = "missing_episode";
    /// An arrest, charge or disposal of a suspect or offender.
    pub const YOUTH_JUSTICE_OUTCOME: &str = "youth_justice_outcome";
    /// A CSE, CCE or county lines concern.
    pub const EXPLOITATION_CONCERN: &str = "exploitation_concern";
    /// Any other incident.
    pub const POLICE_INCIDENT: &str = "police_incident";
}

/// The roles a person may play in an event. One role per link: two roles, two links.
pub const ROLES: &[&str] = &[
    "victim",
    "suspect",
    "witness",
    "reporter",
    "child_present",
    "child_related",
    "missing_person",
    "offender",
    "subject",
];

/// The role of a link from a person to the location they live at.
pub const RESIDENT: &str = "resident";

/// Event types that are a youth-justice outcome when the person is the suspect or offender.
const JUSTICE_TYPES: &[&str] = &["arrest", "charge", "disposal"];
/// Event types that are an exploitation concern.
const EXPLOITATION_TYPES: &[&str] = &["exploitation", "cse", "cce", "county_lines"];

/// Payload keys the parser derives from the event's own fields; the renderer never copies them
/// into `details`, so rendering a parsed record again gives the same event.
pub const DERIVED_KEYS: &[&str] = &[
    "eventRef",
    "role",
    "eventType",
    "occurredFrom",
    "occurredTo",
    "postcode",
];

/// The category and kind of a person's part in an event. `adult` is whether the person was 18
/// or over when it happened (`None` when the feed gives no date of birth).
pub fn classify(event_type: &str, role: &str, adult: Option<bool>) -> (&'static str, &'static str) {
    let incident = (INCIDENT, kind::POLICE_INCIDENT);
    if role == "missing_person" {
        return (MISSING_EPISODE, kind::MISSING_EPISODE);
    }
    match event_type {
        "domestic_abuse" => match role {
            "child_present" | "child_related" => (DOMESTIC_ABUSE, kind::DOMESTIC_ABUSE_INCIDENT),
            // Abuse between adults in the household; a child victim or suspect of domestic
            // abuse is recorded as an incident about that child instead.
            "victim" | "suspect" if adult != Some(false) => {
                (DOMESTIC_ABUSE, kind::DOMESTIC_ABUSE_INCIDENT)
            }
            _ => incident,
        },
        t if JUSTICE_TYPES.contains(&t) => match role {
            "suspect" | "offender" => (YOUTH_JUSTICE, kind::YOUTH_JUSTICE_OUTCOME),
            _ => incident,
        },
        t if EXPLOITATION_TYPES.contains(&t) => (EXPLOITATION, kind::EXPLOITATION_CONCERN),
        _ => incident,
    }
}

/// The event type and role a fact of `kind` is rendered with: the payload's own `eventType`
/// and `role` when they are in the vocabulary, else the usual ones for the kind.
pub fn event_type_and_role(kind: &str, payload: &Value) -> (String, String) {
    let given_type = payload
        .get("eventType")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty());
    let given_role = payload
        .get("role")
        .and_then(Value::as_str)
        .filter(|r| ROLES.contains(r));
    let (default_type, default_role) = match kind {
        kind::DOMESTIC_ABUSE_INCIDENT => ("domestic_abuse", "child_related"),
        kind::MISSING_EPISODE => ("missing_person", "missing_person"),
        kind::YOUTH_JUSTICE_OUTCOME => ("disposal", "offender"),
        kind::EXPLOITATION_CONCERN => ("exploitation", "victim"),
        _ => ("incident", "subject"),
    };
    (
        given_type.unwrap_or(default_type).to_owned(),
        given_role.unwrap_or(default_role).to_owned(),
    )
}

/// One line a practitioner reads, built from coded fields only: free text in a police record
/// can carry names, so it never reaches a summary.
pub fn summary(kind: &str, event_type: &str, role: &str, payload: &Map<String, Value>) -> String {
    let text = |k: &str| -> Option<String> {
        match payload.get(k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.replace('_', " ")),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let flag = |k: &str| payload.get(k).and_then(Value::as_bool);
    let mut parts: Vec<String> = Vec::new();
    match kind {
        kind::DOMESTIC_ABUSE_INCIDENT => {
            parts.push("Domestic abuse incident".into());
            parts.push(role_phrase(role));
            if let Some(r) = text("dashRisk") {
                parts.push(format!("DASH risk {r}"));
            }
            if let Some(o) = text("outcome") {
                parts.push(o);
            }
            if flag("encompassNotified") == Some(true) {
                parts.push("Operation Encompass notification sent to school".into());
            }
        }
        kind::MISSING_EPISODE => {
            parts.push("Missing episode".into());
            if let Some(by) = text("reportedBy") {
                parts.push(format!("reported by {by}"));
            }
            if let Some(h) = text("durationHours") {
                parts.push(format!("missing {h} hours"));
            }
            if let Some(r) = text("risk") {
                parts.push(format!("risk {r}"));
            }
            if flag("returnInterviewOffered") == Some(true) {
                parts.push("return interview offered".into());
            }
        }
        kind::YOUTH_JUSTICE_OUTCOME => {
            let what = event_type.replace('_', " ");
            match (text("outcome"), text("offence")) {
                (Some(o), Some(off)) => parts.push(format!("Youth justice {what}: {o} for {off}")),
                (Some(o), None) => parts.push(format!("Youth justice {what}: {o}")),
                (None, Some(off)) => parts.push(format!("Youth justice {what} for {off}")),
                (None, None) => parts.push(format!("Youth justice {what}")),
            }
            parts.push(role_phrase(role));
        }
        kind::EXPLOITATION_CONCERN => {
            let concern = text("concern").unwrap_or_else(|| event_type.replace('_', " "));
            parts.push(format!("Exploitation concern ({concern})"));
            parts.push(role_phrase(role));
            match flag("nrmReferral") {
                Some(true) => parts.push("NRM referral made".into()),
                Some(false) => parts.push("no NRM referral".into()),
                None => {}
            }
        }
        _ => {
            let what = event_type.replace('_', " ");
            match text("offenceCategory") {
                Some(c) => parts.push(format!("Police {what} ({c})")),
                None => parts.push(format!("Police {what}")),
            }
            parts.push(role_phrase(role));
        }
    }
    parts.join("; ")
}

fn role_phrase(role: &str) -> String {
    match role {
        "child_present" => "child present".into(),
        "child_related" => "child related".into(),
        other => format!("recorded as {}", other.replace('_', " ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn domestic_abuse_is_its_category_for_children_and_adult_parties() {
        for role in ["child_present", "child_related"] {
            assert_eq!(
                classify("domestic_abuse", role, Some(false)),
                (DOMESTIC_ABUSE, kind::DOMESTIC_ABUSE_INCIDENT),
                "{role}"
            );
        }
        for role in ["victim", "suspect"] {
            assert_eq!(
                classify("domestic_abuse", role, Some(true)).0,
                DOMESTIC_ABUSE
            );
            assert_eq!(classify("domestic_abuse", role, None).0, DOMESTIC_ABUSE);
            assert_eq!(classify("domestic_abuse", role, Some(false)).0, INCIDENT);
        }
        assert_eq!(
            classify("domestic_abuse", "witness", Some(true)).0,
            INCIDENT
        );
    }

    #[test]
    fn other_types_map_to_their_categories() {
        let cases = [
            ("missing_person", "missing_person", MISSING_EPISODE),
            ("missing_person", "reporter", INCIDENT),
            ("arrest", "suspect", YOUTH_JUSTICE),
            ("charge", "offender", YOUTH_JUSTICE),
            ("disposal", "offender", YOUTH_JUSTICE),
            ("disposal", "victim", INCIDENT),
            ("cce", "victim", EXPLOITATION),
            ("county_lines", "subject", EXPLOITATION),
            ("exploitation", "victim", EXPLOITATION),
            ("incident", "witness", INCIDENT),
            ("burglary", "victim", INCIDENT),
        ];
        for (t, role, category) in cases {
            assert_eq!(classify(t, role, Some(false)).0, category, "{t}/{role}");
        }
    }

    #[test]
    fn rendering_defaults_follow_the_kind_and_respect_the_payload() {
        assert_eq!(
            event_type_and_role("missing_episode", &json!({})),
            ("missing_person".into(), "missing_person".into())
        );
        assert_eq!(
            event_type_and_role("youth_justice_outcome", &json!({"eventType": "charge"})),
            ("charge".into(), "offender".into())
        );
        assert_eq!(
            event_type_and_role("domestic_abuse_incident", &json!({"role": "victim"})),
            ("domestic_abuse".into(), "victim".into())
        );
        assert_eq!(
            event_type_and_role("police_incident", &json!({"role": "nonsense"})),
            ("incident".into(), "subject".into())
        );
    }

    #[test]
    fn summaries_use_coded_fields_only() {
        let payload = json!({
            "reportedBy": "foster carer",
            "durationHours": 30,
            "risk": "high",
            "foundLocation": "at Jane Doe's flat",
            "returnInterviewOffered": true
        });
        let s = summary(
            kind::MISSING_EPISODE,
            "missing_person",
            "missing_person",
            payload.as_object().expect("object"),
        );
        assert_eq!(
            s,
            "Missing episode; reported by foster carer; missing 30 hours; risk high; return interview offered"
        );
        assert!(!s.contains("Jane"));
    }
}
