//! The deploy guides (docs/deploy/*.md) stay true: every `mpr` and `proof-server` command in their
//! `sh` blocks parses with the real flags (clap's own definitions, nothing copied), and every block
//! marked `sh run` runs here, with `RELEASE` set to the in-repo prover's release
//! (MPR_PROVER_RELEASE, as for the boot tests) and `mpr` on the PATH.
//!
//! Needs skopeo and qemu-img (ci/setup.sh installs them).

mod vm_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;

const GUIDES: [&str; 3] = ["aws-nitro.md", "gcp.md", "azure.md"];

/// A shell block of a guide: its info string said `sh run` or just `sh`.
struct Block {
    guide: &'static str,
    line: usize,
    run: bool,
    text: String,
}

fn guides_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy")
}

fn blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for guide in GUIDES {
        let path = guides_dir().join(guide);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut open: Option<Block> = None;
        for (index, line) in text.lines().enumerate() {
            match (&mut open, line.strip_prefix("```")) {
                (None, Some(info)) if info.trim() == "sh" || info.trim() == "sh run" => {
                    open = Some(Block {
                        guide,
                        line: index + 1,
                        run: info.trim() == "sh run",
                        text: String::new(),
                    })
                }
                (Some(_), Some("")) => blocks.extend(open.take()),
                (Some(block), _) => {
                    block.text.push_str(line);
                    block.text.push('\n');
                }
                (None, _) => {}
            }
        }
        assert!(open.is_none(), "{guide}: a code block is never closed");
    }
    blocks
}

/// The block's commands: continuation lines joined, comments and blank lines dropped, each split
/// into words as the shell would (quotes removed; nothing expanded).
fn commands(block: &Block) -> Vec<Vec<String>> {
    let joined = block.text.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| {
            let line = line.split(" # ").next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let words = shlex::split(line).unwrap_or_else(|| {
                panic!(
                    "{} line {}: {line:?} is not valid shell",
                    block.guide, block.line
                )
            });
            // The command ends where a redirection, pipe or list operator starts.
            let end = words
                .iter()
                .position(|w| {
                    ["|", "||", "&&", ";", "<"].contains(&w.as_str())
                        || w.starts_with('>')
                        || w.starts_with("2>")
                })
                .unwrap_or(words.len());
            Some(words[..end].to_vec())
        })
        .collect()
}

#[test]
fn every_documented_command_parses_with_the_real_flags() {
    let blocks = blocks();
    let mut checked = Vec::new();
    for block in &blocks {
        for words in commands(block) {
            let Some(program) = words.first() else {
                continue;
            };
            let place = format!("{} (block at line {})", block.guide, block.line);
            match program.as_str() {
                "mpr" => {
                    if let Err(error) = mpr::command().try_get_matches_from(&words) {
                        panic!("{place}: `{}` does not parse:\n{error}", words.join(" "));
                    }
                }
                "proof-server" => {
                    if let Err(error) = prover::config::Config::try_parse_from(&words) {
                        panic!("{place}: `{}` does not parse:\n{error}", words.join(" "));
                    }
                }
                _ => continue,
            }
            checked.push((block.guide, words[..2.min(words.len())].join(" ")));
        }
    }
    // Each guide shows how to rebuild, how the prover is started and how a wallet verifies.
    for guide in GUIDES {
        for needed in ["mpr rebuild", "mpr attest"] {
            assert!(
                checked.iter().any(|(g, c)| *g == guide && c == needed),
                "{guide} has no `{needed}` command"
            );
        }
        assert!(
            checked
                .iter()
                .any(|(g, c)| *g == guide && c.starts_with("proof-server")),
            "{guide} never says how the prover is started"
        );
    }
}

#[test]
fn a_misspelt_flag_in_a_guide_would_be_caught() {
    use clap::error::ErrorKind;
    let words = [
        "mpr",
        "attest",
        "https://prover.example:6300",
        "--policy",
        "p.toml",
        "--registy",
        "https://registry.example",
    ];
    let error = mpr::command().try_get_matches_from(words).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownArgument, "{error}");
    let words = ["proof-server", "--listen", "vsock:6300", "--tsl"];
    let error = prover::config::Config::try_parse_from(words).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownArgument, "{error}");
}

#[test]
fn the_steps_that_can_run_here_run() {
    let release = vm_support::prover_release();
    let mpr_dir = Path::new(env!("CARGO_BIN_EXE_mpr")).parent().unwrap();
    let path = format!(
        "{}:{}",
        mpr_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let runnable: Vec<Block> = blocks().into_iter().filter(|b| b.run).collect();
    for guide in GUIDES {
        assert!(
            runnable.iter().any(|b| b.guide == guide),
            "{guide} has no `sh run` block: something of it must run here"
        );
    }
    for block in runnable {
        let work = tempfile::tempdir().unwrap();
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &block.text])
            .current_dir(work.path())
            .env("RELEASE", &release)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} block at line {} failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
            block.guide,
            block.line,
            output.status,
            block.text,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!(
            "{} block at line {}: ran\n{}",
            block.guide,
            block.line,
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
