//! Turning uploads into packets: size limits, armor, packet-type screening. Nothing here
//! recurses into containers, so compressed data is never inflated.

use super::{error_text, Input, OpenPgpError, MAX_SIGNATURES};
use sequoia_openpgp as openpgp;

use openpgp::armor;
use openpgp::packet::{Signature, Tag};
use openpgp::parse::{Dearmor, PacketParserBuilder, PacketParserResult, Parse};
use openpgp::{Cert, Packet};

/// Checks the size, removes the armor if there is one, and returns the binary packets.
/// Sets `secret_armor` if the armor says it is a secret key.
fn binary(
    input: &[u8],
    what: Input,
    limit: usize,
    secret_armor: &mut bool,
) -> Result<Vec<u8>, OpenPgpError> {
    if input.len() > limit {
        return Err(OpenPgpError::TooLarge {
            what,
            len: input.len(),
            limit,
        });
    }
    let first = match input.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => input[i],
        None => return Err(OpenPgpError::Empty { what }),
    };
    // Every binary OpenPGP packet starts with a tag byte with the high bit set, which
    // ASCII armor never does.
    if first & 0x80 != 0 {
        return Ok(input.to_vec());
    }
    let blocks = count(input, b"-----BEGIN PGP ");
    if blocks == 0 {
        return Err(OpenPgpError::NotOpenPgp {
            what,
            detail: "neither binary OpenPGP nor ASCII armor (no -----BEGIN PGP ... line)".into(),
        });
    }
    if count(input, b"-----BEGIN PGP SIGNED MESSAGE-----") > 0 {
        return Err(OpenPgpError::WrongKind {
            what,
            found: "a cleartext-signed message (gpg --clearsign)".into(),
        });
    }
    if blocks > 1 {
        return Err(match what {
            Input::PublicKey => OpenPgpError::MultipleCertificates {
                count: blocks,
                fingerprints: Vec::new(),
            },
            Input::Signature => OpenPgpError::InvalidSignature {
                detail: format!("the upload contains {blocks} armor blocks, expected one"),
            },
        });
    }
    let mut reader = armor::Reader::from_bytes(input, armor::ReaderMode::Tolerant(None));
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut out).map_err(|e| OpenPgpError::NotOpenPgp {
        what,
        detail: format!(
            "bad ASCII armor: {}",
            super::sanitize(e.to_string().as_bytes(), 200)
        ),
    })?;
    match (what, reader.kind()) {
        // A key upload in secret-key armor goes on to the packet screening, which refuses the
        // first secret key packet naming its fingerprint; `cert` refuses it in any case.
        (Input::PublicKey, Some(armor::Kind::SecretKey)) => *secret_armor = true,
        (Input::Signature, Some(armor::Kind::SecretKey)) => {
            return Err(OpenPgpError::SecretKeyMaterial { fingerprint: None })
        }
        (Input::PublicKey, Some(armor::Kind::PublicKey))
        | (Input::Signature, Some(armor::Kind::Signature | armor::Kind::Message)) => {}
        (_, Some(kind)) => {
            return Err(OpenPgpError::WrongKind {
                what,
                found: format!("an armored {}", armor_label(kind)),
            })
        }
        (_, None) => {
            return Err(OpenPgpError::NotOpenPgp {
                what,
                detail: "no complete ASCII armor block".into(),
            })
        }
    }
    if out.is_empty() {
        return Err(OpenPgpError::Empty { what });
    }
    Ok(out)
}

