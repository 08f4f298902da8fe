//! Helpers for tests that start real MPI jobs (this crate's and the CLI's): the launcher under
//! test, with what it needs on a shared 2-core machine, and a job whose output arrives line by
//! line while it runs. Nothing here is used by loev itself.
//!
//! The launcher is `mpirun`, or the one named by `LOEV_TEST_MPIRUN` (e.g. `mpirun.mpich`); Open
//! MPI gets `--oversubscribe` (more ranks than cores) and is allowed to run as root.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The MPI launcher under test.
pub struct Launcher {
    /// The launcher's command.
    pub program: String,
    /// Whether it is Open MPI's (otherwise MPICH's Hydra).
    pub open_mpi: bool,
}

/// `mpirun`, or the launcher named by `LOEV_TEST_MPIRUN` (e.g. `mpirun.mpich`); panics with what
/// to install when there is none.
pub fn launcher() -> Launcher {
    let program = std::env::var("LOEV_TEST_MPIRUN").unwrap_or_else(|_| "mpirun".into());
    let output = Command::new(&program).arg("--version").output().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): install Open MPI (Debian: openmpi-bin) or MPICH, or name the launcher in \
             LOEV_TEST_MPIRUN"
        )
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // "mpirun (Open MPI) 4.1.4", or "mpirun.openmpi (OpenRTE) 4.1.4" under its Debian name.
    let open_mpi = text.contains("Open MPI") || text.contains("OpenRTE");
    assert!(
        open_mpi || text.contains("HYDRA"),
        "{program} is neither Open MPI's mpirun nor MPICH's Hydra:\n{text}"
    );
    Launcher { program, open_mpi }
}

impl Launcher {
    /// `mpirun` with what it needs here, before the first `-np`.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if self.open_mpi {
            command
                .arg("--oversubscribe")
                .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        command
    }

    /// One rank of each program, with its arguments (`mpirun -np 1 A ARGS… : -np 1 B ARGS…`).
    pub fn one_rank_each(&self, programs: &[(&Path, &[&str])]) -> Command {
        let mut command = self.command();
        for (k, (program, args)) in programs.iter().enumerate() {
            if k > 0 {
                command.arg(":");
            }
            command.args(["-np", "1"]).arg(program).args(*args);
        }
        command
    }
}

/// A running job whose output lines arrive as they are written.
pub struct Job {
    /// The launcher's process.
    pub child: Child,
    lines: Receiver<String>,
    /// Every line the job wrote so far (stdout and stderr, interleaved as they arrived).
    pub output: String,
}

impl Job {
    /// Starts `command` with its output piped.
    pub fn start(mut command: Command) -> Job {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let (send, lines) = channel();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
        for stream in [stdout, stderr] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Job {
            child,
            lines,
            output: String::new(),
        }
    }

    /// The lines that arrived since the last call (also appended to `output`).
    pub fn take_lines(&mut self) -> Vec<String> {
        let mut new = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            self.output.push_str(&line);
            self.output.push('\n');
            new.push(line);
        }
        new
    }

    /// Waits until `done` holds for the lines so far; fails after `limit`.
    pub fn wait_for(&mut self, limit: Duration, mut done: impl FnMut(&str) -> bool) {
        let start = Instant::now();
        loop {
            self.take_lines();
            if done(&self.output) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                self.take_lines();
                panic!("the job ended ({status}) before it was ready:\n{}", self.output);
            }
            if start.elapsed() > limit {
                self.stop();
                panic!("not ready after {limit:?}:\n{}", self.output);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the launcher to exit; fails after `limit`. Returns its status, everything the
    /// job wrote and how long this wait took.
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, String, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for mpirun") {
                let elapsed = start.elapsed();
                // The readers end when the job's last process closes its end of the pipes.
                let drained = Instant::now();
                while drained.elapsed() < Duration::from_secs(5) {
                    match self.lines.recv_timeout(Duration::from_millis(100)) {
                        Ok(line) => {
                            self.output.push_str(&line);
                            self.output.push('\n');
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    }
                }
                return (status, self.output, elapsed);
            }
            if start.elapsed() > limit {
                self.stop();
                self.take_lines();
                panic!("the job did not end within {limit:?} (a hang):\n{}", self.output);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills rank `rank` (SIGKILL to `pids[rank]`), waits for the launcher and checks what it
    /// must do when a rank is lost: exit non-zero within 30 s and leave no other rank (of
    /// `pids`) running. Open MPI must also name the lost rank ("mpirun noticed that process
    /// rank 1 with PID 0 on node vm exited on signal 9 (Killed)"; Open MPI 4.1.4 prints PID 0
    /// there). Hydra names one process by its PID ("PID 10236 RUNNING AT vm"): the first whose
    /// end it noticed, which is not always the lost one (a survivor it killed itself, or one that
    /// MPICH's shared-memory transport ended on reading the dead rank's memory), so for it the
    /// rank it named is only printed. Returns everything the job wrote.
    pub fn kill_rank(mut self, launcher: &Launcher, pids: &[u32], rank: usize) -> String {
        self.take_lines();
        let killed = Command::new("kill")
            .args(["-KILL", &pids[rank].to_string()])
            .status()
            .expect("kill");
        assert!(killed.success(), "cannot kill rank {rank} (pid {})", pids[rank]);
        let (status, output, elapsed) = self.finish(Duration::from_secs(60));
        eprintln!("{output}\nmpirun exited {status} {elapsed:.1?} after rank {rank} was killed");
        assert!(!status.success(), "mpirun exited successfully:\n{output}");
        assert!(elapsed < Duration::from_secs(30), "the job took {elapsed:?} to end");
        if launcher.open_mpi {
            assert!(
                output.contains(&format!("process rank {rank} with PID")) && output.contains("exited on signal 9"),
                "the output does not name the lost rank {rank}:\n{output}"
            );
        } else {
            let named = pids
                .iter()
                .position(|pid| output.contains(&format!("PID {pid} RUNNING AT")));
            eprintln!("Hydra named the PID of rank {named:?} (rank {rank} was killed)");
        }
        let survivors: Vec<(usize, u32)> = pids.iter().copied().enumerate().filter(|&(r, _)| r != rank).collect();
        let grace = Instant::now();
        while survivors.iter().any(|&(_, pid)| alive(pid)) && grace.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for (survivor, pid) in survivors {
            assert!(!alive(pid), "rank {survivor} (pid {pid}) outlived the job");
        }
        output
    }

    /// Ends a job that overran: SIGTERM lets mpirun take its ranks down, SIGKILL follows.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(3));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Copies the executable `from` to `to` with one byte appended: it runs the same, but is not the
/// same build (the start-up check compares the executables' bytes).
pub fn copy_with_one_more_byte(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(to)
        .expect("open the copy");
    file.write_all(&[0]).expect("append a byte");
}
