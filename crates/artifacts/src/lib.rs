//! The files training hands to evaluation, owned here so that both sides agree on them and
//! evaluation never depends on training:
//!
//! * [`run_folder`]: the layout of a run folder (config, metrics, checkpoints with checksums),
//!   which training writes and evaluation reads;
//! * [`model_file`]: the self-describing model file (safetensors whose header carries the
//!   front end, the model and head configuration, the training facts and a format version),
//!   which is all `loev embed --model` needs;
//! * [`mule_torch`]: importing published MULE weights from a mule-torch folder into a model
//!   file (`loev import mule-torch`).
//!
//! The formats are described for humans in `docs/formats.md`.

pub mod model_file;
pub mod mule_torch;
pub mod run_folder;

pub use model_file::{HeadInfo, HeadRole, LoadedModel, ModelFileError, ModelFileInfo, ModelInput, ModelSource};
pub use run_folder::{HeadDiagnostics, RunDir, RunDirError};
