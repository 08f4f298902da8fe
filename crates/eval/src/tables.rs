//! Result tables laid out like the seed paper's Table I (probes) and Table II (retrieval), as
//! Markdown (for reading) and CSV (one value per row, for plotting and comparing).

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::probe::{MetricSummary, ProbeResult};
use crate::retrieval::RetrievalScores;
use loev_data::TaskKind;

/// The results of one model in one embedding space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelResults {
    /// Model name (e.g. `loev-ps`).
    pub model: String,
    /// Embedding space (e.g. `v`).
    pub space: String,
    /// Probe results, one per task.
    pub probes: Vec<ProbeResult>,
    /// Retrieval scores, one per k.
    pub retrieval: Vec<RetrievalScores>,
}

impl ModelResults {
    /// The probe result of the first task of `kind`.
    pub fn probe(&self, kind: TaskKind) -> Option<&ProbeResult> {
        self.probes.iter().find(|p| p.kind == kind)
    }

    /// Probe metric `metric` of the first task of `kind`, as the tables show it. When that
    /// task is one fold of a leave-one-dataset-out benchmark (AllTempo), it is the mean over
    /// the benchmark's folds: per seed, the folds' values are averaged, then mean ± std over
    /// seeds.
    pub fn summary(&self, kind: TaskKind, metric: &str) -> Option<MetricSummary> {
        let first = self.probe(kind)?;
        match &first.fold_of {
            None => first.metric(metric).cloned(),
            Some(benchmark) => fold_mean(self.folds(benchmark), metric),
        }
    }

    /// The probe results of the folds of leave-one-out benchmark `benchmark`.
    fn folds<'a>(&'a self, benchmark: &'a str) -> impl Iterator<Item = &'a ProbeResult> {
        self.probes
            .iter()
            .filter(move |p| p.fold_of.as_deref() == Some(benchmark))
    }

    /// Mean of [`ModelResults::summary`].
    pub fn mean(&self, kind: TaskKind, metric: &str) -> Option<f64> {
        self.summary(kind, metric).map(|m| m.mean)
    }

    /// This row with the retrieval scores of the row of `rows` for the same model and space
    /// (none when `rows` has no such row): a probe row that also carries its retrieval.
    pub fn with_retrieval_of(mut self, rows: &[ModelResults]) -> Self {
        self.retrieval = rows
            .iter()
            .find(|r| r.model == self.model && r.space == self.space)
            .map(|r| r.retrieval.clone())
            .unwrap_or_default();
        self
    }
}

/// Per seed, the mean of `metric` over the folds; then mean ± std over the seeds that every
/// fold has.
fn fold_mean<'a>(folds: impl Iterator<Item = &'a ProbeResult>, metric: &str) -> Option<MetricSummary> {
    let per_fold: Vec<&MetricSummary> = folds.filter_map(|p| p.metric(metric)).collect();
    let seeds = per_fold.iter().map(|m| m.values.len()).min()?;
    if seeds == 0 {
        return None;
    }
    let values = (0..seeds)
        .map(|s| per_fold.iter().map(|m| m.values[s]).sum::<f64>() / per_fold.len() as f64)
        .collect();
    Some(MetricSummary::of(metric, values))
}

/// The columns of Table I: (task kind, metric, header). The last three are the tempo
/// regression probe's ([`crate::probe::TEMPO_REGRESSION_METRICS`]), shown × 100 like the rest.
pub const TABLE_ONE_COLUMNS: [(TaskKind, &str, &str); 9] = [
    (TaskKind::Tagging, "roc_auc", "Tags ROC-AUC"),
    (TaskKind::Tagging, "average_precision", "Tags AP"),
    (TaskKind::Key, "key_weighted", "Key (weighted)"),
    (TaskKind::Pitch, "accuracy", "Pitch acc."),
    (TaskKind::Tempo, "acc1", "Tempo Acc1"),
    (TaskKind::Tempo, "acc2", "Tempo Acc2"),
    (TaskKind::Tempo, "tempo_rho", "Tempo ρ ×100"),
    (TaskKind::Tempo, "tempo_median_error", "Tempo median err. %"),
    (TaskKind::Tempo, "tempo_within_8pct", "Tempo ±8 %"),
];

