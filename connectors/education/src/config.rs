//! The connector's configuration: where the CTF files are and how to read them.
//!
//! Limits: checks the configuration on its own; whether the source answers is `check`'s job.

use std::path::PathBuf;

use kinship_connector_sdk::ConnectorError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Where the Common Transfer Files come from: an HTTP file service (`base_url`) or a folder
/// (`folder`), exactly one.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of a CTF file service answering `GET {base_url}/files?after={name}&limit={n}`
    /// with `{"files": [...]}` sorted by name, and `GET {base_url}/files/{name}` with the XML.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A folder of `*.xml` Common Transfer Files, read in name order.
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// How many file names to ask for per listing request (HTTP only).
    #[serde(default = "default_page_limit")]
    pub page_limit: u32,
    /// How long one HTTP request may take, in seconds, before it counts as a transient failure.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_page_limit() -> u32 {
    100
}

fn default_timeout_seconds() -> u64 {
    30
}

/// The most file names one listing request may ask for.
const MAX_PAGE_LIMIT: u32 = 10_000;

impl Config {
    /// A configuration reading the HTTP file service at `base_url`, with defaults.
    pub fn http(base_url: impl Into<String>) -> Self {
        Self {
            base_url: Some(base_url.into()),
            folder: None,
            page_limit: default_page_limit(),
            timeout_seconds: default_timeout_seconds(),
        }
    }

    /// A configuration reading the `*.xml` files of `folder`, with defaults.
    pub fn folder(folder: impl Into<PathBuf>) -> Self {
        Self {
            base_url: None,
            folder: Some(folder.into()),
            page_limit: default_page_limit(),
            timeout_seconds: default_timeout_seconds(),
        }
    }

    /// Every problem with the configuration, one line each, as one fatal error.
    pub(crate) fn validate(&self) -> Result<(), ConnectorError> {
        let mut problems = Vec::new();
        match (&self.base_url, &self.folder) {
            (Some(_), Some(_)) => {
                problems.push("`base_url` and `folder` are both set: set exactly one".to_owned());
            }
            (None, None) => {
                problems.push("neither `base_url` nor `folder` is set: set exactly one".to_owned());
            }
            (Some(url), None) => match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.cannot_be_a_base() => {
                    problems.push("`base_url` must be an http(s) URL".to_owned());
                }
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(_) => problems.push("`base_url` must be an http(s) URL".to_owned()),
                Err(_) => problems.push("`base_url` is not a URL".to_owned()),
            },
            (None, Some(folder)) => {
                if folder.as_os_str().is_empty() {
                    problems.push("`folder` is empty".to_owned());
                }
            }
        }
        if !(1..=MAX_PAGE_LIMIT).contains(&self.page_limit) {
            problems.push(format!("`page_limit` must be 1 to {MAX_PAGE_LIMIT}"));
        }
        if self.timeout_seconds == 0 {
            problems.push("`timeout_seconds` must be at least 1".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::Fatal(format!(
                "config: {}",
                problems.join("; config: ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fatal(config: &Config) -> String {
        match config.validate() {
            Err(ConnectorError::Fatal(m)) => m,
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn exactly_one_source_is_required() {
        let mut both = Config::http("http://127.0.0.1:1");
        both.folder = Some("/tmp".into());
        assert!(fatal(&both).contains("exactly one"));
        let mut neither = Config::folder("/tmp");
        neither.folder = None;
        let m = fatal(&neither);
        assert!(m.contains("`base_url`") && m.contains("`folder`"), "{m}");
        assert!(Config::http("http://127.0.0.1:1").validate().is_ok());
        assert!(Config::folder("/tmp").validate().is_ok());
    }

    #[test]
    fn bad_values_are_named_together() {
        let mut c = Config::http("ftp://example");
        c.page_limit = 0;
        c.timeout_seconds = 0;
        let m = fatal(&c);
        assert!(m.contains("`base_url`"), "{m}");
        assert!(m.contains("`page_limit`"), "{m}");
        assert!(m.contains("`timeout_seconds`"), "{m}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e =
            serde_json::from_value::<Config>(serde_json::json!({"folder": "/x", "pagelimit": 3}))
                .expect_err("unknown key");
        assert!(e.to_string().contains("pagelimit"));
    }
}
