//! Kinship connector for health: reads a FHIR R4 REST server (UK Core, JSON) and hands the hub
//! one envelope per resource.
//!
//! - [`Config`]: the server's base URL, paging, timeouts, the resource types to pull, and the
//!   ODS code → organisation kind table (`<kind>:<ODS>`, default kind `acute_trust`).
//! - [`HealthConnector`]: the SDK [`Connector`]. `check` reads `{base}/metadata` (an R4
//!   CapabilityStatement); `pull` reads one searchset page per call, type by type (Patient,
//!   RelatedPerson, Encounter, Condition, Flag), from
//!   `{base}/{Type}?_lastUpdated=ge{mark}&_sort=_lastUpdated&_count={page_size}` (no
//!   `_lastUpdated` the first time) and then `Bundle.link[next]` verbatim.
//! - The cursor is JSON: the type being pulled (`null` once a sweep is over), the next URL,
//!   and per type the highest `meta.lastUpdated` seen with the (id, versionId) pairs seen at
//!   exactly that instant, so `ge` re-deliveries are dropped. Pulling from the final cursor
//!   starts the next sweep; if nothing changed it returns an empty batch and no cursor.
//! - What each resource becomes:
//!   - `Patient/{id}`: identity (names, birth date, gender, NHS number verified when the UK
//!     Core verification status is `01`, addresses with UPRN); organisation from
//!     `managingOrganization`. A `replaced-by` link stays in `raw`: linkage decides merges.
//!   - `RelatedPerson/{id}`: the related person's identity and one relationship to
//!     `Patient/{id}`: how the patient stands to them (`child` for MTH, FTH, PRN...), with
//!     parental responsibility from the Kinship extension or as the RoleCode implies.
//!   - `Encounter/{id}`: one fact about its subject. A self-harm SNOMED code →
//!     `self_harm_attendance` (`health.mental_health`); else the Kinship fact-kind coding in
//!     `type` (`development_review`, `immunisation`, `camhs_referral`,
//!     `sexual_health_contact`, `substance_misuse_referral`...); else class `EMER` →
//!     `ed_attendance`, `IMP` → `admission` (`health.unscheduled_care`); else `encounter`
//!     (`health.condition`).
//!   - `Condition/{id}`: a SNOMED code in the mental health, sexual health or substance
//!     misuse set → that category; else the declared Kinship kind; else `health.condition`.
//!   - `Flag/{id}`: Kinship CP-IS codes `CPP`, `LAC`, `UCPP` → `cp_flag`
//!     (`social_care.child_protection_flag`).
//!   - `entered-in-error` (Encounter and Flag status, Condition verification status): the
//!     record comes with no facts, retracting what it said.
//! - Failures: statuses are classified by the SDK (429 and 5xx transient, other 4xx fatal);
//!   an OperationOutcome with issue code `transient` or `throttled` is transient whatever
//!   the status. A page that is not a Bundle is fatal: its `next` link cannot be read.
//! - [`feed`] (feature `feed`): renders hub envelopes as FHIR resources and serves them.
//!
//! Limits: imports the SDK only; no database, no hub types. Personal data never enters an
//! error or a rejection reason.

#[cfg_attr(
    not(feature = "feed"),
    allow(
        dead_code,
        reason = "the rendering half of the vocabulary serves the feed"
    )
)]
mod codes;
mod config;
mod cursor;
mod fetch;
mod parse;

#[cfg(feature = "feed")]
pub mod feed;

use kinship_connector_sdk::{
    Batch, Connector, ConnectorError, Cursor, Manifest, Rejected, SourceRecord,
};
use serde::Deserialize;
use serde_json::value::RawValue;

pub use codes::ResourceType;
pub use config::Config;

use cursor::State;
use fetch::Server;

/// The connector kind the hub's configuration names.
pub const KIND: &str = "health-fhir";

/// The agency whose data this connector carries.
const AGENCY: &str = "health";

/// At most this many pages that yield nothing new are read in one pull before it hands back a
/// cursor anyway, so one call cannot spin on a server that pages without end.
const MAX_EMPTY_PAGES: usize = 1000;

