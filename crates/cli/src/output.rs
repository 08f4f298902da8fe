//! Standard output and error that outlive their reader.
//!
//! Rust ignores SIGPIPE, so once the reader of a pipe has gone (`loev pretrain … 2>&1 | head`)
//! every write to it fails with EPIPE, and `println!` / `eprintln!` panic on a failed write.
//! Those macros run everywhere — in the commands, in the library crates (the trainer's status
//! lines), in the panic hook — so guarding each call would miss some; restoring SIGPIPE's
//! default action would kill the run instead. A closed pipe must never end a training run.
//!
//! So, when stdout or stderr is a pipe or a socket (the only destinations whose reader can
//! vanish), [`keep_writing_after_the_reader_closes`] puts a pipe of our own in its place and a
//! thread copies everything from it to the real destination. Writes into our pipe always
//! succeed because the thread keeps reading; when the real destination fails, the thread stops
//! forwarding and discards the rest. Terminals and files are left as they are (so `is_terminal`
//! checks and progress bars behave as before). When stdout and stderr are the same pipe
//! (`2>&1`), one relay serves both, which keeps their order. Dropping the returned guard
//! flushes everything still in flight and puts the original descriptors back.

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

impl Drop for OutputGuard {
    fn drop(&mut self) {
        use std::io::Write;
        // stdout is line-buffered in the process: push the rest into the relay first.
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        for relay in self.relays.drain(..) {
            relay.finish();
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{ErrorKind, PipeReader, Read, Write};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::thread::JoinHandle;

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
        thread: JoinHandle<()>,
    }

    impl Relay {
        /// Puts the original files back (closing our pipe's write ends, so that the thread
        /// sees end-of-file once it has forwarded everything) and waits for the thread.
        pub(super) fn finish(self) {
            for (fd, original) in &self.replaced {
                // SAFETY: both are open descriptors of this process; dup2 only changes what
                // `fd` refers to.
                unsafe { dup2(original.as_raw_fd(), *fd) };
            }
            let _ = self.thread.join();
        }
    }

    /// A duplicate of `fd` when it is a pipe or a socket, with its (device, inode) identity.
    fn pipe_destination(fd: BorrowedFd<'_>) -> Option<(File, (u64, u64))> {
        let file = File::from(fd.try_clone_to_owned().ok()?);
        let meta = file.metadata().ok()?;
        let kind = meta.file_type();
        (kind.is_fifo() || kind.is_socket()).then(|| (file, (meta.dev(), meta.ino())))
    }

    pub(super) fn install() -> Vec<Relay> {
        let out = pipe_destination(std::io::stdout().as_fd());
        let err = pipe_destination(std::io::stderr().as_fd());
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
    /// (the reader of the destination went away) it keeps reading and discards.
    fn forward(mut reader: PipeReader, mut destination: File) {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut open = true;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    if open && destination.write_all(&buffer[..n]).is_err() {
                        open = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}
