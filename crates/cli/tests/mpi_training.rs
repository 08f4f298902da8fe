//! `loev pretrain` under a real `mpirun`: N ranks on this machine's CPU train one model together
//! and give what one process gives on the same global batch; a rank killed mid-run ends the job
//! and the run resumes at another number of ranks; ranks started on different commands are
//! refused before anything is written.
//!
//! These tests need an MPI launcher and are ignored by the README's test command (which must pass
//! without MPI); `.ci/run`'s MPI step runs them under Open MPI and MPICH (`LOEV_TEST_MPIRUN`).
//!
//! Tolerances. The ranks compute the same sums as one process in another order (each rank's
//! gradients, then the allreduce), so losses agree to float rounding: 1e-5 relative. Weights are
//! compared after Adam, which divides each gradient by its own running scale: for a parameter
//! whose gradient is rounding noise by construction (a weight-standardised convolution with one
//! input channel) the update's sign can flip, moving it by up to the learning rate per step.
//! Hence the bound: every weight within `steps × learning rate` of one process's, and the
//! weights as a whole within 1e-3 of their scale (relative L2 distance).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::{pretrain, run_ok, small_cache, small_config, temp_dir, write_config};
use loev_mpi::fixtures::{Job, Launcher, copy_with_one_more_byte, launcher};
use loev_train::TrainConfig;

/// How long a job may take before the test calls it a hang.
const DEADLINE: Duration = Duration::from_secs(300);

/// `mpirun -np N loev ARGS…`.
fn ranks(launcher: &Launcher, np: usize, args: &[&str]) -> Command {
    let mut command = launcher.command();
    command
        .arg("-np")
        .arg(np.to_string())
        .arg(env!("CARGO_BIN_EXE_loev"))
        .args(args);
    command
}

/// `loev pretrain --no-progress --config CONFIG --out RUN EXTRA…`'s arguments.
fn pretrain_args<'a>(config: &'a str, run: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["pretrain", "--no-progress", "--config", config, "--out", run];
    args.extend_from_slice(extra);
    args
}

fn run_job(command: Command) -> (ExitStatus, String) {
    let (status, output, _) = Job::start(command).finish(DEADLINE);
    (status, output)
}

/// The test-size LOEV-PS run on 3 anchors × 2 views = 6 views (2 or 3 per rank), `steps` steps,
/// a checkpoint every 2.
fn config(root: &Path, steps: u64) -> (TrainConfig, PathBuf) {
    let mut config = small_config(&small_cache(root), steps);
    config.data.anchors = 3;
    config.validate().expect("valid");
    let path = write_config(root, &config);
    (config, path)
}

/// Every file of a run folder, relative to it, with the lock file left out.
fn layout(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("inside").display().to_string();
                if relative != ".loev.lock" {
                    out.push(relative);
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

/// Each metrics line's step and per-head losses.
fn losses(run: &Path) -> Vec<(u64, Vec<f64>)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let step = value["step"].as_u64().expect("step");
            let heads = value["heads"].as_object().expect("heads");
            (
                step,
                heads.values().map(|h| h["loss"].as_f64().expect("loss")).collect(),
            )
        })
        .collect()
}

/// The newest checkpoint's weights, by tensor name.
fn final_weights(run: &Path) -> BTreeMap<String, Vec<f32>> {
    let checkpoints = run.join("checkpoints");
    let mut steps: Vec<PathBuf> = std::fs::read_dir(&checkpoints)
        .expect("checkpoints")
        .map(|e| e.expect("entry").path())
        .collect();
    steps.sort();
    let newest = steps.last().expect("a checkpoint");
    let bytes = std::fs::read(newest.join("model.safetensors")).expect("model file");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
}

/// Checks `run`'s weights and losses against the one-process run `reference` (module docs).
fn assert_same_training(run: &Path, reference: &Path, steps: u64, learning_rate: f64, what: &str) {
    let (a, b) = (losses(run), losses(reference));
    assert_eq!(a.len(), b.len(), "{what}: metrics lines");
    for ((step_a, heads_a), (step_b, heads_b)) in a.iter().zip(&b) {
        assert_eq!(step_a, step_b, "{what}");
        for (x, y) in heads_a.iter().zip(heads_b) {
            assert!(
                (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                "{what}: step {step_a} loss {x} vs {y}"
            );
        }
    }
    let (a, b) = (final_weights(run), final_weights(reference));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: tensors"
    );
    let bound = steps as f64 * learning_rate;
    let (mut distance, mut scale, mut worst) = (0.0f64, 0.0f64, 0.0f64);
    for (name, x) in &a {
        for (p, q) in x.iter().zip(&b[name]) {
            let d = f64::from(p - q).abs();
            worst = worst.max(d);
            assert!(d <= bound, "{what}: {name} differs by {d} (bound {bound})");
            distance += d * d;
            scale += f64::from(*q) * f64::from(*q);
        }
    }
    let relative = (distance / scale).sqrt();
    eprintln!("{what}: largest weight difference {worst:.3e}, relative L2 distance {relative:.3e}");
    assert!(relative <= 1e-3, "{what}: relative L2 distance {relative}");
}

