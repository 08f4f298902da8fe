//! Was this process started by an MPI launcher, and as which rank?
//!
//! Launchers tell each process its rank in environment variables. loev reads them for two
//! reasons: to decide whether a run is distributed at all (a plain `loev pretrain` never
//! touches libmpi), and to check after `MPI_Init` that libmpi sees the world the launcher
//! started. When the two disagree, every process has become a world of one (`srun` without an
//! MPI plugin, or Open MPI's `mpirun` starting a program that opened MPICH) and would train
//! alone, N times over; loev refuses that instead.

/// The launcher that started this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// Open MPI's `mpirun`/`mpiexec` (`OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`).
    OpenMpi,
    /// MPICH's or Intel MPI's `mpiexec` (Hydra: `PMI_RANK`, `PMI_SIZE`, `MPI_LOCALRANKID`).
    Hydra,
    /// Slurm's `srun` (`SLURM_PROCID`, `SLURM_STEP_NUM_TASKS`), with the MPI plugin it was
    /// given, if any.
    Srun {
        /// Which process-management interface srun offers MPI.
        plugin: SrunPlugin,
    },
    /// Another launcher that speaks PMI (`PMI_RANK`, `PMI_SIZE`).
    Pmi,
    /// Another launcher that speaks PMIx (`PMIX_RANK`; it does not say the size).
    Pmix,
}

/// The MPI plugin of `srun --mpi=…`, as its environment shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrunPlugin {
    /// `--mpi=pmix` (`PMIX_RANK` is set).
    Pmix,
    /// `--mpi=pmi2` (`PMI_RANK` or `PMI_FD` is set).
    Pmi2,
    /// No MPI plugin: libmpi cannot find the other tasks.
    None,
}

impl Launcher {
    /// How to name it in a message.
    pub fn describe(self) -> &'static str {
        match self {
            Launcher::OpenMpi => "Open MPI's mpirun",
            Launcher::Hydra => "MPICH's mpiexec (Hydra)",
            Launcher::Srun {
                plugin: SrunPlugin::Pmix,
            } => "srun --mpi=pmix",
            Launcher::Srun {
                plugin: SrunPlugin::Pmi2,
            } => "srun --mpi=pmi2",
            Launcher::Srun {
                plugin: SrunPlugin::None,
            } => "srun without an MPI plugin",
            Launcher::Pmi => "a PMI launcher",
            Launcher::Pmix => "a PMIx launcher",
        }
    }
}

/// What the launcher told this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Who started it.
    pub launcher: Launcher,
    /// Its rank.
    pub rank: usize,
    /// The number of processes started, when the launcher says.
    pub size: Option<usize>,
    /// Its rank among the processes on this machine, when the launcher says.
    pub local_rank: Option<usize>,
}

/// The launch this process's environment describes, or `None` when no MPI launcher started it.
pub fn detect_launch() -> Option<Launch> {
    launch_from(|name| std::env::var(name).ok())
}

/// [`detect_launch`] over any source of variables.
///
/// The order matters: `mpirun` inside a Slurm allocation starts its daemons with `srun`, so
/// its ranks also carry Slurm's step variables, for the daemons' step; the MPI launchers'
/// own variables come first. `SLURM_PROCID` alone is not enough, since a batch script has it
/// too; `SLURM_STEP_NUM_TASKS` is set only inside an `srun` step.
pub fn launch_from(var: impl Fn(&str) -> Option<String>) -> Option<Launch> {
    let number = |name: &str| var(name).and_then(|value| value.trim().parse::<usize>().ok());
    let launch = |launcher, rank, size, local_rank| Launch {
        launcher,
        rank,
        size,
        local_rank,
    };
    if let (Some(rank), Some(size)) = (number("OMPI_COMM_WORLD_RANK"), number("OMPI_COMM_WORLD_SIZE")) {
        return Some(launch(
            Launcher::OpenMpi,
            rank,
            Some(size),
            number("OMPI_COMM_WORLD_LOCAL_RANK"),
        ));
    }
    if let (Some(rank), Some(size), Some(local)) = (number("PMI_RANK"), number("PMI_SIZE"), number("MPI_LOCALRANKID")) {
        return Some(launch(Launcher::Hydra, rank, Some(size), Some(local)));
    }
    if let (Some(rank), Some(size)) = (number("SLURM_PROCID"), number("SLURM_STEP_NUM_TASKS")) {
        let plugin = if var("PMIX_RANK").is_some() {
            SrunPlugin::Pmix
        } else if var("PMI_RANK").is_some() || var("PMI_FD").is_some() {
            SrunPlugin::Pmi2
        } else {
            SrunPlugin::None
        };
        return Some(launch(
            Launcher::Srun { plugin },
            rank,
            Some(size),
            number("SLURM_LOCALID"),
        ));
    }
    if let (Some(rank), Some(size)) = (number("PMI_RANK"), number("PMI_SIZE")) {
        return Some(launch(Launcher::Pmi, rank, Some(size), None));
    }
    number("PMIX_RANK").map(|rank| launch(Launcher::Pmix, rank, None, None))
}

