//! MPI collectives for loev: training across processes and machines, started by `mpirun` or
//! `srun`, one process (rank) per device.
//!
//! * **No MPI to build.** libmpi is opened at run time ([`World::init`]), from
//!   `LOEV_MPI_LIBRARY` if set, else by its usual names: `libmpi.so.40` (Open MPI 3 to 5), then
//!   the MPICH ABI family (`libmpi.so.12`, Debian's `libmpich.so.12`: MPICH, Intel MPI,
//!   MVAPICH, Cray MPICH), then `libmpi.so`. The README's build and test commands therefore
//!   need no MPI, and one binary runs with the MPI each cluster has. Both ABIs are spoken, each
//!   with its own handle types (`abi.rs`).
//! * **Host collectives.** [`World::allgather_f32`] (every rank's projections, so that every
//!   anchor sees every rank's views as negatives), [`World::allreduce_sum_f32`] (the parameter
//!   gradients), [`World::broadcast_bytes`] and [`World::barrier`]. Each MPI error becomes an
//!   [`MpiError::Call`] naming the call, the rank and MPI's text.
//! * **Refusing what cannot work**: a launcher whose world libmpi does not see
//!   ([`detect_launch`]), and ranks that run different builds or configurations
//!   ([`World::check_consistency`]).
//!
//! MPI is started in `MPI_THREAD_FUNNELED` mode: loev's other threads (data loading, burn's
//! kernels) never call MPI, and [`World`] is neither `Send` nor `Sync`, so only the thread that
//! started it can.

mod abi;
mod consistency;
pub mod fixtures;
mod launch;
mod library;

use std::cell::Cell;
use std::ffi::c_int;
use std::io::Write;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

pub use consistency::{Identity, executable_checksum};
pub use launch::{Launch, Launcher, SrunPlugin, detect_launch, launch_from};
pub use library::LIBRARY_VAR;

use abi::{Calls, Datatype, SUCCESS, THREAD_FUNNELED};

/// The most elements one MPI call takes: counts are C `int`s.
pub const MAX_COUNT: usize = c_int::MAX as usize;

/// Why an MPI operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MpiError {
    /// No libmpi could be opened.
    #[error("cannot load libmpi ({tried}); {}", not_found_hint(*.from_variable))]
    NotFound {
        /// Each library tried, with the loader's reason.
        tried: String,
        /// Whether the one library tried came from `LOEV_MPI_LIBRARY`.
        from_variable: bool,
    },
    /// A library was opened but cannot serve as libmpi.
    #[error("{library} cannot be used as libmpi: {reason}")]
    Unusable {
        /// The library's path or soname.
        library: String,
        /// Why.
        reason: String,
    },
    /// MPI was started in this process before; MPI allows it once per process.
    #[error("MPI has already been started in this process, and MPI can be started only once per process")]
    AlreadyStarted,
    /// An MPI call returned an error code.
    #[error("{}{call} failed: {message} (MPI error code {code})", rank_prefix(*.rank))]
    Call {
        /// The MPI function.
        call: &'static str,
        /// The calling rank, once known.
        rank: Option<usize>,
        /// MPI's error code.
        code: i32,
        /// MPI's text for the code.
        message: String,
    },
    /// libmpi does not offer the thread support loev needs.
    #[error(
        "{library} provides thread level {provided}, below MPI_THREAD_FUNNELED (1): loev runs data loading and \
         kernels on threads beside the one that calls MPI; use an MPI library built with thread support"
    )]
    ThreadLevel {
        /// The library.
        library: String,
        /// The level it provided.
        provided: i32,
    },
    /// The launcher started another world than the one libmpi sees.
    #[error("{0}")]
    Launch(String),
    /// A collective was called with arguments the ranks do not agree on, or that MPI cannot
    /// carry. Every rank sees the same arguments, so every rank returns this error.
    #[error("rank {rank}: {message}")]
    Usage {
        /// The rank that reports it.
        rank: usize,
        /// What is wrong.
        message: String,
    },
    /// An earlier MPI call failed, so the world cannot be used any more.
    #[error("rank {rank}: an earlier MPI call failed, so no further collective can run")]
    Broken {
        /// The rank that reports it.
        rank: usize,
    },
    /// The start-up check found ranks that differ ([`World::check_consistency`]).
    #[error("rank {rank}: {message}")]
    Mismatch {
        /// The rank that reports it (every rank does).
        rank: usize,
        /// Which ranks differ, and how.
        message: String,
    },
}

