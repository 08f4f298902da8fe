//! Training seeds: the demo's models pretrained with several seeds, their probe results
//! gathered per model over those seeds, and the verdict on each half of the seed paper's claim
//! by the rule of `docs/tempo-half.md` (written before the runs it judges).
//!
//! A training seed changes the weights' initialisation and every batch, crop and augmentation
//! draw; the corpus stays the same. Every trained model is probed with the same probe seeds,
//! and its value is the mean over them. The ± of a training-seed figure is the population
//! standard deviation of those per-model values, quoted beside the mean probe-seed standard
//! deviation so that the two spreads can be told apart. LOEV and the MULE it is compared with
//! see the same batches and views at the same training seed, so margins are also paired.

use loev_data::TaskKind;
use loev_eval::tables::{ModelResults, TABLE_ONE_COLUMNS};

/// The name of `model` pretrained with training seed `seed`: the preset's name for seed 0
/// (so that a one-seed demo keeps its folders and tables), `<model>-seed<seed>` otherwise.
pub fn seeded_name(model: &str, seed: usize) -> String {
    if seed == 0 {
        model.to_string()
    } else {
        format!("{model}-seed{seed}")
    }
}

/// One probe metric of one model over the training seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct OverSeeds {
    /// Per training seed, the mean over the probe seeds.
    pub values: Vec<f64>,
    /// Per training seed, the standard deviation over the probe seeds.
    pub probe_stds: Vec<f64>,
}

impl OverSeeds {
    /// Gathers `metric` of task `kind` in space V of `model` for training seeds `0..seeds`;
    /// `None` when any of those trained models lacks it.
    pub fn gather(results: &[ModelResults], model: &str, seeds: usize, kind: TaskKind, metric: &str) -> Option<Self> {
        let mut values = Vec::with_capacity(seeds);
        let mut probe_stds = Vec::with_capacity(seeds);
        for seed in 0..seeds {
            let name = seeded_name(model, seed);
            let row = results.iter().find(|r| r.model == name && r.space == "v")?;
            let summary = row.summary(kind, metric)?;
            values.push(summary.mean);
            probe_stds.push(summary.std);
        }
        (seeds > 0).then_some(Self { values, probe_stds })
    }

    /// Mean over the training seeds.
    pub fn mean(&self) -> f64 {
        mean(&self.values)
    }

    /// Population standard deviation over the training seeds.
    pub fn std(&self) -> f64 {
        std(&self.values)
    }

    /// Mean of the probe-seed standard deviations.
    pub fn probe_std(&self) -> f64 {
        mean(&self.probe_stds)
    }

