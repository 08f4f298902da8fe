//! `loev._loev`: the Rust side of the `loev` Python package (the package itself is in `python/`).
//!
//! * [`Model`]: a self-describing model file (see `docs/formats.md`), embedding audio into
//!   every space of the model: timestamps, timeline `[T × D]` and mean `[D]` per space.
//! * [`Augmenter`]: the tracked augmentation chain: views of a clip (log-mel model inputs or
//!   waveforms), the tracking matrix and every view's parameters, equal to `loev augment` for
//!   the same seed.
//! * [`import_mule_torch`]: published MULE weights (a mule-torch folder) into a model file.
//! * [`positive_masks`]: the positive sets of the LOEV loss for a batch, from
//!   `loev_objective::positive_masks` (the loss's own rule), for the heads training builds
//!   (`loev_objective::heads`) when a configuration is given.
//!
//! Arrays come in and go out as numpy arrays; compute runs with the GIL released, so Python
//! threads (and PyTorch `DataLoader` workers in threads) run alongside. Every error becomes a
//! `loev.LoevError` carrying loev's message (file, key, reason); nothing panics across the
//! boundary.

use std::path::Path;
use std::sync::Mutex;

use loev_audio::chunks::CropProbabilities;
use loev_audio::frontend::{FrontEnd, FrontEndConfig};
use loev_augment::views::{clip_view_inputs, clip_views};
use loev_augment::{AugmentChain, StretchMethod, ViewRecord};
use loev_core::SAMPLE_RATE;
use loev_core::rng::derive_seed;
use loev_eval::embed::{EmbedOptions, Embedder, TrackEmbedding};
use loev_objective::{ObjectiveKind, Recipe, ViewLabels};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

create_exception!(
    _loev,
    LoevError,
    PyException,
    "An error of loev: the message names the file, key or value at fault and what to do."
);

fn loev_error(error: impl std::fmt::Display) -> PyErr {
    LoevError::new_err(error.to_string())
}

/// The clip at 16 kHz: resampled when `sample_rate` differs. The rules are the command line's:
/// the rate must be one loev reads from files ([`loev_audio::decode::check_sample_rate`]), and
/// audio with NaN or infinite samples is refused with their count
/// ([`loev_audio::decode::check_finite`], the decoder's rule for files).
fn at_loev_rate(audio: &[f32], sample_rate: i64) -> PyResult<Vec<f32>> {
    let sample_rate = loev_audio::decode::check_sample_rate("sample_rate", sample_rate).map_err(loev_error)?;
    if audio.is_empty() {
        return Err(loev_error("the audio holds no samples"));
    }
    loev_audio::decode::check_finite(audio, Path::new("")).map_err(loev_error)?;
    if sample_rate == SAMPLE_RATE {
        return Ok(audio.to_vec());
    }
    let resampled = audio.len() as u128 * u128::from(SAMPLE_RATE) / u128::from(sample_rate);
    loev_core::limits::check_memory(
        format_args!("{} samples at sample_rate = {sample_rate} Hz", audio.len()),
        "the audio resampled to 16 kHz",
        loev_core::limits::bytes_of(&[resampled, 4]),
    )
    .map_err(loev_error)?;
    loev_audio::resample::resample(audio, sample_rate, SAMPLE_RATE).map_err(loev_error)
}

/// A count given from Python: at least `min`, as a `usize` (a negative number is a loev error
/// naming the parameter, not an `OverflowError`).
fn count(what: &str, value: i64, min: i64) -> PyResult<usize> {
    if value < min {
        return Err(loev_error(format!("{what} must be at least {min}, got {value}")));
    }
    usize::try_from(value).map_err(|_| loev_error(format!("{what} = {value} is too large")))
}

/// A model loaded from a model file.
#[pyclass(frozen, module = "loev._loev")]
struct Model {
    embedder: Mutex<Embedder>,
    spaces: Vec<(String, usize)>,
    info_json: String,
}

