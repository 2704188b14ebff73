//! The cursor: where a sweep over the resource types stands, and each type's high-water mark.
//!
//! A sweep pulls each configured type in turn, from `_lastUpdated=ge{mark}` (no filter the
//! first time), following `next` links until there are none. The mark is the highest
//! `meta.lastUpdated` seen for the type, with the (id, versionId) pairs already delivered at
//! exactly that instant: `ge` hands those back, and [`Mark::admit`] drops them, so a resumed
//! or repeated sweep delivers each version once. A pass also remembers the `ge` instant it
//! started from (its floor) and skips anything older, in case the server ignores the filter.
//!
//! Serialised as JSON, e.g.
//! `{"v":1,"type":"Encounter","next":"https://…/Encounter?…&_page=…","marks":{"Patient":{"at":"…","seen":[["id","1"]]}}}`;
//! `type: null` is the final cursor of a finished sweep: pulling from it starts the next one.
//!
//! Limits: pure; knows nothing of HTTP.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kinship_connector_sdk::{ConnectorError, Cursor};
use serde::{Deserialize, Serialize};

use crate::codes::ResourceType;

/// The high-water mark of one resource type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The highest `meta.lastUpdated` seen.
    pub at: Option<DateTime<Utc>>,
    /// The (id, versionId) pairs delivered at exactly `at`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<(String, Option<String>)>,
}

impl Mark {
    /// Whether a resource is new to this mark (and so to deliver); records it when it is.
    /// A resource without a readable id or time cannot be deduped and is always new.
    pub fn admit(
        &mut self,
        id: Option<&str>,
        version: Option<&str>,
        at: Option<DateTime<Utc>>,
    ) -> bool {
        let (Some(id), Some(at)) = (id, at) else {
            return true;
        };
        let pair = (id.to_owned(), version.map(str::to_owned));
        match self.at {
            Some(mark) if at == mark => {
                if self.seen.contains(&pair) {
                    return false;
                }
                self.seen.push(pair);
            }
            Some(mark) if at < mark => {
                // Older than the mark but not than the pass's floor (see `State::admit`): a
                // server that does not sort. Delivered; the mark does not move back.
            }
            _ => {
                self.at = Some(at);
                self.seen = vec![pair];
            }
        }
        true
    }
}

/// Where a pull resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The format version of this cursor.
    pub v: u32,
    /// The type being pulled; `None` once the sweep is over (the final cursor).
    #[serde(rename = "type")]
    pub current: Option<ResourceType>,
    /// The next page of `current`, verbatim from the last Bundle; `None` to start the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The `_lastUpdated=ge` instant this pass over `current` asked from: anything older was
    /// delivered by an earlier sweep, and a server that ignores the filter must not bring it
    /// back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<DateTime<Utc>>,
    /// The high-water mark of each type.
    #[serde(default)]
    pub marks: BTreeMap<ResourceType, Mark>,
}

const VERSION: u32 = 1;

impl State {
    /// The start of the very first sweep.
    pub fn first(types: &[ResourceType]) -> Self {
        Self {
            v: VERSION,
            current: types.first().copied(),
            next: None,
            floor: None,
            marks: BTreeMap::new(),
        }
    }

    /// Reads a cursor this connector handed out.
    pub fn read(cursor: &Cursor) -> Result<Self, ConnectorError> {
        match serde_json::from_str::<Self>(&cursor.0) {
            Ok(s) if s.v == VERSION => Ok(s),
            _ => Err(ConnectorError::Fatal(
                "cursor is not a health-fhir cursor of this version".into(),
            )),
        }
    }

    /// The cursor to hand out.
    pub fn cursor(&self) -> Cursor {
        // Serialising plain strings, times and maps cannot fail; an empty cursor would only
        // restart the sweep.
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }

    /// Whether the sweep is over.
    pub fn is_final(&self) -> bool {
        self.current.is_none()
    }

