//! `signing::gpg_export_public`, which `mpr release --gpg` uses to put the signing key beside its
//! signature. gpg reads GNUPGHOME from the process environment, so this binary holds this one test.

mod gpg;

use gpg::Gpg;
use registry_api::openpgp::parse_public_key;
use registry_api::signing::gpg_export_public;

#[test]
fn the_public_certificate_of_a_gpg_key_is_exported_by_fingerprint() {
    let gpg = Gpg::new();
    let signer = gpg.gen_key("Release Signer <release@example.org>", "ed25519", "sign");
    let other = gpg.gen_key("Someone Else <else@example.org>", "ed25519", "sign");
    std::env::set_var("GNUPGHOME", gpg.path(""));

    let armored = gpg_export_public(&signer).unwrap();
    let key = parse_public_key(armored.as_bytes()).unwrap();
    assert_eq!(key.fingerprint, signer);
    assert_eq!(key, parse_public_key(&gpg.export(&signer)).unwrap());
    assert!(!armored.contains("PRIVATE"));
    // Lower-case hex names the same key; only that key, never the whole keyring.
    let lower = gpg_export_public(&signer.to_lowercase()).unwrap();
    assert_eq!(
        parse_public_key(lower.as_bytes()).unwrap().fingerprint,
        signer
    );
    assert_ne!(other, signer);

    let unknown = gpg_export_public("0000000000000000000000000000000000000000").unwrap_err();
    assert!(
        unknown.to_string().contains("gave no public key"),
        "{unknown}"
    );
}
