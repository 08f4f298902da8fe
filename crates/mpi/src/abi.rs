//! The two binary interfaces of libmpi, and the function table loev calls through.
//!
//! The MPI standard fixes function names and C signatures, but not what a handle
//! (`MPI_Comm`, `MPI_Datatype`, `MPI_Op`, …) is. Two interfaces cover the libraries that
//! clusters run:
//!
//! * **Open MPI** (`libmpi.so.40`, Open MPI 3 to 5): a handle is a pointer, the address of a
//!   global object that libmpi exports, e.g. `MPI_COMM_WORLD` is `&ompi_mpi_comm_world`
//!   (`mpi.h`: `OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`). They are resolved
//!   with `dlsym`.
//! * **The MPICH ABI** (`libmpi.so.12`: MPICH, Intel MPI, MVAPICH, Cray MPICH; Debian names
//!   MPICH's library `libmpich.so.12`): a handle is a C `int`, and the predefined ones are
//!   fixed constants written in `mpi.h`.
//!
//! Every constant below was read from the headers of Debian 12's `libopenmpi-dev` 4.1.4
//! (`/usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h`) and `libmpich-dev` 4.0.2
//! (`/usr/include/x86_64-linux-gnu/mpich/mpi.h` and `mpi_proto.h`). The function signatures
//! are the same in both headers except for the handle types, so one table, generic over
//! [`Abi`], types every function pointer exactly for its library.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::mem::MaybeUninit;

use libloading::Library;

/// `MPI_SUCCESS`: 0 in both headers.
pub(crate) const SUCCESS: c_int = 0;
/// `MPI_THREAD_FUNNELED`: 1 in both headers (Open MPI: the second member of an enum that starts
/// at `MPI_THREAD_SINGLE` = 0; MPICH: `#define MPI_THREAD_FUNNELED 1`).
pub(crate) const THREAD_FUNNELED: c_int = 1;
/// A buffer for `MPI_Error_string`, `MPI_Get_processor_name` and `MPI_Get_library_version`: at
/// least each library's `MPI_MAX_ERROR_STRING` (Open MPI 256, MPICH 512),
/// `MPI_MAX_PROCESSOR_NAME` (256, 128) and `MPI_MAX_LIBRARY_VERSION_STRING` (256, 8192).
pub(crate) const TEXT_CAPACITY: usize = 8192;

/// The element types loev sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Datatype {
    /// `MPI_FLOAT` (a C `float`, Rust's `f32`).
    F32,
    /// `MPI_BYTE` (raw bytes, never converted).
    Byte,
}

/// The handle types and predefined handles of one libmpi interface.
pub(crate) trait Abi: 'static {
    /// `MPI_Comm`.
    type Comm: Copy;
    /// `MPI_Datatype`.
    type Datatype: Copy;
    /// `MPI_Op`.
    type Op: Copy;
    /// `MPI_Errhandler`.
    type Errhandler: Copy;
    /// `MPI_Info`.
    type Info: Copy;
    /// The interface's name, for messages.
    const NAME: &'static str;
    /// `MPI_COMM_TYPE_SHARED`.
    const COMM_TYPE_SHARED: c_int;
    /// `MPI_IN_PLACE`.
    fn in_place() -> *mut c_void;
    /// The predefined handles loev uses.
    fn handles(library: &Library) -> Result<Handles<Self>, String>
    where
        Self: Sized;
}

/// The predefined handles loev uses.
pub(crate) struct Handles<A: Abi> {
    pub world: A::Comm,
    pub float: A::Datatype,
    pub byte: A::Datatype,
    pub sum: A::Op,
    pub errors_return: A::Errhandler,
    pub info_null: A::Info,
}

/// Open MPI's handles: pointers to objects that stay opaque to loev.
pub(crate) enum OpenMpi {}

/// Declares types that stand for Open MPI's C structs, which loev only ever points to.
macro_rules! opaque {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[repr(C)]
        pub(crate) struct $name {
            _opaque: [u8; 0],
        }
    )*};
}

opaque! {
    /// `struct ompi_communicator_t`.
    OmpiCommunicator;
    /// `struct ompi_datatype_t`.
    OmpiDatatype;
    /// `struct ompi_op_t`.
    OmpiOp;
    /// `struct ompi_errhandler_t`.
    OmpiErrhandler;
    /// `struct ompi_info_t`.
    OmpiInfo;
}

