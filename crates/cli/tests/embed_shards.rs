//! `loev embed --shard K/N` and `loev embed merge` through the binary, with a real model file
//! (the test-size encoder) and wav files the tests write: N = 1, 2 and 3 shards merged equal
//! one unsharded run file for file, byte for byte (safetensors and npy); a shard killed mid-run
//! resumes from its journal with the tracks it has and merges to the same folder; and the merge
//! refuses, naming the folder or the shard, every set of folders that is not the N finished
//! shards of one embedding.

mod common;
use common::{loev, output_text, run_err, temp_dir, tiny_model_file, tone};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use loev_audio::frontend::FrontEndConfig;
use loev_audio::wav::write_wav;

fn run_ok(command: &mut Command) -> String {
    let output = command.output().expect("the loev binary runs");
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{command:?} failed:\n{stderr}\n{stdout}");
    stdout
}

/// Seven tracks at positions 0–6: six short tones (one shorter than a slice, one with a tempo
/// label, so it gets two time-stretched copies) and, at position 3, a file that cannot be
/// decoded (skipped). `special` names a position whose file is left for the caller to make.
fn catalogue(root: &Path, special: Option<usize>) -> PathBuf {
    let audio = root.join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let tracks: [(&str, f64, f32, &str); 7] = [
        ("a", 2.5, 220.0, "120"),
        ("b", 4.0, 330.0, ""),
        ("c", 1.0, 440.0, ""),
        ("broken", 0.0, 0.0, ""),
        ("d", 3.5, 550.0, ""),
        ("e", 2.0, 660.0, ""),
        ("f", 5.0, 770.0, ""),
    ];
    let mut manifest = String::from("path,split,tempo\n");
    for (position, (name, seconds, hz, tempo)) in tracks.iter().enumerate() {
        let file = audio.join(format!("{name}.wav"));
        if special != Some(position) {
            if *name == "broken" {
                std::fs::write(&file, b"RIFF this is not a wav file at all").unwrap();
            } else {
                write_wav(&file, &tone(*seconds, *hz), 16000).unwrap();
            }
        }
        let split = if position % 2 == 0 { "train" } else { "test" };
        manifest.push_str(&format!("audio/{name}.wav,{split},{tempo}\n"));
    }
    let path = root.join("catalogue.csv");
    std::fs::write(&path, manifest).unwrap();
    path
}

fn embed(model: &Path, input: &Path, out: &Path) -> Command {
    let mut command = loev();
    command
        .args(["embed", "--quiet", "--model"])
        .arg(model)
        .arg(input)
        .arg("-o")
        .arg(out);
    command
}

fn merge(shards: &[PathBuf], out: &Path) -> Command {
    let mut command = loev();
    command.args(["embed", "merge"]).args(shards).arg("-o").arg(out);
    command
}

