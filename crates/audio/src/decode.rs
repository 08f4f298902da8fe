//! Decoding audio files (wav, flac, mp3, ogg/vorbis through symphonia) to float samples.
//!
//! **Amplitude convention.** Integer PCM is scaled to [-1, 1) (i16 / 32768), and stereo is
//! down-mixed by the *mean* of the channels. MULE's own loader divides int16 by 65536 and sums
//! the channels, which equals the mean for stereo but gives *half* amplitude for mono files;
//! loev does not emulate that by default (it changes the log-mel slightly because the log
//! compression is non-linear). Float sources are passed through unscaled.
//!
//! **Non-finite samples.** A file holding NaN or infinite samples (float wav or flac written by
//! a broken effect chain) is refused with [`AudioError::NonFinite`], which counts them and says
//! where the first one is: the same rule as for audio handed to the Python API
//! ([`check_finite`]), so every command and the Python package treat such audio alike. Decoding
//! reads the whole file before refusing it, so that the count is complete.
//!
//! **Placeholder sizes.** A wav whose RIFF or data size is a placeholder (`0xFFFFFFFF` or `0`,
//! as streaming writers leave them) is read to the end of the file ([`crate::riff`]).
//!
//! **Failure policy.** Every failure is an [`AudioError`] naming the file and the cause; no input
//! makes this module panic: symphonia can panic on hostile input, so decoding runs under
//! [`loev_core::panic::catch_quietly`] and a panic becomes [`AudioError::Corrupt`] (its message
//! is not printed). A
//! packet that fails to decode is skipped, as players do; more than 1 % bad packets (at least
//! two) make the file `Corrupt`. A file that ends inside a packet, or whose decoded length falls
//! short of the length its header declares, is `Truncated`. A second logical stream (chained
//! ogg) ends decoding: only the first is read.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::SAMPLE_RATE;
use crate::error::AudioError;
use crate::resample::StreamResampler;
use crate::riff::HeaderFixed;

/// Sample rates accepted from a file or from a caller. Anything else is a corrupt header in
/// practice, and an absurd rate would make the resampler's FFT huge (or, resampling from 1 Hz,
/// its output 16,000 times longer than its input).
pub const SUPPORTED_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// Checks a sample rate given by a caller (the Python API's `sample_rate`): `Ok` with it as a
/// `u32` when it lies in [`SUPPORTED_RATES`], else a message naming `what` and the range.
pub fn check_sample_rate(what: &str, rate: i64) -> Result<u32, String> {
    u32::try_from(rate)
        .ok()
        .filter(|r| SUPPORTED_RATES.contains(r))
        .ok_or_else(|| {
            format!(
                "{what} = {rate} Hz is not a sample rate loev reads: give the rate of the audio, between {} and {} Hz",
                SUPPORTED_RATES.start(),
                SUPPORTED_RATES.end()
            )
        })
}

/// The rule for non-finite samples, for audio that does not come from a file (the Python API):
/// `Err(`[`AudioError::NonFinite`]`)` counting the NaN and infinite values of `samples` when
/// there is one. `origin` names the audio in the message (empty for in-memory audio).
pub fn check_finite(samples: &[f32], origin: &Path) -> Result<(), AudioError> {
    let Some(first) = samples.iter().position(|x| !x.is_finite()) else {
        return Ok(());
    };
    Err(AudioError::NonFinite {
        path: origin.to_path_buf(),
        count: samples[first..].iter().filter(|x| !x.is_finite()).count() as u64,
        total: samples.len() as u64,
        first: first as u64,
        sample_rate: None,
    })
}

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

/// Decodes a file; the extension is used as a format hint. The whole file is held in memory;
/// for long tracks prefer [`MonoStream`], which holds one packet at a time.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let mss = open_source(path)?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_all(mss, ext, path)
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
    let source = HeaderFixed::new(Cursor::new(bytes), bytes.len() as u64).map_err(|cause| AudioError::Io {
        path: origin.to_path_buf(),
        cause,
    })?;
    let mss = MediaSourceStream::new(Box::new(source), MediaSourceStreamOptions::default());
    decode_all(mss, ext_hint, origin)
}

