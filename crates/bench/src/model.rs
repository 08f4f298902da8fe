//! `loev bench model`: one training step (forward + backward + Adam) of (a) the full SF-NFNet-F0
//! encoder + one head at batch 8 and (b) the tiny demo model at batch 64, against the same
//! architecture in PyTorch (`bench/torch/sfnfnet_step.py`) run in the same invocation when a
//! Python with torch is available (`--python`, else `$LOEV_PYTHON`, else `python3`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::step::{StepBenchConfig, StepTimings, time_training_steps, training_flops_per_step};
use crate::{BenchError, python_anchor};
use loev_core::process::peak_rss_bytes;
use loev_model::{EncoderConfig, LoevModelConfig, open_device, set_custom_kernels};

/// Which model sizes to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Case {
    /// Full SF-NFNet-F0 (62.3 M-parameter encoder).
    Full,
    /// `EncoderConfig::tiny()`, the demo model.
    Tiny,
    /// Both.
    Both,
}

/// Options of `loev bench model`, which are its command-line flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Model sizes to time.
    #[arg(long, value_enum, default_value = "both")]
    pub case: Case,
    /// Batches of the full-size case, comma-separated (each is timed; on an H200: 64,256).
    #[arg(long, value_delimiter = ',', default_value = "8")]
    pub full_batch: Vec<usize>,
    /// Batch of the tiny case (demo: 16 anchors × 4 views).
    #[arg(long, default_value_t = 64)]
    pub tiny_batch: usize,
    /// Also time the tiny case with its fast path this many times wider
    /// (`EncoderConfig::widen_fast_path`; 2 is hypothesis H4's encoder in docs/tempo-half.md),
    /// right after the tiny case, with the ratio between them. PyTorch's model has no such
    /// option, so that case runs without the anchor.
    #[arg(long, default_value_t = 1)]
    pub fast_path_width: usize,
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
    // Sizes rayon's global pool, which can be done once per process.
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

/// One timed configuration (the PyTorch script rebuilds it from the width multiplier and depths).
struct CaseSpec {
    name: String,
    width_multiplier: f64,
    depths: [usize; 4],
    model: LoevModelConfig,
    batch: usize,
    /// The case whose median this one is compared with (by index), for a variant of it that
    /// PyTorch cannot build.
    versus: Option<usize>,
}