/// Every file under `dir` (hidden ones included), by path relative to it, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, files);
            } else {
                files.insert(
                    path.strip_prefix(base).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// `diff -r`: the same file names, each with the same bytes.
fn assert_same_folder(expected: &Path, actual: &Path) {
    let (a, b) = (snapshot(expected), snapshot(actual));
    let names = |s: &BTreeMap<PathBuf, Vec<u8>>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&a),
        names(&b),
        "{} and {} hold different files",
        expected.display(),
        actual.display()
    );
    for (name, bytes) in &a {
        assert!(
            &b[name] == bytes,
            "{} differs between {} and {}:\n{}\n---\n{}",
            name.display(),
            expected.display(),
            actual.display(),
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&b[name])
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for (name, bytes) in snapshot(from) {
        let path = to.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn shard_dirs(root: &Path, name: &str, n: usize) -> Vec<PathBuf> {
    (0..n).map(|k| root.join(format!("{name}/{k:05}"))).collect()
}

/// Embeds `input` as N shards into `root/name/KKKKK`, K from N−1 down to 0 (order must not matter).
fn embed_shards(model: &Path, input: &Path, root: &Path, name: &str, n: usize, extra: &[&str]) -> Vec<PathBuf> {
    let dirs = shard_dirs(root, name, n);
    for k in (0..n).rev() {
        run_ok(
            embed(model, input, &dirs[k])
                .args(["--shard", &format!("{k}/{n}")])
                .args(extra),
        );
    }
    dirs
}

#[test]
fn shards_merged_equal_one_unsharded_run_byte_for_byte() {
    let root = temp_dir("equal");
    let input = catalogue(&root, None);
    let model = tiny_model_file(&root.join("model.safetensors"), 1, FrontEndConfig::default());
    for (format, ns) in [("safetensors", &[1usize, 2, 3][..]), ("npy", &[2][..])] {
        let whole = root.join(format!("whole-{format}"));
        run_ok(embed(&model, &input, &whole).args(["--format", format]));
        // The unsharded folder is what it was before sharding: no skipped.csv (the broken file
        // is only reported), no journal left.
        assert!(!whole.join("skipped.csv").exists());
        assert!(!whole.join("progress.jsonl").exists());
        assert!(
            std::fs::read_to_string(whole.join("stretched.csv"))
                .unwrap()
                .contains("a@stretch1")
        );
        for &n in ns {
            let name = format!("{format}-{n}");
            let shards = embed_shards(
                &model,
                &input,
                &root,
                &format!("{name}/shards"),
                n,
                &["--format", format],
            );
            let meta = std::fs::read_to_string(shards[n - 1].join("embeddings.json")).unwrap();
            assert!(meta.contains(&format!("\"index\": {}", n - 1)) && meta.contains(&format!("\"count\": {n}")));
            assert!(
                meta.contains("\"input_tracks\": 7") && meta.contains("\"model_checksum\""),
                "{meta}"
            );
            // The broken file (position 3) is listed by the one shard that holds it; no shard
            // keeps its journal once finished.
            for (k, shard) in shards.iter().enumerate() {
                assert!(!shard.join("progress.jsonl").exists(), "{}", shard.display());
                let listed = std::fs::read_to_string(shard.join("skipped.csv")).unwrap_or_default();
                assert_eq!(
                    listed.contains("audio/broken.wav,audio/broken,3,"),
                    k == 3 % n,
                    "{}: {listed}",
                    shard.display()
                );
            }
            let before: Vec<_> = shards.iter().map(|s| snapshot(s)).collect();
            let merged = root.join(format!("{name}/all"));
            let stdout = run_ok(&mut merge(&shards, &merged));
            assert!(stdout.contains(&format!("merged {n} shards: 6 tracks")), "{stdout}");
            assert!(
                stdout.contains("skipped 1 files:") && stdout.contains("broken.wav"),
                "{stdout}"
            );
            assert_same_folder(&whole, &merged);
            let after: Vec<_> = shards.iter().map(|s| snapshot(s)).collect();
            assert!(before == after, "merging changed a shard folder");
        }
    }
}

#[cfg(unix)]
#[test]
fn a_killed_shard_resumes_with_the_tracks_it_has() {
    let root = temp_dir("resume");
    // Shard 0/2 holds positions 0, 2, 4, 6. Position 4 is a named pipe: opening it blocks until
    // a writer comes, so the shard stops there, after journaling positions 0 and 2, until the
    // test kills it.
    let input = catalogue(&root, Some(4));
    let blocking = root.join("audio/d.wav");
    let status = Command::new("mkfifo").arg(&blocking).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", blocking.display());
    let model = tiny_model_file(&root.join("model.safetensors"), 1, FrontEndConfig::default());
    let shards = shard_dirs(&root, "shards", 2);
    let mut child = embed(&model, &input, &shards[0])
        .args(["--shard", "0/2"])
        .spawn()
        .expect("loev starts");
    let journal = shards[0].join("progress.jsonl");
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&journal)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 3 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the shard ended before it reached the pipe"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no progress after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!shards[0].join("embeddings.json").exists());
    let refused = run_err(&mut merge(&shards, &root.join("early")));
    assert!(refused.contains("unfinished"), "{refused}");

    std::fs::remove_file(&blocking).unwrap();
    write_wav(&blocking, &tone(3.5, 550.0), 16000).unwrap();
    let stdout = run_ok(embed(&model, &input, &shards[0]).args(["--shard", "0/2"]));
    assert!(
        stdout.contains("4 tracks of shard 0/2") && stdout.contains("2 of them taken over"),
        "{stdout}"
    );
    run_ok(embed(&model, &input, &shards[1]).args(["--shard", "1/2"]));
    let merged = root.join("all");
    run_ok(&mut merge(&shards, &merged));
    let whole = root.join("whole");
    run_ok(&mut embed(&model, &input, &whole));
    assert_same_folder(&whole, &merged);
}

#[test]
fn merge_refuses_what_is_not_the_shards_of_one_embedding() {
    let root = temp_dir("refusals");
    let input = catalogue(&root, None);
    let model = tiny_model_file(&root.join("model.safetensors"), 1, FrontEndConfig::default());
    let shards = embed_shards(&model, &input, &root, "shards", 2, &[]);
    let out = root.join("all");
    let refuse = |dirs: &[PathBuf], expected: &[&str]| {
        let stderr = run_err(&mut merge(dirs, &out));
        for part in expected {
            assert!(stderr.contains(part), "expected `{part}` in:\n{stderr}");
        }
        assert!(
            !out.join("embeddings.json").exists(),
            "a refused merge wrote {}",
            out.display()
        );
    };
    let name = |dir: &Path| dir.display().to_string();

    // --shard itself.
    for bad in ["2/2", "0/0", "1"] {
        let stderr = run_err(embed(&model, &input, &root.join("bad")).args(["--shard", bad]));
        assert!(stderr.contains(&format!("--shard {bad}")), "{stderr}");
    }
    // A missing shard, and the same shard twice.
    refuse(&shards[..1], &["shard 1/2", "missing"]);
    let twin = root.join("twin");
    copy_dir(&shards[0], &twin);
    refuse(
        &[shards[0].clone(), twin.clone(), shards[1].clone()],
        &[&name(&shards[0]), &name(&twin), "both shard 0/2"],
    );
    // Shards of another N, input, model and front end.
    let three = embed_shards(&model, &input, &root, "three", 3, &[]);
    refuse(
        &[shards[0].clone(), three[1].clone()],
        &[&name(&three[1]), "number of shards N"],
    );
    let other_input = root.join("other.csv");
    let text = std::fs::read_to_string(&input).unwrap().replace("test,", "valid,");
    std::fs::write(&other_input, text).unwrap();
    let foreign = root.join("other-input");
    run_ok(embed(&model, &other_input, &foreign).args(["--shard", "1/2"]));
    refuse(&[shards[0].clone(), foreign.clone()], &[&name(&foreign), "input"]);
    let other_model = tiny_model_file(&root.join("other-model.safetensors"), 2, FrontEndConfig::default());
    let foreign = root.join("other-model");
    run_ok(embed(&other_model, &input, &foreign).args(["--shard", "1/2"]));
    refuse(&[shards[0].clone(), foreign.clone()], &[&name(&foreign), "model"]);
    let frontend = FrontEndConfig {
        fmax: 7000.0,
        ..FrontEndConfig::default()
    };
    let other_frontend = tiny_model_file(&root.join("other-frontend.safetensors"), 1, frontend);
    let foreign = root.join("other-frontend");
    run_ok(embed(&other_frontend, &input, &foreign).args(["--shard", "1/2"]));
    refuse(&[shards[0].clone(), foreign.clone()], &[&name(&foreign), "front end"]);
    // Shards embedded with other options.
    for (option, value, what) in [
        ("--hop", "1.5", "slicing"),
        ("--stretch-copies", "1", "stretched copies"),
        ("--stretch-seed", "7", "stretched copies"),
        ("--format", "npy", "format"),
    ] {
        let foreign = root.join(format!("other{option}"));
        run_ok(embed(&model, &input, &foreign).args(["--shard", "1/2", option, value]));
        refuse(&[shards[0].clone(), foreign.clone()], &[&name(&foreign), what]);
    }
    // A folder that is not a shard.
    let whole = root.join("whole");
    run_ok(&mut embed(&model, &input, &whole));
    refuse(&[shards[0].clone(), whole.clone()], &[&name(&whole), "is not a shard"]);
    // An unfinished shard: killed before its embeddings.json, or with tracks missing from its
    // index.
    let killed = root.join("killed");
    copy_dir(&shards[1], &killed);
    std::fs::remove_file(killed.join("embeddings.json")).unwrap();
    refuse(&[shards[0].clone(), killed.clone()], &[&name(&killed), "unfinished"]);
    let short = root.join("short");
    copy_dir(&shards[1], &short);
    let index = std::fs::read_to_string(short.join("index.csv")).unwrap();
    let kept: Vec<&str> = index.lines().filter(|l| !l.contains("/00005_")).collect();
    assert_eq!(kept.len() + 1, index.lines().count(), "{index}");
    std::fs::write(short.join("index.csv"), kept.join("\n") + "\n").unwrap();
    refuse(
        &[shards[0].clone(), short.clone()],
        &[&name(&short), "unfinished shard", "account for 2 of the 3"],
    );
    // Overlapping shards: shard 1's folder with a track of shard 0 added (named as a track of
    // the wrong shard, before the two folders are compared).
    let overlap = root.join("overlap");
    copy_dir(&shards[1], &overlap);
    let index0 = std::fs::read_to_string(shards[0].join("index.csv")).unwrap();
    let row = index0.lines().find(|l| l.contains("/00002_")).unwrap();
    let file = row.split(',').next().unwrap();
    std::fs::copy(shards[0].join(file), overlap.join(file)).unwrap();
    let mut index1 = std::fs::read_to_string(overlap.join("index.csv")).unwrap();
    index1.push_str(row);
    index1.push('\n');
    std::fs::write(overlap.join("index.csv"), index1).unwrap();
    refuse(
        &[shards[0].clone(), overlap.clone()],
        &[
            &name(&overlap),
            "position 2, which belongs to shard 0/2, not to this shard 1/2",
            "must not overlap",
        ],
    );
    // The output inside a shard: refused, the shard untouched.
    let before = snapshot(&shards[0]);
    let stderr = run_err(&mut merge(&shards, &shards[0].join("all")));
    assert!(stderr.contains(&name(&shards[0])), "{stderr}");
    assert!(before == snapshot(&shards[0]), "a refused merge changed a shard");
    // And the real shards still merge.
    run_ok(&mut merge(&shards, &out));
    assert_same_folder(&whole, &out);
}
