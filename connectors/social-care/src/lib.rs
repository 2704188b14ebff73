//! Kinship's connector for a local authority's children's social care and early help: it reads
//! the LA's statutory returns and an early help extract, and hands the hub one envelope per
//! child per return.
//!
//! # Source: a set of returns
//!
//! A return is a named unit of files: `cin-2026` (`cin.xml`), `ssda903-2026` (`header.csv`,
//! `episodes.csv`, `missing.csv`), `early-help-2026-11` (`early_help.csv`). A resubmission is
//! the same name with `-r<N>` (`cin-2026-r2`) and holds the children that changed. The source
//! is either
//! - HTTP: `GET {base_url}/returns` lists `{"returns": [{"name": ..., "files": [...]}]}` and
//!   `GET {base_url}/returns/{name}/{file}` serves a file (the feed also honours
//!   `?after={name}`, but resubmissions sort among earlier names, so the connector lists all);
//! - or a folder with one subfolder per return.
//!
//! One batch is one return. The cursor (JSON) holds the highest issue delivered of each series
//! (see the `cursor` module): a pull delivers the first return not yet delivered, and a
//! pull with nothing new returns an empty batch and no cursor.
//!
//! # Formats and what they become
//!
//! Every record's organisation is `local_authority:<LA>`: the CIN header's `LEA`, or the `la`
//! setting for the CSVs. Dates carry no time, so facts occur at midnight UTC of their date.
//!
//! - **CIN census XML** (DfE, no namespace): one record per `Child`,
//!   `cin:<LA>:<Year>:<LAchildID>`. Identity: birth date, `GenderCurrent`, UPN and former UPN
//!   (checked), `la_person_id` = `la:<LA>:<LAchildID>`. Facts: `contact` and `referral`
//!   (`social_care.contact_referral`), `assessment` and `s47_enquiry`
//!   (`social_care.assessment`), `cin_plan` (`social_care.child_in_need`), `cp_plan`
//!   (`social_care.child_protection`) and its `cp_flag` (`social_care.child_protection_flag`,
//!   code `CPP`). A `CINdetails` with `ReferralNFA` true is a contact that went no further.
//! - **SSDA903 CSV** (DfE, dates `DD/MM/YYYY`): one record per child,
//!   `903:<LA>:<Year>:<CHILD>` (the year from the return's name). Identity: `DOB`, `SEX`, `UPN`,
//!   `la_person_id` = `la:<LA>:<CHILD>`, placement postcodes (usage `placement`). Facts:
//!   `looked_after_episode` (`social_care.looked_after`; legal status J1-J3 goes to
//!   `police.youth_justice`), a `cp_flag` with code `LAC` per period of care, and
//!   `missing_episode` (`police.missing_episode`) from `missing.csv`.
//! - **Early help extract** (Kinship-defined, below): one record per child per episode,
//!   `eh:<LA>:<EPISODE_ID>:<CHILD>`, identity `la_person_id` only; facts with agency
//!   `early_help`: `early_help_assessment` (`early_help.assessment`), `taf_plan`
//!   (`early_help.plan`), `family_outcome` (`early_help.family_outcomes`).
//!
//! Cross-cutting: each `cp_plan` and period of care gives a flag, `active` while open and
//! `inactive` with its end date after. Code lists change yearly: unknown codes are kept as
//! they are. The statutory returns carry no names, NHS numbers or home addresses, so linkage
//! rests on the LA person id, UPN and birth date.
//!
//! # The early help extract (`early_help.csv`)
//!
//! Early help has no statutory return, so Kinship defines this extract. UTF-8 CSV, one header
//! row, CRLF or LF line endings, dates `DD/MM/YYYY`, one row per child per early help episode:
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `CHILD` | yes | the LA's child id, the same id as CIN `LAchildID` and 903 `CHILD` |
//! | `FAMILY_ID` | no | the LA's id for the family the episode covers |
//! | `EPISODE_ID` | yes | the episode's reference (e.g. the EHA reference), shared by the family's children |
//! | `ASSESSMENT_START` | one of these two | the date the early help assessment started |
//! | `ASSESSMENT_END` | no | the date it was completed |
//! | `NEEDS` | no | needs identified, `;`-separated codes (`school_attendance`, `parenting_support`, `housing`, `financial_difficulty`, `parental_mental_health`, `behaviour`, `domestic_abuse`...) |
//! | `PLAN_START` | one of these two | the date the team-around-the-family plan started |
//! | `PLAN_END` | no | the date it closed; empty while open |
//! | `REVIEW_DATE` | no | the plan's first review date (its distance from `PLAN_START` gives the review interval) |
//! | `OUTCOME` | no | `;`-separated tokens: `declined` (family declined support after the assessment), `consent_withdrawn` (plan closed when consent was withdrawn), `closed` (plan closed, no other outcome), `needs_met`, `stepped_up` (to children's social care), and `sf:<outcome>` for each Supporting Families outcome met, claimed at `PLAN_END` (e.g. `sf:school_attendance`) |
//! | `LEAD_PROFESSIONAL_ROLE` | no | the lead professional's role, e.g. `family_support_worker` |
//!
//! # The feed (feature `feed`)
//!
//! [`feed::Feed`] renders envelopes as these returns and serves them on loopback (the demo's
//! and the tests' source); `feed::write_folder` writes them as a folder source.
//!
//! # Rejections
//!
//! A child, row or element that breaks a rule (no `LAchildID`, a UPN failing its check, a
//! date that is not a date, a row whose child is unknown) is rejected with its exact bytes and
//! a reason naming the field, never its value; the rest of the return lands. A file that
//! cannot be read at all (not XML, no header row) is one rejected entry holding the file.
//!
//! Limits: imports only the connector SDK; no database, no hub types.

