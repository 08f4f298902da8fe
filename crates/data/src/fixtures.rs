//! Small dataset trees that mirror each benchmark's real layout and quirks (quoted TSV fields,
//! CRLF line ends, trailing spaces, multi-key entries, 0-BPM and ≥ 300-BPM items, known broken
//! clips), with deliberately missing and corrupt audio. The loader tests use them, and so can
//! the evaluation suite's end-to-end tests (`loev data fixture <name> <dir>` writes one too).
//!
//! Audio files are short 16-bit mono wav tones (a different pitch per file). Files the real
//! dataset distributes as mp3 keep their `.mp3` names but hold wav data: loev's decoder
//! recognises the container from the bytes, not the extension. A corrupt file is text bytes.
//!
//! What each tree holds is documented on [`write_fixture`]; the loader tests in
//! `tests/loaders.rs` spell out the expected counts and labels by hand.

use std::io;
use std::path::{Path, PathBuf};

use loev_audio::SAMPLE_RATE;
use loev_audio::wav::write_wav;
use loev_core::io::atomic_write;
use npyz::WriterBuilder;

use crate::datasets::{DatasetName, load_dataset};
use crate::error::DataError;
use crate::manifest_tasks::load_manifest_tasks;
use crate::options::LoadOptions;
use crate::report::LoadReport;
use crate::task::TaskDataset;

/// How fixture audio is written.
#[derive(Clone, Debug, PartialEq)]
pub struct FixtureOptions {
    /// Length of every audio file in seconds (3 s = one model input slice).
    pub seconds: f64,
}

impl Default for FixtureOptions {
    fn default() -> Self {
        Self { seconds: 3.0 }
    }
}

/// A written fixture: where it is and which files are broken on purpose.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixture {
    /// The dataset it mirrors; `None` for the labelled-manifest fixture.
    pub dataset: Option<DatasetName>,
    /// What to pass to the loader: the dataset root, or the manifest file.
    pub root: PathBuf,
    /// Listed audio files that were not written, as the annotations list them.
    pub missing: Vec<PathBuf>,
    /// Audio files written with garbage bytes.
    pub corrupt: Vec<PathBuf>,
}

