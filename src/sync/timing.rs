//! Where a sync's time goes, stage by stage, summed over the engine's runs: what `kinship bench
//! sync` prints. Counts time only, never what was read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A stage of the sync path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Pulling a batch from a connector: HTTP and parsing (overlaps with writing).
    Pull,
    /// Checking records, hashing them and telling new from changed from unchanged.
    Classify,
    /// Waiting for the linkage lock another connector's batch holds.
    LockWait,
    /// Deterministic linkage lookups (identifiers, names and dates of birth), under the lock.
    Candidates,
    /// Probabilistic blocking: the candidate persons and their linkage records.
    Blocking,
    /// Linkage decisions (with the relatives pass's lookups), under the lock.
    Link,
    /// Writing the batch's rows.
    Write,
    /// Beginning and committing the batch's transaction.
    Commit,
    /// Rebuilding the families and households of the persons a run touched.
    Families,
    /// Re-evaluating the indicators of need of the persons a run touched.
    Indicators,
}

impl Stage {
    /// Every stage, in the order of the path.
    pub const ALL: [Stage; 10] = [
        Stage::Pull,
        Stage::Classify,
        Stage::LockWait,
        Stage::Candidates,
        Stage::Blocking,
        Stage::Link,
        Stage::Write,
        Stage::Commit,
        Stage::Families,
        Stage::Indicators,
    ];

    /// The stage's name as the bench prints it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Pull => "pull (HTTP + parse)",
            Stage::Classify => "check + hash + classify",
            Stage::LockWait => "wait for the linkage lock",
            Stage::Candidates => "linkage: deterministic lookups",
            Stage::Blocking => "linkage: probabilistic blocking",
            Stage::Link => "linkage: decisions",
            Stage::Write => "write rows",
            Stage::Commit => "begin + commit",
            Stage::Families => "families rebuild",
            Stage::Indicators => "indicator refresh",
        }
    }
}

/// Nanoseconds spent per stage, shared by the engine's tasks.
#[derive(Debug, Default)]
pub struct Timings {
    nanos: [AtomicU64; Stage::ALL.len()],
}

impl Timings {
    /// Adds a duration to a stage.
    pub fn add(&self, stage: Stage, d: Duration) {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.nanos[stage as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Adds the time since `since` to a stage and returns now, to time the next one.
    pub fn lap(&self, stage: Stage, since: Instant) -> Instant {
        let now = Instant::now();
        self.add(stage, now - since);
        now
    }

    /// The time spent in each stage so far.
    pub fn snapshot(&self) -> Vec<(Stage, Duration)> {
        Stage::ALL
            .iter()
            .map(|s| {
                (
                    *s,
                    Duration::from_nanos(self.nanos[*s as usize].load(Ordering::Relaxed)),
                )
            })
            .collect()
    }

    /// Starts again from zero.
    pub fn reset(&self) {
        for n in &self.nanos {
            n.store(0, Ordering::Relaxed);
        }
    }
}
