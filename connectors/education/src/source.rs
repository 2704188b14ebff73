//! Where CTF files come from: an HTTP file service or a folder. Each answers three questions:
//! is it there (`check`), which file follows a name (`next_after`), and what a file says
//! (`read`).
//!
//! Errors are classified for the engine: timeouts, refused connections, 5xx and 429 are
//! transient; 401/403/404 and a listing that is not the expected JSON are fatal. A file that
//! is not text is not an error: it comes back as [`Document::Unreadable`] so the sync can
//! reject it and move past it.
//!
//! Limits: never parses XML; holds no cursor (the engine does).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kinship_connector_sdk::{ConnectorError, http};
use serde::Deserialize;

use crate::config::Config;

/// What reading a file gave.
pub(crate) enum Document {
    /// The file's text.
    Text(String),
    /// A file that is not text at all: rejected whole, with the reason and its bytes.
    Unreadable { reason: String, raw: String },
}

/// The file service's listing.
#[derive(Deserialize)]
struct Listing {
    files: Vec<String>,
}

/// The last listing fetched, so a pull does not list again while the names it has last.
pub(crate) struct CachedListing {
    /// The name the listing started after.
    after: Option<String>,
    /// The names it returned, in order.
    names: Vec<String>,
}

impl CachedListing {
    /// The name after `after`, when this listing knows it: `after` is where the listing
    /// started or one of its names other than the last (after the last, a new file may have
    /// arrived that this listing could not see).
    fn next_after(&self, after: Option<&str>) -> Option<&str> {
        if after == self.after.as_deref() {
            return self.names.first().map(String::as_str);
        }
        let after = after?;
        let i = self.names.iter().position(|n| n == after)?;
        self.names.get(i + 1).map(String::as_str)
    }
}

/// A configured source.
pub(crate) enum Source {
    Http {
        base: reqwest::Url,
        client: reqwest::Client,
        page_limit: u32,
        cache: Mutex<Option<CachedListing>>,
    },
    Folder {
        path: PathBuf,
    },
}

impl Source {
    /// The source a validated configuration names.
    pub fn new(config: &Config) -> Result<Self, ConnectorError> {
        if let Some(url) = &config.base_url {
            let base = reqwest::Url::parse(url.trim_end_matches('/'))
                .map_err(|_| ConnectorError::Fatal("config: `base_url` is not a URL".into()))?;
            Ok(Self::Http {
                base,
                client: http::client(Duration::from_secs(config.timeout_seconds))?,
                page_limit: config.page_limit,
                cache: Mutex::new(None),
            })
        } else if let Some(path) = &config.folder {
            Ok(Self::Folder { path: path.clone() })
        } else {
            Err(ConnectorError::Fatal(
                "config: neither `base_url` nor `folder` is set: set exactly one".into(),
            ))
        }
    }

    /// One cheap look: a listing of one file, or the folder's entries.
    pub async fn check(&self) -> Result<(), ConnectorError> {
        match self {
            Self::Http { .. } => self.list(None, 1).await.map(|_| ()),
            Self::Folder { .. } => self.folder_names(None).await.map(|_| ()),
        }
    }

    /// The name of the first file after `after` (from the start when `None`), if any.
    pub async fn next_after(&self, after: Option<&str>) -> Result<Option<String>, ConnectorError> {
        match self {
            Self::Http {
                page_limit, cache, ..
            } => {
                if let Some(next) = lock(cache)
                    .as_ref()
                    .and_then(|c| c.next_after(after))
                    .map(str::to_owned)
                {
                    return Ok(Some(next));
                }
                let names = self.list(after, *page_limit).await?;
                let next = names.first().cloned();
                *lock(cache) = Some(CachedListing {
                    after: after.map(str::to_owned),
                    names,
                });
                Ok(next)
            }
            Self::Folder { .. } => Ok(self.folder_names(after).await?.into_iter().min()),
        }
    }

    /// The file's content.
    pub async fn read(&self, name: &str) -> Result<Document, ConnectorError> {
        match self {
            Self::Http { base, client, .. } => {
                let mut url = base.clone();
                url.path_segments_mut()
                    .map_err(|_| ConnectorError::Fatal("config: `base_url` is not a URL".into()))?
                    .pop_if_empty()
                    .extend(["files", name]);
                Ok(Document::Text(http::get_text(client, url.as_str()).await?))
            }
            Self::Folder { path } => {
                let bytes = tokio::fs::read(path.join(name))
                    .await
                    .map_err(|e| io_error("cannot read a CTF file", &e))?;
                Ok(match String::from_utf8(bytes) {
                    Ok(text) => Document::Text(text),
                    Err(e) => Document::Unreadable {
                        reason: "the file is not UTF-8 text, so not a CTF XML file".into(),
                        raw: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    },
                })
            }
        }
    }

    /// Up to `limit` names after `after` from the file service, checked to be in order and
    /// after `after` so a misbehaving service cannot make the sync go backwards.
    async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>, ConnectorError> {
        let Self::Http { base, client, .. } = self else {
            return Ok(Vec::new());
        };
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|_| ConnectorError::Fatal("config: `base_url` is not a URL".into()))?
            .pop_if_empty()
            .push("files");
        {
            let mut query = url.query_pairs_mut();
            if let Some(after) = after {
                query.append_pair("after", after);
            }
            query.append_pair("limit", &limit.to_string());
        }
        let body = http::get_text(client, url.as_str()).await?;
        let listing: Listing = serde_json::from_str(&body).map_err(|_| {
            ConnectorError::Fatal("the file service's listing is not `{\"files\": [...]}`".into())
        })?;
        let mut names: Vec<String> = listing
            .files
            .into_iter()
            .filter(|n| after.is_none_or(|a| n.as_str() > a) && !n.is_empty())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The folder's `*.xml` file names after `after`, unordered.
    async fn folder_names(&self, after: Option<&str>) -> Result<Vec<String>, ConnectorError> {
        let Self::Folder { path } = self else {
            return Ok(Vec::new());
        };
        let mut entries = tokio::fs::read_dir(path)
            .await
            .map_err(|e| folder_error(&e))?;
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(|e| folder_error(&e))? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_xml = name.len() > 4 && name[name.len() - 4..].eq_ignore_ascii_case(".xml");
            let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
            if is_xml && is_file && after.is_none_or(|a| name.as_str() > a) {
                names.push(name);
            }
        }
        Ok(names)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The cache holds no invariant a panic could break: a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A folder that is missing or forbidden will not fix itself: fatal. Other IO may pass.
fn folder_error(e: &std::io::Error) -> ConnectorError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::NotADirectory => {
            ConnectorError::Fatal(format!("cannot read the CTF folder: {}", e.kind()))
        }
        _ => io_error("cannot read the CTF folder", e),
    }
}

/// A file that vanished after the listing, or a passing IO failure: transient, so the next
/// pull lists again.
fn io_error(what: &str, e: &std::io::Error) -> ConnectorError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        ConnectorError::Fatal(format!("{what}: {}", e.kind()))
    } else {
        ConnectorError::transient(format!("{what}: {}", e.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_listing_answers_only_inside_what_it_saw() {
        let c = CachedListing {
            after: Some("a".into()),
            names: vec!["b".into(), "c".into()],
        };
        assert_eq!(c.next_after(Some("a")), Some("b"));
        assert_eq!(c.next_after(Some("b")), Some("c"));
        assert_eq!(c.next_after(Some("c")), None, "after the last: list again");
        assert_eq!(c.next_after(None), None, "a different start: list again");
        assert_eq!(c.next_after(Some("z")), None);
    }
}
