//! Writing 16-bit PCM wav files (augmented views, the synthetic corpus, test fixtures).

use std::io;
use std::path::Path;

use loev_core::io::atomic_write_with;

/// Writes mono `samples` as a 16-bit PCM wav at `sample_rate`, atomically.
///
/// Samples are scaled by 32768 and clipped to the 16-bit range, the inverse of the decoder's
/// scaling, so values in [-1, 1) survive a write/read round trip to within 1/32768. NaN is
/// written as 0.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> io::Result<()> {
    write_wav_interleaved(path, samples, sample_rate, 1)
}

/// Like [`write_wav`] for `channels` interleaved channels (`samples.len()` must be a multiple
/// of `channels`).
pub fn write_wav_interleaved(path: &Path, samples: &[f32], sample_rate: u32, channels: u16) -> io::Result<()> {
    if sample_rate == 0 || channels == 0 || !samples.len().is_multiple_of(channels as usize) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot write {}: {} samples, {channels} channels, {sample_rate} Hz",
                path.display(),
                samples.len()
            ),
        ));
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    atomic_write_with(path, |file| {
        let mut writer = hound::WavWriter::new(io::BufWriter::new(file), spec).map_err(hound_to_io)?;
        for &x in samples {
            writer.write_sample(f32_to_i16(x)).map_err(hound_to_io)?;
        }
        writer.finalize().map_err(hound_to_io)
    })
}

/// The 16-bit PCM value of a float sample: `round(x · 32768)` clipped, NaN → 0.
pub fn f32_to_i16(x: f32) -> i16 {
    if x.is_nan() {
        0
    } else {
        (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
    }
}

fn hound_to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_conversion_clips_and_rounds() {
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(1.5), 32767);
        assert_eq!(f32_to_i16(-1.5), -32768);
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(f32_to_i16(0.5), 16384);
        assert_eq!(f32_to_i16(-0.25), -8192);
    }

    #[test]
    fn written_wavs_decode_back() {
        let dir = std::env::temp_dir().join(format!("loev-wav-test-{}", std::process::id()));
        let x: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.7).collect();
        write_wav(&dir.join("mono.wav"), &x, 22_050).unwrap();
        let d = crate::decode::decode_file(&dir.join("mono.wav")).unwrap();
        assert_eq!((d.sample_rate, d.channels, d.frames), (22_050, 1, 1000));
        assert!(
            d.samples
                .iter()
                .zip(&x)
                .all(|(a, b)| (a - b).abs() <= 0.5 / 32768.0 + 1e-7)
        );
        write_wav_interleaved(&dir.join("stereo.wav"), &x, 8_000, 2).unwrap();
        let d = crate::decode::decode_file(&dir.join("stereo.wav")).unwrap();
        assert_eq!((d.channels, d.frames), (2, 500));
        assert!(write_wav_interleaved(&dir.join("bad.wav"), &x[..3], 8_000, 2).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
