//! The cursor: the name of the last file fully delivered, as JSON (`{"after":"<name>"}`).
//!
//! Limits: knows nothing of where files come from; files are delivered in name order, so a
//! name is a complete high-water mark.

use kinship_connector_sdk::{ConnectorError, Cursor};
use serde::{Deserialize, Serialize};

/// Where a pull resumes: after the file with this name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCursor {
    /// The name of the last file fully delivered.
    pub after: String,
}

impl FileCursor {
    /// The opaque cursor handed to the hub.
    pub fn encode(&self) -> Cursor {
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads a cursor this connector handed out; anything else is a fatal error.
    pub fn decode(cursor: &Cursor) -> Result<Self, ConnectorError> {
        serde_json::from_str(&cursor.0).map_err(|_| {
            ConnectorError::Fatal(format!(
                "cursor `{}` is not an education-ctf cursor",
                cursor.0
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_foreign_cursors_are_fatal() {
        let c = FileCursor {
            after: "00000002_9992001_CTF_9990000.xml".into(),
        };
        assert_eq!(FileCursor::decode(&c.encode()), Ok(c));
        assert!(matches!(
            FileCursor::decode(&Cursor("2024-01-01".into())),
            Err(ConnectorError::Fatal(_))
        ));
    }
}