#[pymethods]
impl Model {
    /// Loads a model file (`loev export` writes one; every checkpoint is one). `device`:
    /// `cpu`, or a GPU (`cuda:0`, `vulkan:0`) when the wheel was built with one. `hop_seconds`:
    /// the hop between the 3 s slices of the timeline (MULE: 2 s).
    #[new]
    #[pyo3(signature = (path, device = "cpu", batch_size = 16, hop_seconds = 2.0))]
    fn new(py: Python<'_>, path: &str, device: &str, batch_size: i64, hop_seconds: f64) -> PyResult<Self> {
        let batch_size = count("batch_size", batch_size, 1)?;
        let path = Path::new(path).to_path_buf();
        let device = device.to_string();
        py.detach(move || {
            let (_, device) = loev_model::open_device(&device, false).map_err(loev_error)?;
            let options = EmbedOptions {
                batch_size,
                hop_seconds,
            };
            let loaded = loev_artifacts::model_file::load_model_file(&path, &device).map_err(loev_error)?;
            let info = loaded.info.clone();
            let embedder = Embedder::from_loaded(loaded, device, options).map_err(loev_error)?;
            let spaces = embedder.spaces().iter().map(|s| (s.name.clone(), s.dim)).collect();
            Ok(Self {
                embedder: Mutex::new(embedder),
                spaces,
                info_json: match info {
                    Some(info) => serde_json::to_string(&info).map_err(loev_error)?,
                    None => "{}".to_string(),
                },
            })
        })
    }

    /// The embedding spaces as `(name, dimension)`, in output order (`v` first).
    #[getter]
    fn spaces(&self) -> Vec<(String, usize)> {
        self.spaces.clone()
    }

    /// The sample rate the model works at (audio of other rates is resampled).
    #[getter]
    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    /// The model file's `loev.model_file` entry as JSON (front end, input shape, heads and
    /// their objectives, run, preset, step); `{}` for an older checkpoint.
    #[getter]
    fn info(&self) -> String {
        self.info_json.clone()
    }

    /// Embeds one mono clip (1-D float32) at `sample_rate`: a dict from space name to a dict
    /// with `timestamps` (seconds, `[T]`), `timeline` (`[T × D]`) and `mean` (`[D]`).
    fn embed<'py>(
        &self,
        py: Python<'py>,
        audio: PyReadonlyArray1<'py, f32>,
        sample_rate: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let audio = audio.as_slice().map_err(loev_error)?.to_vec();
        let track = py.detach(|| -> PyResult<TrackEmbedding> {
            let audio = at_loev_rate(&audio, sample_rate)?;
            let embedder = self
                .embedder
                .lock()
                .map_err(|_| loev_error("the model is unusable after an earlier failure"))?;
            Ok(embedder.embed_audio(&audio).map_err(loev_error)?.0)
        })?;
        let out = PyDict::new(py);
        for space in track.spaces {
            let entry = PyDict::new(py);
            let rows = space.len();
            entry.set_item("timestamps", track.timestamps.clone().into_pyarray(py))?;
            let timeline = space.timeline.into_pyarray(py).reshape([rows, space.dim])?;
            entry.set_item("timeline", timeline)?;
            entry.set_item("mean", space.mean.into_pyarray(py))?;
            out.set_item(space.name, entry)?;
        }
        Ok(out)
    }
}

/// What [`Augmenter::views`] returns: the views, the tracking matrix and the drawn parameters.
type Views<'py> = (Bound<'py, PyAny>, Bound<'py, PyArray2<u8>>, Bound<'py, PyList>);

/// The tracked augmentation chain for one seed.
#[pyclass(frozen, module = "loev._loev")]
struct Augmenter {
    chain: AugmentChain,
    frontend: FrontEnd,
    seed: u64,
}

#[pymethods]
impl Augmenter {
    /// `config`: `default` (the seed paper's Table IV), a preset name, a TOML file or TOML text.
    /// Views are `frames · hop_length` samples of MULE's front end (3 s). `method` (`spectral`
    /// or `exact`) overrides the chain's `[stretcher] method`, which log-mel views follow.
    #[new]
    #[pyo3(signature = (config = "default", seed = 0, method = None))]
    fn new(config: &str, seed: u64, method: Option<&str>) -> PyResult<Self> {
        let mut chain_config = Recipe::parse(config).map_err(loev_error)?.chain;
        if let Some(method) = method {
            chain_config.stretcher.method = method.parse::<StretchMethod>().map_err(loev_error)?;
        }
        let chain = AugmentChain::new(chain_config).map_err(loev_error)?;
        let frontend = FrontEnd::new(FrontEndConfig::default()).map_err(loev_error)?;
        Ok(Self { chain, frontend, seed })
    }

