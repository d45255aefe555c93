//! Any bytes given as a TPM response (the first byte picks the parser and the frame's shape) are
//! parsed or refused with an error, never a panic or an allocation by a size the input claims:
//! response frames, TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC, NV public areas, GetCapability and
//! PCR_Read answers, and response-code descriptions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prover::attestation::tpm::{client, nv, pcr, public, quote, rc};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => {
            let handles = usize::from(selector >> 4 & 1);
            let sessions = selector & 0x40 != 0;
            if let Ok(response) = client::parse_response("fuzz", bytes, handles, sessions) {
                assert!(response.parameters.len() + 10 + 4 * handles <= bytes.len());
                assert_eq!(response.handles.len(), handles);
            }
        }
        1 => {
            if let Ok(info) = quote::parse_attest(bytes) {
                assert!(info.extra_data.len() < bytes.len());
            }
        }
        2 => {
            let _ = quote::parse_signature(bytes);
            let _ = quote::parse_quote_response(bytes);
        }
        3 => {
            if let Ok(key) = public::parse_public(bytes) {
                let _ = key.quote_scheme();
            }
            let _ = public::template_from_nv(bytes);
        }
        4 => {
            let _ = nv::parse_nv_public(bytes);
        }
        5 => {
            let _ = nv::tpm_property(bytes, 0x12C);
        }
        6 => {
            if let Ok((_, mask, digests)) = pcr::parse_pcr_read(bytes) {
                assert_eq!(mask.count_ones() as usize, digests.len());
            }
        }
        _ => {
            let mut code = [0u8; 4];
            let len = bytes.len().min(4);
            code[..len].copy_from_slice(&bytes[..len]);
            let code = u32::from_be_bytes(code);
            assert!(!rc::describe(code).is_empty());
            let _ = rc::is_handle_error(code) || rc::is_retryable(code);
        }
    }
});