/// Reads a FHIR R4 (UK Core) server.
pub struct HealthConnector {
    config: Config,
    types: Vec<ResourceType>,
    server: Server,
}

impl HealthConnector {
    /// Builds the connector; an invalid configuration is a fatal error naming each bad key.
    pub fn new(config: Config) -> Result<Self, ConnectorError> {
        config.validate()?;
        Ok(Self {
            types: config.types(),
            server: Server::new(&config)?,
            config,
        })
    }

    /// Builds from the hub's JSON configuration table; a bad key is a fatal error naming it.
    pub fn from_json(config: serde_json::Value) -> Result<Self, ConnectorError> {
        let config: Config = serde_json::from_value(config)
            .map_err(|e| ConnectorError::Fatal(format!("config: {e}")))?;
        Self::new(config)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The first page of a pass over a type: everything since its floor, oldest first.
    fn first_page(&self, ty: ResourceType, state: &State) -> Result<String, ConnectorError> {
        let mut url = reqwest::Url::parse(&format!("{}/{}", self.config.base(), ty.as_str()))
            .map_err(|_| ConnectorError::Fatal("config: base_url: not a URL".into()))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(at) = state.floor {
                let at = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                q.append_pair("_lastUpdated", &format!("ge{at}"));
            }
            q.append_pair("_sort", "_lastUpdated");
            q.append_pair("_count", &self.config.page_size.to_string());
        }
        Ok(url.into())
    }

    /// Reads one searchset page of `ty` into `batch`, moving the mark, and returns its `next`
    /// link. A page that is not a Bundle cannot be paged past: that is fatal (or transient
    /// when an OperationOutcome says so).
    fn read_page(
        &self,
        ty: ResourceType,
        body: &str,
        state: &mut State,
        batch: &mut Batch,
    ) -> Result<Option<String>, ConnectorError> {
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(rename = "resourceType")]
            resource_type: String,
            #[serde(default)]
            link: Vec<Link>,
            #[serde(default, borrow)]
            entry: Vec<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Link {
            relation: String,
            url: String,
        }
        #[derive(Deserialize)]
        struct Entry<'a> {
            #[serde(default, borrow)]
            resource: Option<&'a RawValue>,
            #[serde(default)]
            search: Option<Search>,
        }
        #[derive(Deserialize)]
        struct Search {
            mode: Option<String>,
        }

        let issues = fetch::issue_codes(body);
        if !issues.is_empty() {
            let message = format!(
                "a page of `{}` is an OperationOutcome `{}`",
                ty.as_str(),
                issues.join("`, `")
            );
            let retry = issues.iter().any(|c| c == "transient" || c == "throttled");
            return Err(if retry {
                ConnectorError::transient(message)
            } else {
                ConnectorError::Fatal(message)
            });
        }
        let page: Page<'_> = serde_json::from_str(body).map_err(|_| {
            ConnectorError::Fatal(format!(
                "a page of `{}` is not a readable FHIR Bundle",
                ty.as_str()
            ))
        })?;
        if page.resource_type != "Bundle" {
            return Err(ConnectorError::Fatal(format!(
                "a page of `{}` is not a Bundle",
                ty.as_str()
            )));
        }
        for (i, raw) in page.entry.iter().enumerate() {
            let raw_entry = raw.get();
            let entry: Entry<'_> = match serde_json::from_str(raw_entry) {
                Ok(e) => e,
                Err(_) => {
                    batch.rejected.push(Rejected {
                        source_key: None,
                        reason: format!("`Bundle.entry[{i}]` is not a Bundle entry"),
                        raw: raw_entry.to_owned(),
                    });
                    continue;
                }
            };
            // Included resources and outcome warnings are not matches of the search.
            if entry
                .search
                .and_then(|s| s.mode)
                .is_some_and(|m| m != "match")
            {
                continue;
            }
            let Some(resource) = entry.resource else {
                batch.rejected.push(Rejected {
                    source_key: None,
                    reason: format!("`Bundle.entry[{i}].resource` is missing"),
                    raw: raw_entry.to_owned(),
                });
                continue;
            };
            let raw = resource.get();
            let parsed = parse::resource(raw, &self.config);
            let h = &parsed.header;
            if !state.admit(ty, h.id.as_deref(), h.version.as_deref(), h.last_updated) {
                continue;
            }
            let record = match parsed.record {
                _ if h.resource_type.is_some_and(|t| t != ty) => Err(format!(
                    "`Bundle.entry[{i}].resource` is not a {} in a {} search",
                    ty.as_str(),
                    ty.as_str()
                )),
                Ok(record) => Ok(record),
                Err(problem) => Err(problem.to_string()),
            };
            match record {
                Ok(r) => batch.records.push(r),
                Err(reason) => batch.rejected.push(Rejected {
                    source_key: h.source_key(),
                    reason,
                    raw: raw.to_owned(),
                }),
            }
        }
        Ok(page
            .link
            .into_iter()
            .find(|l| l.relation == "next")
            .map(|l| l.url))
    }
}

