//! Sizes a user gives, checked against what the machine can hold before anything is allocated.
//!
//! A size such as `anchors = 1000000000` or `--views 1000000000` used to reach an allocation
//! that aborts the process ("memory allocation of 224000000000 bytes failed"), which prints no
//! loev message, names no parameter and may leave a folder half made. Every option or
//! configuration key that sets how much memory loev takes is checked here first, by whoever
//! validates it, before any folder or file is created: the error names the parameter, the
//! memory it needs and the memory the machine has.
//!
//! The estimate is a lower bound of what the parameter makes loev hold at once (the caller
//! says what it counts), and the limit is the machine's physical memory: a value refused here
//! could never have run, while one that passes may still be too large once everything else is
//! counted. On systems without `/proc/meminfo` only the address-space limit is checked.

use std::fmt;

/// A size that the machine cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} needs {} of memory{}, more than this machine has ({}); lower it",
    human_bytes(*needed),
    if counted.is_empty() { String::new() } else { format!(" ({counted})") },
    available.map(human_bytes).unwrap_or_else(|| "the address space".into())
)]
pub struct TooLarge {
    /// The parameter and its value, as the user wrote them (`data.anchors = 1000000000`).
    pub what: String,
    /// What the estimate counts.
    pub counted: String,
    /// Bytes needed (at least).
    pub needed: u128,
    /// The machine's physical memory in bytes, when known.
    pub available: Option<u128>,
}

/// The machine's physical memory in bytes (`MemTotal` of `/proc/meminfo`), when known.
pub fn physical_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Checks that `needed` bytes fit in this machine's memory. `what` names the parameter and its
/// value; `counted` says what the estimate counts (shown in the error).
pub fn check_memory(what: impl fmt::Display, counted: impl fmt::Display, needed: u128) -> Result<(), TooLarge> {
    let available = physical_memory();
    let limit = available.unwrap_or(isize::MAX as u128).min(isize::MAX as u128);
    if needed <= limit {
        return Ok(());
    }
    Err(TooLarge {
        what: what.to_string(),
        counted: counted.to_string(),
        needed,
        available,
    })
}

/// The product of `factors` in bytes, saturating instead of overflowing (an absurd size is
/// refused by [`check_memory`] rather than wrapped into a small one).
pub fn bytes_of(factors: &[u128]) -> u128 {
    factors.iter().fold(1u128, |acc, &f| acc.saturating_mul(f))
}

/// `bytes` for people: `1.5 GiB`, `224.0 GB`-style binary units.
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_are_refused_with_the_parameter_named() {
        let needed = bytes_of(&[1_000_000_000, 4, 96, 300, 4]);
        let error = check_memory("data.anchors = 1000000000", "the batch's log-mel inputs", needed)
            .expect_err("no machine holds this");
        let text = error.to_string();
        assert!(text.contains("data.anchors = 1000000000"), "{text}");
        assert!(text.contains("TiB"), "{text}");
        assert!(check_memory("--batch 16", "", 16 * 96 * 300 * 4).is_ok());
        assert_eq!(bytes_of(&[u128::MAX, 2]), u128::MAX);
        assert!(check_memory("x", "", u128::MAX).is_err());
    }

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
