//! `loev data`: benchmark datasets on disk. Lists the supported layouts, checks that a dataset
//! folder (or a labelled manifest) is complete, exports tasks as labelled manifests, and writes
//! the small fixture trees the tests use.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use loev_data::fixtures::{FixtureOptions, write_fixture_with, write_manifest_fixture};
use loev_data::{
    AudioCheck, DatasetName, LoadOptions, check_dataset, check_manifest, load_dataset, load_manifest_tasks,
};

/// Subcommands of `loev data`.
#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// List the supported datasets and the folder layout each one expects.
    List,
    /// Check that a dataset folder or a labelled manifest is complete.
    ///
    /// Prints the counts per split and class of every task, every missing and corrupt audio
    /// file (with counts per task and split), and the items the dataset's protocol excludes,
    /// with reasons. Audio headers are probed by default (--decode decodes every file). Exits
    /// non-zero when any listed audio file is missing or corrupt.
    Check(CheckArgs),
    /// Write each task of a dataset as a labelled manifest.
    ///
    /// One CSV per task (`<out>/<task>.csv`, the loev manifest convention), usable by the cache
    /// builder and `loev embed`, and for inspection. Tracks with missing or corrupt audio are
    /// left out (a warning says how many).
    Export(ExportArgs),
    /// Write a small fixture tree that mirrors a dataset's layout and quirks.
    ///
    /// The tree has a few tracks with short tones, some annotation quirks of the real dataset,
    /// and missing and corrupt audio files on purpose (the tests use it; so can you, to try
    /// `loev data check`).
    Fixture(FixtureArgs),
}

/// Which data to load, and how.
#[derive(clap::Args)]
pub struct SourceArgs {
    /// Dataset name (see `loev data list`), or `manifest` for a labelled manifest file.
    dataset: String,
    /// The dataset's root folder, or the manifest file.
    root: PathBuf,
    /// Loader options as a TOML file (the fields of loev_data::LoadOptions, e.g.
    /// `mtt_split = "won"`); the flags below override it.
    #[arg(long, value_name = "FILE")]
    options: Option<PathBuf>,
    /// Folder holding the audio when it is not at the layout's default place.
    #[arg(long, value_name = "DIR")]
    audio_dir: Option<PathBuf>,
    /// MagnaTagATune split: Pons et al. folders (as LOEV) or the cleaned Won et al. lists.
    #[arg(long, value_parser = ["pons", "won"])]
    mtt_split: Option<String>,
    /// Folder with the Won et al. train.npy / valid.npy / test.npy (default <root>/split/mtat).
    #[arg(long, value_name = "DIR")]
    won_split_dir: Option<PathBuf>,
    /// Tempo → class rule: truncate (LOEV, synesis) or round (Quinton).
    #[arg(long, value_parser = ["truncate", "round"])]
    tempo_binning: Option<String>,
    /// Exclude 0-BPM annotations instead of keeping them as class 0 (LOEV keeps them).
    #[arg(long)]
    drop_zero_bpm: bool,
    /// GiantSteps tempo annotations: v2 (LOEV) or v1.
    #[arg(long, value_parser = ["v1", "v2"])]
    giantsteps_tempo: Option<String>,
    /// Keep only NSynth notes with MIDI pitch in MIN-MAX (HEAR: 21-108).
    #[arg(long, value_name = "MIN-MAX")]
    nsynth_pitch_range: Option<String>,
    /// AllTempo: build only the task holding out this dataset (gtzan, hainsworth, acm-mirum, giantsteps).
    #[arg(long, value_name = "NAME")]
    holdout: Option<String>,
    /// Seed of the random train/valid splits.
    #[arg(long)]
    seed: Option<u64>,
}

/// Arguments of `loev data check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Decode every audio file with loev's decoder (slow) instead of probing its header.
    #[arg(long, conflicts_with = "exists_only")]
    decode: bool,
    /// Only check that audio files exist (fastest; corrupt files go unnoticed).
    #[arg(long)]
    exists_only: bool,
    /// Also list every excluded item (not only the counts per reason).
    #[arg(long)]
    list_excluded: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// Arguments of `loev data export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output folder for the manifests.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
}

/// Arguments of `loev data fixture`.
#[derive(clap::Args)]
pub struct FixtureArgs {
    /// Dataset name (see `loev data list`), or `manifest` for the labelled-manifest fixture.
    dataset: String,
    /// Folder to write the tree into (created).
    dir: PathBuf,
    /// Length of each audio file in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

/// Runs `loev data`.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::List => {
            let mut text = String::from("datasets (loev data check <dataset> <root>):\n");
            for name in DatasetName::ALL {
                text.push_str(&format!("  {name}\n      {}\n", name.layout()));
            }
            text.push_str("  manifest\n      a labelled CSV/TSV manifest: path, id, split, key, tempo, tags, pitch, instrument, group columns\n");
            out(&text)
        }
        DataCommand::Check(args) => check(args),
        DataCommand::Export(args) => export(args),
        DataCommand::Fixture(args) => fixture(args),
    }
}

fn is_manifest(dataset: &str) -> bool {
    dataset.eq_ignore_ascii_case("manifest")
}

/// Reads a kebab/lower-case option value into a loev-data enum through its serde names.
fn enum_value<T: serde::de::DeserializeOwned>(flag: &str, text: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).with_context(|| format!("--{flag} {text}"))
}

