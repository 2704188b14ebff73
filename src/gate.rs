//! The gate: the one policy decision point between the graph and every reader.
//!
//! Every read of personal data goes through a [`RequestGate`], built per request from the
//! verified principal and the declared purpose. It loads what was asked for from the store,
//! asks the [`RuleSet`] about each (subject, category, owning organisation), releases what is
//! permitted, withholds the rest with the reason, and tallies every decision. When the request
//! ends, [`RequestGate::finish`] writes one access-log entry before the response may leave;
//! if that fails, the request fails.
//!
//! Limits: imports `store`, `audit` and `model`. Knows nothing of GraphQL or HTTP. Nothing
//! else in the crate reads personal data from the store for a client.

pub mod admin;
#[cfg(feature = "cedar")]
pub mod cedar;
pub mod consent;
pub mod decision;
pub mod error;
pub mod explain;
pub mod indicators;
pub mod kpis;
pub mod lint;
pub mod matches;
pub mod notices;
pub mod operations;
pub mod practice;
pub mod protocol;
pub mod review;
pub mod rules;
pub mod team;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::{self, AccessLog, Entry};
use crate::model::{
    Address, DataCategory, Fact, Family, FamilyId, FamilyMember, Identifier, Involvement,
    Organisation, OrganisationId, PersonId, PersonName, Principal, Purpose, Relationship, Sex,
};
use crate::store::Store;
use crate::store::graph::{self, FactFilter, SearchCriteria};

use crate::practice::indicators::IndicatorSets;
pub use decision::{ClauseRef, Decision, Reason};

/// Where indicator sets live: `indicators/` inside the protocol folder.
pub fn dir_of_indicators(protocols: Option<&std::path::Path>) -> std::path::PathBuf {
    protocols.map_or_else(
        || std::path::PathBuf::from("protocols/indicators"),
        |p| p.join("indicators"),
    )
}
pub use error::{Denial, GateError, Gated};
pub use rules::{ProtocolRules, Question, RuleSet, SubjectContext};

/// The gate shared by all requests: the store, the rules in force and the log.
#[derive(Clone)]
pub struct Gate {
    store: Store,
    rules: Arc<RwLock<Arc<dyn RuleSet>>>,
    log: AccessLog,
    /// Where the protocols are read from, for reloads.
    protocols_dir: Option<Arc<std::path::PathBuf>>,
    /// Always true, but in the baseline of `kinship bench gate` (see [`Gate::unenforced`]).
    enforce: bool,
    /// The registered operations (trusted documents).
    operations: Arc<operations::Registry>,
    /// The roles that may review, confirm, reject and split links.
    review_roles: Arc<Vec<crate::model::Role>>,
    /// The indicator sets in force.
    indicator_sets: Arc<RwLock<Arc<IndicatorSets>>>,
    /// The hub's own practice records: who holds them (the local authority running the
    /// partnership's front door), the decision window, the front door's roles.
    practice: Arc<crate::config::PracticeConfig>,
    /// Wakes notification subscriptions when this hub raises notifications.
    notices: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Who is asking and why, for one request.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub principal: Principal,
    pub purpose: Option<Purpose>,
    /// The `Kinship-Justification` header, for break-glass.
    pub justification: Option<String>,
    pub request_id: String,
    pub client_addr: Option<String>,
}

impl Gate {
    /// A gate over a store with a rule set.
    pub fn new(store: Store, rules: Arc<dyn RuleSet>) -> Self {
        Self {
            log: AccessLog::new(store.clone()),
            operations: Arc::new(operations::Registry::new(store.clone())),
            store,
            rules: Arc::new(RwLock::new(rules)),
            protocols_dir: None,
            enforce: true,
            review_roles: Arc::new(vec![crate::model::Role::DataSteward]),
            indicator_sets: Arc::new(RwLock::new(Arc::new(IndicatorSets::built_in()))),
            practice: Arc::new(crate::config::PracticeConfig::default()),
            notices: notices::channel(),
        }
    }

    /// The same gate, with these indicator sets and practice settings.
    pub fn with_practice(
        mut self,
        sets: IndicatorSets,
        practice: crate::config::PracticeConfig,
    ) -> Self {
        self.indicator_sets = Arc::new(RwLock::new(Arc::new(sets)));
        self.practice = Arc::new(practice);
        self
    }