fn armor_label(kind: armor::Kind) -> &'static str {
    match kind {
        armor::Kind::Message => "OpenPGP message",
        armor::Kind::PublicKey => "public key",
        armor::Kind::SecretKey => "secret key",
        armor::Kind::Signature => "signature",
        armor::Kind::File => "file",
        _ => "unknown block",
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Top-level packets of `bin`, without descending into containers. `screen` sees each tag
/// before the packet is consumed and may refuse it.
fn packets(
    bin: &[u8],
    what: Input,
    mut screen: impl FnMut(&Packet) -> Result<(), OpenPgpError>,
) -> Result<Vec<Packet>, OpenPgpError> {
    let not_openpgp = |e: openpgp::anyhow::Error| OpenPgpError::NotOpenPgp {
        what,
        detail: error_text(&e),
    };
    let mut ppr = PacketParserBuilder::from_bytes(bin)
        .map_err(not_openpgp)?
        .dearmor(Dearmor::Disabled)
        .build()
        .map_err(not_openpgp)?;
    let mut out = Vec::new();
    while let PacketParserResult::Some(pp) = ppr {
        screen(&pp.packet)?;
        let (packet, next) = pp.next().map_err(not_openpgp)?;
        out.push(packet);
        ppr = next;
    }
    if out.is_empty() {
        return Err(OpenPgpError::NotOpenPgp {
            what,
            detail: "no OpenPGP packets".into(),
        });
    }
    Ok(out)
}

fn is_message_packet(tag: Tag) -> bool {
    matches!(
        tag,
        Tag::Literal
            | Tag::CompressedData
            | Tag::OnePassSig
            | Tag::SEIP
            | Tag::SED
            | Tag::PKESK
            | Tag::SKESK
            | Tag::MDC
            | Tag::AED
    )
}

/// Exactly one certificate, public or secret (the caller refuses secrets with the
/// fingerprint in hand). No policy checks.
pub(super) fn cert(input: &[u8], limit: usize) -> Result<Cert, OpenPgpError> {
    let what = Input::PublicKey;
    let mut secret_armor = false;
    let bin = binary(input, what, limit, &mut secret_armor)?;
    let mut primaries: Vec<String> = Vec::new();
    let mut seen_any = false;
    let packets = packets(&bin, what, |p| {
        let tag = p.tag();
        let first = !seen_any && tag != Tag::Marker;
        seen_any |= tag != Tag::Marker;
        match p {
            Packet::SecretKey(k) => Err(OpenPgpError::SecretKeyMaterial {
                fingerprint: Some(k.fingerprint().to_hex()),
            }),
            Packet::SecretSubkey(_) => Err(OpenPgpError::SecretKeyMaterial { fingerprint: None }),
            Packet::PublicKey(k) => {
                primaries.push(k.fingerprint().to_hex());
                Ok(())
            }
            Packet::Unknown(u) if tag == Tag::PublicKey => Err(OpenPgpError::UnsupportedKey {
                detail: format!("cannot read the primary key: {}", error_text(u.error())),
            }),
            _ if is_message_packet(tag) => Err(OpenPgpError::WrongKind {
                what,
                found: "an OpenPGP message (signed or encrypted data)".into(),
            }),
            _ if first && tag == Tag::Signature => Err(OpenPgpError::WrongKind {
                what,
                found: "a signature".into(),
            }),
            _ if first => Err(OpenPgpError::NotOpenPgp {
                what,
                detail: format!("a certificate starts with a public key packet, not {tag}"),
            }),
            _ => Ok(()),
        }
    })?;
    match primaries.len() {
        0 => {
            return Err(OpenPgpError::NotOpenPgp {
                what,
                detail: "no public key packet".into(),
            })
        }
        1 if secret_armor => {
            return Err(OpenPgpError::SecretKeyMaterial {
                fingerprint: primaries.pop(),
            })
        }
        1 => {}
        count => {
            return Err(OpenPgpError::MultipleCertificates {
                count,
                fingerprints: primaries,
            })
        }
    }
    Cert::from_packets(packets.into_iter()).map_err(|e| OpenPgpError::NotOpenPgp {
        what,
        detail: format!("not a valid certificate: {}", error_text(&e)),
    })
}

/// The binary detached signature and its signature packets.
pub(super) fn signatures(
    input: &[u8],
    limit: usize,
) -> Result<(Vec<u8>, Vec<Signature>), OpenPgpError> {
    let what = Input::Signature;
    let bin = binary(input, what, limit, &mut false)?;
    let mut n = 0usize;
    let packets = packets(&bin, what, |p| match p {
        Packet::Signature(sig) => {
            n += 1;
            if n > MAX_SIGNATURES {
                return Err(OpenPgpError::InvalidSignature {
                    detail: format!("more than {MAX_SIGNATURES} signatures"),
                });
            }
            use openpgp::types::SignatureType::{Binary, Text};
            if matches!(sig.typ(), Binary | Text) {
                Ok(())
            } else {
                Err(OpenPgpError::InvalidSignature {
                    detail: format!(
                        "a {} signature is not a signature over a document",
                        sig.typ()
                    ),
                })
            }
        }
        Packet::Marker(_) => Ok(()),
        Packet::Unknown(u) if u.tag() == Tag::Signature => Err(OpenPgpError::InvalidSignature {
            detail: format!(
                "unsupported or malformed signature: {}",
                error_text(u.error())
            ),
        }),
        Packet::PublicKey(_) | Packet::PublicSubkey(_) | Packet::UserID(_) => {
            Err(OpenPgpError::WrongKind {
                what,
                found: "a public key".into(),
            })
        }
        Packet::SecretKey(_) | Packet::SecretSubkey(_) => {
            Err(OpenPgpError::SecretKeyMaterial { fingerprint: None })
        }
        Packet::OnePassSig(_) | Packet::Literal(_) | Packet::CompressedData(_) => {
            Err(OpenPgpError::WrongKind {
                what,
                found:
                    "a signed message with the data inside (gpg --sign), not a detached signature"
                        .into(),
            })
        }
        other => Err(OpenPgpError::InvalidSignature {
            detail: format!(
                "a detached signature contains only signature packets, found {}",
                other.tag()
            ),
        }),
    })?;
    let sigs: Vec<Signature> = packets
        .into_iter()
        .filter_map(|p| match p {
            Packet::Signature(s) => Some(s),
            _ => None,
        })
        .collect();
    if sigs.is_empty() {
        return Err(OpenPgpError::InvalidSignature {
            detail: "no signature packet".into(),
        });
    }
    Ok((bin, sigs))
}
