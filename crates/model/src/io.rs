//! Saving and loading weights as safetensors, with the model configuration in the header.
//!
//! Tensor names are the module paths (`encoder.slow_stages.2.blocks.0.conv1.weight`); values are
//! little-endian f32. The header metadata holds `loev.format` and `loev.config` (the
//! [`LoevModelConfig`] as JSON); callers may add entries of their own (the model file of
//! loev-artifacts adds the front end and the training facts), which [`LoevModel::load_with_metadata`]
//! hands back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::LoevModelConfig;
use crate::error::ModelError;
use crate::model::LoevModel;

/// Value of the `loev.format` header entry.
const FORMAT: &str = "loev-model/1";
const FORMAT_KEY: &str = "loev.format";
const CONFIG_KEY: &str = "loev.config";

impl LoevModel {
    /// Writes the weights and `config` to `path` (safetensors, atomic write).
    pub fn save(&self, config: &LoevModelConfig, path: &Path) -> Result<(), ModelError> {
        self.save_with_metadata(config, &BTreeMap::new(), path)
    }

    /// [`LoevModel::save`] with extra header entries; a key of the model's own (`loev.format`,
    /// `loev.config`) is refused.
    pub fn save_with_metadata(
        &self,
        config: &LoevModelConfig,
        extra: &BTreeMap<String, String>,
        path: &Path,
    ) -> Result<(), ModelError> {
        if let Some(key) = extra.keys().find(|k| *k == FORMAT_KEY || *k == CONFIG_KEY) {
            return Err(ModelError::Format {
                path: path.to_path_buf(),
                reason: format!("header entry `{key}` is the model's own and cannot be set by the caller"),
            });
        }
        let mut collector = Collector::default();
        self.visit(&mut collector);
        if let Some(reason) = collector.error {
            return Err(ModelError::Format {
                path: path.to_path_buf(),
                reason,
            });
        }
        let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = collector
            .tensors
            .into_iter()
            .map(|(name, shape, values)| (name, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
            .collect();
        let views: Vec<(String, TensorView<'_>)> = encoded
            .iter()
            .map(|(name, shape, bytes)| {
                let view = TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| ModelError::Format {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
                Ok((name.clone(), view))
            })
            .collect::<Result<_, ModelError>>()?;
        let config_json = serde_json::to_string(config).map_err(|e| ModelError::Format {
            path: path.to_path_buf(),
            reason: format!("config: {e}"),
        })?;
        let mut metadata = HashMap::from([
            (FORMAT_KEY.to_string(), FORMAT.to_string()),
            (CONFIG_KEY.to_string(), config_json),
        ]);
        metadata.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| ModelError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        canonicalise_header(&mut bytes);
        loev_core::io::atomic_write(path, &bytes).map_err(|source| ModelError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Every parameter as `(module path, f32 values)` in visit order, read back to the host (the
    /// names are those of the safetensors file; for comparing models across devices).
    pub fn named_weights(&self) -> Result<Vec<(String, Vec<f32>)>, ModelError> {
        let mut collector = Collector::default();
        self.visit(&mut collector);
        match collector.error {
            Some(reason) => Err(ModelError::InvalidConfig(reason)),
            None => Ok(collector
                .tensors
                .into_iter()
                .map(|(name, _, values)| (name, values))
                .collect()),
        }
    }

    /// Reads a model and its configuration from a file written by [`LoevModel::save`].
    pub fn load(path: &Path, device: &Device) -> Result<(Self, LoevModelConfig), ModelError> {
        let (model, config, _) = Self::load_with_metadata(path, device)?;
        Ok((model, config))
    }

    /// [`LoevModel::load`], plus every header entry other than the model's own.
    pub fn load_with_metadata(
        path: &Path,
        device: &Device,
    ) -> Result<(Self, LoevModelConfig, BTreeMap<String, String>), ModelError> {
        Self::load_with_metadata_bytes(path, &read(path)?, device)
    }

    /// [`LoevModel::load_with_metadata`] from the bytes of a file read earlier (`path` names
    /// them in errors): for a file that may vanish once read, such as a checkpoint that the
    /// training run's rotation removes.
    pub fn load_with_metadata_bytes(
        path: &Path,
        bytes: &[u8],
        device: &Device,
    ) -> Result<(Self, LoevModelConfig, BTreeMap<String, String>), ModelError> {
        check_complete(path, bytes)?;
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| ModelError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let (config, extra) = parse_metadata(path, metadata.metadata().as_ref())?;
        let model = Self::load_bytes(path, bytes, &config, device)?;
        Ok((model, config, extra))
    }

    /// Reads the weights of `path` into a model built from `config`; a tensor that is missing,
    /// extra, or of another shape is an error naming it and both shapes.
    pub fn load_into(path: &Path, config: &LoevModelConfig, device: &Device) -> Result<Self, ModelError> {
        let bytes = read(path)?;
        Self::load_bytes(path, &bytes, config, device)
    }

    /// [`LoevModel::load_into`] from the bytes of a file read earlier (see
    /// [`LoevModel::load_with_metadata_bytes`]).
    pub fn load_into_bytes(
        path: &Path,
        bytes: &[u8],
        config: &LoevModelConfig,
        device: &Device,
    ) -> Result<Self, ModelError> {
        check_complete(path, bytes)?;
        Self::load_bytes(path, bytes, config, device)
    }

    /// A model built from `config` with the given weights `(module path, shape, values)`, e.g.
    /// weights converted from another implementation; `source` names where they came from in
    /// errors. A tensor missing, extra or of another shape is an error naming it, as in
    /// [`LoevModel::load_into`].
    pub fn from_tensors(
        source: &Path,
        config: &LoevModelConfig,
        tensors: &[(String, Vec<usize>, Vec<f32>)],
        device: &Device,
    ) -> Result<Self, ModelError> {
        let format_error = |reason: String| ModelError::Format {
            path: source.to_path_buf(),
            reason,
        };
        let encoded: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .zip(&encoded)
            .map(|((name, shape, _), bytes)| {
                let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map_err(|e| format_error(format!("tensor `{name}`: {e}")))?;
                Ok((name.clone(), view))
            })
            .collect::<Result<_, ModelError>>()?;
        let bytes = safetensors::serialize(views, None).map_err(|e| format_error(e.to_string()))?;
        Self::load_bytes(source, &bytes, config, device)
    }

    fn load_bytes(path: &Path, bytes: &[u8], config: &LoevModelConfig, device: &Device) -> Result<Self, ModelError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let model = Self::placeholder(config, device)?;
        let mut loader = Loader {
            file: &file,
            device: device.clone(),
            path: Vec::new(),
            used: HashSet::new(),
            error: None,
        };
        let model = model.map(&mut loader);
        let mismatch = |reason: String| ModelError::Mismatch {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(reason) = loader.error {
            return Err(mismatch(reason));
        }
        let mut extra: Vec<&str> = file.names().into_iter().filter(|n| !loader.used.contains(*n)).collect();
        extra.sort_unstable();
        if let Some(name) = extra.first() {
            return Err(mismatch(format!(
                "the file has {} tensor(s) the configuration does not, first `{name}` (e.g. heads, plusplus or depths differ)",
                extra.len()
            )));
        }
        Ok(model)
    }
}

/// Every parameter of a model of `config` as `(module path, shape)`, in visit order: the
/// names and shapes a weight file for it must hold.
pub fn parameter_shapes(config: &LoevModelConfig) -> Result<Vec<(String, Vec<usize>)>, ModelError> {
    let model = LoevModel::placeholder(config, &Device::flex())?;
    let mut shapes = ShapeCollector::default();
    model.visit(&mut shapes);
    Ok(shapes.shapes)
}

/// Collects `(name, shape)` of every parameter without reading its values.
#[derive(Default)]
struct ShapeCollector {
    path: Vec<String>,
    shapes: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for ShapeCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.shapes.push((self.path.join("."), param.dims().to_vec()));
    }
}

/// The configuration stored in a model file, without loading the weights.
pub fn read_config(path: &Path) -> Result<LoevModelConfig, ModelError> {
    Ok(parse_metadata(path, read_header_metadata(path)?.as_ref())?.0)
}

/// The header entries of a model file other than the model's own (`loev.format`,
/// `loev.config`), without loading the weights.
pub fn read_extra_metadata(path: &Path) -> Result<BTreeMap<String, String>, ModelError> {
    Ok(parse_metadata(path, read_header_metadata(path)?.as_ref())?.1)
}

/// The `__metadata__` of a safetensors file, reading only its header (a full-size model file is
/// 250 MB).
fn read_header_metadata(path: &Path) -> Result<Option<HashMap<String, String>>, ModelError> {
    use std::io::Read;
    let format_error = |reason: String| ModelError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let io_error = |source| ModelError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    (&mut file).take(8).read_to_end(&mut bytes).map_err(io_error)?;
    let Some(first) = bytes.get(..8) else {
        return check_complete(path, &bytes).map(|()| None);
    };
    let header_len = u64::from_le_bytes(first.try_into().unwrap_or([0; 8]));
    if header_len > MAX_HEADER_BYTES {
        return Err(format_error(format!(
            "header length {header_len} is not that of a safetensors file"
        )));
    }
    (&mut file).take(header_len).read_to_end(&mut bytes).map_err(io_error)?;
    if (bytes.len() as u64) < 8 + header_len {
        check_complete(path, &bytes)?;
    }
    let header = bytes.get(8..).unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__")]
        metadata: Option<HashMap<String, String>>,
    }
    let header: Header =
        serde_json::from_slice(header).map_err(|e| format_error(format!("header is not a safetensors header: {e}")))?;
    Ok(header.metadata)
}

/// The model's configuration and every other entry of a file's header metadata, after checking
/// `loev.format`.
fn parse_metadata(
    path: &Path,
    entries: Option<&HashMap<String, String>>,
) -> Result<(LoevModelConfig, BTreeMap<String, String>), ModelError> {
    let format_error = |reason: String| ModelError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let entries = entries.ok_or_else(|| format_error("no header metadata".into()))?;
    match entries.get(FORMAT_KEY) {
        Some(format) if format == FORMAT => {}
        Some(other) => return Err(format_error(format!("format `{other}`, expected `{FORMAT}`"))),
        None => return Err(format_error(format!("no `{FORMAT_KEY}` entry in the header"))),
    }
    let json = entries
        .get(CONFIG_KEY)
        .ok_or_else(|| format_error(format!("no `{CONFIG_KEY}` entry in the header")))?;
    let config = serde_json::from_str(json).map_err(|e| format_error(format!("stored configuration: {e}")))?;
    let extra = entries
        .iter()
        .filter(|(k, _)| *k != FORMAT_KEY && *k != CONFIG_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((config, extra))
}

/// Reads a model file whole, refusing one cut short ([`check_complete`]).
fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    check_complete(path, &bytes)?;
    Ok(bytes)
}

/// The largest safetensors header loev reads (a header of a full-size model is ~60 kB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Tells a model file cut short (a copy, download or write interrupted) from a file that is not
/// a model file at all, so that the message says "truncated" and what to do: `Err(Truncated)`
/// when `bytes` is a safetensors file's beginning (an 8-byte header length, then a header
/// starting with `{`) but ends before its 8 bytes, before its header's end, or before the end
/// of the tensor data its header announces. Anything else is left to the safetensors reader.
fn check_complete(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let truncated = |detail: String| {
        Err(ModelError::Truncated {
            path: path.to_path_buf(),
            detail,
        })
    };
    let len = bytes.len() as u64;
    let Some(first) = bytes.get(..8) else {
        return truncated(format!(
            "it holds {len} bytes, fewer than the 8 of a safetensors header length"
        ));
    };
    let header_len = u64::from_le_bytes(first.try_into().unwrap_or([0; 8]));
    if header_len > MAX_HEADER_BYTES || bytes.get(8) != Some(&b'{') {
        return Ok(());
    }
    let header_end = 8 + header_len;
    if len < header_end {
        return truncated(format!(
            "it holds {len} bytes and ends inside its header, which alone takes {header_end}"
        ));
    }
    let Ok(serde_json::Value::Object(header)) = serde_json::from_slice(&bytes[8..header_end as usize]) else {
        return Ok(());
    };
    let data_end = header
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .filter_map(|(_, tensor)| tensor.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let expected = header_end.saturating_add(data_end);
    if len < expected {
        return truncated(format!("it holds {len} bytes, but its header announces {expected}"));
    }
    Ok(())
}

/// Collects `(name, shape, f32 values)` of every parameter.
#[derive(Default)]
struct Collector {
    path: Vec<String>,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    error: Option<String>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let name = self.path.join(".");
        match tensor.into_data().try_into_vec_as::<f32>() {
            Ok(values) => self.tensors.push((name, shape, values)),
            Err(e) => {
                self.error.get_or_insert(format!("cannot read tensor `{name}`: {e:?}"));
            }
        }
    }
}

/// Replaces every parameter by the file's tensor of the same path.
struct Loader<'a> {
    file: &'a SafeTensors<'a>,
    device: Device,
    path: Vec<String>,
    used: HashSet<String>,
    error: Option<String>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.join(".");
        let expected = param.dims().to_vec();
        let view = match self.file.tensor(&name) {
            Ok(view) => view,
            Err(_) => {
                self.error = Some(format!("tensor `{name}` (shape {expected:?}) is missing from the file"));
                return param;
            }
        };
        self.used.insert(name.clone());
        if view.dtype() != Dtype::F32 {
            self.error = Some(format!("tensor `{name}` is {:?}, expected F32", view.dtype()));
            return param;
        }
        if view.shape() != expected.as_slice() {
            self.error = Some(format!(
                "tensor `{name}` has shape {:?} in the file but the configuration expects {expected:?}",
                view.shape()
            ));
            return param;
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let tensor = Tensor::<D>::from_data(TensorData::new(values, expected), &self.device);
        let id: ParamId = param.id;
        param.transform_for_load(tensor, id)
    }
}

/// Rewrites a serialised safetensors header with its JSON keys sorted (the metadata map is a
/// `HashMap`, whose order changes from run to run), so that the same weights and config always
/// give the same file bytes. The header keeps its length: the sorted JSON is as long as the
/// original and the padding spaces are kept.
fn canonicalise_header(bytes: &mut [u8]) {
    let Some(len_bytes) = bytes.get(..8) else { return };
    let header_len = u64::from_le_bytes(len_bytes.try_into().unwrap_or([0; 8])) as usize;
    let Some(header) = bytes.get(8..8 + header_len) else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return;
    };
    let Ok(sorted) = serde_json::to_vec(&value) else { return };
    if sorted.len() <= header_len {
        let region = &mut bytes[8..8 + header_len];
        region[..sorted.len()].copy_from_slice(&sorted);
        region[sorted.len()..].fill(b' ');
    }
}