    /// The indicator sets in force.
    pub fn indicator_sets(&self) -> Arc<IndicatorSets> {
        Arc::clone(
            &self
                .indicator_sets
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Who holds the hub's own practice records.
    pub fn practice_owner(&self) -> OrganisationId {
        self.practice.local_authority.clone()
    }

    /// The practice settings.
    pub fn practice(&self) -> &crate::config::PracticeConfig {
        &self.practice
    }

    /// The same gate, letting these roles review, confirm, reject and split links.
    pub fn with_review_roles(mut self, roles: Vec<crate::model::Role>) -> Self {
        self.review_roles = Arc::new(roles);
        self
    }

    /// A gate that neither enforces nor logs: it loads only the person nodes, releases every
    /// row without asking a rule set and writes no access-log entry. It exists so that
    /// `kinship bench gate` can measure what enforcement and logging cost, and is reachable
    /// from nothing else: no configuration, flag or request can turn a hub's gate into it.
    pub(crate) fn unenforced(store: Store) -> Self {
        Self {
            enforce: false,
            ..Self::new(store, Arc::new(ProtocolRules::new(Vec::new())))
        }
    }

    /// The store, for the notification worker's outbox (which holds ids, never content:
    /// content is read through [`RequestGate::notice`]).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The registered operations.
    pub fn operations(&self) -> &operations::Registry {
        &self.operations
    }

    /// The same gate, writing to `log` (one configured with signed checkpoints, say).
    pub fn with_log(mut self, log: AccessLog) -> Self {
        self.log = log;
        self
    }

    /// The same gate, reloadable from the protocols in `dir`.
    pub fn with_protocols_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.protocols_dir = Some(Arc::new(dir));
        self
    }

    /// Reads the protocol folder again and puts its protocols in force for requests that
    /// start from now on. A folder with a bad file changes nothing and says which file and why.
    pub async fn reload(&self) -> Result<String, protocol::ProtocolError> {
        let Some(dir) = self.protocols_dir.clone() else {
            return Err(protocol::ProtocolError::Invalid {
                path: std::path::PathBuf::new(),
                message: "this hub was started without a protocol folder".into(),
            });
        };
        let indicators_dir = dir_of_indicators(Some(dir.as_path()));
        let protocols = tokio::task::spawn_blocking(move || protocol::load_dir(&dir))
            .await
            .map_err(|e| protocol::ProtocolError::Invalid {
                path: std::path::PathBuf::new(),
                message: format!("reload stopped: {e}"),
            })??;
        let sets = tokio::task::spawn_blocking(move || IndicatorSets::load(&indicators_dir))
            .await
            .map_err(|e| protocol::ProtocolError::Invalid {
                path: std::path::PathBuf::new(),
                message: format!("reload stopped: {e}"),
            })?
            .map_err(|e| protocol::ProtocolError::Invalid {
                path: std::path::PathBuf::new(),
                message: e.to_string(),
            })?;
        let rules = ProtocolRules::new(protocols);
        let fingerprint = rules.fingerprint().to_owned();
        self.replace_rules(Arc::new(rules));
        *self
            .indicator_sets
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(sets);
        tracing::info!(protocols = %fingerprint, "protocols reloaded");
        Ok(fingerprint)
    }

    /// The rule set in force.
    pub fn rules(&self) -> Arc<dyn RuleSet> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts a new rule set in force for requests that start from now on.
    pub fn replace_rules(&self, rules: Arc<dyn RuleSet>) {
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = rules;
    }

    /// The access log.
    pub fn log(&self) -> &AccessLog {
        &self.log
    }

    /// Whether the store answers and is migrated, and protocols are loaded.
    pub async fn ready(&self) -> Result<bool, GateError> {
        self.store.ping().await?;
        Ok(self.store.is_migrated().await? && !self.rules().protocols().is_empty())
    }

    /// A gate for one request. Its decisions use one clock reading, so a request sees one
    /// consistent state of consents and involvements.
    pub fn for_request(&self, info: RequestInfo) -> RequestGate {
        RequestGate {
            inner: Arc::new(Inner {
                store: self.store.clone(),
                rules: self.rules(),
                log: self.log.clone(),
                now: Utc::now(),
                info,
                contexts: tokio::sync::Mutex::new(HashMap::new()),
                decisions: Mutex::new(HashMap::new()),
                tally: Mutex::new(BTreeMap::new()),
                actions: Mutex::new(Vec::new()),
                enforce: self.enforce,
                gate: self.clone(),
            }),
        }
    }
}

/// What was decided and released for one (subject, category, owner) in a request.
#[derive(Clone, Debug)]
struct Tally {
    decision: Decision,
    released: u64,
    withheld: u64,
}

type DecisionKey = (PersonId, DataCategory, OrganisationId);

struct Inner {
    store: Store,
    rules: Arc<dyn RuleSet>,
    log: AccessLog,
    now: DateTime<Utc>,
    info: RequestInfo,
    /// Subject contexts loaded so far; an async lock so concurrent loaders wait for one load.
    contexts: tokio::sync::Mutex<HashMap<PersonId, Arc<SubjectContext>>>,
    decisions: Mutex<HashMap<DecisionKey, Decision>>,
    tally: Mutex<BTreeMap<DecisionKey, Tally>>,
    /// What the request did besides reading (recorded consent, explanations asked for).
    actions: Mutex<Vec<serde_json::Value>>,
    /// The gate it came from, for administrative operations (reloading protocols).
    gate: Gate,
    /// False only under [`Gate::unenforced`].
    enforce: bool,
}

/// Identity data of a person as released: names and identifiers from the sources whose
/// protocols permit them, and date of birth and sex when at least one does.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub names: Vec<PersonName>,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Sex,
    pub identifiers: Vec<Identifier>,
}

