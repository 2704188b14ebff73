//! The generator behind [`generate`]: one seeded pass over families, then practitioners, then
//! the involvements that tie them to children.
//!
//! Determinism is the contract: every id, name, date and choice comes from one
//! `ChaCha8Rng` seeded with `spec.seed`, every time is derived from `spec.as_of`, and only
//! vectors and `BTreeMap`s are iterated. The same spec gives the same population byte for byte.
//!
//! Risk clusters as it does in life: each family draws a risk tier first, and the tier raises
//! the odds of domestic abuse, referrals, poor attendance, ED visits and so on together, so the
//! few families known to several agencies are the same families.
//!
//! Work is linear in the number of families: each family is built, linked to its source
//! records and flushed before the next; nothing scans the whole population.
//!
//! Limits: pure computation, no IO, no clock; imports `model` only.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::names::{self, Heritage};
use super::{Population, PopulationSpec, Practitioner};
use crate::model::{
    Address, Agency, AgencyKind, Consent, ConsentState, DataCategory, Fact, FactId, Family,
    FamilyId, FamilyKind, FamilyMember, Identifier, IdentifierSystem, Involvement, InvolvementId,
    InvolvementKind, NhsNumber, Organisation, OrganisationId, Person, PersonId, PersonName, PncId,
    Principal, Purpose, Relationship, RelationshipKind, Role, Sex, SourceRecord, SourceRecordId,
    Upn,
};

/// The local authority's number: the `LA` of every LAESTAB and UPN, and of `la:999:<n>` ids.
const LA_CODE: u16 = 999;

/// Builds the population a spec describes. The same spec always gives the same population.
pub fn generate(spec: &PopulationSpec) -> Population {
    let mut g = Generator::new(spec);
    g.organisations();
    g.reserve();
    for index in 0..spec.families {
        g.family(index);
    }
    g.practitioners();
    g.involvements();
    g.pop
}

// ---------------------------------------------------------------------------------------------
// Shared state and small helpers
// ---------------------------------------------------------------------------------------------

/// An index into `Population::organisations`.
type OrgIx = usize;

/// The organisations every family is drawn against.
#[derive(Default)]
struct Orgs {
    la: OrgIx,
    police: OrgIx,
    acute: OrgIx,
    community: OrgIx,
    mental_health: OrgIx,
    gps: Vec<OrgIx>,
    primaries: Vec<OrgIx>,
    secondaries: Vec<OrgIx>,
}

/// What a fact is: its kind, the category its content belongs to, the sector that sends it,
/// and how long (in minutes) the source usually takes to record it.
struct Kind {
    name: &'static str,
    category: DataCategory,
    agency: Agency,
    lag: (i64, i64),
}

macro_rules! kinds {
    ($($konst:ident = $name:literal, $cat:ident, $agency:ident, $lag:expr;)+) => {
        $(const $konst: Kind = Kind {
            name: $name,
            category: DataCategory::$cat,
            agency: Agency::$agency,
            lag: $lag,
        };)+
    };
}

const HOUR: i64 = 60;
const DAY: i64 = 24 * HOUR;

kinds! {
    ENROLMENT = "enrolment", EducationEnrolment, Education, (HOUR, 3 * DAY);
    ATTENDANCE_SUMMARY = "attendance_summary", EducationAttendance, Education, (2 * DAY, 10 * DAY);
    EXCLUSION = "exclusion", EducationExclusions, Education, (HOUR, 2 * DAY);
    FSM_PERIOD = "fsm_period", EducationFsm, Education, (HOUR, 7 * DAY);
    SEN_PROVISION = "sen_provision", EducationSen, Education, (DAY, 14 * DAY);
    DEVELOPMENT_REVIEW = "development_review", HealthDevelopment, Health, (30, 2 * DAY);
    IMMUNISATION = "immunisation", HealthDevelopment, Health, (10, DAY);
    CONDITION = "condition", HealthCondition, Health, (10, DAY);
    MENTAL_HEALTH_CONDITION = "mental_health_condition", HealthMentalHealth, Health, (10, DAY);
    SUBSTANCE_MISUSE_REFERRAL = "substance_misuse_referral", HealthSubstanceMisuse, Health, (HOUR, 3 * DAY);
    ED_ATTENDANCE = "ed_attendance", HealthUnscheduledCare, Health, (20, 4 * HOUR);
    SELF_HARM_ATTENDANCE = "self_harm_attendance", HealthMentalHealth, Health, (20, 4 * HOUR);
    CAMHS_REFERRAL = "camhs_referral", HealthMentalHealth, Health, (HOUR, 3 * DAY);
    SEXUAL_HEALTH_CONTACT = "sexual_health_contact", HealthSexualHealth, Health, (10, DAY);
    DOMESTIC_ABUSE_INCIDENT = "domestic_abuse_incident", PoliceDomesticAbuse, Police, (HOUR, 2 * DAY);
    MISSING_EPISODE = "missing_episode", PoliceMissingEpisode, Police, (30, 12 * HOUR);
    EXPLOITATION_CONCERN = "exploitation_concern", PoliceExploitation, Police, (HOUR, 3 * DAY);
    YOUTH_JUSTICE_OUTCOME = "youth_justice_outcome", PoliceYouthJustice, Police, (DAY, 14 * DAY);
    POLICE_INCIDENT = "police_incident", PoliceIncident, Police, (HOUR, 2 * DAY);
    CONTACT = "contact", SocialCareContactReferral, SocialCare, (10, DAY);
    REFERRAL = "referral", SocialCareContactReferral, SocialCare, (HOUR, 2 * DAY);
    ASSESSMENT = "assessment", SocialCareAssessment, SocialCare, (HOUR, 3 * DAY);
    S47_ENQUIRY = "s47_enquiry", SocialCareAssessment, SocialCare, (HOUR, 2 * DAY);
    CIN_PLAN = "cin_plan", SocialCareChildInNeed, SocialCare, (HOUR, 3 * DAY);
    CP_PLAN = "cp_plan", SocialCareChildProtection, SocialCare, (HOUR, 2 * DAY);
    CP_FLAG = "cp_flag", SocialCareChildProtectionFlag, SocialCare, (10, DAY);
    LOOKED_AFTER_EPISODE = "looked_after_episode", SocialCareLookedAfter, SocialCare, (HOUR, 2 * DAY);
    EARLY_HELP_ASSESSMENT = "early_help_assessment", EarlyHelpAssessment, EarlyHelp, (HOUR, 5 * DAY);
    TAF_PLAN = "taf_plan", EarlyHelpPlan, EarlyHelp, (HOUR, 5 * DAY);
    FAMILY_OUTCOME = "family_outcome", EarlyHelpFamilyOutcomes, EarlyHelp, (DAY, 28 * DAY);
}

/// A family's latent risk: it raises the odds of everything adverse together.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Low,
    Medium,
    High,
}

impl Tier {
    /// The probability for this tier out of three.
    fn p(self, low: f64, medium: f64, high: f64) -> f64 {
        match self {
            Tier::Low => low,
            Tier::Medium => medium,
            Tier::High => high,
        }
    }
}

/// Families the demo and benchmarks rely on are built to order; all others are drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// Family 0: a child on a CP plan after recent domestic abuse, a toddler in ED yesterday.
    /// It guarantees the first practitioners have a real child to read about.
    Showcase,
    /// A family with a teenager whose record runs to 60-150 facts.
    LongHistory,
    Ordinary,
}

/// Where a social-care case ends up after the contact.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NoFurtherActionAtContact,
    NoFurtherActionAfterAssessment,
    ChildInNeed,
    ChildProtection,
    LookedAfter,
}

/// A family's social-care case, drawn before its facts.
#[derive(Clone, Copy)]
struct Case {
    contact: NaiveDate,
    outcome: Outcome,
    /// How long the plan or episode lasts, in days.
    duration: i64,
    /// A later contact, e.g. a police notification while the case is open.
    recontact: Option<NaiveDate>,
}

/// A family's early-help episode.
#[derive(Clone, Copy)]
struct EarlyHelp {
    start: NaiveDate,
    end: Option<NaiveDate>,
    consent: Option<ConsentState>,
}

/// The roles adults play in a household.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Adult {
    Parent,
    StepParent,
}

/// How a family's adults are made up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    TwoParents,
    SingleMother,
    SingleFather,
    MotherAndStepfather,
    FatherAndStepmother,
}

/// A household address.
#[derive(Clone)]
struct Home {
    paon: String,
    street: String,
    line1: String,
    line2: Option<String>,
    town: &'static str,
    postcode: String,
    uprn: String,
}

/// A child's schooling.
#[derive(Clone)]
struct Schooling {
    nc_year: i32,
    /// The first day of Reception.
    started: NaiveDate,
    current: OrgIx,
    /// When they joined `current`.
    since: NaiveDate,
    /// A school they left for `current`, and when they started there.
    previous: Option<(OrgIx, NaiveDate)>,
    upn: Option<String>,
}

/// A span of time at an organisation: what an involvement's start and end are derived from.
#[derive(Clone, Copy)]
struct Stay {
    org: OrgIx,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
}

/// What the family pass learns about a child that an involvement will later rest on.
#[derive(Default, Clone)]
struct Track {
    social_care: Option<Stay>,
    referred: Option<DateTime<Utc>>,
    domestic_abuse: Option<DateTime<Utc>>,
    ed_recent: Vec<DateTime<Utc>>,
    placement: Option<(NaiveDate, Option<NaiveDate>)>,
    looked_after: bool,
}

/// One person while their family is being built.
struct Member {
    id: PersonId,
    adult: Option<Adult>,
    sex: Sex,
    dob: NaiveDate,
    age: u32,
    given: &'static str,
    surname: String,
    /// The NHS number in its normalised form, formatted once.
    nhs: Option<String>,
    nhs_verified: bool,
    school: Option<Schooling>,
    la_id: Option<String>,
    pnc: Option<String>,
    shielded: bool,
    /// Organisations holding a record of them, in the order they came to know them.
    known_by: Vec<OrgIx>,
    records: Vec<(OrgIx, SourceRecordId)>,
    track: Track,
}

impl Member {
    fn know(&mut self, org: OrgIx) {
        if !self.known_by.contains(&org) {
            self.known_by.push(org);
        }
    }

    fn record_at(&self, org: OrgIx) -> Option<SourceRecordId> {
        self.records
            .iter()
            .find(|(o, _)| *o == org)
            .map(|(_, r)| *r)
    }

    fn is_teen(&self) -> bool {
        self.adult.is_none() && self.age >= 13
    }
}

/// One family while it is being built; flushed into the population when done.
struct Fam {
    id: FamilyId,
    profile: Profile,
    tier: Tier,
    heritage: &'static Heritage,
    home: Home,
    home_since: NaiveDate,
    old_home: Option<(Home, NaiveDate)>,
    gp: OrgIx,
    primary: OrgIx,
    secondary: OrgIx,
    members: Vec<Member>,
    adult_count: usize,
    facts: Vec<Fact>,
    /// The sending organisation of each fact, by index, so flushing needs no lookups.
    fact_orgs: Vec<OrgIx>,
    fsm: bool,
    case: Option<Case>,
    early_help: Option<EarlyHelp>,
    domestic_abuse: Vec<DateTime<Utc>>,
}

impl Fam {
    /// Member indices of the children: members hold the adults first, then the children
    /// eldest first.
    fn children(&self) -> Range<usize> {
        self.adult_count..self.members.len()
    }

    fn adults(&self) -> Range<usize> {
        0..self.adult_count
    }
}

/// Where and when something happened to whom.
#[derive(Clone, Copy)]
struct Event {
    who: usize,
    org: OrgIx,
    when: DateTime<Utc>,
}

/// What the involvement pass needs about one child.
struct ChildNote {
    person: PersonId,
    age: u32,
    born: DateTime<Utc>,
    gp: Option<(OrgIx, Option<SourceRecordId>)>,
    school: Option<(Stay, Option<SourceRecordId>)>,
    previous_school: Option<(Stay, Option<SourceRecordId>)>,
    community: Option<SourceRecordId>,
    la: Option<SourceRecordId>,
    police: Option<SourceRecordId>,
    acute: Option<SourceRecordId>,
    track: Track,
}

/// What the involvement pass needs about one family.
struct FamilyNote {
    id: FamilyId,
    children: Range<usize>,
    early_help: Option<EarlyHelp>,
    school: Option<OrgIx>,
}

/// Practitioners by what they are assigned to, as token subjects.
#[derive(Default)]
struct Staff {
    social_workers: Vec<String>,
    mash: Vec<(String, OrgIx)>,
    health_visitors: Vec<String>,
    early_help: Vec<String>,
    ed: Vec<String>,
    police: Vec<String>,
    /// DSL subjects per organisation index (empty for non-schools).
    dsl: Vec<Vec<String>>,
}

/// Running counts that size the workforce.
#[derive(Default)]
struct Counts {
    social_care_children: usize,
    under_fives: usize,
    early_help_families: usize,
}

/// Issues unique NHS numbers from the never-issued range 999 000 000 x - 999 999 999 x.
///
/// Walking an affine permutation of the six free digits makes numbers look random while never
/// repeating; candidates without a check digit are skipped. About 909,000 numbers exist, which
/// covers roughly 200,000 families; past that, persons get no NHS number rather than a reused one.
struct NhsIssuer {
    next: u64,
    mul: u64,
    add: u64,
}

impl NhsIssuer {
    const SPAN: u64 = 1_000_000;

    fn issue(&mut self) -> Option<NhsNumber> {
        while self.next < Self::SPAN {
            let free = (self.next * self.mul + self.add) % Self::SPAN;
            self.next += 1;
            let mut first = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
            let mut rest = free;
            for slot in first[3..].iter_mut().rev() {
                *slot = u8::try_from(rest % 10).unwrap_or(0);
                rest /= 10;
            }
            if let Some(n) = NhsNumber::from_first_nine(first) {
                return Some(n);
            }
        }
        None
    }
}

/// The generator's state across families.
struct Generator<'s> {
    spec: &'s PopulationSpec,
    rng: ChaCha8Rng,
    /// Midnight at the start of `as_of`: everything generated happened before it.
    t0: DateTime<Utc>,
    terms: Vec<Term>,
    pop: Population,
    orgs: Orgs,
    /// Establishment number per organisation (0 for non-schools).
    estab: Vec<u16>,
    /// Next local key per organisation.
    local_keys: Vec<u32>,
    nhs: NhsIssuer,
    upn_serials: BTreeMap<(u16, u8), u16>,
    next_la_id: u32,
    next_pnc: u32,
    next_event: u32,
    uprn_next: u64,
    uprn_add: u64,
    long_histories: Vec<usize>,
    showcase_school: Option<OrgIx>,
    children: Vec<ChildNote>,
    families: Vec<FamilyNote>,
    counts: Counts,
    staff: Staff,
    spare_facts: Vec<Fact>,
    spare_orgs: Vec<OrgIx>,
    envelope_buf: Vec<u8>,
}

/// A completed school term.
#[derive(Clone, Copy)]
struct Term {
    name: &'static str,
    code: &'static str,
    academic_year: i32,
    start: NaiveDate,
    end: NaiveDate,
    sessions: u32,
}

/// Completed terms before `as_of`, newest first, for the last six academic years.
fn completed_terms(as_of: NaiveDate) -> Vec<Term> {
    let mut terms = Vec::new();
    for y in (as_of.year() - 6)..=as_of.year() {
        let parts = [
            ("Autumn", "AUT", (y, 9, 2), (y, 12, 19), 142),
            ("Spring", "SPR", (y + 1, 1, 6), (y + 1, 3, 27), 118),
            ("Summer", "SUM", (y + 1, 4, 14), (y + 1, 7, 21), 128),
        ];
        for (name, code, s, e, sessions) in parts {
            let (Some(start), Some(end)) = (
                NaiveDate::from_ymd_opt(s.0, s.1, s.2),
                NaiveDate::from_ymd_opt(e.0, e.1, e.2),
            ) else {
                continue;
            };
            if end < as_of {
                terms.push(Term {
                    name,
                    code,
                    academic_year: y,
                    start,
                    end,
                    sessions,
                });
            }
        }
    }
    terms.sort_by_key(|t| std::cmp::Reverse(t.end));
    terms
}

fn at(date: NaiveDate, seconds: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, 0).unwrap_or(NaiveTime::MIN);
    date.and_time(time).and_utc()
}

