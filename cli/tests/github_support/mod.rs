//! A stand-in for the part of GitHub's REST API that `mpr publish github` uses (GitHub cannot be
//! reached from here): releases by tag, release creation, asset listing, deletion and uploads
//! through the release's `upload_url`, which points at the same server under another prefix, the
//! way GitHub Enterprise Server does it. It answers as GitHub documents (including 422
//! `already_exists` for a duplicate asset name) and records every request it receives.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub const OWNER: &str = "mpr-dev";
pub const REPO: &str = "mpr";
/// The API lives under this prefix (as on GitHub Enterprise Server), uploads under `/uploads`.
pub const API_PREFIX: &str = "/api/v3";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<String>,
    pub body: Vec<u8>,
    /// What the server answered.
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct FakeRelease {
    pub id: u64,
    pub tag: String,
    pub name: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FakeAsset {
    pub id: u64,
    pub release_id: u64,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What the server holds and how it should misbehave.
#[derive(Debug, Default)]
pub struct World {
    pub token: String,
    pub releases: Vec<FakeRelease>,
    pub assets: Vec<FakeAsset>,
    pub requests: Vec<Recorded>,
    next_id: u64,
    /// Answer this many asset listings with an empty list (as if listed before a concurrent
    /// upload), so that the upload runs into 422 `already_exists`.
    pub stale_listings: u32,
    /// Answer every request with 403 and an exhausted rate limit.
    pub rate_limited: bool,
    /// Put this origin in `upload_url` instead of the server's own.
    pub upload_origin: Option<String>,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub world: Arc<Mutex<World>>,
    pub base: String,
}

impl FakeGitHub {
    pub async fn start(token: &str) -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let world = Arc::new(Mutex::new(World {
            token: token.to_owned(),
            next_id: 100,
            ..World::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state((world.clone(), base.clone()))
            // Release assets (an EIF of a few MiB) are larger than axum's default 2 MiB.
            .layer(axum::extract::DefaultBodyLimit::max(256 << 20));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("fake GitHub") });
        FakeGitHub { world, base }
    }

    pub fn api_url(&self) -> String {
        format!("{}{API_PREFIX}", self.base)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.world.lock().expect("world").requests.clone()
    }

    pub fn assets(&self) -> Vec<FakeAsset> {
        self.world.lock().expect("world").assets.clone()
    }

    pub fn releases(&self) -> Vec<FakeRelease> {
        self.world.lock().expect("world").releases.clone()
    }

    /// Adds a release as if made on github.com earlier.
    pub fn add_release(&self, tag: &str) -> u64 {
        let mut world = self.world.lock().expect("world");
        let id = world.id();
        world.releases.push(FakeRelease {
            id,
            tag: tag.to_owned(),
            name: Some(format!("{tag} (made by hand)")),
            body: None,
        });
        id
    }
}

impl World {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

type AppState = (Arc<Mutex<World>>, String);

async fn handle(
    State((world, base)): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut world = world.lock().expect("world");
    let request = Incoming {
        method: &method,
        uri: &uri,
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: &body,
    };
    let (status, answer) = answer(&mut world, &base, &request);
    world.requests.push(Recorded {
        method: method.to_string(),
        uri: uri.to_string(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        content_length: header("content-length"),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    let mut response = match answer {
        Some(value) => (status, Json(value)).into_response(),
        None => status.into_response(),
    };
    if world.rate_limited {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-remaining", "0".parse().expect("header"));
        headers.insert("x-ratelimit-reset", "1900000000".parse().expect("header"));
    }
    response
}

fn error(status: StatusCode, message: &str) -> (StatusCode, Option<Value>) {
    (
        status,
        Some(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
        })),
    )
}

struct Incoming<'a> {
    method: &'a Method,
    uri: &'a Uri,
    authorization: Option<String>,
    content_type: Option<String>,
    body: &'a [u8],
}

fn answer(world: &mut World, base: &str, request: &Incoming<'_>) -> (StatusCode, Option<Value>) {
    let Incoming {
        method, uri, body, ..
    } = *request;
    if world.rate_limited {
        return error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user ID 1.",
        );
    }
    if request.authorization != Some(format!("Bearer {}", world.token)) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let repo = format!("/repos/{OWNER}/{REPO}/releases");
    let path = uri.path();
    if let Some(rest) = path
        .strip_prefix("/uploads")
        .and_then(|p| p.strip_prefix(&repo))
    {
        let release_id = rest
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix("/assets"))
            .and_then(|id| id.parse::<u64>().ok());
        let name = uri
            .query()
            .and_then(|q| q.strip_prefix("name="))
            .map(|n| n.replace("%2B", "+"));
        return match (release_id, name) {
            (Some(release_id), Some(name)) if method == Method::POST => {
                let content_type = request.content_type.clone().unwrap_or_default();
                upload(world, base, release_id, name, content_type, body)
            }
            _ => error(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let Some(rest) = path
        .strip_prefix(API_PREFIX)
        .and_then(|p| p.strip_prefix(&repo))
    else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    if let (true, Some(tag)) = (method == Method::GET, rest.strip_prefix("/tags/")) {
        return match world.releases.iter().find(|r| r.tag == tag) {
            Some(release) => (StatusCode::OK, Some(release_json(world, base, release))),
            None => error(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    if method == Method::POST && rest.is_empty() {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
        };
        let Some(tag) = request["tag_name"].as_str() else {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        };
        let id = world.id();
        let release = FakeRelease {
            id,
            tag: tag.to_owned(),
            name: request["name"].as_str().map(str::to_owned),
            body: request["body"].as_str().map(str::to_owned),
        };
        world.releases.push(release.clone());
        return (
            StatusCode::CREATED,
            Some(release_json(world, base, &release)),
        );
    }
    if let (true, Some(id)) = (method == Method::DELETE, rest.strip_prefix("/assets/")) {
        let before = world.assets.len();
        world.assets.retain(|a| Some(a.id) != id.parse().ok());
        return if world.assets.len() < before {
            (StatusCode::NO_CONTENT, None)
        } else {
            error(StatusCode::NOT_FOUND, "Not Found")
        };
    }
    let listed = rest
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix("/assets"))
        .and_then(|id| id.parse::<u64>().ok());
    if let (true, Some(release_id)) = (method == Method::GET, listed) {
        if !world.releases.iter().any(|r| r.id == release_id) {
            return error(StatusCode::NOT_FOUND, "Not Found");
        }
        if world.stale_listings > 0 {
            world.stale_listings -= 1;
            return (StatusCode::OK, Some(json!([])));
        }
        let assets: Vec<Value> = world
            .assets
            .iter()
            .filter(|a| a.release_id == release_id)
            .map(|a| asset_json(world, base, a))
            .collect();
        return (StatusCode::OK, Some(Value::Array(assets)));
    }
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn upload(
    world: &mut World,
    base: &str,
    release_id: u64,
    name: String,
    content_type: String,
    body: &[u8],
) -> (StatusCode, Option<Value>) {
    if !world.releases.iter().any(|r| r.id == release_id) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    if world
        .assets
        .iter()
        .any(|a| a.release_id == release_id && a.name == name)
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(json!({
                "message": "Validation Failed",
                "errors": [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
                "documentation_url": "https://docs.github.com/rest/releases/assets#upload-a-release-asset",
            })),
        );
    }
    let id = world.id();
    let asset = FakeAsset {
        id,
        release_id,
        name,
        content_type,
        bytes: body.to_vec(),
    };
    world.assets.push(asset.clone());
    (StatusCode::CREATED, Some(asset_json(world, base, &asset)))
}

fn release_json(world: &World, base: &str, release: &FakeRelease) -> Value {
    let id = release.id;
    let upload_origin = world.upload_origin.as_deref().unwrap_or(base);
    let assets: Vec<Value> = world
        .assets
        .iter()
        .filter(|a| a.release_id == id)
        .map(|a| asset_json(world, base, a))
        .collect();
    json!({
        "url": format!("{base}{API_PREFIX}/repos/{OWNER}/{REPO}/releases/{id}"),
        "html_url": format!("{base}/{OWNER}/{REPO}/releases/tag/{}", release.tag),
        "assets_url": format!("{base}{API_PREFIX}/repos/{OWNER}/{REPO}/releases/{id}/assets"),
        "upload_url": format!("{upload_origin}/uploads/repos/{OWNER}/{REPO}/releases/{id}/assets{{?name,label}}"),
        "tarball_url": null,
        "zipball_url": null,
        "id": id,
        "node_id": format!("RE_{id}"),
        "tag_name": release.tag,
        "target_commitish": "main",
        "name": release.name,
        "body": release.body,
        "draft": false,
        "prerelease": false,
        "created_at": "2026-12-01T00:00:00Z",
        "published_at": "2026-12-01T00:00:00Z",
        "author": null,
        "assets": assets,
    })
}

fn asset_json(world: &World, base: &str, asset: &FakeAsset) -> Value {
    let tag = world
        .releases
        .iter()
        .find(|r| r.id == asset.release_id)
        .map(|r| r.tag.clone())
        .unwrap_or_default();
    json!({
        "url": format!("{base}{API_PREFIX}/repos/{OWNER}/{REPO}/releases/assets/{}", asset.id),
        "browser_download_url": format!("{base}/{OWNER}/{REPO}/releases/download/{tag}/{}", asset.name),
        "id": asset.id,
        "node_id": format!("RA_{}", asset.id),
        "name": asset.name,
        "label": null,
        "state": "uploaded",
        "content_type": asset.content_type,
        "size": asset.bytes.len(),
        "digest": null,
        "download_count": 0,
        "created_at": "2026-12-01T00:00:00Z",
        "updated_at": "2026-12-01T00:00:00Z",
        "uploader": null,
    })
}
