//! `spawn_app`: a hub on 127.0.0.1:0 over a fresh database, with a generated population.

use std::path::PathBuf;

use kinship::cli::hub;
use kinship::config::Config;
use kinship::model::{OrganisationId, Principal, Role};
use kinship::population::{self, Population, PopulationSpec};
use kinship::server::auth::{Claims, TokenSigner};
use kinship::store::log::LogRow;
use kinship::store::{Backend, Store, StoreOptions, load};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The databases to run every test on: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite];
    if std::env::var("KINSHIP_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        dbs.push(Db::Postgres);
    }
    dbs
}

/// A running hub and what a test needs to talk to it and inspect what it did.
pub struct TestApp {
    pub db: Db,
    /// The database's URL, for a second hub over the same database.
    pub db_url: String,
    pub url: String,
    pub base: String,
    pub client: reqwest::Client,
    pub signer: TokenSigner,
    pub store: Store,
    pub population: Population,
    /// The configuration the hub runs with, for a second hub over the same database.
    pub config: Config,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The hub's notification worker.
    notifier: Option<kinship::notify::Running>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    /// Stops the hub (server and notification worker) and keeps its database: a crash.
    pub fn stop(&mut self) {
        self.server.abort();
        self.notifier = None;
    }
}

fn protocols() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols")
}

pub async fn fresh_database(db: Db, dir: &std::path::Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Db::Postgres => {
            let admin = std::env::var("KINSHIP_TEST_POSTGRES_URL").expect("postgres url");
            let name = format!("kinship_t_{}", uuid::Uuid::new_v4().simple());
            let store = Store::connect(&StoreOptions::new(admin.clone()))
                .await
                .expect("admin connection");
            store
                .conn()
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            store.close().await.expect("close admin connection");
            let (base, _) = admin.rsplit_once('/').expect("url with a database");
            format!("{base}/{name}")
        }
    }
}

/// Starts a hub over a fresh database holding `population`.
pub async fn spawn_with(db: Db, population: Population) -> TestApp {
    spawn_configured(db, population, |_| {}).await
}

/// Starts a hub over a fresh database holding `population`, with configuration changes.
pub async fn spawn_configured(
    db: Db,
    population: Population,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(db, dir.path()).await;
    let mut config = Config::demo(&dir.path().join("unused.db"), 0, protocols());
    config.database.url = url.clone().into();
    tweak(&mut config);
    config.validate().expect("test config is valid");
    let store = Store::connect(&StoreOptions::new(url))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    assert_eq!(
        store.backend(),
        match db {
            Db::Sqlite => Backend::Sqlite,
            Db::Postgres => Backend::Postgres,
        }
    );
    load::population(store.conn(), &population, chrono::Utc::now())
        .await
        .expect("load population");
    let started = hub::start(&config, store.clone()).await.expect("start hub");
    let addr = started.local_addr().expect("bound");
    let server = tokio::spawn(kinship::server::serve(
        started.listener,
        started.router,
        std::future::pending(),
    ));
    TestApp {
        db,
        db_url: config.database.store_url(),
        url: format!("http://{addr}/graphql"),
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        signer: TokenSigner::from_config(&config.auth).expect("demo config signs"),
        store,
        population,
        config,
        _dir: dir,
        server,
        notifier: Some(started.notifier),
    }
}

/// Starts a hub over the generator's population of `families` families (seed 7).
pub async fn spawn_app(db: Db, families: usize) -> TestApp {
    spawn_with(db, population::generate(&PopulationSpec::new(families, 7))).await
}

/// A principal from parts.
pub fn principal(sub: &str, org: &str, role: Role) -> Principal {
    Principal {
        subject: sub.into(),
        organisation: org.parse::<OrganisationId>().expect("organisation id"),
        roles: vec![role],
    }
}

/// A GraphQL response: the HTTP status, content type and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub request_id: Option<String>,
    pub body: Value,
}

impl Reply {
    /// The `extensions.code` of every error.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errs| {
                errs.iter()
                    .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first error whose path ends in `field`.
    pub fn error_at(&self, field: &str) -> Option<&Value> {
        self.body["errors"].as_array()?.iter().find(|e| {
            e["path"]
                .as_array()
                .and_then(|p| p.last())
                .is_some_and(|l| l == field)
        })
    }
}

impl TestApp {
    /// A token for a principal.
    pub fn token(&self, p: &Principal) -> String {
        self.signer.sign(p).expect("sign")
    }

    /// A token with exactly these claims.
    pub fn token_with(&self, claims: &Claims) -> String {
        self.signer.sign_claims(claims).expect("sign")
    }

    /// POSTs a query as `p` with `purpose` (and optional extra headers).
    pub async fn query(
        &self,
        p: &Principal,
        purpose: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Reply {
        self.post(
            Some(&self.token(p)),
            purpose,
            &[],
            json!({ "query": query, "variables": variables }),
        )
        .await
    }

    /// POSTs a raw body with a bearer token, purpose and headers.
    pub async fn post(
        &self,
        token: Option<&str>,
        purpose: Option<&str>,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        let mut req = self.client.post(&self.url).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(p) = purpose {
            req = req.header("Kinship-Purpose", p);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(req.send().await.expect("request sent")).await
    }

    /// Every access-log entry, oldest first.
    pub async fn log(&self) -> Vec<LogRow> {
        kinship::store::log::entries(self.store.conn(), 1, 100_000)
            .await
            .expect("read access log")
    }

    /// SQL statements the hub has run so far, read from its `/metrics`.
    pub async fn statements(&self) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .find_map(|l| l.strip_prefix("kinship_db_statements_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("statement counter")
    }

    /// Runs statements written for this backend directly on the database (for breaking
    /// things behind the hub's back).
    pub async fn exec(&self, sqlite: &[&str], postgres: &[&str]) {
        let (backend, statements) = match self.db {
            Db::Sqlite => (sea_orm::DbBackend::Sqlite, sqlite),
            Db::Postgres => (sea_orm::DbBackend::Postgres, postgres),
        };
        for sql in statements {
            self.store
                .conn()
                .execute_raw(Statement::from_string(backend, *sql))
                .await
                .expect("direct SQL");
        }
    }
}

/// Reads a response into a [`Reply`].
pub async fn reply(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let request_id = header("x-request-id");
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        content_type,
        request_id,
        body,
    }
}

/// Runs `test` on every backend, naming the backend if it fails.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in backends() {
        eprintln!("-- on {db:?}");
        test(db).await;
    }
}

/// A consent record about `person` for `purpose`, given by a parent, covering every category
/// and organisation, recorded by `by` at `at`.
pub fn consent(
    person: kinship::model::PersonId,
    state: kinship::model::ConsentState,
    purpose: kinship::model::Purpose,
    by: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> kinship::model::Consent {
    kinship::model::Consent {
        id: uuid::Uuid::new_v4(),
        person_id: person,
        state,
        given_by: "parent".into(),
        purposes: vec![purpose],
        categories: vec![],
        organisations: vec![],
        recorded_by: by.into(),
        recorded_at: at,
        expires_at: None,
    }
}
