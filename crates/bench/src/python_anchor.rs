//! The Python anchors of the benchmarks: a script in the repository run as a subprocess in
//! the same benchmark run, printing one JSON object as its last stdout line. A missing
//! interpreter, library or script is not an error of the benchmark: the caller prints the
//! returned "skipped: …" reason and reports loev's own figures alone.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter: `explicit`, else `$LOEV_PYTHON`, else `python3`.
pub fn interpreter(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("LOEV_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// A script of the repository (`relative` to its root), found from the source tree or the
/// working directory.
pub fn script(relative: &str) -> Result<PathBuf, String> {
    let in_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    [in_repo, PathBuf::from(relative)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("skipped: {relative} not found (run from the repository)"))
}

/// Runs `python script args…` and returns the JSON object of its last stdout line.
/// `threads` pins the numeric libraries' thread pools (OMP, BLAS, numba); `requirements`
/// names what to install when the anchor cannot run.
pub fn run_json(
    python: &Path,
    script: &Path,
    args: &[OsString],
    threads: Option<usize>,
    requirements: &str,
) -> Result<serde_json::Value, String> {
    let mut command = Command::new(python);
    command.arg(script).args(args);
    if let Some(threads) = threads {
        for var in [
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMBA_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS",
        ] {
            command.env(var, threads.to_string());
        }
    }
    println!(
        "running the Python anchor ({} {}) …",
        python.display(),
        script.display()
    );
    let hint = format!("set LOEV_PYTHON to a Python with {requirements}");
    let output = command
        .output()
        .map_err(|e| format!("skipped: cannot run `{}` ({e}); {hint}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last_json = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let value: serde_json::Value = last_json.and_then(|l| serde_json::from_str(l).ok()).ok_or_else(|| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        format!(
            "skipped: the anchor script failed ({}): {}; {hint}",
            output.status,
            stderr.lines().last().unwrap_or("")
        )
    })?;
    if let Some(err) = value.get("error").and_then(|e| e.as_str()) {
        return Err(format!("skipped: `{}` {err}; {hint}", python.display()));
    }
    Ok(value)
}
