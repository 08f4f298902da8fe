//! End-to-end pretraining through the `loev` binary: real audio files → `loev cache build` →
//! `loev pretrain` (LOEV-PSTS), loss decrease, run directory, crash safety and resume.
//!
//! The model is the test-size SF-NFNet with 1.5 s views so that 200 steps take seconds; the
//! code path is the one every preset uses.

mod common;
use common::{loev, pretrain, run_ok, temp_dir, write_config};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loev_train::fixtures::{TestBatches, test_size_config};
use loev_train::{TrainConfig, preset};

/// Writes a small corpus as audio files and builds a cache from its manifest, so that training
/// reads real decoded audio.
fn build_cache(root: &Path, tracks: usize) -> PathBuf {
    let corpus = root.join("corpus");
    let cache = root.join("cache");
    run_ok(
        loev()
            .args([
                "corpus",
                "generate",
                "--tracks",
                &tracks.to_string(),
                "--notes",
                "0",
                "--seed",
                "11",
                "-o",
            ])
            .arg(&corpus),
    );
    run_ok(
        loev()
            .args(["cache", "build", "--quiet", "-o"])
            .arg(&cache)
            .arg(corpus.join("manifest.csv")),
    );
    cache
}

/// A LOEV-PSTS config small enough for a test: test-size encoder, 1.5 s views.
fn small_config(cache: &Path, steps: u64, checkpoint_every: u64) -> TrainConfig {
    let batches = TestBatches {
        anchors: 6,
        views: 4,
        frames: 150,
        workers: 2,
    };
    let mut config = test_size_config("loev-psts:tiny", "loev-psts-test", cache, batches).unwrap();
    config.train.steps = steps;
    config.train.checkpoint_every = checkpoint_every;
    config.train.keep_last = 3;
    config.train.log_every = 5;
    config.optimizer.schedule = loev_train::config::Schedule::Constant;
    config.optimizer.learning_rate = 1e-3;
    config.validate().unwrap();
    config
}

/// All tensors of a safetensors file, by name (raw little-endian bytes).
fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn final_model(run: &Path, step: u64) -> PathBuf {
    run.join("checkpoints")
        .join(format!("step-{step:08}"))
        .join("model.safetensors")
}

