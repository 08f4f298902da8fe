//! Importing MULE weights saved by mule-torch (an independent PyTorch port of MULE) into a
//! loev model file.
//!
//! A mule-torch folder holds `model.safetensors` (the PyTorch state dict) and `config.json`
//! (every constant of the architecture, the front end and the slicer). The import:
//!
//! * reads the architecture from `config.json` into an [`EncoderConfig`] and refuses every
//!   value loev's SF-NFNet-F0 cannot build (a kernel, stride, activation or standardisation
//!   other than MULE's), naming the key;
//! * reads the front end and the slicer into a [`FrontEndConfig`] and refuses every value
//!   loev's front end cannot reproduce (another sample rate, window, padding, compression,
//!   slice hop), naming the key; the stored mel filterbank (`frontend.mel_fb`) must equal
//!   loev's for that configuration;
//! * maps every tensor by name onto loev's module paths, checking each shape (the squeeze-excite
//!   `Linear` weights are transposed: PyTorch keeps `[out, in]`, loev's `Dense` `[in, out]`); a
//!   missing, extra or misshapen tensor stops the import with its name;
//! * writes a model file without projection heads (the release is the encoder alone, so the
//!   model embeds into `v` only), whose header records where the weights came from and their
//!   licence ([`ModelSource`]).
//!
//! The STFT basis mule-torch keeps as buffers (`frontend.stft.*`) is not read: it is a function
//! of the front-end configuration, which is checked.
//!
//! loev never downloads weights: the user fetches the folder and passes it here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use loev_audio::frontend::{Compression, FilterNorm, FrontEnd, FrontEndConfig, MelScale, PadMode};
use loev_core::SAMPLE_RATE;
use loev_core::checksum::fnv1a64;
use loev_model::{
    BLOCK_KERNELS, EncoderConfig, FAST_STEM, FUSION_KERNEL, FUSION_STRIDE, LoevModel, LoevModelConfig, NUM_STAGES,
    SLOW_STEM, WS_EPS, parameter_shapes,
};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use serde_json::{Map, Value};

use crate::model_file::{ModelFileError, ModelFileInfo, ModelSource, write_model_file};

/// The weights file of a mule-torch folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The configuration file of a mule-torch folder.
pub const CONFIG_FILE: &str = "config.json";
/// The value of [`ModelSource::format`] for these imports.
pub const FORMAT: &str = "mule-torch";

/// The keys of mule-torch's `config.json` (its `MuleConfig`); any other key is refused, because
/// loev cannot tell whether it changes what the model computes.
const CONFIG_KEYS: &[&str] = &[
    "embedding_dim",
    "slow_stem_channels",
    "slow_stem_kernels",
    "slow_stem_strides",
    "fast_stem_channels",
    "fast_stem_kernels",
    "fast_stem_strides",
    "slow_stage_in",
    "slow_stage_out",
    "fast_stage_in",
    "fast_stage_out",
    "slow_group_size",
    "fast_group_size",
    "block_kernels",
    "fusion_input_channels",
    "fusion_output_channels",
    "fusion_time_kernel",
    "fusion_time_stride",
    "alpha",
    "scaled_activation",
    "ws_eps",
    "weight_standardization",
    "sample_rate",
    "n_fft",
    "hop_length",
    "win_length",
    "window",
    "n_mels",
    "fmin",
    "fmax",
    "mel_norm",
    "htk",
    "power",
    "center",
    "pad_mode",
    "mag_compression",
    "slice_hop",
    "look_backward",
    "look_forward",
    "standard_normalize",
    "std_floor",
    "provenance",
];

/// The stored mel filterbank.
const MEL_FB: &str = "frontend.mel_fb";
/// Prefix of the STFT basis buffers (recomputed from the configuration, not read).
const STFT_PREFIX: &str = "frontend.stft.";

/// Largest difference allowed between the stored filterbank and loev's, relative to the
/// largest weight: both are computed in f64 and rounded to f32, so they agree to a few ulps.
const MEL_FB_TOLERANCE: f32 = 1e-5;

