//! Any bytes given as a TDX quote and collateral JSON (a u16 LE quote length first, the
//! collateral after the quote) are parsed or refused with an error, never a panic, by
//! `verifier::tdx`'s parser and by verification with the input's collateral and with the real
//! dcap-qvl sample collateral (so that mutated quotes reach the signature and TCB checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::tdx::{parse_quote, verify_quote, TdxCollateral, TdxTrust, ACCEPTABLE_TCB_STATUSES};

/// The sample's own time, inside its collateral's validity.
const AT: u64 = 1_752_919_234;

fn sample_collateral() -> &'static TdxCollateral {
    static COLLATERAL: std::sync::OnceLock<TdxCollateral> = std::sync::OnceLock::new();
    COLLATERAL.get_or_init(|| {
        TdxCollateral::from_json(include_bytes!(
            "../../../shared/fixtures/tdx/dcapqvl-tdx_quote_v4_collateral.json"
        ))
        .expect("the sample collateral parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((length, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*length)).min(rest.len());
    let (quote, collateral) = rest.split_at(split);
    let trust = TdxTrust {
        allowed_tcb_statuses: ACCEPTABLE_TCB_STATUSES.to_vec(),
        allow_debug: true,
        ..TdxTrust::default()
    };
    if let Ok(body) = parse_quote(quote) {
        assert!(matches!(body.quote_version, 4 | 5));
        let _ = body.debug();
    }
    let _ = verify_quote(quote, sample_collateral(), &trust, AT);
    if let Ok(collateral) = TdxCollateral::from_json(collateral) {
        let _ = verify_quote(quote, &collateral, &trust, AT);
    }
});