/// Why the world libmpi sees is not the one the launcher started, or `None` when they agree.
pub(crate) fn disagreement(launch: &Launch, rank: usize, size: usize, library: &str) -> Option<String> {
    let expected = launch.size?;
    if expected == size && launch.rank == rank {
        return None;
    }
    let hint = match launch.launcher {
        Launcher::Srun {
            plugin: SrunPlugin::None,
        } => "start it with `srun --mpi=pmix` (or `--mpi=pmi2`), with a libmpi built with Slurm support".to_string(),
        Launcher::Srun { .. } => {
            format!("check that {library} was built with support for this srun plugin (`srun --mpi=list` lists them)")
        }
        _ => format!(
            "{library} is not the MPI of this launcher: use the mpirun that comes with it, or set LOEV_MPI_LIBRARY \
             to the launcher's own libmpi"
        ),
    };
    Some(format!(
        "{} started this process as rank {} of {expected}, but {library} sees rank {rank} of {size}: the processes \
         cannot reach each other and would each train alone; {hint}",
        launch.launcher.describe(),
        launch.rank,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Option<Launch> {
        launch_from(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn no_launcher_variables_mean_no_launch() {
        assert_eq!(from(&[]), None);
        // A Slurm batch script has SLURM_PROCID but runs outside any srun step.
        assert_eq!(
            from(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "4"), ("SLURM_JOB_ID", "17")]),
            None
        );
    }

    #[test]
    fn open_mpi_and_hydra_are_recognised_from_what_they_set() {
        // As Debian's Open MPI 4.1.4 mpirun sets them (seen with `mpirun -np 2 env`).
        let open_mpi = from(&[
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
            ("PMIX_RANK", "1"),
        ]);
        assert_eq!(
            open_mpi,
            Some(Launch {
                launcher: Launcher::OpenMpi,
                rank: 1,
                size: Some(2),
                local_rank: Some(1),
            })
        );
        // As MPICH 4.0.2's Hydra sets them.
        let hydra = from(&[
            ("PMI_RANK", "0"),
            ("PMI_SIZE", "3"),
            ("PMI_FD", "6"),
            ("MPI_LOCALRANKID", "0"),
        ]);
        assert_eq!(hydra.map(|l| (l.launcher, l.size)), Some((Launcher::Hydra, Some(3))));
    }

    #[test]
    fn mpirun_inside_a_slurm_step_is_mpirun() {
        let launch = from(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_STEP_NUM_TASKS", "2"),
            ("OMPI_COMM_WORLD_RANK", "5"),
            ("OMPI_COMM_WORLD_SIZE", "8"),
        ])
        .expect("launched");
        assert_eq!(
            (launch.launcher, launch.rank, launch.size),
            (Launcher::OpenMpi, 5, Some(8))
        );
    }

    #[test]
    fn srun_steps_say_which_plugin_they_have() {
        let step = [
            ("SLURM_PROCID", "3"),
            ("SLURM_STEP_NUM_TASKS", "4"),
            ("SLURM_LOCALID", "1"),
        ];
        let plain = from(&step).expect("launched");
        assert_eq!(
            plain.launcher,
            Launcher::Srun {
                plugin: SrunPlugin::None
            }
        );
        assert_eq!((plain.rank, plain.size, plain.local_rank), (3, Some(4), Some(1)));
        let pmix = from(&[step[0], step[1], ("PMIX_RANK", "3")]).expect("launched");
        assert_eq!(
            pmix.launcher,
            Launcher::Srun {
                plugin: SrunPlugin::Pmix
            }
        );
    }

    #[test]
    fn a_world_of_one_under_a_launcher_of_many_is_explained() {
        let srun = from(&[("SLURM_PROCID", "2"), ("SLURM_STEP_NUM_TASKS", "4")]).expect("launched");
        let message = disagreement(&srun, 0, 1, "libmpi.so.40").expect("disagrees");
        assert!(message.contains("rank 2 of 4"), "{message}");
        assert!(message.contains("rank 0 of 1"), "{message}");
        assert!(message.contains("srun --mpi=pmix"), "{message}");
        assert_eq!(disagreement(&srun, 2, 4, "libmpi.so.40"), None);
        let pmix_only = from(&[("PMIX_RANK", "0")]).expect("launched");
        assert_eq!(
            disagreement(&pmix_only, 0, 1, "libmpi.so.40"),
            None,
            "no size to compare"
        );
    }
}
