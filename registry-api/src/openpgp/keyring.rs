//! Keyrings: several public certificates in one file, as `gpg --armor --export A B` (one armor
//! block) or `cat a.asc b.asc` (several blocks) write them. Each certificate then goes through
//! [`super::parse_stored_key`], so a keyring is screened exactly like a single key.

use super::{error_text, parse_stored_key, Input, OpenPgpError, PublicKey};
use sequoia_openpgp as openpgp;

use openpgp::armor;
use openpgp::packet::Tag;
use openpgp::parse::{Dearmor, PacketParserBuilder, PacketParserResult, Parse};
use openpgp::serialize::Serialize;

/// Largest keyring read.
pub const MAX_KEYRING_BYTES: usize = 1024 * 1024;
/// Most certificates in one keyring.
pub const MAX_KEYRING_CERTS: usize = 256;

const BEGIN: &[u8] = b"-----BEGIN PGP ";

/// Parses one or more public certificates (ASCII-armored, possibly several armor blocks, or
/// binary). Like [`parse_stored_key`], it checks the format and refuses secret keys but not
/// liveness: [`super::verify_detached`] says when a key has expired or was revoked.
pub fn parse_keyring(input: &[u8]) -> Result<Vec<PublicKey>, OpenPgpError> {
    let what = Input::PublicKey;
    if input.len() > MAX_KEYRING_BYTES {
        return Err(OpenPgpError::TooLarge {
            what,
            len: input.len(),
            limit: MAX_KEYRING_BYTES,
        });
    }
    let binary = match input.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(OpenPgpError::Empty { what }),
        Some(first) if first & 0x80 != 0 => input.to_vec(),
        Some(_) => dearmor_all(input)?,
    };
    let mut keys = Vec::new();
    for cert in split_certificates(&binary)? {
        if keys.len() == MAX_KEYRING_CERTS {
            return Err(OpenPgpError::NotOpenPgp {
                what,
                detail: format!("more than {MAX_KEYRING_CERTS} certificates in one keyring"),
            });
        }
        let key = parse_stored_key(&cert)?;
        if keys
            .iter()
            .any(|k: &PublicKey| k.fingerprint == key.fingerprint)
        {
            return Err(OpenPgpError::NotOpenPgp {
                what,
                detail: format!("key {} appears twice in the keyring", key.fingerprint),
            });
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The binary packets of every armor block, concatenated.
fn dearmor_all(input: &[u8]) -> Result<Vec<u8>, OpenPgpError> {
    let starts: Vec<usize> = (0..input.len())
        .filter(|&i| input[i..].starts_with(BEGIN))
        .collect();
    if starts.is_empty() {
        return Err(OpenPgpError::NotOpenPgp {
            what: Input::PublicKey,
            detail: "neither binary OpenPGP nor ASCII armor (no -----BEGIN PGP ... line)".into(),
        });
    }
    let mut out = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(input.len());
        let block = &input[start..end];
        let mut reader = armor::Reader::from_bytes(block, armor::ReaderMode::Tolerant(None));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(|e| {
            OpenPgpError::NotOpenPgp {
                what: Input::PublicKey,
                detail: format!(
                    "bad ASCII armor in block {}: {}",
                    n + 1,
                    super::sanitize(e.to_string().as_bytes(), 200)
                ),
            }
        })?;
        match reader.kind() {
            Some(armor::Kind::PublicKey) => out.extend_from_slice(&bytes),
            Some(armor::Kind::SecretKey) => {
                return Err(OpenPgpError::SecretKeyMaterial { fingerprint: None })
            }
            other => {
                return Err(OpenPgpError::WrongKind {
                    what: Input::PublicKey,
                    found: format!(
                        "armor block {} of kind {}",
                        n + 1,
                        other.map_or("unknown".to_string(), |k| format!("{k:?}"))
                    ),
                })
            }
        }
    }
    Ok(out)
}

/// Splits a binary keyring before each primary key packet, without descending into any
/// container, so compressed data is never inflated.
fn split_certificates(binary: &[u8]) -> Result<Vec<Vec<u8>>, OpenPgpError> {
    let not_openpgp = |e: openpgp::anyhow::Error| OpenPgpError::NotOpenPgp {
        what: Input::PublicKey,
        detail: error_text(&e),
    };
    let mut ppr = PacketParserBuilder::from_bytes(binary)
        .map_err(not_openpgp)?
        .dearmor(Dearmor::Disabled)
        .build()
        .map_err(not_openpgp)?;
    let mut certs: Vec<Vec<u8>> = Vec::new();
    while let PacketParserResult::Some(pp) = ppr {
        let tag = pp.packet.tag();
        let starts_cert = matches!(tag, Tag::PublicKey | Tag::SecretKey);
        let (packet, next) = pp.next().map_err(not_openpgp)?;
        ppr = next;
        if tag == Tag::Marker {
            continue;
        }
        if starts_cert || certs.is_empty() {
            certs.push(Vec::new());
        }
        if let Some(current) = certs.last_mut() {
            packet.serialize(current).map_err(not_openpgp)?;
        }
    }
    if certs.is_empty() {
        return Err(OpenPgpError::NotOpenPgp {
            what: Input::PublicKey,
            detail: "no OpenPGP packets".into(),
        });
    }
    Ok(certs)
}