/// The address of the global object `name` that libmpi exports.
fn global<T>(library: &Library, name: &CStr) -> Result<*mut T, String> {
    // SAFETY: a data symbol is looked up as a pointer to it; the pointer is only ever passed
    // back to libmpi, never read or written here.
    let symbol = unsafe { library.get::<*mut T>(name) }.map_err(|e| format!("{}: {}", name.to_string_lossy(), e))?;
    Ok(*symbol)
}

impl Abi for OpenMpi {
    type Comm = *mut OmpiCommunicator;
    type Datatype = *mut OmpiDatatype;
    type Op = *mut OmpiOp;
    type Errhandler = *mut OmpiErrhandler;
    type Info = *mut OmpiInfo;
    const NAME: &'static str = "Open MPI";
    /// The first member of the split-type enum (`enum { MPI_COMM_TYPE_SHARED, … }`).
    const COMM_TYPE_SHARED: c_int = 0;

    /// `#define MPI_IN_PLACE ((void *) 1)`.
    fn in_place() -> *mut c_void {
        std::ptr::without_provenance_mut(1)
    }

    fn handles(library: &Library) -> Result<Handles<Self>, String> {
        Ok(Handles {
            world: global(library, c"ompi_mpi_comm_world")?,
            float: global(library, c"ompi_mpi_float")?,
            byte: global(library, c"ompi_mpi_byte")?,
            sum: global(library, c"ompi_mpi_op_sum")?,
            errors_return: global(library, c"ompi_mpi_errors_return")?,
            info_null: global(library, c"ompi_mpi_info_null")?,
        })
    }
}

/// The MPICH ABI: every handle is a C `int`.
pub(crate) enum Mpich {}

impl Abi for Mpich {
    type Comm = c_int;
    type Datatype = c_int;
    type Op = c_int;
    type Errhandler = c_int;
    type Info = c_int;
    const NAME: &'static str = "MPICH ABI";
    /// `#define MPI_COMM_TYPE_SHARED 1`.
    const COMM_TYPE_SHARED: c_int = 1;

    /// `#define MPI_IN_PLACE (void *) -1`.
    fn in_place() -> *mut c_void {
        std::ptr::without_provenance_mut(usize::MAX)
    }

    /// `typedef int MPI_Comm;` and friends, with the constants of `mpi.h`.
    fn handles(_: &Library) -> Result<Handles<Self>, String> {
        Ok(Handles {
            // #define MPI_COMM_WORLD ((MPI_Comm)0x44000000)
            world: 0x4400_0000,
            // #define MPI_FLOAT ((MPI_Datatype)0x4c00040a)
            float: 0x4c00_040a,
            // #define MPI_BYTE ((MPI_Datatype)0x4c00010d)
            byte: 0x4c00_010d,
            // #define MPI_SUM (MPI_Op)(0x58000003)
            sum: 0x5800_0003,
            // #define MPI_ERRORS_RETURN ((MPI_Errhandler)0x54000001)
            errors_return: 0x5400_0001,
            // #define MPI_INFO_NULL ((MPI_Info)0x1c000000)
            info_null: 0x1c00_0000,
        })
    }
}

/// The libmpi functions loev calls, typed for the handles of `A`. Signatures as in `mpi.h`.
pub(crate) struct Functions<A: Abi> {
    init_thread: unsafe extern "C" fn(*mut c_int, *mut *mut *mut c_char, c_int, *mut c_int) -> c_int,
    initialized: unsafe extern "C" fn(*mut c_int) -> c_int,
    finalize: unsafe extern "C" fn() -> c_int,
    abort: unsafe extern "C" fn(A::Comm, c_int) -> c_int,
    comm_rank: unsafe extern "C" fn(A::Comm, *mut c_int) -> c_int,
    comm_size: unsafe extern "C" fn(A::Comm, *mut c_int) -> c_int,
    comm_set_errhandler: unsafe extern "C" fn(A::Comm, A::Errhandler) -> c_int,
    comm_split_type: unsafe extern "C" fn(A::Comm, c_int, c_int, A::Info, *mut A::Comm) -> c_int,
    comm_free: unsafe extern "C" fn(*mut A::Comm) -> c_int,
    allgather:
        unsafe extern "C" fn(*const c_void, c_int, A::Datatype, *mut c_void, c_int, A::Datatype, A::Comm) -> c_int,
    allgatherv: unsafe extern "C" fn(
        *const c_void,
        c_int,
        A::Datatype,
        *mut c_void,
        *const c_int,
        *const c_int,
        A::Datatype,
        A::Comm,
    ) -> c_int,
    allreduce: unsafe extern "C" fn(*const c_void, *mut c_void, c_int, A::Datatype, A::Op, A::Comm) -> c_int,
    bcast: unsafe extern "C" fn(*mut c_void, c_int, A::Datatype, c_int, A::Comm) -> c_int,
    barrier: unsafe extern "C" fn(A::Comm) -> c_int,
    error_string: unsafe extern "C" fn(c_int, *mut c_char, *mut c_int) -> c_int,
    get_processor_name: unsafe extern "C" fn(*mut c_char, *mut c_int) -> c_int,
}

