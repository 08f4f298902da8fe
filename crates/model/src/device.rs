//! Device selection: the only backend-specific code. The model code is the same on every device.
//!
//! Names a user can give (`--device`, `device = "…"` in a run config):
//!
//! | name | device | build |
//! |---|---|---|
//! | `cpu` | burn-flex on the CPU (threads from rayon, `RAYON_NUM_THREADS`) | always |
//! | `cuda`, `cuda:N` | NVIDIA GPU N through CUDA (kernels compiled by NVRTC) | `--features cuda` |
//! | `vulkan`, `vulkan:N` | the best Vulkan GPU, or discrete GPU N (NVIDIA, AMD, Intel) | `--features vulkan` |
//! | `vulkan:cpu` | a software Vulkan driver (Mesa's lavapipe) | `--features vulkan` |
//! | `opengl`, `opengl:cpu` | wgpu's OpenGL ES backend (kernels through WGSL); `:cpu` is Mesa's llvmpipe | `--features vulkan` |
//!
//! A list such as `cuda:0,1` or `vulkan:0,1` trains data-parallel on several devices (see
//! [`parse_device_list`]).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::ModelError;

/// Which adapter of a graphics API (Vulkan or OpenGL through wgpu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpuAdapter {
    /// The best adapter the driver offers (a discrete GPU when there is one).
    Best,
    /// The N-th discrete GPU.
    Discrete(usize),
    /// A software rasterizer (Mesa's lavapipe / llvmpipe): the GPU code path on the CPU.
    Software,
}

/// Where tensors live: the pure-Rust CPU backend (burn-flex) or a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceChoice {
    /// burn-flex on the CPU (threads from rayon, `RAYON_NUM_THREADS`).
    #[default]
    Cpu,
    /// CUDA GPU with this index (needs the `cuda` cargo feature).
    Cuda(usize),
    /// A Vulkan adapter; kernels are compiled to SPIR-V (needs the `vulkan` cargo feature).
    Vulkan(GpuAdapter),
    /// An OpenGL (ES) adapter through wgpu; kernels go through WGSL (needs the `vulkan` feature).
    OpenGl(GpuAdapter),
}

impl DeviceChoice {
    /// True for the CPU backend.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Self::Cpu)
    }

    /// The same backend at another index (`cuda:0,1` → `cuda:1`); `None` where an index means
    /// nothing (the CPU) .
    fn with_index(&self, index: usize) -> Option<Self> {
        match self {
            Self::Cpu => None,
            Self::Cuda(_) => Some(Self::Cuda(index)),
            Self::Vulkan(_) => Some(Self::Vulkan(GpuAdapter::Discrete(index))),
            Self::OpenGl(_) => Some(Self::OpenGl(GpuAdapter::Discrete(index))),
        }
    }
}

fn unknown(text: &str) -> ModelError {
    ModelError::Device(format!(
        "unknown device `{text}`: use cpu, cuda, cuda:N, vulkan, vulkan:N, vulkan:cpu, opengl or opengl:cpu \
         (a list such as cuda:0,1 trains on several devices)"
    ))
}

fn parse_adapter(text: &str, rest: Option<&str>) -> Result<GpuAdapter, ModelError> {
    match rest {
        None => Ok(GpuAdapter::Best),
        Some("cpu") | Some("software") => Ok(GpuAdapter::Software),
        Some(index) => index.parse().map(GpuAdapter::Discrete).map_err(|_| unknown(text)),
    }
}

impl FromStr for DeviceChoice {
    type Err = ModelError;

    /// Parses one device name (see the module documentation for the list).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let (backend, rest) = match lower.split_once(':') {
            Some((backend, rest)) => (backend, Some(rest.trim())),
            None => (lower.as_str(), None),
        };
        match backend {
            "cpu" | "flex" if rest.is_none() => Ok(Self::Cpu),
            "cuda" | "gpu" => match rest {
                None => Ok(Self::Cuda(0)),
                Some(index) => index.parse().map(Self::Cuda).map_err(|_| unknown(text)),
            },
            "vulkan" => parse_adapter(text, rest).map(Self::Vulkan),
            "opengl" | "gl" => parse_adapter(text, rest).map(Self::OpenGl),
            _ => Err(unknown(text)),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let adapter = |f: &mut fmt::Formatter<'_>, api: &str, adapter: &GpuAdapter| match adapter {
            GpuAdapter::Best => write!(f, "{api}"),
            GpuAdapter::Discrete(index) => write!(f, "{api}:{index}"),
            GpuAdapter::Software => write!(f, "{api}:cpu"),
        };
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
            Self::Vulkan(a) => adapter(f, "vulkan", a),
            Self::OpenGl(a) => adapter(f, "opengl", a),
        }
    }
}

