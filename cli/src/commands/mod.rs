//! One module per `mpr` subcommand group.

pub mod attest;
pub mod build;
pub mod builder_image;
pub mod diff;
pub mod eif;
pub mod http;
pub mod key;
pub mod log;
pub mod manifest;
pub mod measure;
pub mod publish;
pub mod rebuild;
pub mod registry;
pub mod release;
pub mod serve;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}
