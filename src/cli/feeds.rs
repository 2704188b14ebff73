//! The population served as real agency documents on loopback, one feed per connector, and
//! the connector specs that read them: the demo's and the benchmarks' way data arrives.

use std::time::Duration;

use kinship_connector_sdk::SourceRecord;
use serde_json::json;
use tokio::net::TcpListener;

use super::CliError;
use crate::population::envelopes::Feed;
use crate::sync::{ConnectorSpec, RetryPolicy};

/// The feeds, with handles to change what they serve.
pub struct Feeds {
    pub health: kinship_connector_health::feed::Feed,
    pub education: kinship_connector_education::feed::Feed,
    pub police: kinship_connector_police::feed::Feed,
    pub social_care: kinship_connector_social_care::feed::Feed,
    /// One spec per feed, pointing at its loopback URL.
    pub specs: Vec<ConnectorSpec>,
    /// The responses kept as rendered, when the feeds keep them.
    cache: Option<PageCache>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Responses the feeds have rendered, kept by request so that asking again costs a copy, not
/// a rendering: for a benchmark whose feeds stand in for agencies' servers, which run on
/// machines of their own and whose rendering is not Kinship's cost. Emptied whenever what
/// the feeds serve changes; a page whose rendering began before a change is not kept.
#[derive(Clone, Default)]
struct PageCache(std::sync::Arc<std::sync::Mutex<Pages>>);

/// The kept pages, and how many times what the feeds serve has changed.
#[derive(Default)]
struct Pages {
    changes: u64,
    by_request: std::collections::HashMap<String, (axum::http::response::Parts, axum::body::Bytes)>,
}

impl PageCache {
    fn pages(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The page kept for a request, or the count of changes a rendering starts from.
    fn get(&self, key: &str) -> Result<(axum::http::response::Parts, axum::body::Bytes), u64> {
        let pages = self.pages();
        pages.by_request.get(key).cloned().ok_or(pages.changes)
    }

    /// Keeps a rendered page, unless what the feeds serve changed while it was rendered.
    fn keep(&self, key: String, page: (axum::http::response::Parts, axum::body::Bytes), from: u64) {
        let mut pages = self.pages();
        if pages.changes == from {
            pages.by_request.insert(key, page);
        }
    }

    fn clear(&self) {
        let mut pages = self.pages();
        pages.changes += 1;
        pages.by_request.clear();
    }
}

/// Serves a GET from the cache, or renders it and keeps it when it succeeded.
async fn cached(
    axum::extract::State(cache): axum::extract::State<PageCache>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::{IntoResponse, Response};
    if req.method() != axum::http::Method::GET {
        return next.run(req).await;
    }
    let key = req.uri().to_string();
    let from = match cache.get(&key) {
        Ok((parts, body)) => return Response::from_parts(parts, body.into()),
        Err(changes) => changes,
    };
    let response = next.run(req).await;
    if response.status() != axum::http::StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            cache.keep(key, (parts.clone(), bytes.clone()), from);
            Response::from_parts(parts, bytes.into())
        }
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

impl Drop for Feeds {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Feeds {
    /// Adds or replaces records on the feed that carries them.
    pub fn upsert(&self, feed: Feed, records: Vec<SourceRecord>) {
        match feed {
            Feed::Health => self.health.upsert(records),
            Feed::Education => self.education.upsert(records),
            Feed::Police => self.police.upsert(records),
            Feed::SocialCare => self.social_care.upsert(records),
        }
        if let Some(c) = &self.cache {
            c.clear();
        }
    }
}

async fn serve(router: axum::Router) -> Result<(String, tokio::task::JoinHandle<()>), CliError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, task))
}

fn spec(id: &str, kind: &str, settings: serde_json::Value) -> ConnectorSpec {
    ConnectorSpec {
        id: id.to_owned(),
        kind: kind.to_owned(),
        settings,
        rate_per_second: None,
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: 5,
        },
    }
}

