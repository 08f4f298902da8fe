//! loev-model
