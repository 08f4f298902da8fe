//! Checks loev's MPI collectives on a real job, one process per rank:
//!
//! ```text
//! mpirun -np 3 target/release/examples/collectives            # or: srun --mpi=pmix -n 3 …
//! ```
//!
//! Each rank prints one line and exits 0 when every result is exactly what the ranks put in;
//! a cluster's MPI can be checked with it before a long run. `crates/mpi/tests/mpirun.rs`
//! starts it under `mpirun` in other roles too (the first argument):
//!
//! * `check` (the default): allgather with different counts per rank, allreduce (whole and in
//!   pieces), broadcast, barrier, the start-up consistency check, and the refusal of an
//!   allreduce whose lengths differ between ranks;
//! * `consistency same|rank1-differs`: the start-up check with equal configuration digests, or
//!   with rank 1's differing; prints the verdict and exits 3 on a refusal;
//! * `spin`: allreduces for up to two minutes, after printing `rank R pid P ready` (the test
//!   kills one rank mid-collective);
//! * `abort`: rank 1 aborts the job with exit code 7 while the others wait in a barrier;
//! * `leave`: rank 1 returns an error of its own while the others wait in a barrier, and
//!   dropping its world must end the job.
//!
//! Values are small integers, so every sum is exact in `f32` and results are compared with `==`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use loev_mpi::{MpiError, World};

/// Exit code of a refused start-up check.
const REFUSED: u8 = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = args.first().map(String::as_str).unwrap_or("check");
    let mut world = match World::init() {
        Ok(world) => world,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rank = world.rank();
    let outcome = match role {
        "check" => check(&mut world),
        "consistency" => consistency(&world, args.get(1).map(String::as_str) == Some("rank1-differs")),
        "spin" => spin(&world),
        "abort" => abort(&world),
        "leave" => leave(&world),
        other => Err(format!(
            "unknown role {other:?}; roles: check, consistency, spin, abort, leave"
        )),
    };
    match outcome {
        // Every rank got here alike, so finalizing waits for no one.
        Ok(code) => match world.finalize() {
            Ok(()) => ExitCode::from(code),
            Err(e) => {
                eprintln!("rank {rank}: FAILED: {e}");
                ExitCode::from(1)
            }
        },
        Err(message) => {
            // Maybe this rank alone: dropping the world aborts the job unless an MPI call
            // failed, in which case the launcher ends it as this process exits.
            eprintln!("rank {rank}: FAILED: {message}");
            drop(world);
            ExitCode::from(1)
        }
    }
}

fn mpi(e: MpiError) -> String {
    e.to_string()
}

/// Rank `r`'s contribution to the allgather: `r + 1` values `1000 r + i`, except that rank 1
/// sends nothing (a rank with an empty shard).
fn contribution(rank: usize) -> Vec<f32> {
    let count = if rank == 1 { 0 } else { rank + 1 };
    (0..count).map(|i| (1000 * rank + i) as f32).collect()
}

/// Rank `r`'s allreduce input: `(r + 1) × (i mod 7) − i mod 3`, small integers.
fn addend(rank: usize, i: usize) -> f32 {
    ((rank + 1) * (i % 7)) as f32 - (i % 3) as f32
}

