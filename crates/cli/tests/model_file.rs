//! The self-describing model file: `loev export` writes one from a run, `loev embed --model`
//! needs nothing else, a file whose front end no longer matches its weights is refused, and a
//! checkpoint of an older loev (no `loev.model_file` entry) loads through its run folder or is
//! refused with a message that says how to export it.

mod common;
use common::{loev, pretrain, run_ok, small_cache, small_config, temp_dir, write_config};

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_model::LoevModel;

/// Files of an embedding folder's `tracks/`, by name, with their bytes.
fn track_files(embeddings: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(embeddings.join("tracks"))
        .expect("tracks/")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().to_string();
            (name, std::fs::read(&path).expect("track file"))
        })
        .collect();
    files.sort();
    files
}

fn embed(model_flag: &str, model: &Path, input: &Path, out: &Path) -> std::process::Output {
    loev()
        .args(["embed", "--quiet", model_flag])
        .arg(model)
        .arg("-o")
        .arg(out)
        .arg(input)
        .output()
        .expect("the loev binary runs")
}

/// A copy of the safetensors file `from` at `to` whose `loev.model_file` entry has its front
/// end's mel count set to `mels` (the header is rewritten, the tensors are kept).
fn with_front_end_mels(from: &Path, to: &Path, mels: u64) {
    let bytes = std::fs::read(from).expect("model file");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).expect("header JSON");
    let entry = header["__metadata__"]["loev.model_file"]
        .as_str()
        .expect("loev.model_file entry");
    let mut info: serde_json::Value = serde_json::from_str(entry).expect("entry JSON");
    assert_eq!(info["frontend"]["n_mels"], 64, "the run was trained at 64 mels");
    info["frontend"]["n_mels"] = mels.into();
    header["__metadata__"]["loev.model_file"] = info.to_string().into();
    let mut new_header = serde_json::to_vec(&header).expect("header");
    while !new_header.len().is_multiple_of(8) {
        new_header.push(b' ');
    }
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&new_header);
    out.extend_from_slice(&bytes[8 + header_len..]);
    std::fs::write(to, out).expect("edited copy");
}

#[test]
fn a_model_file_alone_embeds_like_its_run_and_a_mismatched_front_end_is_refused() {
    let root = temp_dir("model-file");
    let mut config = small_config(&small_cache(&root), 2);
    config.frontend.n_mels = 64;
    config.validate().expect("valid 64-mel config");
    let run = root.join("run");
    run_ok(&mut pretrain(&write_config(&root, &config), &run));

    // Export, and move the file where no run folder is.
    let alone = root.join("elsewhere");
    std::fs::create_dir_all(&alone).expect("folder");
    let model: PathBuf = alone.join("model.safetensors");
    let exported = loev()
        .args(["export"])
        .arg(&run)
        .arg("-o")
        .arg(&model)
        .output()
        .expect("the loev binary runs");
    let stdout = String::from_utf8_lossy(&exported.stdout);
    assert!(
        exported.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(stdout.contains("step 2") && stdout.contains("64 mels"), "{stdout}");
    assert!(stdout.contains("head pitch_shift: leaves out pitch_shift"), "{stdout}");

    let audio = root.join("clip.wav");
    let track = loev_corpus::generate_track(3, 0, &loev_corpus::CorpusConfig::default());
    loev_audio::wav::write_wav(&audio, &track.audio, 16_000).expect("wav");

    let through_run = root.join("embeddings-run");
    let output = embed("--run", &run, &audio, &through_run);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let through_file = root.join("embeddings-file");
    let output = embed("--model", &model, &audio, &through_file);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = track_files(&through_run);
    assert!(!expected.is_empty());
    assert_eq!(
        track_files(&through_file),
        expected,
        "the model file alone embeds exactly as its run"
    );

    // The same file claiming a 96-mel front end: refused, naming the field.
    let edited = alone.join("edited.safetensors");
    with_front_end_mels(&model, &edited, 96);
    let output = embed("--model", &edited, &audio, &root.join("embeddings-edited"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a 96-mel front end on 64-mel weights must be refused"
    );
    assert!(
        stderr.contains("frontend.n_mels") && stderr.contains("96") && stderr.contains("64"),
        "{stderr}"
    );

    // A checkpoint of an older loev: weights and model configuration only.
    let checkpoint = run.join("checkpoints").join("step-00000002").join("model.safetensors");
    let (weights, model_config) = LoevModel::load(&checkpoint, &Device::flex()).expect("checkpoint");
    let old_alone = alone.join("old.safetensors");
    weights.save(&model_config, &old_alone).expect("old-style file");
    let output = embed("--model", &old_alone, &audio, &root.join("embeddings-old-alone"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "an old file alone has no front end");
    assert!(stderr.contains("loev export"), "{stderr}");
    // Inside its run folder it loads, with the run's front end.
    weights.save(&model_config, &checkpoint).expect("old-style checkpoint");
    let through_old = root.join("embeddings-old-in-run");
    let output = embed("--model", &checkpoint, &audio, &through_old);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(track_files(&through_old), expected);
    std::fs::remove_dir_all(&root).ok();
}

/// A run of two steps and its exported model file, shared by the tests below.
fn exported() -> &'static (PathBuf, PathBuf, PathBuf) {
    static FIXTURE: std::sync::OnceLock<(PathBuf, PathBuf, PathBuf)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = temp_dir("exported");
        let config = small_config(&small_cache(&root), 2);
        let run = root.join("run");
        run_ok(&mut pretrain(&write_config(&root, &config), &run));
        let model = root.join("model.safetensors");
        run_ok(loev().arg("export").arg(&run).arg("-o").arg(&model));
        let audio = root.join("clip.wav");
        let track = loev_corpus::generate_track(3, 0, &loev_corpus::CorpusConfig::default());
        loev_audio::wav::write_wav(&audio, &track.audio[..4 * 16_000], 16_000).expect("wav");
        (run, model, audio)
    })
}

