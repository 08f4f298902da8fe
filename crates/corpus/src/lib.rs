//! loev-corpus
