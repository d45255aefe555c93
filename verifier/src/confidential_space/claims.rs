//! The claims of a Confidential Space token that the verifier judges, and one check per claim.
//! Claims are optional in the type so that a missing one is reported by name, not as a JSON error.

use serde::Deserialize;

use super::TokenError;

pub const ISSUER: &str = "https://confidentialcomputing.googleapis.com";
/// `swname` of the Confidential Space image (a plain Confidential VM token says `GCE`).
pub const SWNAME: &str = "CONFIDENTIAL_SPACE";
/// `dbgstat` of a production image; a debug image says `enabled` and lets the operator in.
pub const DBGSTAT_PRODUCTION: &str = "disabled-since-boot";
/// Confidential-memory hardware models accepted by default: SEV, SEV-ES and TDX. Left out:
/// `GCP_SHIELDED_VM`, a VM whose memory the host can read.
pub const DEFAULT_HWMODELS: [&str; 3] = ["GCP_AMD_SEV", "GCP_AMD_SEV_ES", "GCP_INTEL_TDX"];

/// One string or a list of them, as JWT `aud` and Google's `eat_nonce` may be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            OneOrMany::One(value) => value == wanted,
            OneOrMany::Many(values) => values.iter().any(|value| value == wanted),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            OneOrMany::One(value) => format!("{value:?}"),
            OneOrMany::Many(values) => format!("{values:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Claims {
    pub iss: Option<String>,
    pub aud: Option<OneOrMany>,
    pub sub: Option<String>,
    pub exp: Option<u64>,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub eat_nonce: Option<OneOrMany>,
    pub secboot: Option<bool>,
    pub hwmodel: Option<String>,
    pub swname: Option<String>,
    pub swversion: Option<Vec<String>>,
    pub dbgstat: Option<String>,
    #[serde(default)]
    pub submods: Submods,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Submods {
    pub confidential_space: Option<ConfidentialSpaceClaims>,
    pub container: Option<ContainerClaims>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfidentialSpaceClaims {
    pub support_attributes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ContainerClaims {
    pub image_reference: Option<String>,
    pub image_digest: Option<String>,
    /// The command the launcher ran: the image's entrypoint and cmd, or the operator's
    /// `tee-cmd` when the image's launch policy allowed it (then also in `cmd_override`).
    pub args: Option<Vec<String>>,
    /// The container's environment: the image's, the launcher's additions (HOSTNAME), and any
    /// `tee-env-*` the image's launch policy allowed (then also in `env_override`).
    pub env: Option<std::collections::BTreeMap<String, String>>,
    pub env_override: Option<std::collections::BTreeMap<String, String>>,
    pub cmd_override: Option<Vec<String>>,
}

/// Google's support level of the Confidential Space image (`support_attributes`): an image that
/// is LATEST is also STABLE and USABLE, and the token lists every level that holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SupportLevel {
    /// Still supported, but may lack security fixes the newer images have.
    Usable,
    /// Receives security fixes; the default minimum.
    Stable,
    /// The newest image; tokens of a fleet lagging one release behind would be refused.
    Latest,
}

impl SupportLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportLevel::Usable => "USABLE",
            SupportLevel::Stable => "STABLE",
            SupportLevel::Latest => "LATEST",
        }
    }

    pub fn parse(text: &str) -> Option<SupportLevel> {
        [
            SupportLevel::Usable,
            SupportLevel::Stable,
            SupportLevel::Latest,
        ]
        .into_iter()
        .find(|level| level.as_str().eq_ignore_ascii_case(text))
    }
}

fn missing(claim: &'static str) -> TokenError {
    TokenError::MissingClaim(claim)
}

impl Claims {
    pub fn check_issuer(&self) -> Result<String, TokenError> {
        match &self.iss {
            Some(iss) if iss == ISSUER => Ok(format!("issued by {ISSUER}")),
            Some(iss) => Err(TokenError::Issuer(iss.clone())),
            None => Err(missing("iss")),
        }
    }

    pub fn check_audience(&self, audience: &str) -> Result<String, TokenError> {
        match &self.aud {
            Some(aud) if aud.contains(audience) => Ok(format!("audience {audience:?}")),
            Some(aud) => Err(TokenError::Audience {
                found: aud.describe(),
                expected: audience.to_owned(),
            }),
            None => Err(missing("aud")),
        }
    }

