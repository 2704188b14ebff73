//! How a sync reports progress: bars on a terminal, log lines otherwise. Neither shows
//! record content — only counts.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::store::sync::Run;

/// Receives progress events.
pub trait Progress: Send + Sync {
    fn started(&self, connector: &str);
    fn batch(&self, connector: &str, run: &Run);
    fn retrying(&self, connector: &str, attempt: u32, wait: Duration, why: &str);
    fn finished(&self, connector: &str, run: &Run);
}

/// Says nothing (tests, benchmarks).
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: &str) {}
    fn batch(&self, _: &str, _: &Run) {}
    fn retrying(&self, _: &str, _: u32, _: Duration, _: &str) {}
    fn finished(&self, _: &str, _: &Run) {}
}

fn counts(run: &Run) -> String {
    format!(
        "{} new, {} changed, {} unchanged, {} quarantined, {} batches",
        run.new, run.changed, run.unchanged, run.quarantined, run.batches
    )
}

/// Tracing lines, at most one per connector every few seconds.
#[derive(Default)]
pub struct Lines {
    last: Mutex<std::collections::HashMap<String, Instant>>,
}

impl Progress for Lines {
    fn started(&self, connector: &str) {
        tracing::info!(connector, "sync started");
    }

    fn batch(&self, connector: &str, run: &Run) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last
            .get(connector)
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
        if due {
            last.insert(connector.to_owned(), Instant::now());
            tracing::info!(connector, progress = %counts(run), "sync progress");
        }
    }

    fn retrying(&self, connector: &str, attempt: u32, wait: Duration, why: &str) {
        tracing::warn!(
            connector,
            attempt,
            wait_ms = wait.as_millis() as u64,
            why,
            "retrying"
        );
    }

    fn finished(&self, connector: &str, run: &Run) {
        tracing::info!(connector, status = %run.status, result = %counts(run), "sync finished");
    }
}

/// A spinner per connector with running counts.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, connector: &str) -> ProgressBar {
        let mut bars = self
            .bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        bars.entry(connector.to_owned())
            .or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:>24} {elapsed:>4} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(connector.to_owned());
                b.enable_steady_tick(Duration::from_millis(120));
                b
            })
            .clone()
    }
}

impl Progress for Bars {
    fn started(&self, connector: &str) {
        self.bar(connector).set_message("starting");
    }

    fn batch(&self, connector: &str, run: &Run) {
        self.bar(connector).set_message(counts(run));
    }

    fn retrying(&self, connector: &str, attempt: u32, wait: Duration, why: &str) {
        self.bar(connector).set_message(format!(
            "retry {attempt} in {:.1} s: {why}",
            wait.as_secs_f64()
        ));
    }

    fn finished(&self, connector: &str, run: &Run) {
        self.bar(connector)
            .finish_with_message(format!("{}: {}", run.status, counts(run)));
    }
}

/// Bars when stderr is a terminal, lines otherwise.
pub fn for_terminal() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(Default::default()),
        })
    } else {
        Box::new(Lines::default())
    }
}
