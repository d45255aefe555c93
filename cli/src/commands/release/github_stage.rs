//! The release's last stage: its statement, signature, proof, record and boot images on the
//! repository's GitHub release, where users already look. Skipped, saying so, without a token.

use std::path::{Path, PathBuf};

use registry_api::github::{self, GitHubError, GitHubToken, Publication, ReleaseAsset, Repository};

use super::journal::{GitHubPublication, Journal, Outcome};

pub struct GitHubTarget {
    pub repository: Option<String>,
    pub api_url: String,
    pub tag: String,
}

/// Publishes `assets`, unless the journal shows this exact set already published there.
pub async fn publish(
    target: &GitHubTarget,
    journal: &Journal,
    assets: &[PathBuf],
) -> anyhow::Result<(Outcome, Option<GitHubPublication>, String)> {
    let token = match GitHubToken::from_env() {
        Ok(token) => token,
        Err(GitHubError::MissingToken) => {
            return Ok((
                Outcome::NotConfigured,
                None,
                format!(
                    "no GitHub token ({} unset): not published on GitHub; set one and run `mpr release` again to publish",
                    github::TOKEN_VARIABLES.join(" and ")
                ),
            ))
        }
        Err(error) => return Err(error.into()),
    };
    let Some(repository) = target
        .repository
        .clone()
        .or_else(|| std::env::var("GITHUB_REPOSITORY").ok())
    else {
        anyhow::bail!(
            "a GitHub token is set but no repository: pass --github-repo OWNER/NAME (in GitHub Actions, GITHUB_REPOSITORY is used)"
        );
    };
    let repository = Repository::parse(&repository)?;
    let repository_name = repository.to_string();
    let mut digests = Vec::with_capacity(assets.len());
    for path in assets {
        let name = file_name(path);
        let sha256 = builder::hashing::sha256_file(path)
            .map_err(|e| anyhow::anyhow!("reading the release asset {}: {e}", path.display()))?
            .sha256;
        digests.push((name, sha256));
    }
    let wanted = |url: &str| GitHubPublication {
        repository: repository_name.clone(),
        tag: target.tag.clone(),
        url: url.to_owned(),
        assets: digests.clone(),
    };
    if let Some(done) = &journal.github {
        if *done == wanted(&done.url) {
            return Ok((
                Outcome::Skipped,
                Some(done.clone()),
                format!("already published: {}", done.url),
            ));
        }
    }
    let publication = Publication {
        api_url: target.api_url.clone(),
        repository,
        tag: target.tag.clone(),
        name: Some(format!("{} {}", journal.version, "(mpr release)")),
        notes: Some(notes(journal)),
        assets: assets
            .iter()
            .map(ReleaseAsset::from_path)
            .collect::<Result<_, _>>()?,
    };
    let published = github::publish(&publication, &token).await?;
    let detail = format!(
        "{} asset(s) on {} ({})",
        published.assets.len(),
        published.html_url,
        if published.created {
            "release created"
        } else {
            "existing release"
        }
    );
    Ok((Outcome::Done, Some(wanted(&published.html_url)), detail))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The release notes: what to check and how.
fn notes(journal: &Journal) -> String {
    let mut text = format!(
        "Measured release {} of the Midnight proof server, built hermetically by mpr.\n\n",
        journal.version
    );
    if let Some(sha256) = &journal.statement_sha256 {
        text.push_str(&format!(
            "Release statement (in-toto) sha256: `{sha256}`\n\n"
        ));
    }
    let m = &journal.measurements;
    if let (Some(pcr0), Some(pcr1), Some(pcr2)) = (&m.pcr0, &m.pcr1, &m.pcr2) {
        text.push_str(&format!(
            "AWS Nitro Enclaves:\n\n- PCR0 `{pcr0}`\n- PCR1 `{pcr1}`\n- PCR2 `{pcr2}`\n\n"
        ));
    }
    if !m.snp.is_empty() {
        text.push_str("AMD SEV-SNP launch digests:\n\n");
        for snp in &m.snp {
            text.push_str(&format!(
                "- {} vCPU {} ({}): `{}`\n",
                snp.vcpus,
                snp.vcpu_type.as_deref().unwrap_or("any"),
                snp.vmm,
                snp.digest
            ));
        }
        text.push('\n');
    }
    if let Some(vtpm) = &m.vtpm {
        text.push_str(&format!(
            "GCP and Azure confidential VMs booted from the UKI disk (vTPM, SHA-256 bank):\n\n- PCR4 `{}`\n- PCR9 `{}`\n- PCR11 `{}`\n- PCR12 `{}`\n\n",
            vtpm.pcr4, vtpm.pcr9, vtpm.pcr11, vtpm.pcr12
        ));
    }
    text.push_str(
        "Check the statement offline: `mpr manifest verify --statement statement.json --signature statement.json.asc --keyring RELEASE-KEY.asc --policy TRUST-POLICY.toml --proof statement.proof`; rebuild it yourself with `mpr rebuild verify`.\n",
    );
    text
}
