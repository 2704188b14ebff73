//! The SDK conformance kit over the health feed serving the fixture envelopes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/harness.rs"]
mod support;

use kinship_connector_health::feed::Feed;
use kinship_connector_sdk::conformance::{self, FailingFeed, Subjects};

#[tokio::test]
async fn the_connector_passes_the_conformance_kit() {
    let mut records = support::envelopes();
    records.extend(support::invalid_envelopes());
    let url = support::serve(Feed::new(records).router()).await;
    let unavailable = FailingFeed::start(503).await.unwrap();
    let unauthorised = FailingFeed::start(401).await.unwrap();
    let closed = conformance::closed_port_url().await.unwrap();
    // Small pages, so the kit resumes from many cursors, mid-type and between types.
    let subjects = Subjects {
        healthy: support::connector(&url, 2),
        transient: support::connector(&unavailable.url(), 2),
        fatal: support::connector(&unauthorised.url(), 2),
        unreachable: support::connector(&closed, 2),
    };
    let report = conformance::run(&subjects).await;
    println!("{report:#?}");
    let report = report.unwrap();
    assert_eq!(
        report.rejected, 1,
        "the Patient whose NHS number fails its check"
    );
    for category in [
        "health.unscheduled_care",
        "health.mental_health",
        "health.development",
        "health.condition",
        "health.sexual_health",
        "health.substance_misuse",
        "social_care.child_protection_flag",
    ] {
        assert!(report.categories.contains_key(category), "{category}");
    }
}
