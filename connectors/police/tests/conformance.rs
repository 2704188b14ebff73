//! The SDK's conformance kit against the loopback feed serving the fixture envelopes, at
//! page sizes that split households and persons across pages.

#![cfg(feature = "feed")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

#[path = "support/envelopes.rs"]
mod envelopes;
#[path = "support/serve.rs"]
mod serve;

use kinship_connector_police::feed::Feed;
use kinship_connector_police::{Config, PoliceConnector};
use kinship_connector_sdk::conformance::{self, FailingFeed, Subjects, closed_port_url};

fn connector(url: &str, page_size: u32) -> PoliceConnector {
    PoliceConnector::new(Config {
        page_size,
        timeout_seconds: 5,
        ..Config::new(url)
    })
    .expect("valid config")
}

#[tokio::test]
async fn the_connector_passes_the_conformance_kit() {
    let feed = Feed::new(envelopes::population());
    let url = serve::serve(feed.router()).await;
    let unavailable = FailingFeed::start(503).await.expect("503 feed");
    let unauthorised = FailingFeed::start(401).await.expect("401 feed");
    let closed = closed_port_url().await.expect("closed port");
    for page_size in [1, 2, 5, 200] {
        let subjects = Subjects {
            healthy: connector(&url, page_size),
            transient: connector(&unavailable.url(), page_size),
            fatal: connector(&unauthorised.url(), page_size),
            unreachable: connector(&closed, page_size),
        };
        let report = conformance::run(&subjects).await;
        println!("page size {page_size}: {report:#?}");
        let report = report.unwrap_or_else(|e| panic!("page size {page_size}: {e}"));
        // Five persons, and thirteen parts in ten events.
        assert_eq!(report.records, 18, "page size {page_size}");
        assert_eq!(report.rejected, 0);
        assert_eq!(report.categories.len(), 5, "every police category");
    }
}