/// Decodes a file, down-mixes it to mono (mean of channels) and resamples it to
/// [`SAMPLE_RATE`]. The cache stores exactly this, so crops of the cache equal crops of this.
/// It goes through [`MonoStream`], so it holds the result plus one packet, never the
/// file's bytes or its decoded multi-channel samples.
pub fn load_mono(path: &Path) -> Result<Vec<f32>, AudioError> {
    let mut stream = MonoStream::open(path)?;
    let mut out = Vec::new();
    while stream.next_chunk(&mut out)? {}
    Ok(out)
}

/// A file decoded, down-mixed and resampled to [`SAMPLE_RATE`] piece by piece: exactly the
/// samples of [`load_mono`] (bit for bit), holding one packet and one resampler chunk at a time.
/// This is what bounds `loev embed`'s memory independently of the track's length.
pub struct MonoStream {
    decoding: Decoding<'static>,
    resampler: Option<StreamResampler>,
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    finished: bool,
}

impl std::fmt::Debug for MonoStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonoStream")
            .field("path", &self.decoding.path)
            .finish_non_exhaustive()
    }
}

impl MonoStream {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let mss = open_source(path)?;
        let ext = path.extension().and_then(|e| e.to_str());
        let decoding = guarded(path, || Decoding::open(mss, ext, path))?;
        Ok(Self {
            decoding,
            resampler: None,
            interleaved: Vec::new(),
            mono: Vec::new(),
            finished: false,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.decoding.path
    }

    /// Appends the next 16 kHz mono samples to `out` (possibly none). Returns `false` once the
    /// file is finished (after the last samples were appended). Errors are those of
    /// [`decode_file`] (a truncated or corrupt file may be found out only at its end).
    pub fn next_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if self.finished {
            return Ok(false);
        }
        let path = self.decoding.path.clone();
        self.interleaved.clear();
        let more = guarded(&path, || self.decoding.next(&mut self.interleaved))?;
        if let Some((rate, channels)) = self.decoding.spec
            && !self.interleaved.is_empty()
        {
            if self.resampler.is_none() {
                self.resampler = Some(StreamResampler::new(rate, SAMPLE_RATE).map_err(|e| e.with_path(&path))?);
            }
            down_mix(&self.interleaved, channels, &mut self.mono);
            if let Some(resampler) = self.resampler.as_mut() {
                resampler.push(&self.mono, out).map_err(|e| e.with_path(&path))?;
            }
        }
        if more {
            return Ok(true);
        }
        self.finished = true;
        guarded(&path, || self.decoding.finish())?;
        if let Some(resampler) = self.resampler.take() {
            resampler.finish(out).map_err(|e| e.with_path(&path))?;
        }
        Ok(false)
    }
}

/// The mean of the channels of interleaved `x`, frame by frame, into `out` (cleared first).
fn down_mix(x: &[f32], channels: usize, out: &mut Vec<f32>) {
    out.clear();
    if channels <= 1 {
        out.extend_from_slice(x);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(x.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() * scale));
}

/// The file as the decoder reads it: opened, checked, with placeholder wav sizes corrected.
fn open_source(path: &Path) -> Result<MediaSourceStream<'static>, AudioError> {
    let (file, len) = open_file(path)?;
    let source = HeaderFixed::new(file, len).map_err(|cause| AudioError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(MediaSourceStream::new(
        Box::new(source),
        MediaSourceStreamOptions::default(),
    ))
}

fn open_file(path: &Path) -> Result<(std::fs::File, u64), AudioError> {
    let io_error = |cause| AudioError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if meta.is_dir() {
        return Err(AudioError::NotAudio {
            path: path.to_path_buf(),
            detail: "it is a folder".into(),
        });
    }
    if meta.len() == 0 {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
            detail: "zero-length file".into(),
        });
    }
    Ok((file, meta.len()))
}

/// Runs a decoding step with panics turned into [`AudioError::Corrupt`] (see the module doc).
fn guarded<T>(origin: &Path, f: impl FnOnce() -> Result<T, AudioError>) -> Result<T, AudioError> {
    match loev_core::panic::catch_quietly(f) {
        Ok(result) => result,
        Err(message) => Err(AudioError::Corrupt {
            path: origin.to_path_buf(),
            detail: format!("the decoder failed on malformed data: {message}"),
        }),
    }
}

