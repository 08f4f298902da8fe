//! WAV files whose header sizes are placeholders: the data chunk is read to the end of the file.
//!
//! A program that writes a wav to a pipe (ffmpeg, `sox -t wav -`, recorders) cannot go back to
//! fill in the sizes once it knows them, so it leaves placeholders: `0xFFFFFFFF` or `0` for the
//! RIFF size and the data chunk size. Such a file is complete, but a reader that trusts the
//! header sees either no audio (size 0) or a file cut short (symphonia reads packets past the
//! end and fails on the last, partial one).
//!
//! [`HeaderFixed`] puts the sizes the file actually has in place of the placeholders, as seen
//! by the decoder, without touching the file: every reader of the data chunk (`features`,
//! `cache build`, `embed`, `augment`, `analyze`, `data check`) decodes through
//! [`crate::decode`], so they all take what is there. What counts as a placeholder:
//!
//! * a data size of `0xFFFFFFFF`, or of `0` when audio follows (not another chunk);
//! * a data size beyond the end of the file when the RIFF size is a placeholder too (a file
//!   with a real RIFF size and too large a data size is cut short, and reported so);
//! * a RIFF size below 4 or smaller than the data it holds.
//!
//! The data then runs to the end of the file, in whole frames (`block_align`), at most
//! 4 GiB − 2 bytes (the largest size a RIFF header can state; longer streams need RF64).

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

/// A placeholder size field and the value that replaces it: (byte offset, little-endian value).
type Patch = (u64, [u8; 4]);

/// A seekable source whose RIFF/WAVE size fields are corrected as they are read.
pub(crate) struct HeaderFixed<R> {
    inner: R,
    len: u64,
    pos: u64,
    patches: Vec<Patch>,
}

impl<R: Read + Seek> HeaderFixed<R> {
    /// Wraps `inner` (of `len` bytes), reading its header to find placeholder sizes. A source
    /// that is not a RIFF/WAVE file, or whose header cannot be walked, is passed through
    /// unchanged (the decoder then reports what is wrong with it).
    pub(crate) fn new(mut inner: R, len: u64) -> io::Result<Self> {
        let patches = size_patches(&mut inner, len).unwrap_or_default();
        inner.seek(SeekFrom::Start(0))?;
        Ok(Self {
            inner,
            len,
            pos: 0,
            patches,
        })
    }
}

fn read_at<R: Read + Seek, const N: usize>(r: &mut R, at: u64) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The size fields to correct (see the module documentation); empty when none is a placeholder.
fn size_patches<R: Read + Seek>(r: &mut R, len: u64) -> io::Result<Vec<Patch>> {
    let head: [u8; 12] = read_at(r, 0)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(Vec::new());
    }
    let riff = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let riff_placeholder = riff < 4 || riff == u32::MAX;
    let mut block_align = 1u64;
    let mut pos = 12u64;
    while pos + 8 <= len {
        let header: [u8; 8] = read_at(r, pos)?;
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let start = pos + 8;
        if &header[0..4] == b"fmt " && size >= 14 {
            let align: [u8; 2] = read_at(r, start + 12)?;
            block_align = u64::from(u16::from_le_bytes(align)).max(1);
        }
        if &header[0..4] == b"data" {
            let remaining = len - start;
            let placeholder = size == u32::MAX
                || (size == 0 && remaining >= block_align && !chunk_follows(r, start, remaining)?)
                || (riff_placeholder && u64::from(size) > remaining);
            let mut patches = Vec::new();
            let data_len = if placeholder {
                let taken = remaining.min(u64::from(u32::MAX) - 1);
                let whole = taken - taken % block_align;
                patches.push((pos + 4, (whole as u32).to_le_bytes()));
                whole
            } else {
                u64::from(size)
            };
            // A RIFF size of 0xFFFFFFFF means "unknown" to the reader: the data chunk is then
            // bounded by its own size only.
            if riff != u32::MAX && (riff_placeholder || u64::from(riff) + 8 < start + data_len) {
                patches.push((4, u32::MAX.to_le_bytes()));
            }
            return Ok(patches);
        }
        if size == u32::MAX {
            break;
        }
        pos = start + u64::from(size) + u64::from(size & 1);
    }
    Ok(Vec::new())
}

