//! Reliability of `loev cache build` and `loev embed` through the binary: folder walks with
//! link loops and dangling links, the lock on a cache being built, clean-up after failed and
//! killed builds, and messages that say what is wrong and what to do.

mod common;
use common::{loev, output_text, run_err, temp_dir, tone};

use std::path::{Path, PathBuf};
use std::process::Command;

use loev_audio::wav::write_wav;
use loev_core::lock::FolderLock;

fn run_ok(command: &mut Command) -> (String, String) {
    let output = command.output().expect("the loev binary runs");
    let (stdout, stderr) = output_text(&output);
    assert!(output.status.success(), "{command:?} failed:\n{stderr}\n{stdout}");
    (stdout, stderr)
}

/// `music/a.wav`, `music/sub/b.wav`, plus `music/self -> .` (a loop), `music/sub/up -> ..` (a
/// second loop) and `music/gone.wav -> missing.wav` (dangling).
#[cfg(unix)]
fn looping_tree(root: &Path) -> PathBuf {
    use std::os::unix::fs::symlink;
    let music = root.join("music");
    std::fs::create_dir_all(music.join("sub")).unwrap();
    write_wav(&music.join("a.wav"), &tone(4.0, 220.0), 16000).unwrap();
    write_wav(&music.join("sub/b.wav"), &tone(4.0, 330.0), 16000).unwrap();
    symlink(".", music.join("self")).unwrap();
    symlink("..", music.join("sub/up")).unwrap();
    symlink("missing.wav", music.join("gone.wav")).unwrap();
    music
}

fn model_file(root: &Path) -> PathBuf {
    common::tiny_model_file(
        &root.join("model.safetensors"),
        1,
        loev_audio::frontend::FrontEndConfig::default(),
    )
}

#[cfg(unix)]
#[test]
fn cache_build_lists_each_track_once_and_reports_loops_and_dangling_links() {
    let root = temp_dir("cache-walk");
    let music = looping_tree(&root);
    let cache = root.join("cache");
    let (stdout, _) = run_ok(loev().args(["cache", "build", "--quiet", "-o"]).arg(&cache).arg(&music));
    assert!(stdout.contains("tracks: 2 "), "{stdout}");
    let info = run_ok(loev().args(["cache", "info", "--tracks"]).arg(&cache)).0;
    let ids: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|l| l.ends_with(".wav"))
        .collect();
    assert_eq!(ids, vec!["a.wav", "sub/b.wav"], "{info}");
    let skipped = std::fs::read_to_string(cache.join("skipped.csv")).unwrap();
    for entry in ["gone.wav", "self", "up"] {
        assert!(
            skipped.lines().any(|l| l.contains(entry)),
            "{entry} missing from skipped.csv:\n{skipped}"
        );
    }
    assert!(
        skipped.contains("broken link") && skipped.contains("link loop"),
        "{skipped}"
    );
    std::fs::remove_dir_all(&root).ok();
}