    /// Moves past the current type's last page, to the next type or the end of the sweep.
    pub fn finish_type(&mut self, types: &[ResourceType]) {
        let next = self
            .current
            .and_then(|c| types.iter().copied().find(|t| *t > c));
        self.current = next;
        self.next = None;
        self.floor = None;
    }

    /// Starts a pass over the current type from its mark; returns the mark's instant.
    pub fn start_type(&mut self) -> Option<DateTime<Utc>> {
        self.next = None;
        self.floor = self
            .current
            .and_then(|ty| self.marks.get(&ty))
            .and_then(|m| m.at);
        self.floor
    }

    /// Whether a resource of `ty` is new to this sweep (and so to deliver); records it.
    pub fn admit(
        &mut self,
        ty: ResourceType,
        id: Option<&str>,
        version: Option<&str>,
        at: Option<DateTime<Utc>>,
    ) -> bool {
        match (self.floor, at) {
            (Some(floor), Some(at)) if at < floor => return false,
            // With no time it cannot be placed against the mark: the first sweep took it (or
            // quarantined it), a later one would repeat it every time.
            (Some(_), None) => return false,
            _ => {}
        }
        self.mark(ty).admit(id, version, at)
    }

    /// The mark of a type, created empty.
    pub fn mark(&mut self, ty: ResourceType) -> &mut Mark {
        self.marks.entry(ty).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339(s)
                .expect("instant")
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn a_redelivery_at_the_mark_is_dropped_and_a_new_version_is_not() {
        let mut m = Mark::default();
        assert!(m.admit(Some("a"), Some("1"), t("2024-01-01T10:00:00Z")));
        assert!(m.admit(Some("b"), Some("1"), t("2024-01-01T10:00:00Z")));
        assert!(!m.admit(Some("a"), Some("1"), t("2024-01-01T10:00:00Z")));
        assert!(m.admit(Some("a"), Some("2"), t("2024-01-01T10:00:00Z")));
        assert!(m.admit(Some("c"), Some("1"), t("2024-01-01T10:00:01Z")));
        assert_eq!(m.seen.len(), 1, "a later instant resets the seen set");
        assert_eq!(m.at, t("2024-01-01T10:00:01Z"));
    }

    #[test]
    fn the_cursor_round_trips_and_rejects_strangers() {
        let mut s = State::first(&ResourceType::ALL);
        s.mark(ResourceType::Patient)
            .admit(Some("p1"), Some("3"), t("2024-02-03T04:05:06.789Z"));
        s.next = Some("http://127.0.0.1:1/Patient?_page=x".into());
        let c = s.cursor();
        assert_eq!(State::read(&c), Ok(s));
        assert!(State::read(&Cursor("{\"file\":3}".into())).is_err());
        assert!(State::read(&Cursor("not json".into())).is_err());
    }

    #[test]
    fn a_pass_skips_what_is_older_than_its_floor_but_not_what_is_out_of_order() {
        let mut s = State::first(&ResourceType::ALL);
        let ty = ResourceType::Patient;
        assert!(s.admit(ty, Some("a"), Some("1"), t("2024-01-02T00:00:00Z")));
        assert!(
            s.admit(ty, Some("b"), Some("1"), t("2024-01-01T00:00:00Z")),
            "no floor in the first sweep: an unsorted page loses nothing"
        );
        assert_eq!(s.start_type(), t("2024-01-02T00:00:00Z"));
        assert!(!s.admit(ty, Some("b"), Some("1"), t("2024-01-01T00:00:00Z")));
        assert!(!s.admit(ty, Some("a"), Some("1"), t("2024-01-02T00:00:00Z")));
        assert!(s.admit(ty, Some("c"), Some("1"), t("2024-01-02T00:00:00Z")));
    }

    #[test]
    fn finishing_the_last_type_ends_the_sweep() {
        let types = [ResourceType::Patient, ResourceType::Flag];
        let mut s = State::first(&types);
        s.finish_type(&types);
        assert_eq!(s.current, Some(ResourceType::Flag));
        s.finish_type(&types);
        assert!(s.is_final());
    }
}