/// Issue 28, class 6: a model file cut short (an interrupted copy or download) was called "not
/// a loev model file"; it is called truncated, with what to do, wherever it is cut.
#[test]
fn a_model_file_cut_short_is_called_truncated() {
    let (_, model, audio) = exported();
    let bytes = std::fs::read(model).expect("model file");
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let root = temp_dir("cut-short");
    for (what, len) in [
        ("empty", 0),
        ("inside the header length", 5),
        ("inside the header", header_end - 10),
        ("right after the header", header_end),
        ("inside the tensors", (header_end + bytes.len()) / 2),
        ("one byte short", bytes.len() - 1),
    ] {
        let cut = root.join(format!("cut-{len}.safetensors"));
        std::fs::write(&cut, &bytes[..len]).expect("cut copy");
        let output = embed("--model", &cut, audio, &root.join(format!("emb-{len}")));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("is truncated")
                && stderr.contains("loev export")
                && !stderr.contains("not a loev model file"),
            "{what}: {stderr}"
        );
    }
    // A file that is not a model file at all is still called that.
    let text = root.join("text.safetensors");
    std::fs::write(&text, "this is a text file, not weights\n").expect("file");
    let stderr = String::from_utf8_lossy(&embed("--model", &text, audio, &root.join("emb-text")).stderr).to_string();
    assert!(
        stderr.contains("not a loev model file") && !stderr.contains("truncated"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&root).ok();
}

/// Issue 28, class 7: a killed export left its temporary file forever, and `export -o`
/// replaced any existing file. Now the next atomic write into the folder removes what a dead
/// writer left, an earlier model file is replaced, and any other file only with `--force`.
#[test]
fn export_cleans_a_killed_exports_leftovers_and_replaces_only_model_files() {
    let (run, _, _) = exported();
    let root = temp_dir("export-target");
    let leftover = root.join(".model.safetensors.tmp999999999");
    std::fs::write(&leftover, "half a model").expect("leftover");
    let target = root.join("model.safetensors");
    let export = |target: &Path, force: bool| {
        let mut command = loev();
        command.arg("export").arg(run).arg("-o").arg(target);
        if force {
            command.arg("--force");
        }
        command.output().expect("runs")
    };
    assert!(export(&target, false).status.success());
    assert!(!leftover.exists(), "the dead export's temporary is removed");
    assert!(
        export(&target, false).status.success(),
        "an earlier model file is replaced"
    );
    let notes = root.join("notes.txt");
    std::fs::write(&notes, "mine").expect("file");
    let refused = export(&notes, false);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&notes).expect("kept"), "mine");
    assert!(export(&notes, true).status.success());
    loev_model::read_config(&notes).expect("--force wrote a model file");
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&root).ok();
}

