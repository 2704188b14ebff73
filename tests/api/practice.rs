//! Practice on the graph through the real server: indicators of need that hold for a child
//! and their family, with evidence governed fact by fact, and the early help team's list of
//! families meeting the Supporting Families criteria.

use chrono::{DateTime, TimeDelta, Utc};
use kinship::model::{
    Agency, Consent, ConsentState, DataCategory, Fact, FactId, FamilyId, FamilyKind, Involvement,
    InvolvementId, InvolvementKind, OrganisationId, PersonId, Principal, Purpose, Role,
};
use kinship::practice::indicators::IndicatorSets;
use kinship::store::{indicators, load};
use serde_json::{Value, json};

use crate::golden::LA;
use crate::helpers::{TestApp, consent, on_each_backend, principal, spawn_app};

const SCHOOL_KIND: &str = "school";

/// A family of the generated population with a child and a parent.
fn family_with_child_and_parent(app: &TestApp) -> (FamilyId, PersonId, PersonId) {
    let pop = &app.population;
    pop.families
        .iter()
        .filter(|f| f.kind == FamilyKind::Family)
        .find_map(|f| {
            let members: Vec<_> = pop.members.iter().filter(|m| m.family_id == f.id).collect();
            let child = members.iter().find(|m| m.role == "child")?.person_id;
            let parent = members.iter().find(|m| m.role == "parent")?.person_id;
            Some((f.id, child, parent))
        })
        .expect("a family with a child and a parent")
}

/// A child the local authority has no referral of.
fn never_referred(app: &TestApp) -> PersonId {
    let pop = &app.population;
    pop.persons
        .iter()
        .filter(|p| p.is_child)
        .map(|p| p.id)
        .find(|id| {
            !pop.facts
                .iter()
                .any(|f| f.person_id == *id && f.kind == "referral")
        })
        .expect("a child never referred")
}

fn fact(
    person: PersonId,
    organisation: &OrganisationId,
    (category, agency, kind): (DataCategory, Agency, &str),
    at: DateTime<Utc>,
    payload: Value,
) -> Fact {
    Fact {
        id: FactId(uuid::Uuid::now_v7()),
        person_id: person,
        agency,
        organisation: organisation.clone(),
        category,
        kind: kind.into(),
        occurred_at: at,
        recorded_at: at,
        summary: format!("{kind} (test)"),
        payload,
        source_record: None,
    }
}

/// Gives the family three criteria: two low attendance terms and free school meals for the
/// child (a school's facts), and a domestic abuse incident with the child present (police).
async fn make_family_meet_three(app: &TestApp, child: PersonId) -> (Vec<FactId>, FactId) {
    let now = Utc::now();
    let school = app
        .population
        .organisations
        .iter()
        .find(|o| o.id.as_str().starts_with(SCHOOL_KIND))
        .expect("a school")
        .id
        .clone();
    let police: OrganisationId = "police:anyshire".parse().unwrap();
    let attendance = (
        DataCategory::EducationAttendance,
        Agency::Education,
        "attendance_summary",
    );
    let terms = [
        fact(
            child,
            &school,
            attendance,
            now - TimeDelta::days(150),
            json!({ "AttendancePercent": 86.2 }),
        ),
        fact(
            child,
            &school,
            attendance,
            now - TimeDelta::days(40),
            json!({ "AttendancePercent": "81.0" }),
        ),
    ];
    let fsm = fact(
        child,
        &school,
        (DataCategory::EducationFsm, Agency::Education, "fsm_period"),
        now - TimeDelta::days(30),
        json!({ "FSMstartDate": "2026-10-01", "FSMendDate": null }),
    );
    let incident = fact(
        child,
        &police,
        (
            DataCategory::PoliceDomesticAbuse,
            Agency::Police,
            "domestic_abuse_incident",
        ),
        now - TimeDelta::days(10),
        json!({ "eventRef": "AP-2026-000123", "role": "child_present", "eventType": "domestic_abuse" }),
    );
    let ids = terms.iter().map(|f| f.id).collect();
    let incident_id = incident.id;
    let mut rows = terms.to_vec();
    rows.extend([fsm, incident]);
    load::facts(app.store.conn(), &rows).await.unwrap();
    (ids, incident_id)
}

