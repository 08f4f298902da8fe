//! `loev cache`: build the decode-once audio cache from a folder or a manifest, and show what
//! a cache holds.

use std::path::PathBuf;

use anyhow::Context;
use loev_audio::cache::{AudioCache, CacheBuildOptions, CacheBuildReport, CacheSource};

/// Subcommands of `loev cache`.
#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Decode every audio file of a folder or manifest once (in parallel) into a 16 kHz mono
    /// cache that training reads through a memory map. Unreadable files are skipped and listed
    /// with their reason in `<cache>/skipped.csv`; the build still succeeds.
    Build(BuildArgs),
    /// Print the summary of an existing cache (tracks, hours, skipped files).
    Info(InfoArgs),
}

/// Arguments of `loev cache build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// A folder (scanned recursively for .wav .flac .mp3 .ogg .oga; other files are ignored)
    /// or a manifest (.csv or .tsv with a `path` column; other columns are kept as metadata).
    pub source: PathBuf,
    /// The cache folder to write. An existing cache there is replaced; any other non-empty
    /// folder is refused.
    #[arg(short, long, value_name = "CACHE_DIR")]
    pub out: PathBuf,
    /// Decoding threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip (and report) tracks shorter than this many seconds.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub min_seconds: f64,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `loev cache info`.
#[derive(clap::Args)]
pub struct InfoArgs {
    /// The cache folder.
    pub cache: PathBuf,
    /// Also list every track: id, duration and source file.
    #[arg(long)]
    pub tracks: bool,
}

/// Runs `loev cache`.
pub fn run(cmd: CacheCommand) -> anyhow::Result<()> {
    match cmd {
        CacheCommand::Build(args) => build(args),
        CacheCommand::Info(args) => info(args),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    if !args.min_seconds.is_finite() || args.min_seconds < 0.0 {
        anyhow::bail!("--min-seconds must be a number >= 0, got {}", args.min_seconds);
    }
    if !args.source.exists() {
        anyhow::bail!(
            "{} does not exist; give a folder of audio files or a .csv/.tsv manifest",
            args.source.display()
        );
    }
    if args.source.is_file() && loev_audio::walk::is_audio_file(&args.source) {
        anyhow::bail!(
            "{} is a single audio file, but `loev cache build` takes a folder of audio files or a \
             .csv/.tsv manifest that lists them; pass the folder that holds it",
            args.source.display()
        );
    }
    let source = CacheSource::from_path(&args.source);
    let opts = CacheBuildOptions {
        threads: args.threads,
        progress: !args.quiet,
        min_seconds: args.min_seconds,
    };
    let report = AudioCache::build(&source, &args.out, &opts)
        .with_context(|| format!("building the cache {}", args.out.display()))?;
    if let Some(pid) = &report.lock_taken_over_from {
        eprintln!(
            "warning: took over the lock of {} from process {pid}, which had exited without releasing it",
            args.out.display()
        );
    }
    for partial in &report.removed_partials {
        eprintln!(
            "removed {}: the partial output of an earlier build that did not finish",
            partial.display()
        );
    }
    print_summary(&report, 20);
    println!("built in {:.1} s", report.wall_seconds);
    Ok(())
}

fn info(args: InfoArgs) -> anyhow::Result<()> {
    let cache = AudioCache::open(&args.cache)?;
    match cache.report() {
        Ok(report) => print_summary(&report, 20),
        Err(_) => println!(
            "cache {}: {} tracks, {:.2} h of audio (no build report)",
            args.cache.display(),
            cache.len(),
            cache.seconds() / 3600.0
        ),
    }
    println!(
        "sample rate: {} Hz mono, {:.1} MiB of samples",
        cache.sample_rate(),
        cache.seconds() * cache.sample_rate() as f64 * 4.0 / (1 << 20) as f64
    );
    if args.tracks {
        for entry in cache.entries() {
            println!(
                "{}\t{:.2} s\t{}",
                entry.id,
                entry.len as f64 / cache.sample_rate() as f64,
                entry.source.display()
            );
        }
    }
    Ok(())
}

fn print_summary(report: &CacheBuildReport, max_listed: usize) {
    println!("cache {}", report.cache_dir.display());
    if !report.source.as_os_str().is_empty() {
        println!("source: {}", report.source.display());
    }
    println!(
        "tracks: {} ({:.2} h = {:.1} s of audio)",
        report.tracks,
        report.seconds_of_audio / 3600.0,
        report.seconds_of_audio
    );
    println!(
        "skipped: {} file(s); list with reasons: {}",
        report.skipped.len(),
        report.skipped_report.display()
    );
    for (path, reason) in report.skipped.iter().take(max_listed) {
        println!("  {}: {reason}", path.display());
    }
    if report.skipped.len() > max_listed {
        println!("  … and {} more", report.skipped.len() - max_listed);
    }
}
