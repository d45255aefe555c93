//! Any text given as a tlog-proof@v1 bundle parses or is refused with a message, never a panic;
//! verification of what parses fails cleanly too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::tlog::{NoteVerifier, ProofBundle, TrustedLog};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bundle) = ProofBundle::parse(text) {
        let _ = ProofBundle::parse(&bundle.format())
            .expect("a parsed bundle formats to a parsable one");
        let log = TrustedLog {
            origin: "log2025-alpha3.rekor.sigstage.dev".into(),
            log_key: NoteVerifier::from_vkey(
                "log2025-alpha3.rekor.sigstage.dev+d3d3a70c+AZQ93VXPMmj9uZj7U/7CefQ9yy8RgYFv6mKzOseipjqp",
            )
            .unwrap(),
            witnesses: vec![NoteVerifier::from_vkey(
                "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
            )
            .unwrap()],
            witness_threshold: 1,
        };
        let _ = bundle.verify(b"entry", &log);
    }
});