/// An early help practitioner of the local authority, in the team around `family`, with the
/// child's consent to early help recorded.
async fn team_around_the_family(app: &TestApp, family: FamilyId, child: PersonId) -> Principal {
    let eh = principal("eh-worker-1", LA, Role::EarlyHelpPractitioner);
    let now = Utc::now();
    load::involvements(
        app.store.conn(),
        &[Involvement {
            id: InvolvementId(uuid::Uuid::new_v4()),
            kind: InvolvementKind::TafMember,
            principal: Some(eh.subject.clone()),
            organisation: eh.organisation.clone(),
            person_id: None,
            family_id: Some(family),
            started_at: now - TimeDelta::days(5),
            ended_at: None,
            service: Some("early help".into()),
            source: "hub".into(),
            category: None,
            contact: None,
        }],
    )
    .await
    .unwrap();
    load::consents(
        app.store.conn(),
        &[consent(
            child,
            ConsentState::Given,
            Purpose::EarlyHelp,
            &eh.subject,
            now - TimeDelta::days(5),
        )],
    )
    .await
    .unwrap();
    eh
}

const PERSON_INDICATORS: &str = "query($id: ID!) { person(id: $id) { indicators { id criterion { id title } since evidence { id category } evidenceWithheld evidenceWithheldReason } } }";

fn by_id<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("indicator `{id}` in {list}"))
}

