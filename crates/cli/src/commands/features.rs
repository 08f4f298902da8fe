//! `loev features`: the log-mel front-end features of one audio file as `.npy`.

use std::path::PathBuf;

use anyhow::Context;
use loev_audio::frontend::{FrontEnd, FrontEndConfig};

/// Arguments of `loev features`.
#[derive(clap::Args)]
pub struct Args {
    /// The audio file (wav, flac, mp3 or ogg/vorbis; any sample rate, mono or stereo).
    pub audio: PathBuf,
    /// Output `.npy`: float32 [n_mels, n_frames] (or [K, n_mels, frames] with --slices).
    #[arg(short, long, value_name = "NPY")]
    pub out: PathBuf,
    /// Front-end config (TOML, keys of `FrontEndConfig`, e.g. `n_mels = 128` and
    /// `frames = 400`); keys left out take MULE's values.
    #[arg(long, value_name = "TOML")]
    pub config: Option<PathBuf>,
    /// Write the standardised model-input slices [K, n_mels, frames] (MULE's slicer: one slice
    /// every --slice-hop frames) instead of the whole log-mel.
    #[arg(long)]
    pub slices: bool,
    /// Hop between slice centres, in frames (MULE: 200 = 2 s).
    #[arg(long, default_value_t = 200, value_name = "FRAMES")]
    pub slice_hop: usize,
}

/// Reads a front-end config file (TOML), or MULE's defaults without one.
pub fn load_frontend_config(path: Option<&std::path::Path>) -> anyhow::Result<FrontEndConfig> {
    let Some(path) = path else {
        return Ok(FrontEndConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the front-end config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("front-end config {}", path.display()))
}

/// Runs `loev features`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.slice_hop > 0,
        "--slice-hop must be at least 1 frame (MULE: 200 = 2 s), got 0"
    );
    let cfg = load_frontend_config(args.config.as_deref())?;
    let frontend = FrontEnd::new(cfg)?;
    let mut signal = loev_audio::decode::load_mono(&args.audio)?;
    let rate = frontend.config().sample_rate;
    if rate != loev_audio::SAMPLE_RATE {
        signal = loev_audio::resample::resample(&signal, loev_audio::SAMPLE_RATE, rate)
            .map_err(|e| e.with_path(&args.audio))?;
    }
    let seconds = signal.len() as f64 / rate as f64;
    let mel = frontend.log_mel(&signal);
    if args.slices {
        let count = loev_audio::frontend::slice_starts(mel.n_frames, frontend.config().frames, args.slice_hop).len();
        loev_core::limits::check_memory(
            format_args!(
                "--slice-hop {} on {seconds:.1} s of audio ({count} slices)",
                args.slice_hop
            ),
            "every slice at once",
            loev_core::limits::bytes_of(&[count as u128, frontend.input_len() as u128, 4]),
        )?;
        let slices = frontend.slices(&mel, args.slice_hop);
        let (n_mels, frames) = (mel.n_mels, frontend.config().frames);
        let data: Vec<f32> = slices.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        loev_core::io::write_npy_f32(&args.out, &[slices.len() as u64, n_mels as u64, frames as u64], &data)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        let centres: Vec<String> = slices.iter().map(|(c, _)| format!("{c:.2}")).collect();
        println!(
            "wrote {}: {} slice(s) [{}, {n_mels}, {frames}] of {seconds:.2} s of audio, centred at [{}] s",
            args.out.display(),
            slices.len(),
            slices.len(),
            centres.join(", ")
        );
    } else {
        loev_core::io::write_npy_f32(&args.out, &[mel.n_mels as u64, mel.n_frames as u64], &mel.data)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        println!(
            "wrote {}: log-mel [{}, {}] of {seconds:.2} s of audio",
            args.out.display(),
            mel.n_mels,
            mel.n_frames
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_fill_defaults_and_reject_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("loev-features-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "n_mels = 128\nframes = 400\n").unwrap();
        let cfg = load_frontend_config(Some(&good)).unwrap();
        assert_eq!((cfg.n_mels, cfg.frames, cfg.n_fft), (128, 400, 2048));
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "n_mel = 128\n").unwrap();
        let err = format!("{:#}", load_frontend_config(Some(&bad)).unwrap_err());
        assert!(err.contains("n_mel") && err.contains("bad.toml"), "{err}");
        assert_eq!(load_frontend_config(None).unwrap(), FrontEndConfig::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
