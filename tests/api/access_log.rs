//! The access log: one entry per request that touched personal data, written before the
//! response leaves; no entry for a request that read none; no response when it cannot be
//! written; a chain that `verify` checks.

use kinship::audit::{AccessLog, Break, query_hash};
use kinship::model::InvolvementKind;
use serde_json::json;

use crate::helpers::on_each_backend;
use crate::helpers::spawn_app;
use crate::reads::involved;

const READ: &str =
    "query Read($id: ID!) { person(id: $id) { names { given } addresses { postcode } } }";

/// Makes `n` reads of one allocated child as their social worker, each logged.
async fn logged_reads(app: &crate::helpers::TestApp, n: usize) {
    let (sw, child) = involved(
        &app.population,
        InvolvementKind::AllocatedSocialWorker,
        None,
    );
    for _ in 0..n {
        let reply = app
            .query(
                &sw,
                Some("safeguarding"),
                READ,
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
}

#[tokio::test]
async fn each_request_that_reads_personal_data_writes_one_entry_and_others_none() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 30).await;
        let (sw, child) = involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let reply = app
            .query(&sw, Some("safeguarding"), "{ me { subject } }", json!({}))
            .await;
        assert_eq!(reply.status, 200);
        assert!(app.log().await.is_empty(), "`me` reads nobody's data");

        let reply = app
            .query(
                &sw,
                Some("safeguarding"),
                READ,
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let log = app.log().await;
        assert_eq!(log.len(), 1);
        let e = &log[0];
        assert_eq!(e.seq, 1);
        assert_eq!(e.principal_subject, sw.subject);
        assert_eq!(e.principal_organisation, sw.organisation.to_string());
        assert_eq!(e.principal_roles, vec!["social_worker".to_string()]);
        assert_eq!(e.purpose.as_deref(), Some("safeguarding"));
        assert_eq!(e.operation_name.as_deref(), None);
        assert_eq!(e.query_hash, query_hash(READ));
        assert_eq!(
            Some(e.request_id.clone()),
            reply.request_id,
            "the entry names the response's request id"
        );
        assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.subjects, vec![child]);
        assert!(!e.break_glass);
        let reads = e.reads["reads"].as_array().unwrap();
        for category in ["person.identity", "person.contact"] {
            let r = reads
                .iter()
                .find(|r| r["category"] == category)
                .unwrap_or_else(|| panic!("{category} logged"));
            assert_eq!(r["decision"], "permitted");
            assert_eq!(r["protocol"], "P-MASH");
            assert_eq!(r["protocol_version"], "3.0");
            assert_eq!(r["clause"], "4.1");
            assert!(r["released"].as_u64().unwrap() >= 1);
        }
        assert!(e.reads["rules"].as_str().unwrap().contains("P-MASH@3.0"));

        // A refused read is a decision too, and is logged.
        let dsl_reply = app
            .query(
                &kinship::model::Principal {
                    subject: "nobody".into(),
                    ..sw.clone()
                },
                Some("safeguarding"),
                READ,
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(dsl_reply.status, 200);
        let log = app.log().await;
        assert_eq!(log.len(), 2);
        let refused = log[1].reads["reads"].as_array().unwrap();
        assert!(
            refused
                .iter()
                .all(|r| r["released"] == 0 && r["withheld"].as_u64().unwrap() > 0),
            "{refused:?}"
        );
        assert!(
            refused
                .iter()
                .any(|r| r["decision"] == "no_legitimate_relationship"),
            "{refused:?}"
        );
        assert_eq!(log[1].prev_hash, log[0].entry_hash, "entries are chained");
    })
    .await;
}

#[tokio::test]
async fn a_request_fails_when_its_entry_cannot_be_written() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        let (sw, child) = involved(&app.population, InvolvementKind::AllocatedSocialWorker, None);
        // On SQLite the log's tables are in the access log's own file, attached as `log`.
        app.exec(
            &["CREATE TRIGGER log.refuse_log BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'log offline'); END"],
            &[
                "CREATE FUNCTION refuse_log() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'log offline'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION refuse_log()",
            ],
        )
        .await;
        let reply = app.query(&sw, Some("safeguarding"), READ, json!({ "id": child.to_string() })).await;
        assert_eq!(reply.status, 503, "{:?}", reply.body);
        assert_eq!(reply.codes(), vec!["AUDIT_UNAVAILABLE"]);
        assert!(reply.body.get("data").is_none(), "no data leaves without its log entry");
        let text = reply.body.to_string();
        let name = app.population.names.iter().find(|n| n.person_id == child).unwrap();
        assert!(!text.contains(&name.family), "no personal data in the refusal");
        assert!(app.log().await.is_empty());
        // A request that reads no personal data needs no entry, so it still works.
        let reply = app.query(&sw, Some("safeguarding"), "{ me { subject } }", json!({})).await;
        assert_eq!(reply.status, 200);
    })
    .await;
}