impl Fixture {
    /// Loads the fixture with the loader it mirrors.
    pub fn load(&self, opts: &LoadOptions) -> Result<(Vec<TaskDataset>, LoadReport), DataError> {
        match self.dataset {
            Some(name) => load_dataset(name, &self.root, opts),
            None => load_manifest_tasks(&self.root, opts),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Audio {
    Good,
    Missing,
    Corrupt,
}
use Audio::{Corrupt, Good, Missing};

struct Writer {
    seconds: f64,
    tones: usize,
    missing: Vec<PathBuf>,
    corrupt: Vec<PathBuf>,
}

impl Writer {
    fn new(opts: &FixtureOptions) -> Self {
        Self {
            seconds: opts.seconds,
            tones: 0,
            missing: Vec::new(),
            corrupt: Vec::new(),
        }
    }

    fn text(&self, path: &Path, content: &str) -> io::Result<()> {
        atomic_write(path, content.as_bytes())
    }

    fn audio(&mut self, path: &Path, state: Audio) -> io::Result<()> {
        match state {
            Good => {
                let f0 = 110.0 * 2f64.powf((self.tones % 36) as f64 / 12.0);
                self.tones += 1;
                let n = (self.seconds * SAMPLE_RATE as f64).round() as usize;
                let samples: Vec<f32> = (0..n)
                    .map(|i| {
                        let t = i as f64 / SAMPLE_RATE as f64;
                        (0.3 * (std::f64::consts::TAU * f0 * t).sin()
                            + 0.1 * (std::f64::consts::TAU * 2.0 * f0 * t).sin()) as f32
                    })
                    .collect();
                write_wav(path, &samples, SAMPLE_RATE)
            }
            Missing => {
                self.missing.push(path.to_path_buf());
                Ok(())
            }
            Corrupt => {
                self.corrupt.push(path.to_path_buf());
                atomic_write(path, b"this is not audio: a corrupt download\x00\x01\x02\x03")
            }
        }
    }

    fn finish(self, dataset: Option<DatasetName>, root: PathBuf) -> Fixture {
        Fixture {
            dataset,
            root,
            missing: self.missing,
            corrupt: self.corrupt,
        }
    }
}

/// Writes the fixture of `name` under `dir` with default options. See [`write_fixture_with`].
pub fn write_fixture(name: DatasetName, dir: &Path) -> io::Result<Fixture> {
    write_fixture_with(name, dir, &FixtureOptions::default())
}

/// Writes the fixture tree of `name` under `dir` (the dataset root):
///
/// * `mtt`: 14 annotation rows (quoted, tab-separated, tag columns in a non-benchmark order plus
///   non-top-50 columns), the 3 broken clip ids, one clip without a top-50 tag, 2 missing
///   (folders e, f) and 1 corrupt (f) mp3; a Won split in `split/mtat/*.npy`.
/// * `mtg-jamendo`: 9 tracks over the three CRLF split files, variable tag columns, a tag
///   outside the top 50, 2 missing, 1 corrupt, one converted to `.low.wav`.
/// * `gs-key`, `giantsteps-key`, `giantsteps-mtg-key`: 5 test keys (no trailing newline) and 13
///   MTG-key rows (trailing spaces, sharps, a multi-key entry, `-`, low confidence, an ID also in
///   the test set); 1 missing in each part, 1 corrupt test file.
/// * `nsynth`: 9 notes over the three split folders, 2 missing, 1 corrupt.
/// * `gtzan-tempo`, `hainsworth`, `acm-mirum`, `giantsteps-tempo`: a few items each (a 321.6-BPM
///   track, an unlisted track, a no-beat file, 0 BPM); `alltempo` holds all four.
pub fn write_fixture_with(name: DatasetName, dir: &Path, opts: &FixtureOptions) -> io::Result<Fixture> {
    let mut w = Writer::new(opts);
    match name {
        DatasetName::Mtt => write_mtt(&mut w, dir)?,
        DatasetName::MtgJamendo => write_mtg(&mut w, dir)?,
        DatasetName::GsKey => {
            write_giantsteps_key(&mut w, &dir.join("giantsteps-key-dataset"))?;
            write_giantsteps_mtg_key(&mut w, &dir.join("giantsteps-mtg-key-dataset"))?;
        }
        DatasetName::GiantstepsKey => write_giantsteps_key(&mut w, dir)?,
        DatasetName::GiantstepsMtgKey => write_giantsteps_mtg_key(&mut w, dir)?,
        DatasetName::Nsynth => write_nsynth(&mut w, dir)?,
        DatasetName::GtzanTempo => write_gtzan(&mut w, dir)?,
        DatasetName::Hainsworth => write_hainsworth(&mut w, dir)?,
        DatasetName::AcmMirum => write_acm_mirum(&mut w, dir)?,
        DatasetName::GiantstepsTempo => write_giantsteps_tempo(&mut w, dir)?,
        DatasetName::Alltempo => {
            write_gtzan(&mut w, &dir.join("gtzan"))?;
            write_hainsworth(&mut w, &dir.join("hainsworth"))?;
            write_acm_mirum(&mut w, &dir.join("acm_mirum"))?;
            write_giantsteps_tempo(&mut w, &dir.join("giantsteps"))?;
        }
    }
    Ok(w.finish(Some(name), dir.to_path_buf()))
}

/// Writes a labelled manifest in the loev convention (`dir/manifest.csv`): 6 tracks with key,
/// tempo and tags (one at 310 BPM, one without a split, one path with a space), 3 notes with a
/// pitch; 2 missing files (`tracks/t4.wav`, `notes/n1.wav`) and 1 corrupt (`notes/n2.wav`).
pub fn write_manifest_fixture(dir: &Path, opts: &FixtureOptions) -> io::Result<Fixture> {
    let mut w = Writer::new(opts);
    let manifest = dir.join("manifest.csv");
    w.text(
        &manifest,
        "path,id,split,kind,key,tempo,tags,pitch,instrument,seconds\n\
         tracks/t0.wav,t0,train,track,C major,120,piano;bass;drums;style:rock,,,3\n\
         tracks/t1.wav,t1,train,track,A minor,95.5,guitar;style:shuffle,,,3\n\
         tracks/t2.wav,t2,valid,track,Eb minor,140,piano;drums;style:rock,,,3\n\
         tracks/t3.wav,t3,test,track,F# major,88,bass;synth;style:half-time,,,3\n\
         tracks/t4.wav,t4,test,track,G major,310,piano,,,3\n\
         \"tracks/t 5.wav\",t5,,track,D minor,100,\"piano; strings\",,,3\n\
         notes/n0.wav,n0,train,note,,,,60,piano,3\n\
         notes/n1.wav,n1,valid,note,,,,45,bass,3\n\
         notes/n2.wav,n2,test,note,,,,72,flute,3\n",
    )?;
    for (file, state) in [
        ("tracks/t0.wav", Good),
        ("tracks/t1.wav", Good),
        ("tracks/t2.wav", Good),
        ("tracks/t3.wav", Good),
        ("tracks/t4.wav", Missing),
        ("tracks/t 5.wav", Good),
        ("notes/n0.wav", Good),
        ("notes/n1.wav", Missing),
        ("notes/n2.wav", Corrupt),
    ] {
        w.audio(&dir.join(file), state)?;
    }
    Ok(w.finish(None, manifest))
}

/// MTT rows: clip id, mp3 path, top-50 tags, extra (non-top-50) tags, audio state.
type MttRowSpec = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Option<Audio>,
);

const MTT_ROWS: [MttRowSpec; 14] = [
    (
        "2",
        "0/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3",
        &["classical", "strings"],
        &[],
        Some(Good),
    ),
    (
        "6",
        "1/jacob_heringman-josquin_des_prez_lute_settings-19-gintzler__pater_noster-204-233.mp3",
        &["no voice", "new age"],
        &[],
        Some(Good),
    ),
    (
        "10",
        "5/artist_a-album_b-03-title_c-0-29.mp3",
        &[],
        &["singer"],
        Some(Good),
    ),
    (
        "35644",
        "6/norine_braun-now_and_zen-08-gently-117-146.mp3",
        &["female vocal"],
        &[],
        None,
    ),
    (
        "55753",
        "8/jacob_heringman-black_cow-01-x-204-233.mp3",
        &["guitar"],
        &[],
        None,
    ),
    (
        "57881",
        "9/american_baroque-dances_and_suites_of_rameau_and_couperin-25-le_petit_rien-88-117.mp3",
        &["harpsichord"],
        &[],
        None,
    ),
    (
        "20",
        "b/artist_d-album_e-05-title_f-30-59.mp3",
        &["male vocal", "rock"],
        &["duet"],
        Some(Good),
    ),
    (
        "44",
        "a/artist_g-album_h-02-title_i-58-87.mp3",
        &["drums", "fast"],
        &[],
        Some(Good),
    ),
    (
        "30",
        "c/artist_j-album_k-01-title_l-0-29.mp3",
        &["piano"],
        &[],
        Some(Good),
    ),
    (
        "31",
        "c/artist_m-album_n-07-title_o-88-117.mp3",
        &["female voice", "choral"],
        &["singer"],
        Some(Good),
    ),
    (
        "40",
        "d/artist_p-album_q-04-title_r-29-58.mp3",
        &["techno", "electronic", "beat"],
        &[],
        Some(Good),
    ),
    (
        "41",
        "e/artist_s-album_t-06-title_u-0-29.mp3",
        &["violin"],
        &[],
        Some(Missing),
    ),
    (
        "42",
        "f/artist_v-album_w-08-title_x-30-59.mp3",
        &["flute"],
        &[],
        Some(Missing),
    ),
    (
        "43",
        "f/artist_y-album_z-09-title_aa-0-29.mp3",
        &["harp"],
        &[],
        Some(Corrupt),
    ),
];

fn write_mtt(w: &mut Writer, root: &Path) -> io::Result<()> {
    // Tag columns: two non-top-50 tags, then the top 50 in reverse order.
    let mut tag_columns: Vec<String> = vec!["singer".into(), "duet".into()];
    tag_columns.extend(crate::datasets::mtt::top50_tags().into_iter().rev());
    let quote = |s: &str| format!("\"{s}\"");
    let mut text = String::new();
    let header: Vec<String> = std::iter::once("clip_id".to_string())
        .chain(tag_columns.iter().cloned())
        .chain(std::iter::once("mp3_path".into()))
        .collect();
    text.push_str(&header.iter().map(|h| quote(h)).collect::<Vec<_>>().join("\t"));
    text.push('\n');
    for (clip, path, tags, extra, _) in MTT_ROWS {
        let mut fields = vec![quote(clip)];
        for column in &tag_columns {
            let on = tags.contains(&column.as_str()) || extra.contains(&column.as_str());
            fields.push(quote(if on { "1" } else { "0" }));
        }
        fields.push(quote(path));
        text.push_str(&fields.join("\t"));
        text.push('\n');
    }
    w.text(&root.join("annotations_final.csv"), &text)?;
    for (_, path, _, _, audio) in MTT_ROWS {
        if let Some(state) = audio {
            w.audio(&root.join(path), state)?;
        }
    }
    // Won et al. split files: `<data row>\t<path>` strings; clips 10, 44, 31 and 42 unlisted.
    let row_of = |clip: &str| MTT_ROWS.iter().position(|r| r.0 == clip).unwrap_or(0);
    let entry = |clip: &str| format!("{}\t{}", row_of(clip), MTT_ROWS[row_of(clip)].1);
    let won_dir = root.join("split").join("mtat");
    write_npy_strings(&won_dir.join("train.npy"), &["2", "6", "20"].map(entry))?;
    write_npy_strings(&won_dir.join("valid.npy"), &["30"].map(entry))?;
    write_npy_strings(&won_dir.join("test.npy"), &["40", "41", "43"].map(entry))?;
    Ok(())
}

/// Writes a 1-D numpy array of unicode strings (`<U`), as the Won et al. split files are.
pub fn write_npy_strings(path: &Path, items: &[String]) -> io::Result<()> {
    let width = items.iter().map(|s| s.chars().count()).max().unwrap_or(1).max(1);
    let type_str: npyz::TypeStr = format!("<U{width}")
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
    loev_core::io::atomic_write_with(path, |file| {
        let mut writer = npyz::WriteOptions::<String>::new()
            .dtype(npyz::DType::Plain(type_str))
            .shape(&[items.len() as u64])
            .writer(io::BufWriter::new(file))
            .begin_nd()?;
        for item in items {
            writer.push(item)?;
        }
        writer.finish()
    })
}

fn write_mtg(w: &mut Writer, root: &Path) -> io::Result<()> {
    let header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n";
    let files: [(&str, &[&str]); 3] = [
        (
            "train",
            &[
                "track_0000241\tartist_000005\talbum_000033\t41/241.mp3\t340.1\tgenre---rock\tinstrument---guitar",
                "track_0000382\tartist_000020\talbum_000052\t82/382.mp3\t220.3\tgenre---electronic\tgenre---techno\tinstrument---synthesizer\tmood/theme---energetic",
                "track_0000948\tartist_000090\talbum_000101\t48/948.mp3\t187.0\tgenre---ambient\tgenre---polka",
                "track_0001000\tartist_000091\talbum_000102\t00/1000.mp3\t95.5\tinstrument---piano\tmood/theme---relaxing",
            ],
        ),
        (
            "validation",
            &[
                "track_0000500\tartist_000092\talbum_000103\t00/500.mp3\t120.0\tgenre---jazz\tinstrument---bass",
                "track_0000601\tartist_000093\talbum_000104\t01/601.mp3\t64.2\tgenre---pop",
            ],
        ),
        (
            "test",
            &[
                "track_0000702\tartist_000094\talbum_000105\t02/702.mp3\t300.0\tgenre---classical\tinstrument---violin\tinstrument---strings",
                "track_0000803\tartist_000095\talbum_000106\t03/803.mp3\t150.5\tgenre---metal",
                "track_0000904\tartist_000096\talbum_000107\t04/904.mp3\t210.9\tgenre---folk\tinstrument---acousticguitar",
            ],
        ),
    ];
    let split_dir = root.join("data").join("splits").join("split-0");
    for (name, rows) in files {
        let mut text = header.to_string();
        for row in rows {
            text.push_str(row);
            text.push_str("\r\n");
        }
        w.text(&split_dir.join(format!("autotagging_top50tags-{name}.tsv")), &text)?;
    }
    let audio = root.join("audio");
    for (file, state) in [
        ("41/241.low.mp3", Good),
        ("82/382.low.mp3", Good),
        ("48/948.low.mp3", Good),
        ("00/1000.low.wav", Good), // converted copy of 00/1000.low.mp3
        ("00/500.low.mp3", Good),
        ("01/601.low.mp3", Missing),
        ("02/702.low.mp3", Good),
        ("03/803.low.mp3", Missing),
        ("04/904.low.mp3", Corrupt),
    ] {
        w.audio(&audio.join(file), state)?;
    }
    Ok(())
}

/// The audio file of GiantSteps track `id` (all three GiantSteps datasets lay it out alike).
fn giantsteps_audio(root: &Path, id: &str) -> PathBuf {
    root.join("audio").join(format!("{id}.LOFI.mp3"))
}

fn write_giantsteps_key(w: &mut Writer, root: &Path) -> io::Result<()> {
    for (id, key, state) in [
        ("1000", "C minor", Good),
        ("1001", "Eb major", Good),
        ("1002", "Gb minor", Good),
        ("1003", "A minor", Missing),
        ("1004", "Bb major", Corrupt),
    ] {
        w.text(
            &root.join("annotations").join("key").join(format!("{id}.LOFI.key")),
            key,
        )?;
        w.audio(&giantsteps_audio(root, id), state)?;
    }
    Ok(())
}

fn write_giantsteps_mtg_key(w: &mut Writer, root: &Path) -> io::Result<()> {
    let rows = [
        ("1000", "C minor", "2", Good),
        ("2000", "D# minor", "2", Good),
        ("2001", "C# major ", "2", Good),
        ("2002", "G# minor / B major", "2", Good),
        ("2003", "-", "0", Good),
        ("2004", "-", "2", Good),
        ("2005", "A minor", "1", Good),
        ("2006", "F major", "2", Good),
        ("2007", "E minor", "2", Missing),
        ("2008", "B minor", "2", Good),
        ("2009", "G major", "2", Good),
        ("2010", "Ab major", "2", Good),
        ("2011", "c minor ", "2", Good),
    ];
    let mut text = "ID\tMANUAL KEY\tC\n".to_string();
    for (id, key, confidence, _) in rows {
        text.push_str(&format!("{id}\t{key}\t{confidence}\n"));
    }
    w.text(&root.join("annotations").join("annotations.txt"), &text)?;
    for (id, _, _, state) in rows {
        w.audio(&giantsteps_audio(root, id), state)?;
    }
    Ok(())
}

/// NSynth note: name, pitch, instrument family, audio state.
type NoteSpec = (&'static str, u8, &'static str, Audio);

fn write_nsynth(w: &mut Writer, root: &Path) -> io::Result<()> {
    let splits: [(&str, &[NoteSpec]); 3] = [
        (
            "nsynth-train",
            &[
                ("keyboard_electronic_002-060-050", 60, "keyboard", Good),
                ("bass_synthetic_009-036-100", 36, "bass", Good),
                ("guitar_acoustic_010-064-075", 64, "guitar", Good),
                ("flute_acoustic_002-072-127", 72, "flute", Missing),
            ],
        ),
        (
            "nsynth-valid",
            &[
                ("organ_electronic_001-048-025", 48, "organ", Good),
                ("string_acoustic_012-060-050", 60, "string", Good),
            ],
        ),
        (
            "nsynth-test",
            &[
                ("mallet_acoustic_047-084-075", 84, "mallet", Good),
                ("vocal_synthetic_003-055-100", 55, "vocal", Missing),
                ("brass_acoustic_006-067-050", 67, "brass", Corrupt),
            ],
        ),
    ];
    for (folder, notes) in splits {
        let dir = root.join(folder);
        let entries: Vec<String> = notes
            .iter()
            .enumerate()
            .map(|(i, (name, pitch, family, _))| {
                let instrument = name.rsplitn(3, '-').nth(2).unwrap_or(name);
                let velocity: u32 = name.rsplit('-').next().and_then(|v| v.parse().ok()).unwrap_or(100);
                format!(
                    "  \"{name}\": {{\n    \"note\": {},\n    \"note_str\": \"{name}\",\n    \"instrument\": {i},\n    \"instrument_str\": \"{instrument}\",\n    \
                     \"pitch\": {pitch},\n    \"velocity\": {velocity},\n    \"sample_rate\": 16000,\n    \"qualities\": [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],\n    \
                     \"qualities_str\": [\"dark\"],\n    \"instrument_family\": {i},\n    \"instrument_family_str\": \"{family}\",\n    \
                     \"instrument_source\": 0,\n    \"instrument_source_str\": \"acoustic\"\n  }}",
                    1000 + i
                )
            })
            .collect();
        w.text(
            &dir.join("examples.json"),
            &format!("{{\n{}\n}}\n", entries.join(",\n")),
        )?;
        for (name, _, _, state) in notes.iter() {
            w.audio(&dir.join("audio").join(format!("{name}.wav")), *state)?;
        }
    }
    Ok(())
}

fn write_gtzan(w: &mut Writer, root: &Path) -> io::Result<()> {
    let items = [
        ("blues", "00029", "1.258700000000000045e+02\n", Good), // train list, 125.87 BPM
        ("blues", "00000", "9.500000000000000000e+01\n", Good), // valid list
        ("jazz", "00031", "3.216400000000000148e+02\n", Good),  // valid list, ≥ 300 BPM
        ("blues", "00012", "1.100000000000000000e+02\n", Good), // test list
        ("rock", "00010", "1.200000000000000000e+02\n", Missing), // test list
        ("pop", "00030", "1.000000000000000000e+02\n", Good),   // not in the filtered lists
    ];
    for (genre, number, bpm, state) in items {
        w.text(
            &root
                .join("gtzan_tempo_beat")
                .join("tempo")
                .join(format!("gtzan_{genre}_{number}.bpm")),
            bpm,
        )?;
        w.audio(
            &root.join("audio").join(genre).join(format!("{genre}.{number}.wav")),
            state,
        )?;
    }
    Ok(())
}

fn write_hainsworth(w: &mut Writer, root: &Path) -> io::Result<()> {
    let items = [
        ("001", "0.5\t1\n1.0\t2\n1.5\t3\n2.0\t4\n"),                   // 120 BPM
        ("002", "0.000\t1\n0.625\t2\n1.250\t3\n1.875\t4\n2.500\t1\n"), // 96 BPM
        ("003", "-1.0\t0\n"),                                          // no beats
    ];
    for (name, beats) in items {
        w.text(
            &root.join("beat_and_downbeat_annotations").join(format!("{name}.beats")),
            beats,
        )?;
        w.audio(&root.join("audio").join(format!("{name}.wav")), Good)?;
    }
    Ok(())
}

fn write_acm_mirum(w: &mut Writer, root: &Path) -> io::Result<()> {
    let items = [
        ("10118334", "91", Good),
        ("20000001", "94.0000", Good),
        ("20000002", "137.5", Corrupt),
    ];
    let mut text = String::new();
    for (id, bpm, _) in items {
        text.push_str(&format!("MARSYAS_DATADIR/acm_mirum/wav/{id}.clip.wav\t{bpm}\n"));
    }
    w.text(
        &root.join("acm-mirum").join("Annotations").join("acm_mirum_tempos.mf"),
        &text,
    )?;
    for (id, _, state) in items {
        w.audio(&root.join("Audio").join(format!("{id}.clip.mp3")), state)?;
    }
    Ok(())
}

fn write_giantsteps_tempo(w: &mut Writer, root: &Path) -> io::Result<()> {
    let items = [
        ("3041381", "0.0", "128", Good),
        ("1030011", "127.0\n", "126", Good),
        ("2000000", "85.5", "171", Missing),
    ];
    for (id, v2, v1, state) in items {
        for (annotations, bpm) in [("annotations_v2", v2), ("annotations", v1)] {
            w.text(
                &root.join(annotations).join("tempo").join(format!("{id}.LOFI.bpm")),
                bpm,
            )?;
        }
        w.audio(&giantsteps_audio(root, id), state)?;
    }
    Ok(())
}
