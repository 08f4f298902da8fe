//! The full LOEV model: encoder, optional LOEV++ branches, one projection head per head name.

use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::config::LoevModelConfig;
use crate::encoder::{FeatureShapes, ForwardMode, SfNfNet};
use crate::error::ModelError;
use crate::init::{Fill, ParamFactory};
use crate::layers::Dense;

/// Projection head: Dense layers with ReLU between them and none after the last.
///
/// Hidden layers use Keras' Dense default (Glorot-uniform weights, zero bias); the last layer
/// follows MULE's `fc`: N(0, 0.01²) weights and no bias.
#[derive(Module, Debug)]
pub struct ProjectionHead {
    /// Layers in order.
    pub layers: Vec<Dense>,
}

impl ProjectionHead {
    fn new(factory: &mut ParamFactory, d_in: usize, dims: &[usize]) -> Self {
        let mut layers = Vec::with_capacity(dims.len());
        let mut d = d_in;
        for (i, &d_out) in dims.iter().enumerate() {
            let last = i + 1 == dims.len();
            layers.push(if last {
                Dense::small_normal_no_bias(factory, d, d_out)
            } else {
                Dense::glorot(factory, d, d_out)
            });
            d = d_out;
        }
        Self { layers }
    }

    /// Projects `[batch, d_in]` to `[batch, last dim]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x; // [batch, d_in]
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                h = relu(h); // [batch, dims[i − 1]]
            }
            h = layer.forward(h); // [batch, dims[i]]
        }
        h // [batch, dims[last]] (512 by default)
    }
}

/// What one forward pass produces.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    /// The embedding V `[batch, d]`. Plain model: the encoder's pooled output (d = d_E = 1728 at
    /// full size). LOEV++ / MULE++: V^++, the concatenation of the branch embeddings in head order
    /// (d = heads × d_E), which is what LOEV's reference code extracts as "the encoder output" for
    /// its `plusplus` models; there is no single shared pooled vector in a ++ network.
    pub embedding: Tensor<2>,
    /// LOEV++ only: V^k `[batch, d_E]` per head, in head order (empty otherwise).
    pub branch_embeddings: Vec<Tensor<2>>,
    /// z^k per head, in head order (head k reads V^k for LOEV++, V otherwise).
    pub projections: Vec<Tensor<2>>,
}

impl ModelOutput {
    /// V^++ (concatenated branch embeddings) for LOEV++ models, `None` otherwise.
    pub fn v_plus_plus(&self) -> Option<Tensor<2>> {
        (!self.branch_embeddings.is_empty()).then(|| self.embedding.clone())
    }
}

/// SF-NFNet-F0 encoder + projection heads (LOEV, LOEV++, MULE, MULE++).
///
/// A burn [`Module`]: `burn::optim` optimizers step it directly, e.g.
/// `optim.step(lr, model, GradientsParams::from_grads(loss.backward(), &model))` with the model
/// built on an autodiff device (`Device::flex().autodiff()`).
#[derive(Module, Debug)]
pub struct LoevModel {
    /// The encoder (with the LOEV++ branches when configured).
    pub encoder: SfNfNet,
    /// One projection head per head name, in order.
    pub heads: Vec<ProjectionHead>,
}

impl LoevModel {
    /// A new model with weights drawn deterministically from `seed` (same seed ⇒ same weights
    /// on every backend and thread count).
    ///
    /// # Panics
    /// If the configuration is invalid; call [`LoevModel::try_init`] to get the error instead.
    pub fn init(config: &LoevModelConfig, device: &Device, seed: u64) -> Self {
        match Self::try_init(config, device, seed) {
            Ok(model) => model,
            Err(err) => panic!("{err}"),
        }
    }

    /// Like [`LoevModel::init`], returning an error for an invalid configuration.
    pub fn try_init(config: &LoevModelConfig, device: &Device, seed: u64) -> Result<Self, ModelError> {
        Self::build(config, &mut ParamFactory::new(Fill::Random { seed }, device))
    }

    /// A model of the right shapes with placeholder (zero) weights, to be overwritten by loading.
    pub(crate) fn placeholder(config: &LoevModelConfig, device: &Device) -> Result<Self, ModelError> {
        Self::build(config, &mut ParamFactory::new(Fill::Placeholder, device))
    }

    fn build(config: &LoevModelConfig, factory: &mut ParamFactory) -> Result<Self, ModelError> {
        config.validate()?;
        let branches = if config.plusplus { config.heads.len() } else { 0 };
        let encoder = SfNfNet::new(&config.encoder, branches, factory)?;
        let heads = config
            .heads
            .iter()
            .map(|_| ProjectionHead::new(factory, config.branch_dim(), &config.projection_dims))
            .collect();
        Ok(Self { encoder, heads })
    }

    /// Forward pass of `input` `[batch, 1, n_mels, n_frames]` (any mel and frame count).
    pub fn forward(&self, input: Tensor<4>, mode: ForwardMode) -> ModelOutput {
        // input: [batch, 1, n_mels, n_frames]
        let pooled = self.encoder.forward(input, mode); // plain: 1 × [batch, d_E]; LOEV++: heads × [batch, d_E]
        if self.encoder.num_branches() == 0 {
            let embedding = pooled
                .into_iter()
                .next()
                .expect("a plain encoder returns one embedding"); // V: [batch, d_E]
            // z^k: heads × [batch, projection_dims[last]]
            let projections = self.heads.iter().map(|head| head.forward(embedding.clone())).collect();
            ModelOutput {
                embedding,
                branch_embeddings: Vec::new(),
                projections,
            }
        } else {
            // z^k = head_k(V^k): heads × [batch, projection_dims[last]]
            let projections = self
                .heads
                .iter()
                .zip(&pooled)
                .map(|(head, v)| head.forward(v.clone()))
                .collect();
            ModelOutput {
                embedding: Tensor::cat(pooled.clone(), 1), // V^++: [batch, heads · d_E]
                branch_embeddings: pooled,
                projections,
            }
        }
    }

    /// Eval-mode forward (no stochastic depth). The projections are computed too: they are
    /// cheap next to the encoder and are embedding spaces of their own (Z^k).
    pub fn encode(&self, input: Tensor<4>) -> ModelOutput {
        // input: [batch, 1, n_mels, n_frames]
        self.forward(input, ForwardMode::Eval)
    }

    /// Stem and stage output shapes for `input` (eval forward).
    pub fn feature_shapes(&self, input: Tensor<4>) -> FeatureShapes {
        self.encoder.feature_shapes(input)
    }

    /// Number of trainable scalars.
    pub fn num_params(&self) -> usize {
        Module::num_params(self)
    }

    /// Number of trainable scalars of the encoder alone (62,345,742 for the full F0 without
    /// LOEV++ branches).
    pub fn encoder_num_params(&self) -> usize {
        Module::num_params(&self.encoder)
    }
}
