//! `mpr publish github`: a release's files on GitHub Releases, next to the source users already
//! look at. The work is `registry_api::github::publish`; this parses arguments and prints.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use registry_api::github::{
    self, GitHubToken, Publication, PublishedRelease, ReleaseAsset, Repository,
};

/// GitHub's limit on a release's notes.
const MAX_NOTES: u64 = 125_000;

#[derive(Debug, Subcommand)]
pub enum PublishCommand {
    /// Create (or reuse) the GitHub release for a tag and upload files to it; same-named assets
    /// are replaced. The token comes from GITHUB_TOKEN or MPR_GITHUB_TOKEN.
    Github(GithubArgs),
}

#[derive(Debug, Args)]
pub struct GithubArgs {
    /// The repository, as OWNER/NAME.
    #[arg(long, value_name = "OWNER/NAME")]
    repo: String,
    /// The release's tag (created by GitHub from the default branch if it does not exist yet).
    #[arg(long)]
    tag: String,
    /// The release's title when it is created [default: the tag].
    #[arg(long)]
    name: Option<String>,
    /// The release's notes (Markdown) when it is created.
    #[arg(long, value_name = "FILE")]
    notes_file: Option<PathBuf>,
    /// A file to attach under its own name; repeat for each.
    #[arg(long = "asset", value_name = "FILE", required = true)]
    assets: Vec<PathBuf>,
    /// The REST API's root (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long, value_name = "URL", default_value = github::DEFAULT_API_URL)]
    api_url: String,
}

pub fn run(command: PublishCommand, json: bool) -> anyhow::Result<()> {
    match command {
        PublishCommand::Github(args) => run_github(args, json),
    }
}

fn run_github(args: GithubArgs, json: bool) -> anyhow::Result<()> {
    // Everything local is checked before the token is even looked for.
    let repository = Repository::parse(&args.repo)?;
    github::check_tag(&args.tag)?;
    let notes = args.notes_file.as_deref().map(read_notes).transpose()?;
    let assets = args
        .assets
        .iter()
        .map(ReleaseAsset::from_path)
        .collect::<Result<Vec<_>, _>>()?;
    let token = GitHubToken::from_env()?;
    let publication = Publication {
        api_url: args.api_url,
        repository,
        tag: args.tag,
        name: args.name,
        notes,
        assets,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let published = runtime
        .block_on(github::publish(&publication, &token))
        .with_context(|| {
            format!(
                "publishing to the GitHub releases of {}",
                publication.repository
            )
        })?;
    if json {
        return super::print_json(&published);
    }
    print_text(&published)
}

fn read_notes(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening the release notes {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_NOTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the release notes {}", path.display()))?;
    if bytes.len() as u64 > MAX_NOTES {
        anyhow::bail!(
            "the release notes {} are longer than GitHub's limit of {MAX_NOTES} bytes: shorten them",
            path.display()
        );
    }
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "the release notes {} are not UTF-8 text: save them as UTF-8",
            path.display()
        )
    })
}

fn print_text(published: &PublishedRelease) -> anyhow::Result<()> {
    let how = if published.created {
        "created"
    } else {
        "existing"
    };
    outln!(
        "release {} of {} ({how}): {}",
        published.tag,
        published.repository,
        published.html_url
    )?;
    for asset in &published.assets {
        let replaced = if asset.replaced { " (replaced)" } else { "" };
        outln!(
            "  {} ({} bytes){replaced}: {}",
            asset.name,
            asset.size,
            asset.browser_download_url
        )?;
    }
    Ok(())
}
