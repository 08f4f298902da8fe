//! Pretraining for loev: the LOEV / MULE contrastive losses, the training loop and the run
//! directory.

pub mod loss;