fn load_options(src: &SourceArgs) -> anyhow::Result<LoadOptions> {
    let mut opts = match &src.options {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read options file {}", path.display()))?;
            toml::from_str::<LoadOptions>(&text).with_context(|| format!("options file {}", path.display()))?
        }
        None => LoadOptions::default(),
    };
    if let Some(dir) = &src.audio_dir {
        opts.audio_dir = Some(dir.clone());
    }
    if let Some(split) = &src.mtt_split {
        opts.mtt_split = enum_value("mtt-split", split)?;
    }
    if let Some(dir) = &src.won_split_dir {
        opts.mtt_won_split_dir = Some(dir.clone());
    }
    if let Some(binning) = &src.tempo_binning {
        opts.tempo_binning = enum_value("tempo-binning", binning)?;
    }
    if src.drop_zero_bpm {
        opts.zero_tempo = loev_data::ZeroTempo::Drop;
    }
    if let Some(version) = &src.giantsteps_tempo {
        opts.giantsteps_tempo = enum_value("giantsteps-tempo", version)?;
    }
    if let Some(range) = &src.nsynth_pitch_range {
        let parsed = range
            .split_once('-')
            .and_then(|(lo, hi)| Some([lo.trim().parse::<u8>().ok()?, hi.trim().parse::<u8>().ok()?]));
        match parsed {
            Some(r) => opts.nsynth_pitch_range = Some(r),
            None => bail!("--nsynth-pitch-range {range}: expected MIN-MAX with MIDI numbers, e.g. 21-108"),
        }
    }
    if let Some(holdout) = &src.holdout {
        opts.alltempo_holdout = Some(holdout.clone());
    }
    if let Some(seed) = src.seed {
        opts.seed = seed;
    }
    Ok(opts)
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let mut opts = load_options(&args.source)?;
    opts.audio_check = if args.decode {
        AudioCheck::Decode
    } else if args.exists_only {
        AudioCheck::Exists
    } else {
        AudioCheck::Probe
    };
    opts.progress = !args.no_progress;
    let src = &args.source;
    let result = if is_manifest(&src.dataset) {
        check_manifest(&src.root, &opts)?
    } else {
        check_dataset(src.dataset.parse::<DatasetName>()?, &src.root, &opts)?
    };
    out(&if args.list_excluded {
        format!("{result:#}")
    } else {
        result.to_string()
    })?;
    if !result.is_complete() {
        bail!(
            "{}: {} audio files missing and {} corrupt (listed above)",
            result.source,
            result.report.missing.len(),
            result.report.corrupt.len()
        );
    }
    Ok(())
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let opts = load_options(&args.source)?;
    let src = &args.source;
    let (tasks, report) = if is_manifest(&src.dataset) {
        load_manifest_tasks(&src.root, &opts)?
    } else {
        load_dataset(src.dataset.parse::<DatasetName>()?, &src.root, &opts)?
    };
    if tasks.is_empty() {
        bail!("{} holds no labelled task to export", src.root.display());
    }
    for task in &tasks {
        let path = args.out.join(format!("{}.csv", task.name));
        task.to_manifest()?
            .write(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out(&format!(
            "wrote {} ({} tracks: {})\n",
            path.display(),
            task.tracks.len(),
            task.summary().tracks
        ))?;
    }
    if !report.audio_complete() {
        eprintln!(
            "warning: {} missing and {} corrupt audio files are not in the manifests; run `loev data check` for the list",
            report.missing.len(),
            report.corrupt.len()
        );
    }
    Ok(())
}

fn fixture(args: FixtureArgs) -> anyhow::Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--seconds {}: expected a duration in (0, 600]", args.seconds);
    }
    let opts = FixtureOptions { seconds: args.seconds };
    let written = if is_manifest(&args.dataset) {
        write_manifest_fixture(&args.dir, &opts)
    } else {
        write_fixture_with(args.dataset.parse::<DatasetName>()?, &args.dir, &opts)
    }
    .with_context(|| format!("cannot write the fixture into {}", args.dir.display()))?;
    let show = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| relative(p, &args.dir))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out(&format!(
        "wrote the {} fixture; load it from {}\nmissing on purpose: {}\ncorrupt on purpose: {}\n",
        args.dataset,
        written.root.display(),
        show(&written.missing),
        show(&written.corrupt)
    ))
}

/// Writes to stdout; a closed pipe (`loev data list | head`) ends quietly instead of panicking.
fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: DataCommand,
    }

    fn run_args(args: &[&str]) -> anyhow::Result<()> {
        let cli = TestCli::try_parse_from(std::iter::once("data").chain(args.iter().copied()))?;
        run(cli.cmd)
    }

    #[test]
    fn arguments_are_consistent() {
        TestCli::command().debug_assert();
    }

    #[test]
    fn check_fails_naming_exactly_the_two_missing_files() {
        let dir = std::env::temp_dir().join(format!("loev-cli-data-{}", std::process::id()));
        let root = dir.join("gs");
        let root_text = root.to_string_lossy().to_string();
        run_args(&["fixture", "gs-key", &root_text, "--seconds", "0.25"]).unwrap();
        let err = run_args(&["check", "gs-key", &root_text, "--no-progress"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 audio files missing and 1 corrupt"), "{err}");
        let err = run_args(&["check", "gs-key", &root_text, "--exists-only"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 audio files missing and 0 corrupt"), "{err}");
        // Once the two files exist (and the corrupt one is replaced), the check passes.
        for name in [
            "giantsteps-key-dataset/audio/1003.LOFI.mp3",
            "giantsteps-mtg-key-dataset/audio/2007.LOFI.mp3",
            "giantsteps-key-dataset/audio/1004.LOFI.mp3",
        ] {
            std::fs::copy(root.join("giantsteps-key-dataset/audio/1000.LOFI.mp3"), root.join(name)).unwrap();
        }
        run_args(&["check", "gs-key", &root_text, "--decode", "--no-progress"]).unwrap();
        assert!(run_args(&["check", "nonsense", &root_text]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
