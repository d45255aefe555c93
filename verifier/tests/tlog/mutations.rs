//! A cheap stand-in for the fuzz targets that runs with the tests: thousands of random mutations of
//! valid notes, proof bundles, policies, tile paths and entries must each parse or be refused,
//! never panic, and what parses must format back to the same text.

use rand::{rngs::StdRng, Rng, SeedableRng};
use verifier::policy::TrustPolicy;
use verifier::tlog::{Checkpoint, LogEntry, Note, NoteVerifier, ProofBundle, Tile, TrustedLog};

use super::read_text;

fn mutate(rng: &mut StdRng, input: &str) -> Vec<u8> {
    const INTERESTING: &[&[u8]] = &[
        "\n".as_bytes(),
        "\n\n".as_bytes(),
        "\u{2014} ".as_bytes(),
        b"+",
        b"=",
        b" ",
        b"0",
        b"x",
        b"/",
        b".p/",
        b"\r",
        b"\xff",
        b"A",
    ];
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..4) {
        let at = rng.gen_range(0..=bytes.len());
        match rng.gen_range(0..4) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => bytes[at] = rng.gen(),
            2 => {
                let piece = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                bytes.splice(at..at, piece.iter().copied());
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn mutated_inputs_never_panic_and_round_trip() {
    let mut rng = StdRng::seed_from_u64(42);
    let log = TrustedLog {
        origin: "log2025-alpha3.rekor.sigstage.dev".into(),
        log_key: NoteVerifier::from_vkey("log2025-alpha3.rekor.sigstage.dev+d3d3a70c+AZQ93VXPMmj9uZj7U/7CefQ9yy8RgYFv6mKzOseipjqp").unwrap(),
        witnesses: vec![NoteVerifier::from_vkey("witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv").unwrap()],
        witness_threshold: 1,
    };
    let note = read_text("checkpoint-rekor-v2-staging-witnessed.txt");
    let bundle = format!(
        "c2sp.org/tlog-proof@v1\nextra bXBy\nindex 4026478\n{}\n{note}",
        "Y8Q9QaTpqRAlSoWnNwyYGDerVLL1f6b8wpybDYEF6og=\n".repeat(3)
    );
    let policy = format!(
        "[release]\nkeys = [\"{}\"]\nthreshold = 1\n[rebuilders]\nkeys = []\nthreshold = 0\n[log]\norigin = \"{}\"\nkey = \"{}\"\n[witnesses]\nkeys = [\"{}\"]\nthreshold = 1\n",
        "0123456789ABCDEF0123456789ABCDEF01234567",
        log.origin,
        log.log_key.vkey(),
        log.witnesses[0].vkey()
    );
    TrustPolicy::parse(&policy).unwrap();
    ProofBundle::parse(&bundle).unwrap();
    let entry =
        String::from_utf8(LogEntry::new(verifier::tlog::EntryKind::Status, [7; 32]).encode())
            .unwrap();
    let (mut parsed, mut refused) = (0, 0);
    for round in 0..6000 {
        let seed = [
            note.as_str(),
            bundle.as_str(),
            policy.as_str(),
            "tile/1/x001/x234/067.p/5",
            entry.as_str(),
        ][round % 5];
        let bytes = mutate(&mut rng, seed);
        let ok = match round % 5 {
            4 => LogEntry::parse(&bytes)
                .map(|e| assert_eq!(e.encode(), bytes))
                .is_ok(),
            _ => {
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    refused += 1;
                    continue;
                };
                match round % 5 {
                    0 => match Note::parse(text) {
                        Ok(note) => {
                            assert_eq!(note.format(), text);
                            if let Ok(c) = Checkpoint::parse(note.text()) {
                                assert_eq!(c.format(), note.text());
                            }
                            let _ = log.verify_note(&note);
                            true
                        }
                        Err(e) => {
                            assert!(!e.to_string().is_empty());
                            false
                        }
                    },
                    1 => match ProofBundle::parse(text) {
                        Ok(b) => {
                            assert_eq!(ProofBundle::parse(&b.format()).unwrap(), b);
                            let _ = b.verify(b"entry", &log);
                            true
                        }
                        Err(_) => false,
                    },
                    2 => TrustPolicy::parse(text).is_ok(),
                    _ => Tile::parse_path(text)
                        .map(|t| assert_eq!(t.path(), text))
                        .is_ok(),
                }
            }
        };
        if ok {
            parsed += 1;
        } else {
            refused += 1;
        }
    }
    // Both outcomes must occur, or the mutations test nothing.
    assert!(
        parsed > 100 && refused > 1000,
        "parsed {parsed}, refused {refused}"
    );
}
