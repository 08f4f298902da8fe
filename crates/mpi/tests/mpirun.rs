//! loev's MPI collectives on real jobs: `mpirun` starts the `collectives` example (built by
//! `cargo test` with the tests) as 2 or 3 ranks on this machine, and each test checks what the
//! ranks and the launcher did.
//!
//! Most tests need an MPI launcher and are ignored by the README's test command, which must
//! pass on a machine without MPI; `.ci/run` installs Open MPI and MPICH and runs them with
//! `-- --ignored`. The launcher is `mpirun`, or the one named by `LOEV_TEST_MPIRUN` (e.g.
//! `mpirun.mpich`); Open MPI gets `--oversubscribe` (3 ranks on 2 cores) and is allowed to run
//! as root.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use loev_mpi::fixtures::{Job, Launcher, copy_with_one_more_byte, launcher};

/// How long any job may take before the test gives up on it (a hang is a failure).
const DEADLINE: Duration = Duration::from_secs(120);

/// The `collectives` example, next to this test's binary.
fn program() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let path = profile
        .join("examples")
        .join(format!("collectives{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds the examples when no targets are chosen; otherwise build it with \
         `cargo build --release --workspace --all-features --locked --examples`",
        path.display()
    );
    path
}

/// `np` ranks of the example in `role`.
fn ranks(launcher: &Launcher, np: usize, role: &[&str]) -> Command {
    let mut command = launcher.command();
    command.arg("-np").arg(np.to_string()).arg(program()).args(role);
    command
}

fn run(command: Command) -> (ExitStatus, String) {
    let (status, output, _) = Job::start(command).finish(DEADLINE);
    (status, output)
}

/// The line in which `rank` reports that the start-up check refused the job.
fn refusal(output: &str, rank: usize) -> &str {
    output
        .lines()
        .find(|line| line.starts_with(&format!("rank {rank}: refused: ")))
        .unwrap_or_else(|| panic!("rank {rank} did not refuse:\n{output}"))
}

fn collectives_on(np: usize) {
    let (status, output) = run(ranks(&launcher(), np, &["check"]));
    assert!(status.success(), "{np} ranks: {status}\n{output}");
    for rank in 0..np {
        let line = format!("rank {rank} of {np} (local {rank} of {np})");
        assert!(output.contains(&line), "no report from rank {rank}:\n{output}");
    }
    assert_eq!(output.matches("collectives OK").count(), np, "{output}");
    eprintln!("{output}");
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn collectives_are_exact_on_two_ranks() {
    collectives_on(2);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn collectives_are_exact_on_three_ranks() {
    collectives_on(3);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn a_rank_killed_mid_collective_ends_the_job_and_is_named() {
    let launcher = launcher();
    let mut job = Job::start(ranks(&launcher, 3, &["spin"]));
    job.wait_for(Duration::from_secs(60), |output| output.matches(" ready").count() == 3);
    let pids: Vec<u32> = (0..3)
        .map(|rank| {
            let prefix = format!("rank {rank} pid ");
            let line = job
                .output
                .lines()
                .find(|l| l.starts_with(&prefix))
                .expect("a ready line per rank");
            line[prefix.len()..].trim_end_matches(" ready").parse().expect("a pid")
        })
        .collect();
    // The ranks are inside their allreduce loop; rank 1 disappears without a word.
    std::thread::sleep(Duration::from_millis(500));
    job.kill_rank(&launcher, &pids, 1);
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn a_rank_that_aborts_ends_the_job() {
    let start = Instant::now();
    let (status, output) = run(ranks(&launcher(), 3, &["abort"]));
    eprintln!("{output}\nmpirun exited {status} after {:.1?}", start.elapsed());
    // Both launchers exit with the code given to MPI_Abort. (Open MPI 4.1.4 usually adds "MPI_ABORT
    // was invoked on rank 1", but not always: its help text sometimes fails with "ORTE_ERROR_LOG:
    // Out of resource in file show_help.c".)
    assert_eq!(status.code(), Some(7), "{output}");
    assert!(output.contains("rank 1: giving up alone"), "{output}");
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn a_rank_that_leaves_alone_ends_the_job() {
    // Finalizing MPI on rank 1 while ranks 0 and 2 wait in a barrier would hang all three; the
    // world dropped without `finalize` aborts instead.
    let start = Instant::now();
    let (status, output) = run(ranks(&launcher(), 3, &["leave"]));
    eprintln!("{output}\nmpirun exited {status} after {:.1?}", start.elapsed());
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("rank 1: FAILED: an error only rank 1 sees")
            && output.contains("rank 1: leaving MPI without finalizing"),
        "{output}"
    );
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn ranks_with_another_configuration_are_refused_on_every_rank() {
    let launcher = launcher();
    let (status, output) = run(ranks(&launcher, 3, &["consistency", "same"]));
    assert!(status.success(), "{output}");
    assert_eq!(output.matches(": consistent").count(), 3, "{output}");

    let (status, output) = run(ranks(&launcher, 3, &["consistency", "rank1-differs"]));
    eprintln!("{output}");
    assert_eq!(status.code(), Some(3), "{output}");
    for rank in 0..3 {
        let refusal = refusal(&output, rank);
        assert!(
            refusal.contains("configuration digest differs: ranks 0, 2 on ")
                && refusal.contains(": 000000000000002a; rank 1 on ")
                && refusal.ends_with(
                    ": 000000000000002b. Start every rank from the same loev build with the same configuration."
                ),
            "{refusal}"
        );
        assert!(!refusal.contains("executable"), "{refusal}");
    }
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn ranks_running_another_executable_are_refused() {
    let launcher = launcher();
    // A copy of the example with one more byte at its end: it runs the same, but is not the
    // same build.
    let dir = std::env::temp_dir().join(format!("loev-mpi-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let copy = dir.join("collectives-copy");
    copy_with_one_more_byte(&program(), &copy);
    let role: &[&str] = &["consistency", "same"];
    let command = launcher.one_rank_each(&[(&program(), role), (&copy, role)]);
    let (status, output) = run(command);
    std::fs::remove_dir_all(&dir).expect("remove the temp dir");
    eprintln!("{output}");
    assert_eq!(status.code(), Some(3), "{output}");
    for rank in 0..2 {
        let refusal = refusal(&output, rank);
        assert!(
            refusal.contains("executable (FNV-1a 64 of its bytes) differs: rank 0 on ")
                && refusal.contains("; rank 1 on "),
            "{refusal}"
        );
        assert!(!refusal.contains("configuration digest"), "{refusal}");
    }
}

#[test]
#[ignore = "needs mpirun: run by .ci/run's MPI step"]
fn srun_without_an_mpi_plugin_is_refused() {
    // What srun's environment looks like when it starts 2 tasks without `--mpi=pmix`: libmpi
    // finds no launcher to talk to and makes a world of one.
    let mut command = Command::new(program());
    command
        .arg("check")
        .env("SLURM_PROCID", "1")
        .env("SLURM_STEP_NUM_TASKS", "2")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    let (status, output) = run(command);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("srun without an MPI plugin started this process as rank 1 of 2, but ")
            && output.contains(" sees rank 0 of 1")
            && output.contains("srun --mpi=pmix"),
        "{output}"
    );
}

#[test]
fn a_missing_libmpi_is_a_clear_error() {
    let missing = "/nonexistent/libmpi.so.40";
    let output = Command::new(program())
        .env("LOEV_MPI_LIBRARY", missing)
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: cannot load libmpi ({missing} ("))
            && stderr.contains("check the path in LOEV_MPI_LIBRARY"),
        "{stderr}"
    );
}
