//! Output folders that loev owns (issue 28, class 3): a second `loev embed` into a folder that
//! another is writing is refused with the writer's PID; after a run the index and the track
//! files agree exactly, also after a run was killed and the next one has fewer tracks; a folder
//! of the user's files is written only with `--force`, and then only loev's own files change.

mod common;
use common::{loev, run_ok, temp_dir};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A test-size model exported from a two-step run, and a folder of five 6 s corpus tracks.
fn model_and_audio(root: &Path) -> (PathBuf, PathBuf) {
    let model = common::exported_model(root);
    let audio = root.join("audio");
    std::fs::create_dir_all(&audio).expect("folder");
    let corpus = loev_corpus::CorpusConfig::default();
    for i in 0..5 {
        let track = loev_corpus::generate_track(11, i, &corpus);
        let samples = &track.audio[..track.audio.len().min(6 * 16_000)];
        loev_audio::wav::write_wav(&audio.join(format!("t{i}.wav")), samples, 16_000).expect("wav");
    }
    (model, audio)
}

fn embed(model: &Path, input: &Path, out: &Path) -> Command {
    let mut command = loev();
    command
        .args(["embed", "--quiet", "--stretch-copies", "0", "--batch", "1", "--model"])
        .arg(model)
        .arg("-o")
        .arg(out)
        .arg(input);
    command
}

/// Sends `signal` to a child process (`kill -STOP`, `-CONT`, `-KILL`).
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal}");
}

/// Starts `command` (an embed) and stops it (SIGSTOP) as soon as it holds the folder's lock and
/// has marked the folder unfinished, so that it is caught in the middle of writing whatever the
/// machine's speed.
fn start_and_stop_while_writing(mut command: Command, folder: &Path) -> Child {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let lock = folder.join(".loev.lock");
    let start = Instant::now();
    // The lock is held once the file names the writer (it is created, then locked, then
    // written), and the writing has begun once the finished folder's metadata is gone.
    let pid = child.id().to_string();
    let writing = || {
        std::fs::read_to_string(&lock).is_ok_and(|text| text.trim() == pid) && !folder.join("embeddings.json").exists()
    };
    while !writing() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the writer never took its lock"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the writer ended before taking its lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&child, "STOP");
    child
}

/// The track files of an embedding folder, and the files its index lists (relative names).
fn tracks_and_index(folder: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let tracks = std::fs::read_dir(folder.join("tracks"))
        .expect("tracks/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let index = std::fs::read_to_string(folder.join("index.csv")).expect("index.csv");
    let listed = index
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .filter_map(|path| Path::new(path).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    (tracks, listed)
}

/// Acceptance 4 of issue 28: two concurrent `loev embed` into one folder. The second is
/// refused with the PID of the first, writes nothing, and the first finishes its folder.
#[test]
fn a_second_embed_into_a_folder_being_written_is_refused_with_the_holders_pid() {
    let root = temp_dir("concurrent");
    let (model, audio) = model_and_audio(&root);
    let out = root.join("embeddings");
    let mut first = start_and_stop_while_writing(embed(&model, &audio, &out), &out);
    let second = embed(&model, &audio.join("t0.wav"), &out).output().expect("runs");
    signal(&first, "CONT");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("PID {}", first.id())) && stderr.contains("embeddings"),
        "the refusal names the holder: {stderr}"
    );
    assert!(first.wait().expect("wait").success(), "the first embed finishes");
    let (tracks, listed) = tracks_and_index(&out);
    assert_eq!(listed.len(), 5);
    assert_eq!(tracks, listed, "the folder holds the first run's tracks only");
    std::fs::remove_dir_all(&root).ok();
}

/// A run killed in the middle (kill -9) leaves a folder that says it is unfinished, and the
/// next run, with fewer tracks, leaves exactly the tracks its index lists.
#[test]
fn after_a_killed_run_and_a_rerun_with_fewer_tracks_index_and_tracks_agree() {
    let root = temp_dir("rerun");
    let (model, audio) = model_and_audio(&root);
    let out = root.join("embeddings");
    run_ok(&mut embed(&model, &audio, &out));
    let (tracks, listed) = tracks_and_index(&out);
    assert_eq!((tracks.len(), listed.len()), (5, 5));

    // Killed while writing a second time.
    let mut killed = start_and_stop_while_writing(embed(&model, &audio, &out), &out);
    signal(&killed, "KILL");
    let _ = killed.wait();
    let probe = loev().arg("probe").arg(&out).output().expect("runs");
    let stderr = String::from_utf8_lossy(&probe.stderr);
    assert_eq!(probe.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unfinished") && stderr.contains("run it again"),
        "{stderr}"
    );

    // Again, with two of the five tracks (a manifest), and in the npy format.
    let manifest = root.join("two.csv");
    std::fs::write(&manifest, "path,id,tempo\naudio/t3.wav,t3,120\naudio/t1.wav,t1,90\n").expect("manifest");
    let stderr = run_ok(embed(&model, &manifest, &out).args(["--format", "npy"]));
    assert!(
        stderr.contains(&format!("process {}, which is gone", killed.id())),
        "the killed writer is named: {stderr}"
    );
    let (tracks, listed) = tracks_and_index(&out);
    let folders: BTreeSet<String> = tracks.iter().cloned().collect();
    assert_eq!(folders.len(), 2, "two track folders: {folders:?}");
    assert_eq!(
        listed,
        BTreeSet::from(["timestamps.npy".to_string()]),
        "npy tracks list timestamps.npy"
    );
    for folder in &folders {
        assert!(out.join("tracks").join(folder).join("timestamps.npy").is_file());
    }
    assert!(!out.join(".loev.lock").exists(), "the lock is released");
    run_ok(loev().arg("retrieve").arg(&out).args(["--k", "1"]));
    std::fs::remove_dir_all(&root).ok();
}

/// A folder of the user's files is refused without `--force`; with it, loev writes its own
/// files and leaves the user's alone. The input folder is refused even with `--force`.
#[test]
fn a_users_folder_needs_force_and_keeps_its_files() {
    let root = temp_dir("force");
    let (model, audio) = model_and_audio(&root);
    let users = root.join("mine");
    std::fs::create_dir_all(users.join("tracks")).expect("folder");
    std::fs::write(users.join("index.csv"), "my,own\n").expect("file");
    std::fs::write(users.join("tracks").join("keep.txt"), "mine too").expect("file");
    let refused = embed(&model, &audio, &users).output().expect("runs");
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(users.join("index.csv")).expect("file"),
        "my,own\n"
    );

    // --force replaces what loev writes (index.csv is loev's name); its pruning of old tracks
    // removes only names it gives to track files.
    run_ok(embed(&model, &audio, &users).arg("--force"));
    let (mut tracks, listed) = tracks_and_index(&users);
    assert!(tracks.remove("keep.txt"), "the user's file in tracks/ is kept");
    assert_eq!(tracks, listed);
    let into_input = embed(&model, &audio, &audio).arg("--force").output().expect("runs");
    let stderr = String::from_utf8_lossy(&into_input.stderr);
    assert_eq!(into_input.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("never writes into its input"), "{stderr}");
    assert!(!audio.join("index.csv").exists() && !audio.join(".loev-output").exists());
    std::fs::remove_dir_all(&root).ok();
}