/// Involvements as released, with how many sensitive ones were withheld: those are only
/// counted, so that the record says a further involvement exists and whom to ask.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InvolvementsRead {
    pub items: Vec<Involvement>,
    pub further: u64,
}

/// A page of facts as released, with how many matching facts were withheld.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FactsRead {
    pub facts: Vec<Fact>,
    pub withheld: u64,
}

/// What a fact list asks for: the filter and how many.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FactQuery {
    pub filter: FactFilter,
    pub limit: u64,
}

/// A family's members as released, with how many memberships were withheld.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MembersRead {
    pub members: Vec<FamilyMember>,
    pub withheld: u64,
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SearchPage {
    pub persons: Vec<PersonId>,
    pub has_next: bool,
}

/// The most candidates a search examines for one page, so a search the caller may see little
/// of cannot scan the whole graph.
const SEARCH_SCAN_LIMIT: usize = 2_000;

/// The gate of one request. Cheap to clone; clones share the tally.
#[derive(Clone)]
pub struct RequestGate {
    inner: Arc<Inner>,
}

/// What the request did, for its log entry.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub operation_name: Option<String>,
    /// The id of the registered operation that ran, if it was one.
    pub registered_operation: Option<String>,
    pub query_hash: String,
    /// `ok`, or the code that failed the request.
    pub status: String,
}

impl RequestGate {
    /// Who is asking.
    pub fn principal(&self) -> &Principal {
        &self.inner.info.principal
    }

    /// Whether the caller holds one of these roles (named as configured).
    fn holds_one_of(&self, roles: &[String]) -> bool {
        self.principal()
            .roles
            .iter()
            .any(|r| roles.iter().any(|x| x == r.as_str()))
    }

    /// The indicator sets in force for this request.
    pub fn indicator_sets(&self) -> Arc<IndicatorSets> {
        self.inner.gate.indicator_sets()
    }

    /// The declared purpose.
    pub fn purpose(&self) -> Option<Purpose> {
        self.inner.info.purpose
    }

    fn require_purpose(&self) -> Result<Purpose, GateError> {
        self.purpose().ok_or(GateError::PurposeRequired)
    }

    /// Whether any personal data was read or refused so far.
    pub fn touched_personal_data(&self) -> bool {
        !self.lock_tally().is_empty()
    }

