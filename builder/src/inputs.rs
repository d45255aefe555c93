//! Pinned inputs, read once: every pinned file is copied into the build's work directory while it is
//! hashed, checked against its pin, and only the copy is used afterwards, so what is built is exactly
//! what was hashed (a file changed on the host mid-build cannot slip in). `[[files]]` given by URL are
//! fetched in the fetch stage into a content-addressed cache, which is then the local copy.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hashing::{BlobDigests, HashingWriter};
use crate::recipe::{FileSpec, Recipe, RecipeError};

/// A fetched file larger than this is refused (the largest Midnight parameter file is ~400 MiB).
pub const MAX_FETCHED_FILE_BYTES: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Pin(#[from] RecipeError),
    #[error("cannot fetch {url} ({what}): {detail}; this needs the network in the fetch stage, or put the file on disk and name it with `path` instead of `url`")]
    Fetch {
        what: String,
        url: String,
        detail: String,
    },
    #[error("{url} ({what}) has SHA-256 {actual}, but the recipe pins {expected}; the server sent another file: check the URL, or pin the new digest if the change is intended")]
    FetchedMismatch {
        what: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> InputError {
    let context = context.into();
    move |source| InputError::Io { context, source }
}

/// A pinned boot input as recorded: by recipe field and file name, with the digest of the bytes read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedInput {
    pub field: String,
    pub file_name: String,
    pub sha256: String,
}

/// A `[[files]]` entry as recorded: where it went, its mode and what was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedFile {
    pub dest: String,
    pub mode: u32,
    pub size: u64,
    pub sha256: String,
    /// Where it was fetched from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The staged copies: `recipe` now points at them.
#[derive(Debug)]
pub struct StagedInputs {
    pub pinned: Vec<PinnedInput>,
    pub placed: Vec<(PlacedFile, PathBuf)>,
}

/// The cache path of a fetched file.
pub fn cached_path(cache: &Path, sha256: &str) -> PathBuf {
    cache.join("sha256").join(sha256)
}

/// Fetches every `[[files]]` URL that is not cached yet (the network part of the fetch stage).
pub async fn fetch_files(recipe: &Recipe, cache: &Path) -> Result<(), InputError> {
    for (i, file) in recipe.files.iter().enumerate() {
        if let Some(url) = &file.url {
            if !cached_path(cache, &file.sha256).is_file() {
                download(&format!("files[{i}] {}", file.dest), url, file, cache).await?;
            }
        }
    }
    Ok(())
}

/// Copies every pinned input of `recipe` into `dir` while hashing it, checks each against its pin
/// and points the recipe at the copies. URL files must have been fetched ([`fetch_files`]).
pub fn stage(recipe: &mut Recipe, dir: &Path, cache: &Path) -> Result<StagedInputs, InputError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut pinned = Vec::new();
    let mut count = 0usize;
    let mut next_copy = |name: &str| {
        count += 1;
        dir.join(format!("{count:03}-{name}"))
    };
    for (field, file) in recipe.pinned_files_mut() {
        let file_name = file_name(&file.path);
        let copy = next_copy(&file_name);
        let read = copy_pinned(&field, &file.path, &copy, &file.sha256)?;
        pinned.push(PinnedInput {
            field,
            file_name,
            sha256: read.sha256,
        });
        file.path = copy;
    }
    let mut placed = Vec::new();
    for (i, file) in recipe.files.iter().enumerate() {
        let what = format!("files[{i}] {}", file.dest);
        let source = match &file.path {
            Some(path) => path.clone(),
            None => cached_path(cache, &file.sha256),
        };
        let copy = next_copy(&file_name(Path::new(&file.dest)));
        let read = copy_pinned(&what, &source, &copy, &file.sha256)?;
        let record = PlacedFile {
            dest: crate::archive::Tree::clean_path(&file.dest)
                .unwrap_or(&file.dest)
                .to_owned(),
            mode: file.mode,
            size: read.size,
            sha256: read.sha256,
            url: file.url.clone(),
        };
        placed.push((record, copy));
    }
    Ok(StagedInputs { pinned, placed })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Copies `from` to `to`, hashing the bytes as they pass; a digest other than `expected` is an error
/// (and the copy is removed).
fn copy_pinned(
    what: &str,
    from: &Path,
    to: &Path,
    expected: &str,
) -> Result<BlobDigests, InputError> {
    let pin_error = |source| {
        InputError::Pin(RecipeError::Pin {
            what: what.to_owned(),
            path: from.to_owned(),
            source,
        })
    };
    let mut input = std::fs::File::open(from).map_err(pin_error)?;
    let output = std::fs::File::create(to).map_err(io(format!("creating {}", to.display())))?;
    let mut writer = HashingWriter::sha256_only(std::io::BufWriter::new(output));
    std::io::copy(&mut input, &mut writer).map_err(pin_error)?;
    let (mut buffered, read) = writer.finish();
    buffered
        .flush()
        .map_err(io(format!("writing {}", to.display())))?;
    if read.sha256 != expected {
        let _ = std::fs::remove_file(to);
        return Err(InputError::Pin(RecipeError::PinMismatch {
            what: what.to_owned(),
            path: from.to_owned(),
            expected: expected.to_owned(),
            actual: read.sha256,
        }));
    }
    Ok(read)
}

/// Streams `url` into the cache, hashing as it goes; the file appears under its digest only when
/// complete and equal to the pin.
async fn download(what: &str, url: &str, file: &FileSpec, cache: &Path) -> Result<(), InputError> {
    let fetch_error = |detail: String| InputError::Fetch {
        what: what.to_owned(),
        url: url.to_owned(),
        detail,
    };
    let dir = cache.join("sha256");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| fetch_error(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| fetch_error(e.to_string()))?;
    let staging = tempfile::NamedTempFile::new_in(&dir)
        .map_err(io(format!("creating a file in {}", dir.display())))?;
    let mut writer = HashingWriter::sha256_only(std::io::BufWriter::new(staging));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_error(e.to_string()))?
    {
        writer
            .write_all(&chunk)
            .map_err(io(format!("writing into {}", dir.display())))?;
        if writer.bytes_written() > MAX_FETCHED_FILE_BYTES {
            return Err(fetch_error(format!(
                "it is larger than {MAX_FETCHED_FILE_BYTES} bytes, the limit for a fetched file"
            )));
        }
    }
    let (buffered, read) = writer.finish();
    if read.sha256 != file.sha256 {
        return Err(InputError::FetchedMismatch {
            what: what.to_owned(),
            url: url.to_owned(),
            expected: file.sha256.clone(),
            actual: read.sha256,
        });
    }
    let staging = buffered
        .into_inner()
        .map_err(|e| io(format!("writing into {}", dir.display()))(e.into_error()))?;
    staging
        .persist(cached_path(cache, &file.sha256))
        .map_err(|e| io(format!("storing into {}", dir.display()))(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::serve_file;

    fn serve(path: &'static str, body: Vec<u8>) -> String {
        serve_file(path, body, 8)
    }

    fn recipe_with(url: &str, sha256: &str) -> Recipe {
        let text = format!(
            "schema = 1\nname = \"f\"\nversion = \"1\"\n[builder]\nimage = \"sha256:{}\"\n[runtime]\nentrypoint = [\"/f\"]\n[[files]]\ndest = \"params/p\"\nsha256 = \"{sha256}\"\nurl = \"{url}\"\n",
            "0".repeat(64)
        );
        Recipe::parse(&text, Path::new("r.toml"), Path::new("/")).unwrap()
    }

    #[tokio::test]
    async fn url_files_are_fetched_into_the_cache_and_staged() {
        let body = b"public parameters".to_vec();
        let sha256 = crate::hashing::digest_bytes(&body).sha256;
        let base = serve("/p", body.clone());
        let cache = tempfile::tempdir().unwrap();
        let mut recipe = recipe_with(&format!("{base}/p"), &sha256);
        fetch_files(&recipe, cache.path()).await.unwrap();
        assert_eq!(
            std::fs::read(cached_path(cache.path(), &sha256)).unwrap(),
            body
        );
        let work = tempfile::tempdir().unwrap();
        let staged = stage(&mut recipe, work.path(), cache.path()).unwrap();
        let (placed, copy) = &staged.placed[0];
        assert_eq!(placed.dest, "params/p");
        assert_eq!(placed.mode, 0o644);
        assert_eq!(placed.sha256, sha256);
        assert_eq!(placed.url.as_deref(), Some(format!("{base}/p").as_str()));
        assert_eq!(std::fs::read(copy).unwrap(), body);
        // Cached: no network needed the second time (the server is asked for another path now).
        let mut offline = recipe_with(&format!("{base}/gone"), &sha256);
        fetch_files(&offline, cache.path()).await.unwrap();
        stage(&mut offline, work.path(), cache.path()).unwrap();
    }

    #[tokio::test]
    async fn a_wrong_or_missing_download_is_named_and_not_cached() {
        let base = serve("/p", b"something else".to_vec());
        let cache = tempfile::tempdir().unwrap();
        let pinned = "a".repeat(64);
        let err = fetch_files(&recipe_with(&format!("{base}/p"), &pinned), cache.path())
            .await
            .unwrap_err();
        assert!(matches!(err, InputError::FetchedMismatch { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("files[0] params/p") && text.contains(&pinned),
            "{text}"
        );
        assert!(!cached_path(cache.path(), &pinned).exists());
        assert_eq!(
            std::fs::read_dir(cache.path().join("sha256"))
                .unwrap()
                .count(),
            0
        );

        let err = fetch_files(
            &recipe_with(&format!("{base}/missing"), &pinned),
            cache.path(),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("404") && text.contains("`path`"), "{text}");
    }
}