    /// Per training seed, `self − other` (the paired margins).
    pub fn minus(&self, other: &Self) -> Vec<f64> {
        self.values.iter().zip(&other.values).map(|(a, b)| a - b).collect()
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn std(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

/// A paired margin: its per-seed values, shown in `scale` units (100 for points).
struct Margin {
    per_seed: Vec<f64>,
    scale: f64,
}

impl Margin {
    fn of(loev: &OverSeeds, mule: &OverSeeds, scale: f64) -> Self {
        Self {
            per_seed: loev.minus(mule),
            scale,
        }
    }

    fn mean(&self) -> f64 {
        self.scale * mean(&self.per_seed)
    }

    fn positive_in_every_seed(&self) -> bool {
        self.per_seed.iter().all(|d| *d > 0.0)
    }

    /// `+4.2 ± 1.3` (± over the training seeds, shown from 2 seeds on).
    fn describe(&self, decimals: usize) -> String {
        if self.per_seed.len() > 1 {
            format!(
                "{:+.decimals$} ± {:.decimals$}",
                self.mean(),
                self.scale * std(&self.per_seed)
            )
        } else {
            format!("{:+.decimals$}", self.mean())
        }
    }
}

/// `31.2 ± 2.0` in percent (± over the training seeds from 2 seeds on).
fn percent(values: &OverSeeds) -> String {
    if values.values.len() > 1 {
        format!("{:.1} ± {:.1}", 100.0 * values.mean(), 100.0 * values.std())
    } else {
        format!("{:.1}", 100.0 * values.mean())
    }
}

/// The thresholds of `docs/tempo-half.md`: the seed's effect is at least +10 points on the
/// target readout (or +0.10 of tempo ρ) with the tags within ±2 points.
const MARGIN_POINTS: f64 = 10.0;
const MARGIN_RHO: f64 = 0.10;
const TAGS_POINTS: f64 = 2.0;
/// The tempo half is judged only when MULE-B reaches tempo ρ ≥ 0.5 or Acc1 ≥ 25 %.
const GATE_RHO: f64 = 0.5;
const GATE_ACC1: f64 = 0.25;

/// The verdict on both halves, one line each, over training seeds `0..seeds`.
pub fn verdict(results: &[ModelResults], seeds: usize) -> Vec<String> {
    let on = |model: &str, kind: TaskKind, metric: &str| OverSeeds::gather(results, model, seeds, kind, metric);
    let basis = if seeds == 1 {
        "one training seed; the README quotes only N ≥ 3".to_string()
    } else {
        format!("{seeds} training seeds, mean ± std over them")
    };
    let mut lines = Vec::new();
    let tags = |model: &str| on(model, TaskKind::Tagging, "roc_auc");
    if let (Some(lk), Some(mk), Some(lt), Some(mt)) = (
        on("loev-ps", TaskKind::Key, "key_weighted"),
        on("mule-ps", TaskKind::Key, "key_weighted"),
        tags("loev-ps"),
        tags("mule-ps"),
    ) {
        let key = Margin::of(&lk, &mk, 100.0);
        let tag = Margin::of(&lt, &mt, 100.0);
        let mut failed = Vec::new();
        if key.mean() < MARGIN_POINTS {
            failed.push("key margin below +10".to_string());
        }
        if tag.mean().abs() > TAGS_POINTS {
            failed.push("tags outside ±2".to_string());
        }
        if seeds >= 2 && !key.positive_in_every_seed() {
            failed.push("key margin not positive in every training seed".to_string());
        }
        lines.push(format!(
            "LOEV-PS vs MULE-PS (V; {basis}): key weighted score {} vs {} ({} points), tag ROC-AUC {} vs {} ({} points): the seed's effect (≥ +10, tags within ±2) {}",
            percent(&lk),
            percent(&mk),
            key.describe(1),
            percent(&lt),
            percent(&mt),
            tag.describe(1),
            outcome(&failed)
        ));
    }
    if let Some(line) = tempo_verdict(results, seeds, &basis) {
        lines.push(line);
    }
    lines
}

fn outcome(failed: &[String]) -> String {
    if failed.is_empty() {
        "HOLDS".to_string()
    } else {
        format!("does NOT hold ({})", failed.join("; "))
    }
}

/// The tempo half: the gate on MULE-B, then LOEV-TS against MULE-TS on Acc1 and ρ.
fn tempo_verdict(results: &[ModelResults], seeds: usize, basis: &str) -> Option<String> {
    let on = |model: &str, metric: &str| OverSeeds::gather(results, model, seeds, TaskKind::Tempo, metric);
    let tags = |model: &str| OverSeeds::gather(results, model, seeds, TaskKind::Tagging, "roc_auc");
    let (la, ma, lr, mr, lt, mt) = (
        on("loev-ts", "acc1")?,
        on("mule-ts", "acc1")?,
        on("loev-ts", "tempo_rho")?,
        on("mule-ts", "tempo_rho")?,
        tags("loev-ts")?,
        tags("mule-ts")?,
    );
    let gate = match (on("mule-b", "tempo_rho"), on("mule-b", "acc1")) {
        (Some(rho), Some(acc1)) => {
            let passes = rho.mean() >= GATE_RHO || acc1.mean() >= GATE_ACC1;
            let figures = format!("MULE-B tempo ρ {:.2}, Acc1 {:.1} %", rho.mean(), 100.0 * acc1.mean());
            (passes, figures)
        }
        _ => (false, "no MULE-B to gate on".to_string()),
    };
    let (gate_passes, gate_figures) = gate;
    if !gate_passes {
        return Some(format!(
            "LOEV-TS vs MULE-TS (V; {basis}): NOT JUDGED — {gate_figures}: the baseline does not encode tempo (the gate is ρ ≥ 0.5 or Acc1 ≥ 25 %)"
        ));
    }
    let acc1 = Margin::of(&la, &ma, 100.0);
    let rho = Margin::of(&lr, &mr, 1.0);
    let tag = Margin::of(&lt, &mt, 100.0);
    let acc1_meets = acc1.mean() >= MARGIN_POINTS;
    let rho_meets = rho.mean() >= MARGIN_RHO;
    let mut failed = Vec::new();
    if !acc1_meets && !rho_meets {
        failed.push("(1) neither Acc1 ≥ +10 nor ρ ≥ +0.10".to_string());
    }
    if acc1.mean() <= -MARGIN_POINTS || rho.mean() <= -MARGIN_RHO {
        failed.push("(2) a readout goes the other way by its margin".to_string());
    }
    if tag.mean().abs() > TAGS_POINTS {
        failed.push("(3) tags outside ±2".to_string());
    }
    let paired = (acc1_meets && acc1.positive_in_every_seed()) || (rho_meets && rho.positive_in_every_seed());
    if seeds >= 2 && (acc1_meets || rho_meets) && !paired {
        failed.push("(4) the margin is not positive in every training seed".to_string());
    }
    Some(format!(
        "LOEV-TS vs MULE-TS (V; {basis}; gate passed: {gate_figures}): tempo Acc1 {} vs {} ({} points), ρ ×100 {} vs {} ({} ρ), tag ROC-AUC {} vs {} ({} points): the seed's effect (Acc1 ≥ +10 or ρ ≥ +0.10, tags within ±2) {}",
        percent(&la),
        percent(&ma),
        acc1.describe(1),
        percent(&lr),
        percent(&mr),
        rho.describe(3),
        percent(&lt),
        percent(&mt),
        tag.describe(1),
        outcome(&failed)
    ))
}

/// Table I over training seeds (Markdown): one row per model in space V, each cell the mean ±
/// std over the training seeds of the per-model probe means, with the mean probe-seed std in
/// brackets.
pub fn table_markdown(results: &[ModelResults], models: &[String], seeds: usize) -> String {
    let mut md = String::from("| Model | Training seeds |");
    for (_, _, header) in TABLE_ONE_COLUMNS {
        md.push_str(&format!(" {header} |"));
    }
    md.push_str("\n|---|---:|");
    md.push_str(&"---:|".repeat(TABLE_ONE_COLUMNS.len()));
    md.push('\n');
    for model in models {
        md.push_str(&format!("| {model} | {seeds} |"));
        for (kind, metric, _) in TABLE_ONE_COLUMNS {
            let cell = OverSeeds::gather(results, model, seeds, kind, metric).map_or_else(
                || "–".to_string(),
                |v| {
                    format!(
                        "{:.1} ± {:.1} ({:.1})",
                        100.0 * v.mean(),
                        100.0 * v.std(),
                        100.0 * v.probe_std()
                    )
                },
            );
            md.push_str(&format!(" {cell} |"));
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_eval::probe::{MetricSummary, ProbeResult};

    /// A V row of `model` with a key, tag and tempo probe whose probe seeds give `values`.
    fn row(model: &str, key: [f64; 2], tags: [f64; 2], acc1: [f64; 2], rho: [f64; 2]) -> ModelResults {
        let probe = |kind: TaskKind, metrics: Vec<MetricSummary>| ProbeResult {
            task: format!("{kind:?}"),
            kind,
            fold_of: None,
            space: "v".into(),
            metrics,
            best_epochs: vec![1, 1],
            counts: (1, 1, 1),
            undefined_labels: 0,
        };
        ModelResults {
            model: model.into(),
            space: "v".into(),
            probes: vec![
                probe(TaskKind::Key, vec![MetricSummary::of("key_weighted", key.to_vec())]),
                probe(TaskKind::Tagging, vec![MetricSummary::of("roc_auc", tags.to_vec())]),
                probe(
                    TaskKind::Tempo,
                    vec![
                        MetricSummary::of("acc1", acc1.to_vec()),
                        MetricSummary::of("tempo_rho", rho.to_vec()),
                    ],
                ),
            ],
            retrieval: Vec::new(),
        }
    }

    fn plain(model: &str, key: f64, tags: f64, acc1: f64, rho: f64) -> ModelResults {
        row(model, [key; 2], [tags; 2], [acc1; 2], [rho; 2])
    }

    #[test]
    fn seed_zero_keeps_the_presets_name() {
        assert_eq!(seeded_name("loev-ps", 0), "loev-ps");
        assert_eq!(seeded_name("loev-ps", 2), "loev-ps-seed2");
    }

    #[test]
    fn over_seeds_separates_the_training_spread_from_the_probe_spread() {
        let results = vec![
            row("mule-b", [0.2, 0.4], [0.6; 2], [0.1; 2], [0.5; 2]),
            row("mule-b-seed1", [0.5, 0.5], [0.6; 2], [0.1; 2], [0.5; 2]),
        ];
        let key = OverSeeds::gather(&results, "mule-b", 2, TaskKind::Key, "key_weighted").expect("both seeds");
        assert_eq!(key.values.len(), 2);
        assert!((key.values[0] - 0.3).abs() < 1e-12 && (key.values[1] - 0.5).abs() < 1e-12);
        assert!((key.mean() - 0.4).abs() < 1e-12);
        assert!((key.std() - 0.1).abs() < 1e-12);
        assert!((key.probe_std() - 0.05).abs() < 1e-12);
        assert!(OverSeeds::gather(&results, "mule-b", 3, TaskKind::Key, "key_weighted").is_none());
    }

    #[test]
    fn the_pitch_half_needs_a_positive_margin_in_every_training_seed() {
        let mut results = vec![
            plain("loev-ps", 0.40, 0.65, 0.1, 0.5),
            plain("mule-ps", 0.20, 0.65, 0.1, 0.5),
            plain("loev-ps-seed1", 0.40, 0.65, 0.1, 0.5),
            plain("mule-ps-seed1", 0.25, 0.65, 0.1, 0.5),
        ];
        let lines = verdict(&results, 2);
        assert!(lines[0].contains("HOLDS"), "{lines:?}");
        // Mean margin still +12.5 points, but one seed goes the other way.
        results[2] = plain("loev-ps-seed1", 0.30, 0.65, 0.1, 0.5);
        results[3] = plain("mule-ps-seed1", 0.35, 0.65, 0.1, 0.5);
        results[0] = plain("loev-ps", 0.50, 0.65, 0.1, 0.5);
        results[1] = plain("mule-ps", 0.20, 0.65, 0.1, 0.5);
        let lines = verdict(&results, 2);
        assert!(lines[0].contains("does NOT hold"), "{lines:?}");
        assert!(lines[0].contains("not positive in every training seed"), "{lines:?}");
        // With one seed that condition does not apply, and the line says it rests on one seed.
        let lines = verdict(&results[..2], 1);
        assert!(
            lines[0].contains("HOLDS") && lines[0].contains("one training seed"),
            "{lines:?}"
        );
    }

    #[test]
    fn the_tags_limit_the_pitch_half() {
        let results = vec![
            plain("loev-ps", 0.40, 0.60, 0.1, 0.5),
            plain("mule-ps", 0.20, 0.65, 0.1, 0.5),
        ];
        let lines = verdict(&results, 1);
        assert!(lines[0].contains("tags outside ±2"), "{lines:?}");
    }

    #[test]
    fn the_tempo_half_is_not_judged_when_mule_b_does_not_encode_tempo() {
        let mut results = vec![
            plain("mule-b", 0.3, 0.65, 0.10, 0.40),
            plain("mule-ts", 0.3, 0.65, 0.05, 0.10),
            plain("loev-ts", 0.3, 0.65, 0.30, 0.60),
        ];
        let lines = verdict(&results, 1);
        assert_eq!(lines.len(), 1, "no pitch models, one tempo line: {lines:?}");
        assert!(
            lines[0].contains("NOT JUDGED") && lines[0].contains("ρ 0.40"),
            "{lines:?}"
        );
        // Either readout opens the gate.
        results[0] = plain("mule-b", 0.3, 0.65, 0.25, 0.40);
        assert!(verdict(&results, 1)[0].contains("HOLDS"), "{:?}", verdict(&results, 1));
        results[0] = plain("mule-b", 0.3, 0.65, 0.10, 0.50);
        assert!(verdict(&results, 1)[0].contains("HOLDS"), "{:?}", verdict(&results, 1));
    }

    #[test]
    fn the_tempo_half_holds_on_either_readout_but_not_against_the_other() {
        let judged = |loev_acc1: f64, loev_rho: f64, loev_tags: f64| {
            let results = vec![
                plain("mule-b", 0.3, 0.65, 0.30, 0.80),
                plain("mule-ts", 0.3, 0.65, 0.20, 0.60),
                plain("loev-ts", 0.3, loev_tags, loev_acc1, loev_rho),
            ];
            verdict(&results, 1).remove(0)
        };
        // ρ alone carries the margin (Acc1 flat).
        assert!(judged(0.20, 0.71, 0.65).contains("HOLDS"));
        // Acc1 alone carries it.
        assert!(judged(0.32, 0.60, 0.65).contains("HOLDS"));
        // Neither does.
        assert!(judged(0.25, 0.65, 0.65).contains("(1)"));
        // Acc1 up by its margin but ρ down by its margin.
        let against = judged(0.32, 0.49, 0.65);
        assert!(
            against.contains("(2)") && against.contains("does NOT hold"),
            "{against}"
        );
        // The tags move by more than 2 points.
        assert!(judged(0.32, 0.60, 0.62).contains("(3)"));
    }

    #[test]
    fn the_tempo_margin_must_be_positive_in_every_training_seed() {
        let results = vec![
            plain("mule-b", 0.3, 0.65, 0.30, 0.80),
            plain("mule-ts", 0.3, 0.65, 0.20, 0.60),
            plain("loev-ts", 0.3, 0.65, 0.20, 0.90),
            plain("mule-b-seed1", 0.3, 0.65, 0.30, 0.80),
            plain("mule-ts-seed1", 0.3, 0.65, 0.20, 0.60),
            plain("loev-ts-seed1", 0.3, 0.65, 0.20, 0.55),
        ];
        let line = verdict(&results, 2).remove(0);
        assert!(line.contains("(4)"), "{line}");
    }

    #[test]
    fn the_table_quotes_both_spreads() {
        let results = vec![
            row("mule-b", [0.2, 0.4], [0.6; 2], [0.1; 2], [0.5; 2]),
            row("mule-b-seed1", [0.5, 0.5], [0.6; 2], [0.1; 2], [0.5; 2]),
        ];
        let md = table_markdown(&results, &["mule-b".to_string()], 2);
        assert!(md.contains("| mule-b | 2 |"), "{md}");
        assert!(md.contains("40.0 ± 10.0 (5.0)"), "{md}");
    }
}