    /// The variant transforms: the columns of the tracking matrix.
    #[getter]
    fn variant_names(&self) -> Vec<String> {
        self.chain.variant_names().to_vec()
    }

    /// How log-mel views render pitch shift and time stretch: `spectral` (read from the STFT,
    /// as the trainer does by default) or `exact` (a Signalsmith waveform, then the front end).
    #[getter]
    fn method(&self) -> String {
        self.chain.method().to_string()
    }

    /// Samples per view.
    #[getter]
    fn view_samples(&self) -> usize {
        self.frontend.view_samples()
    }

    /// `n_views` views of the mono clip `audio` (1-D float32 at `sample_rate`).
    ///
    /// Returns `(views, tracking, params)`: `views` is `[n × mels × frames]` log-mel model
    /// inputs, or `[n × samples]` waveforms when `waveforms`; `tracking` is `[n × K]` uint8
    /// (`t_ik = 1` iff variant `k` was applied to view `i`); `params` is one dict per view:
    /// transform name → dict of its drawn parameters (absent when not applied), plus `crop`.
    /// `item` picks the clip's random stream: `None` uses the seed itself (what `loev augment
    /// --seed` does), an integer (a dataset index, an epoch-mixed index) a stream derived from
    /// the seed and it. Same seed and item, same views, in any thread.
    #[pyo3(signature = (audio, sample_rate, n_views, item = None, waveforms = false))]
    fn views<'py>(
        &self,
        py: Python<'py>,
        audio: PyReadonlyArray1<'py, f32>,
        sample_rate: i64,
        n_views: i64,
        item: Option<u64>,
        waveforms: bool,
    ) -> PyResult<Views<'py>> {
        let n_views = count("n_views", n_views, 1)?;
        let per_view = self.frontend.view_samples().max(self.frontend.input_len());
        loev_core::limits::check_memory(
            format_args!("n_views = {n_views}"),
            "the views' waveforms and log-mel inputs",
            loev_core::limits::bytes_of(&[n_views as u128, per_view as u128, 4, 2]),
        )
        .map_err(loev_error)?;
        let audio = audio.as_slice().map_err(loev_error)?.to_vec();
        let seed = item.map_or(self.seed, |i| derive_seed(self.seed, &[i]));
        let view_len = self.frontend.view_samples();
        let (data, records) = py.detach(|| -> PyResult<(Vec<f32>, Vec<ViewRecord>)> {
            let audio = at_loev_rate(&audio, sample_rate)?;
            let crops = CropProbabilities::default();
            if waveforms {
                let views = clip_views(&self.chain, &audio, seed, n_views, view_len, &crops, false);
                Ok((views.waves.concat(), views.records))
            } else {
                // The chain's method, through the trainer's own rendering.
                Ok(clip_view_inputs(
                    &self.chain,
                    &self.frontend,
                    &audio,
                    seed,
                    n_views,
                    &crops,
                ))
            }
        })?;
        let config = self.frontend.config();
        let views = if waveforms {
            data.into_pyarray(py).reshape([n_views, view_len])?.into_any()
        } else {
            data.into_pyarray(py)
                .reshape([n_views, config.n_mels, config.frames])?
                .into_any()
        };
        let variant = self.chain.variant_names();
        let tracking: Vec<u8> = records.iter().flat_map(|r| r.tracking(variant)).collect();
        let tracking = tracking.into_pyarray(py).reshape([n_views, variant.len()])?;
        let params = PyList::empty(py);
        for record in &records {
            let view = PyDict::new(py);
            for t in record.transforms.iter().filter(|t| t.applied) {
                let drawn = PyDict::new(py);
                for (key, value) in &t.params {
                    drawn.set_item(key, value)?;
                }
                if let Some(choice) = &t.choice {
                    drawn.set_item("choice", choice)?;
                }
                view.set_item(&t.name, drawn)?;
            }
            if let Some(crop) = &record.crop {
                let c = PyDict::new(py);
                c.set_item("strategy", &crop.strategy)?;
                c.set_item("start", crop.start)?;
                c.set_item("len", crop.len)?;
                view.set_item("crop", c)?;
            }
            params.append(view)?;
        }
        Ok((views, tracking, params))
    }
}

