//! The Confidential Space checks (crate::confidential_space): the token's signature, every claim
//! the trust policy constrains, `eat_nonce` = lowercase hex of SHA-256(binding) (the prover's
//! request to the launcher; Google echoes it, 10 to 74 bytes allowed, ours is 64), and the
//! container image digest against the published `gcp-confidential-space` measurement sets.

use sha2::{Digest, Sha256};

use super::releases::{record_set_match, Candidate};
use super::verdict::Verdict;
use super::{Channel, VerifyOptions};
use crate::confidential_space::{
    check_launch, verify_signature, Claims, ContainerClaims, TokenError,
};

const PLATFORM: &str = "gcp-confidential-space";
const REGISTER: &str = "IMAGE_DIGEST";

pub(super) fn verify(
    token: &[u8],
    channel: Option<&Channel>,
    options: &VerifyOptions,
    verdict: &mut Verdict,
) {
    let settings = options.settings;
    let trust = &settings.confidential_space;
    let now = options.now_unix_ms / 1000;
    let signed = match verify_signature(token, &trust.jwks, &trust.roots, now) {
        Ok(signed) => signed,
        Err(error) => {
            fail(verdict, "signature", &error);
            return;
        }
    };
    verdict.pass(
        "signature",
        format!("RS256 by {}", signed.signer.describe()),
    );
    let policy = trust.token_policy(settings.allow_debug, settings.max_future_skew_seconds);
    for (name, outcome) in signed.claim_checks(&policy, now) {
        record(verdict, name, outcome);
    }
    // Bare evidence has no binding; a nonce the caller expects is then compared as hex.
    let expected = match channel {
        Some(channel) => Some(hex::encode(Sha256::digest(channel.binding))),
        None => options.expected_nonce.map(hex::encode),
    };
    if let Some(expected) = expected {
        record(verdict, "eat_nonce", signed.claims.check_nonce(&expected));
    }
    match_release(&signed.claims, options, verdict);
}

fn record(verdict: &mut Verdict, name: &str, outcome: Result<String, TokenError>) {
    match outcome {
        Ok(detail) => verdict.pass(name, detail),
        Err(error) => fail(verdict, name, &error),
    }
}

fn fail(verdict: &mut Verdict, name: &str, error: &TokenError) {
    verdict.fail(name, error.code(), error.to_string());
}

/// The token's image digest must equal the IMAGE_DIGEST of one active set, and a set naming any
/// other register (which a token cannot show) matches nothing.
fn match_release(claims: &Claims, options: &VerifyOptions, verdict: &mut Verdict) {
    let digest = match claims.image_digest() {
        Ok(digest) => digest,
        Err(error) => {
            fail(verdict, "measurements", &error);
            return;
        }
    };
    let container = claims.submods.container.as_ref();
    let image = format!("the container image sha256:{}", hex::encode(digest));
    let unmatched = format!("{image} matches no trusted {PLATFORM} measurement set");
    record_set_match(
        options.releases,
        &[PLATFORM],
        |candidate| check_set(candidate, &digest, container),
        ("the container", &unmatched),
        verdict,
    );
}

/// The set's digest, then the launch it published (`args`, `env`); a token whose container ran
/// other arguments is another program, whatever its image.
fn check_set(
    candidate: &Candidate,
    digest: &[u8; 32],
    container: Option<&ContainerClaims>,
) -> Result<String, (&'static str, String)> {
    if let Some(other) = candidate.registers.keys().find(|name| *name != REGISTER) {
        return Err((
            "no-release-matched",
            format!("register {other:?} is not in a Confidential Space token"),
        ));
    }
    match candidate.registers.get(REGISTER) {
        Some(value) if value.as_slice() == digest => {
            let empty = ContainerClaims::default();
            match check_launch(container.unwrap_or(&empty), &candidate.parameters) {
                Ok(Some(launch)) => Ok(format!("{REGISTER}, {launch},")),
                Ok(None) => Ok(REGISTER.to_owned()),
                Err(problem) => Err(("cs-launch-mismatch", problem)),
            }
        }
        Some(value) => Err((
            "cs-image-digest-mismatch",
            format!("{REGISTER} is {}", hex::encode(value)),
        )),
        None => Err(("no-release-matched", format!("the set names no {REGISTER}"))),
    }
}
