//! One asset, streamed from its file to the release's `upload_url`.
//!
//! octocrab's own `upload_asset` takes the whole file as one buffer and fetches the release again
//! for its `upload_url`; this sends the same request (POST `{upload_url}?name=NAME`, the file as
//! the body, its length and media type in the headers) through octocrab's `execute`, which adds
//! the token only for the API's and the upload host's authority, with the file streamed.

use futures_util::TryStreamExt;
use http_body::Frame;
use octocrab::models::repos::{Asset, Release};
use octocrab::{FromResponse, OctoBody};
use tokio_util::io::ReaderStream;

use super::{content_type, GitHub, GitHubError as Error, ReleaseAsset};

pub(super) enum Failure {
    /// 422 with `already_exists`: an asset of this name appeared since we listed them.
    AlreadyExists,
    GitHub(octocrab::Error),
    Other(Error),
}

impl Failure {
    pub(super) fn into_error(self, client: &GitHub, name: &str) -> Error {
        let action = format!("upload asset {name}");
        match self {
            Failure::AlreadyExists => Error::Api {
                action,
                status: 422,
                message: "an asset of this name still exists after deleting it".to_owned(),
            },
            Failure::GitHub(error) => client.error(error, &action),
            Failure::Other(error) => error,
        }
    }
}

pub(super) async fn upload(
    client: &GitHub,
    release: &Release,
    asset: &ReleaseAsset,
    size: u64,
) -> Result<Asset, Failure> {
    let action = format!("upload asset {}", asset.name);
    let uri = upload_uri(client, &release.upload_url, &asset.name)?;
    let file = tokio::fs::File::open(&asset.path).await.map_err(|source| {
        Failure::Other(Error::ReadAsset {
            path: asset.path.clone(),
            source,
        })
    })?;
    let body = http_body_util::StreamBody::new(ReaderStream::new(file).map_ok(Frame::data));
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(uri)
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header(http::header::CONTENT_TYPE, content_type(&asset.name))
        .header(http::header::CONTENT_LENGTH, size)
        .body(OctoBody::new(body))
        .map_err(|e| {
            Failure::Other(Error::UnexpectedAnswer {
                action: action.clone(),
                detail: format!("could not build the request: {e}"),
            })
        })?;
    let response = client
        .uploads
        .execute(request)
        .await
        .map_err(Failure::GitHub)?;
    let response = match octocrab::map_github_error(response).await {
        Ok(response) => response,
        Err(octocrab::Error::GitHub { source, .. })
            if source.status_code == 422 && already_exists(source.errors.as_deref()) =>
        {
            return Err(Failure::AlreadyExists)
        }
        Err(e) => return Err(Failure::GitHub(e)),
    };
    Asset::from_response(response).await.map_err(|e| {
        Failure::Other(Error::UnexpectedAnswer {
            action,
            detail: super::describe(&e),
        })
    })
}

/// `upload_url` is a URI template (`https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}`);
/// its host must be one the token is meant for.
fn upload_uri(client: &GitHub, template: &str, name: &str) -> Result<http::Uri, Failure> {
    let base = template.split('{').next().unwrap_or(template);
    let unexpected = |detail: String| {
        Failure::Other(Error::UnexpectedAnswer {
            action: "read the release's upload_url".to_owned(),
            detail,
        })
    };
    if base.contains('?') {
        return Err(unexpected(format!("{template:?} already has a query")));
    }
    // Asset names are checked to be letters, digits and `._-+`; `+` alone needs escaping.
    let uri: http::Uri = format!("{base}?name={}", name.replace('+', "%2B"))
        .parse()
        .map_err(|e| unexpected(format!("{template:?}: {e}")))?;
    let allowed = [
        client.endpoints.api_url.as_str(),
        client.endpoints.upload_origin.as_str(),
    ];
    let origin = |url: &str| {
        url.parse::<http::Uri>()
            .ok()
            .and_then(|u| Some((u.scheme_str()?.to_owned(), u.authority()?.clone())))
    };
    let here = origin(&uri.to_string());
    if here.is_none() || !allowed.iter().any(|a| origin(a) == here) {
        return Err(Failure::Other(Error::UploadHostNotAllowed {
            url: template.chars().take(300).collect(),
            allowed: allowed.join(", "),
        }));
    }
    Ok(uri)
}

fn already_exists(errors: Option<&[serde_json::Value]>) -> bool {
    errors
        .unwrap_or_default()
        .iter()
        .any(|e| e.get("code").and_then(|c| c.as_str()) == Some("already_exists"))
}
