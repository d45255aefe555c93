//! Publishing a release's files on GitHub Releases, where users already look for them.
//!
//! [`publish`] creates the release for a tag, or reuses the one that exists, and uploads each
//! asset through the release's `upload_url`. Running it again replaces assets of the same name
//! (the old one is deleted first; GitHub's 422 `already_exists`, from a concurrent upload, is
//! answered the same way), so a failed run can simply be repeated. The token is kept out of every
//! log line, error and `Debug` output.

mod error;
mod names;
mod upload;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use octocrab::models::repos::{Asset, Release};
use octocrab::Octocrab;
use serde::Serialize;

pub use error::GitHubError;
pub use names::{check_asset_name, check_tag, content_type, Repository};

use GitHubError as Error;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Where github.com takes uploads (its releases' `upload_url` points there).
const GITHUB_UPLOAD_URL: &str = "https://uploads.github.com";
/// GitHub takes release assets under 2 GiB.
pub const MAX_ASSET_SIZE: u64 = (2 << 30) - 1;
/// Variables the token is read from, the more specific first.
pub const TOKEN_VARIABLES: [&str; 2] = ["MPR_GITHUB_TOKEN", "GITHUB_TOKEN"];

/// A GitHub token. Its `Debug` output is redacted, and nothing here ever prints it.
#[derive(Clone)]
pub struct GitHubToken(String);

impl GitHubToken {
    /// The first of [`TOKEN_VARIABLES`] that is set and not empty.
    pub fn from_env() -> Result<Self, Error> {
        for variable in TOKEN_VARIABLES {
            if let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
                let value = value.into_string().map_err(|_| Error::InvalidToken {
                    variable,
                    reason: "it is not UTF-8",
                })?;
                return Self::new(variable, value.trim());
            }
        }
        Err(Error::MissingToken)
    }

    /// `source` names where the token came from, for the error message.
    pub fn new(source: &'static str, token: &str) -> Result<Self, Error> {
        let reason = if token.is_empty() {
            "it is empty"
        } else if token.len() > 1024 {
            "it is longer than 1024 bytes"
        } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
            "it contains spaces or control characters"
        } else {
            return Ok(Self(token.to_owned()));
        };
        Err(Error::InvalidToken {
            variable: source,
            reason,
        })
    }
}

impl fmt::Debug for GitHubToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitHubToken(<redacted>)")
    }
}

/// A file to attach to the release under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseAsset {
    pub name: String,
    pub path: PathBuf,
}

impl ReleaseAsset {
    /// The file under its own name.
    pub fn from_path(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::InvalidAssetName {
                name: path.display().to_string(),
                reason: "the path has no UTF-8 file name",
            })?
            .to_owned();
        Ok(Self { name, path })
    }
}

/// What to publish where.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The REST API's root: https://api.github.com, or a GitHub Enterprise Server's
    /// `https://HOST/api/v3`.
    pub api_url: String,
    pub repository: Repository,
    pub tag: String,
    /// The release's title when it is created (default: the tag). An existing release keeps its
    /// own title and notes.
    pub name: Option<String>,
    pub notes: Option<String>,
    pub assets: Vec<ReleaseAsset>,
}

/// What GitHub now holds, as printed by `mpr publish github --json`.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedRelease {
    pub repository: String,
    pub tag: String,
    pub id: u64,
    pub html_url: String,
    /// False when the release already existed and was reused.
    pub created: bool,
    pub assets: Vec<PublishedAsset>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishedAsset {
    pub name: String,
    pub id: u64,
    pub size: u64,
    pub content_type: String,
    pub browser_download_url: String,
    /// An asset of the same name was deleted to make room for this one.
    pub replaced: bool,
}

