//! One module per subcommand.

pub mod analyze;
pub mod augment;
pub mod bench;
pub mod bench_audio;
pub mod bench_augment;
pub mod bench_model;
pub mod bench_train;
pub mod cache;
pub mod corpus;
pub mod data;
pub mod demo;
pub mod embed;
pub mod features;
pub mod pretrain;
pub mod probe;
pub mod python_anchor;
pub mod retrieve;
