//! `loev bench …`: speed benchmarks (crate `loev-bench`). Each prints its figures and the ratio
//! against the anchor measured in the same run; nothing here is asserted.

use std::path::PathBuf;

use super::MethodArg;

/// Subcommands of `loev bench`.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Decode + resample speed (× real time) and front-end speed (slices/s), against librosa.
    Audio(AudioArgs),
    /// Augmentation chain + log-mel views/s, against the Python anchor.
    Augment(AugmentArgs),
    /// One training step of the encoder + head, against PyTorch.
    Model(ModelArgs),
    /// Training throughput (views/s) and data-wait share of presets.
    Train(TrainArgs),
}

/// Runs `loev bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Audio(args) => loev_bench::audio::run(&args.into())?,
        BenchCommand::Augment(args) => loev_bench::augment::run(&args.into())?,
        BenchCommand::Model(args) => loev_bench::model::run(&args.into())?,
        BenchCommand::Train(args) => loev_bench::train::run(&args.into())?,
    }
    Ok(())
}

/// Arguments of `loev bench audio`.
#[derive(clap::Args)]
pub struct AudioArgs {
    /// Seconds of generated test music per file.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Timed repetitions; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// 3 s views per front-end timing.
    #[arg(long, default_value_t = 300)]
    pub slices: usize,
    /// Skip the librosa anchor.
    #[arg(long)]
    pub no_anchor: bool,
    /// Folder for the generated wav files (default: a temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

impl From<AudioArgs> for loev_bench::audio::Options {
    fn from(args: AudioArgs) -> Self {
        Self {
            seconds: args.seconds,
            repeats: args.repeats,
            slices: args.slices,
            no_anchor: args.no_anchor,
            work_dir: args.work_dir,
        }
    }
}

/// Arguments of `loev bench augment`.
#[derive(clap::Args)]
#[command(
    after_help = "The anchor runs under $LOEV_PYTHON (default python3), which needs audiomentations, \
pedalboard and librosa: pip install -r bench/anchors/requirements-augment.txt"
)]
pub struct AugmentArgs {
    /// Views timed per measurement (loev rounds up to whole batches).
    #[arg(long, default_value_t = 256)]
    pub views: usize,
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
    /// Measure only this pitch/stretch method (default: both).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
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

impl From<AugmentArgs> for loev_bench::augment::Options {
    fn from(args: AugmentArgs) -> Self {
        Self {
            views: args.views,
            seconds: args.seconds,
            anchors: args.anchors,
            views_per_anchor: args.views_per_anchor,
            every_transform: args.every_transform,
            config: args.config,
            seed: args.seed,
            method: args.method.map(Into::into),
            max_workers: args.max_workers,
            no_anchor: args.no_anchor,
            work_dir: args.work_dir,
        }
    }
}

/// Which model sizes to time.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CaseArg {
    /// Full SF-NFNet-F0 (62.3 M-parameter encoder).
    Full,
    /// `EncoderConfig::tiny()`, the demo model.
    Tiny,
    /// Both.
    Both,
}

impl From<CaseArg> for loev_bench::model::Case {
    fn from(case: CaseArg) -> Self {
        match case {
            CaseArg::Full => Self::Full,
            CaseArg::Tiny => Self::Tiny,
            CaseArg::Both => Self::Both,
        }
    }
}

/// Arguments of `loev bench model`.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Model sizes to time.
    #[arg(long, value_enum, default_value = "both")]
    pub case: CaseArg,
    /// Batches of the full-size case, comma-separated (each is timed; on an H200: 64,256).
    #[arg(long, value_delimiter = ',', default_value = "8")]
    pub full_batch: Vec<usize>,
    /// Batch of the tiny case (demo: 16 anchors × 4 views).
    #[arg(long, default_value_t = 64)]
    pub tiny_batch: usize,
    /// Projection heads (1 = MULE; 3 = LOEV with pitch and tempo heads).
    #[arg(long, default_value_t = 1)]
    pub heads: usize,
    /// LOEV++ branches (needs --heads ≥ 1).
    #[arg(long)]
    pub plusplus: bool,
    /// Input mel bands.
    #[arg(long, default_value_t = 96)]
    pub mels: usize,
    /// Input frames.
    #[arg(long, default_value_t = 300)]
    pub frames: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Threads for both frameworks (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also time burn-flex's own GELU / conv2d kernels (the figure before the custom kernels).
    #[arg(long)]
    pub burn_kernels: bool,
    /// Skip the PyTorch reference.
    #[arg(long)]
    pub no_torch: bool,
    /// Python interpreter with torch (default: $LOEV_PYTHON, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Device: cpu, cuda:N, vulkan:N, vulkan:cpu or opengl:cpu (GPU backends need a build with
    /// `--features vulkan` or `--features cuda`). On a GPU the PyTorch reference runs on CUDA.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The device's peak in TFLOP/s, to report the model FLOP utilisation (MFU = counted
    /// FLOPs per second / peak). E.g. 989 for an H200's dense bf16 tensor cores.
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Also time PyTorch with bf16 autocast and channels-last memory (GPU only).
    #[arg(long)]
    pub torch_bf16: bool,
}

impl From<ModelArgs> for loev_bench::model::Options {
    fn from(args: ModelArgs) -> Self {
        Self {
            case: args.case.into(),
            full_batch: args.full_batch,
            tiny_batch: args.tiny_batch,
            heads: args.heads,
            plusplus: args.plusplus,
            mels: args.mels,
            frames: args.frames,
            steps: args.steps,
            warmup: args.warmup,
            threads: args.threads,
            burn_kernels: args.burn_kernels,
            no_torch: args.no_torch,
            python: args.python,
            device: args.device,
            peak_tflops: args.peak_tflops,
            torch_bf16: args.torch_bf16,
        }
    }
}

/// Arguments of `loev bench train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Presets to measure (NAME:SIZE), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "loev-psts:tiny,loev-psts:full")]
    presets: Vec<String>,
    /// Timed steps per preset (after the warm-up steps).
    #[arg(long, default_value_t = 20)]
    steps: u64,
    /// Untimed warm-up steps per preset.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Anchors per batch for the full-size presets (the seed's 256 needs a GPU; on a CPU a
    /// small batch measures the per-view cost).
    #[arg(long, default_value_t = 8)]
    full_anchors: usize,
    /// Tracks of the built-in corpus used as training data.
    #[arg(long, default_value_t = 24)]
    tracks: usize,
    /// Device (cpu, cuda:N, vulkan:N, vulkan:cpu, or a list such as cuda:0,1).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Augmentation workers (default: the preset's).
    #[arg(long)]
    workers: Option<usize>,
}

impl From<TrainArgs> for loev_bench::train::Options {
    fn from(args: TrainArgs) -> Self {
        Self {
            presets: args.presets,
            steps: args.steps,
            warmup: args.warmup,
            full_anchors: args.full_anchors,
            tracks: args.tracks,
            device: args.device,
            workers: args.workers,
        }
    }
}
