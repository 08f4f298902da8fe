//! Panics of third-party code turned into errors, without their text on the terminal.
//!
//! Some libraries loev calls report bad input or a missing driver by panicking: symphonia on
//! hostile audio, burn's GPU runtimes (cudarc, wgpu) when a device cannot be opened. loev
//! turns those panics into its own one-line errors, so the panic hook's output ("thread …
//! panicked at …", a backtrace) must not reach the user for them, while a panic anywhere else
//! (a bug of loev's own) is still reported as usual.
//!
//! The process-wide panic hook is wrapped once, here, for both uses:
//! * [`catch_quietly`] silences panics *of the calling thread* while `f` runs (decoding runs on
//!   many threads at once; a panic on another thread is not its business).
//! * [`catch_quietly_everywhere`] silences panics *of every thread* while `f` runs and hands
//!   their messages back. A GPU runtime opens its device on a thread of its own: that thread's
//!   panic names the cause ("Unable to dynamically load the cuda shared library"), while the
//!   caller's thread only sees a closed channel. It is meant for short calls (opening a device).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

thread_local! {
    static QUIET_HERE: Cell<bool> = const { Cell::new(false) };
}

/// How many [`catch_quietly_everywhere`] calls are running.
static QUIET_EVERYWHERE: AtomicUsize = AtomicUsize::new(0);
/// Messages of the panics silenced by [`catch_quietly_everywhere`], in the order they happened.
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET_EVERYWHERE.load(Ordering::SeqCst) > 0 {
                let message = info.payload_as_str().unwrap_or("unknown panic").to_string();
                if let Ok(mut captured) = CAPTURED.lock() {
                    captured.push(message);
                }
                return;
            }
            if !QUIET_HERE.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Runs `f`, turning a panic of this thread into `Err(message)` without printing it. Panics of
/// other threads are reported as usual.
pub fn catch_quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was_quiet = QUIET_HERE.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET_HERE.with(|q| q.set(was_quiet));
    result.map_err(|payload| payload_text(payload.as_ref()))
}

/// Runs `f` with the output of every thread's panics silenced. Returns `f`'s value, or, when
/// `f` panicked, the messages of every panic silenced meanwhile (other threads' first, in
/// order, then `f`'s own): the first one is usually the cause.
pub fn catch_quietly_everywhere<T>(f: impl FnOnce() -> T) -> Result<T, Vec<String>> {
    install_hook();
    QUIET_EVERYWHERE.fetch_add(1, Ordering::SeqCst);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let left = QUIET_EVERYWHERE.fetch_sub(1, Ordering::SeqCst) - 1;
    let captured = match CAPTURED.lock() {
        Ok(mut captured) if left == 0 => std::mem::take(&mut *captured),
        Ok(captured) => captured.clone(),
        Err(_) => Vec::new(),
    };
    result.map_err(|payload| {
        let own = payload_text(payload.as_ref());
        let mut messages = captured;
        if !messages.contains(&own) {
            messages.push(own);
        }
        messages
    })
}

/// The cause of a third-party panic message: the quoted `message: "…"` of a debug-printed
/// error when there is one (its escapes undone), else the first line; without the long lists
/// some libraries append ("- searched for library names: […]").
pub fn cause(message: &str) -> String {
    let quoted = message
        .split_once("message: \"")
        .map(|(_, rest)| quoted_prefix(rest))
        .filter(|inner| !inner.trim().is_empty());
    let text = quoted.as_deref().unwrap_or(message);
    let line = text.lines().next().unwrap_or("");
    let line = line.split(" - searched for").next().unwrap_or(line).trim();
    line.trim_end_matches(['.', ':', ',']).to_string()
}

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The text of a Rust string literal that `rest` starts inside: up to the first quote that is
/// not escaped, with `\"` and `\\` undone.
fn quoted_prefix(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_of_this_thread_becomes_its_message_and_the_flag_is_restored() {
        let caught = catch_quietly(|| -> u32 { panic!("boom {}", 7) });
        assert_eq!(caught, Err("boom 7".to_string()));
        assert_eq!(catch_quietly(|| 3), Ok(3));
        assert!(!QUIET_HERE.with(Cell::get));
    }

    /// The cause of a device failure is a panic on another thread; the caller sees a second,
    /// uninformative one. Both are silenced and the cause comes first.
    #[test]
    fn panics_of_other_threads_are_captured_with_the_cause_first() {
        let result = catch_quietly_everywhere(|| {
            let worker = std::thread::spawn(|| -> u32 { panic!("Unable to load the driver - searched for [a, b]") });
            let joined = worker.join();
            joined.expect("the worker's result")
        });
        let messages = result.expect_err("the call panicked");
        assert_eq!(messages[0], "Unable to load the driver - searched for [a, b]");
        assert!(messages.len() >= 2, "{messages:?}");
        assert_eq!(QUIET_EVERYWHERE.load(Ordering::SeqCst), 0);
        assert_eq!(catch_quietly_everywhere(|| 5), Ok(5));
    }

    #[test]
    fn the_cause_is_one_line() {
        assert_eq!(
            cause(
                "Unable to dynamically load the \"cuda\" shared library - searched for library names: [\"libcuda.so\"]. Ensure that"
            ),
            "Unable to dynamically load the \"cuda\" shared library"
        );
        assert_eq!(
            cause(
                "Unable to acquire wgpu device: AdapterUnavailable { device: WgpuDevice { kind: DiscreteGpu(0) }, \
                 message: \"no adapter found on the requested graphics API\" }"
            ),
            "no adapter found on the requested graphics API"
        );
        assert_eq!(
            cause("Err { message: \"No GPU, adapters [Info { name: \\\"llvmpipe\\\" }]\" }"),
            "No GPU, adapters [Info { name: \"llvmpipe\" }]"
        );
        assert_eq!(cause("first\nsecond"), "first");
        assert_eq!(shorten(&"x".repeat(500), 200).chars().count(), 200);
        assert_eq!(shorten("short", 200), "short");
    }
}
