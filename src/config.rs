//! The one typed configuration: `kinship.toml`, then environment variables, then flags.
//!
//! Environment variables override the file: `KINSHIP_SERVER__PORT=9000` sets `server.port`
//! (`__` separates levels) and `DATABASE_URL` sets `database.url`. Unknown keys are errors.
//! [`Config::validate`] runs at start and reports every bad value, one line each, naming the
//! key and never echoing a secret.
//!
//! Limits: this is the only module that reads the environment; others are handed their slice.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Serialising secrets exists only so defaults can be layered under the file and environment
/// (figment merges serialised values); nothing writes a serialised config anywhere.
mod secret {
    use secrecy::{ExposeSecret, SecretString};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }

    pub fn serialize_opt<S: Serializer>(
        s: &Option<SecretString>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.expose_secret()),
            None => ser.serialize_none(),
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the hub listens and how it bounds requests.
    pub server: ServerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// How bearer tokens are verified (and, in demo configurations, signed).
    pub auth: AuthConfig,
    /// Limits on GraphQL operations.
    pub graphql: GraphqlConfig,
    /// Where the information-sharing protocols are.
    pub protocols: ProtocolsConfig,
    /// Signed checkpoints of the access log.
    pub audit: AuditConfig,
    /// Log output.
    pub log: LogConfig,
    /// How connectors are run.
    pub sync: SyncConfig,
    /// How arriving records are linked to persons, and who reviews doubtful links.
    pub linkage: LinkageConfig,
    /// The hub's own practice records: indicators of need, referrals, early help.
    pub practice: PracticeConfig,
    /// The feeds this hub pulls from, one table per connector instance.
    pub connectors: Vec<ConnectorConfig>,
    /// Notifications (Operation Encompass): the delivery worker and partner webhooks.
    pub notifications: NotificationsConfig,
}

/// `[notifications]`: how the hub pushes notifications to schools' safeguarding leads.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// The delivery worker looks at the outbox this often, in ms; subscriptions poll for
    /// notifications another hub replica raised as often.
    pub poll_ms: u64,
    /// When the school day starts, `HH:MM` in UTC: a notification is due before the next
    /// weekday's start. 07:30 UTC is 08:30 in British Summer Time and 07:30 in winter.
    pub school_day_start: String,
    /// An incident that happened more than this many hours before it arrived is not notified
    /// (a first sync of years of history must not flood schools).
    pub max_age_hours: u64,
    /// The first retry of a webhook waits about this long (doubling, with jitter), in ms.
    pub retry_base_ms: u64,
    /// The longest wait between webhook attempts, in ms. Attempts go on until acknowledged.
    pub retry_max_ms: u64,
    /// Each webhook attempt is cut off after this many seconds.
    pub timeout_seconds: u64,
    /// Partner applications that receive signed webhooks, one table each.
    pub partners: Vec<PartnerConfig>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            poll_ms: 1_000,
            school_day_start: "07:30".into(),
            max_age_hours: 72,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            timeout_seconds: 10,
            partners: Vec::new(),
        }
    }
}