#[tokio::test]
async fn verify_accepts_the_chain_and_names_a_changed_entry() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        logged_reads(&app, 5).await;
        let log = AccessLog::new(app.store.clone());
        let report = log.verify(1).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.head), (5, 5));

        // Someone with the rights to drop the database's guards edits the log behind the hub.
        drop_guards(&app).await;
        let both = |sql: &'static str| [sql];
        app.exec(
            &both("UPDATE access_log SET purpose = 'early_help' WHERE seq = 3"),
            &both("UPDATE access_log SET purpose = 'early_help' WHERE seq = 3"),
        )
        .await;
        let report = log.verify(1).await.unwrap();
        assert_eq!(report.first_break, Some((3, Break::Changed)));

        let cut = [
            "DELETE FROM access_log_subjects WHERE seq = 5",
            "DELETE FROM access_log WHERE seq = 5",
            "UPDATE access_log SET purpose = 'safeguarding' WHERE seq = 3",
        ];
        app.exec(&cut, &cut).await;
        let report = log.verify(1).await.unwrap();
        assert_eq!(
            report.first_break,
            Some((5, Break::Truncated { head: 5 })),
            "a cut tail is found"
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_entry_in_one_unbroken_chain() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        let (sw, child) = involved(
            &app.population,
            InvolvementKind::AllocatedSocialWorker,
            None,
        );
        let replies = futures_util::future::join_all((0..40).map(|_| {
            app.query(
                &sw,
                Some("safeguarding"),
                READ,
                json!({ "id": child.to_string() }),
            )
        }))
        .await;
        let mut ids: Vec<String> = replies
            .iter()
            .map(|r| {
                assert_eq!(r.status, 200, "{:?}", r.body);
                r.request_id.clone().unwrap()
            })
            .collect();
        let log = app.log().await;
        let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "no gaps, no duplicates");
        let mut logged: Vec<String> = log.iter().map(|e| e.request_id.clone()).collect();
        ids.sort();
        logged.sort();
        assert_eq!(ids, logged, "one entry per request, each its own");
        for pair in log.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].entry_hash);
        }
        let report = AccessLog::new(app.store.clone()).verify(1).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.head, 40);
    })
    .await;
}

/// Drops the triggers that keep the log append-only, as a database administrator could.
async fn drop_guards(app: &crate::helpers::TestApp) {
    app.exec(
        &[
            "DROP TRIGGER access_log_no_update",
            "DROP TRIGGER access_log_no_delete",
            "DROP TRIGGER access_log_subjects_no_delete",
            "DROP TRIGGER access_log_subjects_no_update",
            "DROP TRIGGER access_log_chain",
        ],
        &[
            "DROP TRIGGER access_log_append_only ON access_log",
            "DROP TRIGGER access_log_subjects_append_only ON access_log_subjects",
            "DROP TRIGGER access_log_chain ON access_log",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_an_entry_or_break_the_chain() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        logged_reads(&app, 3).await;
        let backend = match db {
            crate::helpers::Db::Sqlite => sea_orm::DbBackend::Sqlite,
            crate::helpers::Db::Postgres => sea_orm::DbBackend::Postgres,
        };
        let run = |sql: &'static str| {
            let conn = app.store.conn().clone();
            async move {
                sea_orm::ConnectionTrait::execute_raw(
                    &conn,
                    sea_orm::Statement::from_string(backend, sql),
                )
                .await
            }
        };
        for sql in [
            "UPDATE access_log SET purpose = 'audit' WHERE seq = 2",
            "DELETE FROM access_log WHERE seq = 3",
            "DELETE FROM access_log_subjects WHERE seq = 1",
            "UPDATE access_log_subjects SET seq = 2 WHERE seq = 1",
            "DELETE FROM audit_head",
        ] {
            let err = run(sql).await.expect_err(sql);
            assert!(
                err.to_string().contains("append-only"),
                "{sql}: {err}"
            );
        }
        // An entry that does not continue the chain: a copy of entry 2 given position 4.
        let err = run(
            "INSERT INTO access_log (seq, id, at, request_id, client_addr, principal_subject, principal_organisation, principal_roles, purpose, justification, break_glass, operation_name, query_hash, outcome, reads, prev_hash, entry_hash) \
             SELECT 4, id, at, request_id, client_addr, principal_subject, principal_organisation, principal_roles, purpose, justification, break_glass, operation_name, query_hash, outcome, reads, prev_hash, entry_hash FROM access_log WHERE seq = 2",
        )
        .await
        .expect_err("a forged entry is refused");
        assert!(err.to_string().contains("does not continue"), "{err}");
        let report = AccessLog::new(app.store.clone()).verify(1).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.head, 3);
    })
    .await;
}