/// Parses a device list: one device (`cuda:1`), or several for data-parallel training, either
/// spelled out (`vulkan:0,vulkan:1`) or as indices after the first (`cuda:0,1,3`). A device may
/// appear only once, and the CPU only alone.
pub fn parse_device_list(text: &str) -> Result<Vec<DeviceChoice>, ModelError> {
    let mut choices: Vec<DeviceChoice> = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let choice = match (part.parse::<usize>(), choices.last()) {
            (Ok(index), Some(previous)) => previous.with_index(index).ok_or_else(|| unknown(text))?,
            _ => part.parse::<DeviceChoice>()?,
        };
        if choices.contains(&choice) {
            return Err(ModelError::Device(format!(
                "device `{choice}` is listed twice in `{text}`"
            )));
        }
        choices.push(choice);
    }
    if choices.len() > 1 && choices.iter().any(DeviceChoice::is_cpu) {
        return Err(ModelError::Device(format!(
            "`{text}`: the CPU trains alone (it already uses every core); list only GPUs to train on several devices"
        )));
    }
    Ok(choices)
}

/// The burn device for `choice`, with autodiff enabled when `autodiff` is true (training).
///
/// A GPU choice in a build without its feature is an error that says how to rebuild. GPU
/// devices are opened lazily: a missing driver shows up at the first tensor operation, so
/// callers that want a clear message call [`check_device`] first.
pub fn select_device(choice: DeviceChoice, autodiff: bool) -> Result<Device, ModelError> {
    let device = match choice {
        DeviceChoice::Cpu => Device::flex(),
        DeviceChoice::Cuda(index) => cuda_device(index)?,
        DeviceChoice::Vulkan(adapter) => wgpu_device(choice, adapter, Api::Vulkan)?,
        DeviceChoice::OpenGl(adapter) => wgpu_device(choice, adapter, Api::OpenGl)?,
    };
    Ok(if autodiff { device.autodiff() } else { device })
}

/// Parses one device name, builds the device (with autodiff when `autodiff`) and checks that it
/// computes: what commands call so that a missing driver is a clear error, not a panic later.
pub fn open_device(text: &str, autodiff: bool) -> Result<(DeviceChoice, Device), ModelError> {
    let choice: DeviceChoice = text.parse()?;
    let device = select_device(choice, autodiff)?;
    check_device(choice, &device)?;
    Ok((choice, device))
}

/// Opens `device` with one small computation read back to the host, turning a missing driver
/// or adapter (which burn reports by panicking on first use) into an error naming the device.
///
/// This is the one place loev opens a device (the CLI, training, the Python package all come
/// here), so it is where a failure becomes one line. burn's GPU runtimes open the device on a
/// thread of their own: that thread panics with the cause (cudarc: "Unable to dynamically load
/// the cuda shared library"; wgpu: "no adapter found"), and the calling thread then panics on a
/// closed channel ("RecvError"). Both panics are silenced while the device opens
/// ([`loev_core::panic::catch_quietly_everywhere`]) and the error carries the cause, shortened
/// to one line, with what the backend needs.
pub fn check_device(choice: DeviceChoice, device: &Device) -> Result<(), ModelError> {
    if choice.is_cpu() {
        return Ok(());
    }
    let probe = loev_core::panic::catch_quietly_everywhere(|| {
        let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0, 3.0], device); // [3]
        x.sum().into_scalar::<f32>() // scalar
    });
    match probe {
        Ok(sum) if (sum - 6.0).abs() < 1e-6 => Ok(()),
        Ok(sum) => Err(ModelError::Device(format!(
            "device {choice} opened but computed 1+2+3 = {sum}; its driver is not usable"
        ))),
        Err(panics) => {
            let reason = panics
                .iter()
                .map(|p| loev_core::panic::shorten(&adapters_named(&loev_core::panic::cause(p)), 300))
                .find(|p| !p.is_empty())
                .unwrap_or_else(|| "no message".to_string());
            Err(ModelError::Device(format!(
                "device {choice} could not be opened ({reason}). {}",
                driver_hint(choice)
            )))
        }
    }
}

/// wgpu lists the adapters it found as debug-printed structs ("No Discrete GPU device found,
/// adapters [AdapterInfo { name: \"llvmpipe (LLVM 15.0.6, 256 bits)\", vendor: …}]"); the user
/// needs their names only.
fn adapters_named(reason: &str) -> String {
    let Some((before, list)) = reason.split_once(", adapters [") else {
        return reason.to_string();
    };
    let names: Vec<&str> = list
        .split("name: \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    if names.is_empty() {
        format!("{before}; no adapter found")
    } else {
        format!("{before}; adapters found: {}", names.join(", "))
    }
}