impl NotificationsConfig {
    /// The start of the school day as hours and minutes (UTC).
    pub fn day_start(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(self.school_day_start.trim(), "%H:%M").ok()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if self.poll_ms < 10 {
            problems.push("notifications.poll_ms: must be at least 10".into());
        }
        if self.day_start().is_none() {
            problems.push("notifications.school_day_start: expected `HH:MM`".into());
        }
        if self.retry_base_ms == 0 || self.retry_max_ms < self.retry_base_ms {
            problems.push(
                "notifications: retry_base_ms must be at least 1 and at most retry_max_ms".into(),
            );
        }
        if self.timeout_seconds == 0 {
            problems.push("notifications.timeout_seconds: must be at least 1".into());
        }
        let mut ids = std::collections::HashSet::new();
        for (i, p) in self.partners.iter().enumerate() {
            let at = format!("notifications.partners[{i}]");
            let id_ok = !p.id.is_empty()
                && p.id
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
            if !id_ok {
                problems.push(format!(
                    "{at}.id: `{}` must be lowercase letters, digits and hyphens",
                    p.id
                ));
            }
            if !ids.insert(p.id.as_str()) {
                problems.push(format!("{at}.id: `{}` is used twice", p.id));
            }
            if !(p.url.starts_with("https://") || p.url.starts_with("http://")) {
                problems.push(format!("{at}.url: expected an http:// or https:// URL"));
            }
            if p.organisations.is_empty() {
                problems.push(format!(
                    "{at}.organisations: list at least one organisation"
                ));
            }
            for o in &p.organisations {
                if o.parse::<crate::model::OrganisationId>().is_err() {
                    problems.push(format!(
                        "{at}.organisations: `{o}` is not an organisation id `<kind>:<code>`"
                    ));
                }
            }
            if p.roles.is_empty() {
                problems.push(format!("{at}.roles: list at least one role"));
            }
            for r in &p.roles {
                if r.parse::<crate::model::Role>().is_err() {
                    problems.push(format!("{at}.roles: `{r}` is not a role in the catalogue"));
                }
            }
            if p.secret.expose_secret().len() < 32 {
                problems.push(format!("{at}.secret: must be at least 32 bytes"));
            }
        }
    }
}

/// `[[notifications.partners]]`: a partner application (a school's safeguarding system, say)
/// that receives notifications for the organisations it serves as signed webhooks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// A unique id (lowercase, digits, hyphens); deliveries are keyed by it, so changing it
    /// sends everything not yet acknowledged again under the new id.
    pub id: String,
    /// Where notifications are POSTed.
    pub url: String,
    /// The organisations it serves, `<kind>:<code>` (e.g. `school:100001`).
    pub organisations: Vec<String>,
    /// The roles it acts as for them; a notification goes only where one of these is the
    /// role the notification is for (`dsl` for Operation Encompass).
    #[serde(default = "dsl_role")]
    pub roles: Vec<String>,
    /// The shared secret the body is signed with (HMAC-SHA256), at least 32 bytes.
    #[serde(serialize_with = "secret::serialize")]
    pub secret: SecretString,
    /// Whether it receives anything.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn dsl_role() -> Vec<String> {
    vec!["dsl".into()]
}

/// `[sync]`: how the sync engine runs connectors.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// The most connectors syncing at once.
    pub max_concurrent: usize,
    /// The first retry waits about this long (doubling each time, with jitter), in ms.
    pub retry_base_ms: u64,
    /// The longest wait between retries, in ms.
    pub retry_max_ms: u64,
    /// Attempts per pull, the first included, before a run fails.
    pub max_attempts: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 2,
            retry_base_ms: 250,
            retry_max_ms: 60_000,
            max_attempts: 8,
        }
    }
}

/// `[linkage]`: probabilistic linkage of arriving records.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkageConfig {
    /// Whether sync scores each arriving record that no deterministic rule links against the
    /// persons blocking puts beside it. Off, such records become persons of their own until
    /// `kinship link --all` runs.
    pub on_arrival: bool,
    /// At or above this match probability (and with the names agreeing, and no second
    /// candidate in doubt) a record joins an existing person.
    pub link_threshold: f64,
    /// At or above this, and below the link threshold, the pair goes to the review queue.
    pub review_threshold: f64,
    /// The roles that may review, confirm, reject and split links.
    pub review_roles: Vec<String>,
}

impl Default for LinkageConfig {
    fn default() -> Self {
        Self {
            on_arrival: true,
            link_threshold: crate::linkage::probabilistic::LINK_THRESHOLD,
            review_threshold: 0.5,
            review_roles: vec!["data_steward".into()],
        }
    }
}

impl LinkageConfig {
    /// What is wrong with the thresholds, if anything.
    pub fn problem(&self) -> Option<String> {
        let ok = |t: f64| (0.0..=1.0).contains(&t);
        if !ok(self.link_threshold) || !ok(self.review_threshold) {
            return Some("[linkage] thresholds must lie between 0 and 1".into());
        }
        if self.review_threshold > self.link_threshold {
            return Some("[linkage] review_threshold must not exceed link_threshold".into());
        }
        None
    }
}