#[cfg(unix)]
#[test]
fn embed_lists_each_track_once_and_reports_loops_and_dangling_links() {
    let root = temp_dir("embed-walk");
    let music = looping_tree(&root);
    let model = model_file(&root);
    let out = root.join("emb");
    let (stdout, _) = run_ok(
        loev()
            .args(["embed", "--quiet", "--model"])
            .arg(&model)
            .arg("-o")
            .arg(&out)
            .arg(&music),
    );
    assert!(stdout.contains("embedded 2 tracks"), "{stdout}");
    let index = std::fs::read_to_string(out.join("index.csv")).unwrap();
    assert_eq!(index.lines().count(), 3, "a header and two tracks:\n{index}");
    for entry in ["gone.wav", "self", "up"] {
        assert!(
            stdout.lines().any(|l| l.contains(entry)),
            "{entry} is not reported:\n{stdout}"
        );
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_second_build_into_the_same_cache_is_refused_with_the_holders_pid() {
    let root = temp_dir("lock");
    let music = root.join("music");
    std::fs::create_dir_all(&music).unwrap();
    write_wav(&music.join("a.wav"), &tone(2.0, 220.0), 16000).unwrap();
    let cache = root.join("cache");
    // This process plays the first build: it holds the lock that a build of `cache` takes.
    let held = FolderLock::acquire(&root.join(".cache.lock"), &cache).unwrap();
    let stderr = run_err(loev().args(["cache", "build", "--quiet", "-o"]).arg(&cache).arg(&music));
    assert!(stderr.contains(&format!("PID {}", std::process::id())), "{stderr}");
    assert!(stderr.contains("in use by another loev process"), "{stderr}");
    assert!(!cache.exists());
    drop(held);
    run_ok(loev().args(["cache", "build", "--quiet", "-o"]).arg(&cache).arg(&music));
    // The lock is released when the build ends: nothing but the cache and the source remain.
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["cache", "music"]);
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn partial_builds_of_dead_processes_are_removed_and_reported() {
    let root = temp_dir("stale");
    let music = root.join("music");
    std::fs::create_dir_all(&music).unwrap();
    write_wav(&music.join("a.wav"), &tone(2.0, 220.0), 16000).unwrap();
    // What a build killed mid-way leaves (a PID above Linux's pid_max is never running).
    let stale = root.join(".cache.building-999999999");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("samples.f32"), [0u8; 64]).unwrap();
    let stale_old = root.join(".cache.old-999999998");
    std::fs::create_dir_all(&stale_old).unwrap();
    let cache = root.join("cache");
    let (_, stderr) = run_ok(loev().args(["cache", "build", "--quiet", "-o"]).arg(&cache).arg(&music));
    assert!(!stale.exists() && !stale_old.exists());
    assert!(stderr.contains(".cache.building-999999999"), "{stderr}");
    assert!(stderr.contains(".cache.old-999999998"), "{stderr}");
    std::fs::remove_dir_all(&root).ok();
}

/// A write error mid-way (here the file-size limit, which fails writes as a full disk does)
/// leaves no partial output, and the message names the file once with its cause once.
#[cfg(target_os = "linux")]
#[test]
fn a_build_that_fails_while_writing_leaves_nothing_behind() {
    let root = temp_dir("full");
    let music = root.join("music");
    std::fs::create_dir_all(&music).unwrap();
    for i in 0..3 {
        write_wav(&music.join(format!("{i}.wav")), &tone(20.0, 200.0 + i as f32), 16000).unwrap();
    }
    let cache = root.join("cache");
    // 3 × 20 s of 16 kHz f32 is 3.8 MB; writes fail past 1 MiB (SIGXFSZ ignored, so the write
    // returns an error instead of killing the process).
    let script = format!(
        "trap '' XFSZ; ulimit -f 1024; exec \"$0\" cache build --quiet -o '{}' '{}'",
        cache.display(),
        music.display()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_loev"))
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&output);
    assert!(!output.status.success(), "the build must fail:\n{stdout}\n{stderr}");
    assert!(stderr.contains("samples.f32"), "{stderr}");
    let names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["music"], "leftovers after a failed build");
    assert_eq!(
        stderr.matches("File too large").count(),
        1,
        "cause printed once:\n{stderr}"
    );
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn messages_say_what_was_given_and_what_to_pass() {
    let root = temp_dir("messages");
    let one = root.join("one.wav");
    write_wav(&one, &tone(2.0, 220.0), 16000).unwrap();
    let stderr = run_err(loev().args(["cache", "build", "-o"]).arg(root.join("c")).arg(&one));
    assert!(
        stderr.contains("single audio file") && stderr.contains("folder"),
        "{stderr}"
    );
    assert!(!stderr.contains("UTF-8"), "{stderr}");

    let not_a_run = root.join("not-a-run");
    std::fs::create_dir_all(&not_a_run).unwrap();
    let stderr = run_err(
        loev()
            .args(["embed", "--quiet", "--run"])
            .arg(&not_a_run)
            .arg("-o")
            .arg(root.join("e"))
            .arg(&one),
    );
    assert!(
        stderr.contains("is not a run folder") && stderr.contains("config.toml"),
        "{stderr}"
    );
    assert!(!stderr.contains("resume"), "{stderr}");

    // A missing file: the OS error is printed once.
    let model = model_file(&root);
    let manifest = root.join("list.csv");
    std::fs::write(&manifest, "path\nmissing.wav\n").unwrap();
    let stderr = run_err(
        loev()
            .args(["embed", "--quiet", "--model"])
            .arg(&model)
            .arg("-o")
            .arg(root.join("e2"))
            .arg(&manifest),
    );
    assert!(stderr.contains("missing.wav"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
    std::fs::remove_dir_all(&root).ok();
}