/// Creates or reuses the release for `publication.tag` and uploads every asset, replacing
/// same-named ones. Every input is checked before the first request.
pub async fn publish(
    publication: &Publication,
    token: &GitHubToken,
) -> Result<PublishedRelease, Error> {
    check_tag(&publication.tag)?;
    let files = check_assets(&publication.assets)?;
    let endpoints = Endpoints::new(&publication.api_url)?;
    let client = GitHub {
        crab: endpoints.client(token, &endpoints.api_url)?,
        // octocrab puts the base URI's path in front of any absolute URI whose path does not
        // start with it (/api/v3 + /api/uploads/... on GitHub Enterprise Server): uploads go
        // through a client based at the upload host's root.
        uploads: endpoints.client(token, &endpoints.upload_origin)?,
        repository: publication.repository.clone(),
        endpoints,
    };

    let (release, created) = client.release_for(publication).await?;
    tracing::info!(
        repository = %client.repository,
        tag = %publication.tag,
        release = release.id.0,
        created,
        "GitHub release ready for uploads"
    );
    let mut existing = client.list_assets(release.id.0).await?;
    let mut published = Vec::with_capacity(files.len());
    for (asset, size) in publication.assets.iter().zip(files) {
        let (uploaded, replaced) = client
            .put_asset(&release, asset, size, &mut existing)
            .await?;
        tracing::info!(name = %uploaded.name, size = uploaded.size, replaced, "uploaded release asset");
        published.push(PublishedAsset {
            name: uploaded.name,
            id: uploaded.id.0,
            size: u64::try_from(uploaded.size).unwrap_or(0),
            content_type: uploaded.content_type,
            browser_download_url: uploaded.browser_download_url.to_string(),
            replaced,
        });
    }
    Ok(PublishedRelease {
        repository: client.repository.to_string(),
        tag: release.tag_name,
        id: release.id.0,
        html_url: release.html_url.to_string(),
        created,
        assets: published,
    })
}

/// Names valid and distinct, files regular, readable and of a size GitHub takes; their sizes.
fn check_assets(assets: &[ReleaseAsset]) -> Result<Vec<u64>, Error> {
    let mut seen = HashSet::new();
    assets
        .iter()
        .map(|asset| {
            check_asset_name(&asset.name)?;
            if !seen.insert(asset.name.as_str()) {
                return Err(Error::DuplicateAssetName {
                    name: asset.name.clone(),
                });
            }
            let read_error = |source| Error::ReadAsset {
                path: asset.path.clone(),
                source,
            };
            let meta = std::fs::metadata(&asset.path).map_err(read_error)?;
            if !meta.is_file() {
                return Err(read_error(std::io::Error::other("not a regular file")));
            }
            std::fs::File::open(&asset.path).map_err(read_error)?;
            if meta.len() == 0 || meta.len() > MAX_ASSET_SIZE {
                return Err(Error::AssetSize {
                    path: asset.path.clone(),
                    size: meta.len(),
                });
            }
            Ok(meta.len())
        })
        .collect()
}

/// The API's root and the hosts the token may be sent to.
struct Endpoints {
    api_url: String,
    upload_origin: String,
}