fn iso(date: NaiveDate) -> String {
    // By hand: strftime parsing showed up in profiles.
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn month_year(date: NaiveDate) -> String {
    date.format("%B %Y").to_string()
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

impl<'s> Generator<'s> {
    fn new(spec: &'s PopulationSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        // Multipliers coprime to 10 make the affine maps permutations, so ids never repeat.
        let nhs = NhsIssuer {
            next: 0,
            mul: 1 + 10 * rng.random_range(10_000u64..90_000) + 2,
            add: rng.random_range(0..NhsIssuer::SPAN),
        };
        let uprn_add = rng.random_range(0..10_000_000_000u64);
        let next_pnc = rng.random_range(10_000..900_000);
        let next_event = rng.random_range(1_000..20_000);
        let long = (spec.families / 400).clamp(3, 25);
        let stride = spec.families / (long + 1);
        let long_histories = if stride == 0 {
            Vec::new()
        } else {
            (1..=long).map(|j| j * stride).collect()
        };
        Self {
            spec,
            rng,
            t0: at(spec.as_of, 0),
            terms: completed_terms(spec.as_of),
            pop: Population::default(),
            orgs: Orgs::default(),
            estab: Vec::new(),
            local_keys: Vec::new(),
            nhs,
            upn_serials: BTreeMap::new(),
            next_la_id: 100_000,
            next_pnc,
            next_event,
            uprn_next: 0,
            uprn_add,
            long_histories,
            showcase_school: None,
            children: Vec::new(),
            families: Vec::new(),
            counts: Counts::default(),
            staff: Staff::default(),
            spare_facts: Vec::new(),
            spare_orgs: Vec::new(),
            envelope_buf: Vec::with_capacity(4096),
        }
    }

    // --- randomness ---------------------------------------------------------------------------

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.random_range(0..xs.len())]
    }

    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let total: u32 = xs.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        for (x, w) in xs {
            if roll < *w {
                return *x;
            }
            roll -= w;
        }
        xs[xs.len() - 1].0
    }

    fn range(&mut self, r: std::ops::RangeInclusive<i64>) -> i64 {
        self.rng.random_range(r)
    }

    fn uuid(&mut self) -> uuid::Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    /// A time on `date` between the given hours.
    fn on(&mut self, date: NaiveDate, hours: (u32, u32)) -> DateTime<Utc> {
        let secs = self.rng.random_range(hours.0 * 3600..hours.1 * 3600);
        at(date, secs)
    }

    /// The date `n` days before `as_of`.
    fn ago(&self, n: i64) -> NaiveDate {
        self.spec.as_of - days(n.max(1))
    }

    /// A day in the last `max` days, as days ago; most facts are from the last three years.
    fn recent(&mut self, max: i64) -> i64 {
        self.range(1..=max.max(1))
    }

    /// A day in the last `max` days.
    fn day_within(&mut self, max: i64) -> NaiveDate {
        let n = self.recent(max);
        self.ago(n)
    }

    /// A day a number of days ago drawn from `r`.
    fn day_in(&mut self, r: std::ops::RangeInclusive<i64>) -> NaiveDate {
        let n = self.range(r);
        self.ago(n)
    }

    fn before_now(&self, date: NaiveDate) -> bool {
        date < self.spec.as_of
    }

    /// Sizes the output from per-family averages, so the big vectors are not regrown and
    /// copied as they fill.
    fn reserve(&mut self) {
        let f = self.spec.families;
        let p = &mut self.pop;
        p.persons.reserve(f * 9 / 2);
        p.names.reserve(f * 12);
        p.identifiers.reserve(f * 7);
        p.addresses.reserve(f * 12);
        p.families.reserve(f);
        p.members.reserve(f * 9 / 2);
        p.relationships.reserve(f * 10);
        p.facts.reserve(f * 16);
        p.involvements.reserve(f * 6);
        p.source_records.reserve(f * 11);
        self.children.reserve(f * 3);
        self.families.reserve(f);
    }

    // --- organisations ------------------------------------------------------------------------

    fn add_org(&mut self, kind: AgencyKind, code: &str, name: String, estab: u16) -> OrgIx {
        self.pop.organisations.push(Organisation {
            id: OrganisationId::new(kind, code),
            name,
        });
        self.estab.push(estab);
        self.local_keys.push(0);
        self.staff.dsl.push(Vec::new());
        self.pop.organisations.len() - 1
    }

    fn org_id(&self, org: OrgIx) -> OrganisationId {
        self.pop.organisations[org].id.clone()
    }

    fn org_name(&self, org: OrgIx) -> &str {
        &self.pop.organisations[org].name
    }

    /// A unique name from a stem list and styles, prefixed by a town once the combinations run out.
    fn place_name(i: usize, offset: usize, styles: &[&str]) -> String {
        let stems = names::PLACE_STEMS.len();
        let combos = stems * styles.len();
        let stem = names::PLACE_STEMS[(i + offset) % stems];
        let base = names::styled(styles[(i / stems) % styles.len()], stem);
        if i < combos {
            base
        } else {
            let town = names::TOWNS[(i / combos) % names::TOWNS.len()].0;
            format!("{town} {base}")
        }
    }

    fn organisations(&mut self) {
        let f = self.spec.families;
        self.orgs.la = self.add_org(
            AgencyKind::LocalAuthority,
            &LA_CODE.to_string(),
            "Anyshire County Council".into(),
            0,
        );
        self.orgs.police =
            self.add_org(AgencyKind::Police, "anyshire", "Anyshire Police".into(), 0);
        self.orgs.acute = self.add_org(
            AgencyKind::AcuteTrust,
            "RX1",
            "Anyshire Royal Hospitals NHS Trust".into(),
            0,
        );
        self.orgs.community = self.add_org(
            AgencyKind::CommunityTrust,
            "RY1",
            "Anyshire Community Health NHS Trust".into(),
            0,
        );
        self.orgs.mental_health = self.add_org(
            AgencyKind::MentalHealthTrust,
            "RZ1",
            "Anyshire Mental Health NHS Foundation Trust".into(),
            0,
        );
        for i in 0..f.div_ceil(250).max(2) {
            let name = Self::place_name(i, 7, names::PRACTICE_STYLES);
            let ix = self.add_org(AgencyKind::GpPractice, &format!("Y{}", 99_001 + i), name, 0);
            self.orgs.gps.push(ix);
        }
        for i in 0..f.div_ceil(150).max(2) {
            let estab = u16::try_from(2001 + i).unwrap_or(u16::MAX);
            let name = Self::place_name(i, 0, names::PRIMARY_STYLES);
            let ix = self.add_org(
                AgencyKind::School,
                &format!("{LA_CODE}{estab:04}"),
                name,
                estab,
            );
            self.orgs.primaries.push(ix);
        }
        for i in 0..f.div_ceil(500).max(2) {
            let estab = u16::try_from(4001 + i).unwrap_or(u16::MAX);
            let name = Self::place_name(i, 23, names::SECONDARY_STYLES);
            let ix = self.add_org(
                AgencyKind::School,
                &format!("{LA_CODE}{estab:04}"),
                name,
                estab,
            );
            self.orgs.secondaries.push(ix);
        }
    }

    // --- one family ---------------------------------------------------------------------------

    fn profile(&self, index: usize) -> Profile {
        if index == 0 {
            Profile::Showcase
        } else if self.long_histories.contains(&index) {
            Profile::LongHistory
        } else {
            Profile::Ordinary
        }
    }

    fn family(&mut self, index: usize) {
        let profile = self.profile(index);
        let mut fam = self.family_frame(profile);
        self.members(&mut fam);
        self.risks(&mut fam);
        self.education_facts(&mut fam);
        self.health_facts(&mut fam);
        self.police_facts(&mut fam);
        self.social_care_facts(&mut fam);
        self.early_help_facts(&mut fam);
        if profile == Profile::LongHistory {
            self.long_history(&mut fam);
        }
        self.shielding(&mut fam);
        self.records(&mut fam);
        self.family_rows(&fam);
        self.flush(fam);
    }

    /// Identity, locality and risk tier: everything decided before anyone is born.
    fn family_frame(&mut self, profile: Profile) -> Fam {
        let heritage_weights: Vec<(usize, u32)> = names::HERITAGES
            .iter()
            .enumerate()
            .map(|(i, h)| (i, h.weight))
            .collect();
        let heritage = names::HERITAGES[self.weighted(&heritage_weights)];
        let tier = match profile {
            Profile::Showcase | Profile::LongHistory => Tier::High,
            Profile::Ordinary => {
                self.weighted(&[(Tier::Low, 80), (Tier::Medium, 14), (Tier::High, 6)])
            }
        };
        // Schools and practices serve localities: a family's primary decides its secondary,
        // its town and usually its practice.
        let primaries = self.orgs.primaries.len();
        let p = self.rng.random_range(0..primaries);
        let primary = self.orgs.primaries[p];
        let secondary = self.orgs.secondaries[p * self.orgs.secondaries.len() / primaries];
        let gp = if self.chance(0.85) {
            self.orgs.gps[p * self.orgs.gps.len() / primaries]
        } else {
            let gps = self.orgs.gps.clone();
            self.pick(&gps)
        };
        let town = names::TOWNS[p * names::TOWNS.len() / primaries];
        let home = self.home(town);
        let id = FamilyId(self.uuid());
        Fam {
            id,
            profile,
            tier,
            heritage,
            home,
            home_since: self.spec.as_of,
            old_home: None,
            gp,
            primary,
            secondary,
            members: Vec::new(),
            adult_count: 0,
            // Reused across families: per-family buffers that grow and drop every time made
            // the allocator, not the generator, the bottleneck at 100,000 families.
            facts: std::mem::take(&mut self.spare_facts),
            fact_orgs: std::mem::take(&mut self.spare_orgs),
            fsm: false,
            case: None,
            early_help: None,
            domestic_abuse: Vec::new(),
        }
    }

    /// An address in `town`: a house or a flat on an invented street, a postcode in the town's
    /// made-up district, and a unique 12-digit UPRN.
    fn home(&mut self, town: (&'static str, &'static str)) -> Home {
        let stem = self.pick(names::STREET_STEMS);
        let kind = self.pick(names::STREET_KINDS);
        let street = format!("{stem} {kind}");
        let number = self.range(1..=180);
        let (paon, line1, line2) = if self.chance(0.15) {
            let flat = self.range(1..=24);
            (
                format!("Flat {flat}, {number}"),
                format!("Flat {flat}"),
                Some(format!("{number} {street}")),
            )
        } else {
            (number.to_string(), format!("{number} {street}"), None)
        };
        let sector = self.range(1..=9);
        let a = char::from(self.pick(names::INWARD_LETTERS));
        let b = char::from(self.pick(names::INWARD_LETTERS));
        // An affine map with a multiplier coprime to 10 is a permutation of 10^10 values, so
        // UPRNs never repeat.
        let uprn = 100_000_000_000 + (self.uprn_next * 7_919_331 + self.uprn_add) % 10_000_000_000;
        self.uprn_next += 1;
        Home {
            paon,
            street,
            line1,
            line2,
            town: town.0,
            postcode: format!("{} {sector}{a}{b}", town.1),
            uprn: format!("{uprn:012}"),
        }
    }

    // --- persons ------------------------------------------------------------------------------

    fn child_ages(&mut self, profile: Profile) -> Vec<u32> {
        if profile == Profile::Showcase {
            return vec![14, 9, 2];
        }
        let n = self.weighted(&[(1u32, 22), (2, 33), (3, 25), (4, 13), (5, 7)]);
        let gaps: Vec<u32> = (1..n)
            .map(|_| self.weighted(&[(0u32, 2), (1, 20), (2, 35), (3, 25), (4, 12), (5, 6)]))
            .collect();
        let span: u32 = gaps.iter().sum();
        let eldest = if profile == Profile::LongHistory {
            self.rng.random_range(14..=17)
        } else {
            self.rng.random_range(span.min(17)..=17)
        };
        let mut ages = vec![eldest];
        let mut age = i64::from(eldest);
        for g in gaps {
            age -= i64::from(g);
            if let Ok(a) = u32::try_from(age) {
                ages.push(a);
            }
        }
        ages
    }

    fn dob_for_age(&mut self, age: u32) -> NaiveDate {
        let birthday = self
            .spec
            .as_of
            .checked_sub_months(Months::new(12 * age))
            .unwrap_or(self.spec.as_of);
        birthday - days(self.range(0..=364))
    }

    fn new_member(
        &mut self,
        adult: Option<Adult>,
        sex: Sex,
        age: u32,
        given: &'static str,
        surname: String,
    ) -> Member {
        let id = PersonId(self.uuid());
        let dob = self.dob_for_age(age);
        let nhs = self.nhs.issue().map(|n| n.to_string());
        let nhs_verified = self.chance(0.95);
        Member {
            id,
            adult,
            sex,
            dob,
            age,
            given,
            surname,
            nhs,
            nhs_verified,
            school: None,
            la_id: None,
            pnc: None,
            shielded: false,
            known_by: Vec::new(),
            records: Vec::new(),
            track: Track::default(),
        }
    }

    fn given_name(&mut self, heritage: &'static Heritage, sex: Sex, child: bool) -> &'static str {
        let pool = if self.chance(0.85) {
            heritage
        } else {
            &names::BRITISH
        };
        let female = match sex {
            Sex::Female => true,
            Sex::Male => false,
            Sex::Other | Sex::Unknown => self.chance(0.5),
        };
        let list = match (child, female) {
            (true, true) => pool.girls,
            (true, false) => pool.boys,
            (false, true) => pool.women,
            (false, false) => pool.men,
        };
        self.pick(list)
    }

    fn surname(&mut self, heritage: &'static Heritage) -> String {
        let pool = if self.chance(0.9) {
            heritage
        } else {
            &names::BRITISH
        };
        self.pick(pool.surnames).to_owned()
    }

    fn child_sex(&mut self, age: u32) -> Sex {
        if age == 0 && self.chance(0.004) {
            Sex::Unknown
        } else if age >= 13 && self.chance(0.003) {
            Sex::Other
        } else if self.chance(0.49) {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    /// Adults and children with their names, ages and identifiers.
    fn members(&mut self, fam: &mut Fam) {
        let ages = self.child_ages(fam.profile);
        let eldest = ages.first().copied().unwrap_or(0);
        let youngest = ages.last().copied().unwrap_or(0);
        let shape = if fam.profile == Profile::Showcase {
            Shape::TwoParents
        } else {
            self.weighted(&[
                (Shape::TwoParents, 63),
                (Shape::SingleMother, 22),
                (Shape::SingleFather, 3),
                (Shape::MotherAndStepfather, 10),
                (Shape::FatherAndStepmother, 2),
            ])
        };
        let family_name = self.surname(fam.heritage);
        let absent_father = self.surname(fam.heritage);
        // Parents are at least 16 years older than their eldest child (by date of birth, so
        // 17 in whole years: birthdays fall anywhere in the year) and no older than 60.
        let floor = (eldest + 17).max(18);
        let first_birth = u32::try_from(self.range(18..=36)).unwrap_or(25);
        let mother_age = (eldest + first_birth).min(youngest + 46).clamp(floor, 60);
        let partner_gap = self.range(-2..=8);
        let partner_age = u32::try_from(i64::from(mother_age) + partner_gap)
            .unwrap_or(mother_age)
            .clamp(floor, 60);
        let (mother_surname, child_surname) =
            self.household_surnames(fam.heritage, shape, &family_name, &absent_father);

        let mut adults = Vec::new();
        let has_mother = !matches!(shape, Shape::SingleFather | Shape::FatherAndStepmother);
        let has_father = matches!(
            shape,
            Shape::TwoParents | Shape::SingleFather | Shape::FatherAndStepmother
        );
        if has_mother {
            let given = self.given_name(fam.heritage, Sex::Female, false);
            adults.push(self.new_member(
                Some(Adult::Parent),
                Sex::Female,
                mother_age,
                given,
                mother_surname.clone(),
            ));
        }
        if has_father {
            let given = self.given_name(fam.heritage, Sex::Male, false);
            adults.push(self.new_member(
                Some(Adult::Parent),
                Sex::Male,
                partner_age,
                given,
                family_name.clone(),
            ));
        }
        match shape {
            Shape::MotherAndStepfather => {
                let given = self.given_name(fam.heritage, Sex::Male, false);
                let surname = self.surname(fam.heritage);
                adults.push(self.new_member(
                    Some(Adult::StepParent),
                    Sex::Male,
                    partner_age,
                    given,
                    surname,
                ));
            }
            Shape::FatherAndStepmother => {
                let given = self.given_name(fam.heritage, Sex::Female, false);
                let surname = if self.chance(0.5) {
                    family_name.clone()
                } else {
                    self.surname(fam.heritage)
                };
                adults.push(self.new_member(
                    Some(Adult::StepParent),
                    Sex::Female,
                    mother_age,
                    given,
                    surname,
                ));
            }
            _ => {}
        }
        fam.adult_count = adults.len();
        fam.members = adults;
        let mut used: Vec<&'static str> = Vec::new();
        for age in ages {
            let sex = self.child_sex(age);
            let mut given = self.given_name(fam.heritage, sex, true);
            for _ in 0..5 {
                if !used.contains(&given) {
                    break;
                }
                given = self.given_name(fam.heritage, sex, true);
            }
            used.push(given);
            // Siblings usually share a surname; now and then one carries another (a different
            // father, a double-barrelled name), as in real households.
            let surname = if self.chance(0.92) {
                child_surname.clone()
            } else if self.chance(0.5) && mother_surname != child_surname {
                format!("{mother_surname}-{child_surname}")
            } else {
                self.surname(fam.heritage)
            };
            let mut child = self.new_member(None, sex, age, given, surname);
            child.school = self.schooling(fam, &child);
            fam.members.push(child);
        }
    }

    /// The mother's surname and the children's usual surname for a household shape.
    fn household_surnames(
        &mut self,
        heritage: &'static Heritage,
        shape: Shape,
        family: &str,
        absent: &str,
    ) -> (String, String) {
        let own = self.surname(heritage);
        match shape {
            Shape::TwoParents => {
                let mother = if self.chance(0.7) {
                    family.to_owned()
                } else {
                    own
                };
                (mother, family.to_owned())
            }
            Shape::SingleMother => {
                let child = if self.chance(0.55) { family } else { absent };
                (family.to_owned(), child.to_owned())
            }
            Shape::MotherAndStepfather => {
                let child = if self.chance(0.65) { absent } else { family };
                (family.to_owned(), child.to_owned())
            }
            Shape::SingleFather | Shape::FatherAndStepmother => (own, family.to_owned()),
        }
    }

    /// The school a child is on roll at, if of school age; Reception is age 4 on 31 August.
    fn schooling(&mut self, fam: &Fam, child: &Member) -> Option<Schooling> {
        let as_of = self.spec.as_of;
        let year_start = if as_of.month() >= 9 {
            as_of.year()
        } else {
            as_of.year() - 1
        };
        let aug31 = NaiveDate::from_ymd_opt(year_start, 8, 31)?;
        let age_then = aug31.years_since(child.dob)?;
        let nc_year = i32::try_from(age_then).ok()? - 4;
        if !(0..=13).contains(&nc_year) {
            return None;
        }
        let started = NaiveDate::from_ymd_opt(year_start - nc_year, 9, 2)?;
        let (current, phase_start) = if nc_year <= 6 {
            (fam.primary, started)
        } else {
            let y7 = NaiveDate::from_ymd_opt(year_start - (nc_year - 7), 9, 2)?;
            (fam.secondary, y7)
        };
        let phase_len = if nc_year <= 6 {
            self.orgs.primaries.len()
        } else {
            self.orgs.secondaries.len()
        };
        // About one child in twenty changed school within the phase; the old school keeps a
        // record and an ended involvement.
        let moved_days = (as_of - phase_start).num_days();
        let previous = if fam.profile != Profile::Showcase
            && moved_days > 200
            && phase_len > 1
            && self.chance(0.05)
        {
            let k = self.rng.random_range(0..phase_len);
            let phase = if nc_year <= 6 {
                &self.orgs.primaries
            } else {
                &self.orgs.secondaries
            };
            let other = if phase[k] == current {
                phase[(k + 1) % phase_len]
            } else {
                phase[k]
            };
            let joined = phase_start + days(self.range(120..=moved_days - 30));
            Some((other, joined))
        } else {
            None
        };
        let since = previous.map_or(phase_start, |(_, joined)| joined);
        // The UPN is allocated by the first school, in the year the child entered Reception.
        let allocator = match previous {
            Some((prev, _)) if nc_year <= 6 => prev,
            _ => fam.primary,
        };
        let upn = self.upn(allocator, started.year());
        Some(Schooling {
            nc_year,
            started,
            current,
            since,
            previous: previous.map(|(org, _)| (org, phase_start)),
            upn,
        })
    }

    fn upn(&mut self, school: OrgIx, entry_year: i32) -> Option<String> {
        let estab = self.estab[school];
        let yy = u8::try_from(entry_year.rem_euclid(100)).ok()?;
        let serial = self.upn_serials.entry((estab, yy)).or_insert(0);
        *serial += 1;
        Upn::permanent(LA_CODE, estab, yy, *serial).map(|u| u.to_string())
    }

    // --- family-level risk --------------------------------------------------------------------

    /// Draws the family's circumstances: low income, a move, domestic abuse, a social-care
    /// case or early help. Each is likelier in a higher tier, and abuse raises referral odds.
    fn risks(&mut self, fam: &mut Fam) {
        let tier = fam.tier;
        fam.fsm = fam.profile == Profile::Showcase || self.chance(tier.p(0.12, 0.45, 0.65));
        self.residence(fam);
        if fam.profile == Profile::Showcase {
            self.showcase_risks(fam);
            return;
        }
        if self.chance(tier.p(0.03, 0.20, 0.50)) {
            let n = self.weighted(&[(1, 60), (2, 25), (3, 15)]);
            let mut d = self.recent(1095);
            for _ in 0..n {
                let date = self.ago(d);
                let when = self.on(date, (0, 22));
                fam.domestic_abuse.push(when);
                d += self.range(30..=240);
            }
        }
        let da_bonus = if fam.domestic_abuse.is_empty() {
            0.0
        } else {
            0.15
        };
        let forced = fam.profile == Profile::LongHistory;
        if forced || self.chance(tier.p(0.01, 0.12, 0.55) + da_bonus) {
            fam.case = Some(self.case(forced));
        }
        let open_case = fam.case.is_some_and(|c| {
            !matches!(
                c.outcome,
                Outcome::NoFurtherActionAtContact | Outcome::NoFurtherActionAfterAssessment
            )
        });
        if !open_case && self.chance(tier.p(0.02, 0.15, 0.20)) {
            fam.early_help = Some(self.early_help());
        }
    }

    fn residence(&mut self, fam: &mut Fam) {
        if fam.profile != Profile::Showcase && self.chance(0.10) {
            let moved = self.day_within(1460);
            let town = self.pick(names::TOWNS);
            let old = self.home(town);
            fam.old_home = Some((old, moved - days(self.range(400..=3000))));
            fam.home_since = moved;
        } else {
            fam.home_since = self.day_in(400..=5500);
        }
    }

    /// Family 0, built so the demo's first practitioners have something real to read: police
    /// attended domestic abuse six days ago with the children present, the children are on
    /// child protection plans from the spring, the police notification reached the MASH five
    /// days ago, and the toddler was in ED yesterday.
    fn showcase_risks(&mut self, fam: &mut Fam) {
        let date = self.ago(6);
        let when = self.on(date, (20, 22));
        let older = self.ago(250);
        let older = self.on(older, (18, 22));
        fam.domestic_abuse = vec![when, older];
        fam.case = Some(Case {
            contact: self.ago(240),
            outcome: Outcome::ChildProtection,
            duration: 900,
            recontact: Some(self.ago(5)),
        });
    }

    fn case(&mut self, long_history: bool) -> Case {
        let outcome = if long_history {
            self.weighted(&[(Outcome::ChildProtection, 1), (Outcome::LookedAfter, 1)])
        } else {
            self.weighted(&[
                (Outcome::NoFurtherActionAtContact, 12),
                (Outcome::NoFurtherActionAfterAssessment, 18),
                (Outcome::ChildInNeed, 45),
                (Outcome::ChildProtection, 15),
                (Outcome::LookedAfter, 10),
            ])
        };
        let duration = match outcome {
            Outcome::ChildInNeed => self.range(90..=540),
            Outcome::ChildProtection => self.range(180..=720),
            Outcome::LookedAfter => self.range(180..=1800),
            _ => 0,
        };
        let contact_days = if long_history {
            self.range(400..=1400)
        } else {
            self.recent(1095)
        };
        let recontact =
            (self.chance(0.2) && contact_days > 30).then(|| self.day_in(1..=contact_days - 20));
        Case {
            contact: self.ago(contact_days),
            outcome,
            duration,
            recontact,
        }
    }

    fn early_help(&mut self) -> EarlyHelp {
        let start_days = self.recent(1095);
        let length = self.range(90..=365);
        let end = (length < start_days).then(|| self.ago(start_days - length));
        let consent = self.weighted(&[
            (Some(ConsentState::Given), 85),
            (Some(ConsentState::Refused), 5),
            (Some(ConsentState::Withdrawn), 5),
            (None, 5),
        ]);
        EarlyHelp {
            start: self.ago(start_days),
            end,
            consent,
        }
    }

    // --- facts --------------------------------------------------------------------------------

    /// Adds one fact; the organisation thereby comes to know the person.
    /// Records a fact the local authority holds.
    fn record_at_la(
        &mut self,
        fam: &mut Fam,
        who: usize,
        when: DateTime<Utc>,
        kind: &Kind,
        summary: String,
        payload: Value,
    ) {
        let org = self.orgs.la;
        self.record(fam, Event { who, org, when }, kind, summary, payload);
    }

    fn record(&mut self, fam: &mut Fam, e: Event, kind: &Kind, summary: String, payload: Value) {
        let id = FactId(self.uuid());
        let lag = self.range(kind.lag.0..=kind.lag.1);
        // Sources record after the event but before the population's reference instant.
        let latest = self.t0 - TimeDelta::hours(1);
        let recorded_at = (e.when + TimeDelta::minutes(lag)).min(latest).max(e.when);
        let organisation = self.org_id(e.org);
        let member = &mut fam.members[e.who];
        member.know(e.org);
        fam.fact_orgs.push(e.org);
        fam.facts.push(Fact {
            id,
            person_id: member.id,
            agency: kind.agency,
            organisation,
            category: kind.category,
            kind: kind.name.to_owned(),
            occurred_at: e.when,
            recorded_at,
            summary,
            payload,
            source_record: None,
        });
    }

    fn event_ref(&mut self, year: i32) -> String {
        self.next_event += u32::try_from(self.range(1..=40)).unwrap_or(1);
        format!("AN-{year}-{:06}", self.next_event % 1_000_000)
    }

    // --- education facts ----------------------------------------------------------------------

    fn education_facts(&mut self, fam: &mut Fam) {
        for m in fam.children() {
            let Some(school) = fam.members[m].school.clone() else {
                continue;
            };
            self.enrolment(fam, m, &school);
            self.attendance(fam, m, &school, 0..3);
            if fam.fsm {
                self.fsm_period(fam, m, &school);
            }
            self.sen(fam, m, &school);
            self.exclusions(fam, m, &school);
        }
    }

    fn enrolment(&mut self, fam: &mut Fam, m: usize, s: &Schooling) {
        if let Some((prev, joined)) = s.previous {
            let when = self.on(joined, (8, 10));
            let name = self.org_name(prev).to_owned();
            let payload = json!({
                "LAESTAB": self.org_id(prev).as_str().trim_start_matches("school:"),
                "EntryDate": iso(joined),
                "LeavingDate": iso(s.since),
                "LeavingReason": "MOVED",
                "EnrolStatus": "C",
            });
            let summary = format!(
                "Was on roll at {name} from {}; left {}",
                month_year(joined),
                month_year(s.since)
            );
            self.record(
                fam,
                Event {
                    who: m,
                    org: prev,
                    when,
                },
                &ENROLMENT,
                summary,
                payload,
            );
        }
        let when = self.on(s.since, (8, 10));
        let name = self.org_name(s.current).to_owned();
        let year = match s.nc_year {
            0 => "Reception".to_owned(),
            n => format!("Year {n}"),
        };
        let payload = json!({
            "LAESTAB": self.org_id(s.current).as_str().trim_start_matches("school:"),
            "NCyearActual": if s.nc_year == 0 { "R".to_owned() } else { s.nc_year.to_string() },
            "EntryDate": iso(s.since),
            "EnrolStatus": "C",
        });
        let summary = format!("On roll at {name}, {year} (joined {})", month_year(s.since));
        self.record(
            fam,
            Event {
                who: m,
                org: s.current,
                when,
            },
            &ENROLMENT,
            summary,
            payload,
        );
    }

    /// Termly attendance for the completed terms in `which` (0 = the latest) since Reception.
    fn attendance(&mut self, fam: &mut Fam, m: usize, s: &Schooling, which: Range<usize>) {
        let persistent =
            self.chance(fam.tier.p(0.12, 0.25, 0.45) + if fam.case.is_some() { 0.1 } else { 0.0 });
        let (lo, hi) = if persistent {
            (0.70, 0.899)
        } else {
            (0.90, 1.0)
        };
        let base = lo
            + (hi - lo)
                * self
                    .rng
                    .random::<f64>()
                    .powf(if persistent { 1.0 } else { 0.5 });
        let terms: Vec<Term> = self
            .terms
            .iter()
            .skip(which.start)
            .take(which.len())
            .copied()
            .collect();
        for term in terms {
            if term.start < s.started {
                continue;
            }
            let org = match s.previous {
                Some((prev, _)) if term.end < s.since => prev,
                _ => s.current,
            };
            let rate = (base + (self.rng.random::<f64>() - 0.5) * 0.03).clamp(0.5, 1.0);
            self.attendance_summary(
                fam,
                Event {
                    who: m,
                    org,
                    when: at(term.end, 16 * 3600),
                },
                term,
                rate,
                persistent,
            );
        }
    }

    fn attendance_summary(
        &mut self,
        fam: &mut Fam,
        e: Event,
        term: Term,
        rate: f64,
        persistent: bool,
    ) {
        let possible = term.sessions;
        let attended = ((f64::from(possible) * rate).round() as u32).min(possible);
        let absent = possible - attended;
        let unauth_share = if persistent {
            0.4 + 0.3 * self.rng.random::<f64>()
        } else {
            0.1 + 0.2 * self.rng.random::<f64>()
        };
        let unauthorised = ((f64::from(absent) * unauth_share).round() as u32).min(absent);
        let authorised = absent - unauthorised;
        let percent = (1000.0 * f64::from(attended) / f64::from(possible.max(1))).round() / 10.0;
        let payload = json!({
            "Term": term.code,
            "AcademicYear": format!("{}/{:02}", term.academic_year, (term.academic_year + 1) % 100),
            "SessionsPossible": possible,
            "SessionsAttended": attended,
            "SessionsAuthorised": authorised,
            "SessionsUnauthorised": unauthorised,
            "AttendancePercent": percent,
            "PersistentAbsence": percent < 90.0,
        });
        let summary = format!(
            "{} term {}: attendance {percent:.1}% ({possible} sessions possible, {unauthorised} unauthorised absences)",
            term.name,
            term.end.year()
        );
        self.record(fam, e, &ATTENDANCE_SUMMARY, summary, payload);
    }

    fn fsm_period(&mut self, fam: &mut Fam, m: usize, s: &Schooling) {
        let span = (self.spec.as_of - s.started).num_days().max(2);
        let start = s.started + days(self.range(0..=span - 1));
        let end = (self.chance(0.25) && (self.spec.as_of - start).num_days() > 60)
            .then(|| start + days(self.range(30..=(self.spec.as_of - start).num_days() - 1)));
        let payload = json!({
            "FSMstartDate": iso(start),
            "FSMendDate": end.map(iso),
            "UKCountry": "ENG",
        });
        let summary = match end {
            Some(e) => format!(
                "Eligible for free school meals from {} to {}",
                long_date(start),
                long_date(e)
            ),
            None => format!("Eligible for free school meals since {}", long_date(start)),
        };
        let when = self.on(start, (9, 16));
        self.record(
            fam,
            Event {
                who: m,
                org: s.current,
                when,
            },
            &FSM_PERIOD,
            summary,
            payload,
        );
    }

    fn sen(&mut self, fam: &mut Fam, m: usize, s: &Schooling) {
        let t = fam.tier;
        let provision = if self.chance(t.p(0.02, 0.05, 0.08)) {
            "E"
        } else if self.chance(t.p(0.12, 0.22, 0.30)) {
            "K"
        } else {
            return;
        };
        let (code, need) = self.pick(&[
            ("SLCN", "speech, language and communication needs"),
            ("SEMH", "social, emotional and mental health"),
            ("MLD", "moderate learning difficulty"),
            ("SPLD", "specific learning difficulty"),
            ("ASD", "autistic spectrum disorder"),
            ("PD", "physical disability"),
            ("HI", "hearing impairment"),
            ("VI", "visual impairment"),
        ]);
        let span = (self.spec.as_of - s.started).num_days().max(2);
        let start = s.started + days(self.range(0..=span - 1));
        let payload = json!({
            "SENprovision": provision,
            "StartDate": iso(start),
            "SENneeds": [{ "SENtype": code, "SENtypeRank": 1 }],
        });
        let what = if provision == "E" {
            "Education, health and care plan (E)"
        } else {
            "SEN support (K)"
        };
        let summary = format!("{what}: primary need {need}");
        let when = self.on(start, (9, 16));
        self.record(
            fam,
            Event {
                who: m,
                org: s.current,
                when,
            },
            &SEN_PROVISION,
            summary,
            payload,
        );
    }

    fn exclusions(&mut self, fam: &mut Fam, m: usize, s: &Schooling) {
        if s.nc_year < 1 {
            return;
        }
        let phase = if s.nc_year >= 7 { 1.5 } else { 0.6 };
        if !self.chance(fam.tier.p(0.008, 0.05, 0.12) * phase) {
            return;
        }
        let n = self.weighted(&[(1, 70), (2, 20), (3, 10)]);
        for _ in 0..n {
            self.exclusion(fam, m, s);
        }
    }

    fn exclusion(&mut self, fam: &mut Fam, m: usize, s: &Schooling) {
        let max = (self.spec.as_of - s.since).num_days().clamp(2, 1095);
        let date = self.day_within(max);
        let (reason, text) = self.pick(&[
            ("PD", "persistent disruptive behaviour"),
            ("PP", "physical assault against a pupil"),
            ("PA", "physical assault against an adult"),
            (
                "VP",
                "verbal abuse or threatening behaviour against a pupil",
            ),
            (
                "VA",
                "verbal abuse or threatening behaviour against an adult",
            ),
            ("BU", "bullying"),
            (
                "DA",
                "use or threat of use of an offensive weapon or prohibited item",
            ),
            ("DM", "damage to property"),
        ]);
        let permanent = self.chance(0.04);
        let sessions = self.range(1..=10);
        let payload = json!({
            "Category": if permanent { "PERM" } else { "SUSP" },
            "StartDate": iso(date),
            "Sessions": if permanent { Value::Null } else { json!(sessions) },
            "Reason": reason,
        });
        let summary = if permanent {
            format!("Permanently excluded: {text}")
        } else {
            format!("Suspended for {sessions} sessions: {text}")
        };
        let when = self.on(date, (9, 15));
        self.record(
            fam,
            Event {
                who: m,
                org: s.current,
                when,
            },
            &EXCLUSION,
            summary,
            payload,
        );
    }

    // --- health facts -------------------------------------------------------------------------

    fn health_facts(&mut self, fam: &mut Fam) {
        let children = fam.children();
        let under_five = children.clone().any(|c| fam.members[c].age <= 4);
        for m in children.clone() {
            if fam.members[m].age <= 4 {
                self.counts.under_fives += 1;
                let community = self.orgs.community;
                fam.members[m].know(community);
                self.development_reviews(fam, m);
                self.immunisations(fam, m);
            }
            self.conditions(fam, m);
            self.ed_attendances(fam, m);
            if fam.members[m].is_teen() {
                self.teen_health(fam, m);
            }
        }
        if fam.profile == Profile::Showcase
            && let Some(toddler) = children.clone().last()
        {
            let date = self.ago(1);
            let when = self.on(date, (9, 13));
            self.ed_attendance(fam, toddler, when);
        }
        for m in fam.adults() {
            // Health visitors know the mother of every under-five.
            if under_five
                && fam.members[m].sex == Sex::Female
                && fam.members[m].adult == Some(Adult::Parent)
            {
                let community = self.orgs.community;
                fam.members[m].know(community);
            }
            self.adult_health(fam, m);
        }
    }

    fn development_reviews(&mut self, fam: &mut Fam, m: usize) {
        const REVIEWS: &[(&str, &str, i64)] = &[
            ("new_birth_visit", "New birth visit", 12),
            ("six_to_eight_week_review", "6-8 week review", 49),
            ("one_year_review", "1 year review", 365),
            ("two_to_two_and_a_half_year_review", "2-2½ year review", 820),
        ];
        let dob = fam.members[m].dob;
        let p = fam.tier.p(0.92, 0.85, 0.75);
        for &(code, label, offset) in REVIEWS {
            let date = dob + days(offset + self.range(0..=20));
            if !self.before_now(date) || !self.chance(p) {
                continue;
            }
            let concern = self.chance(fam.tier.p(0.08, 0.15, 0.25));
            let (outcome, finding) = match (concern, offset >= 365) {
                (false, _) => ("no_concerns", "development on track"),
                (true, true) => (
                    "referred",
                    "ASQ-3 below cut-off for communication; referred to speech and language therapy",
                ),
                (true, false) => (
                    "follow_up",
                    "weight below expected centile; follow-up visit arranged",
                ),
            };
            let payload = json!({
                "review": code,
                "outcome": outcome,
                "weight_kg": ((3.4 + offset as f64 / 100.0 + self.rng.random::<f64>()) * 10.0).round() / 10.0,
                "ASQ3": if offset >= 365 { json!({ "communication": if concern { "below_cutoff" } else { "above_cutoff" } }) } else { Value::Null },
            });
            let when = self.on(date, (9, 17));
            let community = self.orgs.community;
            self.record(
                fam,
                Event {
                    who: m,
                    org: community,
                    when,
                },
                &DEVELOPMENT_REVIEW,
                format!("{label}: {finding}"),
                payload,
            );
        }
    }

    fn immunisations(&mut self, fam: &mut Fam, m: usize) {
        const SCHEDULE: &[(&str, i64, &[&str])] = &[
            ("8-week", 56, &["DTaP/IPV/Hib/HepB", "MenB", "Rotavirus"]),
            ("12-week", 84, &["DTaP/IPV/Hib/HepB", "PCV", "Rotavirus"]),
            ("16-week", 112, &["DTaP/IPV/Hib/HepB", "MenB"]),
            ("1-year", 365, &["Hib/MenC", "MMR", "PCV", "MenB"]),
            ("3-year 4-month", 1220, &["MMR", "DTaP/IPV"]),
        ];
        let dob = fam.members[m].dob;
        let p = fam.tier.p(0.94, 0.88, 0.75);
        for &(label, offset, vaccines) in SCHEDULE {
            let date = dob + days(offset + self.range(0..=28));
            if !self.before_now(date) || !self.chance(p) {
                continue;
            }
            let payload = json!({
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": vaccines,
                "occurrenceDateTime": iso(date),
                "programme": label,
            });
            let summary = format!("{label} immunisations given ({})", vaccines.join(", "));
            let when = self.on(date, (9, 17));
            self.record(
                fam,
                Event {
                    who: m,
                    org: fam.gp,
                    when,
                },
                &IMMUNISATION,
                summary,
                payload,
            );
        }
    }

    fn conditions(&mut self, fam: &mut Fam, m: usize) {
        if !self.chance(0.15) {
            return;
        }
        // SNOMED CT-style codes, for realism only: check against a terminology server before
        // relying on a mapping.
        let (code, display, text) = self.weighted(&[
            (
                (
                    "195967001",
                    "Asthma",
                    "Asthma recorded; on inhaled treatment",
                ),
                40,
            ),
            (
                (
                    "24079001",
                    "Atopic dermatitis",
                    "Eczema recorded; emollients prescribed",
                ),
                25,
            ),
            (
                (
                    "406506008",
                    "Attention deficit hyperactivity disorder",
                    "ADHD diagnosed; under community paediatrics",
                ),
                8,
            ),
            (
                (
                    "35919005",
                    "Autism spectrum disorder",
                    "Autism diagnosed; under community paediatrics",
                ),
                8,
            ),
            (
                (
                    "84757009",
                    "Epilepsy",
                    "Epilepsy recorded; on anti-epileptic medication",
                ),
                3,
            ),
            (
                (
                    "46635009",
                    "Type 1 diabetes mellitus",
                    "Type 1 diabetes recorded; under paediatric diabetes team",
                ),
                2,
            ),
            (
                (
                    "91935009",
                    "Allergy to peanut",
                    "Peanut allergy recorded; adrenaline auto-injector prescribed",
                ),
                6,
            ),
            (
                (
                    "14760008",
                    "Constipation",
                    "Chronic constipation; on laxatives",
                ),
                8,
            ),
        ]);
        let age = i64::from(fam.members[m].age.max(1));
        let date = self.day_within(age * 365);
        let payload = json!({
            "resourceType": "Condition",
            "clinicalStatus": "active",
            "verificationStatus": "confirmed",
            "code": { "system": "http://snomed.info/sct", "code": code, "display": display },
            "onsetDateTime": iso(date),
        });
        let when = self.on(date, (8, 18));
        self.record(
            fam,
            Event {
                who: m,
                org: fam.gp,
                when,
            },
            &CONDITION,
            text.to_owned(),
            payload,
        );
    }

    fn ed_attendances(&mut self, fam: &mut Fam, m: usize) {
        if !self.chance(fam.tier.p(0.10, 0.18, 0.25)) {
            return;
        }
        let n = self.weighted(&[(1, 80), (2, 15), (3, 5)]);
        for _ in 0..n {
            let date = self.day_within(365);
            let when = self.on(date, (0, 22));
            self.ed_attendance(fam, m, when);
        }
    }

    /// One ED attendance; those in the last two days are still in the department.
    fn ed_attendance(&mut self, fam: &mut Fam, m: usize, when: DateTime<Utc>) {
        let age = fam.members[m].age;
        let concern = fam.tier == Tier::High && self.chance(0.2);
        let (code, display, text) = if concern {
            (
                "125667009",
                "Contusion",
                "bruising with an inconsistent history; safeguarding referral made",
            )
        } else if age <= 4 {
            self.pick(&[
                ("82271004", "Head injury", "a head injury after a fall"),
                ("386661006", "Fever", "a high temperature"),
                ("267036007", "Dyspnoea", "breathing difficulty"),
                (
                    "125605004",
                    "Fracture of bone",
                    "a suspected fracture after a fall",
                ),
                (
                    "217082002",
                    "Accidental ingestion",
                    "suspected ingestion of household medicine",
                ),
            ])
        } else if age <= 12 {
            self.pick(&[
                (
                    "125605004",
                    "Fracture of bone",
                    "a wrist injury playing sport",
                ),
                ("195967001", "Asthma", "an asthma attack"),
                ("21522001", "Abdominal pain", "abdominal pain"),
                ("312608009", "Laceration", "a cut to the hand"),
                ("82271004", "Head injury", "a head injury in the playground"),
            ])
        } else {
            self.pick(&[
                (
                    "125605004",
                    "Fracture of bone",
                    "an ankle injury playing sport",
                ),
                ("25702006", "Alcohol intoxication", "alcohol intoxication"),
                ("52684005", "Assault", "injuries from an assault"),
                ("21522001", "Abdominal pain", "abdominal pain"),
                ("312608009", "Laceration", "a cut to the arm"),
            ])
        };
        let in_department = when > self.t0 - TimeDelta::days(2);
        let admitted = in_department || self.chance(0.1);
        let outcome = match (in_department, admitted) {
            (true, _) => "admitted to the children's ward for observation",
            (false, true) => "admitted overnight",
            (false, false) => "discharged home",
        };
        let payload = json!({
            "resourceType": "Encounter",
            "status": if in_department { "in-progress" } else { "finished" },
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER" },
            "reasonCode": { "system": "http://snomed.info/sct", "code": code, "display": display },
            "period": { "start": when.to_rfc3339(), "end": if in_department { Value::Null } else { json!((when + TimeDelta::hours(4)).to_rfc3339()) } },
            "dischargeDisposition": if admitted { "admitted" } else { "home" },
            "safeguardingConcern": concern,
        });
        let summary = format!("Attended ED with {text}; {outcome}");
        let acute = self.orgs.acute;
        self.record(
            fam,
            Event {
                who: m,
                org: acute,
                when,
            },
            &ED_ATTENDANCE,
            summary,
            payload,
        );
        if in_department {
            fam.members[m].track.ed_recent.push(when);
        }
    }

    fn teen_health(&mut self, fam: &mut Fam, m: usize) {
        let t = fam.tier;
        let self_harm = self.chance(t.p(0.01, 0.04, 0.08));
        if self_harm {
            let date = self.day_within(730);
            let when = self.on(date, (0, 22));
            self.self_harm_attendance(fam, m, when);
        }
        if self_harm || self.chance(t.p(0.03, 0.08, 0.15)) {
            let date = self.day_within(730);
            let when = self.on(date, (9, 17));
            self.camhs_referral(fam, m, when, self_harm);
        }
        if self.chance(t.p(0.025, 0.04, 0.06)) {
            let date = self.day_within(730);
            let when = self.on(date, (9, 19));
            self.sexual_health_contact(fam, m, when);
        }
    }

    fn self_harm_attendance(&mut self, fam: &mut Fam, m: usize, when: DateTime<Utc>) {
        let text = self.pick(&[
            "after an overdose of paracetamol; CAMHS liaison assessment; discharged home with a safety plan",
            "with self-inflicted cuts to the forearm; wounds closed; CAMHS liaison assessment",
            "after an overdose of prescribed medication; admitted for treatment and CAMHS review",
        ]);
        let payload = json!({
            "resourceType": "Encounter",
            "status": "finished",
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER" },
            "reasonCode": { "system": "http://snomed.info/sct", "code": "248062006", "display": "Self-harm" },
            "period": { "start": when.to_rfc3339() },
            "liaisonAssessment": true,
        });
        let acute = self.orgs.acute;
        self.record(
            fam,
            Event {
                who: m,
                org: acute,
                when,
            },
            &SELF_HARM_ATTENDANCE,
            format!("Attended ED {text}"),
            payload,
        );
    }

    fn camhs_referral(
        &mut self,
        fam: &mut Fam,
        m: usize,
        when: DateTime<Utc>,
        after_self_harm: bool,
    ) {
        let reason = if after_self_harm {
            "self-harm"
        } else {
            self.pick(&[
                "low mood",
                "anxiety",
                "eating difficulties",
                "neurodevelopmental assessment",
            ])
        };
        let source = if after_self_harm {
            "ED liaison"
        } else {
            self.pick(&["GP", "school", "school nurse"])
        };
        let (status, outcome) = self.pick(&[
            ("accepted", "accepted, on the waiting list"),
            ("accepted", "accepted; first appointment offered"),
            (
                "signposted",
                "not accepted; signposted to school counselling",
            ),
        ]);
        let payload = json!({
            "resourceType": "ServiceRequest",
            "category": "CAMHS",
            "status": status,
            "reason": reason,
            "requester": source,
            "priority": if after_self_harm { "urgent" } else { "routine" },
        });
        let summary = format!("Referred to CAMHS by {source} for {reason}; {outcome}");
        let mh = self.orgs.mental_health;
        self.record(
            fam,
            Event {
                who: m,
                org: mh,
                when,
            },
            &CAMHS_REFERRAL,
            summary,
            payload,
        );
    }

    fn sexual_health_contact(&mut self, fam: &mut Fam, m: usize, when: DateTime<Utc>) {
        let (reason, text) = self.pick(&[
            (
                "contraception",
                "Attended sexual health clinic for contraception advice",
            ),
            (
                "sti_testing",
                "Attended sexual health clinic for STI testing; results negative",
            ),
            (
                "emergency_contraception",
                "Attended sexual health clinic for emergency contraception",
            ),
        ]);
        let concern = fam.tier == Tier::High && self.chance(0.3);
        let payload = json!({
            "service": "integrated sexual health",
            "reason": reason,
            "fraserGuidelinesMet": true,
            "safeguardingScreen": if concern { "concerns_noted" } else { "no_concerns" },
        });
        let summary = if concern {
            format!("{text}; safeguarding screen raised concerns")
        } else {
            text.to_owned()
        };
        let community = self.orgs.community;
        self.record(
            fam,
            Event {
                who: m,
                org: community,
                when,
            },
            &SEXUAL_HEALTH_CONTACT,
            summary,
            payload,
        );
    }

    /// Parental mental ill-health and substance misuse: risk factors held by the GP and the
    /// community drug and alcohol service.
    fn adult_health(&mut self, fam: &mut Fam, m: usize) {
        let t = fam.tier;
        if self.chance(t.p(0.05, 0.15, 0.30)) {
            let (code, display) = self.pick(&[
                ("35489007", "Depressive disorder"),
                ("197480006", "Anxiety disorder"),
            ]);
            let date = self.day_within(1825);
            let payload = json!({
                "resourceType": "Condition",
                "clinicalStatus": "active",
                "code": { "system": "http://snomed.info/sct", "code": code, "display": display },
                "onsetDateTime": iso(date),
            });
            let when = self.on(date, (8, 18));
            let summary = format!("{display} recorded; under GP care");
            self.record(
                fam,
                Event {
                    who: m,
                    org: fam.gp,
                    when,
                },
                &MENTAL_HEALTH_CONDITION,
                summary,
                payload,
            );
        }
        if self.chance(t.p(0.01, 0.05, 0.15)) {
            let substance = self.pick(&["alcohol", "opiates", "cannabis", "cocaine"]);
            let date = self.day_within(1095);
            let payload = json!({ "service": "drug and alcohol service", "substance": substance, "status": "engaged" });
            let when = self.on(date, (9, 17));
            let summary = format!(
                "Referred to the drug and alcohol service ({substance}); engaged with treatment"
            );
            let community = self.orgs.community;
            self.record(
                fam,
                Event {
                    who: m,
                    org: community,
                    when,
                },
                &SUBSTANCE_MISUSE_REFERRAL,
                summary,
                payload,
            );
        }
    }

    // --- police facts -------------------------------------------------------------------------

    fn police_facts(&mut self, fam: &mut Fam) {
        let incidents = fam.domestic_abuse.clone();
        for when in incidents {
            self.domestic_abuse_incident(fam, when);
        }
        for m in fam.children() {
            let age = fam.members[m].age;
            if age >= 8 && self.chance(fam.tier.p(0.01, 0.03, 0.06)) {
                let date = self.day_within(1095);
                let when = self.on(date, (8, 22));
                self.police_incident(fam, m, when);
            }
            if fam.members[m].is_teen() {
                self.teen_police(fam, m);
            }
        }
    }

    fn domestic_abuse_incident(&mut self, fam: &mut Fam, when: DateTime<Utc>) {
        let reference = self.event_ref(when.year());
        let risk = if fam.profile == Profile::Showcase {
            "high"
        } else {
            self.weighted(&[("standard", 50), ("medium", 35), ("high", 15)])
        };
        let police = self.orgs.police;
        let children = fam.children();
        let first = self.rng.random_range(0..children.len().max(1));
        for (i, c) in children.clone().enumerate() {
            let present = fam.profile == Profile::Showcase || i == first || self.chance(0.75);
            if !present {
                continue;
            }
            let payload = json!({
                "eventRef": reference,
                "role": "child_present",
                "dashRisk": risk,
                "encompassNotified": fam.members[c].school.is_some(),
            });
            let encompass = if fam.members[c].school.is_some() {
                "; Operation Encompass notification sent to school"
            } else {
                ""
            };
            let summary = format!(
                "Domestic abuse incident at the home address; child present; DASH risk {risk}{encompass}"
            );
            self.record(
                fam,
                Event {
                    who: c,
                    org: police,
                    when,
                },
                &DOMESTIC_ABUSE_INCIDENT,
                summary,
                payload,
            );
            let track = &mut fam.members[c].track;
            track.domestic_abuse = track.domestic_abuse.max(Some(when));
        }
        let adults = fam.adults();
        let mother = adults.clone().find(|&a| fam.members[a].sex == Sex::Female);
        let partner = adults.clone().find(|&a| fam.members[a].sex == Sex::Male);
        let victim = mother.or(partner);
        if let Some(v) = victim {
            let payload = json!({ "eventRef": reference, "role": "victim", "dashRisk": risk });
            let summary = format!(
                "Domestic abuse incident at the home address; recorded as victim; DASH risk {risk}"
            );
            self.record(
                fam,
                Event {
                    who: v,
                    org: police,
                    when,
                },
                &DOMESTIC_ABUSE_INCIDENT,
                summary,
                payload,
            );
        }
        // The suspect is a partner in the household when there is one; otherwise an ex-partner
        // outside the graph.
        if let (Some(s), true) = (partner, mother.is_some()) {
            let outcome = self.pick(&[
                "arrested; released under investigation",
                "arrested; charged",
                "no further action",
            ]);
            let payload = json!({ "eventRef": reference, "role": "suspect", "outcome": outcome });
            let summary = format!(
                "Domestic abuse incident at the home address; recorded as suspect; {outcome}"
            );
            self.record(
                fam,
                Event {
                    who: s,
                    org: police,
                    when,
                },
                &DOMESTIC_ABUSE_INCIDENT,
                summary,
                payload,
            );
        }
    }

    fn police_incident(&mut self, fam: &mut Fam, m: usize, when: DateTime<Utc>) {
        let (role, offence, text) = self.pick(&[
            (
                "victim",
                "theft",
                "Reported victim of theft of a mobile phone",
            ),
            (
                "victim",
                "assault",
                "Reported victim of a common assault near school",
            ),
            ("witness", "assault", "Witness to an assault in a park"),
            (
                "subject",
                "asb",
                "Subject of an anti-social behaviour report",
            ),
            (
                "victim",
                "online_harm",
                "Reported victim of online harassment",
            ),
        ]);
        let reference = self.event_ref(when.year());
        let payload = json!({ "eventRef": reference, "role": role, "offenceCategory": offence });
        let police = self.orgs.police;
        self.record(
            fam,
            Event {
                who: m,
                org: police,
                when,
            },
            &POLICE_INCIDENT,
            text.to_owned(),
            payload,
        );
    }

    fn teen_police(&mut self, fam: &mut Fam, m: usize) {
        let t = fam.tier;
        let looked_after = fam.case.is_some_and(|c| c.outcome == Outcome::LookedAfter);
        let missing = self.chance(t.p(0.008, 0.04, 0.12) + if looked_after { 0.3 } else { 0.0 });
        if missing {
            let n = self.weighted(&[(1, 50), (2, 25), (3, 15), (4, 10)]);
            for _ in 0..n {
                let date = self.day_within(730);
                let when = self.on(date, (15, 22));
                self.missing_episode(fam, m, when, looked_after);
            }
            if self.chance(0.3) {
                let date = self.day_within(540);
                let when = self.on(date, (10, 22));
                self.exploitation_concern(fam, m, when);
            }
        }
        if self.chance(t.p(0.012, 0.05, 0.15)) {
            let n = self.weighted(&[(1, 75), (2, 25)]);
            for _ in 0..n {
                let date = self.day_within(730);
                let when = self.on(date, (10, 17));
                self.youth_justice_outcome(fam, m, when);
            }
        }
    }

    fn missing_episode(
        &mut self,
        fam: &mut Fam,
        m: usize,
        when: DateTime<Utc>,
        looked_after: bool,
    ) {
        let reporter = if looked_after {
            self.pick(&["foster carer", "children's home"])
        } else {
            "parent"
        };
        let hours = self.range(3..=72);
        let found = self.pick(&[
            "at a friend's address",
            "in the town centre",
            "in another town",
            "returned home of their own accord",
        ]);
        let payload = json!({
            "eventRef": self.event_ref(when.year()),
            "reportedBy": reporter,
            "durationHours": hours,
            "foundLocation": found,
            "risk": if hours > 24 { "high" } else { "medium" },
            "returnInterviewOffered": true,
        });
        let summary = format!(
            "Reported missing by {reporter}; found after {hours} hours {found}; return interview offered"
        );
        let police = self.orgs.police;
        self.record(
            fam,
            Event {
                who: m,
                org: police,
                when,
            },
            &MISSING_EPISODE,
            summary,
            payload,
        );
    }

    fn exploitation_concern(&mut self, fam: &mut Fam, m: usize, when: DateTime<Utc>) {
        let (kind, text) = self.pick(&[
            ("CCE", "Criminal exploitation concern: found out of area with unexplained cash and a second phone"),
            ("CSE", "Sexual exploitation concern: seen with older adults unknown to the family"),
            ("county_lines", "County lines concern: stopped at a railway station far from home"),
        ]);
        let payload = json!({ "eventRef": self.event_ref(when.year()), "concern": kind, "nrmReferral": self.chance(0.3) });
        let police = self.orgs.police;
        self.record(
            fam,
            Event {
                who: m,
                org: police,
                when,
            },
            &EXPLOITATION_CONCERN,
            text.to_owned(),
            payload,
        );
    }

    fn youth_justice_outcome(&mut self, fam: &mut Fam, m: usize, when: DateTime<Utc>) {
        if fam.members[m].pnc.is_none() {
            self.next_pnc += u32::try_from(self.range(1..=500)).unwrap_or(1);
            let year = u16::try_from(when.year()).unwrap_or(2000);
            fam.members[m].pnc =
                PncId::new(year, self.next_pnc % 10_000_000).map(|p| p.to_string());
        }
        let (offence, code, outcome) = self.pick(&[
            (
                "theft from a shop",
                "community_resolution",
                "Community resolution",
            ),
            ("theft from a shop", "youth_caution", "Youth caution"),
            (
                "common assault",
                "youth_conditional_caution",
                "Youth conditional caution",
            ),
            ("possession of cannabis", "youth_caution", "Youth caution"),
            ("criminal damage", "referral_order", "Referral order"),
            (
                "possession of a bladed article",
                "youth_rehabilitation_order",
                "Youth rehabilitation order",
            ),
            (
                "robbery",
                "youth_rehabilitation_order",
                "Youth rehabilitation order",
            ),
        ]);
        let payload =
            json!({ "eventRef": self.event_ref(when.year()), "offence": offence, "outcome": code });
        let police = self.orgs.police;
        self.record(
            fam,
            Event {
                who: m,
                org: police,
                when,
            },
            &YOUTH_JUSTICE_OUTCOME,
            format!("{outcome} for {offence}"),
            payload,
        );
    }

    // --- social-care facts --------------------------------------------------------------------

    fn social_care_facts(&mut self, fam: &mut Fam) {
        let Some(case) = fam.case else {
            return;
        };
        let children = fam.children();
        let first = self.rng.random_range(0..children.len().max(1));
        for (i, c) in children.clone().enumerate() {
            if fam.profile == Profile::Ordinary && i != first && !self.chance(0.85) {
                continue;
            }
            self.counts.social_care_children += 1;
            self.case_for_child(fam, c, case);
        }
    }

    fn la_id(&mut self, fam: &mut Fam, m: usize) {
        if fam.members[m].la_id.is_none() {
            self.next_la_id += u32::try_from(self.range(1..=7)).unwrap_or(1);
            fam.members[m].la_id = Some(format!("la:{LA_CODE}:{}", self.next_la_id));
        }
    }

    fn case_for_child(&mut self, fam: &mut Fam, m: usize, case: Case) {
        self.la_id(fam, m);
        let source = if !fam.domestic_abuse.is_empty() {
            ("6", "police")
        } else {
            self.pick(&[
                ("2A", "a school"),
                ("3A", "a GP"),
                ("3B", "a health visitor"),
                ("3E", "the emergency department"),
                ("1A", "a family member"),
                ("9", "an anonymous caller"),
            ])
        };
        let need = if fam.domestic_abuse.is_empty() {
            self.pick(&[
                ("N1", "abuse or neglect"),
                ("N4", "family in acute stress"),
                ("N5", "family dysfunction"),
                ("N3", "parental illness or disability"),
            ])
        } else {
            ("N1", "abuse or neglect")
        };
        let contact = self.on(case.contact, (9, 15));
        let nfa = case.outcome == Outcome::NoFurtherActionAtContact;
        let payload = json!({ "ReferralSource": source.0, "ContactOutcome": if nfa { "NFA" } else { "referral" } });
        let summary = format!(
            "Contact from {} (source code {}); {}",
            source.1,
            source.0,
            if nfa {
                "no further action after screening"
            } else {
                "progressed to referral"
            }
        );
        self.record_at_la(fam, m, contact, &CONTACT, summary, payload);
        fam.members[m].track.referred = Some(contact);
        if let Some(re) = case.recontact {
            self.recontact(fam, m, re);
        }
        if nfa {
            return;
        }
        // Screening decides within hours, so the referral follows the same working day.
        let referral = contact + TimeDelta::minutes(self.range(30..=150));
        let payload = json!({ "ReferralSource": source.0, "PrimaryNeedCode": need.0, "ReferralNFA": false, "CINreferralDate": iso(referral.date_naive()) });
        let summary = format!("Referral accepted; primary need {} ({})", need.0, need.1);
        self.record_at_la(fam, m, referral, &REFERRAL, summary, payload);
        let Some(assessed) = self.assessment(fam, m, case, referral) else {
            return;
        };
        match case.outcome {
            Outcome::ChildInNeed => self.cin_plan(fam, m, case, assessed, need),
            Outcome::ChildProtection => self.child_protection(fam, m, case, referral),
            Outcome::LookedAfter => self.looked_after(fam, m, case, referral),
            _ => {}
        }
    }

    fn recontact(&mut self, fam: &mut Fam, m: usize, date: NaiveDate) {
        let when = self.on(date, (9, 17));
        let police_notice = !fam.domestic_abuse.is_empty();
        let (code, who) = if police_notice {
            ("6", "police")
        } else {
            ("2A", "a school")
        };
        let payload = json!({ "ReferralSource": code, "ContactOutcome": "mash_screening" });
        let summary = format!(
            "Further contact from {who} (source code {code}) while the case is open; passed to the MASH"
        );
        let la = self.orgs.la;
        self.record(
            fam,
            Event {
                who: m,
                org: la,
                when,
            },
            &CONTACT,
            summary,
            payload,
        );
        let track = &mut fam.members[m].track;
        track.referred = track.referred.max(Some(when));
    }

    /// The single assessment; returns when it was authorised, if it has been.
    fn assessment(
        &mut self,
        fam: &mut Fam,
        m: usize,
        case: Case,
        referral: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let start = referral + TimeDelta::days(self.range(1..=5));
        if start >= self.t0 {
            return None;
        }
        let authorised = start + TimeDelta::days(self.range(15..=45));
        let done = authorised < self.t0;
        let mut factors = Vec::new();
        if !fam.domestic_abuse.is_empty() {
            factors.extend(["3A", "3B"]);
        }
        let extra = self.pick(&["1B", "2B", "4B", "4A", "8B", "21"]);
        factors.push(extra);
        let payload = json!({
            "AssessmentActualStartDate": iso(start.date_naive()),
            "AssessmentAuthorisationDate": done.then(|| iso(authorised.date_naive())),
            "AssessmentFactors": factors,
        });
        let outcome = match (done, case.outcome) {
            (false, _) => "in progress",
            (true, Outcome::NoFurtherActionAfterAssessment) => "completed; no further action",
            (true, Outcome::ChildInNeed) => "completed; child in need plan recommended",
            (true, _) => "completed; concerns of significant harm",
        };
        let summary = format!("Child and family assessment {outcome}");
        self.record_at_la(fam, m, start, &ASSESSMENT, summary, payload);
        done.then_some(authorised)
    }

    /// Records the plan's span so an allocated social worker can be derived from it.
    fn allocate(
        &mut self,
        fam: &mut Fam,
        m: usize,
        from: DateTime<Utc>,
        duration: i64,
    ) -> Option<DateTime<Utc>> {
        let end = from + TimeDelta::days(duration);
        let to = (end < self.t0).then_some(end);
        fam.members[m].track.social_care = Some(Stay {
            org: self.orgs.la,
            from,
            to,
        });
        to
    }

    fn cin_plan(
        &mut self,
        fam: &mut Fam,
        m: usize,
        case: Case,
        start: DateTime<Utc>,
        need: (&str, &str),
    ) {
        let end = self.allocate(fam, m, start, case.duration);
        let payload = json!({
            "CINPlanStartDate": iso(start.date_naive()),
            "CINPlanEndDate": end.map(|e| iso(e.date_naive())),
            "PrimaryNeedCode": need.0,
        });
        let summary = match end {
            Some(e) => format!(
                "Child in need plan ({}) from {} to {}",
                need.1,
                long_date(start.date_naive()),
                long_date(e.date_naive())
            ),
            None => format!(
                "Child in need plan open since {}; primary need {}",
                long_date(start.date_naive()),
                need.1
            ),
        };
        self.record_at_la(fam, m, start, &CIN_PLAN, summary, payload);
    }

    fn child_protection(&mut self, fam: &mut Fam, m: usize, case: Case, referral: DateTime<Utc>) {
        let s47 = referral + TimeDelta::days(self.range(1..=3));
        let icpc = s47 + TimeDelta::days(self.range(10..=15));
        if s47 >= self.t0 {
            return;
        }
        let conference = icpc < self.t0;
        let payload = json!({
            "S47ActualStartDate": iso(s47.date_naive()),
            "InitialCPCtarget": iso((s47 + TimeDelta::days(15)).date_naive()),
            "DateOfInitialCPC": conference.then(|| iso(icpc.date_naive())),
            "ICPCnotRequired": false,
        });
        let summary = if conference {
            "Section 47 enquiry; initial child protection conference held and a plan agreed"
        } else {
            "Section 47 enquiry started; initial child protection conference pending"
        };
        self.record_at_la(fam, m, s47, &S47_ENQUIRY, summary.to_owned(), payload);
        if !conference {
            return;
        }
        let category = if fam.domestic_abuse.is_empty() {
            self.weighted(&[
                (("NEG", "neglect"), 50),
                (("EMO", "emotional abuse"), 30),
                (("PHY", "physical abuse"), 10),
                (("SAB", "sexual abuse"), 4),
                (("MUL", "multiple categories"), 6),
            ])
        } else {
            ("EMO", "emotional abuse")
        };
        let end = self.allocate(fam, m, icpc, case.duration);
        let reviews: Vec<String> = [90i64, 270, 450, 630]
            .iter()
            .map(|d| icpc + TimeDelta::days(*d))
            .filter(|d| *d < self.t0 && end.is_none_or(|e| *d < e))
            .map(|d| iso(d.date_naive()))
            .collect();
        let payload = json!({
            "CPPstartDate": iso(icpc.date_naive()),
            "CPPendDate": end.map(|e| iso(e.date_naive())),
            "InitialCategoryOfAbuse": category.0,
            "LatestCategoryOfAbuse": category.0,
            "NumberOfPreviousCPP": 0,
            "CPPreviewDates": reviews,
        });
        let summary = match end {
            Some(e) => format!(
                "Child protection plan under category {} from {} to {}",
                category.1,
                long_date(icpc.date_naive()),
                long_date(e.date_naive())
            ),
            None => format!(
                "Child protection plan under category {} since {}",
                category.1,
                long_date(icpc.date_naive())
            ),
        };
        self.record_at_la(fam, m, icpc, &CP_PLAN, summary, payload);
        self.flag(fam, m, "CPP", icpc, end);
    }

    /// The CP-IS flag an unscheduled-care setting sees: the plan or care status and whom to call.
    fn flag(
        &mut self,
        fam: &mut Fam,
        m: usize,
        code: &str,
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    ) {
        let what = if code == "CPP" {
            "Child protection plan"
        } else {
            "Looked after child"
        };
        let payload = json!({
            "resourceType": "Flag",
            "status": if to.is_none() { "active" } else { "inactive" },
            "code": code,
            "period": { "start": iso(from.date_naive()), "end": to.map(|t| iso(t.date_naive())) },
            "author": "Anyshire County Council",
            "laContact": "Anyshire MASH, 01632 960000",
        });
        let summary = match to {
            None => format!(
                "{what} flag (CP-IS): active since {}",
                long_date(from.date_naive())
            ),
            Some(t) => format!("{what} flag (CP-IS): ended {}", long_date(t.date_naive())),
        };
        self.record_at_la(fam, m, from, &CP_FLAG, summary, payload);
    }

    fn looked_after(&mut self, fam: &mut Fam, m: usize, case: Case, referral: DateTime<Utc>) {
        let start = referral + TimeDelta::days(self.range(5..=60));
        if start >= self.t0 {
            return;
        }
        let (ls, legal) = self.weighted(&[
            (("C2", "a full care order"), 45),
            (("V2", "section 20 accommodation"), 30),
            (("C1", "an interim care order"), 20),
            (("E1", "a placement order"), 5),
        ]);
        let (place, placement) = self.weighted(&[
            (("U4", "with foster carers"), 45),
            (("U1", "with relative foster carers"), 25),
            (("K2", "in a children's home"), 15),
            (("P1", "with parents under a care order"), 5),
            (("U6", "with foster carers out of area"), 10),
        ]);
        let end = self.allocate(fam, m, start, case.duration);
        let rec = end.map(|_| self.pick(&["E4A", "E41", "E45", "E8"]));
        let payload = json!({
            "DECOM": iso(start.date_naive()),
            "RNE": "S",
            "LS": ls,
            "CIN": "N1",
            "PLACE": place,
            "PLACE_PROVIDER": if place.starts_with('U') { "PR1" } else { "PR0" },
            "DEC": end.map(|e| iso(e.date_naive())),
            "REC": rec,
        });
        let summary = match end {
            Some(e) => format!(
                "Looked after under {legal} ({ls}), placed {placement}; episode ended {}",
                long_date(e.date_naive())
            ),
            None => format!(
                "Looked after under {legal} ({ls}) since {}; placed {placement}",
                long_date(start.date_naive())
            ),
        };
        self.record_at_la(fam, m, start, &LOOKED_AFTER_EPISODE, summary, payload);
        self.flag(fam, m, "LAC", start, end);
        let track = &mut fam.members[m].track;
        track.looked_after = true;
        if place != "P1" {
            track.placement = Some((start.date_naive(), end.map(|e| e.date_naive())));
        }
    }

    // --- early-help facts ---------------------------------------------------------------------

    fn early_help_facts(&mut self, fam: &mut Fam) {
        let Some(eh) = fam.early_help else {
            return;
        };
        self.counts.early_help_families += 1;
        let needs = self.early_help_needs(fam);
        let reference = format!(
            "EHA-{}-{:05}",
            eh.start.year(),
            self.counts.early_help_families
        );
        let la = self.orgs.la;
        for c in fam.children() {
            self.la_id(fam, c);
            let declined = eh.consent == Some(ConsentState::Refused);
            let payload = json!({ "ehaRef": reference, "needs": needs, "outcome": if declined { "declined" } else { "taf" } });
            let summary = if declined {
                format!(
                    "Early help assessment offered (needs: {}); family declined support",
                    needs.join(", ").replace('_', " ")
                )
            } else {
                format!(
                    "Early help assessment completed; needs: {}",
                    needs.join(", ").replace('_', " ")
                )
            };
            let when = self.on(eh.start, (9, 17));
            self.record(
                fam,
                Event {
                    who: c,
                    org: la,
                    when,
                },
                &EARLY_HELP_ASSESSMENT,
                summary,
                payload,
            );
            if !declined {
                self.taf_plan(fam, c, eh, &reference);
            }
        }
        // The LA's early-help record covers the whole family.
        for a in fam.adults() {
            fam.members[a].know(la);
        }
    }

    fn early_help_needs(&mut self, fam: &Fam) -> Vec<&'static str> {
        let mut needs = Vec::new();
        if fam.members.iter().any(|m| m.school.is_some()) {
            needs.push("school_attendance");
        }
        needs.push(self.pick(&[
            "parenting_support",
            "housing",
            "financial_difficulty",
            "parental_mental_health",
            "behaviour",
        ]));
        if !fam.domestic_abuse.is_empty() {
            needs.push("domestic_abuse");
        }
        needs
    }

    fn taf_plan(&mut self, fam: &mut Fam, m: usize, eh: EarlyHelp, reference: &str) {
        let start = eh.start + days(self.range(7..=21));
        if !self.before_now(start) {
            return;
        }
        let status = match (eh.end, eh.consent) {
            (_, Some(ConsentState::Withdrawn)) => "closed_consent_withdrawn",
            (Some(_), _) => "closed",
            (None, _) => "open",
        };
        let outcome = eh.end.map(|_| {
            if self.chance(0.6) {
                "needs_met"
            } else {
                "stepped_up"
            }
        });
        let payload = json!({
            "ehaRef": reference,
            "planStart": iso(start),
            "planEnd": eh.end.map(iso),
            "status": status,
            "outcome": outcome,
            "reviewIntervalWeeks": 6,
        });
        let summary = match (status, outcome) {
            ("open", _) => "Team around the family plan open; reviewed every 6 weeks".to_owned(),
            ("closed_consent_withdrawn", _) => {
                "Team around the family plan closed: family withdrew consent".to_owned()
            }
            (_, Some("needs_met")) => {
                "Team around the family plan closed with needs met".to_owned()
            }
            _ => "Team around the family plan closed; stepped up to children's social care"
                .to_owned(),
        };
        let when = self.on(start, (9, 17));
        let la = self.orgs.la;
        self.record(
            fam,
            Event {
                who: m,
                org: la,
                when,
            },
            &TAF_PLAN,
            summary,
            payload,
        );
        if let (Some(end), Some("needs_met")) = (eh.end, outcome) {
            let payload = json!({ "programme": "Supporting Families", "outcomes": ["school_attendance", "family_stability"], "claimDate": iso(end) });
            let when = self.on(end, (9, 17));
            self.record(
                fam,
                Event {
                    who: m,
                    org: la,
                    when,
                },
                &FAMILY_OUTCOME,
                "Supporting Families outcomes met: school attendance, family stability".to_owned(),
                payload,
            );
        }
    }

    // --- long histories -----------------------------------------------------------------------

    /// Gives the family's eldest teenager 60-150 facts spread over five years: the kind of
    /// record a "last 100 facts" query has to page through.
    fn long_history(&mut self, fam: &mut Fam) {
        let Some(m) = fam
            .children()
            .into_iter()
            .find(|&c| fam.members[c].is_teen())
        else {
            return;
        };
        let id = fam.members[m].id;
        let target = usize::try_from(self.range(60..=150)).unwrap_or(60);
        let mut count = fam.facts.iter().filter(|f| f.person_id == id).count();
        let mut extra_terms = 3..self.terms.len().min(15);
        let max_days = i64::from(fam.members[m].age.saturating_sub(9)).max(1) * 365;
        let mut guard = 0;
        while count < target && guard < 1_000 {
            guard += 1;
            let date = self.day_within(max_days.min(1825));
            let choice = self.weighted(&[
                (0u8, 3),
                (1, 5),
                (2, 2),
                (3, 2),
                (4, 1),
                (5, 2),
                (6, 2),
                (7, 1),
            ]);
            match choice {
                0 => {
                    if let (Some(s), Some(term)) =
                        (fam.members[m].school.clone(), extra_terms.next())
                    {
                        self.attendance(fam, m, &s, term..term + 1);
                    }
                }
                1 => {
                    let when = self.on(date, (15, 22));
                    let in_care = fam.case.is_some_and(|c| c.outcome == Outcome::LookedAfter);
                    self.missing_episode(fam, m, when, in_care);
                }
                2 => {
                    let when = self.on(date, (8, 22));
                    self.police_incident(fam, m, when);
                }
                3 => {
                    let when = self.on(date, (0, 22));
                    self.ed_attendance(fam, m, when);
                }
                4 => {
                    let when = self.on(date, (0, 22));
                    self.self_harm_attendance(fam, m, when);
                }
                5 => self.recontact(fam, m, date),
                6 => {
                    if let Some(s) = fam.members[m].school.clone() {
                        self.exclusion(fam, m, &s);
                    }
                }
                _ => {
                    let when = self.on(date, (10, 22));
                    self.exploitation_concern(fam, m, when);
                }
            }
            count = fam.facts.iter().filter(|f| f.person_id == id).count();
        }
    }

    // --- shielding ----------------------------------------------------------------------------

    /// About 0.3% of children are shielded: some in confidential placements, some who fled
    /// abuse to a refuge with their mother, and a few for reasons no record states.
    fn shielding(&mut self, fam: &mut Fam) {
        if fam.profile == Profile::Showcase {
            return;
        }
        let refuge = !fam.domestic_abuse.is_empty() && self.chance(0.01);
        for m in 0..fam.members.len() {
            let member = &fam.members[m];
            let shield = match member.adult {
                None => {
                    refuge || (member.track.looked_after && self.chance(0.1)) || self.chance(0.001)
                }
                Some(_) => refuge && member.sex == Sex::Female,
            };
            fam.members[m].shielded = shield;
        }
    }

    // --- source records and what hangs off them -----------------------------------------------

    /// Who knows whom beyond the facts: the GP knows everyone registered, schools know their
    /// pupils and the pupils' parents (as contacts), the LA knows the whole family of a child
    /// it works with.
    fn baseline_knowledge(&self, fam: &mut Fam) {
        let la = self.orgs.la;
        let schools: Vec<OrgIx> = fam
            .members
            .iter()
            .filter_map(|m| m.school.as_ref())
            .flat_map(|s| std::iter::once(s.current).chain(s.previous.map(|(p, _)| p)))
            .collect();
        let la_family = fam.members.iter().any(|m| m.known_by.contains(&la));
        for member in &mut fam.members {
            member.know(fam.gp);
            if let Some(s) = &member.school {
                let (current, previous) = (s.current, s.previous);
                member.know(current);
                if let Some((p, _)) = previous {
                    member.know(p);
                }
            }
            if member.adult.is_some() {
                for &s in &schools {
                    member.know(s);
                }
            }
            if la_family {
                member.know(la);
            }
        }
    }

    fn records(&mut self, fam: &mut Fam) {
        self.baseline_knowledge(fam);
        for m in 0..fam.members.len() {
            let orgs = fam.members[m].known_by.clone();
            for org in orgs {
                self.source_record(fam, m, org);
            }
        }
    }

    fn connector(kind: AgencyKind) -> &'static str {
        match kind {
            AgencyKind::School => "demo-education",
            AgencyKind::Police => "demo-police",
            AgencyKind::LocalAuthority => "demo-social-care",
            AgencyKind::AcuteTrust
            | AgencyKind::CommunityTrust
            | AgencyKind::MentalHealthTrust
            | AgencyKind::GpPractice => "demo-health",
        }
    }

    /// The organisation's own key for the person: a FHIR id, an MIS id, a police nominal or
    /// the LA's person id. Never a person key for linkage.
    fn local_key(&mut self, org: OrgIx, member: &Member) -> String {
        self.local_keys[org] += 1;
        let n = self.local_keys[org];
        match self.pop.organisations[org].id.kind() {
            AgencyKind::School => format!("mis-{}-{n:05}", self.estab[org]),
            AgencyKind::Police => format!("AN-P-{n:07}"),
            AgencyKind::LocalAuthority => member
                .la_id
                .as_deref()
                .and_then(|id| id.rsplit(':').next())
                .map_or_else(|| format!("P{n:06}"), str::to_owned),
            // One health connector reads many trusts and practices: their local patient ids
            // are qualified by the ODS code so the (connector, source key) stays unique.
            _ => {
                let id = self.pop.organisations[org].id.as_str();
                let ods = id.rsplit(':').next().unwrap_or(id);
                format!("{ods}/pat-{n:06}")
            }
        }
    }

    /// The name this source holds: usually the official one, occasionally spelt differently.
    fn name_as_held(&mut self, member: &Member) -> (String, String) {
        if self.chance(0.015) {
            if let Some(alt) = names::respelling(member.given) {
                return (alt.to_owned(), member.surname.clone());
            }
            let plain: String = member.surname.chars().filter(|c| *c != '\'').collect();
            return (member.given.to_owned(), plain.replace('-', " "));
        }
        (member.given.to_owned(), member.surname.clone())
    }

    fn source_record(&mut self, fam: &mut Fam, m: usize, org: OrgIx) {
        let id = SourceRecordId(self.uuid());
        let key = self.local_key(org, &fam.members[m]);
        let (given, surname) = self.name_as_held(&fam.members[m]);
        let kind = self.pop.organisations[org].id.kind();
        let payload = self.envelope(fam, m, org, &key, (&given, &surname));
        let fetched_at = self.t0 - TimeDelta::seconds(self.range(60..=3600));
        let organisation = self.org_id(org);
        let member = &fam.members[m];
        self.pop.source_records.push(SourceRecord {
            id,
            connector: Self::connector(kind).to_owned(),
            organisation: organisation.clone(),
            source_key: key,
            fetched_at,
            content_hash: sha256_hex(&payload),
            payload,
            person_id: Some(member.id),
            link_method: Some("generated".to_owned()),
        });
        self.names(member, &organisation, id, (given, surname));
        self.identifiers(member, &organisation, id);
        self.addresses(fam, m, org, &organisation, id);
        fam.members[m].records.push((org, id));
    }

    fn names(
        &mut self,
        member: &Member,
        org: &OrganisationId,
        record: SourceRecordId,
        (given, family): (String, String),
    ) {
        let usual = names::nickname(member.given).filter(|_| self.chance(0.2));
        if let Some(nick) = usual {
            self.pop.names.push(PersonName {
                person_id: member.id,
                given: nick.to_owned(),
                family: family.clone(),
                usage: "usual".to_owned(),
                organisation: org.clone(),
                source_record: Some(record),
                date_of_birth: Some(member.dob),
            });
        }
        self.pop.names.push(PersonName {
            person_id: member.id,
            given,
            family,
            usage: "official".to_owned(),
            organisation: org.clone(),
            source_record: Some(record),
            date_of_birth: Some(member.dob),
        });
    }

    /// The identifiers an organisation holds: NHS numbers in every health record and in the
    /// LA's record of a child it knows, the UPN at the current school, the LA's person id, and
    /// a PNC ID at the police.
    fn identifiers(
        &mut self,
        member: &Member,
        organisation: &OrganisationId,
        record: SourceRecordId,
    ) {
        let nhs = || {
            member
                .nhs
                .clone()
                .map(|n| (IdentifierSystem::NhsNumber, n, member.nhs_verified))
        };
        let held: Vec<(IdentifierSystem, String, bool)> = match organisation.kind() {
            AgencyKind::GpPractice
            | AgencyKind::AcuteTrust
            | AgencyKind::CommunityTrust
            | AgencyKind::MentalHealthTrust => nhs().into_iter().collect(),
            // A UPN stays with the child for life, so every school that holds the pupil
            // holds it, not only the current one.
            AgencyKind::School => member
                .school
                .as_ref()
                .and_then(|s| s.upn.clone())
                .map(|u| (IdentifierSystem::Upn, u, true))
                .into_iter()
                .collect(),
            // Children's social care records the pupil's UPN (the CIN census and SSDA903
            // returns carry it), which is how its records meet the school's.
            AgencyKind::LocalAuthority => match member.la_id.clone() {
                Some(id) => std::iter::once((IdentifierSystem::LaPersonId, id, true))
                    .chain(nhs())
                    .chain(
                        member
                            .school
                            .as_ref()
                            .and_then(|s| s.upn.clone())
                            .map(|u| (IdentifierSystem::Upn, u, true)),
                    )
                    .collect(),
                None => vec![],
            },
            AgencyKind::Police => member
                .pnc
                .clone()
                .map(|p| (IdentifierSystem::PncId, p, true))
                .into_iter()
                .collect(),
        };
        for (system, value, verified) in held {
            self.pop.identifiers.push(Identifier {
                person_id: member.id,
                system,
                value,
                verified,
                organisation: organisation.clone(),
                source_record: Some(record),
            });
        }
    }

    fn address_row(
        person: PersonId,
        home: &Home,
        usage: &str,
        span: (Option<NaiveDate>, Option<NaiveDate>),
        org: &OrganisationId,
        record: SourceRecordId,
    ) -> Address {
        Address {
            person_id: person,
            line1: home.line1.clone(),
            line2: home.line2.clone(),
            town: home.town.to_owned(),
            postcode: home.postcode.clone(),
            uprn: Some(home.uprn.clone()),
            usage: usage.to_owned(),
            valid_from: span.0,
            valid_to: span.1,
            organisation: org.clone(),
            source_record: Some(record),
        }
    }

    /// The home address from every source; the old one from the GP, whose record keeps the
    /// history; a placement address from the LA.
    fn addresses(
        &mut self,
        fam: &Fam,
        m: usize,
        org: OrgIx,
        organisation: &OrganisationId,
        record: SourceRecordId,
    ) {
        let member = &fam.members[m];
        let person = member.id;
        let from = fam.home_since.max(member.dob);
        self.pop.addresses.push(Self::address_row(
            person,
            &fam.home,
            "home",
            (Some(from), None),
            organisation,
            record,
        ));
        if org == fam.gp
            && let Some((old, old_from)) = &fam.old_home
        {
            let old_from = (*old_from).max(member.dob);
            if old_from < fam.home_since {
                let to = fam.home_since - days(1);
                self.pop.addresses.push(Self::address_row(
                    person,
                    old,
                    "old",
                    (Some(old_from), Some(to)),
                    organisation,
                    record,
                ));
            }
        }
        if org == self.orgs.la
            && let Some((start, end)) = member.track.placement
        {
            let town = self.pick(names::TOWNS);
            let placement = self.home(town);
            self.pop.addresses.push(Self::address_row(
                person,
                &placement,
                "placement",
                (Some(start), end),
                organisation,
                record,
            ));
        }
    }

    /// The raw envelope a source delivers about a person, in its own shape, as compact JSON.
    fn envelope(
        &mut self,
        fam: &Fam,
        m: usize,
        org: OrgIx,
        key: &str,
        (given, surname): (&str, &str),
    ) -> String {
        // Serialised into one reused buffer, then copied out at its exact size: growing a
        // fresh buffer per record cost more than the serialisation.
        let mut buf = std::mem::take(&mut self.envelope_buf);
        buf.clear();
        let written = self.write_envelope(&mut buf, fam, m, org, key, (given, surname));
        let payload = match (written, std::str::from_utf8(&buf)) {
            (Ok(()), Ok(text)) => text.to_owned(),
            _ => String::new(),
        };
        self.envelope_buf = buf;
        payload
    }

    fn write_envelope(
        &self,
        buf: &mut Vec<u8>,
        fam: &Fam,
        m: usize,
        org: OrgIx,
        key: &str,
        (given, surname): (&str, &str),
    ) -> serde_json::Result<()> {
        let member = &fam.members[m];
        let kind = self.pop.organisations[org].id.kind();
        let home = &fam.home;
        let dob = iso(member.dob);
        let sex = member.sex.as_str();
        let one_line = match &home.line2 {
            Some(l2) => format!("{}, {l2}, {}, {}", home.line1, home.town, home.postcode),
            None => format!("{}, {}, {}", home.line1, home.town, home.postcode),
        };
        match kind {
            AgencyKind::School => {
                let upn = member
                    .school
                    .as_ref()
                    .filter(|s| s.current == org)
                    .and_then(|s| s.upn.as_deref());
                let address = CtfAddress {
                    paon: &home.paon,
                    street: &home.street,
                    town: home.town,
                    post_code: &home.postcode,
                    uprn: &home.uprn,
                };
                match member.adult {
                    None => serde_json::to_writer(
                        &mut *buf,
                        &CtfPupil {
                            upn,
                            surname,
                            forename: given,
                            dob: &dob,
                            sex,
                            address,
                        },
                    ),
                    Some(role) => serde_json::to_writer(
                        &mut *buf,
                        &CtfContact {
                            contact_id: key,
                            surname,
                            forename: given,
                            relationship: match (role, member.sex) {
                                (Adult::StepParent, _) => "STP",
                                (Adult::Parent, Sex::Female) => "MTH",
                                (Adult::Parent, _) => "FTH",
                            },
                            responsibility: role == Adult::Parent,
                            address,
                        },
                    ),
                }
            }
            AgencyKind::Police => serde_json::to_writer(
                &mut *buf,
                &PoliceNominal {
                    person_ref: key,
                    surname,
                    forenames: given,
                    date_of_birth: &dob,
                    sex,
                    pnc_id: member.pnc.as_deref(),
                    address: &one_line,
                },
            ),
            AgencyKind::LocalAuthority => serde_json::to_writer(
                &mut *buf,
                &LaPerson {
                    person_id: key,
                    la_child_id: member.la_id.as_deref(),
                    surname,
                    forename: given,
                    person_birth_date: &dob,
                    gender: sex,
                    upn: member.school.as_ref().and_then(|s| s.upn.as_deref()),
                    address: LaAddress {
                        line1: &home.line1,
                        line2: home.line2.as_deref(),
                        town: home.town,
                        postcode: &home.postcode,
                        uprn: &home.uprn,
                    },
                },
            ),
            _ => {
                let identifier: Option<FhirIdentifier> =
                    member.nhs.as_deref().map(|v| FhirIdentifier {
                        system: "https://fhir.nhs.uk/Id/nhs-number",
                        value: v,
                    });
                let lines: &[&str] = match &home.line2 {
                    Some(l2) => &[home.line1.as_str(), l2.as_str()],
                    None => &[home.line1.as_str()],
                };
                serde_json::to_writer(
                    &mut *buf,
                    &FhirPatient {
                        resource_type: "Patient",
                        id: key,
                        identifier: identifier.as_slice(),
                        name: &[FhirName {
                            r#use: "official",
                            family: surname,
                            given: &[given],
                        }],
                        gender: sex,
                        birth_date: &dob,
                        address: &[FhirAddress {
                            r#use: "home",
                            line: lines,
                            city: home.town,
                            postal_code: &home.postcode,
                        }],
                        general_practitioner: self.pop.organisations[fam.gp]
                            .id
                            .as_str()
                            .trim_start_matches("gp_practice:"),
                    },
                )
            }
        }
    }

    // --- families and relationships -----------------------------------------------------------

    /// The organisation that declared a member's family ties: the LA if it knows them, else
    /// the eldest pupil's school, else the GP (which knows everyone).
    fn declarer(&self, fam: &Fam, member: &Member) -> (OrgIx, Option<SourceRecordId>) {
        let school = fam
            .members
            .iter()
            .find_map(|m| m.school.as_ref().map(|s| s.current));
        [Some(self.orgs.la), school, Some(fam.gp)]
            .into_iter()
            .flatten()
            .find_map(|org| member.record_at(org).map(|r| (org, Some(r))))
            .unwrap_or((fam.gp, None))
    }

    fn family_rows(&mut self, fam: &Fam) {
        self.pop.families.push(Family {
            id: fam.id,
            kind: FamilyKind::Family,
            basis: None,
        });
        for member in &fam.members {
            let (org, record) = self.declarer(fam, member);
            let role = match member.adult {
                None => "child",
                Some(Adult::Parent) => "parent",
                Some(Adult::StepParent) => "carer",
            };
            self.pop.members.push(FamilyMember {
                family_id: fam.id,
                person_id: member.id,
                role: role.to_owned(),
                organisation: self.org_id(org),
                source_record: record,
            });
            if member.adult.is_none() {
                self.relationships(fam, member, org, record);
            }
        }
    }

    fn relationships(
        &mut self,
        fam: &Fam,
        child: &Member,
        org: OrgIx,
        record: Option<SourceRecordId>,
    ) {
        let organisation = self.org_id(org);
        for other in &fam.members {
            if other.id == child.id {
                continue;
            }
            let (kind, responsibility) = match other.adult {
                Some(Adult::Parent) => (RelationshipKind::Parent, Some(true)),
                Some(Adult::StepParent) => (RelationshipKind::Carer, Some(false)),
                None => (RelationshipKind::Sibling, None),
            };
            self.pop.relationships.push(Relationship {
                person_id: child.id,
                related_person: other.id,
                kind,
                parental_responsibility: responsibility,
                organisation: organisation.clone(),
                source_record: record,
            });
        }
    }

    /// Moves the finished family into the population and keeps what involvements need.
    fn flush(&mut self, mut fam: Fam) {
        let members = &fam.members;
        for (fact, &org) in fam.facts.iter_mut().zip(&fam.fact_orgs) {
            fact.source_record = members
                .iter()
                .find(|m| m.id == fact.person_id)
                .and_then(|m| m.record_at(org));
        }
        let first_child = self.children.len();
        for member in &fam.members {
            self.pop.persons.push(Person {
                id: member.id,
                date_of_birth: Some(member.dob),
                sex: member.sex,
                is_child: member.adult.is_none(),
                shielded: member.shielded,
            });
            if member.adult.is_none() {
                let note = self.child_note(&fam, member);
                self.children.push(note);
            }
        }
        if fam.profile == Profile::Showcase {
            self.showcase_school = fam
                .members
                .iter()
                .filter_map(|m| m.school.as_ref())
                .find(|s| s.nc_year <= 6)
                .map(|s| s.current);
        }
        let school = fam
            .members
            .iter()
            .find_map(|m| m.school.as_ref().map(|s| s.current));
        self.families.push(FamilyNote {
            id: fam.id,
            children: first_child..self.children.len(),
            early_help: fam.early_help,
            school,
        });
        self.pop.facts.append(&mut fam.facts);
        fam.fact_orgs.clear();
        self.spare_facts = fam.facts;
        self.spare_orgs = fam.fact_orgs;
    }

    fn child_note(&self, fam: &Fam, member: &Member) -> ChildNote {
        let school = member.school.as_ref().map(|s| {
            let stay = Stay {
                org: s.current,
                from: at(s.since, 8 * 3600),
                to: None,
            };
            (stay, member.record_at(s.current))
        });
        let previous_school = member.school.as_ref().and_then(|s| {
            s.previous.map(|(org, from)| {
                let stay = Stay {
                    org,
                    from: at(from, 8 * 3600),
                    to: Some(at(s.since, 8 * 3600)),
                };
                (stay, member.record_at(org))
            })
        });
        ChildNote {
            person: member.id,
            age: member.age,
            born: at(member.dob, 12 * 3600),
            gp: Some((fam.gp, member.record_at(fam.gp))),
            school,
            previous_school,
            community: member.record_at(self.orgs.community),
            la: member.record_at(self.orgs.la),
            police: member.record_at(self.orgs.police),
            acute: member.record_at(self.orgs.acute),
            track: member.track.clone(),
        }
    }

    // --- practitioners ------------------------------------------------------------------------

    fn person_name(&mut self) -> String {
        let weights: Vec<(usize, u32)> = names::HERITAGES
            .iter()
            .enumerate()
            .map(|(i, h)| (i, h.weight))
            .collect();
        let h = names::HERITAGES[self.weighted(&weights)];
        let given = if self.chance(0.5) {
            self.pick(h.women)
        } else {
            self.pick(h.men)
        };
        let surname = self.pick(h.surnames);
        format!("{given} {surname}")
    }

    fn practitioner(
        &mut self,
        subject: String,
        org: OrgIx,
        role: Role,
        title: &str,
    ) -> Practitioner {
        let doctor = matches!(role, Role::Gp | Role::EdClinician);
        let name = self.person_name();
        Practitioner {
            principal: Principal {
                subject,
                organisation: self.org_id(org),
                roles: vec![role],
            },
            display_name: if doctor { format!("Dr {name}") } else { name },
            title: format!("{title}, {}", self.org_name(org)),
        }
    }

    /// The workforce, sized from what the families need. The first five are the demo's cast,
    /// in a fixed order: a DSL, a police MASH officer, a health visitor, a social worker and a
    /// board member; the family-0 showcase gives the first four a real child to read about.
    fn practitioners(&mut self) {
        let f = self.spec.families;
        let la = self.orgs.la;
        let police = self.orgs.police;
        let acute = self.orgs.acute;
        let community = self.orgs.community;
        let mut rest: Vec<Practitioner> = Vec::new();

        let schools: Vec<OrgIx> = self
            .orgs
            .primaries
            .iter()
            .chain(&self.orgs.secondaries)
            .copied()
            .collect();
        let first_school = self.showcase_school.or(schools.first().copied());
        let mut first_dsl = None;
        for &school in &schools {
            let n = if self.chance(0.5) { 2 } else { 1 };
            for k in 1..=n {
                let subject = format!(
                    "dsl-{}-{k}",
                    self.org_id(school).as_str().trim_start_matches("school:")
                );
                self.staff.dsl[school].push(subject.clone());
                let p =
                    self.practitioner(subject, school, Role::Dsl, "Designated safeguarding lead");
                if first_dsl.is_none() && Some(school) == first_school {
                    first_dsl = Some(p);
                } else {
                    rest.push(p);
                }
            }
        }

        let mash_each = (f / 2000).max(1);
        let mut mash = Vec::new();
        for i in 1..=mash_each {
            for (prefix, org) in [("pol", police), ("la", la), ("acute", acute)] {
                let subject = format!("mash-{prefix}-{i:04}");
                self.staff.mash.push((subject.clone(), org));
                mash.push(self.practitioner(subject, org, Role::MashOfficer, "MASH officer"));
            }
        }
        let hv = self.team(
            "hv",
            (self.counts.under_fives / 60).max(2),
            community,
            Role::HealthVisitor,
            "Health visitor",
        );
        self.staff.health_visitors = hv.iter().map(|p| p.principal.subject.clone()).collect();
        let sw = self.team(
            "sw",
            (self.counts.social_care_children / 40).max(2),
            la,
            Role::SocialWorker,
            "Social worker",
        );
        self.staff.social_workers = sw.iter().map(|p| p.principal.subject.clone()).collect();
        let board = vec![
            self.practitioner(
                "board-0001".to_owned(),
                la,
                Role::BoardMember,
                "Safeguarding children partnership board member",
            ),
            self.practitioner(
                "board-0002".to_owned(),
                police,
                Role::BoardMember,
                "Safeguarding children partnership board member",
            ),
        ];
        let ehp = self.team(
            "ehp",
            (self.counts.early_help_families / 15).max(2),
            la,
            Role::EarlyHelpPractitioner,
            "Early help practitioner",
        );
        self.staff.early_help = ehp.iter().map(|p| p.principal.subject.clone()).collect();
        let ed = self.team(
            "ed",
            (f / 1000).max(2),
            acute,
            Role::EdClinician,
            "Emergency department consultant",
        );
        self.staff.ed = ed.iter().map(|p| p.principal.subject.clone()).collect();
        let pol = self.team(
            "pol",
            (f / 500).max(2),
            police,
            Role::PoliceOfficer,
            "Police constable, public protection unit",
        );
        self.staff.police = pol.iter().map(|p| p.principal.subject.clone()).collect();
        let mut gps = Vec::new();
        for &gp in &self.orgs.gps.clone() {
            let code = self
                .org_id(gp)
                .as_str()
                .trim_start_matches("gp_practice:")
                .to_owned();
            gps.push(self.practitioner(
                format!("gp-{code}-1"),
                gp,
                Role::Gp,
                "General practitioner",
            ));
        }
        let yjs = self.practitioner(
            "yjs-0001".to_owned(),
            la,
            Role::YjsOfficer,
            "Youth justice officer",
        );
        let dpo = self.practitioner(
            "dpo-0001".to_owned(),
            la,
            Role::Dpo,
            "Data protection officer",
        );
        let admin = self.practitioner(
            "admin-0001".to_owned(),
            la,
            Role::SystemAdmin,
            "System administrator",
        );
        let steward = self.practitioner(
            "steward-0001".to_owned(),
            la,
            Role::DataSteward,
            "Identity data steward",
        );

        let mut out = Vec::new();
        out.extend(first_dsl);
        let mut mash = mash.into_iter();
        out.extend(mash.next());
        let mut hv = hv.into_iter();
        out.extend(hv.next());
        let mut sw = sw.into_iter();
        out.extend(sw.next());
        let mut board = board.into_iter();
        out.extend(board.next());
        out.extend(rest);
        out.extend(mash);
        out.extend(hv);
        out.extend(sw);
        out.extend(ehp);
        out.extend(ed);
        out.extend(gps);
        out.extend(pol);
        out.push(yjs);
        out.extend(board);
        out.push(dpo);
        out.push(admin);
        out.push(steward);
        self.pop.practitioners = out;
    }

    fn team(
        &mut self,
        prefix: &str,
        n: usize,
        org: OrgIx,
        role: Role,
        title: &str,
    ) -> Vec<Practitioner> {
        (1..=n)
            .map(|i| self.practitioner(format!("{prefix}-{i:04}"), org, role, title))
            .collect()
    }

    // --- involvements -------------------------------------------------------------------------

    fn involvement(
        &mut self,
        kind: InvolvementKind,
        who: (Option<String>, OrgIx),
        subject: (Option<PersonId>, Option<FamilyId>),
        stay: Stay,
        service: &str,
        source: Option<SourceRecordId>,
    ) {
        let id = InvolvementId(self.uuid());
        self.pop.involvements.push(Involvement {
            id,
            kind,
            principal: who.0,
            organisation: self.org_id(who.1),
            person_id: subject.0,
            family_id: subject.1,
            started_at: stay.from,
            ended_at: stay.to,
            service: (!service.is_empty()).then(|| service.to_owned()),
            source: source.map_or_else(|| "hub".to_owned(), |r| r.to_string()),
            category: None,
            // The organisation's duty line, in Ofcom's range for drama (01632 960000-960999).
            contact: Some(format!("01632 960{:03}", who.1 % 1000)),
        });
    }

    /// Ties practitioners to children and families. Work is shared out family by family in
    /// turn, so siblings keep one social worker and one health visitor, and family 0 lands
    /// with the first of each.
    fn involvements(&mut self) {
        let mut turn = Turns::default();
        let families = std::mem::take(&mut self.families);
        let children = std::mem::take(&mut self.children);
        for fam in &families {
            let kids = &children[fam.children.clone()];
            self.statutory(kids, &mut turn);
            for c in kids {
                self.derived(c);
            }
            self.police_and_ed(kids, &mut turn);
            self.early_help_team(fam, kids, &mut turn);
        }
        self.children = children;
        self.families = families;
    }

    /// Social work, the MASH and health visiting: one worker of each per family.
    fn statutory(&mut self, kids: &[ChildNote], turn: &mut Turns) {
        let la = self.orgs.la;
        let community = self.orgs.community;
        if kids.iter().any(|c| c.track.social_care.is_some()) {
            let sw = turn.next(&self.staff.social_workers, |t| &mut t.sw);
            for c in kids {
                if let Some(stay) = c.track.social_care {
                    self.involvement(
                        InvolvementKind::AllocatedSocialWorker,
                        (sw.clone(), la),
                        (Some(c.person), None),
                        stay,
                        "children's social care",
                        c.la,
                    );
                }
            }
        }
        let window = self.t0 - TimeDelta::days(60);
        if kids
            .iter()
            .any(|c| c.track.referred.is_some_and(|r| r >= window))
        {
            let i = turn.mash;
            turn.mash += 1;
            let officer = (!self.staff.mash.is_empty())
                .then(|| self.staff.mash[i % self.staff.mash.len()].clone());
            if let Some((subject, org)) = officer {
                for c in kids {
                    let Some(r) = c.track.referred.filter(|r| *r >= window) else {
                        continue;
                    };
                    // A MASH enquiry is open for about a fortnight, then decided.
                    let end = r + TimeDelta::days(14);
                    let stay = Stay {
                        org,
                        from: r,
                        to: (end < self.t0).then_some(end),
                    };
                    self.involvement(
                        InvolvementKind::MashEnquiry,
                        (Some(subject.clone()), org),
                        (Some(c.person), None),
                        stay,
                        "MASH",
                        c.la,
                    );
                }
            }
        }
        if kids.iter().any(|c| c.age <= 4) {
            let hv = turn.next(&self.staff.health_visitors, |t| &mut t.hv);
            for c in kids.iter().filter(|c| c.age <= 4) {
                let stay = Stay {
                    org: community,
                    from: c.born + TimeDelta::days(10),
                    to: None,
                };
                let stay = Stay {
                    from: stay.from.min(self.t0 - TimeDelta::hours(1)),
                    ..stay
                };
                self.involvement(
                    InvolvementKind::HealthVisitorCaseload,
                    (hv.clone(), community),
                    (Some(c.person), None),
                    stay,
                    "health visiting",
                    c.community,
                );
            }
        }
    }

    /// Involvements held by a whole organisation and derived from its records: the school a
    /// child is on roll at (and the one they left) and the practice they are registered with.
    fn derived(&mut self, c: &ChildNote) {
        if let Some((stay, record)) = c.school {
            self.involvement(
                InvolvementKind::DslCurrentSchool,
                (None, stay.org),
                (Some(c.person), None),
                stay,
                "",
                record,
            );
        }
        if let Some((stay, record)) = c.previous_school {
            self.involvement(
                InvolvementKind::DslCurrentSchool,
                (None, stay.org),
                (Some(c.person), None),
                stay,
                "",
                record,
            );
        }
        if let Some((gp, record)) = c.gp {
            let stay = Stay {
                org: gp,
                from: c.born + TimeDelta::days(14),
                to: None,
            };
            let stay = Stay {
                from: stay.from.min(self.t0 - TimeDelta::hours(1)),
                ..stay
            };
            self.involvement(
                InvolvementKind::RegisteredGp,
                (None, gp),
                (Some(c.person), None),
                stay,
                "general practice",
                record,
            );
        }
    }

    /// Investigating officers for recent domestic abuse, treating clinicians for children
    /// still in ED.
    fn police_and_ed(&mut self, kids: &[ChildNote], turn: &mut Turns) {
        let police = self.orgs.police;
        let acute = self.orgs.acute;
        let window = self.t0 - TimeDelta::days(90);
        if kids
            .iter()
            .any(|c| c.track.domestic_abuse.is_some_and(|d| d >= window))
        {
            let officer = turn.next(&self.staff.police, |t| &mut t.police);
            for c in kids {
                if let Some(d) = c.track.domestic_abuse.filter(|d| *d >= window) {
                    let stay = Stay {
                        org: police,
                        from: d,
                        to: None,
                    };
                    self.involvement(
                        InvolvementKind::InvestigatingOfficer,
                        (officer.clone(), police),
                        (Some(c.person), None),
                        stay,
                        "public protection unit",
                        c.police,
                    );
                }
            }
        }
        for c in kids {
            for &when in &c.track.ed_recent {
                let clinician = turn.next(&self.staff.ed, |t| &mut t.ed);
                let stay = Stay {
                    org: acute,
                    from: when,
                    to: None,
                };
                self.involvement(
                    InvolvementKind::TreatingClinician,
                    (clinician, acute),
                    (Some(c.person), None),
                    stay,
                    "emergency department",
                    c.acute,
                );
            }
        }
    }

    /// A lead professional and the team around the family, with the family's consent.
    fn early_help_team(&mut self, fam: &FamilyNote, kids: &[ChildNote], turn: &mut Turns) {
        let Some(eh) = fam.early_help else {
            return;
        };
        let la = self.orgs.la;
        let lead = turn.next(&self.staff.early_help, |t| &mut t.early_help);
        let from = at(eh.start, 10 * 3600);
        let stay = Stay {
            org: la,
            from,
            to: eh.end.map(|e| at(e, 16 * 3600)),
        };
        let family = (None, Some(fam.id));
        self.involvement(
            InvolvementKind::LeadProfessional,
            (lead.clone(), la),
            family,
            stay,
            "early help",
            None,
        );
        self.involvement(
            InvolvementKind::TafMember,
            (lead.clone(), la),
            family,
            stay,
            "early help",
            None,
        );
        if let Some(school) = fam.school
            && let Some(dsl) = self.staff.dsl[school].first().cloned()
        {
            self.involvement(
                InvolvementKind::TafMember,
                (Some(dsl), school),
                family,
                Stay {
                    org: school,
                    ..stay
                },
                "early help",
                None,
            );
        }
        if kids.iter().any(|c| c.age <= 4) && !self.staff.health_visitors.is_empty() {
            let hv = turn.next(&self.staff.health_visitors, |t| &mut t.hv);
            let community = self.orgs.community;
            self.involvement(
                InvolvementKind::TafMember,
                (hv, community),
                family,
                Stay {
                    org: community,
                    ..stay
                },
                "early help",
                None,
            );
        }
        if let Some(state) = eh.consent {
            for c in kids {
                self.consent(c.person, state, eh, lead.clone().unwrap_or_default());
            }
        }
    }

    fn consent(
        &mut self,
        person: PersonId,
        state: ConsentState,
        eh: EarlyHelp,
        recorded_by: String,
    ) {
        let id = self.uuid();
        // Consent is sought at the assessment; a withdrawal is recorded when it happens, later.
        let recorded = match state {
            ConsentState::Withdrawn => {
                let span = (self.spec.as_of - eh.start).num_days().max(2);
                at(eh.start + days(self.range(1..=span - 1)), 11 * 3600)
            }
            _ => at(eh.start, 10 * 3600),
        };
        self.pop.consents.push(Consent {
            id,
            person_id: person,
            state,
            given_by: "parent".to_owned(),
            purposes: vec![Purpose::EarlyHelp],
            categories: Vec::new(),
            organisations: Vec::new(),
            recorded_by,
            recorded_at: recorded,
            expires_at: None,
        });
    }
}

