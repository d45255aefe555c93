//! `mpr diff A B`: what differs between two build records, images, EIFs, ramdisks, build output
//! directories or files. Exit status as diff(1): 0 identical, 1 different, 2 trouble.

use std::path::PathBuf;
use std::process::ExitCode;

use builder::diff::{diff_paths, DiffOptions, DiffReport};

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The reference: a build record, EIF, ramdisk, image (directory or tar), build output directory or file.
    pub a: PathBuf,
    /// What to compare with it (of the same kind).
    pub b: PathBuf,
}

/// Runs the comparison and prints the report; returns the exit status (errors are printed here too).
pub fn main(args: DiffArgs, json: bool) -> ExitCode {
    let report = match diff_paths(&args.a, &args.b, &DiffOptions::default()) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("Error: {:#}", anyhow::Error::new(error));
            return ExitCode::from(2);
        }
    };
    let status = if report.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    match print(&args, &report, json) {
        Ok(()) => status,
        // The reader went away (`| head`): the answer stands.
        Err(error) if crate::is_broken_pipe(&error) => status,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn print(args: &DiffArgs, report: &DiffReport, json: bool) -> anyhow::Result<()> {
    if json {
        return super::print_json(report);
    }
    for difference in &report.differences {
        outln!("{difference}")?;
    }
    let (a, b) = (args.a.display(), args.b.display());
    match report.differences.len() {
        0 => outln!("{a} and {b} are identical")?,
        1 => outln!("1 difference between {a} and {b}")?,
        n => outln!("{n} differences between {a} and {b}")?,
    }
    Ok(())
}