/// `[[connectors]]`: one connector instance.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// A unique id for this instance (lowercase, digits, hyphens). Source records are keyed by
    /// it, so changing it makes everything look new.
    pub id: String,
    /// The connector kind: `health-fhir`, `education-ctf`, `police-pole`,
    /// `social-care-returns`.
    pub kind: String,
    /// Whether it runs at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Under `kinship serve`, sync every this many seconds; unset: only `kinship sync` runs it.
    #[serde(default)]
    pub schedule_seconds: Option<u64>,
    /// At most this many pulls per second from the source.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// The connector's own settings; `kinship connector list` prints each kind's schema.
    #[serde(default = "empty_object")]
    pub settings: serde_json::Value,
}

fn yes() -> bool {
    true
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `[server]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address to bind; loopback by default so nothing is exposed by accident.
    pub host: IpAddr,
    /// The TCP port; 0 picks a free one.
    pub port: u16,
    /// Requests taking longer than this are cut off with 503.
    pub request_timeout_seconds: u64,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            request_timeout_seconds: 30,
            max_body_bytes: 256 * 1024,
        }
    }
}

/// `[database]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// A SQLite path (`./kinship.db`, `sqlite://kinship.db`) or a `postgres://` URL. The URL may
    /// carry a password, so it is treated as a secret and never printed.
    #[serde(serialize_with = "secret::serialize")]
    pub url: SecretString,
    /// The connection pool size.
    pub max_connections: u32,
    /// Run pending migrations at start (`kinship migrate` runs them alone).
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("./kinship.db"),
            max_connections: 16,
            migrate_on_start: true,
        }
    }
}

impl DatabaseConfig {
    /// The URL in the form the store takes: a bare path becomes `sqlite://PATH?mode=rwc`.
    pub fn store_url(&self) -> String {
        let raw = self.url.expose_secret().trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            raw.to_owned()
        } else if let Some(rest) = raw.strip_prefix("sqlite:") {
            let rest = rest.trim_start_matches("//");
            if rest.contains('?') {
                format!("sqlite://{rest}")
            } else {
                format!("sqlite://{rest}?mode=rwc")
            }
        } else {
            format!("sqlite://{raw}?mode=rwc")
        }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        let raw = self.url.expose_secret().trim();
        let looks_like_other_url = raw.contains("://")
            && !(raw.starts_with("postgres://")
                || raw.starts_with("postgresql://")
                || raw.starts_with("sqlite://"));
        if raw.is_empty() || looks_like_other_url {
            problems.push("database.url: expected a sqlite path or postgres:// URL".into());
        }
        if self.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".into());
        }
    }
}

/// `[auth]`: bearer-token verification.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// The signature algorithms accepted (an allow-list; `none` is never accepted).
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// A shared HMAC secret (at least 32 bytes). For demo and test configurations only:
    /// with it set, `kinship token` can sign tokens.
    #[serde(serialize_with = "secret::serialize_opt")]
    pub shared_secret: Option<SecretString>,
    /// PEM files of RSA, EC or Ed25519 public keys of the identity provider.
    pub public_key_files: Vec<PathBuf>,
    /// A JWKS file of the identity provider's public keys, matched on `kid`.
    pub jwks_file: Option<PathBuf>,
    /// How long tokens signed by `kinship token` last, in seconds.
    pub demo_token_ttl_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "https://kinship.invalid/demo".into(),
            audience: "kinship".into(),
            algorithms: vec!["HS256".into()],
            leeway_seconds: 30,
            shared_secret: None,
            public_key_files: vec![],
            jwks_file: None,
            demo_token_ttl_seconds: 8 * 3600,
        }
    }
}