impl Connector for HealthConnector {
    fn manifest(&self) -> Manifest {
        Manifest {
            id: KIND.into(),
            agency: AGENCY.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            categories: codes::categories(),
            config_schema: serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default(),
        }
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        #[derive(Deserialize)]
        struct Capability {
            #[serde(rename = "resourceType")]
            resource_type: String,
            #[serde(rename = "fhirVersion")]
            fhir_version: Option<String>,
        }
        let url = format!("{}/metadata", self.config.base());
        let body = self.server.get(&url).await?;
        match serde_json::from_str::<Capability>(&body) {
            Ok(c)
                if c.resource_type == "CapabilityStatement"
                    && c.fhir_version
                        .as_deref()
                        .is_some_and(|v| v.starts_with("4.0")) =>
            {
                Ok(())
            }
            Ok(c) if c.resource_type == "CapabilityStatement" => Err(ConnectorError::Fatal(
                "the server's CapabilityStatement is not FHIR R4 (4.0.x)".into(),
            )),
            _ => Err(ConnectorError::Fatal(
                "`/metadata` is not a FHIR CapabilityStatement".into(),
            )),
        }
    }

    async fn pull(&self, cursor: Option<&Cursor>) -> Result<Batch, ConnectorError> {
        let mut state = match cursor {
            None => State::first(&self.types),
            Some(c) => State::read(c)?,
        };
        // From a final cursor a new sweep starts; if it finds nothing new, the feed has
        // nothing more now and the hub keeps the final cursor it holds.
        let incremental_from_final = state.is_final();
        if incremental_from_final {
            state.current = self.types.first().copied();
        }
        let mut batch = Batch::default();
        let mut empty_pages = 0;
        while let Some(ty) = state.current {
            let url = match state.next.take() {
                Some(next) => next,
                None => {
                    state.start_type();
                    self.first_page(ty, &state)?
                }
            };
            let body = self.server.get(&url).await?;
            match self.read_page(ty, &body, &mut state, &mut batch)? {
                Some(next) => state.next = Some(next),
                None => state.finish_type(&self.types),
            }
            if !batch.records.is_empty() || !batch.rejected.is_empty() {
                batch.next = Some(state.cursor());
                return Ok(batch);
            }
            empty_pages += 1;
            if empty_pages >= MAX_EMPTY_PAGES && !state.is_final() {
                batch.next = Some(state.cursor());
                return Ok(batch);
            }
        }
        // The sweep ended with nothing more to deliver in this call.
        if !incremental_from_final {
            batch.next = Some(state.cursor());
        }
        Ok(batch)
    }

    fn reparse(&self, raw: &str) -> Result<Vec<SourceRecord>, Rejected> {
        let parsed = parse::resource(raw, &self.config);
        let key = parsed.header.source_key();
        parsed.record.map(|r| vec![r]).map_err(|problem| Rejected {
            source_key: key,
            reason: problem.to_string(),
            raw: raw.to_owned(),
        })
    }
}
