//! `loev corpus`: the built-in labelled synthetic music corpus.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use loev_corpus::{CorpusConfig, generate_to_dir};

/// Subcommands of `loev corpus`.
#[derive(clap::Subcommand)]
pub enum CorpusCommand {
    /// Generate the labelled synthetic corpus: music tracks with a known key, tempo,
    /// instruments and drum style, and NSynth-like single notes with a known pitch. Writes
    /// `tracks/*.wav`, `notes/*.wav` (16-bit, 16 kHz mono), `manifest.csv` (columns path, id,
    /// split, kind, key, tempo, tags, pitch, instrument, seconds) and `corpus.toml`, then
    /// prints how many items carry each label.
    Generate(GenerateArgs),
}

/// Arguments of `loev corpus generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The folder to write; it must be new, empty, or hold an earlier corpus (replaced).
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// A corpus config (TOML, e.g. the `corpus.toml` of an earlier corpus); the options
    /// below override its fields. Without it the demo corpus's defaults apply.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Number of music tracks [default: 120].
    #[arg(long)]
    pub tracks: Option<usize>,
    /// Number of single notes [default: 176].
    #[arg(long)]
    pub notes: Option<usize>,
    /// Seed of every label and sample [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Track duration range in seconds, `MIN,MAX` [default: 20,30].
    #[arg(long, value_name = "MIN,MAX", value_parser = parse_range)]
    pub track_seconds: Option<(f64, f64)>,
    /// Duration of each single note in seconds (held 3/4 of it) [default: 4].
    #[arg(long, value_name = "SECONDS")]
    pub note_seconds: Option<f64>,
    /// Train, valid and test fractions, `TRAIN,VALID,TEST` [default: 0.7,0.15,0.15].
    #[arg(long, value_name = "TRAIN,VALID,TEST", value_parser = parse_splits)]
    pub splits: Option<(f64, f64, f64)>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_numbers(text: &str, count: usize) -> Result<Vec<f64>, String> {
    let values: Vec<f64> = text
        .split(',')
        .map(|part| {
            part.trim()
                .parse::<f64>()
                .map_err(|e| format!("'{}' is not a number: {e}", part.trim()))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != count {
        return Err(format!(
            "expected {count} comma-separated numbers, got {}",
            values.len()
        ));
    }
    Ok(values)
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let v = parse_numbers(text, 2)?;
    Ok((v[0], v[1]))
}

fn parse_splits(text: &str) -> Result<(f64, f64, f64), String> {
    let v = parse_numbers(text, 3)?;
    Ok((v[0], v[1], v[2]))
}

/// Runs `loev corpus`.
pub fn run(cmd: CorpusCommand) -> anyhow::Result<()> {
    match cmd {
        CorpusCommand::Generate(args) => generate(args),
    }
}

fn config_of(args: &GenerateArgs) -> anyhow::Result<CorpusConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the corpus config {}", path.display()))?;
            toml::from_str::<CorpusConfig>(&text)
                .with_context(|| format!("parsing the corpus config {}", path.display()))?
        }
        None => CorpusConfig::default(),
    };
    if let Some(v) = args.tracks {
        cfg.tracks = v;
    }
    if let Some(v) = args.notes {
        cfg.notes = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.track_seconds {
        cfg.track_seconds = v;
    }
    if let Some(v) = args.note_seconds {
        cfg.note_seconds = v;
    }
    if let Some(v) = args.splits {
        cfg.splits = v;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let cfg = config_of(&args)?;
    let items = (cfg.tracks + cfg.notes) as u64;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(items)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} items, {elapsed} elapsed, ETA {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("generating");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("starting the worker threads")?;
    let started = Instant::now();
    let written = pool
        .install(|| generate_to_dir(&cfg, &args.out, |done| bar.set_position(done as u64)))
        .with_context(|| format!("generating the corpus into {}", args.out.display()))?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let audio = written.summary.track_seconds + written.summary.note_seconds;
    println!("{}", written.summary);
    println!(
        "wrote {} tracks and {} notes ({:.1} min of audio) in {:.1} s on {} threads ({:.0}x real time); manifest: {}",
        cfg.tracks,
        cfg.notes,
        audio / 60.0,
        wall,
        pool.current_num_threads(),
        audio / wall.max(1e-9),
        written.manifest.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: CorpusCommand,
    }

    fn args(line: &[&str]) -> GenerateArgs {
        let cli = Cli::try_parse_from(std::iter::once("corpus").chain(line.iter().copied())).unwrap();
        match cli.command {
            CorpusCommand::Generate(args) => args,
        }
    }

    #[test]
    fn options_override_the_defaults() {
        let cfg = config_of(&args(&["generate", "-o", "x"])).unwrap();
        assert_eq!(cfg, CorpusConfig::default());
        let cfg = config_of(&args(&[
            "generate",
            "-o",
            "x",
            "--tracks",
            "7",
            "--notes",
            "3",
            "--seed",
            "9",
            "--track-seconds",
            "5, 6",
            "--splits",
            "8,1,1",
        ]))
        .unwrap();
        assert_eq!((cfg.tracks, cfg.notes, cfg.seed), (7, 3, 9));
        assert_eq!(cfg.track_seconds, (5.0, 6.0));
        assert_eq!(cfg.splits, (8.0, 1.0, 1.0));
    }

    #[test]
    fn malformed_options_are_refused_with_a_reason() {
        assert!(parse_range("5").unwrap_err().contains("expected 2"));
        assert!(parse_splits("0.7,x,0.1").unwrap_err().contains("'x' is not a number"));
        let err = config_of(&args(&["generate", "-o", "x", "--track-seconds", "9,3"])).unwrap_err();
        assert!(err.to_string().contains("track_seconds"), "{err}");
    }
}
