use serde_json::Value;

use super::super::*;
use super::{fixture, leaf, no_crl, report, valid_time};

fn entries() -> Vec<Value> {
    let json: Value = serde_json::from_slice(&fixture("fixtures.json")).expect("fixtures.json");
    json["reports"].as_array().expect("reports").clone()
}

fn verify_fixture(id: &str, trust: &SnpTrust) -> Result<VerifiedSnpReport, SnpError> {
    let leaf = leaf(id);
    let at = valid_time(&leaf);
    verify_report(&report(id), &SnpCertificates::leaf_only(leaf), trust, at)
}

#[test]
fn all_19_real_reports_verify_and_parse_as_recorded() {
    let entries = entries();
    assert_eq!(entries.len(), 19);
    let cached = SnpVerifier::new(SnpTrust {
        allow_debug: true,
        ..no_crl()
    })
    .expect("built-in roots verify");
    for entry in &entries {
        let id = entry["id"].as_str().expect("id");
        let trust = SnpTrust {
            allow_debug: entry["debug_allowed"].as_bool().expect("flag"),
            ..no_crl()
        };
        let verified = verify_fixture(id, &trust).unwrap_or_else(|e| panic!("{id}: {e}"));
        let leaf = leaf(id);
        let again = cached
            .verify(
                &report(id),
                &SnpCertificates::leaf_only(leaf.clone()),
                valid_time(&leaf),
            )
            .unwrap_or_else(|e| panic!("{id} (cached verifier): {e}"));
        assert_eq!(again, verified, "{id}");
        assert!(!verified.crl_checked);

        let r = &verified.report;
        assert_eq!(
            hex::encode(r.measurement),
            entry["measurement"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            hex::encode(r.report_data),
            entry["report_data"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            hex::encode(r.chip_id),
            entry["chip_id"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(r.version),
            entry["report_version"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            format!("{:#x}", r.policy),
            entry["policy"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(u64::from(r.vmpl), entry["vmpl"].as_u64().unwrap(), "{id}");
        assert_eq!(
            verified.product.name(),
            entry["product"].as_str().unwrap(),
            "{id}"
        );
        let kind = match verified.key_kind {
            SigningKeyKind::Vcek => "VCEK",
            SigningKeyKind::Vlek => "VLEK",
        };
        assert_eq!(kind, entry["signing_key"].as_str().unwrap(), "{id}");
        let expected = &entry["reported_tcb"];
        let tcb = verified.tcb;
        assert_eq!(
            u64::from(tcb.bootloader),
            expected["bootloader"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(tcb.tee),
            expected["tee"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(tcb.snp),
            expected["snp"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            u64::from(tcb.microcode),
            expected["microcode"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(tcb.fmc.map(u64::from), expected["fmc"].as_u64(), "{id}");
        match &entry["cpuid"] {
            Value::Null => assert_eq!(r.cpuid, None, "{id}"),
            cpuid => assert_eq!(
                r.cpuid
                    .map(|(f, m, s)| (u64::from(f), u64::from(m), u64::from(s))),
                Some((
                    cpuid["family"].as_u64().unwrap(),
                    cpuid["model"].as_u64().unwrap(),
                    cpuid["stepping"].as_u64().unwrap()
                )),
                "{id}"
            ),
        }
        assert_eq!(
            r.debug_allowed(),
            entry["debug_allowed"].as_bool().unwrap(),
            "{id}"
        );
    }
}

#[test]
fn debug_guest_rejected_unless_allowed() {
    let err = verify_fixture("milan-v2-gsg-debug", &no_crl()).unwrap_err();
    assert_eq!(err.code(), "snp-debug", "{err}");
}

#[test]
fn report_with_a_vcek_for_another_tcb_rejected() {
    let at = valid_time(&leaf("genoa-v5-oak"));
    let leaf = leaf("genoa-v2-oak");
    let err = verify_report(
        &report("genoa-v5-oak"),
        &SnpCertificates::leaf_only(leaf),
        &no_crl(),
        at,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-tcb-mismatch", "{err}");
}

#[test]
fn report_with_another_chips_vcek_rejected() {
    // Same TCB (bl 4, tee 0, snp 24, ucode 219), different chips.
    let leaf = leaf("milan-v3-oak-rk");
    let at = valid_time(&leaf);
    let err = verify_report(
        &report("milan-v3-oak-oc"),
        &SnpCertificates::leaf_only(leaf),
        &no_crl(),
        at,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-chip-id-mismatch", "{err}");
}

#[test]
fn milan_vcek_against_genoa_roots_rejected() {
    let genoa_ark = AMD_ARK_SHA256[1];
    let trust = SnpTrust {
        ark_sha256: vec![genoa_ark],
        ..no_crl()
    };
    let err = verify_fixture("milan-v2-virtee", &trust).unwrap_err();
    assert_eq!(err.code(), "snp-root-not-pinned", "{err}");

    // Handing the Genoa chain over explicitly: the chain does not fit the Milan leaf.
    let pem = |name: &str| {
        use x509_cert::der::{DecodePem, Encode};
        let text = String::from_utf8(fixture(name)).unwrap();
        x509_cert::Certificate::from_pem(text)
            .unwrap()
            .to_der()
            .unwrap()
    };
    let certs = SnpCertificates {
        leaf: leaf("milan-v2-virtee"),
        intermediate: Some(pem("ask-genoa.pem")),
        ark: Some(pem("ark-genoa.pem")),
    };
    let at = valid_time(&certs.leaf);
    let err = verify_report(&report("milan-v2-virtee"), &certs, &no_crl(), at).unwrap_err();
    assert_eq!(err.code(), "snp-wrong-product", "{err}");

    // The VLEK with the ASK (not the ASVK) is rejected too.
    let certs = SnpCertificates {
        leaf: leaf("milan-v3-trustee-vlek-aws"),
        intermediate: Some(pem("ask-milan.pem")),
        ark: None,
    };
    let at = valid_time(&certs.leaf);
    let err =
        verify_report(&report("milan-v3-trustee-vlek-aws"), &certs, &no_crl(), at).unwrap_err();
    assert_eq!(err.code(), "snp-wrong-product", "{err}");
}

#[test]
fn expired_vlek_rejected_today() {
    let today = 1_796_515_200; // 2026-12-06
    let certs = SnpCertificates::leaf_only(leaf("milan-v3-trustee-vlek-aws"));
    let err = verify_report(
        &report("milan-v3-trustee-vlek-aws"),
        &certs,
        &no_crl(),
        today,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-certificate-expired", "{err}");
    assert!(err.to_string().contains("VLEK"), "{err}");
}

#[test]
fn flipped_signed_byte_rejected() {
    let id = "milan-v5-teekit-gcp";
    let leaf = leaf(id);
    let at = valid_time(&leaf);
    for offset in [0x008, 0x050, 0x090, 0x1a0 + 63, 0x29f] {
        let mut bytes = report(id);
        bytes[offset] ^= 0x01;
        let err = verify_report(
            &bytes,
            &SnpCertificates::leaf_only(leaf.clone()),
            &no_crl(),
            at,
        )
        .unwrap_err();
        assert!(
            matches!(
                err.code(),
                "snp-signature" | "snp-chip-id-mismatch" | "snp-debug"
            ),
            "offset {offset:#x}: {err}"
        );
        if offset != 0x1a0 + 63 {
            assert_eq!(err.code(), "snp-signature", "offset {offset:#x}: {err}");
        }
    }
}

#[test]
fn nonzero_reserved_bytes_rejected() {
    let id = "milan-v5-teekit-gcp";
    for offset in [0x330, 0x49f, 0x2a0 + 48, 0x2e8 + 71] {
        let mut bytes = report(id);
        bytes[offset] = 1;
        let err = parse_report(&bytes).unwrap_err();
        assert_eq!(
            err.code(),
            "snp-reserved-nonzero",
            "offset {offset:#x}: {err}"
        );
    }
}

#[test]
fn tcb_below_minimum_rejected() {
    let minimum = Tcb {
        fmc: None,
        bootloader: 4,
        tee: 0,
        snp: 28,
        microcode: 222,
    };
    let err = verify_fixture(
        "milan-v5-teekit-gcp",
        &SnpTrust {
            min_tcb: Some(minimum),
            ..no_crl()
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-tcb-too-low", "{err}");
    let exact = Tcb { snp: 27, ..minimum };
    verify_fixture(
        "milan-v5-teekit-gcp",
        &SnpTrust {
            min_tcb: Some(exact),
            ..no_crl()
        },
    )
    .expect("meets the minimum");
}

#[test]
fn default_trust_requires_a_crl() {
    let err = verify_fixture("milan-v5-teekit-gcp", &SnpTrust::default()).unwrap_err();
    assert_eq!(err.code(), "snp-crl-missing", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("https://kdsintf.amd.com/vcek/v1/Milan/crl"),
        "{message}"
    );
    assert!(message.contains("check_crl = false"), "{message}");
}

#[test]
fn malformed_reports_rejected() {
    let bytes = report("milan-v5-teekit-gcp");
    assert_eq!(
        parse_report(&bytes[..1183]).unwrap_err().code(),
        "snp-malformed-report"
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        parse_report(&longer).unwrap_err().code(),
        "snp-malformed-report"
    );
    let mut v1 = bytes.clone();
    v1[0] = 1;
    assert_eq!(
        parse_report(&v1).unwrap_err().code(),
        "snp-unsupported-version"
    );
    let mut algo = bytes;
    algo[0x34] = 2;
    assert_eq!(
        parse_report(&algo).unwrap_err().code(),
        "snp-unsupported-signature-algorithm"
    );
}

#[test]
fn a_verifier_that_remembers_a_leaf_still_checks_everything_else() {
    let id = "milan-v5-teekit-gcp";
    let verifier = SnpVerifier::new(no_crl()).expect("built-in roots verify");
    let leaf = leaf(id);
    let at = valid_time(&leaf);
    let certs = SnpCertificates::leaf_only(leaf.clone());
    verifier
        .verify(&report(id), &certs, at)
        .expect("the genuine report verifies");

    // The same leaf, now remembered, under a report changed inside REPORT_DATA.
    let mut tampered = report(id);
    tampered[0x50] ^= 1;
    let err = verifier.verify(&tampered, &certs, at).unwrap_err();
    assert_eq!(err.code(), "snp-signature", "{err}");

    // The leaf's own signature changed: another link, verified and refused.
    let mut forged_leaf = leaf.clone();
    let last = forged_leaf.len() - 1;
    forged_leaf[last] ^= 1;
    let err = verifier
        .verify(&report(id), &SnpCertificates::leaf_only(forged_leaf), at)
        .unwrap_err();
    assert_eq!(err.code(), "snp-chain", "{err}");

    // Validity is judged at every verification, remembered or not.
    let err = verifier
        .verify(&report(id), &certs, at + 20 * 365 * 86_400)
        .unwrap_err();
    assert_eq!(err.code(), "snp-certificate-expired", "{err}");
    verifier
        .verify(&report(id), &certs, at)
        .expect("and the genuine report still verifies");
}
