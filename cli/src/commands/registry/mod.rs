//! `mpr registry`: publisher-side work against a registry: tokens and publishing build records.

mod publish;
mod token;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Create or revoke publisher tokens (needs database access, like `mpr serve`).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Record a release from a build record: its official build, artifacts and measurements.
    Publish(publish::PublishArgs),
}

pub fn run(command: RegistryCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Token(command) => token::run(command, json),
        RegistryCommand::Publish(args) => publish::run(args, json),
    }
}
