//! The bad-input battery: the built `loev` binary is driven through bad input of every kind a
//! user produces — broken audio, broken manifests, broken configs, wrong folders, bad options
//! for embed, probe and retrieve — and each case must end with a clean error (exit status 1 or
//! clap's 2, never a panic) whose message names the file, key or value at fault.
//!
//! Every case runs even when an earlier one fails; the test then lists all failures at once.

mod common;
use common::{float_wav, loev, run_ok, temp_dir};

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use loev_train::TrainConfig;
use loev_train::fixtures::{TestBatches, test_size_config};

/// Valid inputs that the bad cases are variations of: a small corpus of audio files, its cache,
/// a run trained for two steps of the test-size model, and the corpus's embeddings.
struct Fixture {
    root: PathBuf,
    corpus: PathBuf,
    cache: PathBuf,
    config: TrainConfig,
    run: PathBuf,
    checkpoint: PathBuf,
    embeddings: PathBuf,
}

impl Fixture {
    fn build() -> Self {
        let root = temp_dir("fixture");
        let corpus = root.join("corpus");
        run_ok(
            loev()
                .args([
                    "corpus", "generate", "--quiet", "--tracks", "4", "--notes", "0", "--seed", "5",
                ])
                .args(["--track-seconds", "4,5", "-o"])
                .arg(&corpus),
        );
        let cache = root.join("cache");
        run_ok(
            loev()
                .args(["cache", "build", "--quiet", "-o"])
                .arg(&cache)
                .arg(corpus.join("manifest.csv")),
        );
        let batches = TestBatches {
            anchors: 2,
            views: 2,
            frames: 100,
            workers: 1,
        };
        let mut config = test_size_config("loev-ps:tiny", "battery", &cache, batches).expect("config");
        config.train.steps = 2;
        config.train.checkpoint_every = 2;
        config.train.log_every = 1;
        config.validate().expect("valid fixture config");
        let config_path = root.join("good.toml");
        std::fs::write(&config_path, config.to_toml()).expect("config");
        let run = root.join("run");
        run_ok(
            loev()
                .args(["pretrain", "--no-progress", "--config"])
                .arg(&config_path)
                .arg("--out")
                .arg(&run),
        );
        let checkpoint = run.join("checkpoints").join("step-00000002").join("model.safetensors");
        assert!(checkpoint.is_file(), "the fixture run wrote {}", checkpoint.display());
        let embeddings = root.join("embeddings");
        run_ok(
            loev()
                .args(["embed", "--quiet", "--run"])
                .arg(&run)
                .arg("-o")
                .arg(&embeddings)
                .arg(corpus.join("manifest.csv")),
        );
        Self {
            root,
            corpus,
            cache,
            config,
            run,
            checkpoint,
            embeddings,
        }
    }

