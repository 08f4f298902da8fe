//! loev's offline stand-in for `cubecl-llvm` 0.11.3 (see `Cargo.toml` for why it exists).
//!
//! cubecl-cuda names these items whichever backend it runs: [`PlironCompiler`] and its
//! [`PlironOptions`] / [`PlironArtifact`] / [`NvptxModule`] as the LLVM arm of its compiler enum,
//! [`nvptx::ptx_version::PtxVersion`] in its cache keys, and
//! [`shared::lowered_features::restrict_features`] when the LLVM backend is selected. loev builds
//! cubecl-cuda with its `cpp` feature, so the NVRTC (CUDA C++) backend is the one that runs; the
//! LLVM arm exists only for the types to line up. Were it ever selected, compiling a kernel fails
//! with an error that says so instead of producing wrong code.

use cubecl_core::ir::amd::GfxArch;
use cubecl_core::ir::nvidia::SmArch;
use cubecl_core::prelude::KernelDefinition;
use cubecl_environment::backtrace::BackTrace;
use cubecl_runtime::compiler::{CompilationError, Compiler};
use cubecl_runtime::kernel::BufferIOAttr;

/// LLVM code-generation targets (only their names: nothing is generated here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LlvmTarget {
    /// The host CPU.
    #[default]
    Cpu,
    /// AMD GPUs.
    AmdGpu,
    /// NVIDIA GPUs through PTX.
    Nvptx,
}

/// The LLVM compiler of cubecl, absent from this build: [`Compiler::compile`] returns an error.
#[derive(Clone, Debug, Default)]
pub struct PlironCompiler {
    /// The target the caller asked for.
    pub target: LlvmTarget,
}

/// Options the LLVM backend would take; kept so that callers type-check.
#[derive(Clone, Debug, Default)]
pub struct PlironOptions {
    /// AMD GPU architecture.
    pub arch: Option<GfxArch>,
    /// NVIDIA architecture.
    pub sm_arch: Option<SmArch>,
    /// PTX version to emit.
    pub ptx_version: Option<nvptx::ptx_version::PtxVersion>,
    /// Whether scalars travel in the kernel parameter block.
    pub grid_constants: bool,
}

/// A PTX module as the LLVM backend would return it.
#[derive(Clone, Debug)]
pub struct NvptxModule {
    /// NUL-terminated PTX assembly.
    pub ptx: Vec<core::ffi::c_char>,
    /// Kernel entry point.
    pub entrypoint: String,
    /// IR text, for logs and cache keys.
    pub ir: String,
    /// Shared memory per launch, in bytes.
    pub shared_memory_size: usize,
    /// Buffer access modes in binding order.
    pub io: Vec<BufferIOAttr>,
}

/// What the LLVM backend returns. No value is ever built in this stand-in.
#[derive(Clone, Debug)]
pub enum PlironArtifact {
    /// PTX for the CUDA driver.
    NvptxCode(NvptxModule),
    /// A target this stand-in has no code for (keeps callers' catch-all arms meaningful).
    Unsupported,
}

impl core::fmt::Display for PlironArtifact {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlironArtifact::NvptxCode(module) => f.write_str(&module.ir),
            PlironArtifact::Unsupported => f.write_str("<no LLVM backend in this build>"),
        }
    }
}

impl Compiler for PlironCompiler {
    type Representation = PlironArtifact;
    type CompilationOptions = PlironOptions;

    fn compile(
        &mut self,
        _kernel: KernelDefinition,
        _options: &Self::CompilationOptions,
    ) -> Result<Self::Representation, CompilationError> {
        Err(CompilationError::Generic {
            reason: format!(
                "cubecl's LLVM backend ({:?}) is not part of this loev build (it needs an LLVM \
                 download at build time); loev compiles CUDA kernels with NVRTC, which is \
                 cubecl-cuda's `cpp` backend, enabled by loev's `cuda` feature",
                self.target
            ),
            backtrace: BackTrace::capture(),
        })
    }

    fn buffer_io(repr: &Self::Representation) -> Option<Vec<BufferIOAttr>> {
        match repr {
            PlironArtifact::NvptxCode(module) => Some(module.io.clone()),
            PlironArtifact::Unsupported => None,
        }
    }

    fn extension(&self) -> &'static str {
        "ll"
    }

    fn lang_tag(&self) -> &'static str {
        "llvm"
    }
}

/// NVIDIA-specific names.
pub mod nvptx {
    /// The PTX ISA version for a driver.
    pub mod ptx_version {
        use core::fmt;

        /// A PTX ISA version as NVPTX spells it: 8.7 is `87`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct PtxVersion(u32);

        /// The first CUDA driver (as `cuDriverGetVersion` reports it) that loads each PTX
        /// version, newest first (NVIDIA's PTX ISA release notes).
        const FIRST_DRIVER: &[(i32, u32)] = &[
            (13000, 90),
            (12090, 88),
            (12080, 87),
            (12050, 85),
            (12040, 84),
            (12030, 83),
            (12020, 82),
            (12010, 81),
            (12000, 80),
            (11080, 78),
            (11000, 70),
            (10000, 63),
        ];

        impl PtxVersion {
            /// The newest version a driver loads; `None` for drivers older than CUDA 10.
            pub fn for_driver(driver: i32) -> Option<Self> {
                FIRST_DRIVER
                    .iter()
                    .find(|(first, _)| driver >= *first)
                    .map(|(_, ptx)| Self(*ptx))
            }
        }

        impl fmt::Display for PtxVersion {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "ptx{}", self.0)
            }
        }
    }
}

/// Names shared by the LLVM targets.
pub mod shared {
    /// Narrowing of device features to what the LLVM backend lowers.
    pub mod lowered_features {
        use cubecl_core::ir::DeviceProperties;

        /// GPU targets of the LLVM backend.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum GpuTarget {
            /// NVIDIA PTX.
            Nvptx,
        }

        /// Called by cubecl-cuda only when its LLVM backend is selected, which loev's build
        /// never does; the properties are left as the CUDA C++ backend reported them.
        pub fn restrict_features(_props: &mut DeviceProperties, _target: GpuTarget) {}
    }
}