fn decode_all(mss: MediaSourceStream<'_>, ext_hint: Option<&str>, origin: &Path) -> Result<DecodedAudio, AudioError> {
    guarded(origin, || {
        let mut decoding = Decoding::open(mss, ext_hint, origin)?;
        let capacity = decoding.declared_frames.unwrap_or(0).min(1 << 22) as usize;
        let mut samples: Vec<f32> = Vec::with_capacity(capacity);
        while decoding.next(&mut samples)? {}
        let (sample_rate, channels, frames) = decoding.finish()?;
        samples.truncate(frames * channels);
        Ok(DecodedAudio {
            sample_rate,
            channels,
            frames,
            samples,
        })
    })
}

/// One file being decoded, packet by packet (the checks of the module doc's failure policy).
struct Decoding<'s> {
    path: PathBuf,
    format: Box<dyn FormatReader + 's>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    declared_frames: Option<u64>,
    max_frames_per_packet: Option<u64>,
    scratch: Vec<f32>,
    spec: Option<(u32, usize)>,
    /// Samples (all channels) decoded so far.
    samples: u64,
    packets: usize,
    bad_packets: usize,
    last_bad: String,
    ended_inside_packet: bool,
    /// NaN and infinite samples seen (decoded as 0 until the file is refused at its end).
    non_finite: u64,
    /// The frame of the first one.
    first_non_finite: Option<u64>,
}

