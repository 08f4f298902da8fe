//! What every test of the `loev` binary needs: the binary, and a fresh scratch folder.

use std::path::PathBuf;
use std::process::Command;

/// The `loev` binary that cargo built for these tests.
pub fn loev() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loev"))
}

/// An empty scratch folder for `name`, unique to this test binary and process.
pub fn temp_dir(name: &str) -> PathBuf {
    let suite = env!("CARGO_CRATE_NAME");
    let dir = std::env::temp_dir().join(format!("loev-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder in the temp dir");
    dir
}