/// Looks up the function `name`.
///
/// # Safety
/// `F` must be the function's exact C signature.
unsafe fn function<F: Copy>(library: &Library, name: &CStr) -> Result<F, String> {
    // SAFETY: the caller gives the signature; the library is never unloaded (see `library.rs`),
    // so the copied pointer stays valid for the life of the process.
    unsafe { library.get::<F>(name) }
        .map(|symbol| *symbol)
        .map_err(|e| format!("{}: {}", name.to_string_lossy(), e))
}

impl<A: Abi> Functions<A> {
    fn load(library: &Library) -> Result<Self, String> {
        // SAFETY: each type is the signature `mpi.h` declares for the name, with `A`'s handles.
        unsafe {
            Ok(Self {
                init_thread: function(library, c"MPI_Init_thread")?,
                initialized: function(library, c"MPI_Initialized")?,
                finalize: function(library, c"MPI_Finalize")?,
                abort: function(library, c"MPI_Abort")?,
                comm_rank: function(library, c"MPI_Comm_rank")?,
                comm_size: function(library, c"MPI_Comm_size")?,
                comm_set_errhandler: function(library, c"MPI_Comm_set_errhandler")?,
                comm_split_type: function(library, c"MPI_Comm_split_type")?,
                comm_free: function(library, c"MPI_Comm_free")?,
                allgather: function(library, c"MPI_Allgather")?,
                allgatherv: function(library, c"MPI_Allgatherv")?,
                allreduce: function(library, c"MPI_Allreduce")?,
                bcast: function(library, c"MPI_Bcast")?,
                barrier: function(library, c"MPI_Barrier")?,
                error_string: function(library, c"MPI_Error_string")?,
                get_processor_name: function(library, c"MPI_Get_processor_name")?,
            })
        }
    }
}

/// `MPI_Get_library_version`, the one function loev calls before it knows the interface (its
/// signature has no handle, and MPI allows it before `MPI_Init`).
pub(crate) fn library_version(library: &Library) -> Result<String, String> {
    // SAFETY: `int MPI_Get_library_version(char *version, int *resultlen)` in both headers.
    let get: unsafe extern "C" fn(*mut c_char, *mut c_int) -> c_int =
        unsafe { function(library, c"MPI_Get_library_version")? };
    let mut text = vec![0u8; TEXT_CAPACITY];
    let mut len: c_int = 0;
    // SAFETY: the buffer holds TEXT_CAPACITY bytes, at least MPI_MAX_LIBRARY_VERSION_STRING.
    let code = unsafe { get(text.as_mut_ptr().cast(), &mut len) };
    if code != SUCCESS {
        return Err(format!("MPI_Get_library_version returned error code {code}"));
    }
    Ok(text_of(&text, len))
}

/// The text MPI wrote into `buffer` (`len` bytes, or up to the first NUL).
fn text_of(buffer: &[u8], len: c_int) -> String {
    let len = usize::try_from(len).unwrap_or(0).min(buffer.len());
    let text = &buffer[..len];
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    String::from_utf8_lossy(&text[..end]).trim().to_string()
}

/// Whether `library` is Open MPI: it exports Open MPI's predefined communicator object.
pub(crate) fn is_open_mpi(library: &Library) -> bool {
    global::<c_void>(library, c"ompi_mpi_comm_world").is_ok()
}