#[tokio::test]
async fn an_export_verifies_on_its_own_and_a_tampered_one_is_named() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        logged_reads(&app, 6).await;
        let log = AccessLog::new(app.store.clone());
        let mut out = Vec::new();
        assert_eq!(log.export(3, 5, &mut out).await.unwrap(), 3);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "a header and three entries");
        let all = app.log().await;
        let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            header["prev_hash"], all[1].entry_hash,
            "the extract starts from #2's hash"
        );
        let report = kinship::audit::verify_extract(text.as_bytes()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.head), (3, 5));

        // Changed, removed, reordered and cut-short extracts are each named.
        let changed = text.replacen("\"safeguarding\"", "\"early_help\"", 1);
        let dropped = [lines[0], lines[1], lines[3]].join("\n");
        let reordered = [lines[0], lines[2], lines[1], lines[3]].join("\n");
        let cut = [lines[0], lines[1], lines[2]].join("\n");
        for (tampered, expected) in [
            (changed, Some((3, Break::Changed))),
            (dropped, Some((5, Break::Missing { expected: 4 }))),
            (reordered, Some((4, Break::Missing { expected: 3 }))),
            (cut, Some((5, Break::Truncated { head: 5 }))),
        ] {
            let report = kinship::audit::verify_extract(tampered.as_bytes()).unwrap();
            assert_eq!(report.first_break, expected);
        }
    })
    .await;
}

#[tokio::test]
async fn two_hubs_over_one_postgres_append_to_one_valid_chain() {
    use kinship::config::Config;
    use kinship::server::auth::TokenSigner;
    use kinship::store::{Store, StoreOptions};
    let dbs = crate::helpers::backends();
    if !dbs.contains(&crate::helpers::Db::Postgres) {
        eprintln!("PostgreSQL not configured: scaling out is a PostgreSQL deployment");
        return;
    }
    let app = spawn_app(crate::helpers::Db::Postgres, 20).await;
    // A second hub process over the same database: its own pool, writer and signer.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(
        &dir.path().join("unused.db"),
        0,
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols"),
    );
    config.database.url = app.db_url.clone().into();
    let store = Store::connect(&StoreOptions::new(app.db_url.clone()))
        .await
        .unwrap();
    let second = kinship::cli::hub::start(&config, store).await.unwrap();
    let url2 = format!("http://{}/graphql", second.local_addr().unwrap());
    let server2 = tokio::spawn(kinship::server::serve(
        second.listener,
        second.router,
        std::future::pending(),
    ));
    let signer2 = TokenSigner::from_config(&config.auth).unwrap();
    let (sw, child) = involved(
        &app.population,
        InvolvementKind::AllocatedSocialWorker,
        None,
    );
    let token2 = signer2.sign(&sw).unwrap();
    let body = json!({ "query": READ, "variables": { "id": child.to_string() } });
    let first = (0..40).map(|_| {
        app.query(
            &sw,
            Some("safeguarding"),
            READ,
            json!({ "id": child.to_string() }),
        )
    });
    let client = reqwest::Client::new();
    let other = (0..40).map(|_| {
        let req = client
            .post(&url2)
            .bearer_auth(&token2)
            .header("Kinship-Purpose", "safeguarding")
            .json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let (a, b) = tokio::join!(
        futures_util::future::join_all(first),
        futures_util::future::join_all(other)
    );
    assert!(a.iter().all(|r| r.status == 200));
    assert!(b.iter().all(|s| *s == 200), "{b:?}");
    server2.abort();
    let report = AccessLog::new(app.store.clone()).verify(1).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        report.head, 80,
        "every request of both hubs is in the chain"
    );
}

