//! `loev bench audio`: decode + resample speed (× real time) and front-end speed (slices/s),
//! both on one core, with the librosa anchor measured in the same run when Python with librosa
//! is available (`LOEV_PYTHON` names the interpreter; default `python3`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::{BenchError, in_work_dir, python_anchor};
use loev_audio::frontend::{FrontEnd, FrontEndConfig};

/// Options of `loev bench audio`, which are its command-line flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    // `run` needs at least 3.5 s (one 3 s view plus margin).
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

/// One generated test file.
struct TestFile {
    label: &'static str,
    path: PathBuf,
    seconds: f64,
}

/// Runs the benchmark and prints its figures.
pub fn run(options: &Options) -> Result<(), BenchError> {
    if !options.seconds.is_finite() || options.seconds < 3.5 {
        return Err(BenchError::Invalid(
            "--seconds must be at least 3.5 (one 3 s view plus margin)".into(),
        ));
    }
    let repeats = options.repeats.max(1);
    in_work_dir(options.work_dir.as_deref(), "audio", |dir| bench(options, repeats, dir))
}

fn bench(options: &Options, repeats: usize, dir: &Path) -> Result<(), BenchError> {
    println!(
        "loev bench audio: {:.0} s of generated music per file, best of {repeats}, one core",
        options.seconds
    );
    let files = [
        write_test_music(
            dir,
            "wav 44.1 kHz stereo",
            "music_44100_stereo.wav",
            44_100,
            2,
            options.seconds,
        )?,
        write_test_music(
            dir,
            "wav 48 kHz mono",
            "music_48000_mono.wav",
            48_000,
            1,
            options.seconds,
        )?,
    ];

    // Decode + down-mix + resample to 16 kHz, exactly what the cache does per file.
    let mut rust_decode = Vec::new();
    let mut signal = Vec::new();
    for file in &files {
        let _ = loev_audio::decode::load_mono(&file.path)?; // warm-up: builds the resampler
        let mut best = f64::INFINITY;
        for _ in 0..repeats {
            let t0 = Instant::now();
            let y = loev_audio::decode::load_mono(&file.path)?;
            best = best.min(t0.elapsed().as_secs_f64());
            if signal.is_empty() {
                signal = y;
            }
        }
        rust_decode.push(file.seconds / best);
    }

    // Front end: one standardised 96 × 300 model input per 3 s view (the training path).
    let frontend = FrontEnd::new(FrontEndConfig::default())?;
    let view = frontend.view_samples();
    let starts: Vec<usize> = (0..options.slices)
        .map(|i| (i * 7919) % (signal.len() - view).max(1))
        .collect();
    let mut out = vec![0.0f32; frontend.config().n_mels * frontend.config().frames];
    frontend.view_input(&signal[..view], &mut out);
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t0 = Instant::now();
        for &s in &starts {
            frontend.view_input(&signal[s..s + view], &mut out);
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let rust_slices_per_s = starts.len() as f64 / best;
    // Whole-track path (embedding extraction): log-mel once, then MULE's slicer.
    let mut best_track = f64::INFINITY;
    let mut track_slices = 0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let mel = frontend.log_mel(&signal);
        track_slices = frontend.slices(&mel, 200).len();
        best_track = best_track.min(t0.elapsed().as_secs_f64());
    }

    let anchor = if options.no_anchor {
        Err("skipped (--no-anchor)".to_string())
    } else {
        run_anchor(&files, options.slices, repeats)
    };

    println!();
    println!("decode + resample to 16 kHz mono (× real time, higher is better):");
    for (i, file) in files.iter().enumerate() {
        let line = format!("  {:<22} loev {:>8.0}×", file.label, rust_decode[i]);
        match &anchor {
            Ok(a) => {
                let py = a.decode_x_realtime.get(i).copied().unwrap_or(f64::NAN);
                println!(
                    "{line}   librosa {:>8.0}×   loev/librosa {:.2}",
                    py,
                    rust_decode[i] / py
                );
            }
            Err(_) => println!("{line}"),
        }
    }
    println!("front end, MULE log-mel 96 × 300 standardised slice per 3 s view (slices/s):");
    let line = format!("  {:<22} loev {:>8.0}", "view_input", rust_slices_per_s);
    match &anchor {
        Ok(a) => println!(
            "{line}    librosa {:>8.0}    loev/librosa {:.2}",
            a.slices_per_s,
            rust_slices_per_s / a.slices_per_s
        ),
        Err(_) => println!("{line}"),
    }
    println!(
        "  {:<22} loev {:>8.0}  ({track_slices} slices of a {:.0} s track in {:.1} ms)",
        "log_mel + slices",
        track_slices as f64 / best_track,
        files[0].seconds,
        best_track * 1e3
    );
    match anchor {
        Ok(a) => println!(
            "anchor: librosa {} (soundfile + soxr_hq resampling), numpy {}, same machine, same run, 1 thread",
            a.librosa, a.numpy
        ),
        Err(why) => println!("librosa anchor: {why}"),
    }
    Ok(())
}