impl AuthConfig {
    /// The accepted algorithms, parsed.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.algorithms
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if self.issuer.trim().is_empty() {
            problems.push("auth.issuer: must not be empty".into());
        }
        if self.audience.trim().is_empty() {
            problems.push("auth.audience: must not be empty".into());
        }
        if self.algorithms.is_empty() {
            problems.push("auth.algorithms: list at least one algorithm".into());
        }
        for a in &self.algorithms {
            if a.parse::<Algorithm>().is_err() {
                problems.push(format!(
                    "auth.algorithms: `{a}` is not a supported algorithm (HS256, RS256, ES256, EdDSA, ...)"
                ));
            }
        }
        let algs = self.algorithms();
        let wants_hmac = algs
            .iter()
            .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512));
        let wants_public = algs
            .iter()
            .any(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512));
        match &self.shared_secret {
            Some(s) if s.expose_secret().len() < 32 => {
                problems.push("auth.shared_secret: must be at least 32 bytes".into());
            }
            None if wants_hmac => problems.push(
                "auth.shared_secret: an HS algorithm is allowed but no shared secret is set".into(),
            ),
            _ => {}
        }
        if wants_public && self.public_key_files.is_empty() && self.jwks_file.is_none() {
            problems.push(
                "auth.public_key_files: a public-key algorithm is allowed but no key file or jwks_file is set"
                    .into(),
            );
        }
        for f in self.public_key_files.iter().chain(self.jwks_file.iter()) {
            if !f.is_file() {
                problems.push(format!("auth: key file `{}` does not exist", f.display()));
            }
        }
    }
}

/// `[graphql]`: operation limits that keep one request from exhausting the hub.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlConfig {
    /// The deepest selection nesting accepted.
    pub max_depth: usize,
    /// The highest complexity (fields, with list sizes multiplied in) accepted.
    pub max_complexity: usize,
    /// The most aliased fields one operation may use.
    pub max_aliases: usize,
    /// Serve GraphiQL to browsers at `/graphql`.
    pub graphiql: bool,
    /// Run registered operations only (trusted documents; see `kinship operations`): any other
    /// document is refused with `OPERATION_NOT_REGISTERED`.
    pub require_registered: bool,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 5_000,
            max_aliases: 30,
            graphiql: true,
            require_registered: false,
        }
    }
}

/// `[audit]`: signed checkpoints of the access log's head, so that someone holding the
/// public key can tell the log up to there is the one this hub wrote.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// An Ed25519 private key, PKCS#8 PEM (`openssl genpkey -algorithm ed25519`). Without it,
    /// no checkpoints are signed.
    pub checkpoint_key_file: Option<PathBuf>,
    /// Sign the head after this many entries...
    pub checkpoint_every: u64,
    /// ...or after this many seconds when entries were added, whichever comes first.
    pub checkpoint_seconds: u64,
    /// The hub verifies the whole chain this often (and at start), for the board's dashboard;
    /// 0 turns it off.
    pub verify_seconds: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_key_file: None,
            checkpoint_every: 1_000,
            checkpoint_seconds: 300,
            verify_seconds: 900,
        }
    }
}

impl AuditConfig {
    /// The signing key, read from its file.
    pub fn signing_key(&self) -> Result<Option<ed25519_dalek::SigningKey>, String> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let Some(path) = &self.checkpoint_key_file else {
            return Ok(None);
        };
        let pem = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "audit.checkpoint_key_file: cannot read `{}`: {e}",
                path.display()
            )
        })?;
        ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map(Some)
            .map_err(|_| {
                format!(
                    "audit.checkpoint_key_file: `{}` is not an Ed25519 private key in PKCS#8 PEM",
                    path.display()
                )
            })
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if self.checkpoint_every == 0 || self.checkpoint_seconds == 0 {
            problems
                .push("audit: checkpoint_every and checkpoint_seconds must be at least 1".into());
        }
        if let Err(e) = self.signing_key() {
            problems.push(e);
        }
    }
}