/// Why a folder cannot be imported. Every message names the file and the key or tensor at
/// fault.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A configuration key is missing, of the wrong type, or a value loev cannot reproduce.
    #[error("{path}: `{key}` {reason}")]
    Config {
        /// `config.json`.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor is missing, extra, of another shape or type, or holds other values than loev
    /// computes (the filterbank).
    #[error("{path}: tensor `{tensor}` {reason}")]
    Tensor {
        /// `model.safetensors`.
        path: PathBuf,
        /// The tensor's name in the folder.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// The weights file is not a safetensors file.
    #[error("{path} is not a safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Building or writing the model file failed.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
}

/// What an import wrote.
#[derive(Clone, Debug)]
pub struct ImportSummary {
    /// The model file written.
    pub out: PathBuf,
    /// Its `loev.model_file` entry (front end, source and licence).
    pub info: ModelFileInfo,
    /// The encoder configuration read from the folder.
    pub config: LoevModelConfig,
    /// Weight tensors imported.
    pub tensors: usize,
    /// Scalars imported.
    pub parameters: usize,
}

/// Converts the mule-torch folder `dir` into the loev model file `out` (written atomically).
pub fn import_mule_torch(dir: &Path, out: &Path) -> Result<ImportSummary, ImportError> {
    let config_path = dir.join(CONFIG_FILE);
    let weights_path = dir.join(WEIGHTS_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|source| ImportError::Io {
        path: config_path.clone(),
        source,
    })?;
    let bytes = std::fs::read(&weights_path).map_err(|source| ImportError::Io {
        path: weights_path.clone(),
        source,
    })?;
    let weights = SafeTensors::deserialize(&bytes).map_err(|e| ImportError::Format {
        path: weights_path.clone(),
        reason: e.to_string(),
    })?;
    let config = MuleConfig::parse(&config_path, &text)?;
    let depths = stage_depths(&weights_path, &weights.names())?;
    let encoder = config.encoder(depths)?;
    let frontend = config.frontend()?;
    let model_config = LoevModelConfig::encoder_only(encoder);
    model_config
        .validate()
        .map_err(|e| config.wrong("slow_stage_out", format!("describes no buildable encoder: {e}")))?;

    let tensors = map_tensors(&weights_path, &weights, &model_config, &frontend)?;
    let parameters = tensors.iter().map(|(_, _, v)| v.len()).sum();
    let model = LoevModel::from_tensors(&weights_path, &model_config, &tensors, &Device::flex())
        .map_err(ModelFileError::from)?;
    drop(tensors);

    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let mut info = ModelFileInfo::new(frontend, Vec::new(), format!("{FORMAT}:{name}"), None, 0);
    info.source = Some(ModelSource {
        format: FORMAT.to_string(),
        path: dir.display().to_string(),
        weights_license: config.weights_license(),
        provenance: config.provenance(),
        weights_fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
    });
    write_model_file(out, &model, &model_config, &info)?;
    Ok(ImportSummary {
        out: out.to_path_buf(),
        info,
        config: model_config,
        tensors: weights.len(),
        parameters,
    })
}

/// `config.json` with typed accessors whose errors name the key.
struct MuleConfig {
    path: PathBuf,
    map: Map<String, Value>,
}

impl MuleConfig {
    fn parse(path: &Path, text: &str) -> Result<Self, ImportError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ImportError::Config {
            path: path.to_path_buf(),
            key: "(file)".into(),
            reason: format!("is not JSON: {e}"),
        })?;
        let Value::Object(map) = value else {
            return Err(ImportError::Config {
                path: path.to_path_buf(),
                key: "(file)".into(),
                reason: "is not a JSON object: a mule-torch config.json holds one object of MuleConfig's fields".into(),
            });
        };
        let config = Self {
            path: path.to_path_buf(),
            map,
        };
        if let Some(key) = config.map.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
            return Err(config.wrong(
                key,
                "is not a key of mule-torch 0.2's MuleConfig, so loev cannot tell what it changes; \
                 import a folder written by mule-torch's save_pretrained"
                    .into(),
            ));
        }
        Ok(config)
    }

    fn wrong(&self, key: &str, reason: String) -> ImportError {
        ImportError::Config {
            path: self.path.clone(),
            key: key.to_string(),
            reason,
        }
    }

    fn get(&self, key: &str) -> Result<&Value, ImportError> {
        self.map.get(key).ok_or_else(|| {
            self.wrong(
                key,
                "is missing: this is not a mule-torch SF-NFNet-F0 folder (its config.json lists every MuleConfig field)"
                    .into(),
            )
        })
    }

    fn usize(&self, key: &str) -> Result<usize, ImportError> {
        let value = self.get(key)?;
        value
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| self.wrong(key, format!("is {value}, expected a non-negative integer")))
    }

    fn f64(&self, key: &str) -> Result<f64, ImportError> {
        let value = self.get(key)?;
        value
            .as_f64()
            .ok_or_else(|| self.wrong(key, format!("is {value}, expected a number")))
    }

    fn bool(&self, key: &str) -> Result<bool, ImportError> {
        let value = self.get(key)?;
        value
            .as_bool()
            .ok_or_else(|| self.wrong(key, format!("is {value}, expected true or false")))
    }

    fn str(&self, key: &str) -> Result<&str, ImportError> {
        let value = self.get(key)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong(key, format!("is {value}, expected a string")))
    }

    /// A list of four integers (one per stage or stem convolution).
    fn four(&self, key: &str) -> Result<[usize; NUM_STAGES], ImportError> {
        let value = self.get(key)?;
        let numbers: Option<Vec<usize>> = value
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().map(|v| v as usize)).collect())
            .unwrap_or(None);
        numbers
            .and_then(|n| <[usize; NUM_STAGES]>::try_from(n).ok())
            .ok_or_else(|| self.wrong(key, format!("is {value}, expected a list of {NUM_STAGES} integers")))
    }

    /// A list of `[a, b]` pairs.
    fn pairs(&self, key: &str) -> Result<Vec<[usize; 2]>, ImportError> {
        let value = self.get(key)?;
        let pairs: Option<Vec<[usize; 2]>> = value.as_array().and_then(|a| {
            a.iter()
                .map(|p| {
                    let p = p.as_array()?;
                    match p.as_slice() {
                        [x, y] => Some([x.as_u64()? as usize, y.as_u64()? as usize]),
                        _ => None,
                    }
                })
                .collect()
        });
        pairs.ok_or_else(|| self.wrong(key, format!("is {value}, expected a list of [freq, time] pairs")))
    }

    /// `key` must equal loev's fixed `expected` (an architecture constant loev does not vary).
    fn require_pairs(&self, key: &str, expected: &[[usize; 2]], what: &str) -> Result<(), ImportError> {
        let got = self.pairs(key)?;
        if got != expected {
            return Err(self.wrong(
                key,
                format!("is {got:?}, but loev's SF-NFNet-F0 has {what} {expected:?} (MULE's); another architecture cannot be imported"),
            ));
        }
        Ok(())
    }

    fn require_usize(&self, key: &str, expected: usize, what: &str) -> Result<(), ImportError> {
        let got = self.usize(key)?;
        if got != expected {
            return Err(self.wrong(key, format!("is {got}, but {what} is {expected}")));
        }
        Ok(())
    }

    /// The encoder, with the stage depths counted from the tensors.
    fn encoder(&self, depths: [usize; NUM_STAGES]) -> Result<EncoderConfig, ImportError> {
        self.require_pairs("slow_stem_kernels", &SLOW_STEM.map(|(k, _)| k), "slow-stem kernels")?;
        self.require_pairs("slow_stem_strides", &SLOW_STEM.map(|(_, s)| s), "slow-stem strides")?;
        self.require_pairs("fast_stem_kernels", &FAST_STEM.map(|(k, _)| k), "fast-stem kernels")?;
        self.require_pairs("fast_stem_strides", &FAST_STEM.map(|(_, s)| s), "fast-stem strides")?;
        self.require_pairs("block_kernels", &BLOCK_KERNELS, "block kernels")?;
        self.require_usize("fusion_time_kernel", FUSION_KERNEL[1], "loev's fusion time kernel")?;
        self.require_usize("fusion_time_stride", FUSION_STRIDE[1], "loev's fusion time stride")?;
        let activation = self.str("scaled_activation")?;
        if activation != "gelu" {
            return Err(self.wrong(
                "scaled_activation",
                format!("is {activation:?}; loev's SF-NFNet-F0 uses the scaled GELU (MULE's) only"),
            ));
        }
        let eps = self.f64("ws_eps")?;
        if eps != WS_EPS {
            return Err(self.wrong(
                "ws_eps",
                format!("is {eps}; loev's weight standardisation floors N·var at {WS_EPS} (MULE's)"),
            ));
        }
        if !self.bool("weight_standardization")? {
            return Err(self.wrong(
                "weight_standardization",
                "is false (kernels stored already standardised); loev standardises the stored kernels at every \
                 forward pass, so only folders with weight_standardization = true can be imported"
                    .into(),
            ));
        }

        let full = EncoderConfig::full();
        let fusion_channels = self.four("fusion_input_channels")?;
        let fusion_out = self.four("fusion_output_channels")?;
        let mut fusion_expansions = [0; NUM_STAGES];
        for k in 0..NUM_STAGES {
            if fusion_channels[k] == 0 || !fusion_out[k].is_multiple_of(fusion_channels[k]) {
                return Err(self.wrong(
                    "fusion_output_channels",
                    format!(
                        "is {fusion_out:?}: each entry must be a positive multiple of fusion_input_channels {fusion_channels:?} \
                         (loev's fusion expands channels by an integer factor)"
                    ),
                ));
            }
            fusion_expansions[k] = fusion_out[k] / fusion_channels[k];
        }
        let encoder = EncoderConfig {
            slow_stem_channels: self.four("slow_stem_channels")?,
            fast_stem_channels: self.four("fast_stem_channels")?,
            slow_widths: self.four("slow_stage_out")?,
            fast_widths: self.four("fast_stage_out")?,
            depths,
            slow_group_width: self.usize("slow_group_size")?,
            fast_group_width: self.usize("fast_group_size")?,
            fusion_channels,
            fusion_expansions,
            alpha: self.f64("alpha")?,
            ..full
        };
        // The stage inputs are not free: they follow from the stems, widths and fusions.
        let slow_in: [usize; NUM_STAGES] = std::array::from_fn(|k| {
            let previous = if k == 0 {
                encoder.slow_stem_channels[3]
            } else {
                encoder.slow_widths[k - 1]
            };
            previous + encoder.fusion_out_channels(k)
        });
        let fast_in: [usize; NUM_STAGES] = std::array::from_fn(|k| {
            if k == 0 {
                encoder.fast_stem_channels[3]
            } else {
                encoder.fast_widths[k - 1]
            }
        });
        for (key, got, expected) in [
            ("slow_stage_in", self.four("slow_stage_in")?, slow_in),
            ("fast_stage_in", self.four("fast_stage_in")?, fast_in),
        ] {
            if got != expected {
                return Err(self.wrong(
                    key,
                    format!("is {got:?}, but the stems, stage widths and fusions of this config give {expected:?}"),
                ));
            }
        }
        let embedding_dim = self.usize("embedding_dim")?;
        if embedding_dim != encoder.embedding_dim() {
            return Err(self.wrong(
                "embedding_dim",
                format!(
                    "is {embedding_dim}, but the last slow and fast widths give {}",
                    encoder.embedding_dim()
                ),
            ));
        }
        Ok(encoder)
    }

    /// The front end and slicer, refusing what loev's front end cannot reproduce.
    fn frontend(&self) -> Result<FrontEndConfig, ImportError> {
        let sample_rate = self.usize("sample_rate")?;
        if sample_rate != SAMPLE_RATE as usize {
            return Err(self.wrong(
                "sample_rate",
                format!("is {sample_rate} Hz, but loev's front end and audio pipeline work at {SAMPLE_RATE} Hz"),
            ));
        }
        let window = self.str("window")?;
        if window != "hann" {
            return Err(self.wrong(
                "window",
                format!("is {window:?}; loev's front end uses the periodic Hann window only"),
            ));
        }
        if !self.bool("center")? {
            return Err(self.wrong(
                "center",
                "is false; mule-torch and MULE centre the frames (loev's slice timing assumes it)".into(),
            ));
        }
        // mule-torch reflects whatever `pad_mode` says, so another value would not describe
        // what its weights were checked with.
        let pad_mode = self.str("pad_mode")?;
        if pad_mode != "reflect" {
            return Err(self.wrong(
                "pad_mode",
                format!("is {pad_mode:?}; only \"reflect\" (MULE's, and what mule-torch always applies) is imported"),
            ));
        }
        let filter_norm = match self.get("mel_norm")? {
            Value::Null => FilterNorm::None,
            Value::String(s) if s == "slaney" => FilterNorm::Slaney,
            v if v.as_f64() == Some(2.0) => FilterNorm::L2,
            v => {
                return Err(self.wrong(
                    "mel_norm",
                    format!("is {v}; loev's filterbanks are normalised by 2.0 (L2), \"slaney\" or null"),
                ));
            }
        };
        let power = self.f64("power")?;
        if power != 1.0 && power != 2.0 {
            return Err(self.wrong("power", format!("is {power}; mule-torch computes power 1 or 2 only")));
        }
        let compression = match self.get("mag_compression")? {
            Value::String(s) if s == "log10_nonneg" => Compression::Log10Nonneg { scale: 10_000.0 },
            Value::String(s) if s == "linear" => Compression::Linear,
            Value::Null => Compression::Linear,
            v => {
                return Err(self.wrong(
                    "mag_compression",
                    format!("is {v}; loev reproduces \"log10_nonneg\" (log10(10000·x + 1)) and \"linear\""),
                ));
            }
        };
        let hop_length = self.usize("hop_length")?;
        let look_backward = self.usize("look_backward")?;
        let frames = look_backward + self.usize("look_forward")?;
        if look_backward != frames / 2 {
            return Err(self.wrong(
                "look_backward",
                format!(
                    "is {look_backward} of a {frames}-frame slice; loev's slicer centres slices with {} frames before the centre",
                    frames / 2
                ),
            ));
        }
        // The model file does not carry a slice hop: `loev embed` hops 2 s unless told.
        let slice_hop = self.usize("slice_hop")?;
        if slice_hop * hop_length != 2 * SAMPLE_RATE as usize {
            return Err(self.wrong(
                "slice_hop",
                format!(
                    "is {slice_hop} frames ({} s); loev embeds with MULE's 2 s hop between slices",
                    (slice_hop * hop_length) as f64 / SAMPLE_RATE as f64
                ),
            ));
        }
        let cfg = FrontEndConfig {
            sample_rate: SAMPLE_RATE,
            n_fft: self.usize("n_fft")?,
            win_length: self.usize("win_length")?,
            hop_length,
            center: true,
            pad_mode: PadMode::Reflect,
            n_mels: self.usize("n_mels")?,
            fmin: self.f64("fmin")?,
            fmax: self.f64("fmax")?,
            mel_scale: if self.bool("htk")? {
                MelScale::Htk
            } else {
                MelScale::Slaney
            },
            filter_norm,
            power,
            compression,
            frames,
            standardize: self.bool("standard_normalize")?,
            std_floor: self.f64("std_floor")?,
        };
        FrontEnd::new(cfg.clone()).map_err(|e| self.wrong("n_fft", format!("gives no usable front end: {e}")))?;
        Ok(cfg)
    }

    fn provenance(&self) -> Value {
        self.map.get("provenance").cloned().unwrap_or(Value::Null)
    }

    fn weights_license(&self) -> String {
        self.map
            .get("provenance")
            .and_then(|p| p.get("weights_license"))
            .and_then(Value::as_str)
            .map_or_else(|| "not stated by the folder".to_string(), str::to_string)
    }
}

