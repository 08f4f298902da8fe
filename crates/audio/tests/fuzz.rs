//! Bad input never panics: ≥ 10,000 mutated real files (truncated, bytes and bits flipped,
//! headers spliced onto other files, runs inserted/deleted/zeroed, random bytes behind real
//! magic numbers) through the decoder, and ≥ 10,000 random or mutated byte strings through
//! the manifest parser. Each is an `Err` naming its origin or valid output.

use std::path::{Path, PathBuf};

use loev_audio::decode::{DecodedAudio, decode_bytes};
use loev_audio::manifest::Manifest;
use loev_audio::resample::resample;
use loev_core::rng::{Rng, derived_rng};
use rand::RngExt;
use rayon::prelude::*;

const DECODER_CASES: u64 = 12_000;
const MANIFEST_CASES: u64 = 12_000;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.extension().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.random::<u8>()).collect()
}

fn mutate(rng: &mut Rng, files: &[(String, Vec<u8>)]) -> (Vec<u8>, Option<String>) {
    let (ext, original) = &files[rng.random_range(0..files.len())];
    let mut bytes = original.clone();
    let kind = rng.random_range(0..10u32);
    match kind {
        0 => bytes.truncate(rng.random_range(0..bytes.len())),
        1 => {
            for _ in 0..rng.random_range(1..=16) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
        }
        2 => {
            for _ in 0..rng.random_range(1..=8) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
        }
        3 => {
            let (_, other) = &files[rng.random_range(0..files.len())];
            let head = rng.random_range(0..bytes.len().min(256));
            let from = rng.random_range(0..other.len());
            bytes.truncate(head);
            bytes.extend_from_slice(&other[from..]);
        }
        4 => {
            let magic: [&[u8]; 6] = [
                b"RIFF\x24\x00\x00\x00WAVEfmt ",
                b"fLaC",
                b"OggS\x00\x02",
                b"ID3\x03\x00",
                &[0xff, 0xfb, 0x90, 0x64],
                b"RIFF\xff\xff\xff\xffWAVE",
            ];
            let mut v = magic[rng.random_range(0..magic.len())].to_vec();
            let n = rng.random_range(0..4096);
            v.extend(random_bytes(rng, n));
            bytes = v;
        }
        5 => {
            let at = rng.random_range(0..bytes.len());
            let n = rng.random_range(1..512);
            let insert = random_bytes(rng, n);
            bytes.splice(at..at, insert);
        }
        6 => {
            let at = rng.random_range(0..bytes.len());
            let end = (at + rng.random_range(1..2048)).min(bytes.len());
            bytes.drain(at..end);
        }
        7 => {
            let at = rng.random_range(0..bytes.len());
            let end = (at + rng.random_range(1..1024)).min(bytes.len());
            let value = if rng.random_bool(0.5) { 0x00 } else { 0xff };
            bytes[at..end].fill(value);
        }
        8 => {
            let n = rng.random_range(0..64).min(bytes.len());
            let head = random_bytes(rng, n);
            bytes[..n].copy_from_slice(&head);
        }
        _ => {
            let n = rng.random_range(0..2048);
            bytes = random_bytes(rng, n);
        }
    }
    let hint = match rng.random_range(0..4u32) {
        0 => None,
        1 => Some("xyz".to_string()),
        _ => Some(ext.clone()),
    };
    (bytes, hint)
}

fn check_audio(audio: &DecodedAudio) {
    assert!(audio.channels >= 1 && audio.sample_rate > 0 && audio.frames > 0);
    assert_eq!(audio.samples.len(), audio.frames * audio.channels);
    assert!(audio.samples.iter().all(|v| v.is_finite()));
}

