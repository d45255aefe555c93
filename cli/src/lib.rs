//! `mpr`, the Measured Prover Registry command line: a thin front over the library crates. The
//! binary is `main.rs`; this library exists so that tests can check documented command lines
//! against the real flags ([`command`]).

/// `println!` that returns the write error (marked as [`StdoutError`]) instead of panicking, so
/// `mpr ... | head` ends quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::StdoutError::wrap)
    }};
}

mod commands;
mod nitro_json;
mod progress;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "mpr",
    version,
    about = "Build, measure and publish TEE images of the Midnight prover"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read, validate and write AWS Nitro Enclave Image Format (EIF) files.
    #[command(subcommand)]
    Eif(commands::eif::EifCommand),
    /// Compute what the hardware will report: Nitro PCRs, SEV-SNP launch digests.
    #[command(subcommand)]
    Measure(commands::measure::MeasureCommand),
    /// Build a recipe hermetically into an OCI image, a Nitro EIF and a CVM bundle, with a record.
    Build(commands::build::BuildArgs),
    /// Create the builder image (Debian packages + Rust toolchain) without a registry.
    #[command(subcommand)]
    BuilderImage(commands::builder_image::BuilderImageCommand),
    /// List what differs between two build records, images, EIFs, ramdisks or build outputs
    /// (exit status 0: identical, 1: different, 2: error).
    Diff(commands::diff::DiffArgs),
    /// Serve the registry (API, pages, metrics) on DATABASE_URL or an embedded PostgreSQL.
    Serve(commands::serve::ServeArgs),
    /// Release a recipe in one command: build, record, sign, log and publish on GitHub;
    /// re-running it resumes after a failure and repeats nothing that is done.
    Release(commands::release::ReleaseArgs),
    /// Rebuild a signed release and prove it matches, or show where it does not (exit status 0:
    /// GOOD, 1: BAD, 2: error).
    #[command(subcommand)]
    Rebuild(commands::rebuild::RebuildCommand),
    /// Work with a registry: publisher tokens, publishing releases.
    #[command(subcommand)]
    Registry(commands::registry::RegistryCommand),
    /// Release keys: generate a passphrase-protected OpenPGP key, export its public part.
    #[command(subcommand)]
    Key(commands::key::KeyCommand),
    /// Sign statements (detached OpenPGP signatures) and verify them against a keyring.
    #[command(subcommand)]
    Manifest(commands::manifest::ManifestCommand),
    /// Publish a release's files elsewhere: GitHub Releases.
    #[command(subcommand)]
    Publish(commands::publish::PublishCommand),
    /// The transparency log: generate log and witness keys, run a witness.
    #[command(subcommand)]
    Log(commands::log::LogCommand),
    /// Check attestation evidence (saved, or a bare Nitro document or SEV-SNP report) against
    /// the trust policy and signed releases; exit status 0 only when accepted.
    VerifyAttestation(commands::attest::VerifyAttestationArgs),
    /// Fetch fresh evidence from a running prover (random nonce) and verify it.
    Attest(commands::attest::AttestArgs),
    /// Send a proving request to an attested prover, end-to-end encrypted to its attested key.
    Prove(commands::attest::ProveArgs),
}

/// Every subcommand and flag `mpr` accepts, for checking command lines without running them.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the process's arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Eif(command) => commands::eif::run(command, cli.json),
        Command::Measure(command) => commands::measure::run(command, cli.json),
        Command::Build(args) => commands::build::run(args, cli.json),
        Command::BuilderImage(command) => commands::builder_image::run(command, cli.json),
        Command::Serve(args) => commands::serve::run(args),
        Command::Registry(command) => commands::registry::run(command, cli.json),
        Command::Release(args) => commands::release::run(args, cli.json),
        Command::Key(command) => commands::key::run(command, cli.json),
        Command::Manifest(command) => commands::manifest::run(command, cli.json),
        Command::Publish(command) => commands::publish::run(command, cli.json),
        Command::Log(command) => commands::log::run(command, cli.json),
        Command::VerifyAttestation(args) => commands::attest::verify_attestation(args, cli.json),
        Command::Attest(args) => commands::attest::attest(args, cli.json),
        Command::Prove(args) => commands::attest::prove(args, cli.json),
        // diff chooses its own exit status (0/1/2, like diff(1)).
        Command::Diff(args) => return commands::diff::main(args, cli.json),
        Command::Rebuild(command) => return commands::rebuild::main(command, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): nothing left to tell anyone.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A failed write to our standard output. Only this kind of error may end quietly on a broken
/// pipe: a broken Docker, database or HTTP connection is a failure like any other.
#[derive(Debug, thiserror::Error)]
#[error("writing to standard output: {0}")]
pub struct StdoutError(pub std::io::Error);

impl StdoutError {
    /// The same error kind, marked as coming from standard output.
    pub fn wrap(error: std::io::Error) -> std::io::Error {
        std::io::Error::new(error.kind(), StdoutError(error))
    }
}

/// The reader of our standard output went away (`mpr ... | head`).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let stdout = cause.downcast_ref::<StdoutError>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<StdoutError>())
        });
        stdout.is_some_and(|StdoutError(io)| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR"),
        ))
        .init();
}

/// Colour codes only for a person at a terminal: a log file or the journal would keep them as
/// escape sequences. NO_COLOR (https://no-color.org: set and non-empty) turns them off anywhere.
fn log_colours(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(!log_colours(false, None));
        assert!(!log_colours(true, Some("1".into())));
        assert!(
            log_colours(true, Some("".into())),
            "an empty NO_COLOR does not count"
        );
        assert!(!log_colours(false, Some("1".into())));
    }

    #[test]
    fn only_a_closed_stdout_ends_quietly() {
        let stdout = anyhow::Error::new(StdoutError(broken())).context("printing the record");
        assert!(is_broken_pipe(&stdout));
        let wrapped = anyhow::Error::new(StdoutError::wrap(broken()));
        assert!(is_broken_pipe(&wrapped));
        // A connection to the engine or a server breaking is an error, whatever its kind.
        let connection = anyhow::Error::new(broken()).context("uploading to the Docker engine");
        assert!(!is_broken_pipe(&connection));
        let other_stdout = anyhow::Error::new(StdoutError(std::io::Error::other("disk full")));
        assert!(!is_broken_pipe(&other_stdout));
    }
}
