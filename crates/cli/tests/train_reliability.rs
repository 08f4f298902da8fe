//! `loev pretrain` run-folder reliability through the binary (issue 13): two processes on one
//! run folder, a killed run's lock and leftovers, the summary of a run that trains nothing, and
//! validation before anything is written. The library-level cases are in
//! `crates/train/tests/reliability.rs`.

mod common;
use common::{loev, pretrain, small_cache, small_config, temp_dir, write_config};

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use loev_core::lock::LOCK_FILE_NAME;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the loev binary runs")
}

fn ok(command: &mut Command) -> Output {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        text(&output.stderr),
        text(&output.stdout)
    );
    output
}

fn resume(out: &Path) -> Command {
    let mut command = loev();
    command.args(["pretrain", "--no-progress", "--resume"]).arg(out);
    command
}

/// The steps of `metrics.jsonl`, in file order.
fn logged_steps(run: &Path) -> Vec<u64> {
    fs::read_to_string(run.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("a whole JSON line")["step"]
                .as_u64()
                .expect("step")
        })
        .collect()
}

/// Item 3: two `loev pretrain --resume RUN` at once both trained and interleaved
/// `metrics.jsonl`. The second is now refused with the first one's PID; after the first is
/// killed (-9), the next resume takes its lock over with a warning and removes its leftovers.
#[test]
fn a_second_resume_of_a_training_run_is_refused_and_a_killed_runs_lock_is_taken_over() {
    let root = temp_dir("two");
    let config = write_config(&root, &small_config(&small_cache(&root), 1_000_000));
    let out = root.join("run");
    ok(pretrain(&config, &out).args(["--stop-after", "2"]));

    let mut first = resume(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("first resume starts");
    let pid = first.id().to_string();
    let lock = out.join(LOCK_FILE_NAME);
    // Wait until the first one holds the lock and has trained a few steps.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid) && logged_steps(&out).len() >= 4) {
        assert!(Instant::now() < deadline, "the first resume did not start training");
        assert!(
            first.try_wait().expect("wait").is_none(),
            "the first resume exited early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let second = run(resume(&out).args(["--stop-after", "100"]));
    let stderr = text(&second.stderr);
    assert!(!second.status.success(), "the second resume must be refused");
    assert!(stderr.contains(&pid) && stderr.contains("in use"), "{stderr}");

    first.kill().expect("kill -9 the first resume");
    first.wait().expect("reap");
    assert!(lock.exists(), "a killed process leaves its lock file");
    let steps = logged_steps(&out);
    assert!(
        steps.windows(2).all(|w| w[0] + 1 == w[1]),
        "metrics of one writer only: {steps:?}"
    );

    let leftover = out.join(".corpus-cache.building-999999999");
    fs::create_dir_all(&leftover).expect("leftover");
    let reached = *steps.last().expect("steps");
    let third = ok(resume(&out).args(["--stop-after", &(reached + 2).to_string()]));
    let stderr = text(&third.stderr);
    assert!(
        stderr.contains(&pid) && stderr.contains("no longer running"),
        "no take-over warning: {stderr}"
    );
    assert!(
        stderr.contains(&leftover.display().to_string()) && !leftover.exists(),
        "the leftover is not removed and reported: {stderr}"
    );
    assert!(!lock.exists());
    fs::remove_dir_all(&root).ok();
}

/// Item 5: `--resume RUN --steps N` on a finished run ignored `--steps` and printed
/// "loss NaN -> NaN, 0.0 views/s". It now extends the run, and a complete run says so.
#[test]
fn resuming_a_finished_run_says_it_is_complete_and_steps_extends_it() {
    let root = temp_dir("finished");
    let config = write_config(&root, &small_config(&small_cache(&root), 2));
    let out = root.join("run");
    ok(&mut pretrain(&config, &out));

    let done = ok(&mut resume(&out));
    let stdout = text(&done.stdout);
    assert!(stdout.contains("complete") && stdout.contains("--steps"), "{stdout}");
    assert!(!stdout.to_lowercase().contains("nan"), "{stdout}");

    let extended = ok(resume(&out).args(["--steps", "4"]));
    let stdout = text(&extended.stdout);
    assert!(stdout.contains("steps: 4") && stdout.contains("loss["), "{stdout}");
    assert!(!stdout.to_lowercase().contains("nan"), "{stdout}");
    assert_eq!(logged_steps(&out), vec![1, 2, 3, 4]);

    // A resumed run keeps its seed; changing it is refused rather than ignored.
    assert!(!run(resume(&out).args(["--seed", "5"])).status.success());
    fs::remove_dir_all(&root).ok();
}

/// Item 6: `sample_rate = 0` was caught only after the run folder and corpus were written, and
/// the fixed config was then refused on the same `--out`.
#[test]
fn an_invalid_config_is_refused_before_writing_and_the_fixed_one_runs_on_the_same_out() {
    let root = temp_dir("invalid");
    let good = small_config(&small_cache(&root), 2);
    let out = root.join("run");
    let mut bad = good.clone();
    bad.frontend.sample_rate = 0;
    let bad_config = write_config(&root, &bad);
    let refused = run(&mut pretrain(&bad_config, &out));
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("sample_rate"), "{stderr}");
    assert!(
        !out.exists(),
        "the run folder was written before the config was checked"
    );

    let good_config = write_config(&root, &good);
    ok(&mut pretrain(&good_config, &out));
    assert_eq!(logged_steps(&out), vec![1, 2]);
    fs::remove_dir_all(&root).ok();
}
