//! The SDK's conformance kit over the connector reading its own feed, serving the fixture
//! files' records, on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use kinship_connector_education::{Config, EducationConnector, feed::Feed};
use kinship_connector_sdk::conformance::{self, FailingFeed, Subjects, closed_port_url};

#[tokio::test]
async fn the_connector_passes_the_conformance_kit_over_its_feed() {
    let records = common::fixture_records().await;
    // Small files, so the kit resumes from several cursors.
    let feed = Feed::with_pupils_per_file(records, 2);
    let healthy = common::serve(&feed).await;
    let unavailable = FailingFeed::start(503).await.expect("503 feed");
    let unauthorised = FailingFeed::start(401).await.expect("401 feed");
    let connector = |url: String| EducationConnector::new(Config::http(url)).expect("connector");
    let subjects = Subjects {
        healthy: connector(healthy),
        transient: connector(unavailable.url()),
        fatal: connector(unauthorised.url()),
        unreachable: connector(closed_port_url().await.expect("closed port")),
    };
    let report = conformance::run(&subjects).await;
    println!("{report:#?}");
    let report = report.expect("conformant");
    assert!(report.batches > 2);
    for category in [
        "education.enrolment",
        "education.attendance",
        "education.exclusions",
        "education.fsm",
        "education.sen",
        "person.ethnicity",
    ] {
        assert!(
            report.categories.contains_key(category),
            "no `{category}` facts in {report:?}"
        );
    }
}
