//! loev-eval
