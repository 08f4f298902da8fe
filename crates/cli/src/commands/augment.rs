//! `loev augment`: augmented views of one audio file as wav, plus `views.json` saying what
//! was applied to each (parameters and tracking vector), for listening and debugging.

use std::path::PathBuf;

use anyhow::Context;
use loev_audio::SAMPLE_RATE;
use loev_audio::chunks::CropProbabilities;
use loev_augment::views::{ClipViews, clip_views};
use loev_augment::{AugmentChain, ChainConfig, ViewRecord};
use serde::Serialize;

/// Arguments of `loev augment`.
#[derive(clap::Args)]
#[command(after_help = "Start a chain config from `loev augment --print-default-config > chain.toml`.")]
pub struct Args {
    /// The audio file (wav, flac, mp3 or ogg/vorbis; decoded to 16 kHz mono).
    #[arg(required_unless_present = "print_default_config")]
    pub audio: Option<PathBuf>,
    /// Seed of every random decision (same seed, same views).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of views.
    #[arg(short = 'n', long = "views", default_value_t = 8)]
    pub views: usize,
    /// Output folder for `view_00.wav …` and `views.json`.
    #[arg(short, long, value_name = "DIR", required_unless_present = "print_default_config")]
    pub out: Option<PathBuf>,
    /// Augmentation chain (TOML); keys left out take the defaults of the seed paper's Table IV.
    #[arg(long, value_name = "TOML")]
    pub config: Option<PathBuf>,
    /// View length in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// How the views' source crops relate (default: drawn uniformly, as in training).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Apply the MULE-mixup baseline across the views (λ ~ Beta(5, 2)).
    #[arg(long)]
    pub mixup: bool,
    /// Print the default chain config (TOML) and exit.
    #[arg(long)]
    pub print_default_config: bool,
    /// Write into --out even if it holds files that loev did not write (never into the input's folder).
    #[arg(long)]
    pub force: bool,
}

/// `--strategy` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    /// Every view reads the same audio.
    Same,
    /// Consecutive, non-overlapping crops.
    Adjacent,
    /// Independent crops.
    Random,
}

#[derive(Serialize)]
struct ViewEntry<'a> {
    file: String,
    tracking: Vec<u8>,
    /// Factor applied to the wav only, when the view's peak exceeded full scale.
    wav_scale: f32,
    #[serde(flatten)]
    record: &'a ViewRecord,
}

#[derive(Serialize)]
struct ViewsFile<'a> {
    input: String,
    seed: u64,
    sample_rate: u32,
    view_samples: usize,
    variant: &'a [String],
    chain: &'a ChainConfig,
    views: Vec<ViewEntry<'a>>,
}

/// Runs `loev augment`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.print_default_config {
        print!("{}", loev_augment::config::default_chain_toml());
        return Ok(());
    }
    let (Some(audio_path), Some(out_dir)) = (&args.audio, &args.out) else {
        anyhow::bail!("give the audio file and --out (see --help)");
    };
    if args.views == 0 {
        anyhow::bail!("-n/--views must be at least 1");
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0) {
        anyhow::bail!("--seconds must lie in (0, 600], got {}", args.seconds);
    }
    let view_len = (args.seconds * f64::from(SAMPLE_RATE)).round() as usize;
    // Every view's waveform is held at once, plus its 16-bit copy while it is written.
    loev_core::limits::check_memory(
        format_args!("-n/--views {} of --seconds {}", args.views, args.seconds),
        "the views' waveforms",
        loev_core::limits::bytes_of(&[args.views as u128, view_len as u128, 4]),
    )?;
    let config = match &args.config {
        Some(path) => ChainConfig::from_toml_file(path)?,
        None => ChainConfig::default(),
    };
    let chain = AugmentChain::new(config)?;
    if chain.method() == loev_augment::StretchMethod::Spectral {
        eprintln!(
            "note: the chain's [stretcher] method is `spectral`, which makes log-mel inputs and no \
             waveform; the wav files are the exact method's rendering of the same views"
        );
    }
    let audio = loev_audio::decode::load_mono(audio_path)?;
    if audio.is_empty() {
        anyhow::bail!("{} holds no audio", audio_path.display());
    }
    let folder = loev_core::output::OutputFolder::claim(
        out_dir,
        "views",
        &[],
        &loev_core::output::Protected::input(audio_path),
        args.force,
    )?;

    let crops = match args.strategy {
        None => CropProbabilities::default(),
        Some(StrategyArg::Same) => CropProbabilities {
            same: 1.0,
            adjacent: 0.0,
            random: 0.0,
        },
        Some(StrategyArg::Adjacent) => CropProbabilities {
            same: 0.0,
            adjacent: 1.0,
            random: 0.0,
        },
        Some(StrategyArg::Random) => CropProbabilities {
            same: 0.0,
            adjacent: 0.0,
            random: 1.0,
        },
    };
    let ClipViews { mut waves, records } =
        clip_views(&chain, &audio, args.seed, args.views, view_len, &crops, args.mixup);
    let strategy = records
        .first()
        .and_then(|r| r.crop.as_ref())
        .map(|c| c.strategy.clone())
        .unwrap_or_default();

    let width = args.views.saturating_sub(1).to_string().len().max(2);
    let mut entries = Vec::with_capacity(args.views);
    for (v, (wave, record)) in waves.iter_mut().zip(&records).enumerate() {
        let file = format!("view_{v:0width$}.wav");
        let peak = wave.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let wav_scale = if peak > 0.999 { 0.999 / peak } else { 1.0 };
        if wav_scale != 1.0 {
            wave.iter_mut().for_each(|x| *x *= wav_scale);
        }
        let path = out_dir.join(&file);
        loev_audio::wav::write_wav(&path, wave, SAMPLE_RATE)
            .with_context(|| format!("cannot write {}", path.display()))?;
        entries.push(ViewEntry {
            file,
            tracking: record.tracking(chain.variant_names()),
            wav_scale,
            record,
        });
    }
    let summary: Vec<String> = entries
        .iter()
        .map(|e| {
            let applied: Vec<String> = e
                .record
                .transforms
                .iter()
                .filter(|t| t.applied)
                .map(|t| t.choice.clone().unwrap_or_else(|| t.name.clone()))
                .collect();
            format!("  {}  t={:?}  {}", e.file, e.tracking, applied.join(", "))
        })
        .collect();
    let views_file = ViewsFile {
        input: audio_path.display().to_string(),
        seed: args.seed,
        sample_rate: SAMPLE_RATE,
        view_samples: view_len,
        variant: chain.variant_names(),
        chain: chain.config(),
        views: entries,
    };
    let json_path = out_dir.join("views.json");
    let json = serde_json::to_string_pretty(&views_file)?;
    loev_core::io::atomic_write(&json_path, json.as_bytes())
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    // The views of an earlier run with more views (or another numbering) would not be in
    // views.json: the folder holds exactly the views it lists.
    let written: std::collections::HashSet<String> = views_file.views.iter().map(|v| v.file.clone()).collect();
    for entry in std::fs::read_dir(folder.root()).with_context(|| format!("cannot list {}", out_dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("view_") && name.ends_with(".wav") && !written.contains(&name) {
            let stale = out_dir.join(&name);
            std::fs::remove_file(&stale).with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    println!(
        "wrote {} views of {:.2} s ({strategy} crops) and {} to {}; tracking over {:?}:",
        args.views,
        args.seconds,
        json_path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        out_dir.display(),
        chain.variant_names()
    );
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
