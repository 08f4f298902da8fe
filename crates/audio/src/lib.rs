//! loev-audio