/// Whose turn it is in each team: work is dealt round-robin, one family at a time.
#[derive(Default)]
struct Turns {
    sw: usize,
    mash: usize,
    hv: usize,
    police: usize,
    ed: usize,
    early_help: usize,
}

impl Turns {
    fn next(
        &mut self,
        team: &[String],
        counter: impl Fn(&mut Turns) -> &mut usize,
    ) -> Option<String> {
        let c = counter(self);
        let pick = (!team.is_empty()).then(|| team[*c % team.len()].clone());
        *c += 1;
        pick
    }
}

// ---------------------------------------------------------------------------------------------
// Source envelopes: the raw shapes each kind of source delivers about a person
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FhirPatient<'a> {
    resource_type: &'static str,
    id: &'a str,
    identifier: &'a [FhirIdentifier<'a>],
    name: &'a [FhirName<'a>],
    gender: &'a str,
    birth_date: &'a str,
    address: &'a [FhirAddress<'a>],
    general_practitioner: &'a str,
}

#[derive(Serialize)]
struct FhirIdentifier<'a> {
    system: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct FhirName<'a> {
    r#use: &'static str,
    family: &'a str,
    given: &'a [&'a str],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FhirAddress<'a> {
    r#use: &'static str,
    line: &'a [&'a str],
    city: &'a str,
    postal_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CtfAddress<'a> {
    #[serde(rename = "PAON")]
    paon: &'a str,
    street: &'a str,
    town: &'a str,
    post_code: &'a str,
    #[serde(rename = "UniquePropertyReferenceNumber")]
    uprn: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CtfPupil<'a> {
    #[serde(rename = "UPN")]
    upn: Option<&'a str>,
    surname: &'a str,
    forename: &'a str,
    #[serde(rename = "DOB")]
    dob: &'a str,
    sex: &'a str,
    address: CtfAddress<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CtfContact<'a> {
    #[serde(rename = "ContactID")]
    contact_id: &'a str,
    surname: &'a str,
    forename: &'a str,
    relationship: &'static str,
    responsibility: bool,
    address: CtfAddress<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PoliceNominal<'a> {
    person_ref: &'a str,
    surname: &'a str,
    forenames: &'a str,
    date_of_birth: &'a str,
    sex: &'a str,
    pnc_id: Option<&'a str>,
    address: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LaPerson<'a> {
    person_id: &'a str,
    #[serde(rename = "LAchildID")]
    la_child_id: Option<&'a str>,
    surname: &'a str,
    forename: &'a str,
    person_birth_date: &'a str,
    gender: &'a str,
    #[serde(rename = "UPN")]
    upn: Option<&'a str>,
    address: LaAddress<'a>,
}

