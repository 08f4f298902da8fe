//! Standard output and error that outlive their reader, and whose failures never crash a run.
//!
//! Rust ignores SIGPIPE, so once the reader of a pipe has gone (`loev pretrain … 2>&1 | head`)
//! every write to it fails with EPIPE; a full disk (`> /mnt/full/log`, `> /dev/full`) fails
//! every write with ENOSPC. `println!` / `eprintln!` panic on a failed write, and those macros
//! run everywhere — in the commands, in the library crates (the trainer's status lines), in the
//! panic hook — so guarding each call would miss some; restoring SIGPIPE's default action would
//! kill the run instead. Neither a closed pipe nor a full disk may end a training run or an
//! embedding after its work is done.
//!
//! So, when stdout or stderr is anything but a terminal (a pipe, a socket, a file, a device),
//! [`keep_writing_after_the_reader_closes`] puts a pipe of our own in its place and a thread
//! copies everything from it to the real destination. Writes into our pipe always succeed
//! because the thread keeps reading; when the real destination fails, the thread stops
//! forwarding and discards the rest. A closed pipe is the reader's choice and is not reported;
//! any other failure is, by [`OutputGuard::finish`], so that the command can say what was lost
//! and exit with an error. Terminals are left as they are (so `is_terminal` checks and progress
//! bars behave as before). When stdout and stderr are the same file (`2>&1`), one relay serves
//! both, which keeps their order. Finishing the guard flushes everything still in flight and
//! puts the original descriptors back.

use std::io;

/// A destination that failed for another reason than a closed pipe.
#[derive(Debug)]
pub struct OutputFailure {
    /// "standard output", "standard error" or both.
    pub streams: &'static str,
    /// The first write error.
    pub error: io::Error,
}

/// Restores stdout / stderr and waits for the relays to forward what was written. Keep it alive
/// for the whole command and drop it before exiting.
#[must_use = "dropping the guard restores the original stdout / stderr"]
pub struct OutputGuard {
    #[cfg(unix)]
    relays: Vec<unix::Relay>,
}

/// Installs the relays (see the module documentation). Never fails: if a relay cannot be set
/// up, that stream stays as it was.
pub fn keep_writing_after_the_reader_closes() -> OutputGuard {
    OutputGuard {
        #[cfg(unix)]
        relays: unix::install(),
    }
}

impl OutputGuard {
    /// Forwards what is still in flight, restores stdout / stderr, and returns the first
    /// failure of a destination other than a closed pipe, if any.
    pub fn finish(mut self) -> Option<OutputFailure> {
        self.finish_relays()
    }

    fn finish_relays(&mut self) -> Option<OutputFailure> {
        use std::io::Write;
        // stdout is line-buffered in the process: push the rest into the relay first.
        let _ = std::io::stdout().flush();
        let mut failure = None;
        #[cfg(unix)]
        for relay in self.relays.drain(..) {
            if let Some(f) = relay.finish() {
                failure.get_or_insert(f);
            }
        }
        failure
    }
}

impl Drop for OutputGuard {
    fn drop(&mut self) {
        let _ = self.finish_relays();
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{ErrorKind, IsTerminal, PipeReader, Read, Write};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
    use std::os::unix::fs::MetadataExt;
    use std::thread::JoinHandle;

    use super::OutputFailure;

    const STDOUT: RawFd = 1;
    const STDERR: RawFd = 2;

    unsafe extern "C" {
        /// POSIX `dup2`: makes `new` refer to the open file of `old` (closing `new` first).
        fn dup2(old: RawFd, new: RawFd) -> RawFd;
    }

    /// One relay: the standard descriptors it replaced, their original files, and its thread.
    pub(super) struct Relay {
        /// `(descriptor, a duplicate of what it was)` for each descriptor served.
        replaced: Vec<(RawFd, OwnedFd)>,
        /// The first write error other than a closed pipe.
        thread: JoinHandle<Option<std::io::Error>>,
    }

    impl Relay {
        /// Puts the original files back (closing our pipe's write ends, so that the thread
        /// sees end-of-file once it has forwarded everything), waits for the thread and
        /// returns its destination's failure, if any.
        pub(super) fn finish(self) -> Option<OutputFailure> {
            for (fd, original) in &self.replaced {
                // SAFETY: both are open descriptors of this process; dup2 only changes what
                // `fd` refers to.
                unsafe { dup2(original.as_raw_fd(), *fd) };
            }
            let error = self.thread.join().ok().flatten()?;
            let fds: Vec<RawFd> = self.replaced.iter().map(|(fd, _)| *fd).collect();
            let streams = match fds.as_slice() {
                [STDOUT] => "standard output",
                [STDERR] => "standard error",
                _ => "standard output and error",
            };
            Some(OutputFailure { streams, error })
        }
    }

    /// A duplicate of `fd` when it is not a terminal, with its (device, inode) identity.
    fn relayed_destination(fd: BorrowedFd<'_>) -> Option<(File, (u64, u64))> {
        if fd.is_terminal() {
            return None;
        }
        let file = File::from(fd.try_clone_to_owned().ok()?);
        let meta = file.metadata().ok()?;
        Some((file, (meta.dev(), meta.ino())))
    }

    pub(super) fn install() -> Vec<Relay> {
        let out = relayed_destination(std::io::stdout().as_fd());
        let err = relayed_destination(std::io::stderr().as_fd());
        match (out, err) {
            (Some((out, a)), Some((_, b))) if a == b => relay(out, &[STDOUT, STDERR]).into_iter().collect(),
            (out, err) => [
                out.and_then(|(f, _)| relay(f, &[STDOUT])),
                err.and_then(|(f, _)| relay(f, &[STDERR])),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    /// Replaces `fds` by the write end of a new pipe whose contents a thread copies to
    /// `destination`.
    fn relay(destination: File, fds: &[RawFd]) -> Option<Relay> {
        let (reader, writer) = std::io::pipe().ok()?;
        let mut replaced = Vec::with_capacity(fds.len());
        for &fd in fds {
            // SAFETY: `fd` is a standard descriptor of this process, open (it was just
            // inspected), and borrowed only for the duplicate.
            let original = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned().ok()?;
            replaced.push((fd, original));
        }
        let thread = std::thread::Builder::new()
            .name(format!("output relay {fds:?}"))
            .spawn(move || forward(reader, destination))
            .ok()?;
        for &fd in fds {
            // SAFETY: both descriptors are open; this makes `fd` our pipe's write end. The
            // original stays reachable through the duplicate in `replaced`.
            unsafe { dup2(writer.as_raw_fd(), fd) };
        }
        // `fds` now hold the write end; the thread ends when the last of them is closed.
        drop(writer);
        Some(Relay { replaced, thread })
    }

    /// Copies `reader` to `destination` until end-of-file; after the first failed write
    /// (the reader went away, the disk is full) it keeps reading and discards. Returns that
    /// failure unless it was a closed pipe.
    fn forward(mut reader: PipeReader, mut destination: File) -> Option<std::io::Error> {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut open = true;
        let mut failure = None;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return failure,
                Ok(n) => {
                    if open && let Err(e) = destination.write_all(&buffer[..n]) {
                        open = false;
                        if e.kind() != ErrorKind::BrokenPipe {
                            failure = Some(e);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return failure,
            }
        }
    }
}
