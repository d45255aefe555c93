//! What we send GitHub, checked before the first request: a repository, a tag and asset names that
//! GitHub would reject or silently rename are refused here with a message saying why.

use std::path::Path;

use super::GitHubError as Error;

/// `owner/name`, as `--repo` and GitHub's URLs spell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub owner: String,
    pub name: String,
}

impl Repository {
    /// Owners are at most 39 characters, repository names at most 100, both of letters, digits,
    /// `-`, `_` and `.` (GitHub's own limits).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason: &'static str| Error::InvalidRepository {
            given: text.chars().take(200).collect(),
            reason,
        };
        let (owner, name) = text
            .split_once('/')
            .ok_or_else(|| invalid("it has no `/` between owner and name"))?;
        let usable = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if owner.is_empty() || owner.len() > 39 || !usable(owner) {
            return Err(invalid(
                "the owner must be 1 to 39 letters, digits, `-`, `_` or `.`",
            ));
        }
        if name.is_empty() || name.len() > 100 || !usable(name) || name == "." || name == ".." {
            return Err(invalid(
                "the name must be 1 to 100 letters, digits, `-`, `_` or `.`",
            ));
        }
        Ok(Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A subset of git's ref-name rules that needs no escaping in a URL path: letters, digits and
/// `.`, `_`, `-`, `+`, `/`, without `..`, a leading `-` or `/`, or a trailing `/` or `.lock`.
pub fn check_tag(tag: &str) -> Result<(), Error> {
    let reason = if tag.is_empty() {
        "it is empty"
    } else if tag.len() > 255 {
        "it is longer than 255 bytes"
    } else if !tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
    {
        "only letters, digits and `.`, `_`, `-`, `+`, `/` are accepted"
    } else if tag.contains("..") || tag.contains("//") {
        "it contains `..` or `//`"
    } else if tag.starts_with(['-', '/']) || tag.ends_with(['/', '.']) || tag.ends_with(".lock") {
        "it starts with `-` or `/`, or ends with `/`, `.` or `.lock`"
    } else {
        return Ok(());
    };
    Err(Error::InvalidTag {
        tag: tag.chars().take(300).collect(),
        reason,
    })
}

/// GitHub replaces other characters in asset names with `.`, after which a re-run would no longer
/// find the asset to replace; such names are refused instead.
pub fn check_asset_name(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > 255 {
        "it is longer than 255 bytes"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
    {
        "only letters, digits and `.`, `_`, `-`, `+` survive GitHub unchanged"
    } else if name.starts_with('.') {
        "GitHub drops a leading `.`"
    } else {
        return Ok(());
    };
    Err(Error::InvalidAssetName {
        name: name.chars().take(300).collect(),
        reason,
    })
}

/// The media type GitHub serves the asset with (browsers and `curl -J` go by it).
pub fn content_type(name: &str) -> &'static str {
    let extension = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => "application/json",
        // Detached OpenPGP signatures (RFC 3156).
        Some("asc" | "sig") => "application/pgp-signature",
        Some("pgp" | "gpg" | "key") => "application/pgp-keys",
        Some("txt" | "md" | "note") => "text/plain; charset=utf-8",
        Some("toml") => "application/toml",
        Some("tar") => "application/x-tar",
        Some("gz" | "tgz") => "application/gzip",
        Some("zst") => "application/zstd",
        Some("zip") => "application/zip",
        // EIFs, images, bundles: bytes.
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        let repo = Repository::parse("mpr-dev/mpr.rs").expect("valid");
        assert_eq!(
            (repo.owner.as_str(), repo.name.as_str()),
            ("mpr-dev", "mpr.rs")
        );
        let long_owner = format!("{}/r", "x".repeat(40));
        for bad in ["mpr", "/mpr", "mpr/", "a/b/c", "a b/c", "o/..", &long_owner] {
            assert!(Repository::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags() {
        for good in ["v1.0.0", "release/1.2", "1.0.0+build.7"] {
            check_tag(good).expect(good);
        }
        for bad in ["", "v1 0", "a..b", "-x", "/x", "x/", "x.lock", "v1?x", "é"] {
            assert!(check_tag(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn asset_names() {
        for good in ["statement.json", "statement.json.asc", "prover-1.0.0.eif"] {
            check_asset_name(good).expect(good);
        }
        for bad in [
            "",
            ".hidden",
            "a b",
            "dir/file",
            "naïve.json",
            &"x".repeat(256),
        ] {
            assert!(check_asset_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("statement.json"), "application/json");
        assert_eq!(
            content_type("statement.json.asc"),
            "application/pgp-signature"
        );
        assert_eq!(content_type("release-key.pgp"), "application/pgp-keys");
        assert_eq!(content_type("prover.EIF"), "application/octet-stream");
        assert_eq!(content_type("noextension"), "application/octet-stream");
    }
}
