//! Any bytes given as vTPM evidence are parsed or refused with an error, never a panic: the first
//! byte picks the parser (TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC, TCG event log, Azure HCL
//! report, AK certificate), the rest is its input. What parses is used the way the verifier
//! uses it (signature check, Name, binding and HCLAkPub, replay), and must keep its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::tpm::ak_certificate::{verify_ak_certificate, GCP_AK_ROOTS_SHA256};
use verifier::tpm::attest::{parse_attest, parse_signature};
use verifier::tpm::eventlog::parse_event_log;
use verifier::tpm::hcl::parse_hcl_report;
use verifier::tpm::public::{parse_public, AkKey};
use verifier::tpm::quote::verify_signature;
use verifier::tpm::PCR_COUNT;

fuzz_target!(|data: &[u8]| {
    let Some((selector, input)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => {
            if let Ok(attest) = parse_attest(input) {
                for selection in &attest.selections {
                    assert!(selection.pcrs.iter().all(|i| usize::from(*i) < PCR_COUNT));
                }
                assert!(attest.extra_data.len() <= 64);
            }
        }
        1 => {
            if let Ok(signature) = parse_signature(input) {
                let key = AkKey::P256 {
                    x: [1; 32],
                    y: [2; 32],
                };
                let _ = verify_signature(input, &signature, &key);
            }
        }
        2 => {
            if let Ok(public) = parse_public(input) {
                assert_eq!(public.name.len(), 2 + public.name_alg.size());
                let _ = public.check_restricted_signing();
            }
        }
        3 => {
            if let Ok(log) = parse_event_log(input) {
                let replayed = log.replay();
                assert!(replayed
                    .values()
                    .flat_map(|pcrs| pcrs.keys())
                    .all(|i| usize::from(*i) < PCR_COUNT));
                assert!(log.mismatches(&replayed).is_empty());
            }
        }
        4 => {
            if let Ok(hcl) = parse_hcl_report(input) {
                let _ = hcl.check_binding();
                let _ = hcl.ak_key();
            }
        }
        _ => {
            let _ = verify_ak_certificate(input, &[], &GCP_AK_ROOTS_SHA256, 1_700_000_000);
        }
    }
});