/// Issue 28, class 4: a device that cannot be opened printed two panics of burn's GPU runtimes
/// and an error ending in "called `Result::unwrap()`". Now every command that opens a device
/// says so in one line, for every backend, and writes nothing.
#[test]
fn a_device_that_cannot_be_opened_is_one_line_in_every_command() {
    let (run, model, audio) = exported();
    let root = temp_dir("devices");
    let config = small_config(&small_cache(&root), 2);
    let config_file = write_config(&root, &config);
    for device in ["cuda:64", "vulkan:64", "opengl:64"] {
        let out = root.join(device.replace(':', "-"));
        let commands: [(&str, Vec<std::ffi::OsString>); 4] = [
            (
                "embed --model",
                vec![
                    "embed".into(),
                    "--quiet".into(),
                    "--model".into(),
                    model.into(),
                    "-o".into(),
                    out.clone().into(),
                    audio.into(),
                ],
            ),
            (
                "embed --run",
                vec![
                    "embed".into(),
                    "--quiet".into(),
                    "--run".into(),
                    run.into(),
                    "-o".into(),
                    out.clone().into(),
                    audio.into(),
                ],
            ),
            (
                "analyze",
                vec![
                    "analyze".into(),
                    "--model".into(),
                    model.into(),
                    "-o".into(),
                    out.clone().into(),
                    audio.into(),
                ],
            ),
            (
                "pretrain",
                vec![
                    "pretrain".into(),
                    "--no-progress".into(),
                    "--config".into(),
                    config_file.clone().into(),
                    "--out".into(),
                    out.clone().into(),
                ],
            ),
        ];
        for (what, args) in commands {
            let output = loev().args(&args).args(["--device", device]).output().expect("runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{what} on {device}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{what} on {device}: {stderr}");
            assert!(
                stderr.starts_with("error:") && stderr.contains(device),
                "{what} on {device}: {stderr}"
            );
            for text in ["panicked", "RecvError", "unwrap"] {
                assert!(!stderr.contains(text), "{what} on {device}: {stderr}");
            }
            assert!(!out.exists(), "{what} on {device} wrote {}", out.display());
        }
    }
    std::fs::remove_dir_all(&root).ok();
}

/// `loev analyze --run` reports each head's training diagnostics from the run's metrics.jsonl:
/// the leave-out head's separation, and none for the invariant head.
#[test]
fn analyze_reports_the_heads_training_diagnostics_of_a_run() {
    let root = common::temp_dir("diagnostics");
    let mut config = common::small_config(&common::small_cache(&root), 4);
    // 4 views per clip, so that most batches hold a pair of siblings the pitch shift left alone
    // and a pair it split (the separation needs both).
    config.data.views = 4;
    let run = root.join("run");
    common::run_ok(&mut common::pretrain(&common::write_config(&root, &config), &run));
    let audio = root.join("tone.wav");
    std::fs::write(&audio, common::float_wav(&common::tone(4.0, 330.0))).expect("wav");
    let out = root.join("analysis");
    let output = loev()
        .args([
            "analyze",
            "--equivariance-views",
            "0",
            "--semitones",
            "2",
            "--rates",
            "1.2",
            "--last-steps",
            "2",
        ])
        .arg("--run")
        .arg(&run)
        .arg("-o")
        .arg(&out)
        .arg(&audio)
        .output()
        .expect("runs");
    let (stdout, stderr) = common::output_text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("training diagnostics"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("training.csv")).expect("training.csv");
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    // run, head, first_step, last_step, lines, loss, loss_per_anchor_with_positive, separation
    let row = |head: &str| {
        rows.iter()
            .find(|r| r[1] == head)
            .unwrap_or_else(|| panic!("{head}: {csv}"))
    };
    assert_eq!(&row("invariant")[2..5], ["3", "4", "2"], "{csv}");
    assert_eq!(row("invariant")[7], "-", "{csv}");
    let separation: f64 = row("pitch_shift")[7].parse().unwrap_or_else(|_| panic!("{csv}"));
    assert!(separation.abs() <= 2.0, "{csv}");
    let loss: f64 = row("pitch_shift")[5].parse().expect("a loss");
    assert!(loss.is_finite() && loss > 0.0, "{csv}");
    std::fs::remove_dir_all(&root).ok();
}
