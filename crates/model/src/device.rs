//! Device selection: the only backend-specific code. The model code is the same on every device.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::ModelError;

/// Where tensors live: the pure-Rust CPU backend (burn-flex) or an NVIDIA GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// burn-flex on the CPU (threads from rayon, `RAYON_NUM_THREADS`).
    #[default]
    Cpu,
    /// CUDA GPU with this index (needs the `cuda` cargo feature).
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = ModelError;

    /// Parses `cpu`, `cuda` (GPU 0) or `cuda:N`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => lower
                .strip_prefix("cuda:")
                .and_then(|index| index.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| ModelError::InvalidConfig(format!("unknown device `{text}`: use cpu, cuda or cuda:N"))),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

/// The burn device for `choice`, with autodiff enabled when `autodiff` is true (training).
///
/// A CUDA choice in a build without the `cuda` feature is an error that says how to rebuild.
pub fn select_device(choice: DeviceChoice, autodiff: bool) -> Result<Device, ModelError> {
    let device = match choice {
        DeviceChoice::Cpu => Device::flex(),
        DeviceChoice::Cuda(index) => cuda_device(index)?,
    };
    Ok(if autodiff { device.autodiff() } else { device })
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device, ModelError> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(index: usize) -> Result<Device, ModelError> {
    Err(ModelError::InvalidConfig(format!(
        "device cuda:{index} requested but this build has no CUDA support; rebuild with `--features cuda` \
         (set CUDARC_CUDA_VERSION, e.g. 12080, when nvcc is not installed; the first build downloads \
         cubecl's LLVM bundle from github.com into ~/.local/share/tracel)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("CUDA".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(3));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert_eq!(DeviceChoice::Cuda(2).to_string(), "cuda:2");
        assert!(select_device(DeviceChoice::Cpu, true).unwrap().is_autodiff());
    }
}