/// `[practice]`: the records the hub keeps itself (indicators of need, referrals to the front
/// door, early help) and who holds them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PracticeConfig {
    /// The local authority that runs the front door and early help: the controller of what
    /// the hub derives and records itself, and the owner protocols name for it.
    pub local_authority: crate::model::OrganisationId,
    /// Hours a referral may wait for a decision before it is overdue.
    pub referral_decision_hours: u32,
    /// The roles that work the front door's queue and decide referrals (each read still
    /// needs a protocol that shares `social_care.contact_referral` with them).
    pub front_door_roles: Vec<String>,
    /// `serve` re-evaluates every person's indicators when it starts and then every this
    /// many hours (windows move on as days pass); 0 leaves it to `kinship indicators
    /// refresh`.
    pub indicator_refresh_hours: u32,
    /// Whom a practitioner is told to ask about an involvement with a sensitive service they
    /// may not see; by default the front door of `local_authority`.
    pub further_involvement_contact: Option<String>,
    /// Who may record and lift shield orders.
    pub shield_roles: Vec<String>,
}

impl Default for PracticeConfig {
    fn default() -> Self {
        Self {
            local_authority: crate::model::OrganisationId::new(
                crate::model::AgencyKind::LocalAuthority,
                "999",
            ),
            referral_decision_hours: 24,
            front_door_roles: vec!["mash_officer".into()],
            indicator_refresh_hours: 24,
            further_involvement_contact: None,
            shield_roles: vec!["social_worker".into(), "mash_officer".into()],
        }
    }
}

/// `[protocols]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolsConfig {
    /// The folder of protocol files (`*.toml`).
    pub dir: PathBuf,
}