/// One libmpi's functions and handles, behind an interface without handle types, so that the
/// rest of the crate is written once for both ABIs. Every method returns MPI's error code.
pub(crate) trait Calls {
    /// The interface's name, for messages.
    fn abi(&self) -> &'static str;
    fn init_thread(&self, required: c_int, provided: &mut c_int) -> c_int;
    fn initialized(&self, flag: &mut c_int) -> c_int;
    fn finalize(&self) -> c_int;
    fn abort(&self, code: c_int) -> c_int;
    fn rank(&self, rank: &mut c_int) -> c_int;
    fn size(&self, size: &mut c_int) -> c_int;
    fn errors_return(&self) -> c_int;
    /// This node's rank and size (the processes sharing memory with this one), split off
    /// `MPI_COMM_WORLD` by `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)` and freed again. The
    /// first failing call is named.
    fn node_rank_and_size(&self, key: c_int) -> Result<(c_int, c_int), (&'static str, c_int)>;
    /// `MPI_Allgather` of `count` elements per rank.
    ///
    /// # Safety
    /// `send` holds `count` elements of `datatype`, `receive` `count × size` of them.
    unsafe fn allgather(&self, send: *const c_void, count: c_int, datatype: Datatype, receive: *mut c_void) -> c_int;
    /// `MPI_Allgatherv`.
    ///
    /// # Safety
    /// `send` holds `count` elements, `counts` and `displacements` one entry per rank, and
    /// `receive` the sum of `counts`.
    unsafe fn allgatherv(
        &self,
        send: *const c_void,
        count: c_int,
        datatype: Datatype,
        receive: *mut c_void,
        counts: &[c_int],
        displacements: &[c_int],
    ) -> c_int;
    /// `MPI_Allreduce(MPI_IN_PLACE, …, MPI_SUM)`.
    ///
    /// # Safety
    /// `buffer` holds `count` elements of `datatype`.
    unsafe fn allreduce_sum_in_place(&self, buffer: *mut c_void, count: c_int, datatype: Datatype) -> c_int;
    /// `MPI_Bcast`.
    ///
    /// # Safety
    /// `buffer` holds `count` elements of `datatype`.
    unsafe fn broadcast(&self, buffer: *mut c_void, count: c_int, datatype: Datatype, root: c_int) -> c_int;
    fn barrier(&self) -> c_int;
    /// MPI's text for an error code (empty if it has none).
    fn error_string(&self, code: c_int) -> String;
    /// `MPI_Get_processor_name` (the host name, for most libraries).
    fn processor_name(&self) -> Result<String, c_int>;
}

/// A libmpi's functions and handles for its ABI `A`.
pub(crate) struct Bound<A: Abi> {
    functions: Functions<A>,
    handles: Handles<A>,
}

impl<A: Abi> Bound<A> {
    /// Loads the functions and handles of `library`, which must follow ABI `A`.
    pub(crate) fn load(library: &Library) -> Result<Self, String> {
        Ok(Self {
            functions: Functions::load(library)?,
            handles: A::handles(library)?,
        })
    }

    fn datatype(&self, datatype: Datatype) -> A::Datatype {
        match datatype {
            Datatype::F32 => self.handles.float,
            Datatype::Byte => self.handles.byte,
        }
    }
}

impl<A: Abi> Calls for Bound<A> {
    fn abi(&self) -> &'static str {
        A::NAME
    }

    fn init_thread(&self, required: c_int, provided: &mut c_int) -> c_int {
        // SAFETY: MPI allows null argc and argv; `provided` is a valid int.
        unsafe { (self.functions.init_thread)(std::ptr::null_mut(), std::ptr::null_mut(), required, provided) }
    }

    fn initialized(&self, flag: &mut c_int) -> c_int {
        // SAFETY: `flag` is a valid int.
        unsafe { (self.functions.initialized)(flag) }
    }

    fn finalize(&self) -> c_int {
        // SAFETY: no arguments.
        unsafe { (self.functions.finalize)() }
    }

    fn abort(&self, code: c_int) -> c_int {
        // SAFETY: a predefined communicator.
        unsafe { (self.functions.abort)(self.handles.world, code) }
    }

    fn rank(&self, rank: &mut c_int) -> c_int {
        // SAFETY: a predefined communicator and a valid int.
        unsafe { (self.functions.comm_rank)(self.handles.world, rank) }
    }

    fn size(&self, size: &mut c_int) -> c_int {
        // SAFETY: a predefined communicator and a valid int.
        unsafe { (self.functions.comm_size)(self.handles.world, size) }
    }

    fn errors_return(&self) -> c_int {
        // SAFETY: predefined handles.
        unsafe { (self.functions.comm_set_errhandler)(self.handles.world, self.handles.errors_return) }
    }