#[test]
fn loev_psts_lowers_every_head_loss_over_200_steps_on_cached_audio() {
    let root = temp_dir("loss");
    let cache = build_cache(&root, 12);
    let config = small_config(&cache, 200, 100);
    let run = root.join("run");
    run_ok(&mut pretrain(&write_config(&root, &config), &run));
    // The run directory: resolved config, metrics, checkpoints.
    let stored = TrainConfig::from_file(&run.join("config.toml")).unwrap();
    assert_eq!(stored, config.resolved());
    assert!(final_model(&run, 200).exists());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 40);
    for key in ["step", "loss", "lr", "views_per_s", "data_wait_share", "heads"] {
        assert!(lines[0].get(key).is_some(), "metrics line lacks {key}: {}", lines[0]);
    }
    let views = (config.data.anchors * config.data.views) as f64;
    for head in ["invariant", "pitch_shift", "time_stretch"] {
        // The presets average each head over all anchors (an anchor without a positive adds 0),
        // so a head's loss also follows how many anchors had a positive in that window. Compare
        // the loss per anchor with a positive, which only learning lowers.
        let loss = |line: &serde_json::Value| {
            let with_positives = line["heads"][head]["anchors_with_positives"].as_f64().unwrap();
            line["heads"][head]["loss"].as_f64().unwrap() * views / with_positives
        };
        // The first logged window (steps 1–5) against the last 20 steps.
        let first = loss(&lines[0]);
        let last: f64 = lines[lines.len() - 4..].iter().map(loss).sum::<f64>() / 4.0;
        assert!(
            last < first - 0.1,
            "head {head}: loss {first:.4} over steps 1-5, {last:.4} over the last 20 steps"
        );
        assert!(lines[0]["heads"][head]["anchors_with_positives"].as_f64().unwrap() > 0.0);
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_run_killed_at_a_random_step_resumes_to_identical_weights() {
    let root = temp_dir("crash");
    let cache = build_cache(&root, 10);
    let steps = 16;
    let config = small_config(&cache, steps, 2);
    let config_path = write_config(&root, &config);

    let reference = root.join("reference");
    run_ok(&mut pretrain(&config_path, &reference));

    // Kill the second run with SIGKILL once it has passed a random step.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    let kill_after = 3 + nanos % 10;
    let crashed = root.join("crashed");
    let mut child = pretrain(&config_path, &crashed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let done = std::fs::read_to_string(crashed.join("metrics.jsonl"))
            .map(|m| {
                m.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter_map(|v| v["step"].as_u64())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if done >= kill_after || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the run made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    eprintln!("killed after step {kill_after}");

    // Damage the newest checkpoint: resuming must warn and fall back to the one before.
    let mut checkpoints: Vec<PathBuf> = std::fs::read_dir(crashed.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("step-"))
        .collect();
    checkpoints.sort();
    assert!(
        checkpoints.len() >= 2,
        "expected at least two checkpoints before the kill"
    );
    let newest = checkpoints.last().unwrap().join("model.safetensors");
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();

    let stderr = run_ok(loev().args(["pretrain", "--no-progress", "--resume"]).arg(&crashed));
    assert!(
        stderr.contains("warning") && stderr.contains("falling back"),
        "no fallback warning:\n{stderr}"
    );
    assert!(stderr.contains("resuming"), "{stderr}");

    let want = tensors(&final_model(&reference, steps));
    let got = tensors(&final_model(&crashed, steps));
    assert_eq!(want.len(), got.len());
    for ((name_a, a), (name_b, b)) in want.iter().zip(&got) {
        assert_eq!(name_a, name_b);
        assert!(a == b, "tensor {name_a} differs after resume");
    }
    // Saving is deterministic, so the files are identical byte for byte too.
    assert!(
        std::fs::read(final_model(&reference, steps)).unwrap() == std::fs::read(final_model(&crashed, steps)).unwrap()
    );
    // The metrics log holds each step once.
    let metrics = std::fs::read_to_string(crashed.join("metrics.jsonl")).unwrap();
    let steps_logged: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = steps_logged.clone();
    sorted.dedup();
    assert_eq!(steps_logged, sorted, "metrics log repeats steps: {steps_logged:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_config_and_missing_run_are_clear_errors() {
    let root = temp_dir("errors");
    let bad = root.join("bad.toml");
    std::fs::write(
        &bad,
        preset("mule-b:tiny")
            .unwrap()
            .to_toml()
            .replace("anchors = 16", "anchorz = 16"),
    )
    .unwrap();
    let output = loev().args(["pretrain", "--config"]).arg(&bad).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("anchorz") && stderr.contains("bad.toml"), "{stderr}");
    let output = loev()
        .args(["pretrain", "--resume"])
        .arg(root.join("nothing-here"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no run to resume"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint() {
    let root = temp_dir("nan");
    let cache = build_cache(&root, 8);
    let config = small_config(&cache, 4, 2);
    let run = root.join("run");
    run_ok(&mut pretrain(&write_config(&root, &config), &run));
    // Continue with a temperature so small that the logits overflow to infinity.
    let mut broken = TrainConfig::from_file(&run.join("config.toml")).unwrap();
    broken.train.steps = 8;
    broken.objective.temperature = 1e-40; // 1/τ overflows f32
    std::fs::write(run.join("config.toml"), broken.to_toml()).unwrap();
    let output = loev()
        .args(["pretrain", "--no-progress", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("non-finite at step 5") && stderr.contains("step-00000004"),
        "{stderr}"
    );
    let last: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        last.contains(&"step-00000004".to_string()) && !last.iter().any(|n| n > &"step-00000004".to_string()),
        "{last:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Issue 8: every benchmark loader's fixture tree goes through `data export`, `embed` (a
/// test-size model with random weights) and `probe`, end to end through the binary.
#[test]
fn probe_runs_end_to_end_on_every_fixture_dataset() {
    let root = temp_dir("fixtures");
    let mut config = preset("loev-psts:tiny").unwrap();
    config.model.size = "test".parse().unwrap();
    let model_config = config.model_config();
    let model = loev_model::LoevModel::init(&model_config, &burn::tensor::Device::flex(), 5);
    let checkpoint = root.join("model.safetensors");
    loev_artifacts::model_file::write_model_file(&checkpoint, &model, &model_config, &config.model_file_info(0))
        .unwrap();

    // Each dataset, the probe kind its export must lead to, and whether it has a training
    // split (the test-only benchmarks are probed through the combined exports `gs-key` and
    // `alltempo`, and on their own must be skipped with a message, not fail).
    let datasets = [
        ("mtt", "tagging", true),
        ("mtg-jamendo", "tagging", true),
        ("gs-key", "key", true),
        ("giantsteps-key", "key", false),
        ("giantsteps-mtg-key", "key", false),
        ("nsynth", "pitch", true),
        ("gtzan-tempo", "tempo", true),
        ("acm-mirum", "tempo", false),
        ("hainsworth", "tempo", false),
        ("giantsteps-tempo", "tempo", false),
        ("alltempo", "tempo", true),
    ];
    for (dataset, kind, trainable) in datasets {
        let tree = root.join(dataset);
        run_ok(loev().args(["data", "fixture", dataset]).arg(&tree));
        let exported = root.join(format!("{dataset}-tasks"));
        run_ok(
            loev()
                .args(["data", "export", dataset])
                .arg(&tree)
                .arg("--out")
                .arg(&exported),
        );
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(&exported)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        manifests.sort();
        assert!(!manifests.is_empty(), "{dataset}: no task exported");
        for manifest in manifests {
            let task = manifest.file_stem().unwrap().to_string_lossy().to_string();
            let embeddings = root.join(format!("{dataset}-{task}-emb"));
            run_ok(
                loev()
                    .args(["embed", "--quiet", "--model"])
                    .arg(&checkpoint)
                    .arg(&manifest)
                    .arg("-o")
                    .arg(&embeddings),
            );
            let output = run_ok(loev().args(["probe", "--seeds", "1", "--epochs", "3"]).arg(&embeddings));
            if dataset == "alltempo" && task == "alltempo-acm-mirum" {
                alltempo_is_probed_as_one_benchmark_and_retrieved_across_its_datasets(&tree, &embeddings, &root);
            }
            if !trainable {
                assert!(
                    output.contains("a probe needs all three"),
                    "{dataset}/{task}: no skip message in\n{output}"
                );
                continue;
            }
            // The fixtures are a handful of tracks, so a metric may be undefined (one class in
            // the test split); what must hold is that the task reached the probe with its
            // splits, trained, and was evaluated on the test tracks.
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(embeddings.join("probe.json")).unwrap()).unwrap();
            let probes: Vec<&serde_json::Value> = report
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|space| space["probes"].as_array().unwrap())
                .filter(|probe| probe["kind"] == kind)
                .collect();
            assert!(!probes.is_empty(), "{dataset}/{task}: no {kind} probe in {report}");
            for probe in probes {
                let counts: Vec<u64> = probe["counts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect();
                assert!(
                    counts.len() == 3 && counts.iter().all(|&c| c > 0),
                    "{dataset}/{task}: split counts {counts:?}"
                );
                assert!(
                    !probe["best_epochs"].as_array().unwrap().is_empty(),
                    "{dataset}/{task}: probe never trained"
                );
            }
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// AllTempo from one embedding folder (any fold's export holds every track of the four
/// datasets): `probe --dataset alltempo` trains the four leave-one-out folds and Table I shows
/// their mean (the CSV keeps each fold and adds the mean); `retrieve` queries every track of
/// the four datasets at once, and none of their time-stretched copies.
fn alltempo_is_probed_as_one_benchmark_and_retrieved_across_its_datasets(tree: &Path, embeddings: &Path, root: &Path) {
    let set = loev_eval::store::EmbeddingSet::open(embeddings).unwrap();
    let copies = set.stretched().unwrap();
    let index = loev_audio::manifest::Manifest::read(&set.index_path()).unwrap();
    let tracks = index.rows.len();
    let with_tempo = index
        .rows
        .iter()
        .filter(|r| {
            r.fields
                .get("tempo")
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|t| t > 0.0)
        })
        .count();
    assert!(with_tempo > 0);
    assert_eq!(
        copies.len(),
        2 * with_tempo,
        "the default 2 stretched copies of every track with a tempo"
    );

    let out = root.join("alltempo-benchmark");
    run_ok(
        loev()
            .args([
                "probe",
                "--seeds",
                "2",
                "--epochs",
                "3",
                "--dataset",
                "alltempo",
                "--root",
            ])
            .arg(tree)
            .arg(embeddings)
            .arg("-o")
            .arg(&out),
    );
    let csv = std::fs::read_to_string(out.join("probe.csv")).unwrap();
    let acc1_rows: Vec<&str> = csv.lines().filter(|l| l.contains(",acc1,")).collect();
    let folds: Vec<f64> = acc1_rows
        .iter()
        .filter(|l| l.contains(",alltempo-"))
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect();
    assert_eq!(folds.len(), 4, "one acc1 row per fold in\n{csv}");
    let mean_row: Vec<&str> = acc1_rows.iter().filter(|l| l.contains(",alltempo,")).copied().collect();
    assert_eq!(mean_row.len(), 1, "one fold-mean row in\n{csv}");
    let mean: f64 = mean_row[0].split(',').nth(4).unwrap().parse().unwrap();
    assert!(
        (mean - folds.iter().sum::<f64>() / 4.0).abs() < 2e-6,
        "{mean} vs {folds:?}"
    );
    let table = std::fs::read_to_string(out.join("probe.md")).unwrap();
    assert!(
        table.contains(&format!("{:.1} ± ", 100.0 * mean)),
        "fold mean {mean} not in\n{table}"
    );

    let retrieved = root.join("alltempo-retrieval");
    run_ok(
        loev()
            .args(["retrieve", "--k", "1"])
            .arg(embeddings)
            .arg("-o")
            .arg(&retrieved),
    );
    let csv = std::fs::read_to_string(retrieved.join("retrieval.csv")).unwrap();
    let queries: usize = csv.lines().nth(1).unwrap().rsplit(',').next().unwrap().parse().unwrap();
    assert_eq!(queries, tracks, "every track of the four datasets is a query\n{csv}");
}