fn percent(mean: f64, std: f64, seeds: usize) -> String {
    if seeds > 1 {
        format!("{:.1} ± {:.1}", 100.0 * mean, 100.0 * std)
    } else {
        format!("{:.1}", 100.0 * mean)
    }
}

fn opt_percent(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{:.1}", 100.0 * v))
}

/// Table I as Markdown: one row per model/space, probe metrics in % (mean ± std over seeds).
pub fn table_one_markdown(results: &[ModelResults]) -> String {
    let mut md = String::from("| Model | Space |");
    for (_, _, header) in TABLE_ONE_COLUMNS {
        md.push_str(&format!(" {header} |"));
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---:|".repeat(TABLE_ONE_COLUMNS.len()));
    md.push('\n');
    for r in results {
        md.push_str(&format!("| {} | {} |", r.model, r.space));
        for (kind, metric, _) in TABLE_ONE_COLUMNS {
            let cell = r
                .summary(kind, metric)
                .map_or_else(|| "–".to_string(), |m| percent(m.mean, m.std, m.values.len()));
            md.push_str(&format!(" {cell} |"));
        }
        md.push('\n');
    }
    md
}

/// Table I as CSV: `model,space,task,metric,mean,std,seeds` (fractions, not %). Every task
/// has its rows (each AllTempo fold, `alltempo-gtzan` …), followed by one row per metric of
/// each leave-one-out benchmark (`alltempo`) with the mean over its folds, as Table I shows.
pub fn table_one_csv(results: &[ModelResults]) -> String {
    let mut csv = String::from("model,space,task,metric,mean,std,seeds\n");
    let mut row = |r: &ModelResults, task: &str, m: &MetricSummary| {
        csv.push_str(&format!(
            "{},{},{},{},{:.6},{:.6},{}\n",
            r.model,
            r.space,
            task,
            m.name,
            m.mean,
            m.std,
            m.values.len()
        ));
    };
    for r in results {
        for p in &r.probes {
            for m in &p.metrics {
                row(r, &p.task, m);
            }
        }
        let mut benchmarks: Vec<&str> = r.probes.iter().filter_map(|p| p.fold_of.as_deref()).collect();
        benchmarks.sort();
        benchmarks.dedup();
        for benchmark in benchmarks {
            let Some(first) = r.folds(benchmark).next() else {
                continue;
            };
            for name in first.metrics.iter().map(|m| m.name.as_str()) {
                if let Some(m) = fold_mean(r.folds(benchmark), name) {
                    row(r, benchmark, &m);
                }
            }
        }
    }
    csv
}

/// Table II as Markdown: one row per model/space, for each k the tag precision@k, the mean
/// weighted key score and the tempo Acc1 of the neighbours (in %).
pub fn table_two_markdown(results: &[ModelResults]) -> String {
    let ks: Vec<usize> = results
        .first()
        .map(|r| r.retrieval.iter().map(|s| s.k).collect())
        .unwrap_or_default();
    let mut md = String::from("| Model | Space |");
    for k in &ks {
        md.push_str(&format!(" Tags P@{k} | Key@{k} | Tempo@{k} |"));
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---:|".repeat(3 * ks.len()));
    md.push('\n');
    for r in results {
        md.push_str(&format!("| {} | {} |", r.model, r.space));
        for k in &ks {
            let s = r.retrieval.iter().find(|s| s.k == *k);
            md.push_str(&format!(
                " {} | {} | {} |",
                opt_percent(s.and_then(|s| s.tag_precision)),
                opt_percent(s.and_then(|s| s.key_score)),
                opt_percent(s.and_then(|s| s.tempo_acc1))
            ));
        }
        md.push('\n');
    }
    md
}

/// Table II as CSV: `model,space,k,tag_precision,key_score,tempo_acc1,queries`.
pub fn table_two_csv(results: &[ModelResults]) -> String {
    let mut csv = String::from("model,space,k,tag_precision,key_score,tempo_acc1,queries\n");
    let cell = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
    for r in results {
        for s in &r.retrieval {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.model,
                r.space,
                s.k,
                cell(s.tag_precision),
                cell(s.key_score),
                cell(s.tempo_acc1),
                s.queries
            ));
        }
    }
    csv
}