#[tokio::test]
async fn signed_checkpoints_hold_the_head_and_verify_checks_them() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    on_each_backend(|db| async move {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("checkpoint.pem");
        let pem = key.to_pkcs8_pem(Default::default()).unwrap();
        std::fs::write(&file, pem.as_bytes()).unwrap();
        let pop = kinship::population::generate(&kinship::population::PopulationSpec::new(20, 7));
        let app = crate::helpers::spawn_configured(db, pop, |c| {
            c.audit.checkpoint_key_file = Some(file.clone());
            c.audit.checkpoint_every = 2;
        })
        .await;
        logged_reads(&app, 5).await;
        // The writer signs after a batch commits; give it a moment after the last.
        let log = AccessLog::new(app.store.clone());
        let mut report = log.verify_with(1, Some(key.verifying_key())).await.unwrap();
        for _ in 0..50 {
            if report.checkpoints >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            report = log.verify_with(1, Some(key.verifying_key())).await.unwrap();
        }
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.checked, report.checkpoints), (5, 2), "at #2 and #4");

        let stranger = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let report = log
            .verify_with(1, Some(stranger.verifying_key()))
            .await
            .unwrap();
        assert_eq!(report.first_break, Some((2, Break::CheckpointSignature)));

        app.exec(
            &[
                "DROP TRIGGER audit_checkpoints_no_update",
                "UPDATE audit_checkpoints SET entry_hash = 'forged' WHERE seq = 4",
            ],
            &[
                "DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints",
                "UPDATE audit_checkpoints SET entry_hash = 'forged' WHERE seq = 4",
            ],
        )
        .await;
        let report = log.verify(1).await.unwrap();
        assert_eq!(report.first_break, Some((4, Break::CheckpointMismatch)));
    })
    .await;
}

#[tokio::test]
async fn verify_names_an_entry_removed_inserted_or_reordered_behind_the_hubs_back() {
    const COLUMNS: &str = "at, request_id, client_addr, principal_subject, principal_organisation, principal_roles, purpose, justification, break_glass, operation_name, query_hash, outcome, reads, entry_hash";
    let both = |sql: &[&str]| -> (Vec<String>, Vec<String>) {
        let v: Vec<String> = sql.iter().map(|s| (*s).to_owned()).collect();
        (v.clone(), v)
    };
    let removed = both(&["DELETE FROM access_log WHERE seq = 3"]);
    // A forged entry after the last, claiming to follow it.
    let forge = |new_id: &str| {
        vec![format!(
            "INSERT INTO access_log (seq, id, prev_hash, {COLUMNS}) SELECT 6, {new_id}, entry_hash, {COLUMNS} FROM access_log WHERE seq = 5"
        )]
    };
    let inserted = (forge("randomblob(16)"), forge("gen_random_uuid()"));
    // Entries 2 and 3 change places (their subject rows keep them from moving by position,
    // so their contents are swapped).
    let reordered = both(&[
        "CREATE TABLE swap_tmp AS SELECT * FROM access_log WHERE seq IN (2, 3)",
        "UPDATE access_log SET (at, request_id, principal_subject, purpose, reads, prev_hash, entry_hash) = \
         (SELECT at, request_id, principal_subject, purpose, reads, prev_hash, entry_hash FROM swap_tmp WHERE swap_tmp.seq = 5 - access_log.seq) \
         WHERE seq IN (2, 3)",
    ]);
    for (tamper, expected) in [
        (removed, (4, Break::Missing { expected: 3 })),
        (inserted, (6, Break::Changed)),
        (reordered, (2, Break::PrevHashMismatch)),
    ] {
        on_each_backend(|db| {
            let expected = expected.clone();
            let tamper = tamper.clone();
            async move {
                let app = spawn_app(db, 20).await;
                logged_reads(&app, 5).await;
                let log = AccessLog::new(app.store.clone());
                assert!(log.verify(1).await.unwrap().is_intact());
                drop_guards(&app).await;
                let sqlite: Vec<&str> = tamper.0.iter().map(String::as_str).collect();
                let postgres: Vec<&str> = tamper.1.iter().map(String::as_str).collect();
                app.exec(&sqlite, &postgres).await;
                let report = log.verify(1).await.unwrap();
                assert_eq!(report.first_break, Some(expected), "{sqlite:?}");
            }
        })
        .await;
    }
}