fn not_found_hint(from_variable: bool) -> &'static str {
    if from_variable {
        "check the path in LOEV_MPI_LIBRARY, or unset it to look for Open MPI or MPICH by their usual names"
    } else {
        "install Open MPI or MPICH (e.g. Debian's openmpi-bin), or set LOEV_MPI_LIBRARY to the path of libmpi.so"
    }
}

fn rank_prefix(rank: Option<usize>) -> String {
    rank.map(|r| format!("rank {r}: ")).unwrap_or_default()
}

/// How long [`World::abort`] waits for the launcher to forward this rank's last output.
const ABORT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Set once MPI has been started in this process.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Where a [`World`] stands, which decides what dropping it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In use. Dropped now, this rank leaves alone (an error only it saw, or an early return):
    /// the job is aborted, since the other ranks would wait for it in their next collective.
    Running,
    /// The last call was refused on every rank alike (ranks that differ, uneven lengths), so
    /// every rank knows, and dropping finalizes MPI.
    Refused,
    /// An MPI call failed: the other ranks may be gone or stuck, so dropping neither finalizes
    /// (which could wait for them forever) nor aborts; the launcher ends the job when this
    /// process exits.
    Failed,
    /// Finalized, or aborted.
    Done,
}

/// Elements that collectives carry.
trait Element: Copy + Default {
    const DATATYPE: Datatype;
}
impl Element for f32 {
    const DATATYPE: Datatype = Datatype::F32;
}
impl Element for u8 {
    const DATATYPE: Datatype = Datatype::Byte;
}

/// What an allgather returns: every rank's values, concatenated in rank order.
#[derive(Clone, Debug, PartialEq)]
pub struct Gathered<T> {
    /// The values of rank 0, then rank 1, ….
    pub values: Vec<T>,
    /// How many values each rank sent.
    pub counts: Vec<usize>,
}

impl<T> Gathered<T> {
    /// The values rank `rank` sent (empty for a rank that does not exist).
    pub fn of_rank(&self, rank: usize) -> &[T] {
        let start: usize = self.counts.iter().take(rank).sum();
        let count = self.counts.get(rank).copied().unwrap_or(0);
        self.values.get(start..start + count).unwrap_or(&[])
    }
}

/// The processes of one MPI job (`MPI_COMM_WORLD`), as seen from one of them.
///
/// Every collective must be called by every rank, in the same order, with arguments that fit
/// together; the methods check what they can (lengths, counts) and then fail on every rank
/// alike instead of leaving some ranks waiting.
///
/// How a rank leaves. `MPI_Finalize` waits for every other rank to finalize too, so a rank that
/// finalizes while the others wait in a collective hangs the whole job (seen with Open MPI
/// 4.1.4 and MPICH 4.0.2). Hence:
/// * on success, every rank calls [`World::finalize`];
/// * a rank that has to give up on its own (an error only it sees) prints why and calls
///   [`World::abort`], which ends every rank;
/// * dropping a `World` without either does what is safe: after an error that every rank
///   returned alike ([`MpiError::Mismatch`], uneven lengths) it finalizes; after a failed MPI
///   call it does nothing (the process exits and the launcher ends the job); otherwise — an
///   early return or a panic on this rank alone — it aborts the job, naming the rank on
///   standard error.
pub struct World {
    calls: Box<dyn Calls>,
    library: String,
    version: String,
    launch: Option<Launch>,
    rank: usize,
    size: usize,
    local_rank: usize,
    local_size: usize,
    host: String,
    max_count: usize,
    state: Cell<State>,
    /// MPI_THREAD_FUNNELED: only the thread that started MPI may call it.
    _funneled: PhantomData<*const ()>,
}

