//! Every firmware event log of `shared/fixtures/tpm` replays to the PCRs its source asserts
//! (eventlogs-expected.json), crypto-agile and legacy SHA-1 logs alike.

use std::collections::BTreeSet;

use super::super::eventlog::{parse_event_log, EV_NO_ACTION};
use super::super::HashAlg;
use super::{fixture, json_fixture, pcr_banks};

/// go-attestation's Windows log measures only these of the 24 PCRs its quote holds
/// (eventlogs-expected.json says so in its note); the others have no events to replay.
const WINDOWS_LOG: &str = "goattestation-windows_gcp_shielded_vm.eventlog.bin";
const WINDOWS_REPLAYED: [u8; 8] = [0, 4, 5, 7, 11, 12, 13, 14];

#[test]
fn every_fixture_log_replays_to_its_asserted_pcrs() {
    let expected = json_fixture("tpm/eventlogs-expected.json");
    let entries = expected.as_object().expect("object of logs");
    assert_eq!(entries.len(), 18, "eventlogs-expected.json lists 18 logs");
    for (name, entry) in entries {
        let log = parse_event_log(&fixture(&format!("tpm/{name}")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The count in the JSON includes the Spec ID event that heads a crypto-agile log.
        let header = usize::from(
            entry["format"]
                .as_str()
                .unwrap()
                .starts_with("crypto-agile"),
        );
        assert_eq!(
            (log.events.len() + header) as u64,
            entry["events"].as_u64().unwrap(),
            "{name}: event count"
        );
        let replayed = log.replay();
        let asserted = pcr_banks(&entry["expected_pcrs"]);
        assert!(!asserted.is_empty(), "{name} asserts PCRs");
        for (bank, pcrs) in &asserted {
            let indices: BTreeSet<u8> = if name == WINDOWS_LOG {
                assert!(entry["note"]
                    .as_str()
                    .unwrap()
                    .contains("[0, 4, 5, 7, 11, 12, 13, 14]"));
                WINDOWS_REPLAYED.into()
            } else {
                pcrs.keys().copied().collect()
            };
            for index in indices {
                assert_eq!(
                    replayed[bank].get(&index).map(hex::encode),
                    Some(hex::encode(&pcrs[&index])),
                    "{name}: {} PCR {index}",
                    bank.name()
                );
            }
        }
        assert_eq!(log.mismatches(&asserted), [], "{name}");
    }
}

#[test]
fn startup_locality_sets_pcr0_before_the_first_extend() {
    for name in ["gotpmtools-glinux-alex.bin", "gotpmtools-gdc-host.bin"] {
        let log = parse_event_log(&fixture(&format!("tpm/{name}"))).unwrap();
        let locality = log
            .events
            .iter()
            .find(|e| e.event_type == EV_NO_ACTION && e.data.starts_with(b"StartupLocality\0"))
            .unwrap_or_else(|| panic!("{name} has a StartupLocality event"));
        assert_eq!(locality.pcr, 0);
        // Without the event, PCR 0 would replay to something else than the asserted value.
        let mut without = log.clone();
        without.events.retain(|e| e != locality);
        assert_ne!(
            without.replay()[&HashAlg::Sha256][&0],
            log.replay()[&HashAlg::Sha256][&0],
            "{name}"
        );
    }
}

#[test]
fn legacy_sha1_logs_have_one_bank() {
    let log = parse_event_log(&fixture("tpm/gotpmtools-debian-10.bin")).unwrap();
    assert_eq!(log.banks, [HashAlg::Sha1]);
    assert!(log.events.iter().all(|e| e.digests.len() == 1));
}

#[test]
fn truncated_and_oversized_logs_are_errors_not_panics() {
    let log = fixture("tpm/gotpmtools-cos-85-amd-sev.bin");
    for cut in [1, 10, 31, 32, 100, log.len() / 2, log.len() - 1] {
        let error = parse_event_log(&log[..cut]).unwrap_err();
        assert_eq!(error.code(), "tpm-event-log-malformed", "cut at {cut}");
    }
    let mut huge_event = log.clone();
    // The first event's eventSize (offset 28) claims 4 GiB.
    huge_event[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        parse_event_log(&huge_event).unwrap_err().code(),
        "tpm-event-log-malformed"
    );
    assert!(parse_event_log(&vec![0; (1 << 20) + 1]).is_err());
}