#[tokio::test]
async fn the_board_sees_when_the_chain_was_verified_and_where_it_broke() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        logged_reads(&app, 3).await;
        let board = crate::helpers::principal("board-1", crate::golden::LA, kinship::model::Role::BoardMember);
        let verify = "mutation { verifyAccessLog { head lastVerification { intact entriesChecked head firstBreak breakKind verifiedAt } } }";
        let reply = app.query(&board, Some("audit"), verify, json!({})).await;
        let status = &reply.body["data"]["verifyAccessLog"];
        assert_eq!(status["head"], 3, "{:?}", reply.body);
        assert_eq!(status["lastVerification"]["intact"], true);
        assert_eq!(status["lastVerification"]["entriesChecked"], 3);

        drop_guards(&app).await;
        let edit = ["UPDATE access_log SET purpose = 'early_help' WHERE seq = 2"];
        app.exec(&edit, &edit).await;
        let reply = app.query(&board, Some("audit"), verify, json!({})).await;
        let last = &reply.body["data"]["verifyAccessLog"]["lastVerification"];
        assert_eq!(last["intact"], false, "{:?}", reply.body);
        assert_eq!(last["firstBreak"], 2);
        assert_eq!(last["breakKind"], "changed");
        // The status query shows the same, and only to the board.
        let status = "{ accessLogStatus { lastVerification { intact firstBreak } } }";
        let reply = app.query(&board, Some("audit"), status, json!({})).await;
        assert_eq!(reply.body["data"]["accessLogStatus"]["lastVerification"]["firstBreak"], 2);
        let sw = crate::helpers::principal("sw-1", crate::golden::LA, kinship::model::Role::SocialWorker);
        let reply = app.query(&sw, Some("audit"), status, json!({})).await;
        assert_eq!(reply.codes(), ["FORBIDDEN"]);
    })
    .await;
}

#[tokio::test]
async fn verify_reads_json_as_stored_and_still_names_a_changed_read() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 20).await;
        logged_reads(&app, 4).await;
        let log = AccessLog::new(app.store.clone());
        drop_guards(&app).await;
        // The same JSON spelt differently is the same entry: verify decodes what it cannot
        // hash as stored.
        app.exec(
            &[r#"UPDATE access_log SET reads = replace(reads, '":', '": ') WHERE seq = 3"#],
            &["UPDATE access_log SET reads = reads::text::jsonb WHERE seq = 3"],
        )
        .await;
        let report = log.verify(1).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        // A changed value inside the reads is a changed entry.
        app.exec(
            &[r#"UPDATE access_log SET reads = json_set(reads, '$.rules', 'P-X@9') WHERE seq = 2"#],
            &[r#"UPDATE access_log SET reads = jsonb_set(reads, '{rules}', '"P-X@9"') WHERE seq = 2"#],
        )
        .await;
        let report = log.verify(1).await.unwrap();
        assert_eq!(report.first_break, Some((2, Break::Changed)));
    })
    .await;
}

/// An entry as a request would make it, reading one subject's identity.
fn entry(i: usize) -> kinship::audit::Entry {
    use kinship::model::{
        AgencyKind, DataCategory, OrganisationId, PersonId, Principal, Purpose, Role,
    };
    let la = OrganisationId::new(AgencyKind::LocalAuthority, "999");
    kinship::audit::Entry {
        at: chrono::Utc::now(),
        request_id: format!("upgrade-{i}"),
        client_addr: None,
        principal: Principal {
            subject: format!("sw-{i}"),
            organisation: la.clone(),
            roles: vec![Role::SocialWorker],
        },
        purpose: Some(Purpose::Safeguarding),
        justification: None,
        operation_name: None,
        registered_operation: None,
        query_hash: query_hash(READ),
        outcome: "ok".into(),
        rules: "P-MASH@3.0".into(),
        reads: vec![kinship::audit::Read {
            subject: PersonId::new(),
            category: DataCategory::PersonIdentity,
            owner: la,
            decision: "permitted".into(),
            protocol: Some("P-MASH".into()),
            protocol_version: Some("3.0".into()),
            clause: Some("4.1".into()),
            released: 1,
            withheld: 0,
            review_overdue: false,
            notify_owner: false,
            obligations: vec![],
        }],
        bases: Default::default(),
        actions: vec![],
    }
}