/// Blocks per stage, counted from the tensor names (mule-torch does not write its depths into
/// `config.json`); both paths must agree.
fn stage_depths(path: &Path, names: &[&str]) -> Result<[usize; NUM_STAGES], ImportError> {
    let mut blocks: BTreeMap<(&str, usize), BTreeSet<usize>> = BTreeMap::new();
    for name in names {
        let parts: Vec<&str> = name.split('.').collect();
        if let [
            "backbone",
            stages @ ("slow_stages" | "fast_stages"),
            stage,
            "blocks",
            block,
            ..,
        ] = parts.as_slice()
            && let (Ok(stage), Ok(block)) = (stage.parse::<usize>(), block.parse::<usize>())
        {
            blocks.entry((*stages, stage)).or_default().insert(block);
        }
    }
    let depth = |stages: &str, stage: usize| blocks.get(&(stages, stage)).map_or(0, BTreeSet::len);
    let depths: [usize; NUM_STAGES] = std::array::from_fn(|k| depth("slow_stages", k));
    for (k, &slow) in depths.iter().enumerate() {
        let fast = depth("fast_stages", k);
        if slow == 0 || slow != fast {
            return Err(ImportError::Tensor {
                path: path.to_path_buf(),
                tensor: format!("backbone.slow_stages.{k}.blocks.*"),
                reason: format!(
                    "stage {k} has {slow} slow and {fast} fast blocks; an SF-NFNet-F0 has the same positive depth on both paths \
                     (is this a mule-torch folder?)"
                ),
            });
        }
    }
    Ok(depths)
}

