//! The data-sharing board's review of the access log, through the real server: filters, a
//! subject access report, the break-glass queue and findings; nobody else may look.

use kinship::model::{DataCategory, Role};
use serde_json::{Value, json};

use crate::golden::{LA, S1, world};
use crate::helpers::{on_each_backend, principal, spawn_with};

const LOG: &str = "query($f: AccessLogFilter, $first: Int! = 50, $after: String) { accessLog(filter: $f, first: $first, after: $after) { entries { seq principal organisation purpose breakGlass justification subjects reads { subject category decision protocol clause } finding { outcome note reviewedBy } } endCursor hasNextPage scanLimited } }";

#[tokio::test]
async fn the_board_filters_the_log_reports_on_a_subject_and_reviews_break_glass() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let sw = principal("sw-1", LA, Role::SocialWorker);
        let dsl = principal("dsl-1", S1, Role::Dsl);
        let facts = "query($id: ID!) { person(id: $id) { facts { items { id } withheld } } }";
        let (c5, c3) = (w.c["C5"].to_string(), w.c["C3"].to_string());
        // An ordinary read, a refusal and a break-glass read.
        app.query(&dsl, Some("safeguarding"), facts, json!({ "id": c3 })).await;
        app.query(&sw, Some("safeguarding"), facts, json!({ "id": c5 })).await;
        let reply = app
            .post(
                Some(&app.token(&sw)),
                Some("safeguarding"),
                &[("Kinship-Justification", "Disclosure at school today; strategy meeting at 14:00")],
                json!({ "query": facts, "variables": { "id": c5 } }),
            )
            .await;
        assert_eq!(reply.status, 200);

        let board = principal("board-1", LA, Role::BoardMember);
        let ask = |f: Value| {
            let app = &app;
            let board = board.clone();
            async move {
                let reply = app.query(&board, Some("audit"), LOG, json!({ "f": f })).await;
                assert_eq!(reply.status, 200, "{:?}", reply.body);
                assert!(reply.body.get("errors").is_none(), "{:?}", reply.body);
                reply.body["data"]["accessLog"].clone()
            }
        };
        let all = ask(json!({})).await;
        assert_eq!(all["entries"].as_array().unwrap().len(), 3, "{all}");
        assert_eq!(all["entries"][0]["breakGlass"], true, "newest first");

        let bg = ask(json!({ "breakGlass": true })).await;
        let entries = bg["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0]["justification"].as_str().unwrap().contains("strategy meeting"));

        let refused = ask(json!({ "decision": "explicit_consent_required" })).await;
        assert_eq!(refused["entries"].as_array().unwrap().len(), 1, "{refused}");
        let schools = ask(json!({ "agency": "school" })).await;
        assert_eq!(schools["entries"][0]["principal"], "dsl-1");
        assert_eq!(schools["entries"].as_array().unwrap().len(), 1);
        let about_c3 = ask(json!({ "subject": c3, "category": DataCategory::PoliceDomesticAbuse.as_str(), "protocol": "P-ENC" })).await;
        assert_eq!(about_c3["entries"].as_array().unwrap().len(), 1, "{about_c3}");

        // Paging: two, then the rest.
        let reply = app.query(&board, Some("audit"), LOG, json!({ "f": { "purpose": "safeguarding" }, "first": 2 })).await;
        let page = &reply.body["data"]["accessLog"];
        assert!(reply.body.get("errors").is_none(), "{:?}", reply.body);
        assert_eq!(page["hasNextPage"], true, "{page}");
        let after = page["endCursor"].as_str().unwrap();
        let reply = app.query(&board, Some("audit"), LOG, json!({ "f": { "purpose": "safeguarding" }, "first": 2, "after": after })).await;
        let rest = reply.body["data"]["accessLog"]["entries"].as_array().unwrap().clone();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0]["principal"], "dsl-1");

        // A subject access report: only the reads about C5.
        let sar = app
            .query(
                &board,
                Some("audit"),
                "query($id: ID!) { subjectAccessReport(personId: $id) { seq reads { subject decision } } }",
                json!({ "id": c5 }),
            )
            .await;
        let report = sar.body["data"]["subjectAccessReport"].as_array().unwrap();
        assert_eq!(report.len(), 2, "{:?}", sar.body);
        assert!(report.iter().flat_map(|e| e["reads"].as_array().unwrap()).all(|r| r["subject"] == c5.as_str()));

        // The break-glass queue, a finding, and the queue empty after it.
        let queue = "{ breakGlassReview { seq justification } }";
        let reply = app.query(&board, Some("audit"), queue, json!({})).await;
        let items = reply.body["data"]["breakGlassReview"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        let seq = items[0]["seq"].as_i64().unwrap();
        let review = "mutation($s: Int!, $n: String!) { reviewBreakGlass(seq: $s, outcome: APPROPRIATE, note: $n) { outcome reviewedBy } }";
        let reply = app.query(&board, Some("audit"), review, json!({ "s": seq, "n": "Strategy meeting minutes seen" })).await;
        assert_eq!(reply.body["data"]["reviewBreakGlass"]["outcome"], "appropriate", "{:?}", reply.body);
        assert_eq!(reply.body["data"]["reviewBreakGlass"]["reviewedBy"], "board-1");
        let reply = app.query(&board, Some("audit"), queue, json!({})).await;
        assert_eq!(reply.body["data"]["breakGlassReview"], json!([]));
        let again = app.query(&board, Some("audit"), review, json!({ "s": seq, "n": "second thoughts" })).await;
        assert_eq!(again.codes(), vec!["FORBIDDEN"], "a finding is recorded once");
        let bg = ask(json!({ "breakGlass": true })).await;
        assert_eq!(bg["entries"][0]["finding"]["outcome"], "appropriate");

        // Nobody else may look, and looking is on the record.
        let reply = app.query(&sw, Some("safeguarding"), LOG, json!({ "f": {} })).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
        let actions: Vec<String> = app
            .log()
            .await
            .iter()
            .flat_map(|e| e.reads["actions"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["action"].as_str().map(str::to_owned))
            .collect();
        for a in ["access_log_query", "subject_access_report", "review_break_glass"] {
            assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn protocol_usage_and_anomalies_show_what_the_board_should_look_at() {
    on_each_backend(|db| async move {
        let w = world();
        let app = spawn_with(db, w.pop.clone()).await;
        let mash = principal("mash-1", LA, Role::MashOfficer);
        let sw = principal("sw-1", LA, Role::SocialWorker);
        let facts = "query($id: ID!) { person(id: $id) { facts { items { id } withheld } } }";
        let reply = app
            .query(&mash, Some("safeguarding"), facts, json!({ "id": w.c["C1"].to_string() }))
            .await;
        assert_eq!(reply.status, 200);
        let reply = app
            .post(
                Some(&app.token(&sw)),
                Some("safeguarding"),
                &[("Kinship-Justification", "Police report received overnight")],
                json!({ "query": facts, "variables": { "id": w.c["C6"].to_string() } }),
            )
            .await;
        assert_eq!(reply.status, 200);

        let now = chrono::Utc::now();
        let (from, to) = (now - chrono::Duration::days(1), now + chrono::Duration::days(1));
        let board = principal("dpo-1", LA, Role::Dpo);
        let reply = app
            .query(
                &board,
                Some("audit"),
                "query($s: DateTime!) { protocolUsage(since: $s) { clauses { protocol clause released refused lastUsed } scanLimited } }",
                json!({ "s": from }),
            )
            .await;
        let usage = reply.body["data"]["protocolUsage"]["clauses"].as_array().unwrap().clone();
        let clause = |p: &str| usage.iter().find(|c| c["protocol"] == p).cloned().unwrap();
        let mash_clause = clause("P-MASH");
        assert!(mash_clause["released"].as_u64().unwrap() >= 2, "{mash_clause}");
        assert!(mash_clause["lastUsed"].is_string());
        let encompass = clause("P-ENC");
        assert_eq!(encompass["released"], 0);
        assert!(encompass["lastUsed"].is_null(), "unused: a candidate for review");

        let reply = app
            .query(
                &board,
                Some("audit"),
                "query($f: DateTime!, $t: DateTime!) { anomalies(from: $f, to: $t) { anomalies { kind principal entries evidence } scanLimited } }",
                json!({ "f": from, "t": to }),
            )
            .await;
        let found = reply.body["data"]["anomalies"]["anomalies"].as_array().unwrap().clone();
        let bg = found
            .iter()
            .find(|a| a["kind"] == "no_involvement" && a["principal"] == "sw-1")
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(bg["entries"].as_array().unwrap().len(), 1);
        assert!(found.iter().all(|a| a["kind"] != "heavy_reader"), "nobody reads more than peers");
        let late = {
            use chrono::{Datelike, Timelike};
            let at = app.log().await[0].at;
            matches!(at.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
                || !(7..19).contains(&at.hour())
        };
        assert_eq!(
            found.iter().any(|a| a["kind"] == "out_of_hours"),
            late,
            "reads out of hours are flagged exactly when they are: {found:?}"
        );

        let reply = app
            .query(
                &board,
                Some("audit"),
                "query($f: DateTime!, $t: DateTime!) { accessSummary(from: $f, to: $t, groupBy: [AGENCY, DECISION]) { rows { key reads released denied breakGlass } } }",
                json!({ "f": from, "t": to }),
            )
            .await;
        let rows = reply.body["data"]["accessSummary"]["rows"].as_array().unwrap().clone();
        let row = |k: [&str; 2]| rows.iter().find(|r| r["key"] == json!(k)).cloned();
        let bg = row(["local_authority", "break_glass"]).unwrap_or_else(|| panic!("{rows:?}"));
        assert_eq!((bg["breakGlass"].as_u64(), bg["denied"].as_u64()), (Some(bg["reads"].as_u64().unwrap()), Some(0)));
        let permitted = row(["local_authority", "permitted"]).unwrap_or_else(|| panic!("{rows:?}"));
        assert!(permitted["released"].as_u64().unwrap() >= 1);
        assert_eq!(permitted["denied"], 0);

        let reply = app
            .query(&mash, Some("safeguarding"), "query($s: DateTime!) { protocolUsage(since: $s) { scanLimited } }", json!({ "s": from }))
            .await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"]);
    })
    .await;
}