/// A SQLite store made before the access log had a file of its own keeps every entry when
/// it is upgraded: the chain moves whole, goes on from its head, and the database's file no
/// longer holds it. Without its log file, the upgraded store refuses to start.
#[tokio::test]
async fn an_upgraded_sqlite_store_moves_its_whole_chain_to_the_log_file() {
    use kinship::store::{Store, StoreError, StoreOptions, log_file_of, sqlite_files};
    use kinship_migrations::MigratorTrait;
    use sea_orm::{ConnectionTrait, Statement};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let store = Store::connect(&StoreOptions::sqlite_path(&path))
        .await
        .unwrap();
    // Every step before the move: the log's tables are in the database's file.
    let before = kinship_migrations::Migrator::migrations()
        .iter()
        .position(|m| m.name().contains("access_log_file"))
        .unwrap();
    kinship_migrations::Migrator::up(store.conn(), Some(before as u32))
        .await
        .unwrap();
    let entries: Vec<_> = (0..25).map(entry).collect();
    AccessLog::new(store.clone())
        .append_all(&entries)
        .await
        .unwrap();
    let tables_in = |schema: &'static str| {
        let store = store.clone();
        async move {
            store
                .conn()
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    format!(
                        "SELECT count(*) FROM {schema}.sqlite_master \
                         WHERE type = 'table' AND name IN ('access_log', 'access_log_subjects', \
                         'audit_head', 'audit_checkpoints', 'break_glass_reviews')"
                    ),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    assert_eq!((tables_in("main").await, tables_in("log").await), (5, 0));

    store.migrate().await.unwrap();
    assert_eq!((tables_in("main").await, tables_in("log").await), (0, 5));
    assert!(log_file_of(&path).exists());
    let log = AccessLog::new(store.clone());
    let report = log.verify(1).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.head, 25);
    // The moved chain refuses changes as before, and goes on from its head.
    let changed = store
        .conn()
        .execute_unprepared("UPDATE access_log SET purpose = 'audit' WHERE seq = 3")
        .await;
    assert!(changed.is_err(), "the moved log must stay append-only");
    assert_eq!(log.append(&entry(25)).await.unwrap(), 26);
    let report = log.verify(1).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.head, 26);
    store.close().await.unwrap();

    // The log's file is lost: the store says so rather than start a new chain.
    for f in sqlite_files(&path).into_iter().skip(3) {
        let _ = std::fs::remove_file(f);
    }
    let store = Store::connect(&StoreOptions::sqlite_path(&path))
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(matches!(err, StoreError::LogFileMissing(_)), "{err:?}");
    assert!(store.is_migrated().await.is_err());
}

/// On a SQLite store the writer appends straight to the log's file rather than through the
/// pool. Its rows must be stored as the pool stores them (the id as 16 bytes, the time as
/// RFC 3339 text, JSON as text), or the chain would read back differently.
#[tokio::test]
async fn the_writer_stores_entries_as_the_pool_does() {
    use kinship::store::{Store, StoreOptions};
    use sea_orm::{ConnectionTrait, Statement};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&StoreOptions::sqlite_path(&dir.path().join("k.db")))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    // The log keeps times to the microsecond, as PostgreSQL does.
    let at = chrono::DurationRound::duration_trunc(
        chrono::Utc::now(),
        chrono::TimeDelta::microseconds(1),
    )
    .unwrap();
    let entries: Vec<_> = (0..6)
        .map(|i| kinship::audit::Entry { at, ..entry(i) })
        .collect();
    let log = AccessLog::new(store.clone());
    // Through the pool: positions 1 to 3.
    log.append_all(&entries[..3]).await.unwrap();
    // Through the writer: positions 4 to 6.
    for (i, e) in entries.iter().enumerate().skip(3) {
        assert_eq!(log.append(e).await.unwrap(), i as i64 + 1);
    }
    let shapes: Vec<Vec<String>> = store
        .conn()
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT typeof(id) || ':' || length(id), at, typeof(break_glass), \
             typeof(principal_roles), typeof(reads), typeof(subjects), \
             (SELECT count(*) FROM access_log_subjects s WHERE s.seq = a.seq) \
             FROM access_log a ORDER BY seq",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (0..7)
                .map(|i| {
                    r.try_get_by_index::<String>(i)
                        .or_else(|_| r.try_get_by_index::<i64>(i).map(|n| n.to_string()))
                        .unwrap()
                })
                .collect()
        })
        .collect();
    assert_eq!(shapes.len(), 6);
    assert_eq!(shapes[0][0], "blob:16");
    assert_eq!(
        shapes[0][1],
        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    );
    assert_eq!(shapes[0][6], "1", "each entry's subject is indexed");
    for row in &shapes[1..] {
        assert_eq!(
            row, &shapes[0],
            "every row is stored alike, whichever way it went in"
        );
    }
    let stored = kinship::store::log::entries(store.conn(), 1, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 6);
    assert!(stored.iter().all(|r| r.at == at));
    let report = log.verify(1).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.head, 6);
}