    fn lock_tally(&self) -> std::sync::MutexGuard<'_, BTreeMap<DecisionKey, Tally>> {
        self.inner
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads the subject contexts of persons not loaded yet: the principal's active
    /// involvements with them or their families, their consents and shields. Four statements
    /// per batch, whatever its size.
    async fn contexts(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Arc<SubjectContext>>, GateError> {
        let mut cache = self.inner.contexts.lock().await;
        let missing: Vec<PersonId> = ids
            .iter()
            .copied()
            .filter(|id| !cache.contains_key(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let conn = self.inner.store.conn();
            // Persons, their consents and the involvements the principal holds with them,
            // in one statement.
            let (persons, held, consents) = if self.inner.enforce {
                let p = self.principal();
                let rows = graph::subject_rows(
                    conn,
                    &missing,
                    &p.subject,
                    &p.organisation,
                    self.inner.now,
                )
                .await?;
                (rows.persons, rows.held, rows.consents)
            } else {
                (
                    graph::persons(conn, &missing).await?,
                    Vec::new(),
                    Vec::new(),
                )
            };
            // Shield orders only for the shielded: no statement for a request that meets none.
            let shielded: Vec<PersonId> = persons
                .iter()
                .filter(|p| p.shielded)
                .map(|p| p.id)
                .collect();
            let shield_orders: HashMap<PersonId, Vec<crate::model::Role>> =
                crate::store::practice::shield_roles(conn, &shielded)
                    .await?
                    .into_iter()
                    .collect();
            for id in &missing {
                let person = persons.iter().find(|x| x.id == *id);
                let involvements = held
                    .iter()
                    .filter(|(p, _)| p == id)
                    .map(|(_, kind)| *kind)
                    .collect();
                cache.insert(
                    *id,
                    Arc::new(SubjectContext {
                        person: person.cloned(),
                        shielded: person.is_some_and(|x| x.shielded),
                        involvements,
                        consents: consents
                            .iter()
                            .filter(|c| c.person_id == *id)
                            .cloned()
                            .collect(),
                        shield_roles: shield_orders.get(id).cloned(),
                    }),
                );
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| cache.get(id).map(|c| (*id, Arc::clone(c))))
            .collect())
    }

    /// The decision for one (subject, category, owner), computed once per request.
    fn decide(
        &self,
        ctx: &SubjectContext,
        person: PersonId,
        category: DataCategory,
        owner: &OrganisationId,
    ) -> Decision {
        if !self.inner.enforce {
            return Decision::unenforced();
        }
        let key = (person, category, owner.clone());
        let mut memo = self
            .inner
            .decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = memo.get(&key) {
            return d.clone();
        }
        let d = self.inner.rules.decide(&Question {
            principal: self.principal(),
            purpose: self.purpose(),
            category,
            owner,
            subject: ctx,
            justified: self.inner.info.justification.is_some(),
            now: self.inner.now,
        });
        memo.insert(key, d.clone());
        d
    }

    /// Records what was released or withheld under a decision.
    fn record(&self, key: DecisionKey, decision: &Decision, released: u64, withheld: u64) {
        if !self.inner.enforce {
            return;
        }
        let mut tally = self.lock_tally();
        let t = tally.entry(key).or_insert_with(|| Tally {
            decision: decision.clone(),
            released: 0,
            withheld: 0,
        });
        t.released += released;
        t.withheld += withheld;
    }

    /// Releases the permitted items of one person's list, each item gated by its category and
    /// owner. All refused with rows present gives the refusal closest to a permit.
    fn release<T>(
        &self,
        ctx: &SubjectContext,
        person: PersonId,
        items: Vec<T>,
        key: impl Fn(&T) -> (DataCategory, &OrganisationId),
    ) -> Gated<Vec<T>> {
        let mut groups: BTreeMap<(DataCategory, OrganisationId), (Decision, u64, u64)> =
            BTreeMap::new();
        let mut released = Vec::with_capacity(items.len());
        for item in items {
            let (category, owner) = key(&item);
            let group = (category, owner.clone());
            let entry = groups
                .entry(group)
                .or_insert_with(|| (self.decide(ctx, person, category, owner), 0, 0));
            if entry.0.permits() {
                entry.1 += 1;
                released.push(item);
            } else {
                entry.2 += 1;
            }
        }
        let mut refusal: Option<Denial> = None;
        for ((category, owner), (decision, ok, withheld)) in groups {
            if !decision.permits() && refusal.as_ref().is_none_or(|r| decision.reason > r.reason) {
                refusal = Some(denial(category, &decision));
            }
            self.record((person, category, owner), &decision, ok, withheld);
        }
        match refusal {
            Some(r) if released.is_empty() => Err(r),
            _ => Ok(released),
        }
    }

    /// Groups rows by person, keeping every requested id (empty when it has no rows).
    fn by_person<T>(
        ids: &[PersonId],
        rows: Vec<T>,
        person: impl Fn(&T) -> PersonId,
    ) -> HashMap<PersonId, Vec<T>> {
        let mut out: HashMap<PersonId, Vec<T>> = ids.iter().map(|id| (*id, Vec::new())).collect();
        for row in rows {
            if let Some(v) = out.get_mut(&person(&row)) {
                v.push(row);
            }
        }
        out
    }

    /// Which of these ids name a person. An id is a random key and says nothing about anyone,
    /// so this needs no purpose and is not logged.
    pub async fn existing(&self, ids: &[PersonId]) -> Result<BTreeSet<PersonId>, GateError> {
        let persons = graph::persons(self.inner.store.conn(), ids).await?;
        Ok(persons.into_iter().map(|p| p.id).collect())
    }

    /// Identity data (`person.identity`; PNC IDs as `police.youth_justice`).
    pub async fn identity(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Identity>>, GateError> {
        self.require_purpose()?;
        let contexts = self.contexts(ids).await?;
        let conn = self.inner.store.conn();
        let persons: Vec<_> = ids
            .iter()
            .filter_map(|id| contexts.get(id).and_then(|c| c.person.clone()))
            .collect();
        let mut names = Self::by_person(ids, graph::names(conn, ids).await?, |n| n.person_id);
        let mut idents =
            Self::by_person(ids, graph::identifiers(conn, ids).await?, |i| i.person_id);
        let mut out = HashMap::new();
        for person in persons {
            let Some(ctx) = contexts.get(&person.id) else {
                continue;
            };
            let names = names.remove(&person.id).unwrap_or_default();
            let (idents, pnc): (Vec<_>, Vec<_>) = idents
                .remove(&person.id)
                .unwrap_or_default()
                .into_iter()
                .partition(|i| i.category() == DataCategory::PersonIdentity);
            let names = self.release(ctx, person.id, names, |n| {
                (DataCategory::PersonIdentity, &n.organisation)
            });
            let idents = self.release(ctx, person.id, idents, |i| (i.category(), &i.organisation));
            let pnc = self.release(ctx, person.id, pnc, |i| (i.category(), &i.organisation));
            // Date of birth and sex sit on the person node; they are released when at least
            // one source of the person's identity data may be read.
            let any_permitted = names.as_ref().is_ok_and(|v| !v.is_empty())
                || idents.as_ref().is_ok_and(|v| !v.is_empty());
            let identity = if any_permitted {
                let mut identifiers = idents.unwrap_or_default();
                identifiers.extend(pnc.unwrap_or_default());
                Ok(Identity {
                    names: names.unwrap_or_default(),
                    date_of_birth: person.date_of_birth,
                    sex: person.sex,
                    identifiers,
                })
            } else {
                Err(names.err().or(idents.err()).unwrap_or(Denial {
                    category: DataCategory::PersonIdentity,
                    reason: Reason::NoActiveProtocol,
                    by: None,
                    break_glass_available: false,
                }))
            };
            out.insert(person.id, identity);
        }
        Ok(out)
    }

    /// Addresses (`person.contact`).
    pub async fn addresses(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Vec<Address>>>, GateError> {
        self.require_purpose()?;
        let rows = graph::addresses(self.inner.store.conn(), ids).await?;
        self.release_lists(
            ids,
            rows,
            |a| a.person_id,
            |a| (DataCategory::PersonContact, &a.organisation),
        )
        .await
    }

    /// Declared relationships (`person.relationships`).
    pub async fn relationships(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Vec<Relationship>>>, GateError> {
        self.require_purpose()?;
        let rows = graph::relationships(self.inner.store.conn(), ids).await?;
        self.release_lists(
            ids,
            rows,
            |r| r.person_id,
            |r| (DataCategory::PersonRelationships, &r.organisation),
        )
        .await
    }

    /// The families a person belongs to (`person.relationships`).
    pub async fn memberships(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<Vec<FamilyMember>>>, GateError> {
        self.require_purpose()?;
        let rows = graph::memberships(self.inner.store.conn(), ids).await?;
        self.release_lists(
            ids,
            rows,
            |m| m.person_id,
            |m| (DataCategory::PersonRelationships, &m.organisation),
        )
        .await
    }

    /// Involvements with a person or their families (`person.involvements`). One with a
    /// sensitive service is governed as that service's category; where that is refused it is
    /// counted in `further`, never shown and never named in a refusal.
    pub async fn involvements(
        &self,
        ids: &[PersonId],
    ) -> Result<HashMap<PersonId, Gated<InvolvementsRead>>, GateError> {
        self.require_purpose()?;
        let conn = self.inner.store.conn();
        let memberships = graph::memberships(conn, ids).await?;
        let families = graph::family_ids(&memberships);
        let rows = graph::involvements(conn, ids, &families).await?;
        // An involvement with a family is an involvement with each child in it.
        let mut per_person: Vec<(PersonId, Involvement)> = Vec::new();
        for inv in rows {
            if let Some(p) = inv.person_id {
                per_person.push((p, inv));
            } else if let Some(f) = inv.family_id {
                for m in memberships.iter().filter(|m| m.family_id == f) {
                    per_person.push((m.person_id, inv.clone()));
                }
            }
        }
        let (sensitive, plain): (Vec<_>, Vec<_>) = per_person
            .into_iter()
            .partition(|(_, i)| i.category.is_some());
        let released = self
            .release_lists(
                ids,
                plain,
                |(p, _)| *p,
                |(_, i)| (DataCategory::PersonInvolvements, &i.organisation),
            )
            .await?;
        let mut out: HashMap<PersonId, Gated<InvolvementsRead>> = released
            .into_iter()
            .map(|(p, r)| {
                let items = r.map(|v| v.into_iter().map(|(_, i)| i).collect());
                (p, items.map(|items| InvolvementsRead { items, further: 0 }))
            })
            .collect();
        let contexts = self.contexts(ids).await?;
        for (p, inv) in sensitive {
            let Some(ctx) = contexts.get(&p) else {
                continue;
            };
            let category = inv.governed_as();
            let d = self.decide(ctx, p, category, &inv.organisation);
            let key = (p, category, inv.organisation.clone());
            let read = out
                .entry(p)
                .or_insert_with(|| Ok(InvolvementsRead::default()));
            match read {
                Ok(read) if d.permits() => {
                    self.record(key, &d, 1, 0);
                    read.items.push(inv);
                }
                Ok(read) => {
                    self.record(key, &d, 0, 1);
                    read.further += 1;
                }
                Err(_) => self.record(key, &d, 0, 1),
            }
        }
        Ok(out)
    }

    async fn release_lists<T>(
        &self,
        ids: &[PersonId],
        rows: Vec<T>,
        person: impl Fn(&T) -> PersonId,
        key: impl Fn(&T) -> (DataCategory, &OrganisationId),
    ) -> Result<HashMap<PersonId, Gated<Vec<T>>>, GateError> {
        let contexts = self.contexts(ids).await?;
        let grouped = Self::by_person(ids, rows, person);
        Ok(grouped
            .into_iter()
            .filter_map(|(id, rows)| {
                let ctx = contexts.get(&id)?;
                ctx.person.as_ref()?;
                Some((id, self.release(ctx, id, rows, &key)))
            })
            .collect())
    }

    /// Families by id. A family node holds no personal data itself; its members are gated.
    pub async fn families(&self, ids: &[FamilyId]) -> Result<HashMap<FamilyId, Family>, GateError> {
        let rows = graph::families(self.inner.store.conn(), ids).await?;
        Ok(rows.into_iter().map(|f| (f.id, f)).collect())
    }

    /// The members of families, each membership gated as that member's `person.relationships`.
    pub async fn family_members(
        &self,
        ids: &[FamilyId],
    ) -> Result<HashMap<FamilyId, MembersRead>, GateError> {
        self.require_purpose()?;
        let rows = graph::members(self.inner.store.conn(), ids).await?;
        let persons: Vec<PersonId> = rows
            .iter()
            .map(|m| m.person_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let contexts = self.contexts(&persons).await?;
        let mut out: HashMap<FamilyId, MembersRead> =
            ids.iter().map(|id| (*id, MembersRead::default())).collect();
        for m in rows {
            let Some(ctx) = contexts.get(&m.person_id) else {
                continue;
            };
            let d = self.decide(
                ctx,
                m.person_id,
                DataCategory::PersonRelationships,
                &m.organisation,
            );
            let key = (
                m.person_id,
                DataCategory::PersonRelationships,
                m.organisation.clone(),
            );
            let read = out.entry(m.family_id).or_default();
            if d.permits() {
                self.record(key, &d, 1, 0);
                read.members.push(m);
            } else {
                self.record(key, &d, 0, 1);
                read.withheld += 1;
            }
        }
        Ok(out)
    }

    /// Facts for each (person, query): the newest permitted facts, with a count of matching
    /// facts withheld. Two statements per distinct query, whatever the number of persons.
    pub async fn facts(
        &self,
        keys: &[(PersonId, FactQuery)],
    ) -> Result<HashMap<(PersonId, FactQuery), FactsRead>, GateError> {
        self.require_purpose()?;
        let persons: Vec<PersonId> = keys.iter().map(|(p, _)| *p).collect();
        let contexts = self.contexts(&persons).await?;
        let mut by_query: HashMap<&FactQuery, Vec<PersonId>> = HashMap::new();
        for (p, q) in keys {
            by_query.entry(q).or_default().push(*p);
        }
        let conn = self.inner.store.conn();
        let mut out = HashMap::new();
        for (query, persons) in by_query {
            let groups = graph::fact_groups(conn, &persons, &query.filter).await?;
            let mut allowed: BTreeMap<PersonId, Vec<(DataCategory, OrganisationId)>> =
                BTreeMap::new();
            let mut withheld: HashMap<PersonId, u64> = HashMap::new();
            let mut decisions: HashMap<(PersonId, DataCategory, OrganisationId), Decision> =
                HashMap::new();
            for g in &groups {
                let Some(ctx) = contexts.get(&g.person_id) else {
                    continue;
                };
                let d = self.decide(ctx, g.person_id, g.category, &g.organisation);
                if d.permits() {
                    allowed
                        .entry(g.person_id)
                        .or_default()
                        .push((g.category, g.organisation.clone()));
                } else {
                    *withheld.entry(g.person_id).or_default() += g.count;
                    self.record(
                        (g.person_id, g.category, g.organisation.clone()),
                        &d,
                        0,
                        g.count,
                    );
                }
                decisions.insert((g.person_id, g.category, g.organisation.clone()), d);
            }
            let allowed: Vec<_> = allowed.into_iter().collect();
            let facts = graph::facts_in_groups(conn, &allowed, &query.filter, query.limit).await?;
            let mut per_person: HashMap<PersonId, Vec<Fact>> = HashMap::new();
            for mut fact in facts {
                let key = (fact.person_id, fact.category, fact.organisation.clone());
                if let Some(d) = decisions.get(&key) {
                    if let Some(fields) = &d.fields {
                        // A clause that limits fields limits the free-text summary too: it
                        // may say more than the fields it names.
                        fact.payload = keep_fields(fact.payload, fields);
                        fact.summary = limited_summary(d);
                    }
                    self.record(key, d, 1, 0);
                }
                per_person.entry(fact.person_id).or_default().push(fact);
            }
            for p in persons {
                out.insert(
                    (p, query.clone()),
                    FactsRead {
                        facts: per_person.remove(&p).unwrap_or_default(),
                        withheld: withheld.get(&p).copied().unwrap_or(0),
                    },
                );
            }
        }
        Ok(out)
    }

    /// Persons matching `criteria` whose identity the caller may see, a page at a time.
    /// Candidates the caller may not see are left out and recorded as refused, so the board
    /// sees searches that hit records beyond someone's remit.
    pub async fn search(
        &self,
        criteria: &SearchCriteria,
        after: Option<PersonId>,
        first: usize,
    ) -> Result<SearchPage, GateError> {
        self.require_purpose()?;
        let conn = self.inner.store.conn();
        let mut found = Vec::new();
        let mut cursor = after;
        let mut scanned = 0usize;
        let chunk = (first + 1).clamp(16, 500);
        loop {
            let candidates =
                graph::search(conn, criteria, cursor, u64::try_from(chunk).unwrap_or(500)).await?;
            let exhausted = candidates.len() < chunk;
            scanned += candidates.len();
            let identities = self.identity(&candidates).await?;
            for id in &candidates {
                if identities.get(id).is_some_and(Result::is_ok) {
                    found.push(*id);
                    if found.len() > first {
                        return Ok(SearchPage {
                            persons: found[..first].to_vec(),
                            has_next: true,
                        });
                    }
                }
            }
            cursor = candidates.last().copied();
            if exhausted || scanned >= SEARCH_SCAN_LIMIT {
                return Ok(SearchPage {
                    persons: found,
                    has_next: !exhausted,
                });
            }
        }
    }

    /// Organisations by id (not personal data).
    pub async fn organisations(
        &self,
        ids: &[OrganisationId],
    ) -> Result<HashMap<OrganisationId, Organisation>, GateError> {
        let rows = graph::organisations(self.inner.store.conn(), ids).await?;
        Ok(rows.into_iter().map(|o| (o.id.clone(), o)).collect())
    }

    /// Writes the request's access-log entry if it read or refused any personal data. The
    /// response must not leave before this returns `Ok`.
    pub async fn finish(&self, outcome: Outcome) -> Result<Option<i64>, GateError> {
        if !self.inner.enforce {
            return Ok(None);
        }
        let (reads, bases): (Vec<audit::Read>, BTreeMap<String, String>) = {
            let tally = self.lock_tally();
            let bases = tally
                .values()
                .filter(|t| t.decision.permits())
                .filter_map(|t| {
                    let by = t.decision.by.as_ref()?;
                    let key = audit::clause_key(&by.protocol, &by.version, by.clause.as_deref()?);
                    Some((key, t.decision.basis.as_deref()?.to_owned()))
                })
                .collect();
            let reads = tally
                .iter()
                .map(|((subject, category, owner), t)| audit::Read {
                    subject: *subject,
                    category: *category,
                    owner: owner.clone(),
                    decision: t.decision.reason.as_str().to_owned(),
                    protocol: t.decision.by.as_ref().map(|b| b.protocol.to_string()),
                    protocol_version: t.decision.by.as_ref().map(|b| b.version.to_string()),
                    clause: t
                        .decision
                        .by
                        .as_ref()
                        .and_then(|b| b.clause.as_ref().map(|c| c.to_string())),
                    released: t.released,
                    withheld: t.withheld,
                    review_overdue: t.decision.review_overdue,
                    notify_owner: t.decision.notify_owner,
                    obligations: t
                        .decision
                        .obligations()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                })
                .collect();
            (reads, bases)
        };
        let actions = std::mem::take(
            &mut *self
                .inner
                .actions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if reads.is_empty() && actions.is_empty() {
            return Ok(None);
        }
        let info = &self.inner.info;
        let entry = Entry {
            at: self.inner.now,
            request_id: info.request_id.clone(),
            client_addr: info.client_addr.clone(),
            principal: info.principal.clone(),
            purpose: info.purpose,
            justification: info.justification.clone(),
            operation_name: outcome.operation_name,
            registered_operation: outcome.registered_operation,
            query_hash: outcome.query_hash,
            outcome: outcome.status,
            rules: self.inner.rules.fingerprint().to_owned(),
            reads,
            bases,
            actions,
        };
        Ok(Some(self.inner.log.append(&entry).await?))
    }
}

fn limited_summary(d: &Decision) -> String {
    match &d.by {
        Some(ClauseRef {
            protocol,
            clause: Some(clause),
            ..
        }) => format!("details limited to the fields {protocol} clause {clause} releases"),
        _ => "details limited by protocol".to_owned(),
    }
}

/// Keeps only the named top-level keys of a JSON object payload.
fn keep_fields(payload: serde_json::Value, fields: &[String]) -> serde_json::Value {
    match payload {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect(),
        ),
        _ => serde_json::Value::Null,
    }
}

fn denial(category: DataCategory, d: &Decision) -> Denial {
    Denial {
        category,
        reason: d.reason,
        by: d.by.clone(),
        break_glass_available: d.break_glass_available,
    }
}
