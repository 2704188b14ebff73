//! Partnership indicators through the real server: figures for a known population (referrals
//! and early help assessments made through the GraphQL mutations, agency facts loaded as
//! connectors would), small counts suppressed together with their complements, the area
//! filter, refusals outside the `statistics` purpose and the `P-STATS` roles, an access-log
//! entry per read that names no person, and the `/insights` page in headless Chromium.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use fantoccini::Locator;
use kinship::model::{
    Address, Agency, ConsentState, DataCategory, Fact, FactId, OrganisationId, Person, PersonId,
    Purpose, Role,
};
use kinship::store::load;
use serde_json::{Value, json};

use crate::browser::{browser, check_accessible, click, shoot, start_driver, wait_text};
use crate::golden::LA;
use crate::helpers::{Db, TestApp, on_each_backend, principal, spawn_app};

const KPIS: &str = "query($from: NaiveDate!, $to: NaiveDate!, $area: String) { kpis(from: $from, to: $to, area: $area) { from to area threshold children { count suppressed } indicators { id unit columns population { count suppressed } period { label value cells { count suppressed } total { count suppressed } } series { label from to value cells { count suppressed } total { count suppressed } } } withheld { id reason protocol clause } } }";

const SUBMIT: &str =
    "mutation($input: ReferralInput!) { submitReferral(input: $input) { id reReferral } }";

fn referral_input(child: PersonId) -> Value {
    json!({ "input": {
        "child": child.to_string(),
        "concerns": ["NEGLECT"],
        "whatWasSeen": "Arrived hungry three days running",
        "consent": "GIVEN",
        "urgency": "ROUTINE",
    }})
}

/// An instant as the database stores it, for moving a row's clock behind the hub's back.
fn stored(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc()
}