#[tokio::test]
async fn indicators_hold_with_evidence_governed_fact_by_fact() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 40).await;
        let (family, child, _) = family_with_child_and_parent(&app);
        let (terms, incident) = make_family_meet_three(&app, child).await;
        let vars = json!({ "id": child.to_string() });

        // Outside the team: the indicator holds and says so; its evidence is all withheld,
        // with the reason.
        let outsider = principal("eh-worker-2", LA, Role::EarlyHelpPractitioner);
        let reply = app.query(&outsider, Some("early_help"), PERSON_INDICATORS, vars.clone()).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let list = &reply.body["data"]["person"]["indicators"];
        let pa = by_id(list, "persistent_absence");
        assert_eq!(pa["criterion"]["id"], "education");
        assert_eq!(pa["evidence"], json!([]));
        assert_eq!(pa["evidenceWithheld"], 2);
        let why = pa["evidenceWithheldReason"].as_str().unwrap();
        assert!(why.contains("education.attendance"), "{why}");

        // In the team, with consent: the school's evidence shows; the police incident does
        // not (no protocol shares police data for early help), and the indicator says so.
        let eh = team_around_the_family(&app, family, child).await;
        let reply = app.query(&eh, Some("early_help"), PERSON_INDICATORS, vars.clone()).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let list = &reply.body["data"]["person"]["indicators"];
        let pa = by_id(list, "persistent_absence");
        let shown: Vec<&str> = pa["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = terms.iter().map(|t| t.0.to_string()).collect();
        assert_eq!(shown, expected, "both low terms, oldest first");
        assert_eq!(pa["evidenceWithheld"], 0);
        let since: DateTime<Utc> = pa["since"].as_str().unwrap().parse().unwrap();
        assert!(since > Utc::now() - TimeDelta::days(41), "the second term brought it to two");
        let da = by_id(list, "domestic_abuse_child_present");
        assert_eq!(da["evidence"], json!([]));
        assert!(da["evidenceWithheld"].as_u64().unwrap() >= 1, "ours, and any the police sent before");
        assert!(
            da["evidenceWithheldReason"]
                .as_str()
                .unwrap()
                .contains("police.domestic_abuse")
        );
        assert!(
            !reply.body.to_string().contains(&incident.0.to_string()),
            "the withheld fact's id is not given away"
        );

        // A school's safeguarding lead has no protocol for the family's indicators.
        let dsl = principal("dsl-1", "school:999100", Role::Dsl);
        let reply = app.query(&dsl, Some("safeguarding"), PERSON_INDICATORS, vars).await;
        assert_eq!(reply.codes(), vec!["ISP_DENIED"]);
        assert!(reply.body["data"]["person"]["indicators"].is_null());

        // The family's view gathers its members' indicators and the criteria they meet.
        let reply = app
            .query(
                &eh,
                Some("early_help"),
                "query($id: ID!) { family(id: $id) { indicators { items { id person { id } } criteriaMet { id } withheld } } }",
                json!({ "id": family.to_string() }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let fam = &reply.body["data"]["family"]["indicators"];
        let met: Vec<&str> = fam["criteriaMet"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        for c in ["domestic_abuse", "education", "financial"] {
            assert!(met.contains(&c), "{c} in {met:?}");
        }
        assert_eq!(fam["withheld"], 0);

        // Every read is in the access log, naming the child.
        let log = app.log().await;
        let eh_reads = log
            .iter()
            .filter(|r| r.principal_subject == "eh-worker-1" && r.subjects.contains(&child))
            .count();
        assert!(eh_reads >= 2, "the team's reads are logged");
    })
    .await;
}

const MEETING: &str = "query($min: Int!, $first: Int!, $after: ID) { familiesMeetingCriteria(minCriteria: $min, first: $first, after: $after) { families { family { id } criteriaCount criteria { criterion { id } indicators members } } hasNext endCursor } }";

#[tokio::test]
async fn the_early_help_team_lists_families_meeting_criteria_a_page_at_a_time() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 40).await;
        let (family, child, _) = family_with_child_and_parent(&app);
        make_family_meet_three(&app, child).await;
        let (persons, _) =
            indicators::refresh_all(&app.store, &IndicatorSets::built_in(), Utc::now(), |_| {})
                .await
                .unwrap();
        assert_eq!(persons as usize, app.population.persons.len());

        let eh = principal("eh-worker-2", LA, Role::EarlyHelpPractitioner);
        let reply = app
            .query(
                &eh,
                Some("early_help"),
                MEETING,
                json!({ "min": 3, "first": 200 }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let page = &reply.body["data"]["familiesMeetingCriteria"];
        let families = page["families"].as_array().unwrap();
        let ours = families
            .iter()
            .find(|f| f["family"]["id"] == family.to_string())
            .expect("the family meeting three criteria is listed");
        assert!(ours["criteriaCount"].as_u64().unwrap() >= 3);
        let criteria: Vec<&str> = ours["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["criterion"]["id"].as_str().unwrap())
            .collect();
        for c in ["domestic_abuse", "education", "financial"] {
            assert!(criteria.contains(&c), "{c} in {criteria:?}");
        }
        for f in families {
            assert!(f["criteriaCount"].as_u64().unwrap() >= 3);
        }
        assert_eq!(page["hasNext"], false);

        // A page at a time: pages of one give the same families, in order, without repeats.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let reply = app
                .query(
                    &eh,
                    Some("early_help"),
                    MEETING,
                    json!({ "min": 3, "first": 1, "after": after }),
                )
                .await;
            let page = &reply.body["data"]["familiesMeetingCriteria"];
            for f in page["families"].as_array().unwrap() {
                seen.push(f["family"]["id"].as_str().unwrap().to_owned());
            }
            if page["hasNext"] != true {
                break;
            }
            after = page["endCursor"].as_str().map(str::to_owned);
        }
        let all: Vec<String> = families
            .iter()
            .map(|f| f["family"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, all);

        // A role no protocol gives the family outcomes to sees no family.
        let dsl = principal("dsl-1", "school:999100", Role::Dsl);
        let reply = app
            .query(
                &dsl,
                Some("safeguarding"),
                MEETING,
                json!({ "min": 1, "first": 50 }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(
            reply.body["data"]["familiesMeetingCriteria"]["families"],
            json!([])
        );

        // The listing is logged with the members whose indicators it used.
        let log = app.log().await;
        assert!(
            log.iter()
                .any(|r| r.principal_subject == "eh-worker-2" && r.subjects.contains(&child))
        );
    })
    .await;
}

#[tokio::test]
async fn indicator_sets_are_listed_and_a_bad_set_is_refused() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let eh = principal("eh-worker-2", LA, Role::EarlyHelpPractitioner);
        let reply = app
            .query(
                &eh,
                Some("early_help"),
                "{ indicatorSets { id criteria { id } indicators { id criterion appliesTo atLeast withinDays } } }",
                json!({}),
            )
            .await;
        let sets = reply.body["data"]["indicatorSets"].as_array().unwrap();
        let sf = sets.iter().find(|s| s["id"] == "supporting-families").unwrap();
        assert_eq!(sf["criteria"].as_array().unwrap().len(), 10);
        let pa = by_id(&sf["indicators"], "persistent_absence");
        assert_eq!(pa["atLeast"], 2);
        assert_eq!(pa["withinDays"], 365);
        let reply = app
            .query(
                &eh,
                Some("early_help"),
                "{ familiesMeetingCriteria(set: \"no-such-set\") { hasNext } }",
                json!({}),
            )
            .await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    })
    .await;
}