impl Endpoints {
    fn new(api_url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidApiUrl {
            url: api_url.chars().take(300).collect(),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = api_url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let scheme = uri.scheme_str().unwrap_or("");
        if scheme != "https" && scheme != "http" {
            return Err(invalid(
                "it must start with https:// (or http:// for a test server)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
        if uri.query().is_some() {
            return Err(invalid("it has a query string"));
        }
        // github.com takes uploads on another host; GitHub Enterprise Server on its own.
        let upload_origin = if authority.host() == "api.github.com" {
            GITHUB_UPLOAD_URL.to_owned()
        } else {
            format!("{scheme}://{authority}")
        };
        Ok(Self {
            api_url: api_url.trim_end_matches('/').to_owned(),
            upload_origin,
        })
    }

    fn client(&self, token: &GitHubToken, base: &str) -> Result<Octocrab, Error> {
        let setup = |e: octocrab::Error| Error::InvalidApiUrl {
            url: self.api_url.clone(),
            reason: e.to_string(),
        };
        Octocrab::builder()
            .personal_token(token.0.clone())
            .base_uri(base)
            .map_err(setup)?
            .upload_uri(self.upload_origin.as_str())
            .map_err(setup)?
            .set_connect_timeout(Some(Duration::from_secs(30)))
            // Between two reads of an answer: an upload's answer comes once GitHub stored it all.
            .set_read_timeout(Some(Duration::from_secs(600)))
            .build()
            .map_err(setup)
    }
}

struct GitHub {
    crab: Octocrab,
    uploads: Octocrab,
    repository: Repository,
    endpoints: Endpoints,
}

impl GitHub {
    async fn release_for(&self, publication: &Publication) -> Result<(Release, bool), Error> {
        let repo = self
            .crab
            .repos(&self.repository.owner, &self.repository.name);
        let releases = repo.releases();
        let action = format!("look up the release for tag {}", publication.tag);
        match releases.get_by_tag(&publication.tag).await {
            Ok(release) => return Ok((release, false)),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code == 404 => {}
            Err(e) => return Err(self.error(e, &action)),
        }
        let name = publication.name.as_deref().unwrap_or(&publication.tag);
        let mut create = releases.create(&publication.tag).name(name);
        if let Some(notes) = &publication.notes {
            create = create.body(notes);
        }
        let action = format!("create the release for tag {}", publication.tag);
        let release = create.send().await.map_err(|e| self.error(e, &action))?;
        Ok((release, true))
    }

    async fn list_assets(&self, release_id: u64) -> Result<Vec<Asset>, Error> {
        let action = "list the release's assets";
        let first = self
            .crab
            .repos(&self.repository.owner, &self.repository.name)
            .releases()
            .assets(release_id)
            .per_page(100)
            .send()
            .await
            .map_err(|e| self.error(e, action))?;
        self.crab
            .all_pages(first)
            .await
            .map_err(|e| self.error(e, action))
    }

    async fn delete_asset(&self, asset: &Asset) -> Result<(), Error> {
        tracing::info!(name = %asset.name, id = asset.id.0, "deleting the release's old asset");
        let action = format!("delete the old asset {}", asset.name);
        // octocrab's release_assets().delete() does not look at the answer's status.
        let route = format!(
            "/repos/{}/{}/releases/assets/{}",
            self.repository.owner, self.repository.name, asset.id.0
        );
        let response = self
            .crab
            ._delete(route, None::<&()>)
            .await
            .map_err(|e| self.error(e, &action))?;
        octocrab::map_github_error(response)
            .await
            .map(drop)
            .map_err(|e| self.error(e, &action))
    }

    /// Deletes a same-named asset, then uploads; on 422 `already_exists` (someone uploaded one
    /// meanwhile) looks again, deletes it and retries once.
    async fn put_asset(
        &self,
        release: &Release,
        asset: &ReleaseAsset,
        size: u64,
        existing: &mut Vec<Asset>,
    ) -> Result<(Asset, bool), Error> {
        let mut replaced = false;
        if let Some(old) = take_named(existing, &asset.name) {
            self.delete_asset(&old).await?;
            replaced = true;
        }
        match upload::upload(self, release, asset, size).await {
            Err(upload::Failure::AlreadyExists) => {
                *existing = self.list_assets(release.id.0).await?;
                if let Some(old) = take_named(existing, &asset.name) {
                    self.delete_asset(&old).await?;
                }
                match upload::upload(self, release, asset, size).await {
                    Ok(uploaded) => Ok((uploaded, true)),
                    Err(failure) => Err(failure.into_error(self, &asset.name)),
                }
            }
            Err(failure) => Err(failure.into_error(self, &asset.name)),
            Ok(uploaded) => Ok((uploaded, replaced)),
        }
    }

    /// Names the problem: bad token, missing repository or permission, rate limit.
    fn error(&self, error: octocrab::Error, action: &str) -> Error {
        let action = action.to_owned();
        let octocrab::Error::GitHub { source, .. } = error else {
            return Error::Transport {
                action,
                detail: describe(&error),
                api_url: self.endpoints.api_url.clone(),
            };
        };
        let message: String = source.message.chars().take(500).collect();
        let status = source.status_code.as_u16();
        let header = |name: &str| {
            source
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0");
        let rate_limited = status == 429
            || (status == 403
                && (exhausted || message.to_ascii_lowercase().contains("rate limit")));
        let repository = self.repository.to_string();
        match status {
            _ if rate_limited => Error::RateLimited {
                action,
                status,
                reset: source
                    .rate_limit_reset_at()
                    .map(|at| format!(", resets at {}", at.format("%Y-%m-%d %H:%M:%S UTC")))
                    .unwrap_or_default(),
            },
            401 => Error::BadCredentials { action, message },
            403 => Error::Forbidden {
                action,
                repository,
                message,
            },
            404 => Error::NotFound {
                action,
                repository,
                message,
            },
            _ => Error::Api {
                action,
                status,
                message,
            },
        }
    }
}

fn take_named(assets: &mut Vec<Asset>, name: &str) -> Option<Asset> {
    let index = assets.iter().position(|a| a.name == name)?;
    Some(assets.swap_remove(index))
}

/// An error and its causes on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