/// Moves one row's time columns (`column = instant`, ...) on either backend.
async fn set_times(app: &TestApp, table: &str, id: &str, sets: &[(&str, DateTime<Utc>)]) {
    let set = sets
        .iter()
        .map(|(c, t)| format!("{c} = '{}'", stored(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    let hex = id.replace('-', "");
    app.exec(
        &[&format!("UPDATE {table} SET {set} WHERE id = X'{hex}'")],
        &[&format!("UPDATE {table} SET {set} WHERE id = '{id}'")],
    )
    .await;
}

/// Children of the generated population, none referred by the front door yet.
fn children(app: &TestApp) -> Vec<&Person> {
    app.population
        .persons
        .iter()
        .filter(|p| p.is_child)
        .collect()
}

fn fact(
    person: PersonId,
    org: &str,
    what: (DataCategory, Agency, &str),
    when: DateTime<Utc>,
    payload: Value,
) -> Fact {
    Fact {
        id: FactId(uuid::Uuid::now_v7()),
        person_id: person,
        agency: what.1,
        organisation: org.parse::<OrganisationId>().unwrap(),
        category: what.0,
        kind: what.2.into(),
        occurred_at: when,
        recorded_at: when,
        summary: format!("{} (test)", what.2),
        payload,
        source_record: None,
    }
}

/// Eight referrals through the front door: six children, two of them referred again (the
/// re-referrals). Five are decided by when they were due, one late, two await a decision.
/// Returns the referral ids in order.
async fn eight_referrals(app: &TestApp, kids: &[PersonId]) -> Vec<String> {
    let dsl = principal("dsl-7", "school:999100", Role::Dsl);
    let mash = principal("mash-1", LA, Role::MashOfficer);
    let decide = "mutation($id: ID!) { decideReferral(id: $id, decision: EARLY_HELP, rag: GREEN, reason: \"Below the threshold; family agrees to early help\") { decidedLate } }";
    let mut ids = Vec::new();
    let submit = |child: PersonId| {
        let dsl = dsl.clone();
        async move {
            let reply = app
                .query(&dsl, Some("safeguarding"), SUBMIT, referral_input(child))
                .await;
            assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
            reply.body["data"]["submitReferral"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    // Six first referrals; the first five decided at once (on time), the sixth after its
    // due time has passed (late).
    for (i, child) in kids.iter().take(6).enumerate() {
        let id = submit(*child).await;
        if i == 5 {
            set_times(
                app,
                "referrals",
                &id,
                &[("due_at", Utc::now() - TimeDelta::hours(1))],
            )
            .await;
        }
        let reply = app
            .query(&mash, Some("safeguarding"), decide, json!({ "id": id }))
            .await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(reply.body["data"]["decideReferral"]["decidedLate"], i == 5);
        ids.push(id);
    }
    // Two of the children referred again: re-referrals, not yet decided.
    for child in &kids[..2] {
        ids.push(submit(*child).await);
    }
    ids
}

fn kpi<'a>(reply: &'a Value, id: &str) -> &'a Value {
    reply["data"]["kpis"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("kpi `{id}` in {reply}"))
}

fn shown(n: u64) -> Value {
    json!({ "count": n, "suppressed": false })
}

fn hidden() -> Value {
    json!({ "count": null, "suppressed": true })
}

fn per10k(n: u64, of: u64) -> f64 {
    (n as f64 * 10_000.0 / of as f64 * 10.0).round() / 10.0
}

#[tokio::test]
async fn kpis_count_a_known_population_and_suppress_small_cells_with_their_complements() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 40).await;
        let kids: Vec<PersonId> = children(&app).iter().map(|p| p.id).collect();
        let child_count = kids.len() as u64;
        let board = principal("board-1", LA, Role::BoardMember);
        let window = json!({ "from": "2027-01-01", "to": "2027-03-31" });

        // Nothing in the period yet: zeros are published as zeros.
        let reply = app.query(&board, Some("statistics"), KPIS, window.clone()).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(reply.body["data"]["kpis"]["children"], shown(child_count));
        assert_eq!(kpi(&reply.body, "referral_rate")["period"]["total"], shown(0));

        // The front door's referrals, moved into January 2027.
        let ids = eight_referrals(&app, &kids).await;
        for id in &ids {
            set_times(&app, "referrals", id, &[("submitted_at", at(2027, 1, 15))]).await;
        }

        // Six early help assessments started in January; five closed in February with needs
        // met, one in March disengaged.
        let eh = principal("eh-lead-1", LA, Role::EarlyHelpPractitioner);
        for (i, child) in kids[10..16].iter().enumerate() {
            load::consents(
                app.store.conn(),
                &[crate::helpers::consent(
                    *child,
                    ConsentState::Given,
                    Purpose::EarlyHelp,
                    &eh.subject,
                    Utc::now() - TimeDelta::minutes(5),
                )],
            )
            .await
            .unwrap();
            let reply = app
                .query(
                    &eh,
                    Some("early_help"),
                    "mutation($child: ID!) { startAssessment(child: $child, needs: \"Routines at home\") { id } }",
                    json!({ "child": child.to_string() }),
                )
                .await;
            assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
            let id = reply.body["data"]["startAssessment"]["id"].as_str().unwrap().to_owned();
            let outcome = if i == 5 { "DISENGAGED" } else { "NEEDS_MET" };
            let reply = app
                .query(
                    &eh,
                    Some("early_help"),
                    &format!("mutation($id: ID!) {{ closeAssessment(id: $id, outcome: {outcome}) {{ open }} }}"),
                    json!({ "id": id }),
                )
                .await;
            assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
            let closed = if i == 5 { at(2027, 3, 2) } else { at(2027, 2, 20) };
            set_times(&app, "assessments", &id, &[("started_at", at(2027, 1, 20)), ("closed_at", closed)]).await;
        }

        // Agency facts: seven child protection plans starting in February (social care);
        // eleven children known to social care with autumn attendance in January, five of them
        // under 90%; five self-harm attendances in March by someone aged 15 to 19.
        let mut facts = Vec::new();
        let cp = (DataCategory::SocialCareChildProtection, Agency::SocialCare, "cp_plan");
        for child in &kids[20..27] {
            facts.push(fact(*child, LA, cp, at(2027, 2, 10), json!({ "CPPstartDate": "2027-02-10" })));
        }
        let referral = (DataCategory::SocialCareContactReferral, Agency::SocialCare, "referral");
        let attendance = (DataCategory::EducationAttendance, Agency::Education, "attendance_summary");
        for (i, child) in kids[30..41].iter().enumerate() {
            facts.push(fact(*child, LA, referral, at(2026, 6, 1), json!({})));
            let pct = if i < 5 { 82.5 } else { 96.0 };
            facts.push(fact(*child, "school:999100", attendance, at(2027, 1, 25), json!({ "AttendancePercent": pct })));
        }
        // Attendance of a child nobody in social care knows is not counted.
        let social_care_kinds = ["contact", "referral", "assessment", "cin_plan", "cp_plan", "looked_after_episode"];
        let unknown = kids[45..]
            .iter()
            .copied()
            .find(|k| {
                !app.population
                    .facts
                    .iter()
                    .any(|f| f.person_id == *k && social_care_kinds.contains(&f.kind.as_str()))
            })
            .expect("a child unknown to social care");
        facts.push(fact(unknown, "school:999100", attendance, at(2027, 1, 25), json!({ "AttendancePercent": 70.0 })));
        // Aged 16 to 18 on the 12th, so 15 to 19 on each day from the 8th.
        let on = NaiveDate::from_ymd_opt(2027, 3, 12).unwrap();
        let teen = app
            .population
            .persons
            .iter()
            .find(|p| p.date_of_birth.and_then(|b| on.years_since(b)).is_some_and(|a| (16..=18).contains(&a)))
            .expect("someone aged 16 to 18");
        let self_harm = (DataCategory::HealthMentalHealth, Agency::Health, "self_harm_attendance");
        for day in 8..13 {
            facts.push(fact(teen.id, "acute_trust:RX1", self_harm, at(2027, 3, day), json!({})));
        }
        load::facts(app.store.conn(), &facts).await.unwrap();

        let reply = app.query(&board, Some("statistics"), KPIS, window.clone()).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        let body = &reply.body;
        assert_eq!(body["data"]["kpis"]["threshold"], 5);
        assert_eq!(body["data"]["kpis"]["withheld"], json!([]));

        // Referral rate: eight referrals per the child population, all in January.
        let rate = kpi(body, "referral_rate");
        assert_eq!(rate["period"]["total"], shown(8));
        assert_eq!(rate["period"]["value"], per10k(8, child_count));
        assert_eq!(rate["population"], shown(child_count));
        let months: Vec<&Value> = rate["series"].as_array().unwrap().iter().map(|r| &r["label"]).collect();
        assert_eq!(months, vec!["2027-01", "2027-02", "2027-03"]);
        assert_eq!(rate["series"][0]["total"], shown(8));
        assert_eq!(rate["series"][1]["total"], shown(0));

        // Re-referrals: 2 of 8. The 2 is under five, so it is suppressed, and so is the 6
        // first referrals beside it — otherwise 8 − 6 would give the 2 back. The total stays.
        let re = kpi(body, "re_referrals");
        assert_eq!(re["columns"], json!(["re_referral", "first_referral"]));
        for row in [&re["period"], &re["series"][0]] {
            assert_eq!(row["cells"], json!([hidden(), hidden()]), "{row}");
            assert_eq!(row["total"], shown(8));
            assert!(row["value"].is_null(), "no percentage from a hidden count");
        }
        assert_eq!(re["series"][1]["cells"], json!([shown(0), shown(0)]));

        // Timeliness: 5 on time, 1 late, 2 awaiting. The 1 and the 2 add up to 3, under five,
        // so the 5 goes too; every column then holds one hidden month, so nothing is left
        // that a total could give away.
        let timely = kpi(body, "decided_on_time");
        assert_eq!(timely["period"]["cells"], json!([hidden(), hidden(), hidden()]));
        assert_eq!(timely["period"]["total"], shown(8));

        // Early help: six started (shown); closed by outcome: five needs met in February and one
        // disengaged in March. The 1 is hidden with its complement in the period row and in
        // March; February's five needs met are shown, the period's five hidden with the 1.
        let started = kpi(body, "early_help_started");
        assert_eq!(started["period"]["total"], shown(6));
        assert_eq!(started["period"]["value"], 6.0);
        assert_eq!(started["series"][0]["total"], shown(6));
        let closed = kpi(body, "early_help_closed");
        assert_eq!(
            closed["columns"],
            json!(["needs_met", "stepped_up_to_social_care", "stepped_down", "disengaged"])
        );
        assert_eq!(closed["period"]["total"], shown(6));
        assert_eq!(closed["period"]["cells"][0], hidden());
        assert_eq!(closed["period"]["cells"][3], hidden());
        assert_eq!(closed["period"]["cells"][1], shown(0));
        assert!(closed["period"]["value"].is_null());
        let feb = &closed["series"][1];
        let mar = &closed["series"][2];
        // March's single disengaged case: its month total would give it away, so it goes too.
        assert_eq!(mar["cells"][3], hidden());
        assert_eq!(mar["total"], hidden());
        // February and March are both hidden in the needs-met column or the total column
        // wherever one alone would give the other away.
        assert!(
            feb["cells"][0]["suppressed"] == true || feb["total"]["suppressed"] == true,
            "February's five cannot reveal March's one: {closed}"
        );

        // Child protection plans: seven in February, per 10,000 children.
        let cpp = kpi(body, "cp_plan_rate");
        assert_eq!(cpp["period"]["total"], shown(7));
        assert_eq!(cpp["period"]["value"], per10k(7, child_count));
        assert_eq!(cpp["series"][1]["total"], shown(7));

        // Persistent absence among children known to social care: 5 of 11.
        let pa = kpi(body, "persistent_absence_known_to_social_care");
        assert_eq!(pa["period"]["cells"], json!([shown(5), shown(6)]));
        assert_eq!(pa["period"]["total"], shown(11));
        assert_eq!(pa["period"]["value"], 45.5);

        // Self-harm, aged 10 to 24: five attendances, all in the 15-19 band.
        let sh = kpi(body, "self_harm_10_24");
        assert_eq!(sh["period"]["cells"], json!([shown(0), shown(5), shown(0)]));
        assert_eq!(sh["series"][2]["total"], shown(5));

        // Never a person: no id anywhere in the answer.
        let text = reply.body.to_string();
        for id in kids.iter().chain([&teen.id]) {
            assert!(!text.contains(&id.to_string()), "a person id in the answer");
        }

        // One access-log entry per read: the action, the clause relied on, no subjects.
        let log = app.log().await;
        let entries: Vec<_> = log
            .iter()
            .filter(|e| e.principal_subject == "board-1")
            .collect();
        assert_eq!(entries.len(), 2, "one entry per kpis read");
        let last = entries.last().unwrap();
        assert!(last.subjects.is_empty(), "no person subjects");
        assert_eq!(last.purpose.as_deref(), Some("statistics"));
        let action = &last.reads["actions"][0];
        assert_eq!(action["action"], "kpis");
        assert_eq!(action["from"], "2027-01-01");
        assert!(action["clauses"].to_string().contains("P-STATS 1.0 5.1"), "{action}");
        assert!(action["suppressed_cells"].as_u64().unwrap() > 0);

        // By area: the children with a current address in one postcode district.
        let today = Utc::now().date_naive();
        let pop = &app.population;
        let district = |a: &Address| {
            let norm = Address::normalise_postcode(&a.postcode);
            norm[..norm.len() - 3].to_owned()
        };
        let area = district(
            pop.addresses
                .iter()
                .find(|a| pop.persons.iter().any(|p| p.id == a.person_id && p.is_child))
                .unwrap(),
        );
        let in_area = pop
            .persons
            .iter()
            .filter(|p| p.is_child && !p.shielded)
            .filter(|p| {
                pop.addresses.iter().any(|a| {
                    a.person_id == p.id
                        && district(a) == area
                        && a.valid_to.is_none_or(|to| to >= today)
                })
            })
            .count() as u64;
        let mut vars = window.clone();
        vars["area"] = json!(area.to_lowercase());
        let reply = app.query(&board, Some("statistics"), KPIS, vars).await;
        assert!(reply.body["errors"].is_null(), "{:?}", reply.body);
        assert_eq!(reply.body["data"]["kpis"]["area"], json!(area));
        let expected = if (1..5).contains(&in_area) { hidden() } else { shown(in_area) };
        assert_eq!(reply.body["data"]["kpis"]["children"], expected, "{area}");
    })
    .await;
}

