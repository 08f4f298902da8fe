//! Finding and opening libmpi at run time.
//!
//! loev links no MPI: the README's `cargo test --release --workspace --all-features` must build
//! on a machine with only the Rust toolchain and a C compiler, and a build-time MPI dependency
//! (headers, `mpicc`, bindgen's libclang) would break that. libmpi is opened with `dlopen`
//! when a run is started by an MPI launcher, which also lets one binary work with whichever MPI
//! a cluster provides.

use std::ffi::OsString;

use crate::MpiError;
use crate::launch::{Launch, Launcher};

/// The environment variable that names the libmpi to open (a path or a soname). When it is set,
/// only that library is tried.
pub const LIBRARY_VAR: &str = "LOEV_MPI_LIBRARY";

/// Open MPI 3, 4 and 5.
const OPEN_MPI: &str = "libmpi.so.40";
/// The MPICH ABI family (MPICH, Intel MPI, MVAPICH, Cray MPICH), under its upstream soname and
/// under Debian's and Ubuntu's name for MPICH.
const MPICH_FAMILY: [&str; 2] = ["libmpi.so.12", "libmpich.so.12"];
/// The development link name, whichever MPI it points to.
const UNVERSIONED: &str = "libmpi.so";

/// The libraries to try, in order: `explicit` alone if given; otherwise the usual sonames, the
/// launcher's own MPI first (a library that does not speak to the launcher would start every
/// rank as a world of its own).
pub(crate) fn candidates(explicit: Option<OsString>, launch: Option<&Launch>) -> Vec<OsString> {
    if let Some(explicit) = explicit.filter(|path| !path.is_empty()) {
        return vec![explicit];
    }
    let mpich_first = matches!(launch.map(|l| l.launcher), Some(Launcher::Hydra));
    let mut names: Vec<&str> = if mpich_first {
        MPICH_FAMILY.iter().copied().chain([OPEN_MPI]).collect()
    } else {
        std::iter::once(OPEN_MPI).chain(MPICH_FAMILY).collect()
    };
    names.push(UNVERSIONED);
    names.into_iter().map(OsString::from).collect()
}

/// An opened libmpi: where it came from, what it says it is, and its calls.
pub(crate) struct Loaded {
    /// The path or soname it was opened by.
    pub name: String,
    /// `MPI_Get_library_version`.
    pub version: String,
    /// Its functions and handles.
    pub calls: Box<dyn crate::abi::Calls>,
}

/// Opens the first of [`candidates`] that loads, and binds it to its ABI.
///
/// The library is opened with `RTLD_NOW | RTLD_GLOBAL`: Open MPI loads its components as
/// plugins that look up libmpi's symbols in the global namespace, and `RTLD_NOW` reports a
/// broken installation here rather than at the first collective. It is never closed: MPI can be
/// started only once per process, and its plugins keep pointers into it.
#[cfg(unix)]
pub(crate) fn load(launch: Option<&Launch>) -> Result<Loaded, MpiError> {
    use libloading::Library;
    use libloading::os::unix::{Library as UnixLibrary, RTLD_GLOBAL, RTLD_NOW};

    use crate::abi::{Bound, Mpich, OpenMpi};

    let explicit = std::env::var_os(LIBRARY_VAR);
    let from_variable = explicit.as_ref().is_some_and(|path| !path.is_empty());
    let mut failures = Vec::new();
    for candidate in candidates(explicit, launch) {
        let name = candidate.to_string_lossy().into_owned();
        // SAFETY: opening libmpi runs its initialisers, which only set up the library itself.
        let library: Library = match unsafe { UnixLibrary::open(Some(&candidate), RTLD_NOW | RTLD_GLOBAL) } {
            Ok(library) => library.into(),
            Err(e) => {
                failures.push(format!("{name} ({})", error_chain(&e)));
                continue;
            }
        };
        let unusable = |reason: String| MpiError::Unusable {
            library: name.clone(),
            reason,
        };
        let version = crate::abi::library_version(&library).map_err(unusable)?;
        let calls: Box<dyn crate::abi::Calls> = if crate::abi::is_open_mpi(&library) {
            Box::new(Bound::<OpenMpi>::load(&library).map_err(unusable)?)
        } else if is_mpich_family(&version) {
            Box::new(Bound::<Mpich>::load(&library).map_err(unusable)?)
        } else {
            return Err(unusable(format!(
                "it is neither Open MPI nor of the MPICH ABI family (MPICH, Intel MPI, MVAPICH, Cray MPICH), \
                 which are the two interfaces loev speaks; it says: {version}"
            )));
        };
        std::mem::forget(library);
        return Ok(Loaded { name, version, calls });
    }
    Err(MpiError::NotFound {
        tried: failures.join("; "),
        from_variable,
    })
}

/// loev opens libmpi with the flags of `dlopen`, which Unix systems have.
#[cfg(not(unix))]
pub(crate) fn load(_: Option<&Launch>) -> Result<Loaded, MpiError> {
    Err(MpiError::Unusable {
        library: "libmpi".into(),
        reason: "loev runs under MPI on Unix systems (Linux, macOS) only".into(),
    })
}

/// Whether `MPI_Get_library_version`'s text names a library of the MPICH ABI.
#[cfg(unix)]
fn is_mpich_family(version: &str) -> bool {
    let version = version.to_ascii_lowercase();
    ["mpich", "mvapich", "intel(r) mpi"]
        .iter()
        .any(|name| version.contains(name))
}

/// An error and its sources on one line (libloading keeps `dlerror`'s text in the source).
#[cfg(unix)]
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: Vec<OsString>) -> Vec<String> {
        list.into_iter().map(|n| n.to_string_lossy().into_owned()).collect()
    }

    fn launched_by(launcher: Launcher) -> Launch {
        Launch {
            launcher,
            rank: 0,
            size: Some(2),
            local_rank: None,
        }
    }

    #[test]
    fn an_explicit_library_is_the_only_candidate() {
        let list = candidates(Some("/opt/mpi/lib/libmpi.so".into()), None);
        assert_eq!(names(list), ["/opt/mpi/lib/libmpi.so"]);
        // An empty variable counts as unset.
        assert_eq!(candidates(Some("".into()), None).len(), 4);
    }

    #[test]
    fn the_launchers_own_mpi_comes_first() {
        let default = names(candidates(None, None));
        assert_eq!(default, ["libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"]);
        let open_mpi = names(candidates(None, Some(&launched_by(Launcher::OpenMpi))));
        assert_eq!(open_mpi, default);
        let hydra = names(candidates(None, Some(&launched_by(Launcher::Hydra))));
        assert_eq!(hydra, ["libmpi.so.12", "libmpich.so.12", "libmpi.so.40", "libmpi.so"]);
    }

    #[cfg(unix)]
    #[test]
    fn library_versions_of_the_mpich_family_are_recognised() {
        assert!(is_mpich_family("MPICH Version:\t4.0.2\nMPICH Release date: ..."));
        assert!(is_mpich_family("Intel(R) MPI Library 2021.10 for Linux* OS"));
        assert!(is_mpich_family("MVAPICH2 Version      :\t2.3.7"));
        assert!(is_mpich_family("CRAY MPICH version 8.1.25"));
        assert!(!is_mpich_family("Open MPI v4.1.4, package: Debian OpenMPI"));
    }
}