    fn node_rank_and_size(&self, key: c_int) -> Result<(c_int, c_int), (&'static str, c_int)> {
        let mut node = MaybeUninit::<A::Comm>::uninit();
        // SAFETY: predefined handles; `node` receives the new communicator.
        let code = unsafe {
            (self.functions.comm_split_type)(
                self.handles.world,
                A::COMM_TYPE_SHARED,
                key,
                self.handles.info_null,
                node.as_mut_ptr(),
            )
        };
        if code != SUCCESS {
            return Err(("MPI_Comm_split_type", code));
        }
        // SAFETY: MPI_Comm_split_type succeeded, so it wrote the communicator.
        let mut node = unsafe { node.assume_init() };
        let (mut rank, mut size) = (0, 0);
        // SAFETY: `node` is a live communicator until it is freed below.
        let code = unsafe { (self.functions.comm_rank)(node, &mut rank) };
        if code != SUCCESS {
            return Err(("MPI_Comm_rank", code));
        }
        // SAFETY: as above.
        let code = unsafe { (self.functions.comm_size)(node, &mut size) };
        if code != SUCCESS {
            return Err(("MPI_Comm_size", code));
        }
        // SAFETY: `node` was created above and is freed once.
        let code = unsafe { (self.functions.comm_free)(&mut node) };
        if code != SUCCESS {
            return Err(("MPI_Comm_free", code));
        }
        Ok((rank, size))
    }

    unsafe fn allgather(&self, send: *const c_void, count: c_int, datatype: Datatype, receive: *mut c_void) -> c_int {
        let datatype = self.datatype(datatype);
        // SAFETY: the caller sizes the buffers.
        unsafe { (self.functions.allgather)(send, count, datatype, receive, count, datatype, self.handles.world) }
    }

    unsafe fn allgatherv(
        &self,
        send: *const c_void,
        count: c_int,
        datatype: Datatype,
        receive: *mut c_void,
        counts: &[c_int],
        displacements: &[c_int],
    ) -> c_int {
        let datatype = self.datatype(datatype);
        // SAFETY: the caller sizes the buffers and gives one count and displacement per rank.
        unsafe {
            (self.functions.allgatherv)(
                send,
                count,
                datatype,
                receive,
                counts.as_ptr(),
                displacements.as_ptr(),
                datatype,
                self.handles.world,
            )
        }
    }

    unsafe fn allreduce_sum_in_place(&self, buffer: *mut c_void, count: c_int, datatype: Datatype) -> c_int {
        let datatype = self.datatype(datatype);
        // SAFETY: the caller sizes the buffer; MPI_IN_PLACE as the send buffer.
        unsafe {
            (self.functions.allreduce)(
                A::in_place(),
                buffer,
                count,
                datatype,
                self.handles.sum,
                self.handles.world,
            )
        }
    }

    unsafe fn broadcast(&self, buffer: *mut c_void, count: c_int, datatype: Datatype, root: c_int) -> c_int {
        let datatype = self.datatype(datatype);
        // SAFETY: the caller sizes the buffer.
        unsafe { (self.functions.bcast)(buffer, count, datatype, root, self.handles.world) }
    }

    fn barrier(&self) -> c_int {
        // SAFETY: a predefined communicator.
        unsafe { (self.functions.barrier)(self.handles.world) }
    }

    fn error_string(&self, code: c_int) -> String {
        let mut text = vec![0u8; TEXT_CAPACITY];
        let mut len: c_int = 0;
        // SAFETY: the buffer holds at least MPI_MAX_ERROR_STRING bytes.
        let status = unsafe { (self.functions.error_string)(code, text.as_mut_ptr().cast(), &mut len) };
        if status == SUCCESS {
            text_of(&text, len)
        } else {
            String::new()
        }
    }

    fn processor_name(&self) -> Result<String, c_int> {
        let mut text = vec![0u8; TEXT_CAPACITY];
        let mut len: c_int = 0;
        // SAFETY: the buffer holds at least MPI_MAX_PROCESSOR_NAME bytes.
        let code = unsafe { (self.functions.get_processor_name)(text.as_mut_ptr().cast(), &mut len) };
        if code == SUCCESS {
            Ok(text_of(&text, len))
        } else {
            Err(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_markers_are_the_headers_values() {
        assert_eq!(OpenMpi::in_place() as usize, 1);
        assert_eq!(Mpich::in_place() as isize, -1);
    }

    #[test]
    fn text_stops_at_the_length_or_the_first_nul() {
        assert_eq!(text_of(b"node-7\0garbage", 14), "node-7");
        assert_eq!(text_of(b"node-7garbage", 6), "node-7");
        assert_eq!(text_of(b"abc", -1), "");
        assert_eq!(text_of(b"abc", 99), "abc");
    }
}