fn check(world: &mut World) -> Result<u8, String> {
    let (rank, size) = (world.rank(), world.size());

    let gathered = world.allgather_f32(&contribution(rank)).map_err(mpi)?;
    let expected: Vec<f32> = (0..size).flat_map(contribution).collect();
    let counts: Vec<usize> = (0..size).map(|r| contribution(r).len()).collect();
    if gathered.values != expected || gathered.counts != counts {
        return Err(format!(
            "allgather gave {gathered:?}, expected {expected:?} with counts {counts:?}"
        ));
    }

    // Whole, then in pieces of 3 floats (334 calls, the last one of 1), with rank 0 allowing 7
    // per call while the others allow 3: the ranks agree on the smaller.
    let len = 1000;
    let sum_of = |i: usize| (0..size).map(|r| addend(r, i)).sum::<f32>();
    for (what, max_count) in [
        ("allreduce", loev_mpi::MAX_COUNT),
        ("allreduce in pieces", 3 + 4 * usize::from(rank == 0)),
    ] {
        world.set_max_count(max_count).map_err(mpi)?;
        let mut values: Vec<f32> = (0..len).map(|i| addend(rank, i)).collect();
        world.allreduce_sum_f32(&mut values).map_err(mpi)?;
        if let Some(i) = (0..len).find(|&i| values[i] != sum_of(i)) {
            return Err(format!("{what}: element {i} is {}, expected {}", values[i], sum_of(i)));
        }
    }

    // Broadcast from the last rank, in pieces of the root's size; other ranks pass other bytes.
    let root = size - 1;
    let message: Vec<u8> = (0..1001).map(|i| (i * 7 % 251) as u8).collect();
    let mine = if rank == root {
        message.clone()
    } else {
        vec![rank as u8; 5]
    };
    let received = world.broadcast_bytes(root, &mine).map_err(mpi)?;
    if received != message {
        return Err(format!(
            "broadcast from rank {root} gave {} bytes that differ",
            received.len()
        ));
    }
    world.set_max_count(loev_mpi::MAX_COUNT).map_err(mpi)?;
    let empty = world
        .broadcast_bytes(0, if rank == 0 { &[] } else { &[1, 2, 3] })
        .map_err(mpi)?;
    if !empty.is_empty() {
        return Err(format!("an empty broadcast gave {empty:?}"));
    }

    // Lengths that differ between ranks are refused on every rank, and the world goes on.
    if size > 1 {
        let mut uneven = vec![1.0f32; 4 + rank];
        match world.allreduce_sum_f32(&mut uneven) {
            Err(MpiError::Usage { message, .. }) if message.contains("rank 0: 4, rank 1: 5") => {}
            other => return Err(format!("an allreduce of uneven lengths gave {other:?}")),
        }
    }

    world.check_consistency(42).map_err(mpi)?;
    world.barrier().map_err(mpi)?;
    println!(
        "rank {rank} of {size} (local {} of {}) on {} with {} ({}, {}): collectives OK",
        world.local_rank(),
        world.local_size(),
        world.host(),
        world.library(),
        world.abi(),
        world.library_version(),
    );
    Ok(0)
}

fn consistency(world: &World, rank1_differs: bool) -> Result<u8, String> {
    let rank = world.rank();
    let digest = if rank1_differs && rank == 1 { 43 } else { 42 };
    let code = match world.check_consistency(digest) {
        Ok(()) => {
            println!("rank {rank}: consistent");
            0
        }
        Err(MpiError::Mismatch { message, .. }) => {
            println!("rank {rank}: refused: {message}");
            REFUSED
        }
        Err(e) => return Err(mpi(e)),
    };
    Ok(code)
}

fn spin(world: &World) -> Result<u8, String> {
    let rank = world.rank();
    let mut values = vec![1.0f32; 1 << 16];
    world.allreduce_sum_f32(&mut values).map_err(mpi)?;
    println!("rank {rank} pid {} ready", std::process::id());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        values.fill(1.0);
        world.allreduce_sum_f32(&mut values).map_err(mpi)?;
    }
    Ok(0)
}

fn abort(world: &World) -> Result<u8, String> {
    let rank = world.rank();
    world.barrier().map_err(mpi)?;
    if rank == 1 {
        eprintln!("rank 1: giving up alone, aborting the job");
        world.abort(7);
    }
    // The others wait for rank 1, which never comes.
    world.barrier().map_err(mpi)?;
    Err("the barrier returned although rank 1 aborted".into())
}

fn leave(world: &World) -> Result<u8, String> {
    let rank = world.rank();
    world.barrier().map_err(mpi)?;
    if rank == 1 {
        return Err("an error only rank 1 sees".into());
    }
    world.barrier().map_err(mpi)?;
    Err("the barrier returned although rank 1 left".into())
}