/// The error of MPI call `call` that returned `code`.
fn call_error(calls: &dyn Calls, call: &'static str, code: c_int, rank: Option<usize>) -> MpiError {
    MpiError::Call {
        call,
        rank,
        code,
        message: calls.error_string(code),
    }
}

/// A non-negative `int` from MPI as `usize`.
fn count(value: c_int) -> usize {
    usize::try_from(value).unwrap_or(0)
}

/// `len` elements cut into consecutive ranges of at most `max` (none for `len` = 0).
fn pieces(len: usize, max: usize) -> impl Iterator<Item = Range<usize>> {
    let max = max.max(1);
    (0..len.div_ceil(max)).map(move |i| i * max..((i + 1) * max).min(len))
}

/// A count or displacement that [`MAX_COUNT`] checks have bounded.
fn as_int(value: usize) -> c_int {
    c_int::try_from(value).unwrap_or(c_int::MAX)
}

impl World {
    /// Opens libmpi, starts MPI (`MPI_Init_thread`, `MPI_THREAD_FUNNELED`) and makes MPI
    /// errors return codes instead of ending the process, so that each becomes an
    /// [`MpiError::Call`].
    ///
    /// Call it when [`detect_launch`] finds a launcher: started without one, libmpi makes a
    /// world of one process. When the launcher says how many processes it started and libmpi
    /// sees another number, this fails with [`MpiError::Launch`] explaining why.
    pub fn init() -> Result<World, MpiError> {
        let launch = detect_launch();
        let loaded = library::load(launch.as_ref())?;
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(MpiError::AlreadyStarted);
        }
        let calls = loaded.calls;
        let mut initialized = 0;
        let code = calls.initialized(&mut initialized);
        if code != SUCCESS {
            return Err(call_error(calls.as_ref(), "MPI_Initialized", code, None));
        }
        if initialized != 0 {
            return Err(MpiError::AlreadyStarted);
        }
        let mut provided = 0;
        let code = calls.init_thread(THREAD_FUNNELED, &mut provided);
        if code != SUCCESS {
            return Err(call_error(calls.as_ref(), "MPI_Init_thread", code, None));
        }
        // From here on a failure leaves MPI started but not finalized: the process exits and
        // the launcher ends the job.
        let code = calls.errors_return();
        if code != SUCCESS {
            return Err(call_error(calls.as_ref(), "MPI_Comm_set_errhandler", code, None));
        }
        let (mut rank, mut size) = (0, 0);
        let code = calls.rank(&mut rank);
        if code != SUCCESS {
            return Err(call_error(calls.as_ref(), "MPI_Comm_rank", code, None));
        }
        let rank = count(rank);
        let code = calls.size(&mut size);
        if code != SUCCESS {
            return Err(call_error(calls.as_ref(), "MPI_Comm_size", code, Some(rank)));
        }
        let size = count(size);
        let (local_rank, local_size) = calls
            .node_rank_and_size(as_int(rank))
            .map_err(|(call, code)| call_error(calls.as_ref(), call, code, Some(rank)))?;
        let host = calls
            .processor_name()
            .map_err(|code| call_error(calls.as_ref(), "MPI_Get_processor_name", code, Some(rank)))?;
        // Every rank reaches the checks below alike (one library, one launcher), so a refusal
        // finalizes MPI on every rank as the world is dropped.
        let world = World {
            calls,
            library: loaded.name,
            version: loaded.version,
            launch,
            rank,
            size,
            local_rank: count(local_rank),
            local_size: count(local_size),
            host,
            max_count: MAX_COUNT,
            state: Cell::new(State::Running),
            _funneled: PhantomData,
        };
        if provided < THREAD_FUNNELED {
            return Err(world.refused(MpiError::ThreadLevel {
                library: world.library.clone(),
                provided,
            }));
        }
        if let Some(message) = world
            .launch
            .as_ref()
            .and_then(|launch| launch::disagreement(launch, rank, size, &world.library))
        {
            return Err(world.refused(MpiError::Launch(message)));
        }
        Ok(world)
    }

    /// This process's rank, 0 ≤ rank < [`World::size`].
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// This process's rank among the ranks on its machine: the device index to use.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    /// The number of ranks on this machine.
    pub fn local_size(&self) -> usize {
        self.local_size
    }

    /// This machine's name (`MPI_Get_processor_name`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The libmpi in use, as it was opened (a soname or `LOEV_MPI_LIBRARY`).
    pub fn library(&self) -> &str {
        &self.library
    }

    /// The first line of `MPI_Get_library_version`.
    pub fn library_version(&self) -> &str {
        self.version.lines().next().unwrap_or("")
    }

    /// The library's binary interface: "Open MPI" or "MPICH ABI".
    pub fn abi(&self) -> &'static str {
        self.calls.abi()
    }

    /// What the launcher said about this process, if a launcher started it.
    pub fn launch(&self) -> Option<&Launch> {
        self.launch.as_ref()
    }

    /// Limits the elements per MPI call (at most [`MAX_COUNT`], the default). Longer buffers
    /// are sent in pieces. Smaller pieces bound the scratch memory some libraries allocate per
    /// call; the tests use them to exercise the splitting. Ranks may set different limits: each
    /// collective agrees on one.
    pub fn set_max_count(&mut self, count: usize) -> Result<(), MpiError> {
        if count == 0 || count > MAX_COUNT {
            return Err(self.usage(format!("elements per MPI call must be 1 to {MAX_COUNT}, not {count}")));
        }
        self.max_count = count;
        Ok(())
    }

    fn usage(&self, message: String) -> MpiError {
        MpiError::Usage {
            rank: self.rank,
            message,
        }
    }

    /// The start of every collective: refuses to go on after a failed MPI call.
    fn enter(&self) -> Result<(), MpiError> {
        match self.state.get() {
            State::Failed | State::Done => Err(MpiError::Broken { rank: self.rank }),
            State::Running | State::Refused => {
                self.state.set(State::Running);
                Ok(())
            }
        }
    }

    /// An error that every rank returns alike, having seen the same gathered values.
    fn refused(&self, error: MpiError) -> MpiError {
        self.state.set(State::Refused);
        error
    }

    /// Turns an MPI return code into a result; a failure marks the world failed.
    fn check(&self, call: &'static str, code: c_int) -> Result<(), MpiError> {
        if code == SUCCESS {
            return Ok(());
        }
        self.state.set(State::Failed);
        Err(call_error(self.calls.as_ref(), call, code, Some(self.rank)))
    }

    /// Every rank's pair of numbers (lengths, limits), gathered as bytes.
    fn gather_pairs(&self, mine: [usize; 2]) -> Result<Vec<[usize; 2]>, MpiError> {
        let mut send = [0u8; 16];
        send[..8].copy_from_slice(&(mine[0] as u64).to_le_bytes());
        send[8..].copy_from_slice(&(mine[1] as u64).to_le_bytes());
        let mut receive = vec![0u8; 16 * self.size];
        // SAFETY: 16 bytes sent, 16 per rank received.
        let code = unsafe {
            self.calls
                .allgather(send.as_ptr().cast(), 16, Datatype::Byte, receive.as_mut_ptr().cast())
        };
        self.check("MPI_Allgather", code)?;
        let number = |bytes: &[u8]| {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            usize::try_from(u64::from_le_bytes(word)).unwrap_or(usize::MAX)
        };
        Ok(receive
            .chunks_exact(16)
            .map(|pair| [number(&pair[..8]), number(&pair[8..])])
            .collect())
    }

    /// Gathers every rank's `mine` (any length, possibly empty, possibly different per rank)
    /// on every rank.
    fn allgather<T: Element>(&self, mine: &[T]) -> Result<Gathered<T>, MpiError> {
        self.enter()?;
        let counts: Vec<usize> = self
            .gather_pairs([mine.len(), 0])?
            .into_iter()
            .map(|[n, _]| n)
            .collect();
        let total = counts.iter().try_fold(0usize, |sum, &n| sum.checked_add(n));
        let total = match total {
            Some(total) if total <= MAX_COUNT => total,
            _ => {
                return Err(self.refused(self.usage(format!(
                    "an allgather of {counts:?} elements per rank exceeds MPI's {MAX_COUNT} elements per call"
                ))));
            }
        };
        let mut values = vec![T::default(); total];
        if total > 0 {
            let ints: Vec<c_int> = counts.iter().map(|&n| as_int(n)).collect();
            let displacements: Vec<c_int> = counts
                .iter()
                .scan(0usize, |start, &n| {
                    let here = *start;
                    *start += n;
                    Some(as_int(here))
                })
                .collect();
            // SAFETY: `mine` holds its length, `values` the sum of every rank's length, and the
            // counts and displacements have one entry per rank.
            let code = unsafe {
                self.calls.allgatherv(
                    mine.as_ptr().cast(),
                    as_int(mine.len()),
                    T::DATATYPE,
                    values.as_mut_ptr().cast(),
                    &ints,
                    &displacements,
                )
            };
            self.check("MPI_Allgatherv", code)?;
        }
        Ok(Gathered { values, counts })
    }

    /// Gathers every rank's `mine` on every rank, in rank order. Ranks may send different
    /// numbers of values (none too); together at most [`MAX_COUNT`].
    pub fn allgather_f32(&self, mine: &[f32]) -> Result<Gathered<f32>, MpiError> {
        self.allgather(mine)
    }

    /// [`World::allgather_f32`] for bytes.
    pub fn allgather_bytes(&self, mine: &[u8]) -> Result<Gathered<u8>, MpiError> {
        self.allgather(mine)
    }

    /// Replaces `values` on every rank by their element-wise sum over the ranks
    /// (`MPI_Allreduce`, `MPI_IN_PLACE`). Every rank must pass the same length; this is checked
    /// first, so a mismatch is an error on every rank rather than a hang or a silent truncation.
    /// Buffers longer than one call can carry go in pieces.
    pub fn allreduce_sum_f32(&self, values: &mut [f32]) -> Result<(), MpiError> {
        self.enter()?;
        let pairs = self.gather_pairs([values.len(), self.max_count])?;
        if pairs.iter().any(|&[len, _]| len != values.len()) {
            let lengths: Vec<String> = pairs
                .iter()
                .enumerate()
                .map(|(rank, [len, _])| format!("rank {rank}: {len}"))
                .collect();
            return Err(self.refused(self.usage(format!(
                "an allreduce needs the same number of values on every rank, but the ranks passed {}",
                lengths.join(", ")
            ))));
        }
        let piece = pairs.iter().map(|&[_, max]| max).min().unwrap_or(self.max_count);
        for range in pieces(values.len(), piece) {
            let len = range.len();
            let chunk = &mut values[range];
            // SAFETY: `chunk` holds `len` floats.
            let code = unsafe {
                self.calls
                    .allreduce_sum_in_place(chunk.as_mut_ptr().cast(), as_int(len), Datatype::F32)
            };
            self.check("MPI_Allreduce", code)?;
        }
        Ok(())
    }

    /// Sends rank `root`'s `bytes` to every rank and returns them (`MPI_Bcast`); the other
    /// ranks' `bytes` are ignored. Their length comes from the root.
    pub fn broadcast_bytes(&self, root: usize, bytes: &[u8]) -> Result<Vec<u8>, MpiError> {
        self.enter()?;
        if root >= self.size {
            return Err(self.usage(format!(
                "broadcast from rank {root}, but the world has {} ranks",
                self.size
            )));
        }
        // The root's length and piece size, so that every rank cuts the same pieces.
        let mut header = [0u8; 16];
        header[..8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        header[8..].copy_from_slice(&(self.max_count as u64).to_le_bytes());
        // SAFETY: 16 bytes on every rank.
        let code = unsafe {
            self.calls
                .broadcast(header.as_mut_ptr().cast(), 16, Datatype::Byte, as_int(root))
        };
        self.check("MPI_Bcast", code)?;
        let number = |bytes: &[u8]| {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            usize::try_from(u64::from_le_bytes(word)).unwrap_or(usize::MAX)
        };
        let (len, piece) = (number(&header[..8]), number(&header[8..]));
        let mut buffer = if self.rank == root {
            bytes.to_vec()
        } else {
            vec![0u8; len]
        };
        for range in pieces(len, piece) {
            let len = range.len();
            let chunk = &mut buffer[range];
            // SAFETY: `chunk` holds `len` bytes on every rank.
            let code = unsafe {
                self.calls
                    .broadcast(chunk.as_mut_ptr().cast(), as_int(len), Datatype::Byte, as_int(root))
            };
            self.check("MPI_Bcast", code)?;
        }
        Ok(buffer)
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) -> Result<(), MpiError> {
        self.enter()?;
        let code = self.calls.barrier();
        self.check("MPI_Barrier", code)
    }

    /// Checks that every rank runs the same loev (version and executable) on the same
    /// configuration (`config_digest`, e.g. FNV-1a 64 of the resolved configuration). On a
    /// mismatch every rank returns [`MpiError::Mismatch`], naming the ranks on each side, and
    /// may finalize normally: they all know.
    pub fn check_consistency(&self, config_digest: u64) -> Result<(), MpiError> {
        let identity = Identity::of_this_process(config_digest, &self.host);
        let gathered = self.allgather_bytes(&identity.encode())?;
        let encoded: Vec<Vec<u8>> = (0..self.size).map(|rank| gathered.of_rank(rank).to_vec()).collect();
        consistency::compare(&encoded).map_err(|message| {
            self.refused(MpiError::Mismatch {
                rank: self.rank,
                message,
            })
        })
    }

    /// Ends every process of the job with exit code `code` (`MPI_Abort`). For a rank that
    /// cannot go on while the others can: it must not wait for them in `MPI_Finalize`.
    ///
    /// Standard output and error are flushed first, and the launcher is given a moment to
    /// forward them: an abort tears the job down at once, and MPICH's Hydra then drops the
    /// lines it has not forwarded yet (here 1 run in 20 lost the aborting rank's reason).
    pub fn abort(&self, code: i32) -> ! {
        self.state.set(State::Done);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        std::thread::sleep(ABORT_GRACE);
        self.calls.abort(code);
        // MPI_Abort does not return; should a library return anyway, the process still ends.
        std::process::exit(code)
    }

    /// Finalizes MPI (`MPI_Finalize`), reporting an error; dropping does the same silently.
    pub fn finalize(self) -> Result<(), MpiError> {
        self.state.set(State::Done);
        let code = self.calls.finalize();
        if code == SUCCESS {
            Ok(())
        } else {
            Err(call_error(self.calls.as_ref(), "MPI_Finalize", code, Some(self.rank)))
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        match self.state.get() {
            State::Refused => {
                self.state.set(State::Done);
                let _ = self.calls.finalize();
            }
            State::Running => {
                eprintln!(
                    "rank {}: leaving MPI without finalizing (an error or early return on this rank alone); \
                     aborting the job so that the other ranks do not wait for it",
                    self.rank
                );
                self.abort(1);
            }
            State::Failed | State::Done => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_buffer_in_order() {
        let cut = |len, max| pieces(len, max).collect::<Vec<_>>();
        assert_eq!(cut(10, 3), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(cut(6, 3), vec![0..3, 3..6]);
        assert_eq!(cut(2, MAX_COUNT), vec![0..2]);
        assert!(cut(0, 3).is_empty());
    }

    #[test]
    fn gathered_values_are_found_by_rank() {
        let gathered = Gathered {
            values: vec![1.0, 2.0, 3.0],
            counts: vec![1, 0, 2],
        };
        assert_eq!(gathered.of_rank(0), &[1.0]);
        assert!(gathered.of_rank(1).is_empty());
        assert_eq!(gathered.of_rank(2), &[2.0, 3.0]);
        assert!(gathered.of_rank(3).is_empty());
    }
}
