//! loev-augment