/// The mule-torch name of loev parameter `loev` (the inverse of [`loev_name`]).
pub fn mule_torch_name(loev: &str) -> String {
    let parts: Vec<&str> = loev.split('.').collect();
    let mut out: Vec<&str> = Vec::with_capacity(parts.len() + 1);
    for (i, &part) in parts.iter().enumerate() {
        let before = |k: usize| if i >= k { parts[i - k] } else { "" };
        let renamed: &[&str] = match (before(2), before(1), part) {
            (_, "", "encoder") => &["backbone"],
            ("fusions", _, "temporal") => &["conv1"],
            ("fusions", _, "expand") => &["conv2"],
            ("blocks", _, "conv0") => &["convs", "0"],
            ("blocks", _, "conv1") => &["convs", "1"],
            ("blocks", _, "conv1b") => &["convs", "2"],
            ("blocks", _, "conv2") => &["convs", "3"],
            ("blocks", _, "shortcut") => &["skip_conv"],
            (_, "se", "squeeze") => &["fc1"],
            (_, "se", "excite") => &["fc2"],
            _ => &[],
        };
        if renamed.is_empty() {
            out.push(part);
        } else {
            out.extend_from_slice(renamed);
        }
    }
    out.join(".")
}

/// The loev parameter of mule-torch tensor `name`, and whether its layout is transposed
/// (PyTorch `Linear` weights `[out, in]` against loev's `Dense` `[in, out]`); `None` for a name
/// outside the backbone.
pub fn loev_name(name: &str) -> Option<(String, bool)> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.first() != Some(&"backbone") {
        return None;
    }
    let mut out: Vec<&str> = vec!["encoder"];
    let mut transposed = false;
    let mut i = 1;
    while i < parts.len() {
        let part = parts[i];
        let previous = if i >= 2 { parts[i - 2] } else { "" };
        match (previous, part) {
            ("fusions", "conv1") => out.push("temporal"),
            ("fusions", "conv2") => out.push("expand"),
            ("blocks", "convs") => {
                let renamed = match parts.get(i + 1).copied() {
                    Some("0") => "conv0",
                    Some("1") => "conv1",
                    Some("2") => "conv1b",
                    Some("3") => "conv2",
                    _ => return None,
                };
                out.push(renamed);
                i += 1;
            }
            ("blocks", "skip_conv") => out.push("shortcut"),
            ("blocks", "se") => {
                out.push("se");
                let layer = match parts.get(i + 1).copied() {
                    Some("fc1") => "squeeze",
                    Some("fc2") => "excite",
                    _ => return None,
                };
                out.push(layer);
                transposed = parts.get(i + 2) == Some(&"weight");
                i += 1;
            }
            _ => out.push(part),
        }
        i += 1;
    }
    Some((out.join("."), transposed))
}