impl Default for ProtocolsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("protocols"),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `kinship=debug,info`; `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable did not parse, or named an unknown key.
    #[error("config: {0}")]
    Parse(String),
    /// Values parsed but are not usable; one line per problem.
    #[error("{}", .0.iter().map(|p| format!("config: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

impl Config {
    /// Reads `file` (when given), then the environment. Call [`Config::validate`] after
    /// applying command-line overrides.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Parse(format!(
                    "file `{}` does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment
            // Only `KINSHIP_<SECTION>__<KEY>` names a key: other KINSHIP_ variables (such as
            // KINSHIP_CONFIG, or a test suite's own) are not configuration.
            .merge(
                Env::prefixed("KINSHIP_")
                    .filter(|k| k.as_str().contains("__"))
                    .split("__")
                    .lowercase(true),
            )
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            );
        let config: Config = figment.extract().map_err(|e| {
            ConfigError::Parse(
                e.into_iter()
                    .map(|e| e.to_string().replace("default.", ""))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Ok(config)
    }

    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.database.validate(&mut problems);
        self.auth.validate(&mut problems);
        self.audit.validate(&mut problems);
        self.notifications.validate(&mut problems);
        if self.server.max_body_bytes < 1024 {
            problems.push("server.max_body_bytes: must be at least 1024".into());
        }
        if self.server.request_timeout_seconds == 0 {
            problems.push("server.request_timeout_seconds: must be at least 1".into());
        }
        if self.graphql.max_depth == 0 || self.graphql.max_complexity == 0 {
            problems.push("graphql: max_depth and max_complexity must be at least 1".into());
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.connectors.iter().enumerate() {
            let id_ok = !c.id.is_empty()
                && c.id
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
            if !id_ok {
                problems.push(format!(
                    "connectors[{i}].id: `{}` must be lowercase letters, digits and hyphens",
                    c.id
                ));
            }
            if !ids.insert(c.id.as_str()) {
                problems.push(format!("connectors[{i}].id: `{}` is used twice", c.id));
            }
            if c.schedule_seconds == Some(0) {
                problems.push(format!(
                    "connectors[{i}].schedule_seconds: must be at least 1"
                ));
            }
            if c.rate_per_second
                .is_some_and(|r| !r.is_finite() || r <= 0.0)
            {
                problems.push(format!("connectors[{i}].rate_per_second: must be above 0"));
            }
            if !c.settings.is_object() {
                problems.push(format!("connectors[{i}].settings: must be a table"));
            }
        }
        problems.extend(self.linkage.problem());
        for role in &self.linkage.review_roles {
            if role.parse::<crate::model::Role>().is_err() {
                problems.push(format!(
                    "linkage.review_roles: `{role}` is not a role in the catalogue"
                ));
            }
        }
        for role in &self.practice.front_door_roles {
            if role.parse::<crate::model::Role>().is_err() {
                problems.push(format!(
                    "practice.front_door_roles: `{role}` is not a role in the catalogue"
                ));
            }
        }
        for role in &self.practice.shield_roles {
            if role.parse::<crate::model::Role>().is_err() {
                problems.push(format!(
                    "practice.shield_roles: `{role}` is not a role in the catalogue"
                ));
            }
        }
        if self.practice.referral_decision_hours == 0 {
            problems.push("practice.referral_decision_hours must be at least 1".into());
        }
        if self.sync.max_attempts == 0 || self.sync.max_concurrent == 0 {
            problems.push("sync: max_attempts and max_concurrent must be at least 1".into());
        }
        if !self.protocols.dir.is_dir() {
            problems.push(format!(
                "protocols.dir: `{}` is not a folder",
                self.protocols.dir.display()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Checks only what a command that opens the database needs (`migrate`, `audit verify`).
    pub fn validate_store(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.database.validate(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The configuration `kinship demo` runs with: a SQLite file, a fresh random shared
    /// secret (so demo tokens die with the process) and the shipped protocols.
    pub fn demo(db: &Path, port: u16, protocols: PathBuf) -> Self {
        let secret: String = {
            use rand::Rng;
            let bytes: [u8; 32] = rand::rng().random();
            hex::encode(bytes)
        };
        Config {
            server: ServerConfig {
                port,
                ..ServerConfig::default()
            },
            database: DatabaseConfig {
                url: SecretString::from(db.display().to_string()),
                ..DatabaseConfig::default()
            },
            auth: AuthConfig {
                shared_secret: Some(SecretString::from(secret)),
                ..AuthConfig::default()
            },
            protocols: ProtocolsConfig { dir: protocols },
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Config {
        let mut c = Config::default();
        c.auth.shared_secret = Some(SecretString::from("x".repeat(40)));
        c.protocols.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols");
        c
    }

    #[test]
    fn sqlite_paths_and_urls_become_store_urls() {
        let mut d = DatabaseConfig {
            url: SecretString::from("./k.db"),
            ..DatabaseConfig::default()
        };
        assert_eq!(d.store_url(), "sqlite://./k.db?mode=rwc");
        d.url = SecretString::from("sqlite://k.db");
        assert_eq!(d.store_url(), "sqlite://k.db?mode=rwc");
        d.url = SecretString::from("postgres://u:p@127.0.0.1/k");
        assert_eq!(d.store_url(), "postgres://u:p@127.0.0.1/k");
    }

    #[test]
    fn validate_reports_every_problem_and_no_secret() {
        let mut c = valid();
        c.database.url = SecretString::from("mysql://root:hunter2@db/k");
        c.auth.shared_secret = Some(SecretString::from("short-hunter2"));
        c.auth.algorithms = vec!["HS256".into(), "none".into()];
        let err = c.validate().expect_err("invalid").to_string();
        assert!(err.contains("config: database.url: expected a sqlite path or postgres:// URL"));
        assert!(err.contains("config: auth.shared_secret: must be at least 32 bytes"));
        assert!(err.contains("config: auth.algorithms: `none` is not a supported algorithm"));
        assert!(!err.contains("hunter2"), "a secret was echoed: {err}");
        assert_eq!(err.lines().count(), 3, "one line per problem: {err}");
    }

    #[test]
    fn the_example_file_names_every_key_correctly() {
        let example = include_str!("../kinship.example.toml");
        let parsed: Result<Config, _> = toml::from_str(example);
        assert!(parsed.is_ok(), "kinship.example.toml: {:?}", parsed.err());
    }

    #[test]
    fn a_valid_config_validates() {
        assert!(valid().validate().is_ok());
    }
}