#[tokio::test]
async fn kpis_are_refused_outside_statistics_and_to_roles_p_stats_does_not_name() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let vars = json!({ "from": "2027-01-01", "to": "2027-03-31" });

        // The board member, but not for statistics: refused before anything is counted.
        let board = principal("board-1", LA, Role::BoardMember);
        let reply = app.query(&board, Some("audit"), KPIS, vars.clone()).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{:?}", reply.body);
        assert!(
            reply.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("`statistics`")
        );
        assert!(reply.body["data"].is_null() || reply.body["data"]["kpis"].is_null());

        // For statistics, but a role the protocol does not name: refused by P-STATS, with the
        // reason and the clause.
        for (who, org, role) in [
            ("sw-1", LA, Role::SocialWorker),
            ("pc-1", "police:anyshire", Role::PoliceOfficer),
        ] {
            let p = principal(who, org, role);
            let reply = app.query(&p, Some("statistics"), KPIS, vars.clone()).await;
            assert_eq!(reply.codes(), vec!["ISP_DENIED"], "{who}: {:?}", reply.body);
            let e = &reply.body["errors"][0]["extensions"];
            assert_eq!(e["reason"], "role_not_permitted", "{who}");
            assert_eq!(e["protocol"], "P-STATS", "{who}");
            assert_eq!(e["clause"], "5.1", "{who}");
        }
        // The refusal is itself in the log, naming no one.
        let log = app.log().await;
        let refused = log
            .iter()
            .find(|e| e.principal_subject == "sw-1")
            .expect("logged");
        assert!(refused.subjects.is_empty());
        assert_eq!(refused.reads["actions"][0]["released"], json!([]));
        assert_eq!(
            refused.reads["actions"][0]["withheld"][0]["reason"],
            "role_not_permitted"
        );

        // Arguments that cannot be used say why.
        let mut bad = vars.clone();
        bad["area"] = json!("AN1 2AB");
        let reply = app.query(&board, Some("statistics"), KPIS, bad).await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
        let reply = app
            .query(
                &board,
                Some("statistics"),
                KPIS,
                json!({ "from": "2027-03-01", "to": "2027-01-01" }),
            )
            .await;
        assert_eq!(reply.codes(), vec!["BAD_USER_INPUT"]);
        let reply = app.query(&board, None, KPIS, vars.clone()).await;
        assert_eq!(reply.codes(), vec!["PURPOSE_REQUIRED"]);
    })
    .await;
}