/// Every backbone tensor of the folder under its loev name, each shape checked against a model
/// of `config`; the filterbank checked against loev's for `frontend`.
/// Tensors as `(loev module path, shape, values)`, what [`LoevModel::from_tensors`] takes.
type NamedTensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn map_tensors(
    path: &Path,
    weights: &SafeTensors<'_>,
    config: &LoevModelConfig,
    frontend: &FrontEndConfig,
) -> Result<NamedTensors, ImportError> {
    let bad = |tensor: &str, reason: String| ImportError::Tensor {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        reason,
    };
    let expected: BTreeMap<String, Vec<usize>> = parameter_shapes(config)
        .map_err(ModelFileError::from)?
        .into_iter()
        .collect();
    let mut names = weights.names();
    names.sort_unstable();
    let mut tensors = Vec::with_capacity(expected.len());
    let mut seen_filterbank = false;
    for name in names {
        if name.starts_with(STFT_PREFIX) {
            continue;
        }
        let view = weights.tensor(name).map_err(|e| bad(name, e.to_string()))?;
        if view.dtype() != Dtype::F32 {
            return Err(bad(
                name,
                format!(
                    "is {:?}; mule-torch saves float32 weights (convert the folder back to float32)",
                    view.dtype()
                ),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if name == MEL_FB {
            check_filterbank(name, view.shape(), &values, frontend).map_err(|reason| bad(name, reason))?;
            seen_filterbank = true;
            continue;
        }
        let Some((target, transposed)) = loev_name(name) else {
            return Err(bad(
                name,
                "is not part of MULE's SF-NFNet-F0 backbone or front end (an extra tensor: is this a mule-torch MULE folder?)"
                    .into(),
            ));
        };
        let Some(shape) = expected.get(&target) else {
            return Err(bad(
                name,
                format!("has no counterpart `{target}` in loev's SF-NFNet-F0 for this config (an extra tensor)"),
            ));
        };
        let stored: Vec<usize> = if transposed {
            shape.iter().rev().copied().collect()
        } else {
            shape.clone()
        };
        if view.shape() != stored.as_slice() {
            return Err(bad(
                name,
                format!(
                    "has shape {:?}, but the config's architecture needs {stored:?} (PyTorch layout)",
                    view.shape()
                ),
            ));
        }
        let values = if transposed {
            transpose(&values, stored[0], stored[1])
        } else {
            values
        };
        tensors.push((target, shape.clone(), values));
    }
    if !seen_filterbank {
        return Err(bad(
            MEL_FB,
            "is missing: mule-torch stores its mel filterbank with the weights, and loev checks it against its own"
                .into(),
        ));
    }
    let given: BTreeSet<&str> = tensors.iter().map(|(n, _, _)| n.as_str()).collect();
    if let Some((missing, shape)) = expected.iter().find(|(n, _)| !given.contains(n.as_str())) {
        return Err(bad(
            &mule_torch_name(missing),
            format!("(shape {shape:?}, loev's `{missing}`) is missing from the folder"),
        ));
    }
    Ok(tensors)
}

/// `[rows, cols]` → `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// The stored filterbank `[n_mels, n_fft / 2 + 1]` must be loev's for `frontend`.
fn check_filterbank(name: &str, shape: &[usize], values: &[f32], frontend: &FrontEndConfig) -> Result<(), String> {
    let n_bins = frontend.n_fft / 2 + 1;
    if shape != [frontend.n_mels, n_bins] {
        return Err(format!(
            "has shape {shape:?}, but the config's front end has {} mels × {n_bins} FFT bins",
            frontend.n_mels
        ));
    }
    let ours = FrontEnd::new(frontend.clone()).map_err(|e| e.to_string())?.filterbank();
    let scale = ours.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let (worst, at) =
        values
            .iter()
            .zip(&ours)
            .map(|(a, b)| (a - b).abs())
            .enumerate()
            .fold(
                (0.0f32, 0),
                |(w, at), (i, d)| if d > w || d.is_nan() { (d, i) } else { (w, at) },
            );
    if worst.is_nan() || worst > MEL_FB_TOLERANCE * scale {
        return Err(format!(
            "differs from loev's filterbank for this front end by {worst:e} at mel {} bin {} (tolerance {:e}): \
             `{name}` was built with other settings than config.json states",
            at / n_bins,
            at % n_bins,
            MEL_FB_TOLERANCE * scale
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways_for_every_parameter_of_the_full_encoder() {
        let config = LoevModelConfig::encoder_only(EncoderConfig::full());
        let shapes = parameter_shapes(&config).unwrap();
        assert_eq!(
            shapes.iter().map(|(_, s)| s.iter().product::<usize>()).sum::<usize>(),
            62_345_742
        );
        for (name, _) in &shapes {
            let mule = mule_torch_name(name);
            assert!(mule.starts_with("backbone."), "{name} → {mule}");
            let (back, transposed) = loev_name(&mule).unwrap_or_else(|| panic!("{mule} does not map back"));
            assert_eq!(&back, name);
            assert_eq!(transposed, name.contains(".se.") && name.ends_with(".weight"), "{name}");
        }
        assert_eq!(
            mule_torch_name("encoder.slow_stages.2.blocks.0.conv1b.weight"),
            "backbone.slow_stages.2.blocks.0.convs.2.weight"
        );
        assert_eq!(
            mule_torch_name("encoder.fast_stages.0.blocks.0.se.squeeze.bias"),
            "backbone.fast_stages.0.blocks.0.se.fc1.bias"
        );
        assert_eq!(
            mule_torch_name("encoder.fusions.3.temporal.gain"),
            "backbone.fusions.3.conv1.gain"
        );
        assert_eq!(loev_name("frontend.mel_fb"), None);
        assert_eq!(loev_name("backbone.slow_stages.0.blocks.0.convs.9.weight"), None);
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
