//! The cursor: which returns have been delivered, as a high-water mark per series.
//!
//! A return's name is its series, optionally followed by `-r<N>` for its N-th issue
//! (`cin-2026`, then the resubmission `cin-2026-r2`). Resubmissions sort among earlier names
//! (`cin-2026-r2` comes before `ssda903-2026`), so "everything after the last name" would miss
//! them; the cursor instead remembers, for each series, the highest issue delivered, and a pull
//! delivers the first return, in (series, issue) order, that is above its series' mark. The
//! cursor grows with the number of series (a few a year), not with the number of returns.
//!
//! Limits: pure; no IO.

use std::collections::BTreeMap;

use kinship_connector_sdk::{ConnectorError, Cursor};
use serde::{Deserialize, Serialize};

/// A return's series and issue: `cin-2026-r2` → (`cin-2026`, 2); `cin-2026` → (`cin-2026`, 1).
pub(crate) fn series(name: &str) -> (&str, u32) {
    if let Some((base, n)) = name.rsplit_once("-r")
        && !base.is_empty()
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = n.parse::<u32>()
        && n >= 1
    {
        return (base, n);
    }
    (name, 1)
}

/// The highest issue delivered of each series.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Delivered {
    delivered: BTreeMap<String, u32>,
}

impl Delivered {
    /// Reads a cursor this connector handed out.
    pub(crate) fn decode(cursor: &Cursor) -> Result<Self, ConnectorError> {
        serde_json::from_str(&cursor.0).map_err(|_| {
            ConnectorError::Fatal("the cursor is not one this connector handed out".into())
        })
    }

    /// The cursor to hand out.
    pub(crate) fn encode(&self) -> Cursor {
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }

    /// Whether a return has yet to be delivered.
    pub(crate) fn is_pending(&self, name: &str) -> bool {
        let (base, issue) = series(name);
        self.delivered.get(base).is_none_or(|done| issue > *done)
    }

    /// Records a return as delivered.
    pub(crate) fn mark(&mut self, name: &str) {
        let (base, issue) = series(name);
        let done = self.delivered.entry(base.to_owned()).or_insert(0);
        *done = (*done).max(issue);
    }

    /// The returns still to deliver, in delivery order: by series, then issue.
    pub(crate) fn pending<'a, T>(&self, returns: &'a [T], name: impl Fn(&T) -> &str) -> Vec<&'a T> {
        let mut out: Vec<&T> = returns
            .iter()
            .filter(|r| self.is_pending(name(r)))
            .collect();
        out.sort_by(|a, b| series(name(a)).cmp(&series(name(b))));
        out.dedup_by(|a, b| name(a) == name(b));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_series_and_issue() {
        assert_eq!(series("cin-2026"), ("cin-2026", 1));
        assert_eq!(series("cin-2026-r2"), ("cin-2026", 2));
        assert_eq!(series("cin-2026-r12"), ("cin-2026", 12));
        assert_eq!(series("early-help-2026-11"), ("early-help-2026-11", 1));
        assert_eq!(series("cin-2026-r"), ("cin-2026-r", 1));
        assert_eq!(series("-r2"), ("-r2", 1));
    }

    #[test]
    fn a_resubmission_is_pending_after_later_names_were_delivered() {
        let mut d = Delivered::default();
        for n in ["cin-2026", "early-help-2026-11", "ssda903-2026"] {
            d.mark(n);
        }
        let listed = [
            "cin-2026",
            "cin-2026-r2",
            "early-help-2026-11",
            "ssda903-2026",
        ];
        let pending = d.pending(&listed, |n| n);
        assert_eq!(pending, vec![&"cin-2026-r2"]);
        let back = Delivered::decode(&d.encode()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn issues_are_delivered_in_number_order_not_text_order() {
        let d = Delivered::default();
        let listed = ["cin-2026-r10", "cin-2026-r2", "cin-2026", "cin-2025"];
        let pending = d.pending(&listed, |n| n);
        assert_eq!(
            pending,
            vec![&"cin-2025", &"cin-2026", &"cin-2026-r2", &"cin-2026-r10"]
        );
    }

    #[test]
    fn a_foreign_cursor_is_fatal() {
        let e = Delivered::decode(&Cursor("page=3".into())).unwrap_err();
        assert!(!e.is_transient());
    }
}