/// Generated stereo/mono "music": a chord progression with a bass line, a kick and hi-hats, so
/// the codecs and the front end see realistic spectra.
fn write_test_music(
    dir: &Path,
    label: &'static str,
    name: &str,
    rate: u32,
    channels: usize,
    seconds: f64,
) -> Result<TestFile, BenchError> {
    let frames = (seconds * rate as f64) as usize;
    // Hi-hat noise from a fixed integer hash (reproducible, no generator needed).
    let noise = |i: usize| -> f32 {
        let mut z = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ rate as u64;
        z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        ((z >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let sr = rate as f32;
    let chords: [[f32; 3]; 4] = [
        [261.63, 329.63, 392.0],
        [220.0, 261.63, 329.63],
        [174.61, 220.0, 261.63],
        [196.0, 246.94, 293.66],
    ];
    let mut samples = vec![0.0f32; frames * channels];
    for i in 0..frames {
        let t = i as f32 / sr;
        let beat_t = t % 0.5;
        let chord = chords[((t / 2.0) as usize) % 4];
        let pad: f32 = chord
            .iter()
            .map(|f| (2.0 * std::f32::consts::PI * f * t).sin())
            .sum::<f32>()
            * 0.08;
        let bass = (2.0 * std::f32::consts::PI * chord[0] / 2.0 * t).sin() * 0.2 * (-beat_t * 4.0).exp();
        let kick = (2.0 * std::f32::consts::PI * 55.0 * beat_t).sin() * 0.4 * (-beat_t * 14.0).exp();
        let hat = noise(i) * 0.1 * (-(t % 0.25) * 60.0).exp();
        let mono = pad + bass + kick + hat;
        for c in 0..channels {
            let pan = if channels == 1 {
                1.0
            } else if c == 0 {
                0.9
            } else {
                1.1
            };
            samples[i * channels + c] = (mono * pan).clamp(-1.0, 1.0);
        }
    }
    let path = dir.join(name);
    loev_audio::wav::write_wav_interleaved(&path, &samples, rate, channels as u16).map_err(|source| {
        BenchError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(TestFile {
        label,
        path,
        seconds: frames as f64 / rate as f64,
    })
}

/// Figures from the librosa anchor script.
struct Anchor {
    librosa: String,
    numpy: String,
    decode_x_realtime: Vec<f64>,
    slices_per_s: f64,
}

fn run_anchor(files: &[TestFile], slices: usize, repeats: usize) -> Result<Anchor, String> {
    let python = python_anchor::interpreter(None);
    let script = python_anchor::script("bench/anchors/frontend_librosa.py")?;
    let mut args: Vec<OsString> = vec![
        "--slices".into(),
        slices.to_string().into(),
        "--repeats".into(),
        repeats.to_string().into(),
    ];
    for f in files {
        args.push("--wav".into());
        args.push(f.path.clone().into());
    }
    let value = python_anchor::run_json(
        &python,
        &script,
        &args,
        Some(1),
        "librosa (pip install -r scripts/golden/requirements.txt)",
    )?;
    let decode_x_realtime = value["decode"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["x_realtime"].as_f64()).collect())
        .unwrap_or_default();
    let slices_per_s = value["frontend_slices_per_s"]
        .as_f64()
        .ok_or("skipped: the anchor printed no front-end figure")?;
    Ok(Anchor {
        librosa: value["librosa"].as_str().unwrap_or("?").to_string(),
        numpy: value["numpy"].as_str().unwrap_or("?").to_string(),
        decode_x_realtime,
        slices_per_s,
    })
}