#[derive(Serialize)]
struct LaAddress<'a> {
    line1: &'a str,
    line2: Option<&'a str>,
    town: &'a str,
    postcode: &'a str,
    uprn: &'a str,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn population(families: usize, seed: u64) -> Population {
        generate(&PopulationSpec::new(families, seed))
    }

    /// Every part of a population as JSON, so two populations compare byte for byte. Debug is
    /// redacted, so it cannot be used for this.
    fn fingerprint(p: &Population) -> Vec<String> {
        fn json<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_else(|e| format!("unserialisable: {e}"))
        }
        let practitioners: Vec<(String, &str, &str)> = p
            .practitioners
            .iter()
            .map(|x| {
                (
                    json(&x.principal),
                    x.display_name.as_str(),
                    x.title.as_str(),
                )
            })
            .collect();
        vec![
            json(&p.organisations),
            json(&p.persons),
            json(&p.names),
            json(&p.identifiers),
            json(&p.addresses),
            json(&p.families),
            json(&p.members),
            json(&p.relationships),
            json(&p.facts),
            json(&p.involvements),
            json(&p.consents),
            json(&p.source_records),
            json(&practitioners),
        ]
    }

    fn reference_instant(p: &PopulationSpec) -> DateTime<Utc> {
        at(p.as_of, 0)
    }

    #[test]
    fn the_same_spec_gives_identical_output_and_another_seed_differs() {
        let a = fingerprint(&population(120, 7));
        let b = fingerprint(&population(120, 7));
        assert_eq!(a, b, "same spec, different output");
        let c = fingerprint(&population(120, 8));
        let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
        assert!(
            differing >= 10,
            "a new seed changed only {differing} of {} parts",
            a.len()
        );
    }

    #[test]
    fn two_hundred_families_have_plausible_counts() {
        let spec = PopulationSpec::new(200, 42);
        let p = generate(&spec);
        let children = p.child_count();
        let adults = p.persons.len() - children;
        assert_eq!(p.families.len(), 200);
        assert!((420..=580).contains(&children), "children: {children}");
        assert!((300..=400).contains(&adults), "adults: {adults}");
        assert_eq!(
            p.organisations.len(),
            5 + 2 + 2 + 2,
            "LA, police, 3 trusts, 2 GPs, 2+2 schools"
        );

        let mut per_family: BTreeMap<FamilyId, (usize, usize)> = BTreeMap::new();
        for m in &p.members {
            let e = per_family.entry(m.family_id).or_default();
            if m.role == "child" {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
        for (kids, grown) in per_family.values() {
            assert!((1..=5).contains(kids), "{kids} children in a family");
            assert!((1..=2).contains(grown), "{grown} adults in a family");
        }

        let by_kind = |k: &str| p.facts.iter().filter(|f| f.kind == k).count();
        let children_with = |k: &str| {
            p.facts
                .iter()
                .filter(|f| f.kind == k)
                .map(|f| f.person_id)
                .collect::<BTreeSet<_>>()
                .len()
        };
        assert!(p.facts.len() > 4 * children, "facts: {}", p.facts.len());
        assert!(
            by_kind("enrolment") >= children * 2 / 3,
            "enrolments: {}",
            by_kind("enrolment")
        );
        assert!(by_kind("attendance_summary") >= 2 * by_kind("enrolment"));
        let ed = children_with("ed_attendance");
        assert!(
            (20..=110).contains(&ed),
            "children with an ED attendance: {ed}"
        );
        let referred = children_with("contact");
        assert!(
            (10..=70).contains(&referred),
            "children with a contact: {referred}"
        );
        assert!(children_with("cp_plan") >= 1 && children_with("cp_plan") < referred);
        assert!(by_kind("domestic_abuse_incident") >= 10);
        assert!(by_kind("immunisation") > 0 && by_kind("development_review") > 0);
        assert!(children_with("fsm_period") * 100 / by_kind("enrolment").max(1) <= 40);
        let shielded = p
            .persons
            .iter()
            .filter(|x| x.shielded && x.is_child)
            .count();
        assert!(shielded <= 10, "shielded children: {shielded}");
        assert!(!p.consents.is_empty(), "early-help consents");

        // Ages: children 0-17, adults 18-60 and 16+ years older than every child of theirs.
        let dob: BTreeMap<PersonId, NaiveDate> = p
            .persons
            .iter()
            .filter_map(|x| x.date_of_birth.map(|d| (x.id, d)))
            .collect();
        for x in &p.persons {
            let age = x
                .date_of_birth
                .and_then(|d| spec.as_of.years_since(d))
                .unwrap_or(99);
            if x.is_child {
                assert!(age <= 17)
            } else {
                assert!((18..=60).contains(&age), "adult aged {age}")
            }
        }
        for r in p
            .relationships
            .iter()
            .filter(|r| r.kind != RelationshipKind::Sibling)
        {
            let (Some(child), Some(adult)) = (dob.get(&r.person_id), dob.get(&r.related_person))
            else {
                panic!("relationship to an unknown person");
            };
            assert!(
                child.years_since(*adult).unwrap_or(0) >= 16,
                "a parent or carer under 16 years older"
            );
        }
    }

    #[test]
    fn every_nhs_number_and_upn_validates_and_nhs_numbers_are_unique() {
        let p = population(300, 3);
        let mut owner: BTreeMap<&str, PersonId> = BTreeMap::new();
        let mut upns: BTreeMap<&str, PersonId> = BTreeMap::new();
        for id in &p.identifiers {
            match id.system {
                IdentifierSystem::NhsNumber => {
                    assert!(
                        id.value
                            .parse::<NhsNumber>()
                            .is_ok_and(|n| n.to_string() == id.value)
                    );
                    assert!(id.value.starts_with("999") && !id.value.starts_with("999000000"));
                    assert_eq!(
                        *owner.entry(&id.value).or_insert(id.person_id),
                        id.person_id,
                        "an NHS number held by two persons"
                    );
                }
                IdentifierSystem::Upn => {
                    assert!(
                        id.value
                            .parse::<Upn>()
                            .is_ok_and(|u| u.to_string() == id.value)
                    );
                    assert_eq!(&id.value[1..4], "999");
                    assert_eq!(
                        *upns.entry(&id.value).or_insert(id.person_id),
                        id.person_id,
                        "a UPN held by two pupils"
                    );
                }
                IdentifierSystem::PncId => {
                    assert!(
                        PncId::parse_at(&id.value, 2026).is_ok_and(|n| n.to_string() == id.value)
                    );
                }
                IdentifierSystem::LaPersonId => assert!(id.value.starts_with("la:999:")),
                IdentifierSystem::FormerUpn => {}
            }
        }
        let children: BTreeSet<PersonId> = p
            .persons
            .iter()
            .filter(|x| x.is_child)
            .map(|x| x.id)
            .collect();
        let with_nhs: BTreeSet<PersonId> = owner.values().copied().collect();
        assert!(
            children.is_subset(&with_nhs),
            "every child has an NHS number"
        );
        assert!(!upns.is_empty());
    }

    /// The expected category of each kind, written out independently of the generator.
    const EXPECTED: &[(&str, &str, &str)] = &[
        ("enrolment", "education.enrolment", "education"),
        ("attendance_summary", "education.attendance", "education"),
        ("exclusion", "education.exclusions", "education"),
        ("fsm_period", "education.fsm", "education"),
        ("sen_provision", "education.sen", "education"),
        ("development_review", "health.development", "health"),
        ("immunisation", "health.development", "health"),
        ("condition", "health.condition", "health"),
        ("mental_health_condition", "health.mental_health", "health"),
        (
            "substance_misuse_referral",
            "health.substance_misuse",
            "health",
        ),
        ("ed_attendance", "health.unscheduled_care", "health"),
        ("self_harm_attendance", "health.mental_health", "health"),
        ("camhs_referral", "health.mental_health", "health"),
        ("sexual_health_contact", "health.sexual_health", "health"),
        ("domestic_abuse_incident", "police.domestic_abuse", "police"),
        ("missing_episode", "police.missing_episode", "police"),
        ("exploitation_concern", "police.exploitation", "police"),
        ("youth_justice_outcome", "police.youth_justice", "police"),
        ("police_incident", "police.incident", "police"),
        ("contact", "social_care.contact_referral", "social_care"),
        ("referral", "social_care.contact_referral", "social_care"),
        ("assessment", "social_care.assessment", "social_care"),
        ("s47_enquiry", "social_care.assessment", "social_care"),
        ("cin_plan", "social_care.child_in_need", "social_care"),
        ("cp_plan", "social_care.child_protection", "social_care"),
        (
            "cp_flag",
            "social_care.child_protection_flag",
            "social_care",
        ),
        (
            "looked_after_episode",
            "social_care.looked_after",
            "social_care",
        ),
        (
            "early_help_assessment",
            "early_help.assessment",
            "early_help",
        ),
        ("taf_plan", "early_help.plan", "early_help"),
        ("family_outcome", "early_help.family_outcomes", "early_help"),
    ];

    #[test]
    fn every_fact_category_and_agency_match_its_kind_and_sender() {
        let p = population(300, 11);
        for f in &p.facts {
            let Some((_, category, agency)) = EXPECTED.iter().find(|(k, _, _)| *k == f.kind) else {
                panic!("unexpected fact kind `{}`", f.kind);
            };
            assert_eq!(f.category.as_str(), *category, "kind `{}`", f.kind);
            assert_eq!(f.agency.as_str(), *agency, "kind `{}`", f.kind);
            let sender_ok = match f.agency {
                Agency::Health => matches!(
                    f.organisation.kind(),
                    AgencyKind::GpPractice
                        | AgencyKind::AcuteTrust
                        | AgencyKind::CommunityTrust
                        | AgencyKind::MentalHealthTrust
                ),
                Agency::Education => f.organisation.kind() == AgencyKind::School,
                Agency::Police => f.organisation.kind() == AgencyKind::Police,
                Agency::SocialCare | Agency::EarlyHelp => {
                    f.organisation.kind() == AgencyKind::LocalAuthority
                }
            };
            assert!(sender_ok, "kind `{}` sent by `{}`", f.kind, f.organisation);
        }
        let seen: BTreeSet<&str> = p.facts.iter().map(|f| f.kind.as_str()).collect();
        for core in [
            "enrolment",
            "attendance_summary",
            "ed_attendance",
            "domestic_abuse_incident",
            "contact",
            "cp_plan",
            "cp_flag",
            "early_help_assessment",
            "taf_plan",
        ] {
            assert!(seen.contains(core), "no `{core}` fact generated");
        }
    }

    /// Asserts the demo cast leads the practitioners and the first four can read a real child.
    fn assert_demo_cast(spec: &PopulationSpec, p: &Population) {
        let now = reference_instant(spec);
        let roles: Vec<Role> = p
            .practitioners
            .iter()
            .take(5)
            .map(|x| x.principal.roles[0])
            .collect();
        assert_eq!(
            roles,
            [
                Role::Dsl,
                Role::MashOfficer,
                Role::HealthVisitor,
                Role::SocialWorker,
                Role::BoardMember
            ]
        );
        assert_eq!(
            p.practitioners[1].principal.organisation.kind(),
            AgencyKind::Police
        );
        let with_facts: BTreeSet<PersonId> = p.facts.iter().map(|f| f.person_id).collect();
        let children: BTreeSet<PersonId> = p
            .persons
            .iter()
            .filter(|x| x.is_child)
            .map(|x| x.id)
            .collect();
        for (i, who) in p.practitioners.iter().take(4).enumerate() {
            let principal = &who.principal;
            let active = p.involvements.iter().any(|inv| {
                let mine = match &inv.principal {
                    Some(s) => *s == principal.subject,
                    None => inv.organisation == principal.organisation,
                };
                mine && inv.is_active(now)
                    && inv
                        .person_id
                        .is_some_and(|c| children.contains(&c) && with_facts.contains(&c))
            });
            assert!(
                active,
                "practitioner {i} (`{}`) has no active involvement with a child who has facts",
                principal.subject
            );
        }
    }

    #[test]
    fn the_first_practitioners_are_the_demo_cast_with_active_involvements_with_children_who_have_facts()
     {
        let spec = PopulationSpec::new(200, 42);
        let p = generate(&spec);
        assert_demo_cast(&spec, &p);
        let subjects: BTreeSet<&str> = p
            .practitioners
            .iter()
            .map(|x| x.principal.subject.as_str())
            .collect();
        assert_eq!(subjects.len(), p.practitioners.len(), "subjects are unique");
        for role in Role::ALL {
            assert!(
                p.practitioners.iter().any(|x| x.principal.has_role(*role)),
                "no `{role}`"
            );
        }
    }

    #[test]
    fn tiny_populations_still_give_the_demo_cast_something_to_read() {
        let empty = population(0, 1);
        assert!(empty.persons.is_empty() && empty.practitioners.len() >= 5);
        for families in [1, 3] {
            let spec = PopulationSpec::new(families, 2);
            assert_demo_cast(&spec, &generate(&spec));
        }
    }

    #[test]
    fn every_reference_resolves_to_a_record_of_the_same_person_and_organisation() {
        let p = population(150, 5);
        let records: BTreeMap<SourceRecordId, &SourceRecord> =
            p.source_records.iter().map(|r| (r.id, r)).collect();
        assert_eq!(
            records.len(),
            p.source_records.len(),
            "source record ids are unique"
        );
        for r in &p.source_records {
            assert_eq!(r.content_hash, sha256_hex(&r.payload));
            assert!(serde_json::from_str::<Value>(&r.payload).is_ok());
            assert_eq!(r.link_method.as_deref(), Some("generated"));
        }
        let check =
            |person: PersonId, org: &OrganisationId, record: Option<SourceRecordId>, what: &str| {
                let Some(r) = record.and_then(|id| records.get(&id)) else {
                    panic!("{what} without a source record");
                };
                assert_eq!(
                    r.person_id,
                    Some(person),
                    "{what} points at another person's record"
                );
                assert_eq!(
                    &r.organisation, org,
                    "{what} points at another organisation's record"
                );
            };
        for f in &p.facts {
            check(f.person_id, &f.organisation, f.source_record, "fact");
            assert!(
                f.occurred_at <= f.recorded_at
                    && f.recorded_at < at(PopulationSpec::new(1, 1).as_of, 0)
            );
        }
        for n in &p.names {
            check(n.person_id, &n.organisation, n.source_record, "name");
        }
        for i in &p.identifiers {
            check(i.person_id, &i.organisation, i.source_record, "identifier");
        }
        for a in &p.addresses {
            check(a.person_id, &a.organisation, a.source_record, "address");
        }
        for m in &p.members {
            check(
                m.person_id,
                &m.organisation,
                m.source_record,
                "family member",
            );
        }
        for r in &p.relationships {
            check(
                r.person_id,
                &r.organisation,
                r.source_record,
                "relationship",
            );
        }
        let fact_ids: BTreeSet<FactId> = p.facts.iter().map(|f| f.id).collect();
        assert_eq!(fact_ids.len(), p.facts.len(), "fact ids are unique");
        let person_ids: BTreeSet<PersonId> = p.persons.iter().map(|x| x.id).collect();
        assert_eq!(person_ids.len(), p.persons.len(), "person ids are unique");
    }

    #[test]
    fn a_handful_of_children_have_long_histories() {
        let p = population(400, 9);
        let mut per_person: BTreeMap<PersonId, usize> = BTreeMap::new();
        for f in &p.facts {
            *per_person.entry(f.person_id).or_default() += 1;
        }
        let long = per_person
            .values()
            .filter(|n| (60..=160).contains(*n))
            .count();
        assert!(long >= 3, "children with 60+ facts: {long}");
    }

    #[test]
    fn summaries_never_name_the_person() {
        let p = population(150, 13);
        let mut names: BTreeMap<PersonId, Vec<String>> = BTreeMap::new();
        for n in &p.names {
            names
                .entry(n.person_id)
                .or_default()
                .push(format!("{} {}", n.given, n.family));
        }
        for f in &p.facts {
            for full in names.get(&f.person_id).into_iter().flatten() {
                assert!(
                    !f.summary.contains(full.as_str()),
                    "a `{}` summary names its subject",
                    f.kind
                );
            }
        }
    }
}