const SUBMIT: &str = "mutation($input: ReferralInput!) { submitReferral(input: $input) { id status overdue reReferral submittedAt dueAt urgency concerns referrer referrerRole } }";
const QUEUE: &str = "query($status: QueueStatus!) { referrals(status: $status) { referrals { id overdue status whatWasSeen child { id } } withheld hasNext } }";
const DECIDE: &str = "mutation($id: ID!) { decideReferral(id: $id, decision: EARLY_HELP, rag: AMBER, reason: \"Needs below the threshold for social care; family agrees to early help\") { id status decision rag decidedLate overdue transitions { event actor role detail } } }";

fn referral_input(child: PersonId) -> Value {
    json!({ "input": {
        "child": child.to_string(),
        "concerns": ["NEGLECT", "DOMESTIC_ABUSE"],
        "whatWasSeen": "Arrived hungry three days running; disclosed shouting at home",
        "consent": "GIVEN",
        "urgency": "ROUTINE",
    }})
}

/// An instant as the database stores it, for moving a row's clock behind the hub's back.
fn stored(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

#[tokio::test]
async fn a_referral_reaches_the_front_door_goes_overdue_and_is_decided() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 10).await;
        let child = never_referred(&app);
        let dsl = principal("dsl-7", "school:999100", Role::Dsl);
        let mash = principal("mash-1", LA, Role::MashOfficer);

        let reply = app
            .query(&dsl, Some("safeguarding"), SUBMIT, referral_input(child))
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let r = &reply.body["data"]["submitReferral"];
        assert_eq!(r["status"], "SUBMITTED");
        assert_eq!(r["reReferral"], false);
        assert_eq!(r["overdue"], false);
        assert_eq!(r["referrer"], "dsl-7");
        assert_eq!(r["referrerRole"], "dsl");
        let submitted: DateTime<Utc> = r["submittedAt"].as_str().unwrap().parse().unwrap();
        let due: DateTime<Utc> = r["dueAt"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            due - submitted,
            TimeDelta::hours(24),
            "the default decision window"
        );
        let id = r["id"].as_str().unwrap().to_owned();

        // The queue is the front door's: a school's lead may refer but not read it.
        let reply = app
            .query(
                &dsl,
                Some("safeguarding"),
                QUEUE,
                json!({ "status": "SUBMITTED" }),
            )
            .await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
        // A board member is not a partner's practitioner: no referrals from oversight roles.
        let board = principal("board-1", LA, Role::BoardMember);
        let reply = app
            .query(&board, Some("audit"), SUBMIT, referral_input(child))
            .await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);

        // The referral opened a MASH enquiry, so the MASH sees it in its queue, not overdue.
        let reply = app
            .query(
                &mash,
                Some("safeguarding"),
                QUEUE,
                json!({ "status": "SUBMITTED" }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let queue = &reply.body["data"]["referrals"];
        let ours = queue["referrals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap();
        assert_eq!(ours["overdue"], false);
        assert!(ours["whatWasSeen"].as_str().unwrap().contains("hungry"));
        let reply = app
            .query(
                &mash,
                Some("safeguarding"),
                QUEUE,
                json!({ "status": "OVERDUE" }),
            )
            .await;
        assert_eq!(reply.body["data"]["referrals"]["referrals"], json!([]));

        // Twenty-five hours pass without a decision.
        let (at, due_at) = (
            stored(Utc::now() - TimeDelta::hours(25)),
            stored(Utc::now() - TimeDelta::hours(1)),
        );
        let set = format!("UPDATE referrals SET submitted_at = '{at}', due_at = '{due_at}'");
        let hex = id.replace('-', "");
        app.exec(
            &[&format!("{set} WHERE id = X'{hex}'")],
            &[&format!("{set} WHERE id = '{id}'")],
        )
        .await;
        let reply = app
            .query(
                &mash,
                Some("safeguarding"),
                QUEUE,
                json!({ "status": "OVERDUE" }),
            )
            .await;
        let overdue = reply.body["data"]["referrals"]["referrals"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(overdue.len(), 1, "{:?}", reply.body);
        assert_eq!(overdue[0]["id"], id);
        assert_eq!(overdue[0]["overdue"], true);

        // The MASH decides: late, with the transition stored with its time and actor.
        let reply = app
            .query(&mash, Some("safeguarding"), DECIDE, json!({ "id": id }))
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let d = &reply.body["data"]["decideReferral"];
        assert_eq!(d["status"], "DECIDED");
        assert_eq!(d["decision"], "EARLY_HELP");
        assert_eq!(d["rag"], "AMBER");
        assert_eq!(d["decidedLate"], true);
        assert_eq!(d["overdue"], false);
        let events: Vec<(&str, &str)> = d["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["event"].as_str().unwrap(), t["actor"].as_str().unwrap()))
            .collect();
        assert_eq!(events, vec![("submitted", "dsl-7"), ("decided", "mash-1")]);
        assert_eq!(d["transitions"][1]["detail"]["late"], true);
        // Stepped down to early help: the authority's early help service joins the team.
        let team = kinship::store::graph::involvements(app.store.conn(), &[child], &[])
            .await
            .unwrap();
        assert!(team.iter().any(|i| i.kind == InvolvementKind::TafMember
            && i.principal.is_none()
            && i.organisation.as_str() == LA
            && i.ended_at.is_none()));
        assert!(
            team.iter()
                .filter(|i| i.kind == InvolvementKind::MashEnquiry && i.organisation.as_str() == LA)
                .all(|i| i.ended_at.is_some()),
            "the MASH enquiry ended with the decision"
        );

        // The decision closed the MASH enquiry the referral opened: the MASH's need-to-know
        // ended with it, so the referral cannot be decided again.
        let reply = app
            .query(&mash, Some("safeguarding"), DECIDE, json!({ "id": id }))
            .await;
        assert_eq!(reply.codes(), vec!["ISP_DENIED"], "decided once only");
        assert_eq!(
            reply.body["errors"][0]["extensions"]["reason"],
            "no_legitimate_relationship"
        );
        let reply = app
            .query(
                &mash,
                Some("safeguarding"),
                QUEUE,
                json!({ "status": "OVERDUE" }),
            )
            .await;
        assert_eq!(reply.body["data"]["referrals"]["referrals"], json!([]));

        // Referred again within twelve months: a re-referral.
        let reply = app
            .query(&dsl, Some("safeguarding"), SUBMIT, referral_input(child))
            .await;
        assert_eq!(reply.body["data"]["submitReferral"]["reReferral"], true);

        // Each submission and decision is an action on the child in the access log.
        let log = app.log().await;
        assert!(
            log.iter()
                .filter(|r| r.principal_subject == "dsl-7" && r.subjects.contains(&child))
                .count()
                >= 2,
            "both submissions name the child"
        );
        assert!(
            log.iter()
                .any(|r| r.principal_subject == "mash-1" && r.subjects.contains(&child))
        );
    })
    .await;
}

const START: &str = "mutation($child: ID!, $family: ID) { startAssessment(child: $child, family: $family, needs: \"Attendance falling; parent asks for help with routines\") { id open leadProfessional { practitioner } transitions { event actor } } }";

async fn give_consent(app: &TestApp, child: PersonId, by: &str) {
    load::consents(
        app.store.conn(),
        &[consent(
            child,
            ConsentState::Given,
            Purpose::EarlyHelp,
            by,
            Utc::now() - TimeDelta::minutes(5),
        )],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn early_help_needs_consent_and_keeps_one_lead_professional_at_a_time() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 10).await;
        let (family, child, _) = family_with_child_and_parent(&app);
        let first = principal("eh-lead-1", LA, Role::EarlyHelpPractitioner);
        let second = principal("eh-lead-2", LA, Role::EarlyHelpPractitioner);
        let vars = json!({ "child": child.to_string(), "family": family.to_string() });

        // Without consent the early help protocol does not let the assessment start.
        let reply = app.query(&first, Some("early_help"), START, vars.clone()).await;
        assert_eq!(reply.codes(), vec!["ISP_DENIED"], "{:?}", reply.body);
        let err = &reply.body["errors"][0];
        assert_eq!(err["extensions"]["reason"], "consent_required");
        assert_eq!(err["extensions"]["protocol"], "P-EH");
        assert!(reply.body["data"]["startAssessment"].is_null());

        give_consent(&app, child, "eh-lead-1").await;
        let reply = app.query(&first, Some("early_help"), START, vars).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let a = &reply.body["data"]["startAssessment"];
        assert_eq!(a["open"], true);
        assert_eq!(a["leadProfessional"]["practitioner"], "eh-lead-1");
        let id = a["id"].as_str().unwrap().to_owned();

        let reply = app
            .query(
                &first,
                Some("early_help"),
                "mutation($id: ID!) { addPlanAction(assessment: $id, action: \"Morning routine support, twice weekly\", owner: \"family support worker\", reviewOn: \"2027-01-15\") { actions { action owner reviewOn } } }",
                json!({ "id": id }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(reply.body["data"]["addPlanAction"]["actions"][0]["reviewOn"], "2027-01-15");

        // The lead changes: one at a time, recorded from whom to whom.
        let reply = app
            .query(
                &first,
                Some("early_help"),
                "mutation($id: ID!) { assignLeadProfessional(assessment: $id, practitioner: \"eh-lead-2\", organisation: \"local_authority:999\") { leadProfessional { practitioner } transitions { event actor detail } } }",
                json!({ "id": id }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let a = &reply.body["data"]["assignLeadProfessional"];
        assert_eq!(a["leadProfessional"]["practitioner"], "eh-lead-2");
        let leads: Vec<&Value> = a["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["event"] == "lead_assigned")
            .map(|t| &t["detail"])
            .collect();
        assert_eq!(leads.len(), 2);
        assert_eq!(leads[1]["from"], "eh-lead-1");
        assert_eq!(leads[1]["to"], "eh-lead-2");
        let open_leads: Vec<String> = kinship::store::graph::involvements(app.store.conn(), &[], &[family])
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.kind == InvolvementKind::LeadProfessional && i.ended_at.is_none())
            .filter_map(|i| i.principal)
            .collect();
        assert_eq!(open_leads, vec!["eh-lead-2".to_owned()], "one lead at a time");

        // The former lead has no involvement now; the new lead works on and closes it.
        let update = "mutation($id: ID!) { updateAssessment(id: $id, needs: \"Routines better; attendance up\") { needs } }";
        let reply = app.query(&first, Some("early_help"), update, json!({ "id": id })).await;
        assert_eq!(reply.codes(), vec!["ISP_DENIED"]);
        let reply = app.query(&second, Some("early_help"), update, json!({ "id": id })).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let reply = app
            .query(
                &second,
                Some("early_help"),
                "mutation($id: ID!) { closeAssessment(id: $id, outcome: NEEDS_MET) { open outcome transitions { event } } }",
                json!({ "id": id }),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let closed = &reply.body["data"]["closeAssessment"];
        assert_eq!(closed["open"], false);
        assert_eq!(closed["outcome"], "NEEDS_MET");
        let events: Vec<&str> = closed["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            vec!["started", "lead_assigned", "action_added", "lead_assigned", "updated", "closed"]
        );
    })
    .await;
}

const TEAM: &str = "query($id: ID!) { person(id: $id) { involvements { service contact category } furtherInvolvements { count ask } } }";

#[tokio::test]
async fn a_sensitive_involvement_shows_only_where_a_protocol_permits_it() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 40).await;
        let (sw, child) = crate::reads::involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let vars = json!({ "id": child.to_string() });
        let reply = app
            .query(
                &sw,
                Some("safeguarding"),
                "mutation($id: ID!) { recordInvolvement(input: { person: $id, kind: TREATING_CLINICIAN, organisation: \"mental_health_trust:RV5\", service: \"CAMHS\", sensitive: MENTAL_HEALTH, contact: \"CAMHS duty desk, 01632 960555\" }) { id service category } }",
                vars.clone(),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(reply.body["data"]["recordInvolvement"]["category"], "health.mental_health");

        // P-MASH shares heightened categories only with explicit consent: the social worker
        // learns that a further involvement exists and whom to ask, never the service.
        let reply = app.query(&sw, Some("safeguarding"), TEAM, vars.clone()).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let person = &reply.body["data"]["person"];
        assert_eq!(person["furtherInvolvements"]["count"], 1);
        assert!(person["furtherInvolvements"]["ask"].as_str().unwrap().contains("front door"));
        let text = reply.body.to_string();
        assert!(!text.contains("CAMHS") && !text.contains("mental"), "{text}");
        assert!(!person["involvements"].as_array().unwrap().is_empty(), "the rest of the team shows");

        // With the young person's explicit consent to share their mental health, it shows.
        load::consents(
            app.store.conn(),
            &[Consent {
                given_by: "child".into(),
                categories: vec![DataCategory::HealthMentalHealth],
                ..consent(
                    child,
                    ConsentState::Given,
                    Purpose::Safeguarding,
                    &sw.subject,
                    Utc::now() - TimeDelta::minutes(1),
                )
            }],
        )
        .await
        .unwrap();
        let reply = app.query(&sw, Some("safeguarding"), TEAM, vars.clone()).await;
        let person = &reply.body["data"]["person"];
        assert!(person["furtherInvolvements"].is_null(), "{:?}", reply.body);
        let camhs = person["involvements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["service"] == "CAMHS")
            .expect("the CAMHS involvement with consent");
        assert_eq!(camhs["contact"], "CAMHS duty desk, 01632 960555");

        // Nobody records themselves into a child's team: the caller must be in it already.
        let stranger = principal("hv-99", "community_trust:RY1", Role::HealthVisitor);
        let reply = app
            .query(
                &stranger,
                Some("direct_care"),
                "mutation($id: ID!) { recordInvolvement(input: { person: $id, kind: HEALTH_VISITOR_CASELOAD, service: \"health visiting\" }) { id } }",
                vars,
            )
            .await;
        assert_eq!(reply.codes(), vec!["ISP_DENIED"]);
    })
    .await;
}

const NAMES: &str =
    "query($id: ID!) { person(id: $id) { names { given } addresses { postcode } } }";

#[tokio::test]
async fn a_shield_order_lets_only_named_roles_see_the_child_and_flags_every_read() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 40).await;
        let (sw, child) = crate::reads::involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let vars = json!({ "id": child.to_string() });
        let shield = "mutation($id: ID!) { shieldRecord(person: $id, reason: REFUGE, roles: [\"social_worker\"]) }";
        let dsl = principal("dsl-3", "school:999100", Role::Dsl);
        let reply = app.query(&dsl, Some("safeguarding"), shield, vars.clone()).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "a school does not shield records");
        let reply = app.query(&sw, Some("safeguarding"), shield, vars.clone()).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(reply.body["data"]["shieldRecord"], true);

        // A MASH officer is not named: nothing of the child, for the shield's reason.
        let mash = principal("mash-1", LA, Role::MashOfficer);
        let reply = app.query(&mash, Some("safeguarding"), NAMES, vars.clone()).await;
        assert!(reply.body["data"]["person"]["names"].is_null());
        assert_eq!(reply.error_at("names").unwrap()["extensions"]["reason"], "shielded");

        // The social worker is named: identity resolves, the refuge address never leaves.
        let reply = app.query(&sw, Some("safeguarding"), NAMES, vars.clone()).await;
        assert!(!reply.body["data"]["person"]["names"].as_array().unwrap().is_empty());
        assert!(reply.body["data"]["person"]["addresses"].is_null());
        assert_eq!(reply.error_at("addresses").unwrap()["extensions"]["reason"], "shielded");

        // Every read of the shielded child, permitted or not, is flagged for the board.
        let board = principal("board-1", LA, Role::BoardMember);
        let reply = app
            .query(
                &board,
                Some("audit"),
                "query($id: ID!) { accessLog(filter: { flagged: true, subject: $id }) { entries { principal reads { obligations } } } }",
                vars.clone(),
            )
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let entries = reply.body["data"]["accessLog"]["entries"].as_array().unwrap();
        let who: Vec<&str> = entries.iter().map(|e| e["principal"].as_str().unwrap()).collect();
        assert!(who.contains(&"mash-1") && who.contains(&sw.subject.as_str()), "{who:?}");
        assert!(
            entries.iter().all(|e| e["reads"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["obligations"].as_array().unwrap().contains(&json!("flag_for_board")))),
            "{entries:?}"
        );

        // Lifted, the MASH is back to the ordinary rule: no enquiry, no need-to-know.
        let reply = app
            .query(&sw, Some("safeguarding"), "mutation($id: ID!) { liftShield(person: $id) }", vars.clone())
            .await;
        assert_eq!(reply.body["data"]["liftShield"], true, "{:?}", reply.body);
        let reply = app.query(&mash, Some("safeguarding"), NAMES, vars).await;
        assert_eq!(
            reply.error_at("names").unwrap()["extensions"]["reason"],
            "no_legitimate_relationship"
        );
    })
    .await;
}