mod cin;
mod codes;
mod cursor;
mod early_help;
mod read;
mod record;
mod source;
mod ssda903;
mod table;

#[cfg(feature = "feed")]
pub mod feed;

use std::path::PathBuf;
use std::time::Duration;

use kinship_connector_sdk::{Batch, Connector, ConnectorError, Cursor, Manifest};
use serde::Deserialize;

use crate::cursor::Delivered;
use crate::source::Source;

/// The connector kind the hub's configuration names.
pub const KIND: &str = "social-care-returns";

/// The agency this connector carries; early help facts say so on each fact.
pub const AGENCY: &str = "social_care";

/// Every category the connector may emit: the facts' categories, plus identity and placement
/// addresses.
pub const CATEGORIES: &[&str] = &[
    "person.identity",
    "person.contact",
    "social_care.contact_referral",
    "social_care.assessment",
    "social_care.child_in_need",
    "social_care.child_protection",
    "social_care.child_protection_flag",
    "social_care.looked_after",
    "police.youth_justice",
    "police.missing_episode",
    "early_help.assessment",
    "early_help.plan",
    "early_help.family_outcomes",
];

fn default_la() -> String {
    "999".into()
}

fn default_timeout() -> u64 {
    30
}

/// Configuration: where the returns are (exactly one of `base_url` and `folder`) and which LA
/// sends them.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The returns feed's base URL, e.g. `https://returns.anyshire.gov.uk/kinship`; the
    /// connector reads `{base_url}/returns` and `{base_url}/returns/{name}/{file}`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A folder holding one subfolder per return, instead of `base_url`.
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// The LA number (three digits) of the CSV returns, which do not carry it; also stands in
    /// for a CIN census whose header has no `LEA`.
    #[serde(default = "default_la")]
    pub la: String,
    /// How long one request may take before it is abandoned as a transient failure, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

/// The connector: reads a local authority's returns from HTTP or a folder.
pub struct SocialCareConnector {
    config: Config,
    source: Source,
}

