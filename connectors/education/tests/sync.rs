//! Syncs as the hub runs them: over the fixture folder (with a file that is not XML and one
//! with malformed pupils), over a folder the feed writes, and incrementally over HTTP after an
//! upsert.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use kinship_connector_education::{Config, EducationConnector, feed};
use kinship_connector_sdk::{Connector, ConnectorError};

#[tokio::test]
async fn a_folder_sync_rejects_a_file_that_is_not_xml_and_goes_on() {
    let c = EducationConnector::new(Config::folder(common::fixtures())).unwrap();
    c.check().await.expect("the fixture folder is readable");
    let batches = common::pull_all(&c, None).await;
    // One batch per file, then the empty batch after the final cursor.
    assert_eq!(batches.len(), 5);
    assert!(batches[4].records.is_empty() && batches[4].next.is_none());
    let not_xml = &batches[1];
    assert!(not_xml.records.is_empty());
    assert_eq!(not_xml.rejected.len(), 1);
    assert_eq!(not_xml.rejected[0].reason, "the file is not XML");
    assert!(not_xml.rejected[0].raw.starts_with("UPN,Surname"));
    assert!(!batches[2].records.is_empty(), "the sync goes on after it");
    let malformed = &batches[3];
    assert_eq!(malformed.rejected.len(), 4, "{:?}", malformed.rejected);
    assert!(
        malformed
            .records
            .iter()
            .any(|r| r.source_key == "ctf:9992002:N999200220011")
    );
    assert_eq!(
        batches[3].next.as_ref().map(|c| c.0.as_str()),
        Some(r#"{"after":"0004_9992002_CTF_9992001.xml"}"#)
    );
}

#[tokio::test]
async fn resuming_from_a_cursor_delivers_only_the_files_after_it() {
    let c = EducationConnector::new(Config::folder(common::fixtures())).unwrap();
    let all = common::pull_all(&c, None).await;
    let rest = common::pull_all(&c, all[1].next.clone()).await;
    let keys = |b: &[kinship_connector_sdk::Batch]| {
        b.iter()
            .flat_map(|b| &b.records)
            .map(|r| (r.source_key.clone(), r.content_hash()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&rest), keys(&all[2..]));
}

#[tokio::test]
async fn folder_and_http_deliver_the_same_records_from_one_feed() {
    let records = common::fixture_records().await;
    let feed = feed::Feed::with_pupils_per_file(records, 2);
    let dir = tempfile::tempdir().unwrap();
    feed::write_folder(&feed, dir.path()).unwrap();
    let folder = EducationConnector::new(Config::folder(dir.path())).unwrap();
    let http = EducationConnector::new(Config::http(common::serve(&feed).await)).unwrap();
    let hashes = |b: Vec<kinship_connector_sdk::Batch>| {
        b.into_iter()
            .flat_map(|b| b.records)
            .map(|r| (r.source_key.clone(), r.content_hash()))
            .collect::<Vec<_>>()
    };
    let from_folder = hashes(common::pull_all(&folder, None).await);
    assert!(!from_folder.is_empty());
    assert_eq!(from_folder, hashes(common::pull_all(&http, None).await));
}

#[tokio::test]
async fn an_incremental_sync_after_an_upsert_sees_exactly_the_change() {
    let records = common::fixture_records().await;
    let feed = feed::Feed::new(records.clone());
    let c = EducationConnector::new(Config::http(common::serve(&feed).await)).unwrap();
    let first = common::pull_all(&c, None).await;
    let final_cursor = first[first.len() - 2].next.clone().expect("final cursor");
    assert!(c.pull(Some(&final_cursor)).await.unwrap().next.is_none());

    let mut ava = records
        .iter()
        .find(|r| r.source_key == "ctf:9992001:J999200120004")
        .cloned()
        .unwrap();
    ava.facts.retain(|f| f.kind != "sen_provision");
    feed.upsert(vec![ava]);

    let changes = common::pull_all(&c, Some(final_cursor)).await;
    let keys: Vec<&str> = changes
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| r.source_key.as_str())
        .collect();
    assert_eq!(
        keys,
        vec![
            "ctf:9992001:J999200120004",
            "ctf:9992001:J999200120004:contact:1"
        ]
    );
    let pupil = &changes[0].records[0];
    assert!(pupil.facts.iter().all(|f| f.kind != "sen_provision"));
}

#[tokio::test]
async fn configuration_and_source_errors_are_classified() {
    let both = EducationConnector::from_json(serde_json::json!({
        "base_url": "http://127.0.0.1:9", "folder": "/tmp"
    }));
    assert!(matches!(both, Err(ConnectorError::Fatal(m)) if m.contains("exactly one")));
    let unknown =
        EducationConnector::from_json(serde_json::json!({ "folder": "/tmp", "url": "x" }));
    assert!(matches!(unknown, Err(ConnectorError::Fatal(m)) if m.contains("`url`")));
    let missing = EducationConnector::new(Config::folder("/nonexistent/kinship-ctf")).unwrap();
    assert!(matches!(
        missing.check().await,
        Err(ConnectorError::Fatal(_))
    ));
    assert!(matches!(
        missing.pull(None).await,
        Err(ConnectorError::Fatal(_))
    ));
    let foreign = kinship_connector_sdk::Cursor("page=2".into());
    let c = EducationConnector::new(Config::folder(common::fixtures())).unwrap();
    assert!(matches!(
        c.pull(Some(&foreign)).await,
        Err(ConnectorError::Fatal(_))
    ));
}
