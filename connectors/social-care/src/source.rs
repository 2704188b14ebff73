//! Where the returns come from: an HTTP feed or a folder, each listing returns (a name and its
//! files) and handing over one file's text.
//!
//! - HTTP: `GET {base_url}/returns` answers `{"returns": [{"name": "cin-2026", "files":
//!   ["cin.xml"]}, ...]}`; `GET {base_url}/returns/{name}/{file}` answers the file. Statuses are
//!   classified by the SDK (503/429/5xx and timeouts transient, 401/403/404 fatal).
//! - Folder: one subfolder per return, its files the return's files. Hidden entries are
//!   skipped. A missing or unreadable folder is fatal; other IO errors are transient.
//!
//! Limits: IO only through `reqwest` and `tokio::fs`; it parses no return.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kinship_connector_sdk::ConnectorError;
use kinship_connector_sdk::http;
use serde::Deserialize;

/// One return as listed: its name and its files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct Listed {
    pub name: String,
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Deserialize)]
struct Listing {
    returns: Vec<Listed>,
}

/// A configured source of returns.
pub(crate) enum Source {
    Http {
        client: reqwest::Client,
        base: reqwest::Url,
    },
    Folder(PathBuf),
}

impl Source {
    /// An HTTP source; a base URL that is not one is fatal.
    pub(crate) fn http(base_url: &str, timeout: Duration) -> Result<Self, ConnectorError> {
        let base = reqwest::Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                ConnectorError::Fatal("config: `base_url` is not an http(s) URL".into())
            })?;
        Ok(Self::Http {
            client: http::client(timeout)?,
            base,
        })
    }

    fn url(base: &reqwest::Url, segments: &[&str]) -> Result<reqwest::Url, ConnectorError> {
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| ConnectorError::Fatal("config: `base_url` cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Every return the source holds.
    pub(crate) async fn list(&self) -> Result<Vec<Listed>, ConnectorError> {
        match self {
            Self::Http { client, base } => {
                let url = Self::url(base, &["returns"])?;
                let body = http::get_text(client, url.as_str()).await?;
                let listing: Listing = serde_json::from_str(&body).map_err(|_| {
                    ConnectorError::Fatal(
                        "the feed's `/returns` answer is not a listing of returns".into(),
                    )
                })?;
                Ok(listing.returns)
            }
            Self::Folder(folder) => list_folder(folder).await,
        }
    }

    /// One file of one return, as text.
    pub(crate) async fn file(&self, name: &str, file: &str) -> Result<String, ConnectorError> {
        match self {
            Self::Http { client, base } => {
                let url = Self::url(base, &["returns", name, file])?;
                http::get_text(client, url.as_str()).await
            }
            Self::Folder(folder) => {
                let bytes = tokio::fs::read(folder.join(name).join(file))
                    .await
                    .map_err(|e| io_error(&e, "a return's file"))?;
                // An LA's export in a legacy code page still reads; odd bytes become U+FFFD.
                Ok(String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
            }
        }
    }
}

/// IO errors: what cannot fix itself (absent, forbidden) is fatal; the rest may pass.
fn io_error(e: &std::io::Error, what: &str) -> ConnectorError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => ConnectorError::Fatal(format!("{what} does not exist")),
        ErrorKind::PermissionDenied => ConnectorError::Fatal(format!("{what} is not readable")),
        _ => ConnectorError::transient(format!("cannot read {what}: {}", e.kind())),
    }
}

fn visible(name: &str) -> bool {
    !name.starts_with('.')
}

async fn list_folder(folder: &Path) -> Result<Vec<Listed>, ConnectorError> {
    let mut dir = tokio::fs::read_dir(folder)
        .await
        .map_err(|e| io_error(&e, "the returns folder"))?;
    let mut returns = Vec::new();
    while let Some(entry) = dir
        .next_entry()
        .await
        .map_err(|e| io_error(&e, "the returns folder"))?
    {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let is_dir = tokio::fs::metadata(entry.path())
            .await
            .is_ok_and(|m| m.is_dir());
        if !visible(&name) || !is_dir {
            continue;
        }
        let mut files = Vec::new();
        let mut inner = tokio::fs::read_dir(entry.path())
            .await
            .map_err(|e| io_error(&e, "a return's folder"))?;
        while let Some(f) = inner
            .next_entry()
            .await
            .map_err(|e| io_error(&e, "a return's folder"))?
        {
            let is_file = tokio::fs::metadata(f.path())
                .await
                .is_ok_and(|m| m.is_file());
            if let Some(file) = f.file_name().to_str()
                && visible(file)
                && is_file
            {
                files.push(file.to_owned());
            }
        }
        files.sort();
        returns.push(Listed { name, files });
    }
    returns.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(returns)
}