/// Writes `records` as a CSV file (atomically): a header of their field names, then one row
/// per record with every number at full precision.
pub fn write_csv_records<T: serde::Serialize>(path: &std::path::Path, records: &[T]) -> Result<(), EvalError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer
            .serialize(record)
            .map_err(|e| EvalError::format(path, e.to_string()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| EvalError::format(path, e.to_string()))?;
    loev_core::io::atomic_write(path, &bytes).map_err(EvalError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_show_every_metric_with_its_spread() {
        let probe = ProbeResult {
            task: "key".into(),
            kind: TaskKind::Key,
            fold_of: None,
            space: "v".into(),
            metrics: vec![MetricSummary {
                name: "key_weighted".into(),
                mean: 0.5,
                std: 0.1,
                values: vec![0.4, 0.6],
            }],
            best_epochs: vec![3, 4],
            counts: (10, 2, 2),
            undefined_labels: 0,
        };
        let retrieval = vec![RetrievalScores {
            k: 1,
            tag_precision: Some(0.25),
            key_score: None,
            tempo_acc1: Some(1.0),
            queries: 4,
        }];
        let results = vec![ModelResults {
            model: "loev-ps".into(),
            space: "v".into(),
            probes: vec![probe],
            retrieval,
        }];
        let md = table_one_markdown(&results);
        assert!(md.contains("| loev-ps | v | – | – | 50.0 ± 10.0 | – | – | – |"), "{md}");
        assert!(table_one_csv(&results).contains("loev-ps,v,key,key_weighted,0.500000,0.100000,2"));
        let md2 = table_two_markdown(&results);
        assert!(md2.contains("| loev-ps | v | 25.0 | – | 100.0 |"), "{md2}");
        assert!(table_two_csv(&results).contains("loev-ps,v,1,0.250000,,1.000000,4"));
    }

    /// AllTempo's table cell is the mean over its leave-one-out folds (per seed, then over
    /// seeds); the CSV keeps every fold and adds the mean.
    #[test]
    fn alltempo_folds_are_averaged_per_seed() {
        let fold = |name: &str, acc1: Vec<f64>| ProbeResult {
            task: format!("alltempo-{name}"),
            kind: TaskKind::Tempo,
            fold_of: Some("alltempo".into()),
            space: "v".into(),
            metrics: vec![MetricSummary::of("acc1", acc1)],
            best_epochs: vec![1, 1],
            counts: (10, 2, 2),
            undefined_labels: 0,
        };
        let results = vec![ModelResults {
            model: "loev-ts".into(),
            space: "v".into(),
            probes: vec![
                fold("gtzan", vec![0.2, 0.4]),
                fold("hainsworth", vec![0.4, 0.6]),
                fold("acm-mirum", vec![0.6, 0.2]),
                fold("giantsteps", vec![0.8, 0.4]),
            ],
            retrieval: Vec::new(),
        }];
        // Per seed: (0.2 + 0.4 + 0.6 + 0.8) / 4 = 0.5 and (0.4 + 0.6 + 0.2 + 0.4) / 4 = 0.4.
        let summary = results[0].summary(TaskKind::Tempo, "acc1").unwrap();
        assert!(
            (summary.mean - 0.45).abs() < 1e-12 && (summary.std - 0.05).abs() < 1e-12,
            "{summary:?}"
        );
        let md = table_one_markdown(&results);
        assert!(md.contains("| loev-ts | v | – | – | – | – | 45.0 ± 5.0 | – |"), "{md}");
        let csv = table_one_csv(&results);
        assert!(
            csv.contains("loev-ts,v,alltempo-gtzan,acc1,0.300000,0.100000,2"),
            "{csv}"
        );
        assert!(csv.contains("loev-ts,v,alltempo,acc1,0.450000,0.050000,2"), "{csv}");
        assert_eq!(csv.lines().count(), 1 + 4 + 1, "{csv}");
    }
}
