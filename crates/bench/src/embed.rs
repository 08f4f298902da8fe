//! `loev bench embed`: embedding whole tracks with the full MULE encoder on the CPU, against
//! mule-torch (an independent PyTorch port of MULE) on PyTorch's CPU backend in the same run.
//!
//! The anchor (`bench/anchors/mule_torch_embed.py`) builds mule-torch's model with seeded
//! random weights and loev's mel filterbank, saves it as a mule-torch folder and times
//! mule-torch's own call, `model(waveform)`, on each test track. loev then imports that folder
//! (`loev import mule-torch`), so both run the same weights on the same audio with the same
//! thread count, and times what `loev embed --model` and `loev.Model.embed` do with a track in
//! memory ([`Embedder::embed_audio`]: streamed log-mel, 3 s slices every 2 s, batches of
//! `--batch` slices). Without the anchor, loev embeds with a seeded random full encoder and
//! reports its own figures alone.
//!
//! Figures per track length: wall time, slices (3 s clips) per second, speed as a multiple of
//! real time, peak resident memory of the timed call (Linux: VmHWM after resetting it through
//! `/proc/self/clear_refs`), and the ratio mule-torch time / loev time. The cosine between both
//! track embeddings shows that the two computed the same thing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use loev_artifacts::ModelFileInfo;
use loev_artifacts::model_file::write_model_file;
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_eval::embed::{EmbedOptions, Embedder};
use loev_eval::retrieval::cosine_similarity;
use loev_model::{EncoderConfig, LoevModel, LoevModelConfig};

use crate::{BenchError, in_work_dir, python_anchor};

/// Options of `loev bench embed`, which are its command-line flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Track lengths in seconds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "30,600")]
    pub seconds: Vec<f64>,
    /// Slices per forward pass (`loev embed --batch`).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    // Sizes rayon's global pool, which can be done once per process.
    /// Threads for both frameworks (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip the mule-torch anchor.
    #[arg(long)]
    pub no_anchor: bool,
    /// Python interpreter with torch and mule-torch (default: $LOEV_PYTHON, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Keep the generated model files here instead of a temporary folder.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// The test track of `seconds` at 16 kHz (the anchor computes the same formula): three sines,
/// two of them slowly gliding, so that every slice differs.
pub fn test_track(seconds: f64) -> Vec<f32> {
    let n = (seconds * 16000.0).round() as usize;
    let two_pi = 2.0 * std::f64::consts::PI;
    (0..n)
        .map(|i| {
            let t = i as f64 / 16000.0;
            let x = 0.2 * (two_pi * (220.0 * t + 20.0 * (two_pi * 0.05 * t).sin())).sin()
                + 0.15 * (two_pi * 330.0 * t).sin()
                + 0.1 * (two_pi * (1000.0 * t + 300.0 * (two_pi * 0.11 * t).sin())).sin();
            x as f32
        })
        .collect()
}

/// One timed track.
#[derive(Clone, Debug)]
struct Timing {
    seconds: f64,
    slices: usize,
    wall_s: f64,
    peak_mib: Option<f64>,
    embedding: Vec<f32>,
}

/// Runs the benchmark and prints its figures.
pub fn run(options: &Options) -> Result<(), BenchError> {
    if let Some(threads) = options.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(BenchError::Threads)?;
    }
    if options.seconds.is_empty() || options.seconds.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(BenchError::Invalid(format!(
            "--seconds {:?}: give positive track lengths",
            options.seconds
        )));
    }
    if options.batch == 0 {
        return Err(BenchError::Invalid("--batch must be at least 1".into()));
    }
    let threads = rayon::current_num_threads();
    in_work_dir(options.work_dir.as_deref(), "embed", |dir| bench(options, threads, dir))
}

