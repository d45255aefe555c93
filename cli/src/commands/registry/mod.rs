//! `mpr registry`: publisher-side work against a registry: tokens, publishing build records, and
//! the signed statements that change a release later (status changes, addenda).

pub mod publish;
mod statements;
mod token;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Create or revoke publisher tokens (needs database access, like `mpr serve`).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Record a release from a build record: its official build, artifacts and measurements.
    Publish(publish::PublishArgs),
    /// Deprecate or re-activate a release's measurement set with a signed statement: renders it
    /// to a file; with --signature, submits that file and its signatures.
    SetStatus(statements::SetStatusArgs),
    /// Add a measurement set (a new vCPU count or CPU generation) to a recorded release with a
    /// signed statement: renders it to a file; with --signature, submits it.
    Addendum(statements::AddendumArgs),
}

pub fn run(command: RegistryCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Token(command) => token::run(command, json),
        RegistryCommand::Publish(args) => publish::run(args, json),
        RegistryCommand::SetStatus(args) => statements::set_status(args, json),
        RegistryCommand::Addendum(args) => statements::addendum(args, json),
    }
}
