//! Small HTTP helpers shared by the commands that talk to registries, logs and provers: one client
//! setup, size-limited bodies, and errors that name the URL and what it answered.

use std::time::Duration;

use anyhow::{bail, Context};

pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// The body of a successful GET, at most `limit` bytes.
pub async fn get_bytes(client: &reqwest::Client, url: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    read_body(response, url, limit).await
}

pub async fn get_text(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let bytes = get_bytes(client, url, 16 << 20).await?;
    String::from_utf8(bytes)
        .with_context(|| format!("{url} answered something that is not UTF-8 text"))
}

/// Reads a response body up to `limit` bytes; a non-2xx status is an error quoting the answer.
pub async fn read_body(
    mut response: reqwest::Response,
    url: &str,
    limit: u64,
) -> anyhow::Result<Vec<u8>> {
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading {url}"))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            bail!("{url} answered more than {limit} bytes: refusing to read on");
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    Ok(body)
}
