//! The live display: one bar per phase on stderr (nothing when stderr is not a terminal, or with
//! --quiet), with the run's figures as its message.

use std::cell::Cell;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::tally::Snapshot;

pub(crate) struct Progress {
    bar: ProgressBar,
    /// Deliveries counted at the start of the current rate window, and when it started.
    window: Cell<(Instant, u64)>,
    rate: Cell<f64>,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Progress {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        let style = ProgressStyle::with_template(
            "{prefix:>10.bold} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            window: Cell::new((Instant::now(), 0)),
            rate: Cell::new(0.0),
        }
    }

    /// A new phase counting to `length` (sockets, or tenths of a second).
    pub(crate) fn phase(&self, name: &'static str, length: u64) {
        self.bar.set_prefix(name);
        self.bar.set_length(length);
        self.bar.set_position(0);
    }

    pub(crate) fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// The clients' figures, events published so far when the run publishes, and REST queries
    /// made so far when it queries.
    pub(crate) fn show(&self, clients: &Snapshot, published: Option<u64>, queried: Option<u64>) {
        let mut message = format!("open {}", clients.open);
        if clients.failed > 0 {
            message += &format!(" failed {}", clients.failed);
        }
        if clients.cycles > 0 {
            message += &format!(" cycles {}", clients.cycles);
        }
        if let Some(published) = published {
            message += &format!(" | published {published}");
        }
        if let Some(queried) = queried {
            message += &format!(" | queries {queried}");
        }
        if clients.deliveries > 0 {
            let (since, counted) = self.window.get();
            let elapsed = since.elapsed().as_secs_f64();
            if elapsed >= 1.0 {
                let more = clients.deliveries.saturating_sub(counted);
                self.rate.set(more as f64 / elapsed);
                self.window.set((Instant::now(), clients.deliveries));
            }
            message += &format!(
                " deliveries {} ({:.0}/s)",
                clients.deliveries,
                self.rate.get()
            );
        }
        self.bar.set_message(message);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
