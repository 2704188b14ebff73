//! The SDK's conformance kit against the crate's own feed, serving the fixture returns'
//! records over loopback HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/helpers.rs"]
mod helpers;

use helpers::{fixtures, folder_connector, http_connector, pull_all, serve};
use kinship_connector_sdk::conformance::{self, FailingFeed, Subjects, closed_port_url};
use kinship_connector_social_care::feed::Feed;

#[tokio::test]
async fn the_connector_passes_the_conformance_kit_against_its_feed() {
    // The fixture returns, read once, are the records the feed serves.
    let records = pull_all(&folder_connector(&fixtures("returns")), None)
        .await
        .records;
    assert!(!records.is_empty());
    let feed = Feed::new(records);
    let healthy = serve(feed.router()).await;
    let unavailable = FailingFeed::start(503).await.unwrap();
    let unauthorised = FailingFeed::start(401).await.unwrap();
    let subjects = Subjects {
        healthy: http_connector(&healthy),
        transient: http_connector(&unavailable.url()),
        fatal: http_connector(&unauthorised.url()),
        unreachable: http_connector(&closed_port_url().await.unwrap()),
    };
    let report = conformance::run(&subjects).await;
    println!("{report:#?}");
    let report = report.unwrap();
    assert_eq!(report.records, 13);
    assert_eq!(report.rejected, 0);
    assert_eq!(report.batches, 5, "four returns and the empty final batch");
    for category in [
        "social_care.contact_referral",
        "social_care.assessment",
        "social_care.child_in_need",
        "social_care.child_protection",
        "social_care.child_protection_flag",
        "social_care.looked_after",
        "police.youth_justice",
        "police.missing_episode",
        "early_help.assessment",
        "early_help.plan",
        "early_help.family_outcomes",
    ] {
        assert!(
            report.categories.contains_key(category),
            "no `{category}` facts in {:?}",
            report.categories
        );
    }
}
