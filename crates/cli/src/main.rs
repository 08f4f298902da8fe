//! `loev`: the command-line front of the loev workspace. Each subcommand lives in
//! `commands/<name>.rs`: it parses arguments, calls the library crates and reports. Policy
//! stays in the libraries: `embed`, `probe`, `retrieve` and `analyze` are sequences of
//! `loev_eval::stages`, `demo` calls `loev_experiments`, `bench` calls `loev_bench`.

mod commands;
mod output;

use clap::{Parser, Subcommand};

/// Train, extract and evaluate contrastive music-audio representations that keep what
/// users need (LOEV, LOEV++, MULE, MULE++).
#[derive(Parser)]
#[command(name = "loev", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode-once audio cache: build it from a folder or a manifest.
    #[command(subcommand)]
    Cache(commands::cache::CacheCommand),
    /// Write the log-mel front-end features of an audio file as `.npy`.
    Features(commands::features::Args),
    /// Write augmented views of an audio file as wav plus a JSON of what was applied.
    Augment(commands::augment::Args),
    /// The built-in synthetic music corpus.
    #[command(subcommand)]
    Corpus(commands::corpus::CorpusCommand),
    /// Benchmark datasets on disk: check that a dataset folder is complete.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Contrastive pretraining (MULE, MULE++, LOEV, LOEV++) into a run folder.
    Pretrain(commands::pretrain::Args),
    /// A self-describing model file from a run's newest good checkpoint.
    Export(commands::export::Args),
    /// A model file from published weights (MULE through mule-torch).
    #[command(subcommand)]
    Import(commands::import::ImportCommand),
    /// Embedding timelines and track means of audio files for every embedding space of a model.
    Embed(commands::embed::Args),
    /// MLP probes on cached embeddings: tagging, key, pitch, tempo.
    Probe(commands::probe::Args),
    /// Cosine nearest-neighbour retrieval scored by tags, key and tempo.
    Retrieve(commands::retrieve::Args),
    /// Invariance analysis: embedding distance against pitch shift and time stretch.
    Analyze(commands::analyze::Args),
    /// The whole pipeline on the built-in corpus: pretrain, embed, probe, retrieve, analyse.
    Demo(commands::demo::Args),
    /// Speed benchmarks against the Python anchors, measured in the same run.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

/// loev always names its devices, but burn puts restored optimizer state on its *default*
/// device, which in a GPU build is the GPU (CUDA first) and fails on machines without one. The
/// state moves to each parameter's device at the next step anyway, so the CPU is the right
/// place to load it: `BURN_DEVICE=flex` unless the user set the variable.
fn keep_burns_default_device_on_the_cpu() {
    if std::env::var_os(loev_train::BURN_DEFAULT_DEVICE_VARIABLE).is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var(loev_train::BURN_DEFAULT_DEVICE_VARIABLE, "flex") };
    }
}

fn main() -> std::process::ExitCode {
    keep_burns_default_device_on_the_cpu();
    let cli = Cli::parse();
    // After parsing: clap prints `--help` and usage errors itself and exits.
    let output = output::keep_writing_after_the_reader_closes();
    let code = match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            std::process::ExitCode::FAILURE
        }
    };
    // Forwards what is still in flight before the process ends. A destination that failed
    // (a full disk; a closed pipe is not a failure) lost part of what the command printed: the
    // work itself is done and its files are written, but the exit status says so.
    match output.finish() {
        None => code,
        Some(failure) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "error: {} could not be written ({}); the command ran to its end and its files are written, \
                 but what it printed there is lost",
                failure.streams,
                failure.error
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// The context chain joined by ": ", without a backtrace. The library errors already print
/// their cause (`cannot read FILE: CAUSE`), so a cause whose text ends the message so far is
/// not repeated.
fn error_chain(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Cache(cmd) => commands::cache::run(cmd),
        Command::Features(args) => commands::features::run(args),
        Command::Augment(args) => commands::augment::run(args),
        Command::Corpus(cmd) => commands::corpus::run(cmd),
        Command::Data(cmd) => commands::data::run(cmd),
        Command::Pretrain(args) => commands::pretrain::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Import(cmd) => commands::import::run(cmd),
        Command::Embed(args) => commands::embed::run(args),
        Command::Probe(args) => commands::probe::run(args),
        Command::Retrieve(args) => commands::retrieve::run(args),
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Bench(cmd) => commands::bench::run(cmd),
    }
}