impl SocialCareConnector {
    /// Builds from a typed configuration; a configuration that cannot work is `Fatal`.
    pub fn new(config: Config) -> Result<Self, ConnectorError> {
        if config.la.len() != 3 || !config.la.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConnectorError::Fatal(
                "config: `la` must be a three-digit LA number".into(),
            ));
        }
        if config.timeout_seconds == 0 {
            return Err(ConnectorError::Fatal(
                "config: `timeout_seconds` must be at least 1".into(),
            ));
        }
        let source = match (&config.base_url, &config.folder) {
            (Some(url), None) => Source::http(url, Duration::from_secs(config.timeout_seconds))?,
            (None, Some(folder)) => Source::Folder(folder.clone()),
            _ => {
                return Err(ConnectorError::Fatal(
                    "config: set exactly one of `base_url` and `folder`".into(),
                ));
            }
        };
        Ok(Self { config, source })
    }

    /// Builds from the hub's JSON configuration table; a bad key is `Fatal` and named.
    pub fn from_json(config: serde_json::Value) -> Result<Self, ConnectorError> {
        let config: Config = serde_json::from_value(config)
            .map_err(|e| ConnectorError::Fatal(format!("config: {e}")))?;
        Self::new(config)
    }
}

impl Connector for SocialCareConnector {
    fn manifest(&self) -> Manifest {
        Manifest {
            id: KIND.into(),
            agency: AGENCY.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            categories: CATEGORIES.iter().map(|c| (*c).to_owned()).collect(),
            config_schema: serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default(),
        }
    }

    /// Lists the returns: proves the feed answers with a listing, or the folder is readable.
    async fn check(&self) -> Result<(), ConnectorError> {
        self.source.list().await.map(|_| ())
    }

    async fn pull(&self, cursor: Option<&Cursor>) -> Result<Batch, ConnectorError> {
        let mut delivered = cursor
            .map(Delivered::decode)
            .transpose()?
            .unwrap_or_default();
        let listed = self.source.list().await?;
        let Some(next) = delivered
            .pending(&listed, |r| &r.name)
            .into_iter()
            .next()
            .cloned()
        else {
            return Ok(Batch::default());
        };
        let mut files = Vec::with_capacity(next.files.len());
        for file in &next.files {
            files.push((file.clone(), self.source.file(&next.name, file).await?));
        }
        let (name, la) = (next.name.clone(), self.config.la.clone());
        // A return can run to tens of megabytes: parse it off the async workers.
        let out = tokio::task::spawn_blocking(move || read::read_return(&name, &files, &la))
            .await
            .map_err(|_| ConnectorError::Fatal("reading a return failed unexpectedly".into()))?;
        delivered.mark(&next.name);
        Ok(Batch {
            records: out.records,
            rejected: out.rejected,
            next: Some(delivered.encode()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configuration_names_the_bad_key() {
        let Err(ConnectorError::Fatal(m)) =
            SocialCareConnector::from_json(json!({"folder": "/x", "colour": "red"}))
        else {
            panic!("expected a fatal error");
        };
        assert!(m.contains("colour"), "{m}");
    }

    #[test]
    fn exactly_one_source_is_required() {
        for config in [
            json!({}),
            json!({"folder": "/x", "base_url": "http://127.0.0.1:1"}),
        ] {
            let Err(ConnectorError::Fatal(m)) = SocialCareConnector::from_json(config) else {
                panic!("expected a fatal error");
            };
            assert!(m.contains("exactly one"), "{m}");
        }
    }

    #[test]
    fn the_la_must_be_three_digits_and_defaults_to_999() {
        let c = SocialCareConnector::from_json(json!({"folder": "/x"})).unwrap();
        assert_eq!(c.config.la, "999");
        assert!(SocialCareConnector::from_json(json!({"folder": "/x", "la": "99x"})).is_err());
        assert!(SocialCareConnector::from_json(json!({"base_url": "ftp://x"})).is_err());
    }

    #[test]
    fn the_manifest_is_valid_and_declares_early_help_and_police_categories() {
        let c = SocialCareConnector::from_json(json!({"folder": "/x"})).unwrap();
        let m = c.manifest();
        assert!(m.problems().is_empty(), "{:?}", m.problems());
        assert_eq!(m.id, KIND);
        for c in [
            "early_help.plan",
            "police.missing_episode",
            "police.youth_justice",
        ] {
            assert!(m.categories.iter().any(|x| x == c), "{c}");
        }
    }
}
