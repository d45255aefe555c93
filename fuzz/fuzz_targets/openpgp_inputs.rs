//! Any bytes given as a key upload, a manifest and its detached signature yield a key, a verified
//! signature or an error naming the problem; never a panic: `registry_api::openpgp`'s entry points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_api::openpgp::{parse_public_key, parse_stored_key, verify_detached};

/// Input layout: key length (u16 LE), signature length (u16 LE), key, signature, then the signed
/// data. Lengths past the end are clamped, so every input is a valid split.
fn split(input: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let Some((lengths, rest)) = input.split_first_chunk::<4>() else {
        return (input, &[], &[]);
    };
    let key_len = usize::from(u16::from_le_bytes([lengths[0], lengths[1]])).min(rest.len());
    let (key, rest) = rest.split_at(key_len);
    let sig_len = usize::from(u16::from_le_bytes([lengths[2], lengths[3]])).min(rest.len());
    let (sig, data) = rest.split_at(sig_len);
    (key, sig, data)
}

fuzz_target!(|input: &[u8]| {
    let (key, sig, data) = split(input);
    let _ = parse_public_key(key);
    let keys: Vec<_> = parse_stored_key(key).into_iter().collect();
    if let Ok(verified) = verify_detached(&keys, data, sig) {
        // Only a registered key can vouch for the data.
        assert_eq!(
            Some(&verified.key_fingerprint),
            keys.first().map(|k| &k.fingerprint)
        );
    }
    // The same bytes in the other roles.
    let _ = verify_detached(&keys, data, key);
    let _ = parse_public_key(sig);
});
