//! Any text parses as a signed note, a checkpoint, a tile path or a log entry, or is refused with
//! a message, never a panic; what parses formats back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::tlog::{Checkpoint, LogEntry, Note, NoteVerifier, Tile, TrustedLog};

fuzz_target!(|data: &[u8]| {
    let _ = LogEntry::parse(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = Note::parse(text) {
        assert_eq!(note.format(), text);
        let _ = Checkpoint::parse(note.text());
        let log = TrustedLog {
            origin: "go.sum database tree".into(),
            log_key: NoteVerifier::from_vkey(
                "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
            )
            .unwrap(),
            witnesses: Vec::new(),
            witness_threshold: 0,
        };
        let _ = log.verify_note(&note);
    }
    if let Ok(checkpoint) = Checkpoint::parse(text) {
        assert_eq!(checkpoint.format(), text);
    }
    if let Ok(tile) = Tile::parse_path(text) {
        assert_eq!(tile.path(), text);
    }
    let _ = NoteVerifier::from_vkey(text);
});