    /// Valid at `now`: before `exp`, and neither `nbf` nor `iat` later than `now` plus the skew
    /// tolerated. Google's tokens live an hour; freshness beyond that comes from `eat_nonce`.
    pub fn check_time(&self, now: u64, max_future_skew: u64) -> Result<String, TokenError> {
        let exp = self.exp.ok_or(missing("exp"))?;
        let iat = self.iat.ok_or(missing("iat"))?;
        if now >= exp {
            return Err(TokenError::Expired { exp, now });
        }
        for (claim, value) in [("iat", Some(iat)), ("nbf", self.nbf)] {
            if let Some(value) = value.filter(|value| *value > now.saturating_add(max_future_skew))
            {
                return Err(TokenError::NotYetValid { claim, value, now });
            }
        }
        Ok(format!(
            "issued at {iat}, expires at {exp}; valid at {now} ({max_future_skew} s of clock skew tolerated)"
        ))
    }

    pub fn check_software(&self) -> Result<String, TokenError> {
        match &self.swname {
            Some(name) if name == SWNAME => Ok(format!(
                "{SWNAME} image version {}, secure boot {}",
                self.swversion
                    .as_deref()
                    .map(|versions| versions.join(", "))
                    .unwrap_or_else(|| "not stated".into()),
                self.secboot
                    .map(|on| if on { "on" } else { "off" })
                    .unwrap_or("not stated")
            )),
            Some(name) => Err(TokenError::Software(name.clone())),
            None => Err(missing("swname")),
        }
    }

    pub fn check_debug(&self, allow_debug: bool) -> Result<String, TokenError> {
        match self.dbgstat.as_deref() {
            Some(DBGSTAT_PRODUCTION) => Ok("debug disabled since boot".into()),
            Some(other) if allow_debug => Ok(format!(
                "dbgstat {other:?}: a debug image, allowed by the trust policy (never in production)"
            )),
            Some(other) => Err(TokenError::Debug(other.to_owned())),
            None => Err(missing("dbgstat")),
        }
    }

    pub fn check_support(&self, minimum: SupportLevel) -> Result<String, TokenError> {
        let listed = self
            .submods
            .confidential_space
            .as_ref()
            .and_then(|cs| cs.support_attributes.as_ref())
            .ok_or(missing("submods.confidential_space.support_attributes"))?;
        if listed.iter().any(|level| level == minimum.as_str()) {
            Ok(format!(
                "the image is {} (at least {} required)",
                listed.join(", "),
                minimum.as_str()
            ))
        } else {
            Err(TokenError::Support {
                listed: listed.clone(),
                minimum: minimum.as_str(),
            })
        }
    }

    pub fn check_hwmodel(&self, allowed: &[String]) -> Result<String, TokenError> {
        match &self.hwmodel {
            Some(model) if allowed.contains(model) => Ok(format!("hardware {model}")),
            Some(model) => Err(TokenError::HwModel {
                found: model.clone(),
                allowed: allowed.to_vec(),
            }),
            None => Err(missing("hwmodel")),
        }
    }

    /// `expected` is the nonce the launcher was asked for (lowercase hex).
    pub fn check_nonce(&self, expected: &str) -> Result<String, TokenError> {
        match &self.eat_nonce {
            Some(nonce) if nonce.contains(expected) => Ok(format!("eat_nonce {expected}")),
            Some(nonce) => Err(TokenError::NonceMismatch {
                found: nonce.describe(),
                expected: expected.to_owned(),
            }),
            None => Err(missing("eat_nonce")),
        }
    }

    /// The container's OCI image manifest digest (`sha256:<64 hex>`), as the 32 bytes a
    /// measurement set's IMAGE_DIGEST holds.
    pub fn image_digest(&self) -> Result<[u8; 32], TokenError> {
        let text = self
            .submods
            .container
            .as_ref()
            .and_then(|container| container.image_digest.as_deref())
            .ok_or(missing("submods.container.image_digest"))?;
        text.strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| hex::decode(hex.to_ascii_lowercase()).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| TokenError::ImageDigest(text.to_owned()))
    }
}