fn driver_hint(choice: DeviceChoice) -> &'static str {
    match choice {
        DeviceChoice::Cpu => "",
        DeviceChoice::Cuda(_) => {
            "CUDA needs the NVIDIA driver (libcuda) and NVRTC (libnvrtc.so.13, e.g. from the nvidia-cuda-nvrtc \
             wheel on LD_LIBRARY_PATH), and a CUDA folder in CUDA_PATH or /usr/local/cuda"
        }
        DeviceChoice::Vulkan(_) => {
            "Vulkan needs libvulkan.so.1 and a driver (`vulkaninfo --summary` lists the adapters; vulkan:cpu needs \
             Mesa's mesa-vulkan-drivers)"
        }
        DeviceChoice::OpenGl(_) => "OpenGL needs libEGL and a Mesa or vendor GL driver",
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device, ModelError> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(index: usize) -> Result<Device, ModelError> {
    Err(ModelError::Device(format!(
        "device cuda:{index} requested but this build has no CUDA support; rebuild with \
         `cargo build --release --features cuda` (no CUDA toolkit needed to build)"
    )))
}

#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "vulkan"), allow(dead_code))]
enum Api {
    Vulkan,
    OpenGl,
}

#[cfg(feature = "vulkan")]
fn wgpu_device(_choice: DeviceChoice, adapter: GpuAdapter, api: Api) -> Result<Device, ModelError> {
    use burn::backend::{WgpuBackend, WgpuDevice, WgpuDeviceKind};

    let kind = match adapter {
        GpuAdapter::Best => WgpuDeviceKind::DefaultDevice,
        GpuAdapter::Discrete(index) => WgpuDeviceKind::DiscreteGpu(index),
        GpuAdapter::Software => WgpuDeviceKind::Cpu,
    };
    let backend = match api {
        Api::Vulkan => WgpuBackend::Vulkan,
        Api::OpenGl => WgpuBackend::Gl,
    };
    Ok(Device::from(WgpuDevice::new(kind).on(backend)))
}

#[cfg(not(feature = "vulkan"))]
fn wgpu_device(choice: DeviceChoice, _adapter: GpuAdapter, _api: Api) -> Result<Device, ModelError> {
    Err(ModelError::Device(format!(
        "device {choice} requested but this build has no Vulkan/OpenGL support; rebuild with \
         `cargo build --release --features vulkan`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_print_back() {
        for (text, choice) in [
            ("cpu", DeviceChoice::Cpu),
            ("CUDA", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
            ("vulkan", DeviceChoice::Vulkan(GpuAdapter::Best)),
            ("vulkan:1", DeviceChoice::Vulkan(GpuAdapter::Discrete(1))),
            ("vulkan:cpu", DeviceChoice::Vulkan(GpuAdapter::Software)),
            ("opengl:cpu", DeviceChoice::OpenGl(GpuAdapter::Software)),
        ] {
            let parsed: DeviceChoice = text.parse().unwrap();
            assert_eq!(parsed, choice, "{text}");
            assert_eq!(
                parsed.to_string().parse::<DeviceChoice>().unwrap(),
                choice,
                "{text} round trip"
            );
        }
        for bad in ["tpu", "cuda:x", "vulkan:gpu", "cpu:2", ""] {
            let error = bad.parse::<DeviceChoice>().unwrap_err().to_string();
            assert!(error.contains("unknown device"), "{bad}: {error}");
        }
        assert!(select_device(DeviceChoice::Cpu, true).unwrap().is_autodiff());
    }

    #[test]
    fn device_lists_parse() {
        assert_eq!(parse_device_list("cpu").unwrap(), vec![DeviceChoice::Cpu]);
        assert_eq!(
            parse_device_list("cuda:0,1, 3").unwrap(),
            vec![DeviceChoice::Cuda(0), DeviceChoice::Cuda(1), DeviceChoice::Cuda(3)]
        );
        assert_eq!(
            parse_device_list("vulkan:0,vulkan:cpu").unwrap(),
            vec![
                DeviceChoice::Vulkan(GpuAdapter::Discrete(0)),
                DeviceChoice::Vulkan(GpuAdapter::Software)
            ]
        );
        assert!(parse_device_list("cuda:0,0").unwrap_err().to_string().contains("twice"));
        assert!(parse_device_list("cpu,1").is_err());
        assert!(
            parse_device_list("cuda:0,cpu")
                .unwrap_err()
                .to_string()
                .contains("alone")
        );
        assert!(parse_device_list("tpu").is_err());
    }

    #[test]
    fn wgpu_adapter_lists_shrink_to_their_names() {
        let reason = "No Discrete GPU device found, adapters [AdapterInfo { name: \"llvmpipe (LLVM 15.0.6, 256 bits)\", \
                      vendor: 65541, driver: \"llvmpipe\" }]";
        assert_eq!(
            adapters_named(reason),
            "No Discrete GPU device found; adapters found: llvmpipe (LLVM 15.0.6, 256 bits)"
        );
        assert_eq!(
            adapters_named("No Discrete GPU device found, adapters []"),
            "No Discrete GPU device found; no adapter found"
        );
        assert_eq!(adapters_named("something else"), "something else");
    }

    /// A GPU name in a build without its backend says which feature to build with.
    #[test]
    fn missing_backends_say_how_to_rebuild() {
        if !cfg!(feature = "cuda") {
            let error = select_device(DeviceChoice::Cuda(0), false).unwrap_err().to_string();
            assert!(error.contains("--features cuda"), "{error}");
        }
        if !cfg!(feature = "vulkan") {
            let error = select_device(DeviceChoice::Vulkan(GpuAdapter::Best), false)
                .unwrap_err()
                .to_string();
            assert!(error.contains("--features vulkan"), "{error}");
        }
    }
}