/// The positive sets of the loss for a batch: `[H × n × n]` booleans, `masks[h, i, j]` true
/// iff view `j` is a positive of anchor `i` in head `h`. With `config` (what [`Augmenter`]
/// takes), the heads are the ones training builds for that chain and objective
/// (`loev_objective::Recipe::heads`; a tracked transform with p = 0 has no head) and `tracking`
/// has one column per tracked transform. Without it, every column is a transform in use: head 0
/// is invariant and head `k ≥ 1` leaves out column `k − 1`.
#[pyfunction]
#[pyo3(signature = (clip_ids, tracking, config = None))]
fn positive_masks<'py>(
    py: Python<'py>,
    clip_ids: PyReadonlyArray1<'py, i64>,
    tracking: PyReadonlyArray2<'py, u8>,
    config: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = clip_ids.len();
    let shape = tracking.shape();
    if shape[0] != n {
        return Err(loev_error(format!(
            "tracking has {} rows but clip_ids has {n} views: one row per view",
            shape[0]
        )));
    }
    let n_variants = shape[1];
    loev_core::limits::check_memory(
        format_args!("{n} views with {n_variants} variants"),
        "one boolean per head and pair of views",
        loev_core::limits::bytes_of(&[n_variants as u128 + 1, n as u128, n as u128]),
    )
    .map_err(loev_error)?;
    let heads = match config {
        Some(config) => {
            let recipe = Recipe::parse(config).map_err(loev_error)?;
            if recipe.chain.variant.len() != n_variants {
                return Err(loev_error(format!(
                    "tracking has {n_variants} columns but the configuration tracks {} ({}): one column per tracked transform",
                    recipe.chain.variant.len(),
                    recipe.chain.variant.join(", ")
                )));
            }
            recipe.heads()
        }
        None => {
            let columns: Vec<String> = (0..n_variants).map(|k| format!("column {k}")).collect();
            loev_objective::heads::heads(ObjectiveKind::Loev, false, &columns, |_| true)
        }
    };
    let clip_ids = clip_ids
        .as_slice()
        .map_err(loev_error)?
        .iter()
        .map(|&c| u32::try_from(c).map_err(|_| loev_error(format!("clip id {c} is not in 0…{}", u32::MAX))))
        .collect::<PyResult<Vec<u32>>>()?;
    let labels = ViewLabels {
        clip_ids,
        tracking: tracking.as_array().iter().copied().collect(),
        n_variants,
    };
    let masks = loev_objective::positive_masks(&labels, heads.objectives()).map_err(loev_error)?;
    Ok(masks.into_pyarray(py).reshape([heads.len(), n, n])?.into_any())
}

/// Converts the mule-torch folder `dir` (model.safetensors + config.json, e.g. the published
/// MULE weights) into the loev model file `out`; returns the file's `loev.model_file` entry as
/// JSON (front end, source and the weights' licence). The same import as `loev import
/// mule-torch`.
#[pyfunction]
fn import_mule_torch(py: Python<'_>, dir: &str, out: &str) -> PyResult<String> {
    let (dir, out) = (Path::new(dir).to_path_buf(), Path::new(out).to_path_buf());
    py.detach(move || {
        let summary = loev_artifacts::mule_torch::import_mule_torch(&dir, &out).map_err(loev_error)?;
        serde_json::to_string(&summary.info).map_err(loev_error)
    })
}

/// The audio file at `path` as 16 kHz mono float32 samples, decoded by the command line's one
/// decoder (`loev_audio::decode::load_mono`): wav (also with the placeholder sizes streaming
/// writers leave), flac, mp3, ogg; a file with NaN or infinite samples is refused with their
/// count, as `loev features` refuses it.
#[pyfunction]
fn load_audio<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let path = Path::new(path).to_path_buf();
    let samples = py.detach(move || loev_audio::decode::load_mono(&path).map_err(loev_error))?;
    Ok(samples.into_pyarray(py))
}

/// The `loev._loev` extension module.
#[pymodule]
fn _loev(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LoevError", m.py().get_type::<LoevError>())?;
    m.add_class::<Model>()?;
    m.add_class::<Augmenter>()?;
    m.add_function(wrap_pyfunction!(positive_masks, m)?)?;
    m.add_function(wrap_pyfunction!(import_mule_torch, m)?)?;
    m.add_function(wrap_pyfunction!(load_audio, m)?)?;
    m.add("SAMPLE_RATE", SAMPLE_RATE)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