    /// Writes `bytes` to `name` under the fixture root and returns the path.
    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join("bad").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("bad folder");
        std::fs::write(&path, bytes).expect("bad file");
        path
    }

    /// An empty folder `name` under the fixture root.
    fn folder(&self, name: &str) -> PathBuf {
        let path = self.root.join("bad").join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("bad folder");
        path
    }

    /// A copy of the good training config with `edit` applied to its TOML text.
    fn config_with(&self, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
        self.file(name, edit(self.config.to_toml()))
    }

    /// A copy of the good run folder (config, metrics, checkpoints) to damage.
    fn run_copy(&self, name: &str) -> PathBuf {
        let copy = self.root.join("bad").join(name);
        copy_tree(&self.run, &copy);
        copy
    }

    /// The first audio file of the corpus.
    fn some_track(&self) -> PathBuf {
        let mut files: Vec<PathBuf> = walk(&self.corpus)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "wav" || e == "flac"))
            .collect();
        files.sort();
        files.into_iter().next().expect("the corpus holds audio")
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("copy");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A 16-bit mono wav header announcing `data_bytes` of samples, followed by `body`.
fn wav_bytes(data_bytes: u32, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&32_000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_bytes.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// One bad-input case: the arguments, and the texts the error message must contain.
struct Case {
    area: &'static str,
    what: &'static str,
    args: Vec<OsString>,
    must_name: Vec<String>,
    /// Paths that must not exist after the command (nothing written on refusal).
    must_not_create: Vec<PathBuf>,
    /// Files whose bytes must be the same after the command (the user's files).
    must_keep: Vec<(PathBuf, Vec<u8>)>,
    /// The error must be one line: no panic text, no backtrace, no library's debug output.
    one_line: bool,
}

fn case(area: &'static str, what: &'static str) -> Case {
    Case {
        area,
        what,
        args: Vec::new(),
        must_name: Vec::new(),
        must_not_create: Vec::new(),
        must_keep: Vec::new(),
        one_line: false,
    }
}

impl Case {
    fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// The message must contain `text` (a key or value).
    fn names(mut self, text: impl Into<String>) -> Self {
        self.must_name.push(text.into());
        self
    }

    /// The message must contain the path's file name (so the user can tell which file).
    fn names_file(self, path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.names(name)
    }

    fn creates_nothing_at(mut self, path: &Path) -> Self {
        self.must_not_create.push(path.to_path_buf());
        self
    }

    /// The file at `path` must keep its current bytes.
    fn keeps(mut self, path: &Path) -> Self {
        let bytes = std::fs::read(path).expect("a file to keep");
        self.must_keep.push((path.to_path_buf(), bytes));
        self
    }

    /// The message must be a single line.
    fn in_one_line(mut self) -> Self {
        self.one_line = true;
        self
    }

    /// Runs the case; `Err` describes how it failed.
    fn check(&self) -> Result<(), String> {
        let output = loev()
            .args(&self.args)
            .output()
            .map_err(|e| format!("cannot run loev: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output.status.code();
        let mut problems = Vec::new();
        if !matches!(code, Some(1) | Some(2)) {
            problems.push(format!("exit status {code:?} (wanted 1, or 2 for an argument error)"));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("it panicked".into());
        }
        for text in &self.must_name {
            if !stderr.contains(text.as_str()) {
                problems.push(format!("the message does not name `{text}`"));
            }
        }
        for path in &self.must_not_create {
            if path.exists() {
                problems.push(format!("it created {}", path.display()));
            }
        }
        for (path, bytes) in &self.must_keep {
            if std::fs::read(path).ok().as_ref() != Some(bytes) {
                problems.push(format!("it changed {}", path.display()));
            }
        }
        let lines = stderr.trim().lines().count();
        if self.one_line && lines != 1 {
            problems.push(format!("the message takes {lines} lines instead of one"));
        }
        for text in ["RecvError", "unwrap()", "stack backtrace"] {
            if stderr.contains(text) {
                problems.push(format!("the message shows `{text}`"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "[{}] {}: {}\n    args: {:?}\n    stderr: {}",
                self.area,
                self.what,
                problems.join("; "),
                self.args,
                stderr.trim()
            ))
        }
    }
}

fn cases(f: &Fixture) -> Vec<Case> {
    let track = f.some_track();
    let out = f.root.join("bad-out");
    let mut all = Vec::new();

    // ---- decoding (features and cache build read audio the same way) ----
    let empty = f.file("empty.wav", b"");
    all.push(
        case("decode", "zero-length wav")
            .args(["features", "-o"])
            .arg(out.join("e.npy"))
            .arg(&empty)
            .names_file(&empty),
    );
    let text = f.file("notes.wav", "this is not audio\n".repeat(50));
    all.push(
        case("decode", "text named .wav")
            .args(["features", "-o"])
            .arg(out.join("t.npy"))
            .arg(&text)
            .names_file(&text),
    );
    let header_only = f.file("header-only.wav", wav_bytes(32_000, &[]));
    all.push(
        case("decode", "wav header without samples")
            .args(["features", "-o"])
            .arg(out.join("h.npy"))
            .arg(&header_only)
            .names_file(&header_only),
    );
    let cut = f.file("cut-header.wav", &wav_bytes(32_000, &[0; 64])[..20]);
    all.push(
        case("decode", "wav cut inside its header")
            .args(["features", "-o"])
            .arg(out.join("c.npy"))
            .arg(&cut)
            .names_file(&cut),
    );
    let missing = f.root.join("bad").join("no-such-track.flac");
    all.push(
        case("decode", "missing audio file")
            .args(["features", "-o"])
            .arg(out.join("m.npy"))
            .arg(&missing)
            .names_file(&missing),
    );
    let fake_mp3 = f.file(
        "random.mp3",
        (0..4000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    );
    all.push(
        case("decode", "random bytes named .mp3")
            .args(["features", "-o"])
            .arg(out.join("r.npy"))
            .arg(&fake_mp3)
            .names_file(&fake_mp3),
    );
    let frontend_zero = f.file("frontend-zero.toml", "n_mels = 0\n");
    all.push(
        case("decode", "front-end config with n_mels = 0")
            .args(["features", "-o"])
            .arg(out.join("z.npy"))
            .arg("--config")
            .arg(&frontend_zero)
            .arg(&track)
            .names("n_mels"),
    );
    let frontend_unknown = f.file("frontend-typo.toml", "n_mel = 96\n");
    all.push(
        case("decode", "front-end config with a misspelt key")
            .args(["features", "-o"])
            .arg(out.join("k.npy"))
            .arg("--config")
            .arg(&frontend_unknown)
            .arg(&track)
            .names("n_mel"),
    );

    // ---- manifests and cache building ----
    let no_path = f.file("no-path.csv", "id,genre\na,rock\n");
    all.push(
        case("manifest", "manifest without a path column")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("np"))
            .arg(&no_path)
            .names_file(&no_path)
            .names("path")
            .creates_nothing_at(&out.join("np")),
    );
    let header_only_manifest = f.file("header-only.csv", "path,genre\n");
    all.push(
        case("manifest", "manifest with a header and no rows")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("ho"))
            .arg(&header_only_manifest)
            .names_file(&header_only_manifest)
            .creates_nothing_at(&out.join("ho")),
    );
    let latin1 = f.file("latin1.csv", b"path,title\nx.wav,caf\xe9\n");
    all.push(
        case("manifest", "manifest in Latin-1")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("l1"))
            .arg(&latin1)
            .names_file(&latin1)
            .creates_nothing_at(&out.join("l1")),
    );
    let ragged = f.file("ragged.csv", format!("path,genre\n{},rock,extra\n", track.display()));
    all.push(
        case("manifest", "manifest row with too many fields")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("rg"))
            .arg(&ragged)
            .names_file(&ragged)
            .creates_nothing_at(&out.join("rg")),
    );
    let missing_source = f.root.join("bad").join("no-such-folder");
    all.push(
        case("manifest", "cache source that does not exist")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("ms"))
            .arg(&missing_source)
            .names_file(&missing_source),
    );
    all.push(
        case("manifest", "a single audio file as the cache source")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("one"))
            .arg(&track)
            .names_file(&track)
            .names("folder")
            .creates_nothing_at(&out.join("one")),
    );
    let occupied = f.folder("occupied");
    std::fs::write(occupied.join("thesis.tex"), "precious").expect("file");
    all.push(
        case("manifest", "cache output is a folder of other files")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(&occupied)
            .arg(f.corpus.join("manifest.csv"))
            .names_file(&occupied),
    );
    all.push(
        case("manifest", "cache info on a folder that is not a cache")
            .args(["cache", "info"])
            .arg(&occupied)
            .names_file(&occupied),
    );

    // ---- training configs (nothing may be written for an invalid config) ----
    let missing_config = f.root.join("bad").join("no-such.toml");
    all.push(
        case("config", "missing config file")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&missing_config)
            .arg("--out")
            .arg(out.join("r1"))
            .names_file(&missing_config)
            .creates_nothing_at(&out.join("r1")),
    );
    let syntax = f.config_with("syntax.toml", |t| format!("{t}\n[train\nsteps = 3\n"));
    all.push(
        case("config", "TOML syntax error")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&syntax)
            .arg("--out")
            .arg(out.join("r2"))
            .names_file(&syntax)
            .creates_nothing_at(&out.join("r2")),
    );
    let typo = f.config_with("typo.toml", |t| t.replacen("[train]", "[train]\nstep = 3", 1));
    all.push(
        case("config", "misspelt key")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&typo)
            .arg("--out")
            .arg(out.join("r3"))
            .names("step")
            .creates_nothing_at(&out.join("r3")),
    );
    let zero_mels = f.config_with("zero-mels.toml", |t| replace_value(&t, "n_mels", "0"));
    all.push(
        case("config", "n_mels = 0")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&zero_mels)
            .arg("--out")
            .arg(out.join("r4"))
            .names("n_mels")
            .creates_nothing_at(&out.join("r4")),
    );
    let zero_rate = f.config_with("zero-rate.toml", |t| replace_value(&t, "sample_rate", "0"));
    all.push(
        case("config", "sample_rate = 0")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&zero_rate)
            .arg("--out")
            .arg(out.join("r5"))
            .names("sample_rate")
            .creates_nothing_at(&out.join("r5")),
    );
    let negative_lr = f.config_with("negative-lr.toml", |t| replace_value(&t, "learning_rate", "-0.1"));
    all.push(
        case("config", "negative learning rate")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&negative_lr)
            .arg("--out")
            .arg(out.join("r6"))
            .names("learning_rate")
            .creates_nothing_at(&out.join("r6")),
    );
    let missing_cache = f.root.join("bad").join("no-such-cache");
    let bad_cache = f.config_with("bad-cache.toml", |t| {
        t.replace(&f.cache.display().to_string(), &missing_cache.display().to_string())
    });
    all.push(
        case("config", "cache folder that does not exist")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&bad_cache)
            .arg("--out")
            .arg(out.join("r7"))
            .names_file(&missing_cache)
            .creates_nothing_at(&out.join("r7")),
    );
    all.push(
        case("config", "unknown preset")
            .args(["pretrain", "--no-progress", "--preset", "loev-pitchy:tiny", "--out"])
            .arg(out.join("r8"))
            .names("loev-pitchy")
            .creates_nothing_at(&out.join("r8")),
    );
    all.push(
        case("config", "demo --models with an unknown preset")
            .args(["demo", "--quiet", "--models", "mule-ps,loev-pitchy", "--out"])
            .arg(out.join("r8-demo"))
            .names("loev-pitchy")
            .names("--models")
            .in_one_line()
            .creates_nothing_at(&out.join("r8-demo")),
    );
    let good_config = f.root.join("good.toml");
    all.push(
        case("config", "unknown device")
            .args(["pretrain", "--no-progress", "--device", "tpu:0", "--config"])
            .arg(&good_config)
            .arg("--out")
            .arg(out.join("r9"))
            .names("tpu:0")
            .creates_nothing_at(&out.join("r9")),
    );

    // ---- run folders ----
    let no_run = f.root.join("bad").join("no-such-run");
    all.push(
        case("run folder", "resume a folder that does not exist")
            .args(["pretrain", "--no-progress", "--resume"])
            .arg(&no_run)
            .names_file(&no_run),
    );
    let not_a_run = f.folder("not-a-run");
    all.push(
        case("run folder", "resume an empty folder")
            .args(["pretrain", "--no-progress", "--resume"])
            .arg(&not_a_run)
            .names_file(&not_a_run)
            .names("config.toml"),
    );
    let broken_config_run = f.run_copy("broken-config-run");
    std::fs::write(broken_config_run.join("config.toml"), "[train\n").expect("damage");
    all.push(
        case("run folder", "resume a run whose config.toml is damaged")
            .args(["pretrain", "--no-progress", "--resume"])
            .arg(&broken_config_run)
            .names("config.toml"),
    );
    all.push(
        case("run folder", "new run into a folder of other files")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&good_config)
            .arg("--out")
            .arg(&occupied)
            .names_file(&occupied),
    );

    // ---- embed ----
    all.push(
        case("embed", "--run on a folder that is not a run")
            .args(["embed", "--quiet", "--run"])
            .arg(&not_a_run)
            .arg("-o")
            .arg(out.join("e1"))
            .arg(&track)
            .names_file(&not_a_run)
            .creates_nothing_at(&out.join("e1")),
    );
    let garbage_model = f.file("garbage.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{bad}");
    all.push(
        case("embed", "damaged model file")
            .args(["embed", "--quiet", "--model"])
            .arg(&garbage_model)
            .arg("-o")
            .arg(out.join("e2"))
            .arg(&track)
            .names_file(&garbage_model)
            .creates_nothing_at(&out.join("e2")),
    );
    all.push(
        case("embed", "unknown output format")
            .args(["embed", "--quiet", "--format", "hdf5", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("e3"))
            .arg(&track)
            .names("hdf5")
            .creates_nothing_at(&out.join("e3")),
    );
    all.push(
        case("embed", "batch of zero")
            .args(["embed", "--quiet", "--batch", "0", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("e4"))
            .arg(&track)
            .names("batch")
            .creates_nothing_at(&out.join("e4")),
    );
    all.push(
        case("embed", "missing input")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("e5"))
            .arg(&missing)
            .names_file(&missing)
            .creates_nothing_at(&out.join("e5")),
    );
    let no_audio = f.folder("no-audio");
    std::fs::write(no_audio.join("readme.txt"), "nothing here").expect("file");
    all.push(
        case("embed", "folder without audio")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("e6"))
            .arg(&no_audio)
            .names_file(&no_audio)
            .creates_nothing_at(&out.join("e6")),
    );
    all.push(
        case("embed", "unknown device")
            .args(["embed", "--quiet", "--device", "tpu:0", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("e7"))
            .arg(&track)
            .names("tpu:0")
            .creates_nothing_at(&out.join("e7")),
    );
    all.push(
        case("embed", "negative hop")
            .args(["embed", "--quiet", "--hop=-1", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("e8"))
            .arg(&track)
            .names("hop")
            .creates_nothing_at(&out.join("e8")),
    );

    // ---- probe ----
    let no_embeddings = f.root.join("bad").join("no-such-embeddings");
    all.push(
        case("probe", "embeddings folder that does not exist")
            .arg("probe")
            .arg(&no_embeddings)
            .names_file(&no_embeddings),
    );
    all.push(
        case("probe", "folder that holds no embeddings")
            .arg("probe")
            .arg(&not_a_run)
            .names_file(&not_a_run),
    );
    all.push(
        case("probe", "unknown embedding space")
            .arg("probe")
            .arg(&f.embeddings)
            .args(["--space", "zz"])
            .names("zz"),
    );
    all.push(
        case("probe", "unknown task")
            .arg("probe")
            .arg(&f.embeddings)
            .args(["--task", "mood"])
            .names("mood"),
    );
    all.push(
        case("probe", "unknown dataset")
            .arg("probe")
            .arg(&f.embeddings)
            .args(["--dataset", "fma-huge", "--root"])
            .arg(&no_audio)
            .names("fma-huge"),
    );
    let probe_config = f.file("probe-typo.toml", "epoch = 3\n");
    all.push(
        case("probe", "probe config with a misspelt key")
            .arg("probe")
            .arg(&f.embeddings)
            .arg("--config")
            .arg(&probe_config)
            .names("epoch"),
    );

    // ---- retrieve ----
    all.push(
        case("retrieve", "embeddings folder that does not exist")
            .arg("retrieve")
            .arg(&no_embeddings)
            .names_file(&no_embeddings),
    );
    all.push(
        case("retrieve", "unknown embedding space")
            .arg("retrieve")
            .arg(&f.embeddings)
            .args(["--space", "zz"])
            .names("zz"),
    );
    all.push(
        case("retrieve", "k of zero")
            .arg("retrieve")
            .arg(&f.embeddings)
            .args(["--k", "0"])
            .names("k"),
    );
    all.push(
        case("retrieve", "negative tempo tolerance")
            .arg("retrieve")
            .arg(&f.embeddings)
            .args(["--tolerance=-0.5"])
            .names("tolerance"),
    );
    all.push(
        case("retrieve", "unknown split")
            .arg("retrieve")
            .arg(&f.embeddings)
            .args(["--split", "holdout"])
            .names("holdout"),
    );
    all.extend(round_two_cases(f, &track, &out));
    all
}

/// The classes of issue 28: non-finite and cut-short audio, output folders that loev does not
/// own or that are its input, devices that cannot be opened, model files cut short, export
/// targets, and sizes no machine can hold. Every refusal happens before anything is written.
fn round_two_cases(f: &Fixture, track: &Path, out: &Path) -> Vec<Case> {
    let mut all = Vec::new();
    let manifest = f.corpus.join("manifest.csv");
    let tracks_folder = track.parent().expect("the track's folder").to_path_buf();

    // ---- audio with NaN or infinite samples: one rule (refused, with the count) everywhere ----
    let nan = f.file("nan.wav", float_wav(&vec![f32::NAN; 32_000]));
    all.push(
        case("non-finite audio", "features of a float wav full of NaN")
            .args(["features", "-o"])
            .arg(out.join("nan.npy"))
            .arg(&nan)
            .names_file(&nan)
            .names("32000 non-finite samples")
            .creates_nothing_at(&out.join("nan.npy")),
    );
    let mut some_inf: Vec<f32> = (0..32_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    some_inf[16_000..16_010].fill(f32::INFINITY);
    let inf = f.file("some-inf.wav", float_wav(&some_inf));
    all.push(
        case("non-finite audio", "features of a float wav with ten infinite samples")
            .args(["features", "-o"])
            .arg(out.join("inf.npy"))
            .arg(&inf)
            .names_file(&inf)
            .names("10 non-finite samples")
            .names("1.000 s"),
    );
    all.push(
        case("non-finite audio", "augment a float wav full of NaN")
            .args(["augment", "-n", "2", "-o"])
            .arg(out.join("nan-views"))
            .arg(&nan)
            .names("non-finite")
            .creates_nothing_at(&out.join("nan-views")),
    );
    all.push(
        case("non-finite audio", "embed a float wav full of NaN")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("nan-emb"))
            .arg(&nan)
            .names("non-finite")
            .names_file(&nan),
    );
    let nan_folder = f.folder("nan-only");
    std::fs::write(nan_folder.join("nan.wav"), float_wav(&vec![f32::NAN; 16_000])).expect("wav");
    all.push(
        case("non-finite audio", "cache build of a folder whose only file is NaN")
            .args(["cache", "build", "--quiet", "-o"])
            .arg(out.join("nan-cache"))
            .arg(&nan_folder)
            .names("non-finite"),
    );
    let mut cut = wav_bytes(32_000, &[0; 16_000]);
    cut.truncate(cut.len() - 1000);
    let cut_data = f.file("cut-data.wav", cut);
    all.push(
        case("decode", "wav whose data chunk is cut short (real sizes)")
            .args(["features", "-o"])
            .arg(out.join("cut.npy"))
            .arg(&cut_data)
            .names_file(&cut_data)
            .names("truncated"),
    );

    // ---- output folders: loev's own, empty, or --force; never the input ----
    let users = f.folder("users-folder");
    std::fs::write(
        users.join("index.csv"),
        "path,comment
mine.wav,my own index
",
    )
    .expect("file");
    all.push(
        case("output folder", "embed into a folder holding the user's own index.csv")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&users)
            .arg(track)
            .names_file(&users)
            .names("index.csv")
            .names("--force")
            .keeps(&users.join("index.csv"))
            .creates_nothing_at(&users.join(".loev-output"))
            .creates_nothing_at(&users.join("tracks")),
    );
    all.push(
        case("output folder", "embed a folder of audio into that folder")
            .args(["embed", "--quiet", "--force", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&tracks_folder)
            .arg(&tracks_folder)
            .names("input")
            .creates_nothing_at(&tracks_folder.join("index.csv")),
    );
    all.push(
        case("output folder", "embed a folder of audio into a folder inside it")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(tracks_folder.join("emb"))
            .arg(&tracks_folder)
            .names("input")
            .creates_nothing_at(&tracks_folder.join("emb")),
    );
    all.push(
        case("output folder", "embed a folder of audio into a folder above it")
            .args(["embed", "--quiet", "--force", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&f.corpus)
            .arg(&tracks_folder)
            .names("input")
            .creates_nothing_at(&f.corpus.join("index.csv")),
    );
    all.push(
        case("output folder", "embed a manifest into the folder of its wavs")
            .args(["embed", "--quiet", "--force", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&tracks_folder)
            .arg(&manifest)
            .names("input")
            .creates_nothing_at(&tracks_folder.join("embeddings.json")),
    );
    let a_file = f.file("not-a-folder.txt", "text");
    all.push(
        case("output folder", "embed into a path that is a file")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&a_file)
            .arg(track)
            .names_file(&a_file)
            .names("not a folder")
            .keeps(&a_file),
    );
    let views = f.folder("views-folder");
    std::fs::write(views.join(".loev-output"), "loev views\n").expect("marker");
    all.push(
        case("output folder", "embed into a folder of augmented views")
            .args(["embed", "--quiet", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&views)
            .arg(track)
            .names("views")
            .creates_nothing_at(&views.join("tracks")),
    );
    all.push(
        case("output folder", "augment into the folder of the audio")
            .args(["augment", "-n", "2", "--force", "-o"])
            .arg(&tracks_folder)
            .arg(track)
            .names("input")
            .creates_nothing_at(&tracks_folder.join("views.json")),
    );
    all.push(
        case("output folder", "augment into a folder of the user's files")
            .args(["augment", "-n", "2", "-o"])
            .arg(&users)
            .arg(track)
            .names("index.csv")
            .creates_nothing_at(&users.join("views.json")),
    );
    all.push(
        case("output folder", "probe --out into a folder of the user's files")
            .arg("probe")
            .arg(&f.embeddings)
            .arg("--out")
            .arg(&users)
            .names("index.csv")
            .creates_nothing_at(&users.join("probe.md")),
    );
    all.push(
        case("output folder", "retrieve --out a path that is a file")
            .arg("retrieve")
            .arg(&f.embeddings)
            .arg("--out")
            .arg(&a_file)
            .names("not a folder")
            .keeps(&a_file),
    );
    all.push(
        case("output folder", "analyze into its own input folder")
            .args(["analyze", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(&tracks_folder)
            .arg(&tracks_folder)
            .names("input")
            .creates_nothing_at(&tracks_folder.join("invariance.csv")),
    );
    let notes = f.file("notes.txt", "my notes, not a model\n");
    all.push(
        case("export", "export over a text file")
            .arg("export")
            .arg(&f.run)
            .arg("-o")
            .arg(&notes)
            .names_file(&notes)
            .names("--force")
            .keeps(&notes),
    );
    all.push(
        case("export", "export onto a folder")
            .arg("export")
            .arg(&f.run)
            .arg("-o")
            .arg(&users)
            .names("folder"),
    );
    all.push(
        case("export", "export over the run's own checkpoint")
            .args(["export", "--force"])
            .arg(&f.run)
            .arg("-o")
            .arg(&f.checkpoint)
            .names("checkpoints")
            .keeps(&f.checkpoint),
    );

    // ---- devices that cannot be opened: one line, no panic, nothing written ----
    for (area, device) in [("embed", "cuda:64"), ("embed", "vulkan:64"), ("embed", "opengl:64")] {
        let target = out.join(format!("dev-{}", device.replace(':', "-")));
        all.push(
            case("device", area)
                .args(["embed", "--quiet", "--device", device, "--model"])
                .arg(&f.checkpoint)
                .arg("-o")
                .arg(&target)
                .arg(track)
                .names(device)
                .in_one_line()
                .creates_nothing_at(&target),
        );
    }
    all.push(
        case("device", "pretrain on a GPU that is not there")
            .args(["pretrain", "--no-progress", "--device", "cuda:64", "--config"])
            .arg(f.root.join("good.toml"))
            .arg("--out")
            .arg(out.join("dev-run"))
            .names("cuda:64")
            .in_one_line()
            .creates_nothing_at(&out.join("dev-run")),
    );

    // ---- model files cut short ----
    let model = std::fs::read(&f.checkpoint).expect("the fixture's model file");
    let header_end = 8 + u64::from_le_bytes(model[..8].try_into().expect("8 bytes")) as usize;
    for (name, len) in [
        ("cut-4.safetensors", 4),
        ("cut-header.safetensors", header_end / 2),
        ("cut-data.safetensors", header_end + (model.len() - header_end) / 2),
    ] {
        let cut = f.file(name, &model[..len]);
        all.push(
            case("model file", "a model file cut short")
                .args(["embed", "--quiet", "--model"])
                .arg(&cut)
                .arg("-o")
                .arg(out.join(name))
                .arg(track)
                .names_file(&cut)
                .names("truncated")
                .names("loev export")
                .creates_nothing_at(&out.join(name)),
        );
    }

    // ---- sizes no machine holds, refused before anything is written ----
    let anchors = f.config_with("huge-anchors.toml", |t| replace_value(&t, "anchors", "1000000000"));
    all.push(
        case("sizes", "anchors = 1000000000")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&anchors)
            .arg("--out")
            .arg(out.join("s1"))
            .names("data.anchors")
            .creates_nothing_at(&out.join("s1")),
    );
    let views_huge = f.config_with("huge-views.toml", |t| replace_value(&t, "views", "100000000"));
    all.push(
        case("sizes", "views = 100000000")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&views_huge)
            .arg("--out")
            .arg(out.join("s2"))
            .names("data.views")
            .creates_nothing_at(&out.join("s2")),
    );
    let prefetch = f.config_with("huge-prefetch.toml", |t| replace_value(&t, "prefetch", "100000000000"));
    all.push(
        case("sizes", "prefetch = 100000000000")
            .args(["pretrain", "--no-progress", "--config"])
            .arg(&prefetch)
            .arg("--out")
            .arg(out.join("s3"))
            .names("data.prefetch")
            .creates_nothing_at(&out.join("s3")),
    );
    all.push(
        case("sizes", "embed --batch 1000000000")
            .args(["embed", "--quiet", "--batch", "1000000000", "--model"])
            .arg(&f.checkpoint)
            .arg("-o")
            .arg(out.join("s4"))
            .arg(track)
            .names("batch")
            .creates_nothing_at(&out.join("s4")),
    );
    all.push(
        case("sizes", "augment -n 1000000000")
            .args(["augment", "-n", "1000000000", "-o"])
            .arg(out.join("s5"))
            .arg(track)
            .names("--views 1000000000")
            .creates_nothing_at(&out.join("s5")),
    );
    all.push(
        case("sizes", "augment 600 s views, 100000 of them")
            .args(["augment", "--seconds", "600", "-n", "100000", "-o"])
            .arg(out.join("s6"))
            .arg(track)
            .names("--seconds 600")
            .creates_nothing_at(&out.join("s6")),
    );
    all.push(
        case("sizes", "features --slice-hop 0")
            .args(["features", "--slices", "--slice-hop", "0", "-o"])
            .arg(out.join("s7.npy"))
            .arg(track)
            .names("--slice-hop")
            .creates_nothing_at(&out.join("s7.npy")),
    );
    let frames = f.file("huge-frames.toml", "frames = 1000000000\n");
    all.push(
        case("sizes", "front-end frames = 1000000000")
            .args(["features", "--slices", "--config"])
            .arg(&frames)
            .arg("-o")
            .arg(out.join("s8.npy"))
            .arg(track)
            .names("frames")
            .creates_nothing_at(&out.join("s8.npy")),
    );
    let rate = f.file("rate-1.toml", "sample_rate = 1\nfmax = 0.4\n");
    all.push(
        case("sizes", "front-end sample_rate = 1")
            .args(["features", "--config"])
            .arg(&rate)
            .arg("-o")
            .arg(out.join("s9.npy"))
            .arg(track)
            .names("sample_rate")
            .creates_nothing_at(&out.join("s9.npy")),
    );
    all
}

/// `text` with the value of the first `key = …` line replaced by `value`.
fn replace_value(text: &str, key: &str, value: &str) -> String {
    let mut done = false;
    text.lines()
        .map(|line| {
            let is_key = line.split('=').next().is_some_and(|k| k.trim() == key);
            if is_key && !done {
                done = true;
                format!("{key} = {value}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_bad_input_ends_in_a_clear_error_that_names_the_culprit() {
    let fixture = Fixture::build();
    let cases = cases(&fixture);
    // 48 cases before issue 28's round, 37 added by it.
    assert!(cases.len() >= 85, "the battery holds {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| c.check().err()).collect();
    let areas: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.area).collect();
    eprintln!("{} cases over {areas:?}, {} failed", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&fixture.root);
}
