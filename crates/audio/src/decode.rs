//! Decoding audio files (wav, flac, mp3, ogg/vorbis through symphonia) to float samples.
//!
//! **Amplitude convention.** Integer PCM is scaled to [-1, 1) (i16 / 32768), and stereo is
//! down-mixed by the *mean* of the channels. MULE's own loader divides int16 by 65536 and sums
//! the channels, which equals the mean for stereo but gives *half* amplitude for mono files;
//! loev does not emulate that by default (it changes the log-mel slightly because the log
//! compression is non-linear). Float sources are passed through unscaled; non-finite samples
//! are replaced by 0.
//!
//! **Failure policy.** Every failure is an [`AudioError`] naming the file and the cause; no input
//! makes this module panic: symphonia can panic on hostile input, so decoding runs under
//! `catch_unwind` and a panic becomes [`AudioError::Corrupt`] (its message is not printed). A
//! packet that fails to decode is skipped, as players do; more than 1 % bad packets (at least
//! two) make the file `Corrupt`. A file that ends inside a packet, or whose decoded length falls
//! short of the length its header declares, is `Truncated`. A second logical stream (chained
//! ogg) ends decoding: only the first is read.

use std::cell::Cell;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::SAMPLE_RATE;
use crate::error::AudioError;
use crate::resample::resample;

/// Sample rates accepted from a file. Anything else is a corrupt header in practice, and an
/// absurd rate would make the resampler's FFT huge.
pub const SUPPORTED_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// A decoded file at its own sample rate and channel count.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: usize,
    /// Number of frames (samples per channel).
    pub frames: usize,
    /// Interleaved samples, `frames · channels` of them, nominally in [-1, 1].
    pub samples: Vec<f32>,
}

impl DecodedAudio {
    /// The mean of the channels, frame by frame.
    pub fn to_mono(&self) -> Vec<f32> {
        if self.channels <= 1 {
            return self.samples.clone();
        }
        let scale = 1.0 / self.channels as f32;
        self.samples
            .chunks_exact(self.channels)
            .map(|frame| frame.iter().sum::<f32>() * scale)
            .collect()
    }

    /// Like [`Self::to_mono`], reusing the buffer (no copy for mono files).
    pub fn into_mono(self) -> Vec<f32> {
        if self.channels <= 1 {
            self.samples
        } else {
            self.to_mono()
        }
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.frames as f64 / self.sample_rate as f64
        }
    }
}

/// Decodes a file; the extension is used as a format hint.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_bytes(&bytes, ext, path)
}

/// Decodes an in-memory file. `ext_hint` (e.g. `"mp3"`) helps the format probe; `origin` names
/// the data in errors.
pub fn decode_bytes(bytes: &[u8], ext_hint: Option<&str>, origin: &Path) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty {
            path: origin.to_path_buf(),
            detail: "zero-length file".into(),
        });
    }
    match without_panic_output(|| decode_unguarded(bytes, ext_hint, origin)) {
        Ok(result) => result,
        Err(message) => Err(AudioError::Corrupt {
            path: origin.to_path_buf(),
            detail: format!("the decoder failed on malformed data: {message}"),
        }),
    }
}

/// Decodes a file, down-mixes it to mono (mean of channels) and resamples it to
/// [`SAMPLE_RATE`]. The cache stores exactly this, so crops of the cache equal crops of this.
pub fn load_mono(path: &Path) -> Result<Vec<f32>, AudioError> {
    let decoded = decode_file(path)?;
    let rate = decoded.sample_rate;
    resample(&decoded.into_mono(), rate, SAMPLE_RATE).map_err(|e| e.with_path(path))
}