#[tokio::test]
async fn the_insights_page_charts_each_kpi_marks_suppressed_cells_and_exports_csv() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app(Db::Sqlite, 12).await;
    let kids: Vec<PersonId> = children(&app).iter().map(|p| p.id).collect();
    // Eight referrals this month: two re-referrals, suppressed with their complement.
    eight_referrals(&app, &kids).await;

    let downloads = tempfile::tempdir().unwrap();
    let c = browser(&driver, downloads.path()).await;
    c.goto(&format!("{}/insights", app.base)).await.unwrap();
    wait_text(&c, "h1", "Sign in").await;
    check_accessible(&c, "insights sign-in").await;

    // A social worker's token signs in, but the protocols refuse the indicators.
    let sw = app.token(&principal("sw-1", LA, Role::SocialWorker));
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&sw)
        .await
        .unwrap();
    click(&c, "form button[type=submit]").await;
    wait_text(&c, "#alert", "role").await;
    click(&c, "#sign-out").await;
    wait_text(&c, "h1", "Sign in").await;

    // The board member sees every indicator, charted, with the suppressed cells marked.
    let token = app.token(&principal("board-1", LA, Role::BoardMember));
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    click(&c, "form button[type=submit]").await;
    wait_text(&c, "main h1", "Partnership indicators").await;
    wait_text(&c, "#kpi-referral_rate table", "Whole period").await;
    let re = wait_text(&c, "table[data-kpi=re_referrals]", "suppressed").await;
    assert!(re.contains('8'), "the total of eight is shown: {re}");
    let charts = c
        .find_all(Locator::Css("main svg[role=img]"))
        .await
        .unwrap();
    assert_eq!(charts.len(), 8, "a chart per indicator");
    let marked = c
        .find_all(Locator::Css(
            "svg[data-kpi=re_referrals] rect[data-suppressed=true]",
        ))
        .await
        .unwrap();
    assert!(
        !marked.is_empty(),
        "the month with hidden re-referrals is marked, not drawn as zero"
    );
    check_accessible(&c, "insights").await;
    let order = c
        .execute(
            r#"const f = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")]
                 .filter((el) => !el.hidden && el.tabIndex >= 0);
               return [f[0].textContent, f[0].getAttribute("href")];"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(order, json!(["Skip to content", "#main"]));
    shoot(&c, "20-insights").await;

    // CSV of what is shown: suppressed counts say so, never 0.
    click(&c, "button[data-export='kinship-indicators.csv']").await;
    let file = downloads.path().join("kinship-indicators.csv");
    let started = Instant::now();
    while !file.is_file() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no CSV downloaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csv = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "kpi,row,from,to,column,count,value,unit");
    let period_re: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("re_referrals,period,"))
        .collect();
    assert_eq!(period_re.len(), 3, "{csv}");
    assert!(
        period_re[0].contains(",re_referral,suppressed,suppressed,"),
        "{csv}"
    );
    assert!(
        period_re[1].contains(",first_referral,suppressed,"),
        "{csv}"
    );
    assert!(period_re[2].contains(",total,8,"), "{csv}");

    // Another district narrows the figures: a district nobody lives in has no referrals.
    c.find(Locator::Css("#area"))
        .await
        .unwrap()
        .send_keys("ZZ9")
        .await
        .unwrap();
    click(&c, "#kpi-filters button[type=submit]").await;
    wait_text(&c, "#scope", "postcode district ZZ9").await;
    shoot(&c, "21-insights-area").await;
    c.close().await.unwrap();
}