/// Runs the benchmark and prints its figures.
pub fn run(options: &Options) -> Result<(), BenchError> {
    if let Some(threads) = options.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(BenchError::Threads)?;
    }
    let (choice, device) = open_device(&options.device, true)?;
    let threads = rayon::current_num_threads();
    if options.heads == 0 {
        return Err(BenchError::Invalid("--heads must be at least 1".into()));
    }
    let heads: Vec<String> = (0..options.heads)
        .map(|k| {
            if k == 0 {
                "invariant".into()
            } else {
                format!("variant_{k}")
            }
        })
        .collect();

    let mut cases = Vec::new();
    if matches!(options.case, Case::Full | Case::Both) {
        for &batch in &options.full_batch {
            let full = EncoderConfig::full();
            cases.push(CaseSpec {
                name: "full SF-NFNet-F0".into(),
                width_multiplier: 1.0,
                depths: full.depths,
                model: LoevModelConfig::new(full, heads.clone()).with_plusplus(options.plusplus),
                batch,
                versus: None,
            });
        }
    }
    if matches!(options.case, Case::Tiny | Case::Both) {
        let tiny = LoevModelConfig::demo(heads.clone(), options.plusplus);
        cases.push(CaseSpec {
            name: "tiny (demo)".into(),
            width_multiplier: EncoderConfig::TINY_WIDTH_MULTIPLIER,
            depths: EncoderConfig::TINY_DEPTHS,
            model: tiny.clone(),
            batch: options.tiny_batch,
            versus: None,
        });
        if options.fast_path_width > 1 {
            let wide = EncoderConfig::tiny().widen_fast_path(options.fast_path_width);
            let width = wide.embedding_dim();
            cases.push(CaseSpec {
                name: format!("tiny, fast path {}× wider", options.fast_path_width),
                width_multiplier: EncoderConfig::TINY_WIDTH_MULTIPLIER,
                depths: EncoderConfig::TINY_DEPTHS,
                model: LoevModelConfig::new(wide, heads.clone())
                    .with_projection_dims(vec![width, width, 128])
                    .with_plusplus(options.plusplus),
                batch: options.tiny_batch,
                versus: Some(cases.len() - 1),
            });
        }
    } else if options.fast_path_width > 1 {
        return Err(BenchError::Invalid(
            "--fast-path-width applies to the tiny case (--case tiny or both)".into(),
        ));
    }

    println!(
        "loev bench model: one training step (forward + backward + Adam), input {}×{}, device {choice}, {threads} thread(s), {} timed + {} warm-up steps, median",
        options.mels,
        options.frames,
        options.steps.max(1),
        options.warmup
    );
    let python = python_anchor::interpreter(options.python.as_deref());

    let mut medians: Vec<f64> = Vec::with_capacity(cases.len());
    for case in &cases {
        let bench = StepBenchConfig {
            model: case.model.clone(),
            batch: case.batch,
            mels: options.mels,
            frames: options.frames,
            steps: options.steps.max(1),
            warmup: options.warmup,
            seed: 1,
        };
        println!();
        println!(
            "{} — batch {}, {} head(s){}, projection {:?}",
            case.name,
            case.batch,
            options.heads,
            if options.plusplus { ", LOEV++" } else { "" },
            case.model.projection_dims
        );
        set_custom_kernels(true);
        let flops = training_flops_per_step(&case.model, case.batch, options.mels, options.frames)?;
        let ours = time_training_steps(&bench, &device)?;
        println!(
            "  params: {}; {:.2} GFLOP per step (3 × forward conv + dense)",
            ours.params,
            flops / 1e9
        );
        report("burn (loev kernels)", &ours, None);
        rates("burn", &ours, case.batch, flops, options.peak_tflops);
        medians.push(ours.median_ms());
        if let Some(reference) = case.versus.and_then(|k| Some((cases.get(k)?, *medians.get(k)?))) {
            let (base, base_ms) = reference;
            println!(
                "  {:.2}× the time per step of {} in this run ({:.0} vs {base_ms:.0} ms); no PyTorch anchor for this variant",
                ours.median_ms() / base_ms,
                base.name,
                ours.median_ms()
            );
            continue;
        }
        if options.burn_kernels {
            set_custom_kernels(false);
            let before = time_training_steps(&bench, &device)?;
            set_custom_kernels(true);
            report("burn (burn-flex kernels)", &before, Some(ours.median_ms()));
        }
        if options.no_torch {
            continue;
        }
        let mut modes = vec![TorchMode::F32];
        if options.torch_bf16 {
            modes.push(TorchMode::Bf16ChannelsLast);
        }
        for mode in modes {
            match run_torch(&python, case, options, threads, mode) {
                Ok(torch) => {
                    if torch.params != ours.params {
                        println!(
                            "  warning: PyTorch model has {} parameters, burn {}",
                            torch.params, ours.params
                        );
                    }
                    let torch_ms = torch.timings.median_ms();
                    report(
                        &format!("PyTorch {} {}", torch.version, mode.label()),
                        &torch.timings,
                        None,
                    );
                    rates("PyTorch", &torch.timings, case.batch, flops, options.peak_tflops);
                    if let Some(bytes) = torch.peak_gpu_bytes {
                        println!(
                            "    PyTorch peak GPU memory allocated: {:.0} MiB",
                            bytes as f64 / 1048576.0
                        );
                    }
                    if let Some(torch_flops) = torch.flops {
                        println!(
                            "    PyTorch's own FLOP count: {:.3} TFLOP per step (loev's count: {:.3})",
                            torch_flops / 1e12,
                            flops / 1e12
                        );
                    }
                    println!(
                        "  ratio to PyTorch {}: burn {:.1} ms vs {:.1} ms per step → burn at {:.2}× PyTorch's speed",
                        mode.label(),
                        ours.median_ms(),
                        torch_ms,
                        torch_ms / ours.median_ms(),
                    );
                }
                Err(why) => println!("  PyTorch reference ({}): {why}", mode.label()),
            }
        }
    }
    if let Some(bytes) = peak_rss_bytes() {
        println!();
        println!(
            "peak resident memory of the burn runs: {:.0} MiB",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

fn report(label: &str, t: &StepTimings, reference_ms: Option<f64>) {
    let min = t.wall_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let cpu = t
        .median_cpu_ms()
        .map(|c| format!(", {c:.0} CPU-ms"))
        .unwrap_or_default();
    let versus = reference_ms
        .map(|r| format!(" ({:.2}× the loev-kernel time)", t.median_ms() / r))
        .unwrap_or_default();
    println!(
        "  {label:<34} {:>8.0} ms/step (min {min:.0}{cpu}), loss {:.3e}{versus}",
        t.median_ms(),
        t.last_loss
    );
}

/// Views per second, counted TFLOP/s and, with a peak, the model FLOP utilisation.
fn rates(label: &str, t: &StepTimings, batch: usize, flops: f64, peak_tflops: Option<f64>) {
    let seconds = t.median_ms() / 1e3;
    let tflops = flops / seconds / 1e12;
    let mfu = peak_tflops
        .map(|peak| format!(", MFU {:.1} % of {peak} TFLOP/s", 100.0 * tflops / peak))
        .unwrap_or_default();
    println!(
        "    {label}: {:.1} views/s, {tflops:.3} TFLOP/s{mfu}",
        batch as f64 / seconds
    );
}

/// How the PyTorch reference runs.
#[derive(Clone, Copy)]
enum TorchMode {
    /// f32 weights and activations (PyTorch's defaults: cuDNN may use TF32 for convolutions).
    F32,
    /// bf16 autocast with channels-last tensors (PyTorch's fast path on tensor cores).
    Bf16ChannelsLast,
}

impl TorchMode {
    fn label(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16ChannelsLast => "bf16 autocast, channels-last",
        }
    }
}

/// Figures from the PyTorch script.
struct TorchRun {
    timings: StepTimings,
    params: usize,
    version: String,
    peak_gpu_bytes: Option<u64>,
    flops: Option<f64>,
}

fn run_torch(
    python: &Path,
    case: &CaseSpec,
    options: &Options,
    threads: usize,
    mode: TorchMode,
) -> Result<TorchRun, String> {
    let script = python_anchor::script("bench/torch/sfnfnet_step.py")?;
    let depths = case.depths.map(|d| d.to_string()).join(",");
    let dims = case
        .model
        .projection_dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The same GPU through CUDA whatever loev's backend is; "cuda:N" keeps its index.
    let device = match options.device.split_once(':') {
        _ if options.device == "cpu" || options.device.ends_with(":cpu") => "cpu".to_string(),
        Some(("cuda", index)) => format!("cuda:{index}"),
        _ => "cuda".to_string(),
    };
    let flags = [
        ("--width-multiplier", case.width_multiplier.to_string()),
        ("--depths", depths),
        ("--batch", case.batch.to_string()),
        ("--heads", options.heads.to_string()),
        ("--projection-dims", dims),
        ("--mels", options.mels.to_string()),
        ("--frames", options.frames.to_string()),
        ("--steps", options.steps.max(1).to_string()),
        ("--warmup", options.warmup.to_string()),
        ("--threads", threads.to_string()),
        ("--device", device),
    ];
    let mut script_args: Vec<OsString> = flags
        .into_iter()
        .flat_map(|(flag, value)| [OsString::from(flag), OsString::from(value)])
        .collect();
    if options.plusplus {
        script_args.push("--plusplus".into());
    }
    if let TorchMode::Bf16ChannelsLast = mode {
        script_args.extend(["--dtype", "bf16", "--channels-last"].map(OsString::from));
    }
    let json = python_anchor::run_json(
        python,
        &script,
        &script_args,
        None,
        "torch (pip install -r bench/torch/requirements.txt)",
    )?;
    let floats = |key: &str| -> Vec<f64> {
        json.get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default()
    };
    let wall_ms = floats("ms_per_step");
    if wall_ms.is_empty() {
        return Err("the script reported no step times".into());
    }
    let timings = StepTimings {
        cpu_ms: floats("cpu_ms_per_step"),
        params: json.get("params").and_then(|v| v.as_u64()).unwrap_or(0) as usize,
        last_loss: json.get("loss").and_then(|v| v.as_f64()).unwrap_or(f64::NAN) as f32,
        wall_ms,
    };
    Ok(TorchRun {
        params: timings.params,
        version: json.get("torch").and_then(|v| v.as_str()).unwrap_or("?").to_string(),
        peak_gpu_bytes: json.get("peak_gpu_bytes").and_then(|v| v.as_u64()),
        flops: json.get("flops_per_step").and_then(|v| v.as_f64()),
        timings,
    })
}