/// True when the bytes at `at` look like the header of another chunk (four printable ASCII
/// characters and a size that fits), i.e. a data chunk of size 0 really is empty.
fn chunk_follows<R: Read + Seek>(r: &mut R, at: u64, remaining: u64) -> io::Result<bool> {
    if remaining < 8 {
        return Ok(false);
    }
    let header: [u8; 8] = read_at(r, at)?;
    let size = u64::from(u32::from_le_bytes([header[4], header[5], header[6], header[7]]));
    Ok(header[..4].iter().all(|b| b.is_ascii_graphic() || *b == b' ') && size <= remaining - 8)
}

impl<R: Read> Read for HeaderFixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (start, end) = (self.pos, self.pos + n as u64);
        for (offset, bytes) in &self.patches {
            for (i, byte) in bytes.iter().enumerate() {
                let at = offset + i as u64;
                if (start..end).contains(&at) {
                    buf[(at - start) as usize] = *byte;
                }
            }
        }
        self.pos = end;
        Ok(n)
    }
}

impl<R: Seek> Seek for HeaderFixed<R> {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(from)?;
        Ok(self.pos)
    }
}

impl<R: Read + Seek + Send + Sync> MediaSource for HeaderFixed<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 16-bit wav of `channels` × `frames` with the given size fields.
    fn wav(channels: u16, frames: usize, riff: Option<u32>, data: Option<u32>) -> Vec<u8> {
        let body: Vec<u8> = (0..frames * channels as usize)
            .flat_map(|i| ((i % 200) as i16 * 100).to_le_bytes())
            .collect();
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&riff.unwrap_or(36 + body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&channels.to_le_bytes());
        bytes.extend_from_slice(&16_000u32.to_le_bytes());
        bytes.extend_from_slice(&(32_000 * u32::from(channels)).to_le_bytes());
        bytes.extend_from_slice(&(2 * channels).to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data.unwrap_or(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }

    fn fixed(bytes: &[u8]) -> Vec<u8> {
        let mut source = HeaderFixed::new(Cursor::new(bytes), bytes.len() as u64).unwrap();
        let mut out = Vec::new();
        source.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn placeholder_sizes_become_the_sizes_the_file_has() {
        let good = wav(2, 1000, None, None);
        assert_eq!(fixed(&good), good, "a correct header is left alone");
        let data_size = |b: &[u8]| u32::from_le_bytes(b[40..44].try_into().unwrap());
        for (riff, data) in [(u32::MAX, u32::MAX), (0, 0), (u32::MAX, 0), (0, u32::MAX), (36, 0)] {
            let out = fixed(&wav(2, 1000, Some(riff), Some(data)));
            assert_eq!(data_size(&out), 4000, "riff {riff:#x}, data {data:#x}");
            assert_eq!(&out[4..8], &u32::MAX.to_le_bytes(), "riff {riff:#x}, data {data:#x}");
        }
        // A partial last frame (a writer killed mid-frame) is left out: whole frames only.
        let mut partial = wav(2, 1000, Some(u32::MAX), Some(u32::MAX));
        partial.extend_from_slice(&[1, 2, 3]);
        assert_eq!(data_size(&fixed(&partial)), 4000);
    }

    #[test]
    fn real_sizes_are_trusted() {
        // Cut short with a real RIFF size: the decoder must see the cut (reported as truncated).
        let mut cut = wav(1, 1000, None, None);
        cut.truncate(cut.len() - 500);
        assert_eq!(fixed(&cut), cut);
        // An empty data chunk followed by another chunk is empty, not a placeholder.
        let mut empty = wav(1, 0, None, Some(0));
        empty.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
        let riff = (empty.len() - 8) as u32;
        empty[4..8].copy_from_slice(&riff.to_le_bytes());
        assert_eq!(fixed(&empty), empty);
        let text = b"not a wav file at all, just text".to_vec();
        assert_eq!(fixed(&text), text);
    }
}