/// `mpirun -np np` against one process, on the same configuration.
fn ranks_equal_one_process(np: usize) {
    let root = temp_dir(&format!("equal-{np}"));
    let steps = 4;
    let (config, path) = config(&root, steps);
    let one = root.join("one");
    run_ok(&mut pretrain(&path, &one));
    let many = root.join("many");
    let path_text = path.display().to_string();
    let many_text = many.display().to_string();
    let launcher = launcher();
    let (status, output) = run_job(ranks(&launcher, np, &pretrain_args(&path_text, &many_text, &[])));
    assert!(status.success(), "{np} ranks: {status}\n{output}");
    for rank in 0..np {
        assert!(
            output.contains(&format!("rank {rank} of {np}: pid ")),
            "rank {rank} did not report:\n{output}"
        );
    }
    assert_eq!(
        output.matches("run folder: ").count(),
        1,
        "rank 0 alone reports:\n{output}"
    );
    assert_eq!(layout(&many), layout(&one), "the run folder's layout");
    assert_eq!(
        std::fs::read_to_string(many.join("config.toml")).expect("config"),
        std::fs::read_to_string(one.join("config.toml")).expect("config")
    );
    let learning_rate = config.optimizer.learning_rate;
    assert_same_training(&many, &one, steps, learning_rate, &format!("{np} ranks"));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn two_ranks_train_as_one_process() {
    ranks_equal_one_process(2);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn three_ranks_train_as_one_process() {
    ranks_equal_one_process(3);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn a_killed_rank_ends_the_job_and_the_run_resumes_on_another_number_of_ranks() {
    let root = temp_dir("kill");
    let steps = 24;
    let (config, path) = config(&root, steps);
    let run = root.join("run");
    let (path_text, run_text) = (path.display().to_string(), run.display().to_string());
    let launcher = launcher();
    let mut job = Job::start(ranks(&launcher, 2, &pretrain_args(&path_text, &run_text, &[])));
    job.wait_for(Duration::from_secs(120), |output| {
        output.matches(" of 2: pid ").count() == 2
    });
    let pid_of = |output: &str, rank: usize| -> u32 {
        let prefix = format!("rank {rank} of 2: pid ");
        let line = output
            .lines()
            .find(|l| l.starts_with(&prefix))
            .expect("the rank's line");
        line[prefix.len()..]
            .split(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a pid")
    };
    let pids = [pid_of(&job.output, 0), pid_of(&job.output, 1)];
    // Kill rank 1 once the run has a checkpoint past step 2, mid-way through training.
    let checkpoints = run.join("checkpoints");
    let waited = Instant::now();
    while !checkpoints.join("step-00000004").exists() {
        job.take_lines();
        assert!(
            job.child.try_wait().expect("wait").is_none(),
            "the job ended before step 4:\n{}",
            job.output
        );
        assert!(waited.elapsed() < DEADLINE, "no checkpoint at step 4:\n{}", job.output);
        std::thread::sleep(Duration::from_millis(20));
    }
    job.kill_rank(&launcher, &pids, 1);
    let reached = losses(&run).last().map_or(0, |(step, _)| *step);
    assert!(reached < steps, "the run finished before the kill (step {reached})");

    // Resumed by 3 ranks, from the last checkpoint the 2 wrote.
    let (status, output) = run_job(ranks(
        &launcher,
        3,
        &["pretrain", "--no-progress", "--resume", &run_text],
    ));
    assert!(status.success(), "resume on 3 ranks: {status}\n{output}");
    assert!(output.contains("resuming "), "{output}");
    let logged: Vec<u64> = losses(&run).iter().map(|(step, _)| *step).collect();
    assert_eq!(logged, (1..=steps).collect::<Vec<_>>(), "every step logged once");

    // The same as one process training the whole run without interruption.
    let one = root.join("one");
    run_ok(&mut pretrain(&path, &one));
    assert_same_training(
        &run,
        &one,
        steps,
        config.optimizer.learning_rate,
        "killed on 2 ranks, resumed on 3",
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn ranks_on_different_commands_are_refused_before_anything_is_written() {
    let root = temp_dir("mismatch");
    let (mut config, path) = config(&root, 2);
    config.seed += 1;
    let other = root.join("other.toml");
    std::fs::write(&other, config.to_toml()).expect("config");
    let run = root.join("run");
    let (path_text, other_text, run_text) = (
        path.display().to_string(),
        other.display().to_string(),
        run.display().to_string(),
    );
    let loev = Path::new(env!("CARGO_BIN_EXE_loev"));
    let command = launcher().one_rank_each(&[
        (loev, &pretrain_args(&path_text, &run_text, &[])),
        (loev, &pretrain_args(&other_text, &run_text, &[])),
    ]);
    let (status, output) = run_job(command);
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("configuration digest differs") && output.contains("none of them starts"),
        "{output}"
    );
    assert!(!run.exists(), "the refused job wrote {}", run.display());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn more_ranks_than_views_are_refused() {
    let root = temp_dir("too-many");
    let (_, path) = config(&root, 2);
    let run = root.join("run");
    let (path_text, run_text) = (path.display().to_string(), run.display().to_string());
    let (status, output) = run_job(ranks(&launcher(), 7, &pretrain_args(&path_text, &run_text, &[])));
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("the batch has 6 views") && output.contains("7 ranks"),
        "{output}"
    );
    assert!(!run.join("metrics.jsonl").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// Without a launcher, `loev pretrain` never opens libmpi: a missing one changes nothing.
#[test]
fn a_process_alone_needs_no_mpi() {
    let root = temp_dir("alone");
    let (_, path) = config(&root, 1);
    let run = root.join("run");
    let output = pretrain(&path, &run)
        .env("LOEV_MPI_LIBRARY", "/nonexistent/libmpi.so.40")
        .output()
        .expect("loev runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("rank 0"));
    let _ = std::fs::remove_dir_all(&root);
}

/// A rank that fails on its own after MPI has started (here: its device does not exist, while
/// rank 0's does) says so and ends the job: rank 0, waiting for it, does not hang.
#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn a_rank_that_fails_alone_ends_the_job() {
    let root = temp_dir("fails-alone");
    let (_, path) = config(&root, 2);
    let run = root.join("run");
    let (path_text, run_text) = (path.display().to_string(), run.display().to_string());
    let loev = Path::new(env!("CARGO_BIN_EXE_loev"));
    let command = launcher().one_rank_each(&[
        (loev, &pretrain_args(&path_text, &run_text, &["--device", "cpu"])),
        (loev, &pretrain_args(&path_text, &run_text, &["--device", "cuda:64"])),
    ]);
    let started = Instant::now();
    let (status, output) = run_job(command);
    let elapsed = started.elapsed();
    eprintln!("{output}\nmpirun exited {status} after {elapsed:.1?}");
    assert!(!status.success(), "{output}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert!(
        output.contains("rank 1: error:") && output.contains("cuda:64"),
        "rank 1 does not say why it stopped:\n{output}"
    );
    assert!(!run.join("metrics.jsonl").exists(), "a step was logged");
    let _ = std::fs::remove_dir_all(&root);
}

/// Two ranks running different loev executables (a copy of this one with one byte appended, as a
/// rebuilt binary on one node would be) are refused before anything is written.
#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn ranks_running_different_loev_builds_are_refused() {
    let root = temp_dir("other-build");
    let (_, path) = config(&root, 2);
    let other = root.join("loev-other");
    copy_with_one_more_byte(Path::new(env!("CARGO_BIN_EXE_loev")), &other);
    let run = root.join("run");
    let (path_text, run_text) = (path.display().to_string(), run.display().to_string());
    let args = pretrain_args(&path_text, &run_text, &[]);
    let command = launcher().one_rank_each(&[(Path::new(env!("CARGO_BIN_EXE_loev")), &args), (&other, &args)]);
    let (status, output) = run_job(command);
    eprintln!("{output}");
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("none of them starts") && output.contains("executable"),
        "{output}"
    );
    assert!(!run.exists(), "the refused job wrote {}", run.display());
    let _ = std::fs::remove_dir_all(&root);
}
