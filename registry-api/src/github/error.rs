use std::path::PathBuf;

/// Why publishing to GitHub Releases failed. No message ever contains the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitHubError {
    #[error(
        "no GitHub token: set GITHUB_TOKEN (or MPR_GITHUB_TOKEN) to a token that may write the \
         repository's releases (a fine-grained token with \"Contents: read and write\", or a classic \
         token with the `repo` scope)"
    )]
    MissingToken,

    #[error("the GitHub token in {variable} is unusable ({reason}): set it to the token alone")]
    InvalidToken {
        variable: &'static str,
        reason: &'static str,
    },

    #[error("repository {given:?} is invalid ({reason}): give it as OWNER/NAME, e.g. mpr-dev/mpr")]
    InvalidRepository { given: String, reason: &'static str },

    #[error("tag {tag:?} is invalid ({reason}): use a tag such as v1.0.0")]
    InvalidTag { tag: String, reason: &'static str },

    #[error("asset name {name:?} is invalid ({reason}): rename the file or give another name")]
    InvalidAssetName { name: String, reason: &'static str },

    #[error("asset name {name:?} is given twice: each asset of a release needs its own name")]
    DuplicateAssetName { name: String },

    #[error("{url:?} is not a usable GitHub API URL ({reason}): give e.g. https://api.github.com")]
    InvalidApiUrl { url: String, reason: String },

    #[error("could not read asset {path}: {source}")]
    ReadAsset {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "asset {path} is {size} bytes: GitHub takes release assets smaller than 2 GiB and not empty"
    )]
    AssetSize { path: PathBuf, size: u64 },

    #[error(
        "GitHub refused the token while trying to {action} (401 {message}): it is wrong, expired or \
         revoked; set GITHUB_TOKEN or MPR_GITHUB_TOKEN to a valid one"
    )]
    BadCredentials { action: String, message: String },

    #[error(
        "GitHub's API rate limit is exhausted ({status} while trying to {action}){reset}: try again \
         later, or with a token that has its own quota"
    )]
    RateLimited {
        action: String,
        status: u16,
        /// ", resets at ..." when GitHub said.
        reset: String,
    },

    #[error(
        "GitHub refused to {action} in {repository} (403 {message}): the token may not write this \
         repository's releases (it needs \"Contents: read and write\" or the `repo` scope)"
    )]
    Forbidden {
        action: String,
        repository: String,
        message: String,
    },

    #[error(
        "could not {action}: repository {repository} was not found, or the token cannot see it \
         (404 {message}); check --repo and the token's repository access"
    )]
    NotFound {
        action: String,
        repository: String,
        message: String,
    },

    #[error("GitHub answered {status} when trying to {action}: {message}")]
    Api {
        action: String,
        status: u16,
        message: String,
    },

    #[error("could not {action}: {detail} (is {api_url} reachable?)")]
    Transport {
        action: String,
        detail: String,
        api_url: String,
    },

    #[error(
        "the release's upload_url {url:?} points at a host other than the API's ({allowed}); \
         refusing to send the token there"
    )]
    UploadHostNotAllowed { url: String, allowed: String },

    #[error("GitHub's answer when trying to {action} is not what its API documents: {detail}")]
    UnexpectedAnswer { action: String, detail: String },
}