#[test]
fn mutated_files_never_panic_the_decoder() {
    let files = fixtures();
    assert!(files.len() >= 30);
    // 0 = decoded, 1 = error, 2 = a decoder panic caught and reported as Corrupt.
    let outcomes: Vec<u8> = (0..DECODER_CASES)
        .into_par_iter()
        .map(|case| {
            let mut rng = derived_rng(0x0f22, &[case]);
            let (bytes, hint) = mutate(&mut rng, &files);
            let origin = PathBuf::from(format!("/fuzz/case{case}.{}", hint.as_deref().unwrap_or("bin")));
            match decode_bytes(&bytes, hint.as_deref(), &origin) {
                Ok(audio) => {
                    check_audio(&audio);
                    if audio.frames < 200_000 {
                        let y = resample(&audio.to_mono(), audio.sample_rate, 16_000).unwrap();
                        assert!(y.iter().all(|v| v.is_finite()));
                    }
                    0
                }
                Err(e) => {
                    assert_eq!(e.path(), origin.as_path());
                    assert!(e.to_string().contains(&origin.display().to_string()));
                    if e.to_string().contains("the decoder failed on malformed data") {
                        2
                    } else {
                        1
                    }
                }
            }
        })
        .collect();
    let ok = outcomes.iter().filter(|&&o| o == 0).count();
    let caught = outcomes.iter().filter(|&&o| o == 2).count();
    println!(
        "{DECODER_CASES} mutated files: {ok} decoded, {} errors ({caught} of them decoder panics caught), 0 panics escaped",
        outcomes.len() - ok
    );
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    assert!(ok > 100 && outcomes.len() - ok > 100);
}

fn random_manifest(rng: &mut Rng) -> Vec<u8> {
    const TOKENS: [&str; 18] = [
        "path",
        "id",
        "genre",
        ",",
        ",",
        "\t",
        "\"",
        "\"\"",
        "\n",
        "\n",
        "\r\n",
        " ",
        "a.wav",
        "\u{feff}",
        "é",
        "\0",
        ";",
        "/abs/x.mp3",
    ];
    match rng.random_range(0..3u32) {
        // Raw bytes, mostly not UTF-8, behind a valid header half of the time.
        0 => {
            let n = rng.random_range(0..300);
            let mut bytes = if rng.random_bool(0.5) {
                b"path,genre\n".to_vec()
            } else {
                Vec::new()
            };
            bytes.extend(random_bytes(rng, n));
            bytes
        }
        1 => (0..rng.random_range(0..60))
            .map(|_| TOKENS[rng.random_range(0..TOKENS.len())])
            .collect::<String>()
            .into_bytes(),
        _ => {
            let mut chars: Vec<char> =
                "path,genre,key\na.wav,rock,C\n\"b, c.wav\",jazz,\"D \"\"minor\"\"\"\r\n\nsub/d.flac, pop ,E\n"
                    .chars()
                    .collect();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..chars.len());
                match rng.random_range(0..3u32) {
                    0 => {
                        chars.remove(i);
                    }
                    1 => chars.insert(
                        i,
                        TOKENS[rng.random_range(0..TOKENS.len())].chars().next().unwrap_or(','),
                    ),
                    _ => chars[i] = char::from(rng.random_range(0..128u8)),
                }
            }
            chars.into_iter().collect::<String>().into_bytes()
        }
    }
}

#[test]
fn random_texts_never_panic_the_manifest_parser() {
    let origin = Path::new("/fuzz/manifest.csv");
    let mut ok = 0;
    for case in 0..MANIFEST_CASES {
        let mut rng = derived_rng(0x3a11, &[case]);
        let bytes = random_manifest(&mut rng);
        match Manifest::from_bytes(&bytes, Path::new("/fuzz"), origin) {
            Ok(m) => {
                ok += 1;
                assert!(m.columns.iter().any(|c| c.eq_ignore_ascii_case("path")));
                for row in &m.rows {
                    assert_eq!(row.fields.len(), m.columns.len() - 1);
                    assert!(!row.path.as_os_str().is_empty());
                }
            }
            Err(e) => assert!(e.to_string().contains("/fuzz/manifest.csv"), "{e}"),
        }
    }
    println!(
        "{MANIFEST_CASES} byte strings: {ok} parsed, {} errors, 0 panics",
        MANIFEST_CASES - ok
    );
    assert!(ok > 100 && MANIFEST_CASES - ok > 100);
}