impl<'s> Decoding<'s> {
    fn open(mss: MediaSourceStream<'s>, ext_hint: Option<&str>, origin: &Path) -> Result<Self, AudioError> {
        let path = origin.to_path_buf();
        let corrupt = |detail: String| AudioError::Corrupt {
            path: path.clone(),
            detail,
        };
        let mut hint = Hint::new();
        if let Some(ext) = ext_hint {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| match e {
                SymphoniaError::Unsupported(what) => AudioError::NotAudio {
                    path: path.clone(),
                    detail: format!("no known container format ({what})"),
                },
                SymphoniaError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    AudioError::Truncated {
                        path: path.clone(),
                        detail: "the file ends inside its header".into(),
                    }
                }
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
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymphoniaError::Unsupported(_) => AudioError::UnsupportedCodec {
                    path: path.clone(),
                    detail: format!("{} audio", codec_name(params.codec)),
                },
                other => corrupt(format!("cannot start the decoder: {other}")),
            })?;
        Ok(Self {
            path,
            format,
            decoder,
            track_id,
            declared_frames,
            max_frames_per_packet: params.max_frames_per_packet,
            scratch: Vec::new(),
            spec: None,
            samples: 0,
            packets: 0,
            bad_packets: 0,
            last_bad: String::new(),
            ended_inside_packet: false,
            non_finite: 0,
            first_non_finite: None,
        })
    }

    fn corrupt(&self, detail: String) -> AudioError {
        AudioError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    /// Decodes the next packet of the track, appending its interleaved samples to `out`.
    /// Returns `false` at the end of the stream.
    fn next(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Ok(false),
                Err(SymphoniaError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended_inside_packet = true;
                    return Ok(false);
                }
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(SymphoniaError::Unsupported(what)) => {
                    return Err(AudioError::UnsupportedCodec {
                        path: self.path.clone(),
                        detail: what.to_string(),
                    });
                }
                Err(other) => {
                    return Err(self.corrupt(format!("bad container data after {} packets: {other}", self.packets)));
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            self.packets += 1;
            match self.decoder.decode(&packet) {
                Ok(buffer) => {
                    let this_spec = (buffer.spec().rate(), buffer.spec().channels().count());
                    match self.spec {
                        None => {
                            if !SUPPORTED_RATES.contains(&this_spec.0) || this_spec.1 == 0 {
                                return Err(self.corrupt(format!(
                                    "{} Hz with {} channels (supported: {}–{} Hz, at least one channel)",
                                    this_spec.0,
                                    this_spec.1,
                                    SUPPORTED_RATES.start(),
                                    SUPPORTED_RATES.end()
                                )));
                            }
                            self.spec = Some(this_spec);
                        }
                        Some(first) if first != this_spec => {
                            return Err(self.corrupt(format!(
                                "the stream changes from {} Hz/{} ch to {} Hz/{} ch",
                                first.0, first.1, this_spec.0, this_spec.1
                            )));
                        }
                        Some(_) => {}
                    }
                    buffer.copy_to_vec_interleaved(&mut self.scratch);
                    // Whole frames only, so a caller that down-mixes chunk by chunk never splits
                    // a frame.
                    let whole = self.scratch.len() - self.scratch.len() % this_spec.1;
                    let decoded = &self.scratch[..whole];
                    if let Some(first) = decoded.iter().position(|v| !v.is_finite()) {
                        self.first_non_finite
                            .get_or_insert((self.samples + first as u64) / this_spec.1 as u64);
                        self.non_finite += decoded[first..].iter().filter(|v| !v.is_finite()).count() as u64;
                        out.extend(decoded.iter().map(|&v| if v.is_finite() { v } else { 0.0 }));
                    } else {
                        out.extend_from_slice(decoded);
                    }
                    self.samples += whole as u64;
                    return Ok(true);
                }
                Err(SymphoniaError::DecodeError(what)) => {
                    self.bad_packets += 1;
                    self.last_bad = what.to_string();
                }
                Err(SymphoniaError::IoError(io)) => {
                    self.bad_packets += 1;
                    self.last_bad = io.to_string();
                }
                Err(SymphoniaError::ResetRequired) => return Ok(false),
                Err(SymphoniaError::Unsupported(what)) => {
                    return Err(AudioError::UnsupportedCodec {
                        path: self.path.clone(),
                        detail: what.to_string(),
                    });
                }
                Err(other) => return Err(self.corrupt(format!("packet {}: {other}", self.packets))),
            }
        }
    }

    /// The end-of-stream checks; returns (sample rate, channels, frames).
    fn finish(&self) -> Result<(u32, usize, usize), AudioError> {
        let path = self.path.clone();
        let (packets, bad_packets, last_bad) = (self.packets, self.bad_packets, &self.last_bad);
        if bad_packets > 1 && bad_packets * 100 > packets {
            return Err(self.corrupt(format!(
                "{bad_packets} of {packets} packets failed to decode (last: {last_bad})"
            )));
        }
        let Some((sample_rate, channels)) = self.spec else {
            return Err(if bad_packets > 0 {
                self.corrupt(format!("no packet could be decoded (last error: {last_bad})"))
            } else if self.ended_inside_packet {
                AudioError::Truncated {
                    path,
                    detail: "the file ends before its first audio packet".into(),
                }
            } else if let Some(declared) = self.declared_frames.filter(|&d| d > 0) {
                self.corrupt(format!(
                    "no decodable audio, though the header declares {declared} frames"
                ))
            } else {
                AudioError::Empty {
                    path,
                    detail: "no audio samples".into(),
                }
            });
        };
        let frames = (self.samples / channels as u64) as usize;
        if self.ended_inside_packet {
            return Err(AudioError::Truncated {
                path,
                detail: format!("the file ends inside an audio packet after {frames} frames"),
            });
        }
        if let Some(declared) = self.declared_frames {
            // Allow one maximal packet of slack (encoder padding / gapless bookkeeping).
            let slack = self.max_frames_per_packet.unwrap_or(0).max(4096);
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
        if let Some(first) = self.first_non_finite {
            return Err(AudioError::NonFinite {
                path,
                count: self.non_finite,
                total: self.samples,
                first,
                sample_rate: Some(sample_rate),
            });
        }
        Ok((sample_rate, channels, frames))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_sample_rates_are_checked() {
        assert_eq!(check_sample_rate("sample_rate", 44_100), Ok(44_100));
        for bad in [-5, 0, 1, 999, 768_001, i64::MAX] {
            let message = check_sample_rate("sample_rate", bad).expect_err("out of range");
            assert!(message.contains(&format!("sample_rate = {bad} Hz")), "{message}");
        }
    }

    #[test]
    fn non_finite_samples_are_counted_with_the_first() {
        assert!(check_finite(&[0.0, 0.5], Path::new("")).is_ok());
        let error = check_finite(&[0.0, f32::NAN, 1.0, f32::INFINITY], Path::new("")).expect_err("NaN");
        match &error {
            AudioError::NonFinite {
                count, total, first, ..
            } => assert_eq!((*count, *total, *first), (2, 4, 1)),
            other => panic!("{other}"),
        }
        let text = error.to_string();
        assert!(
            text.contains("2 non-finite samples") && text.contains("index 1"),
            "{text}"
        );
    }
}