/// Starts the four feeds over these envelopes and returns them with their specs.
pub async fn start(
    envelopes: std::collections::BTreeMap<Feed, Vec<SourceRecord>>,
    page_size: usize,
) -> Result<Feeds, CliError> {
    start_with(envelopes, page_size, None).await
}

/// Starts the four feeds, each keeping the responses it renders until what it serves
/// changes (see [`PageCache`]).
pub async fn start_keeping_pages(
    envelopes: std::collections::BTreeMap<Feed, Vec<SourceRecord>>,
    page_size: usize,
) -> Result<Feeds, CliError> {
    start_with(envelopes, page_size, Some(PageCache::default())).await
}

async fn start_with(
    mut envelopes: std::collections::BTreeMap<Feed, Vec<SourceRecord>>,
    page_size: usize,
    cache: Option<PageCache>,
) -> Result<Feeds, CliError> {
    let keep = |router: axum::Router| match &cache {
        Some(c) => router.layer(axum::middleware::from_fn_with_state(c.clone(), cached)),
        None => router,
    };
    let mut take = |f: Feed| envelopes.remove(&f).unwrap_or_default();
    let health = kinship_connector_health::feed::Feed::new(take(Feed::Health));
    let education = kinship_connector_education::feed::Feed::new(take(Feed::Education));
    let police = kinship_connector_police::feed::Feed::new(take(Feed::Police));
    let social_care = kinship_connector_social_care::feed::Feed::new(take(Feed::SocialCare));
    let (health_url, t1) = serve(keep(health.router())).await?;
    let (education_url, t2) = serve(keep(education.router())).await?;
    let (police_url, t3) = serve(keep(police.router())).await?;
    let (social_url, t4) = serve(keep(social_care.router())).await?;
    let specs = vec![
        spec(
            "anyshire-health",
            kinship_connector_health::KIND,
            json!({
                "base_url": health_url,
                "page_size": page_size,
                "organisation_kinds": health.organisation_kinds(),
            }),
        ),
        spec(
            "anyshire-schools",
            kinship_connector_education::KIND,
            json!({ "base_url": education_url }),
        ),
        spec(
            "anyshire-council",
            kinship_connector_social_care::KIND,
            json!({ "base_url": social_url, "la": "999" }),
        ),
        spec(
            "anyshire-police",
            kinship_connector_police::KIND,
            json!({ "base_url": police_url, "page_size": page_size.min(1_000) }),
        ),
    ];
    Ok(Feeds {
        health,
        education,
        police,
        social_care,
        specs,
        cache,
        tasks: vec![t1, t2, t3, t4],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{self, PopulationSpec, envelopes::envelopes};

    /// A feed keeping its pages serves a page again as it first rendered it, and renders it
    /// anew once what it serves has changed: a sync after a change never reads a stale page.
    #[tokio::test]
    async fn a_feed_keeping_its_pages_renders_them_anew_once_what_it_serves_changes() {
        let pop = population::generate(&PopulationSpec::new(4, 11));
        let all = envelopes(&pop);
        let mut police = all.get(&Feed::Police).cloned().unwrap_or_default();
        let feeds = start_keeping_pages(all, 100).await.expect("feeds start");
        let base = feeds
            .specs
            .iter()
            .find(|s| s.id == "anyshire-police")
            .and_then(|s| s.settings["base_url"].as_str().map(str::to_owned))
            .expect("a police feed");
        let url = format!("{base}/pole/events?limit=1000");
        let get = || async {
            let r = reqwest::get(&url).await.expect("the feed answers");
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            r.text().await.expect("a body")
        };
        let first = get().await;
        assert_eq!(
            get().await,
            first,
            "an unchanged feed serves the page it rendered"
        );

        let record = police
            .iter_mut()
            .find(|r| !r.identity.names.is_empty())
            .expect("a police record naming a person");
        record.identity.names[0].family.push_str("-Amended");
        let changed = record.identity.names[0].family.clone();
        assert!(!first.contains(&changed));
        feeds.upsert(Feed::Police, vec![record.clone()]);
        let after = get().await;
        assert!(
            after.contains(&changed),
            "after a change the page is rendered anew, with the change"
        );
    }
}
