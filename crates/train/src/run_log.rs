//! What a training run tells as it goes: the running means of a logging window (the lines of
//! `metrics.jsonl`) and the person watching (a progress bar, or a status line per logged step
//! and per checkpoint).

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::step::StepLosses;

/// Running sums over a logging window (or over a whole invocation).
#[derive(Default)]
pub(crate) struct Window {
    steps: u64,
    views: u64,
    seconds: f64,
    wait_seconds: f64,
    total: f64,
    heads: Vec<f64>,
    positives: Vec<f64>,
    /// Per head, the sum and count of the steps' loss per anchor with a positive.
    per_positive_anchor: Vec<Mean>,
    /// Per head, the sum and count of the steps' leave-out separation.
    separation: Vec<Mean>,
}

/// A running mean of the values a window's steps had (a step may have none).
#[derive(Clone, Copy, Default)]
struct Mean {
    sum: f64,
    count: u64,
}

impl Mean {
    fn add(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            self.sum += v;
            self.count += 1;
        }
    }

    /// The mean, or JSON null when no step had a value.
    fn json(&self) -> serde_json::Value {
        if self.count == 0 {
            serde_json::Value::Null
        } else {
            json!(self.sum / self.count as f64)
        }
    }
}

impl Window {
    /// Adds one step: its losses, the views it trained on, its wall time and the part of it
    /// spent waiting for the batch.
    fn add(&mut self, losses: &StepLosses, views: usize, seconds: f64, wait: f64) {
        if self.heads.is_empty() {
            self.heads = vec![0.0; losses.heads.len()];
            self.positives = vec![0.0; losses.heads.len()];
            self.per_positive_anchor = vec![Mean::default(); losses.heads.len()];
            self.separation = vec![Mean::default(); losses.heads.len()];
        }
        self.steps += 1;
        self.views += views as u64;
        self.seconds += seconds;
        self.wait_seconds += wait;
        self.total += losses.total;
        for (k, v) in losses.heads.iter().enumerate() {
            self.heads[k] += v;
            self.positives[k] += losses.anchors_with_positives[k] as f64;
            self.per_positive_anchor[k].add(losses.loss_per_anchor_with_positive.get(k).copied().flatten());
            self.separation[k].add(losses.separation.get(k).copied().flatten());
        }
    }

    /// Each head's mean loss.
    fn mean_heads(&self) -> Vec<f64> {
        self.heads.iter().map(|v| v / self.steps.max(1) as f64).collect()
    }

    /// The mean total loss.
    pub(crate) fn mean_loss(&self) -> f64 {
        self.total / self.steps as f64
    }

    /// Training throughput in views per second.
    fn views_per_second(&self) -> f64 {
        self.views as f64 / self.seconds.max(1e-9)
    }

    /// Share of the wall time spent waiting for data.
    fn data_wait_share(&self) -> f64 {
        self.wait_seconds / self.seconds.max(1e-9)
    }

    /// The `metrics.jsonl` line of this window, ending at `step`.
    fn metrics_line(
        &self,
        step: u64,
        head_names: &[String],
        learning_rate: f64,
        started: Instant,
    ) -> serde_json::Value {
        let heads: serde_json::Map<String, serde_json::Value> = head_names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                (
                    name.clone(),
                    json!({
                        "loss": self.heads[k] / self.steps as f64,
                        "anchors_with_positives": self.positives[k] / self.steps as f64,
                        "loss_per_anchor_with_positive": self.per_positive_anchor[k].json(),
                        "separation": self.separation[k].json(),
                    }),
                )
            })
            .collect();
        json!({
            "step": step,
            "loss": self.mean_loss(),
            "heads": heads,
            "lr": learning_rate,
            "views_per_s": self.views_per_second(),
            "data_wait_share": self.data_wait_share(),
            "elapsed_s": started.elapsed().as_secs_f64(),
        })
    }
}

/// What a run tallies as it trains: the open logging window, the whole invocation, and when it
/// started.
pub(crate) struct Tally {
    window: Window,
    overall: Window,
    first_losses: Option<Vec<f64>>,
    last_losses: Vec<f64>,
    started: Instant,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            window: Window::default(),
            overall: Window::default(),
            first_losses: None,
            last_losses: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Adds a step to the window and to the invocation (see [`Window::add`]).
    pub(crate) fn add(&mut self, losses: &StepLosses, views: usize, seconds: f64, wait: f64) {
        self.window.add(losses, views, seconds, wait);
        self.overall.add(losses, views, seconds, wait);
    }

    /// Closes the logging window ending at `step`: its `metrics.jsonl` line and the window. Its
    /// head means become the summary's last losses (and the first ones, for the first window).
    pub(crate) fn close_window(
        &mut self,
        step: u64,
        head_names: &[String],
        learning_rate: f64,
    ) -> (serde_json::Value, Window) {
        let window = std::mem::take(&mut self.window);
        let means = window.mean_heads();
        self.first_losses.get_or_insert_with(|| means.clone());
        self.last_losses = means;
        (
            window.metrics_line(step, head_names, learning_rate, self.started),
            window,
        )
    }

    /// The invocation's figures: each head's mean loss over the first and the last logged
    /// window, the throughput (views per second) and the share of time spent waiting for data.
    pub(crate) fn finish(self) -> (Vec<f64>, Vec<f64>, f64, f64) {
        (
            self.first_losses.unwrap_or_default(),
            self.last_losses,
            self.overall.views_per_second(),
            self.overall.data_wait_share(),
        )
    }
}

/// The person watching a run: a progress bar, or (without one, when verbose) a status line per
/// logged step and per checkpoint on stderr, or nothing.
pub(crate) struct Reporter {
    bar: ProgressBar,
    /// Print status lines (there is no bar).
    lines: bool,
    name: String,
    last: u64,
}

impl Reporter {
    /// A reporter for run `name` at step `step`, training until step `last`.
    pub(crate) fn new(name: &str, step: u64, last: u64, progress: bool, verbose: bool) -> Self {
        let bar = if progress {
            let bar = ProgressBar::new(last);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} steps, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(name.to_string());
            bar.set_position(step);
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            lines: verbose && !progress,
            name: name.to_string(),
            last,
        }
    }

    /// A step finished.
    pub(crate) fn step(&self, step: u64) {
        self.bar.set_position(step);
    }

    /// A metrics line was written for `window`, ending at `step`.
    pub(crate) fn logged(&self, step: u64, window: &Window) {
        self.bar.set_message(format!("loss {:.4}", window.mean_loss()));
        if self.lines {
            eprintln!(
                "{} step {step}/{}: loss {:.4} ({:.1} views/s)",
                self.name,
                self.last,
                window.mean_loss(),
                window.views_per_second()
            );
        }
    }

    /// A checkpoint was written.
    pub(crate) fn checkpoint(&self, path: &Path) {
        if self.lines {
            eprintln!("checkpoint {}", path.display());
        }
    }

    /// The run stopped with an error: the bar stays as it was.
    pub(crate) fn abandon(&self) {
        self.bar.abandon();
    }

    /// The run finished.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