fn bench(options: &Options, threads: usize, dir: &Path) -> Result<(), BenchError> {
    println!(
        "loev bench embed: the full MULE encoder (62,345,742 parameters) on the CPU, {threads} thread(s), tracks of {:?} s",
        options.seconds
    );
    let anchor = if options.no_anchor {
        Err("skipped (--no-anchor)".to_string())
    } else {
        run_anchor(options, threads, dir)
    };
    let model_file = dir.join("mule.safetensors");
    let weights = match &anchor {
        Ok((_, folder)) => {
            loev_artifacts::mule_torch::import_mule_torch(folder, &model_file)
                .map_err(|e| BenchError::Invalid(format!("importing the anchor's folder: {e}")))?;
            "mule-torch's (imported)"
        }
        Err(_) => {
            write_random_model(&model_file)?;
            "seeded random"
        }
    };
    let device = Device::flex();
    let embed_options = EmbedOptions {
        batch_size: options.batch,
        hop_seconds: 2.0,
    };
    let embedder = Embedder::from_model_file(&model_file, device, embed_options)
        .map_err(|e| BenchError::Invalid(format!("loading {}: {e}", model_file.display())))?;
    // Warm-up: the first forward pass allocates and plans.
    embedder
        .embed_audio(&test_track(3.0))
        .map_err(|e| BenchError::Invalid(e.to_string()))?;
    let mut ours = Vec::new();
    for &seconds in &options.seconds {
        let audio = test_track(seconds);
        reset_peak_rss();
        let start = Instant::now();
        let (track, stats) = embedder
            .embed_audio(&audio)
            .map_err(|e| BenchError::Invalid(e.to_string()))?;
        let wall_s = start.elapsed().as_secs_f64();
        let peak_mib = loev_core::process::peak_rss_bytes().map(|b| b as f64 / 1048576.0);
        let embedding = track.space("v").map(|v| v.mean.clone()).unwrap_or_default();
        ours.push(Timing {
            seconds,
            slices: stats.slices,
            wall_s,
            peak_mib,
            embedding,
        });
    }

    println!("weights: {weights}; loev batch {} slices", options.batch);
    println!(
        "{:>9} {:>7}  {:>26}  {:>26}  {:>7}  {:>9}",
        "track", "slices", "loev: s / clips/s / ×RT", "mule-torch: s / clips/s / ×RT", "ratio", "cosine"
    );
    let torch = anchor.as_ref().ok().map(|(t, _)| t);
    for (i, t) in ours.iter().enumerate() {
        let theirs = torch.and_then(|t| t.results.get(i));
        let cell = |t: &Timing| {
            format!(
                "{:7.2} / {:6.2} / {:6.1}",
                t.wall_s,
                t.slices as f64 / t.wall_s,
                t.seconds / t.wall_s
            )
        };
        let (their_cell, ratio, cos) = match theirs {
            Some(th) => (
                cell(th),
                format!("{:6.2}×", th.wall_s / t.wall_s),
                format!("{:.7}", cosine_similarity(&t.embedding, &th.embedding)),
            ),
            None => ("—".into(), "—".into(), "—".into()),
        };
        println!(
            "{:>7.0} s {:>7}  {:>26}  {:>26}  {:>7}  {:>9}",
            t.seconds,
            t.slices,
            cell(t),
            their_cell,
            ratio,
            cos
        );
    }
    let mib = |m: Option<f64>| m.map_or("—".to_string(), |m| format!("{m:.0} MiB"));
    for (i, t) in ours.iter().enumerate() {
        let theirs = torch.and_then(|t| t.results.get(i)).and_then(|t| t.peak_mib);
        println!(
            "peak resident memory, {:.0} s track: loev {} (weights included), mule-torch {}",
            t.seconds,
            mib(t.peak_mib),
            mib(theirs)
        );
    }
    match &anchor {
        Ok((t, _)) => println!(
            "anchor: mule-torch {} on torch {} ({} thread(s)); ratio = mule-torch time / loev time",
            t.mule_torch, t.torch, t.threads
        ),
        Err(reason) => println!("anchor: {reason}"),
    }
    Ok(())
}

/// What the anchor measured.
struct TorchResults {
    torch: String,
    mule_torch: String,
    threads: u64,
    results: Vec<Timing>,
}

/// Runs the anchor, which saves its model into `dir/mule-torch`; returns its figures and that
/// folder, or why it was skipped.
fn run_anchor(options: &Options, threads: usize, dir: &Path) -> Result<(TorchResults, PathBuf), String> {
    let script = python_anchor::script("bench/anchors/mule_torch_embed.py")?;
    let folder = dir.join("mule-torch");
    let mel_fb = dir.join("mel_fb.npy");
    let frontend = FrontEnd::new(FrontEndConfig::default()).map_err(|e| e.to_string())?;
    let config = frontend.config();
    loev_core::io::write_npy_f32(
        &mel_fb,
        &[config.n_mels as u64, (config.n_fft / 2 + 1) as u64],
        &frontend.filterbank(),
    )
    .map_err(|e| format!("cannot write {}: {e}", mel_fb.display()))?;
    let seconds: Vec<String> = options.seconds.iter().map(|s| s.to_string()).collect();
    let args: Vec<OsString> = vec![
        "--save".into(),
        folder.clone().into(),
        "--mel-fb".into(),
        mel_fb.into(),
        "--seconds".into(),
        seconds.join(",").into(),
        "--threads".into(),
        threads.to_string().into(),
    ];
    let python = python_anchor::interpreter(options.python.as_deref());
    let value = python_anchor::run_json(
        &python,
        &script,
        &args,
        Some(threads),
        "torch, mule-torch and safetensors",
    )?;
    let results = value["results"]
        .as_array()
        .ok_or("skipped: the anchor printed no results")?
        .iter()
        .map(|r| Timing {
            seconds: r["seconds"].as_f64().unwrap_or(0.0),
            slices: r["slices"].as_u64().unwrap_or(0) as usize,
            wall_s: r["wall_s"].as_f64().unwrap_or(f64::NAN),
            peak_mib: r["peak_mib"].as_f64(),
            embedding: r["embedding"]
                .as_array()
                .map(|e| e.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect())
                .unwrap_or_default(),
        })
        .collect();
    let text = |key: &str| value[key].as_str().unwrap_or("?").to_string();
    Ok((
        TorchResults {
            torch: text("torch"),
            mule_torch: text("mule_torch"),
            threads: value["threads"].as_u64().unwrap_or(0),
            results,
        },
        folder,
    ))
}

/// A full encoder with seeded random weights, as a model file with MULE's front end.
fn write_random_model(path: &Path) -> Result<(), BenchError> {
    let config = LoevModelConfig::encoder_only(EncoderConfig::full());
    let model = LoevModel::try_init(&config, &Device::flex(), 0)?;
    let info = ModelFileInfo::new(FrontEndConfig::default(), Vec::new(), "bench".into(), None, 0);
    write_model_file(path, &model, &config, &info).map_err(|e| BenchError::Invalid(e.to_string()))
}

/// Resets the peak resident memory that `peak_rss_bytes` reads (Linux ≥ 4.0); elsewhere the
/// peak stays the process's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
