//! `loev bench augment`: views/s of the full augmentation chain (the seed's Table IV chain, pitch shift +
//! time stretch included) plus the MULE log-mel, with both pitch/stretch methods (exact =
//! Signalsmith waveform, spectral = warped STFT read), per stage and on one core, against the
//! Python anchor (audiomentations + pedalboard + librosa, `bench/anchors/augment_anchor.py`)
//! measured in the same run; then the loader's scaling over 1, 2, 4, 8 and 16 workers where
//! the cores allow. Nothing here is asserted.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::{BenchError, in_work_dir, python_anchor};
use loev_audio::cache::AudioCache;
use loev_audio::chunks::{Crop, read_crop};
use loev_audio::frontend::{FrontEnd, SpectralWarp};
use loev_augment::{AugmentChain, BatchLoader, ChainConfig, DataConfig, LoaderConfig, StretchMethod, ViewPlan};
use loev_core::rng::{derive_seed, derived_rng};

/// Options of `loev bench augment`, which are its command-line flags.
#[derive(Clone, Debug, clap::Args)]
#[command(
    after_help = "The anchor runs under $LOEV_PYTHON (default python3), which needs audiomentations, \
pedalboard and librosa: pip install -r bench/anchors/requirements-augment.txt"
)]
pub struct Options {
    /// Views timed per measurement (loev rounds up to whole batches).
    #[arg(long, default_value_t = 256)]
    pub views: usize,
    // `run` takes 8…3600 s.
    /// Seconds of generated music (the built-in corpus) the views are cropped from.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Anchors per batch of the loev loader.
    #[arg(long, default_value_t = 16)]
    pub anchors: usize,
    /// Views per anchor of the loev loader.
    #[arg(long, default_value_t = 4)]
    pub views_per_anchor: usize,
    /// Apply every transform to every view (all p = 1) on both sides.
    #[arg(long)]
    pub every_transform: bool,
    /// loev's chain (TOML, as for `loev augment --config`), e.g. `[stretcher] preset =
    /// "cheaper"`; the Python anchor always runs the default chain.
    #[arg(long, value_name = "TOML")]
    pub config: Option<PathBuf>,
    /// Seed of the music and of the views.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Measure only this pitch/stretch method (default: both)
    ///
    /// Possible values:
    /// - exact:    Signalsmith Stretch renders the waveform, then the log-mel
    /// - spectral: The log-mel is read from the source span's STFT through a warp (no waveform)
    #[arg(long, verbatim_doc_comment)]
    pub method: Option<StretchMethod>,
    /// Most loader workers to measure (1, 2, 4, 8, 16, up to the cores available).
    #[arg(long, default_value_t = 16)]
    pub max_workers: usize,
    /// Skip the Python anchor.
    #[arg(long)]
    pub no_anchor: bool,
    /// Folder for the generated wav and cache (default: a temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// Runs the benchmark and prints its figures.
pub fn run(options: &Options) -> Result<(), BenchError> {
    if !(options.seconds.is_finite() && (8.0..=3600.0).contains(&options.seconds)) {
        return Err(BenchError::Invalid(
            "--seconds must lie in 8…3600 (views read up to 3.9 s of audio)".into(),
        ));
    }
    if options.views == 0 || options.anchors == 0 || options.views_per_anchor == 0 {
        return Err(BenchError::Invalid(
            "--views, --anchors and --views-per-anchor must be at least 1".into(),
        ));
    }
    in_work_dir(options.work_dir.as_deref(), "augment", |dir| bench(options, dir))
}

fn chain_config(path: Option<&Path>, every_transform: bool) -> Result<ChainConfig, BenchError> {
    let mut chain = match path {
        Some(path) => ChainConfig::from_toml_file(path)?,
        None => ChainConfig::default(),
    };
    if every_transform {
        chain.set_base_probability(1.0);
        chain.pitch_shift.p = 1.0;
        chain.time_stretch.p = 1.0;
    }
    Ok(chain)
}

fn bench(options: &Options, dir: &Path) -> Result<(), BenchError> {
    let mode = match (&options.config, options.every_transform) {
        (Some(path), _) => format!(
            "loev's chain from {}; the anchor runs the default chain",
            path.display()
        ),
        (None, true) => "every transform on every view".to_string(),
        (None, false) => "the seed's Table IV probabilities".to_string(),
    };
    println!("loev bench augment: chain of the seed's Table IV ({mode}) + MULE log-mel 96 × 300, 3 s views");

    // The same audio for both sides: one generated track, written as wav and read back.
    let corpus_cfg = loev_corpus::CorpusConfig {
        track_seconds: (options.seconds, options.seconds),
        ..Default::default()
    };
    let track = loev_corpus::generate_track(options.seed, 0, &corpus_cfg);
    let wav = dir.join("music.wav");
    loev_audio::wav::write_wav(&wav, &track.audio, loev_audio::SAMPLE_RATE).map_err(|source| BenchError::Write {
        path: wav.clone(),
        source,
    })?;
    let audio = loev_audio::decode::load_mono(&wav)?;
    let cache_dir = dir.join("cache");
    AudioCache::build_from_tracks([("music".to_string(), audio.clone(), Default::default())], &cache_dir)?;
    let cache = Arc::new(AudioCache::open(&cache_dir)?);

    let base = LoaderConfig {
        data: DataConfig {
            anchors: options.anchors,
            views: options.views_per_anchor,
            prefetch: 1,
            ..DataConfig::default()
        },
        seed: options.seed,
        chain: chain_config(options.config.as_deref(), options.every_transform)?,
        ..LoaderConfig::default()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let worker_counts: Vec<usize> = [1, 2, 4, 8, 16]
        .into_iter()
        .filter(|&w| w == 1 || w <= cores.min(options.max_workers))
        .collect();
    let mut methods = Vec::new();
    let chosen = match options.method {
        None => vec![StretchMethod::Exact, StretchMethod::Spectral],
        Some(method) => vec![method],
    };
    for method in chosen {
        let mut cfg = base.clone();
        cfg.chain.stretcher.method = method;
        let stages = stage_split(&cfg, &audio)?;
        let mut rates = Vec::new();
        for &workers in &worker_counts {
            rates.push(loader_views_per_s(&cache, &cfg, workers, options.views)?);
        }
        methods.push((method, stages, rates));
    }
    let anchor = if options.no_anchor {
        Err("skipped (--no-anchor)".to_string())
    } else {
        run_anchor(&wav, options)
    };

    println!();
    println!("stage split, one thread (ms/view)");
    for (method, stages, _) in &methods {
        match method {
            StretchMethod::Exact => println!(
                "  loev exact     pitch+stretch {:.2} | other augmentations {:.2} | log-mel {:.2} | total {:.2}",
                stages[0],
                stages[1],
                stages[2],
                stages.iter().sum::<f64>()
            ),
            StretchMethod::Spectral => println!(
                "  loev spectral  other augmentations (on the source span) {:.2} | warped log-mel (pitch+stretch+log-mel) {:.2} | total {:.2}",
                stages[1],
                stages[2],
                stages.iter().sum::<f64>()
            ),
        }
    }
    if let Ok(a) = &anchor {
        println!(
            "  Python anchor  pitch+stretch {:.2} | other augmentations {:.2} | log-mel {:.2} | total {:.2}",
            a.ms[0],
            a.ms[1],
            a.ms[2],
            a.ms.iter().sum::<f64>()
        );
    }
    let cpu = |r: Option<f64>| r.map_or("n/a".to_string(), |v| format!("{v:.1}"));
    println!("one core, views/s (higher is better)     wall-clock   per CPU-second   ÷ anchor (wall, CPU)");
    for (method, _, rates) in &methods {
        let one = &rates[0];
        let ratio = match &anchor {
            Ok(a) => format!(
                "{:.2}×, {}",
                one.views_per_s / a.views_per_s,
                one.cpu_views_per_s
                    .map_or("n/a".to_string(), |v| format!("{:.2}×", v / a.cpu_views_per_s))
            ),
            Err(_) => "n/a".to_string(),
        };
        println!(
            "  loev {:<9} (BatchLoader, 1 worker) {:>9.1}   {:>14}   {ratio}",
            method.name(),
            one.views_per_s,
            cpu(one.cpu_views_per_s)
        );
    }
    match &anchor {
        Ok(a) => {
            println!(
                "  Python anchor                          {:>9.1}   {:>14.1}",
                a.views_per_s, a.cpu_views_per_s
            );
            println!("  anchor: {}", a.versions);
        }
        Err(reason) => println!("  Python anchor: {reason}"),
    }
    println!("workers (BatchLoader; {cores} cores here), views/s wall-clock and ÷ one worker");
    for (method, _, rates) in &methods {
        let cells: Vec<String> = worker_counts
            .iter()
            .zip(rates)
            .map(|(w, r)| {
                format!(
                    "{w}: {:.1} ({:.2}×)",
                    r.views_per_s,
                    r.views_per_s / rates[0].views_per_s
                )
            })
            .collect();
        println!("  loev {:<9} {}", method.name(), cells.join(" | "));
    }
    println!(
        "load average at the end: {} (other work on the machine lowers the wall-clock figures)",
        load_average()
    );
    Ok(())
}

/// Milliseconds per view of three stages, measured sequentially on this thread over 64 views.
/// Exact method: (pitch shift + time stretch), (the other transforms on the view), (the
/// log-mel). Spectral method: 0, (the other transforms on the source span), (the warped
/// log-mel, which is the pitch shift, the time stretch and the log-mel at once).
fn stage_split(cfg: &LoaderConfig, audio: &[f32]) -> Result<[f64; 3], BenchError> {
    let chain = AugmentChain::new(cfg.chain.clone())?;
    let frontend = FrontEnd::new(cfg.frontend.clone())?;
    let view_len = frontend.view_samples();
    let mut out = vec![0.0f32; cfg.frontend.n_mels * cfg.frontend.frames];
    let mut totals = [0.0f64; 3];
    let n = 64;
    for v in 0..n + 4 {
        let mut rng = derived_rng(cfg.seed ^ 0x5eed, &[v as u64]);
        let plan = chain.plan(&mut rng);
        let len = plan.source_len(view_len);
        let room = audio.len().saturating_sub(len) as u64 + 1;
        let crop = Crop {
            start: (derive_seed(cfg.seed, &[v as u64]) % room) as usize,
            len,
        };
        let source = read_crop(audio, &crop);
        let (t0, t1, t2, t3) = match chain.method() {
            StretchMethod::Exact => {
                let stretch_only = ViewPlan::variant_only(plan.pitch_semitones, plan.stretch_rate);
                let t0 = Instant::now();
                let mut x = chain.render(&stretch_only, &source, view_len);
                let t1 = Instant::now();
                chain.render_effects(&plan, &mut x);
                let t2 = Instant::now();
                frontend.view_input(&x, &mut out);
                (t0, t1, t2, Instant::now())
            }
            StretchMethod::Spectral => {
                let t0 = Instant::now();
                let mut span = source;
                chain.render_effects(&plan, &mut span);
                let t2 = Instant::now();
                frontend.warped_mel_power(
                    &span,
                    SpectralWarp::new(plan.stretch_rate, plan.pitch_semitones),
                    &mut out,
                );
                frontend.finish_input(&mut out);
                (t0, t0, t2, Instant::now())
            }
        };
        if v >= 4 {
            totals[0] += (t1 - t0).as_secs_f64();
            totals[1] += (t2 - t1).as_secs_f64();
            totals[2] += (t3 - t2).as_secs_f64();
        }
    }
    Ok(totals.map(|t| 1000.0 * t / n as f64))
}

/// CPU seconds used so far by this process (all threads, finished ones too), from
/// `/proc/self/stat` (Linux; `None` elsewhere).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) start with field 3 (state);
    // utime and stime are fields 14 and 15, in clock ticks (USER_HZ = 100 on Linux).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Wall-clock and CPU-time rates of one measurement.
struct Rate {
    views_per_s: f64,
    cpu_views_per_s: Option<f64>,
}

/// Views/s of the real loader with `workers` threads: one warm-up batch, then enough
/// batches for at least `views` views.
fn loader_views_per_s(
    cache: &Arc<AudioCache>,
    cfg: &LoaderConfig,
    workers: usize,
    views: usize,
) -> Result<Rate, BenchError> {
    let mut cfg = cfg.clone();
    cfg.data.workers = workers;
    let per_batch = cfg.data.anchors * cfg.data.views;
    let batches = views.div_ceil(per_batch);
    let mut loader = BatchLoader::new(Arc::clone(cache), cfg, 0)?;
    loader.next_batch()?;
    let (t0, c0) = (Instant::now(), process_cpu_seconds());
    for _ in 0..batches {
        loader.next_batch()?;
    }
    let (elapsed, c1) = (t0.elapsed().as_secs_f64(), process_cpu_seconds());
    let total = (batches * per_batch) as f64;
    let cpu_views_per_s = match (c0, c1) {
        (Some(a), Some(b)) if b > a => Some(total / (b - a)),
        _ => None,
    };
    Ok(Rate {
        views_per_s: total / elapsed,
        cpu_views_per_s,
    })
}

/// Figures from the Python anchor.
struct Anchor {
    versions: String,
    views_per_s: f64,
    cpu_views_per_s: f64,
    ms: [f64; 3],
}

fn run_anchor(wav: &Path, options: &Options) -> Result<Anchor, String> {
    let python = python_anchor::interpreter(None);
    let script = python_anchor::script("bench/anchors/augment_anchor.py")?;
    let mut script_args: Vec<OsString> = vec![
        wav.into(),
        "--views".into(),
        options.views.to_string().into(),
        "--seed".into(),
        options.seed.to_string().into(),
    ];
    if options.every_transform {
        script_args.push("--every-transform".into());
    }
    let value = python_anchor::run_json(
        &python,
        &script,
        &script_args,
        Some(1),
        "audiomentations + pedalboard + librosa (pip install -r bench/anchors/requirements-augment.txt)",
    )?;
    let number = |key: &str| {
        value[key]
            .as_f64()
            .ok_or_else(|| format!("skipped: the anchor printed no `{key}`"))
    };
    let v = &value["versions"];
    let version = |key: &str| v[key].as_str().unwrap_or("?").to_string();
    Ok(Anchor {
        versions: format!(
            "audiomentations {}, pedalboard {}, librosa {}",
            version("audiomentations"),
            version("pedalboard"),
            version("librosa")
        ),
        views_per_s: number("views_per_s")?,
        cpu_views_per_s: number("cpu_views_per_s")?,
        ms: [
            number("ms_pitch_stretch")?,
            number("ms_other_augs")?,
            number("ms_logmel")?,
        ],
    })
}