fn decode_unguarded(bytes: &[u8], ext_hint: Option<&str>, origin: &Path) -> Result<DecodedAudio, AudioError> {
    let path = origin.to_path_buf();
    let corrupt = |detail: String| AudioError::Corrupt {
        path: path.clone(),
        detail,
    };
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext_hint {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(what) => AudioError::NotAudio {
                path: path.clone(),
                detail: format!("no known container format ({what})"),
            },
            SymphoniaError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => AudioError::Truncated {
                path: path.clone(),
                detail: "the file ends inside its header".into(),
            },
            other => corrupt(format!("unreadable header: {other}")),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::NotAudio {
            path: path.clone(),
            detail: "the container holds no audio track".into(),
        })?;
    let track_id = track.id;
    let declared_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::UnsupportedCodec {
            path: path.clone(),
            detail: "the audio track's codec is unknown".into(),
        })?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => AudioError::UnsupportedCodec {
                path: path.clone(),
                detail: format!("{} audio", codec_name(params.codec)),
            },
            other => corrupt(format!("cannot start the decoder: {other}")),
        })?;

    let mut samples: Vec<f32> = Vec::with_capacity(declared_frames.unwrap_or(0).min(1 << 22) as usize);
    let mut scratch: Vec<f32> = Vec::new();
    let mut spec: Option<(u32, usize)> = None;
    let mut packets = 0usize;
    let mut bad_packets = 0usize;
    let mut last_bad = String::new();
    let mut ended_inside_packet = false;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                ended_inside_packet = true;
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::Unsupported(what)) => {
                return Err(AudioError::UnsupportedCodec {
                    path: path.clone(),
                    detail: what.to_string(),
                });
            }
            Err(other) => {
                return Err(corrupt(format!("bad container data after {packets} packets: {other}")));
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        packets += 1;
        match decoder.decode(&packet) {
            Ok(buffer) => {
                let this_spec = (buffer.spec().rate(), buffer.spec().channels().count());
                match spec {
                    None => {
                        if !SUPPORTED_RATES.contains(&this_spec.0) || this_spec.1 == 0 {
                            return Err(corrupt(format!(
                                "{} Hz with {} channels (supported: {}–{} Hz, at least one channel)",
                                this_spec.0,
                                this_spec.1,
                                SUPPORTED_RATES.start(),
                                SUPPORTED_RATES.end()
                            )));
                        }
                        spec = Some(this_spec);
                    }
                    Some(first) if first != this_spec => {
                        return Err(corrupt(format!(
                            "the stream changes from {} Hz/{} ch to {} Hz/{} ch",
                            first.0, first.1, this_spec.0, this_spec.1
                        )));
                    }
                    Some(_) => {}
                }
                buffer.copy_to_vec_interleaved(&mut scratch);
                samples.extend(scratch.iter().map(|&v| if v.is_finite() { v } else { 0.0 }));
            }
            Err(SymphoniaError::DecodeError(what)) => {
                bad_packets += 1;
                last_bad = what.to_string();
            }
            Err(SymphoniaError::IoError(io)) => {
                bad_packets += 1;
                last_bad = io.to_string();
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::Unsupported(what)) => {
                return Err(AudioError::UnsupportedCodec {
                    path: path.clone(),
                    detail: what.to_string(),
                });
            }
            Err(other) => return Err(corrupt(format!("packet {packets}: {other}"))),
        }
    }

    if bad_packets > 1 && bad_packets * 100 > packets {
        return Err(corrupt(format!(
            "{bad_packets} of {packets} packets failed to decode (last: {last_bad})"
        )));
    }
    let Some((sample_rate, channels)) = spec else {
        return Err(if bad_packets > 0 {
            corrupt(format!("no packet could be decoded (last error: {last_bad})"))
        } else if ended_inside_packet {
            AudioError::Truncated {
                path: path.clone(),
                detail: "the file ends before its first audio packet".into(),
            }
        } else if let Some(declared) = declared_frames.filter(|&d| d > 0) {
            corrupt(format!(
                "no decodable audio, though the header declares {declared} frames"
            ))
        } else {
            AudioError::Empty {
                path: path.clone(),
                detail: "no audio samples".into(),
            }
        });
    };
    let frames = samples.len() / channels;
    samples.truncate(frames * channels);
    if ended_inside_packet {
        return Err(AudioError::Truncated {
            path,
            detail: format!("the file ends inside an audio packet after {frames} frames"),
        });
    }
    if let Some(declared) = declared_frames {
        // Allow one maximal packet of slack (encoder padding / gapless bookkeeping).
        let slack = params.max_frames_per_packet.unwrap_or(0).max(4096);
        if (frames as u64).saturating_add(slack) < declared {
            return Err(AudioError::Truncated {
                path,
                detail: format!("{frames} of the {declared} frames its header declares"),
            });
        }
    }
    if frames == 0 {
        return Err(AudioError::Empty {
            path,
            detail: "no audio samples".into(),
        });
    }
    Ok(DecodedAudio {
        sample_rate,
        channels,
        frames,
        samples,
    })
}

/// A readable name for the codecs people meet that loev does not decode.
fn codec_name(id: AudioCodecId) -> String {
    use symphonia::core::codecs::audio::well_known::*;
    let known = [
        (CODEC_ID_OPUS, "Opus"),
        (CODEC_ID_AAC, "AAC"),
        (CODEC_ID_ALAC, "ALAC"),
        (CODEC_ID_SPEEX, "Speex"),
        (CODEC_ID_WMA, "WMA"),
        (CODEC_ID_AC3, "AC-3"),
        (CODEC_ID_EAC3, "E-AC-3"),
        (CODEC_ID_WAVPACK, "WavPack"),
        (CODEC_ID_MONKEYS_AUDIO, "Monkey's Audio"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("codec {id}"))
}

thread_local! {
    static SILENCE_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)` without printing the panic message. The
/// process-wide panic hook is wrapped once; it stays silent only on a thread that is inside this
/// function, so panics elsewhere are reported as usual.
fn without_panic_output<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !SILENCE_PANICS.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was_silent = SILENCE_PANICS.with(|s| s.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    SILENCE_PANICS.with(|s| s.set(was_silent));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_and_the_flag_is_restored() {
        let caught = without_panic_output(|| -> u32 { panic!("boom {}", 7) });
        assert_eq!(caught, Err("boom 7".to_string()));
        assert_eq!(without_panic_output(|| 3), Ok(3));
        assert!(!SILENCE_PANICS.with(Cell::get));
    }
}
