//! Protocols as code, through the real server: one case per rule of a decision, consent
//! recorded and withdrawn by mutation, explanations for the caller and the board, reloads
//! without a restart, and the lint and explain commands.

use std::path::{Path, PathBuf};

use kinship::model::{DataCategory, PersonId, Principal, Role};
use serde_json::{Value, json};

use crate::golden::{ACUTE, COMMUNITY, LA, S1, World, logged as last_read, world};
use crate::helpers::{Db, TestApp, on_each_backend, principal, spawn_configured, spawn_with};

/// A copy of the shipped protocols in a folder of its own, changed by `edit(file, text)`.
fn protocols_copy(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        // Protocol files only: `indicators/` holds indicator sets, which the copy does without.
        if !path.is_file() {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(dir.path().join(&name), edit(&name, text)).unwrap();
    }
    dir
}

/// Replaces `from` with `to` in `text`, failing the test if `from` is not there (so an edit
/// to a shipped protocol cannot silently stop applying).
fn swap(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` is in the protocol");
    text.replacen(from, to, 1)
}

async fn spawn_over(db: Db, w: &World, dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    spawn_configured(db, w.pop.clone(), move |c| c.protocols.dir = dir).await
}

/// Reads one category of a child's facts; returns (released, withheld).
async fn read(
    app: &TestApp,
    who: &Principal,
    purpose: &str,
    child: PersonId,
    category: DataCategory,
    justification: Option<&str>,
) -> (usize, u64) {
    let headers: Vec<(&str, &str)> = justification
        .map(|j| vec![("Kinship-Justification", j)])
        .unwrap_or_default();
    let reply = app
        .post(
            Some(&app.token(who)),
            Some(purpose),
            &headers,
            json!({
                "query": "query($id: ID!, $c: [String!]) { person(id: $id) { facts(categories: $c) { items { id } withheld } } }",
                "variables": { "id": child.to_string(), "c": [category.as_str()] },
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let facts = &reply.body["data"]["person"]["facts"];
    (
        facts["items"].as_array().unwrap().len(),
        facts["withheld"].as_u64().unwrap(),
    )
}

/// The lawful basis the newest entry records for the clause that decided `read`.
async fn basis(app: &TestApp, read: &Value) -> String {
    let key = format!(
        "{} {} {}",
        read["protocol"].as_str().unwrap(),
        read["protocol_version"].as_str().unwrap(),
        read["clause"].as_str().unwrap()
    );
    let entry = app.log().await.pop().unwrap();
    entry.reads["bases"][&key]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no basis for {key}: {}", entry.reads))
}

async fn gql(app: &TestApp, who: &Principal, purpose: Option<&str>, q: &str, v: Value) -> Value {
    let reply = app.query(who, purpose, q, v).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

struct Rule {
    name: &'static str,
    who: Principal,
    purpose: &'static str,
    child: &'static str,
    category: DataCategory,
    justification: Option<&'static str>,
    decision: &'static str,
    protocol: Option<&'static str>,
    obligations: &'static [&'static str],
}

fn rules() -> Vec<Rule> {
    use DataCategory as D;
    let mash = principal("mash-1", LA, Role::MashOfficer);
    let dsl = principal("dsl-1", S1, Role::Dsl);
    let sw = principal("sw-1", LA, Role::SocialWorker);
    let ed = principal("ed-1", ACUTE, Role::EdClinician);
    vec![
        Rule {
            name: "permitted, with the refusal of consent on record",
            who: mash.clone(),
            purpose: "safeguarding",
            child: "C1",
            category: D::HealthUnscheduledCare,
            justification: None,
            decision: "permitted",
            protocol: Some("P-MASH"),
            obligations: &["record_consent_refusal"],
        },
        Rule {
            name: "permitted, and the owner is told",
            who: ed.clone(),
            purpose: "direct_care",
            child: "C4",
            category: D::SocialCareChildProtectionFlag,
            justification: None,
            decision: "permitted",
            protocol: Some("P-CPIS"),
            obligations: &["notify_owner"],
        },
        Rule {
            name: "wrong purpose",
            who: dsl.clone(),
            purpose: "direct_care",
            child: "C3",
            category: D::PoliceDomesticAbuse,
            justification: None,
            decision: "purpose_not_permitted",
            protocol: Some("P-ENC"),
            obligations: &[],
        },
        Rule {
            name: "wrong role",
            who: principal("gp-7", ACUTE, Role::Gp),
            purpose: "direct_care",
            child: "C4",
            category: D::SocialCareChildProtectionFlag,
            justification: None,
            decision: "role_not_permitted",
            protocol: Some("P-CPIS"),
            obligations: &[],
        },
        Rule {
            name: "no involvement",
            who: principal("ed-2", ACUTE, Role::EdClinician),
            purpose: "direct_care",
            child: "C4",
            category: D::SocialCareChildProtectionFlag,
            justification: None,
            decision: "no_legitimate_relationship",
            protocol: Some("P-CPIS"),
            obligations: &[],
        },
        Rule {
            name: "no protocol covers the flow at all",
            who: dsl.clone(),
            purpose: "safeguarding",
            child: "C1",
            category: D::HealthUnscheduledCare,
            justification: None,
            decision: "no_active_protocol",
            protocol: None,
            obligations: &[],
        },
        Rule {
            name: "break-glass without a justification is a denial",
            who: sw.clone(),
            purpose: "safeguarding",
            child: "C6",
            category: D::SocialCareChildProtection,
            justification: None,
            decision: "no_legitimate_relationship",
            protocol: Some("P-MASH"),
            obligations: &[],
        },
        Rule {
            name: "break-glass with a justification",
            who: sw.clone(),
            purpose: "safeguarding",
            child: "C6",
            category: D::SocialCareChildProtection,
            justification: Some(
                "Sibling disclosed harm at school this morning; strategy meeting today",
            ),
            decision: "break_glass",
            protocol: Some("P-MASH"),
            obligations: &[
                "record_justification",
                "flag_for_board",
                "notify_dpo",
                "notify_owner",
            ],
        },
        Rule {
            name: "a justification does not open a category the protocol does not share",
            who: ed,
            purpose: "direct_care",
            child: "C4",
            category: D::SocialCareChildProtection,
            justification: Some("Child arrived with injuries; need the plan"),
            decision: "category_not_shared",
            protocol: Some("P-CPIS"),
            obligations: &[],
        },
        Rule {
            name: "a justification is not break-glass where it is not needed",
            who: mash,
            purpose: "safeguarding",
            child: "C1",
            category: D::HealthUnscheduledCare,
            justification: Some("Routine MASH enquiry"),
            decision: "permitted",
            protocol: Some("P-MASH"),
            obligations: &["record_consent_refusal"],
        },
    ]
}

#[tokio::test]
async fn each_rule_of_a_decision_decides_a_real_read() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        for rule in rules() {
            let child = w.c[rule.child];
            let (released, withheld) = read(
                &app,
                &rule.who,
                rule.purpose,
                child,
                rule.category,
                rule.justification,
            )
            .await;
            let permits = matches!(rule.decision, "permitted" | "break_glass");
            assert_eq!(
                (released, withheld),
                if permits { (1, 0) } else { (0, 1) },
                "{}",
                rule.name
            );
            let logged = last_read(&app, child, rule.category).await;
            assert_eq!(logged["decision"], rule.decision, "{}: {logged}", rule.name);
            assert_eq!(logged["protocol"].as_str(), rule.protocol, "{}", rule.name);
            let obligations: Vec<&str> = logged["obligations"]
                .as_array()
                .map(|o| o.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(obligations, rule.obligations, "{}", rule.name);
            if permits {
                let basis = basis(&app, &logged).await;
                assert!(
                    basis.contains("6(1)"),
                    "{}: a release names its Article 6 basis: {basis}",
                    rule.name
                );
                assert!(logged["protocol_version"].is_string(), "{}", rule.name);
            }
            let entry = app.log().await.pop().unwrap();
            assert_eq!(
                entry.break_glass,
                rule.decision == "break_glass",
                "{}",
                rule.name
            );
        }
    })
    .await;
}

#[tokio::test]
async fn protocols_grant_only_while_in_force_and_say_when_review_is_overdue() {
    on_each_backend(|db| async move {
        let w = world();
        let dir = protocols_copy(|name, t| match name {
            // Expired last year. Only Encompass covers police data reaching a school.
            "p-enc.toml" => swap(
                &t,
                "review_by = 2027-09-01",
                "review_by = 2025-06-01\nexpires_on = 2025-12-31",
            ),
            // In force, but its review is overdue.
            "p-cpis.toml" => swap(&t, "review_by = 2027-06-01", "review_by = 2026-01-01"),
            _ => t,
        });
        let app = spawn_over(db, &w, dir.path()).await;
        use DataCategory as D;
        let dsl = principal("dsl-1", S1, Role::Dsl);
        let (c3, da) = (w.c["C3"], D::PoliceDomesticAbuse);
        assert_eq!(read(&app, &dsl, "safeguarding", c3, da, None).await, (0, 1));
        let logged = last_read(&app, c3, da).await;
        assert_eq!(
            logged["decision"], "no_active_protocol",
            "expired: {logged}"
        );
        assert_eq!(logged["protocol"], "P-ENC");

        // Re-signed, but not in force until 2099.
        let file = dir.path().join("p-enc.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let text = swap(&text, "expires_on = 2025-12-31", "");
        std::fs::write(
            &file,
            swap(
                &text,
                "effective_from = 2024-09-01",
                "effective_from = 2099-09-01",
            ),
        )
        .unwrap();
        let admin = principal("admin-1", LA, Role::SystemAdmin);
        let body = gql(&app, &admin, Some("audit"), RELOAD, json!({})).await;
        assert_eq!(body["data"]["reloadProtocols"]["ok"], true, "{body}");
        assert_eq!(read(&app, &dsl, "safeguarding", c3, da, None).await, (0, 1));
        let logged = last_read(&app, c3, da).await;
        assert_eq!(
            logged["decision"], "no_active_protocol",
            "not yet in force: {logged}"
        );
        assert_eq!(logged["protocol"], "P-ENC");

        // Past review: it still permits, and every decision under it says so.
        let ed = principal("ed-1", ACUTE, Role::EdClinician);
        let (c4, flag) = (w.c["C4"], D::SocialCareChildProtectionFlag);
        assert_eq!(read(&app, &ed, "direct_care", c4, flag, None).await, (1, 0));
        let logged = last_read(&app, c4, flag).await;
        assert_eq!(logged["decision"], "permitted");
        assert_eq!(logged["review_overdue"], true);
        assert_eq!(
            logged["obligations"],
            json!(["notify_owner", "flag_review_overdue"])
        );
        // A denial under it says so too, and tells the owner nothing: nothing was released.
        let stranger = principal("ed-2", ACUTE, Role::EdClinician);
        assert_eq!(
            read(&app, &stranger, "direct_care", c4, flag, None).await,
            (0, 1)
        );
        let logged = last_read(&app, c4, flag).await;
        assert_eq!(logged["review_overdue"], true);
        assert_eq!(logged["obligations"], json!(["flag_review_overdue"]));
    })
    .await;
}

const RECORD: &str = "mutation($i: ConsentInput!) { recordConsent(input: $i) { id state givenBy purposes recordedBy } }";
const WITHDRAW: &str = "mutation($i: ConsentInput!) { withdrawConsent(input: $i) { id state } }";

#[tokio::test]
async fn consent_recorded_and_withdrawn_by_mutation_takes_effect_on_the_next_request() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let ehp = principal("ehp-1", LA, Role::EarlyHelpPractitioner);
        let c2 = w.c["C2"];
        let attendance = DataCategory::EducationAttendance;
        let input = json!({ "i": {
            "personId": c2.to_string(), "givenBy": "PARENT", "purposes": ["early_help"],
            "organisations": [S1],
        }});

        assert_eq!(
            read(&app, &ehp, "early_help", c2, attendance, None).await,
            (0, 1)
        );
        assert_eq!(
            last_read(&app, c2, attendance).await["decision"],
            "consent_required"
        );

        let body = gql(&app, &ehp, Some("early_help"), RECORD, input.clone()).await;
        let rec = &body["data"]["recordConsent"];
        assert_eq!(rec["state"], "given", "{body}");
        assert_eq!(rec["givenBy"], "parent");
        assert_eq!(rec["recordedBy"], "ehp-1");
        assert_eq!(
            read(&app, &ehp, "early_help", c2, attendance, None).await,
            (1, 0)
        );
        let logged = last_read(&app, c2, attendance).await;
        assert_eq!(logged["decision"], "permitted");
        let basis = basis(&app, &logged).await;
        assert!(basis.contains("6(1)(a) consent"), "{basis}");
        // The recording is in the log as an action on the child.
        let log = app.log().await;
        let action = log
            .iter()
            .flat_map(|e| e.reads["actions"].as_array().cloned().unwrap_or_default())
            .find(|a| a["action"] == "record_consent")
            .expect("the consent was logged");
        assert_eq!(action["subject"], c2.to_string());
        assert_eq!(action["state"], "given");

        let body = gql(&app, &ehp, Some("early_help"), WITHDRAW, input.clone()).await;
        assert_eq!(
            body["data"]["withdrawConsent"]["state"], "withdrawn",
            "{body}"
        );
        assert_eq!(
            read(&app, &ehp, "early_help", c2, attendance, None).await,
            (0, 1)
        );
        assert_eq!(
            last_read(&app, c2, attendance).await["decision"],
            "consent_withdrawn"
        );

        // Consent scoped to another organisation's data does not cover the school's.
        let other = json!({ "i": {
            "personId": c2.to_string(), "givenBy": "PARENT", "purposes": ["early_help"],
            "organisations": [COMMUNITY],
        }});
        gql(&app, &ehp, Some("early_help"), RECORD, other).await;
        assert_eq!(
            read(&app, &ehp, "early_help", c2, attendance, None).await,
            (0, 1)
        );

        // Someone with no involvement cannot record consent for the child.
        let stranger = principal("ehp-9", LA, Role::EarlyHelpPractitioner);
        let reply = app
            .query(&stranger, Some("early_help"), RECORD, input.clone())
            .await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{:?}", reply.body);
        assert!(reply.body["data"]["recordConsent"].is_null());

        // A purpose is required, and a mutation never goes over GET.
        let reply = app.query(&ehp, None, RECORD, input.clone()).await;
        assert_eq!(reply.codes(), vec!["PURPOSE_REQUIRED"], "{:?}", reply.body);
        let res = app
            .client
            .get(&app.url)
            .bearer_auth(app.token(&ehp))
            .header("Kinship-Purpose", "early_help")
            .query(&[("query", RECORD), ("variables", &input.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 405);

        // Nothing recorded by the refused attempts: given, withdrawn, given (other scope).
        let states: Vec<String> = app
            .log()
            .await
            .iter()
            .flat_map(|e| e.reads["actions"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["action"] == "record_consent")
            .map(|a| a["state"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(states, ["given", "withdrawn", "given"]);
    })
    .await;
}

const EXPLAIN: &str = "query($id: ID!, $c: String!) { explainAccess(personId: $id, category: $c) { holderKind permitted reason protocol clause basis obligations breakGlassAvailable explanation } }";

#[tokio::test]
async fn explain_access_tells_the_caller_what_they_would_get_and_why() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let sw = principal("sw-1", LA, Role::SocialWorker);
        let body = gql(
            &app,
            &sw,
            Some("safeguarding"),
            EXPLAIN,
            json!({ "id": w.c["C5"].to_string(), "c": "health.sexual_health" }),
        )
        .await;
        let list = body["data"]["explainAccess"].as_array().unwrap();
        let community = list
            .iter()
            .find(|e| e["holderKind"] == "COMMUNITY_TRUST")
            .unwrap_or_else(|| panic!("{body}"));
        assert_eq!(community["permitted"], false);
        assert_eq!(community["reason"], "explicit_consent_required");
        assert_eq!(community["protocol"], "P-MASH");
        assert_eq!(community["breakGlassAvailable"], true);
        let text = community["explanation"].as_str().unwrap();
        assert!(
            text.contains("explicit consent") && text.contains("Kinship-Justification"),
            "{text}"
        );
        // GP data would come under P-CSC-GP, which the board has suspended.
        let gp = list
            .iter()
            .find(|e| e["holderKind"] == "GP_PRACTICE")
            .unwrap();
        assert_eq!(gp["reason"], "no_active_protocol", "{gp}");
        assert_eq!(gp["protocol"], "P-CSC-GP", "{gp}");

        // MASH sees C1's ED attendance, and the explanation names the basis and the refusal.
        let mash = principal("mash-1", LA, Role::MashOfficer);
        let body = gql(
            &app,
            &mash,
            Some("safeguarding"),
            EXPLAIN,
            json!({ "id": w.c["C1"].to_string(), "c": "health.unscheduled_care" }),
        )
        .await;
        let acute = body["data"]["explainAccess"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["holderKind"] == "ACUTE_TRUST")
            .cloned()
            .unwrap();
        assert_eq!(acute["permitted"], true, "{acute}");
        assert!(
            acute["basis"].as_str().unwrap().contains("Schedule 1"),
            "{acute}"
        );
        assert_eq!(acute["obligations"], json!(["record_consent_refusal"]));
        assert!(
            acute["explanation"]
                .as_str()
                .unwrap()
                .contains("refusal is recorded")
        );

        // Explaining is on the record.
        let log = app.log().await;
        assert!(
            log.last().unwrap().reads["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == "explain_access" && a["subject"] == w.c["C1"].to_string())
        );

        // No purpose, no explanation; an unknown category is a clear error.
        let reply = app
            .query(
                &mash,
                None,
                EXPLAIN,
                json!({ "id": w.c["C1"].to_string(), "c": "health.unscheduled_care" }),
            )
            .await;
        assert_eq!(reply.codes(), vec!["PURPOSE_REQUIRED"]);
        let reply = app
            .query(
                &mash,
                Some("safeguarding"),
                EXPLAIN,
                json!({ "id": w.c["C1"].to_string(), "c": "health.horoscope" }),
            )
            .await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
    })
    .await;
}

const WHO: &str = "query($id: ID!, $c: String!, $p: String!) { whoCanSee(personId: $id, category: $c, purpose: $p) { protocol clause inForce fromKinds toKinds roles involvements consent consentMet shielded breakGlass basis } }";

#[tokio::test]
async fn who_can_see_answers_the_board_and_nobody_else() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let vars =
            json!({ "id": w.c["C2"].to_string(), "c": "education.attendance", "p": "early_help" });
        let board = principal("board-1", LA, Role::BoardMember);
        let body = gql(&app, &board, Some("audit"), WHO, vars.clone()).await;
        let routes = body["data"]["whoCanSee"].as_array().unwrap();
        let eh = routes
            .iter()
            .find(|r| r["protocol"] == "P-EH")
            .unwrap_or_else(|| panic!("{body}"));
        assert_eq!(eh["inForce"], true);
        assert_eq!(eh["consent"], "consent");
        assert_eq!(eh["consentMet"], false, "no consent recorded yet");
        assert!(
            eh["roles"]
                .as_array()
                .unwrap()
                .contains(&json!("early_help_practitioner"))
        );
        assert!(
            eh["involvements"]
                .as_array()
                .unwrap()
                .contains(&json!("taf_member"))
        );
        assert!(
            routes.iter().all(|r| r["protocol"] != "P-ENC"),
            "Encompass does not share attendance"
        );

        // Contact details of a shielded child: every route says the shield applies.
        let shield =
            json!({ "id": w.c["C2"].to_string(), "c": "person.contact", "p": "safeguarding" });
        let dpo = principal("dpo-1", LA, Role::Dpo);
        let body = gql(&app, &dpo, Some("audit"), WHO, shield).await;
        let routes = body["data"]["whoCanSee"].as_array().unwrap();
        assert!(!routes.is_empty(), "{body}");
        assert!(routes.iter().all(|r| r["shielded"] == true), "{body}");
        let mash = routes.iter().find(|r| r["protocol"] == "P-MASH").unwrap();
        let involvements = mash["involvements"].as_array().unwrap();
        assert!(involvements.contains(&json!("mash_enquiry")), "{mash}");

        // A practitioner may not ask.
        let sw = principal("sw-1", LA, Role::SocialWorker);
        let reply = app.query(&sw, Some("safeguarding"), WHO, vars).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
        assert!(reply.body["data"]["whoCanSee"].is_null());

        // Explicit consent to sexual health data, then a newer blanket consent: the decision
        // weighs the newest record, which does not name the category, and whoCanSee agrees.
        let c5 = w.c["C5"].to_string();
        let ask = json!({ "id": c5, "c": "health.sexual_health", "p": "safeguarding" });
        let mash_met = |body: &Value| {
            body["data"]["whoCanSee"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["protocol"] == "P-MASH")
                .map(|r| r["consentMet"].clone())
                .unwrap()
        };
        let consent = |categories: Value| json!({ "i": {
            "personId": c5, "givenBy": "CHILD", "purposes": ["safeguarding"], "categories": categories,
        }});
        gql(&app, &sw, Some("safeguarding"), RECORD, consent(json!(["health.sexual_health"]))).await;
        assert_eq!(mash_met(&gql(&app, &board, Some("audit"), WHO, ask.clone()).await), true);
        assert_eq!(
            read(&app, &sw, "safeguarding", w.c["C5"], DataCategory::HealthSexualHealth, None).await,
            (1, 0)
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        gql(&app, &sw, Some("safeguarding"), RECORD, consent(json!([]))).await;
        assert_eq!(mash_met(&gql(&app, &board, Some("audit"), WHO, ask).await), false);
        assert_eq!(
            read(&app, &sw, "safeguarding", w.c["C5"], DataCategory::HealthSexualHealth, None).await,
            (0, 1)
        );
    })
    .await;
}

const RELOAD: &str = "mutation { reloadProtocols { ok protocols error } }";

#[tokio::test]
async fn protocols_reload_without_a_restart_and_a_bad_file_changes_nothing() {
    on_each_backend(|db| async move {
        let w = world();
        let dir = protocols_copy(|_, t| t);
        let app = spawn_over(db, &w, dir.path()).await;
        let admin = principal("admin-1", LA, Role::SystemAdmin);
        let ed = principal("ed-1", ACUTE, Role::EdClinician);
        let (c4, flag) = (w.c["C4"], DataCategory::SocialCareChildProtectionFlag);
        let file = dir.path().join("p-cpis.toml");
        let original = std::fs::read_to_string(&file).unwrap();

        assert_eq!(read(&app, &ed, "direct_care", c4, flag, None).await, (1, 0));
        assert_eq!(last_read(&app, c4, flag).await["protocol_version"], "1.0");

        // The board suspends the protocol; an administrator reloads.
        std::fs::write(
            &file,
            swap(&original, "status = \"active\"", "status = \"suspended\""),
        )
        .unwrap();
        let body = gql(&app, &admin, Some("audit"), RELOAD, json!({})).await;
        assert_eq!(body["data"]["reloadProtocols"]["ok"], true, "{body}");
        assert_eq!(read(&app, &ed, "direct_care", c4, flag, None).await, (0, 1));
        // P-MASH also covers the flow, but not for direct care: the latest failing step
        // names the reason (DOMAIN.md §5).
        let logged = last_read(&app, c4, flag).await;
        assert_eq!(logged["decision"], "purpose_not_permitted", "{logged}");

        // A bad file is refused, named, and the rules in force stay.
        std::fs::write(dir.path().join("p-new.toml"), "id = \"P-NEW\"\ntitle = 3\n").unwrap();
        let body = gql(&app, &admin, Some("audit"), RELOAD, json!({})).await;
        let result = &body["data"]["reloadProtocols"];
        assert_eq!(result["ok"], false, "{body}");
        assert!(
            result["error"].as_str().unwrap().contains("p-new.toml"),
            "{body}"
        );
        assert_eq!(read(&app, &ed, "direct_care", c4, flag, None).await, (0, 1));
        std::fs::remove_file(dir.path().join("p-new.toml")).unwrap();

        // Only an administrator may reload.
        let reply = app.query(&ed, Some("direct_care"), RELOAD, json!({})).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);

        // A file change alone is picked up: version 1.1 back in force, recorded in the log.
        std::fs::write(
            &file,
            swap(&original, "version = \"1.0\"", "version = \"1.1\""),
        )
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if read(&app, &ed, "direct_care", c4, flag, None).await == (1, 0) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher reloads within 20 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert_eq!(last_read(&app, c4, flag).await["protocol_version"], "1.1");
    })
    .await;
}

fn kinship() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_kinship"))
}

#[test]
fn lint_names_file_and_line_and_fails_on_errors() {
    let dir = protocols_copy(|name, t| match name {
        // Criminal-offence data with no Article 10 condition.
        "p-enc.toml" => swap(&t, "article10 = ", "# article10 = "),
        _ => t,
    });
    let out = kinship()
        .args(["protocol", "lint", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let finding = stdout
        .lines()
        .find(|l| l.contains("p-enc.toml") && l.contains("error"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        finding.contains("police.domestic_abuse") || finding.contains("Article 10"),
        "{finding}"
    );
    let line: usize = finding.split(':').nth(1).unwrap().parse().unwrap();
    assert!(
        line > 15,
        "points into the clause, not the header: {finding}"
    );

    // An unknown role stops loading, naming the line.
    let dir = protocols_copy(|name, t| match name {
        "p-enc.toml" => swap(
            &t,
            "roles = [\"dsl\"]",
            "roles = [\"dsl\", \"head_teacher\"]",
        ),
        _ => t,
    });
    let out = kinship()
        .args(["protocol", "lint", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("p-enc.toml: line 22: unknown role `head_teacher`"),
        "{stderr}"
    );

    // The shipped protocols lint clean of errors.
    let out = kinship()
        .args(["protocol", "lint", "--dir"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn explain_prints_a_protocol_in_plain_english() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols/p-enc.toml");
    let out = kinship()
        .args(["protocol", "explain"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "P-ENC",
        "Operation Encompass",
        "designated safeguarding lead",
        "public task",
        "police",
    ] {
        assert!(text.contains(needle), "`{needle}` in:\n{text}");
    }
}
