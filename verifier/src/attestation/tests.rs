//! End to end inside the crate: signed and logged statements (a log built here), evidence made with
//! test keys (Nitro chain, SEV-SNP ARK/ASK/VCEK) bound to a channel, and the verdicts.

use std::collections::BTreeMap;

use rand::{rngs::StdRng, SeedableRng};
use serde_json::Value;

use super::*;
use crate::nitro::testing::{TestChain as NitroChain, TestDocument};
use crate::policy::TrustPolicy;
use crate::snp::testing::TestChain as SnpChain;
use crate::statement::{
    release_statement_subject, Digest, Measurement, MeasurementSet, RebuildPredicate,
    RebuildVerdict, ReleasePredicate, ReleaseStatement, SetStatus, SetStatusPredicate,
    SetStatusStatement, Source, Statement, Subject, REBUILD_PREDICATE, RELEASE_PREDICATE,
    SET_STATUS_PREDICATE, STATEMENT_TYPE,
};
use crate::tlog::{
    Checkpoint, EntryKind, KeyKind, LogEntry, MemoryTree, Note, NoteSigner, ProofBundle,
};

const ORIGIN: &str = "mpr.example/log";
const RELEASE_KEY: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
const OTHER_KEY: &str = "89ABCDEF0123456789ABCDEF0123456789ABCDEF";
/// 2025-01-06T16:07:05Z, in milliseconds.
const NOW_MS: u64 = 1_736_179_625_000;
const NONCE: [u8; 32] = [0x5a; 32];
const TLS_SPKI: &[u8] = b"test SubjectPublicKeyInfo";
const KEY_CONFIG: &[u8] = b"test OHTTP key configuration";

/// A log, the statements in it, and a policy that trusts both.
struct World {
    log_key: NoteSigner,
    tree: MemoryTree,
    nitro: NitroChain,
    snp: SnpChain,
}

impl World {
    fn new() -> World {
        let mut rng = StdRng::seed_from_u64(12);
        let log_key = NoteSigner::from_secret_key_text(
            &NoteSigner::generate(ORIGIN, KeyKind::Ed25519, &mut rng)
                .unwrap()
                .secret_key,
        )
        .unwrap();
        World {
            log_key,
            tree: MemoryTree::new(),
            nitro: NitroChain::new(
                "attestation tests",
                NOW_MS / 1000 - 3600,
                NOW_MS / 1000 + 3600,
            ),
            snp: SnpChain::generate(),
        }
    }

    fn policy(&self, extra: &str) -> TrustPolicy {
        TrustPolicy::parse(&self.policy_text(extra)).unwrap()
    }

    fn policy_text(&self, extra: &str) -> String {
        format!(
            r#"
[release]
keys = ["{RELEASE_KEY}"]
threshold = 1

[log]
origin = "{ORIGIN}"
key = "{}"

[attestation]
nitro_roots = ["{}"]
amd_arks = ["{}"]
{extra}
"#,
            self.log_key.verifier().vkey(),
            hex::encode(self.nitro.trust().root_sha256[0]),
            hex::encode(self.snp.ark_sha256()),
        )
    }

    /// Logs `bytes` as `kind` and returns the statement with a proof against the newest checkpoint.
    fn log(&mut self, bytes: Vec<u8>, kind: EntryKind, signers: &[&str]) -> SignedStatement {
        let digest: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            &bytes,
        ))
        .into();
        let index = self.tree.push(LogEntry::new(kind, digest).leaf_hash());
        let text = Checkpoint::new(ORIGIN, self.tree.size(), self.tree.root()).format();
        let mut note = Note::new(&text).unwrap();
        note.add_signature(self.log_key.sign(&text).unwrap())
            .unwrap();
        let bundle = ProofBundle {
            extra: None,
            index,
            proof: self.tree.inclusion_proof(index, self.tree.size()).unwrap(),
            checkpoint: note,
        };
        SignedStatement {
            bytes,
            signers: signers.iter().map(|s| s.to_string()).collect(),
            proof: Some(bundle.format()),
        }
    }
}

fn nitro_registers() -> BTreeMap<String, String> {
    let doc = TestDocument::new(0);
    (0u8..3)
        .map(|i| (format!("PCR{i}"), hex::encode(&doc.pcrs[&i])))
        .collect()
}

const SNP_MEASUREMENT: [u8; 48] = [0x42; 48];

fn release(version: &str) -> ReleaseStatement {
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![Subject {
            name: "proof-server".to_owned(),
            digest: BTreeMap::from([("sha256".to_owned(), "a".repeat(64))]),
        }],
        predicate_type: RELEASE_PREDICATE.to_owned(),
        predicate: ReleasePredicate {
            package: "prover".to_owned(),
            version: version.to_owned(),
            source: Source {
                repository: "https://github.com/mpr-dev/mpr".to_owned(),
                commit: "c".repeat(40),
            },
            source_date_epoch: 1_700_000_000,
            recipe: Digest {
                sha256: "d".repeat(64),
            },
            builder_image: None,
            build_record: None,
            measurement_sets: vec![MeasurementSet {
                name: "default".to_owned(),
                measurements: vec![
                    Measurement {
                        platform: "aws-nitro".to_owned(),
                        parameters: BTreeMap::new(),
                        registers: nitro_registers(),
                    },
                    Measurement {
                        platform: "sev-snp".to_owned(),
                        parameters: BTreeMap::from([
                            ("vcpus".to_owned(), Value::from(4)),
                            ("vmm".to_owned(), Value::from("qemu")),
                        ]),
                        registers: BTreeMap::from([(
                            "MEASUREMENT".to_owned(),
                            hex::encode(SNP_MEASUREMENT),
                        )]),
                    },
                ],
            }],
        },
    }
}

fn deprecation(release: &ReleaseStatement) -> SetStatusStatement {
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![release_statement_subject(
            &release.predicate.version,
            &release.sha256(),
        )],
        predicate_type: SET_STATUS_PREDICATE.to_owned(),
        predicate: SetStatusPredicate {
            version: release.predicate.version.clone(),
            measurement_set: "default".to_owned(),
            sequence: 1,
            status: SetStatus::Deprecated,
            reason: "superseded by a fix".to_owned(),
        },
    }
}

fn nitro_envelope(world: &World, doc: &TestDocument) -> Envelope {
    Envelope {
        platform: EvidencePlatform::AwsNitro,
        nonce: NONCE.to_vec(),
        tls_public_key: Some(TLS_SPKI.to_vec()),
        ohttp_key_config: KEY_CONFIG.to_vec(),
        binding: binding_v1(&NONCE, TLS_SPKI, KEY_CONFIG),
        evidence: world.nitro.sign(doc),
        snp_certificate_table: None,
        snp_crls: vec![],
        staple: None,
        tpm: None,
        tdx_collateral: None,
    }
}

/// A document bound to the test channel, as a genuine prover answers it.
fn bound_document() -> TestDocument {
    let mut doc = TestDocument::new(NOW_MS - 2_000);
    doc.nonce = Some(NONCE.to_vec());
    doc.user_data = Some(binding_v1(&NONCE, TLS_SPKI, KEY_CONFIG).to_vec());
    doc.public_key = Some(TLS_SPKI.to_vec());
    doc
}

fn judge(
    evidence: &EvidenceInput,
    policy: &TrustPolicy,
    statements: &[SignedStatement],
    crls: Vec<Vec<u8>>,
) -> Verdict {
    judge_remembering(evidence, policy, statements, crls, None)
}

fn judge_remembering(
    evidence: &EvidenceInput,
    policy: &TrustPolicy,
    statements: &[SignedStatement],
    crls: Vec<Vec<u8>>,
    verified_links: Option<&VerifiedLinks>,
) -> Verdict {
    let (releases, refused) = TrustedReleases::from_statements(policy, statements);
    let mut verdict = verify(
        evidence,
        &VerifyOptions {
            expected_nonce: Some(&NONCE),
            now_unix_ms: NOW_MS,
            settings: &policy.attestation,
            releases: &releases,
            snp_leaf_certificate: None,
            snp_crls: crls,
            tdx_collateral: None,
            allow_unbound: false,
            verified_links,
        },
    );
    verdict.reasons.extend(refused);
    verdict
}

fn trusted_release(world: &mut World) -> Vec<SignedStatement> {
    vec![world.log(
        release("8.1.0").to_bytes(),
        EntryKind::Release,
        &[RELEASE_KEY],
    )]
}

#[test]
fn a_bound_nitro_document_of_a_signed_logged_release_is_accepted() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    let evidence = EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &bound_document())));
    let verdict = judge(&evidence, &policy, &statements, vec![]);
    assert!(verdict.accepted, "{verdict:#?}");
    let matched = verdict.matched.unwrap();
    assert_eq!(matched.version, "8.1.0");
    assert_eq!(matched.measurement_set, "default");
    assert_eq!(matched.platform, "aws-nitro");
    assert!(verdict.checks.iter().all(|c| c.passed));
}

#[test]
fn each_broken_nitro_binding_is_rejected_with_its_code() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    type Breakage = Box<dyn Fn(&mut TestDocument, &mut Envelope)>;
    let cases: Vec<(&str, Breakage)> = vec![
        (
            "nitro-nonce-mismatch",
            Box::new(|doc, _| doc.nonce = Some(vec![1; 32])),
        ),
        ("nitro-nonce-missing", Box::new(|doc, _| doc.nonce = None)),
        (
            "nitro-user-data-mismatch",
            Box::new(|doc, _| doc.user_data = Some(vec![0; 64])),
        ),
        (
            "nitro-public-key-mismatch",
            Box::new(|doc, _| doc.public_key = Some(b"another key".to_vec())),
        ),
        (
            "binding-mismatch",
            Box::new(|_, envelope| envelope.binding = [0; 64]),
        ),
        (
            "nonce-mismatch",
            Box::new(|_, envelope| envelope.nonce = vec![9; 32]),
        ),
        (
            "nitro-stale",
            Box::new(|doc, _| doc.timestamp_ms = NOW_MS - 301_000),
        ),
        (
            "nitro-pcr-missing",
            Box::new(|doc, _| {
                doc.pcrs.remove(&2);
            }),
        ),
        (
            "nitro-pcr-mismatch",
            Box::new(|doc, _| {
                doc.pcrs.insert(1, vec![7; 48]);
            }),
        ),
    ];
    for (code, break_it) in cases {
        let mut doc = bound_document();
        let mut envelope = nitro_envelope(&world, &doc);
        break_it(&mut doc, &mut envelope);
        envelope.evidence = world.nitro.sign(&doc);
        let verdict = judge(
            &EvidenceInput::Envelope(Box::new(envelope)),
            &policy,
            &statements,
            vec![],
        );
        assert!(!verdict.accepted, "{code}: {verdict:#?}");
        assert!(verdict.codes().contains(&code), "{code}: {verdict:#?}");
        if code == "nitro-pcr-missing" {
            assert!(
                verdict.reasons.iter().any(|r| r.message.contains("PCR2")),
                "{verdict:#?}"
            );
        }
    }
}

#[test]
fn remembered_certificate_signatures_change_no_verdict() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    let links = VerifiedLinks::default();
    let nitro = EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &bound_document())));
    let snp = EvidenceInput::Envelope(Box::new(snp_envelope(
        &world,
        binding_v1(&NONCE, b"", KEY_CONFIG),
        SNP_MEASUREMENT,
    )));
    let crls = vec![world.snp.crl(&[])];
    let mut remembered = Vec::new();
    for _ in 0..2 {
        for evidence in [&nitro, &snp] {
            let verdict =
                judge_remembering(evidence, &policy, &statements, crls.clone(), Some(&links));
            assert!(verdict.accepted, "{verdict:#?}");
        }
        remembered.push(links.len());
    }
    // Every Nitro link of the test chain and the SNP leaf, learnt once.
    assert!(remembered[0] >= 2, "{remembered:?}");
    assert_eq!(remembered[0], remembered[1]);

    // Same chain, now remembered: a debug document, a stale one and a wrong measurement are
    // still refused, each for its own reason.
    let mut debug = bound_document();
    for i in [0u8, 1, 2] {
        debug.pcrs.insert(i, vec![0; 48]);
    }
    let stale = TestDocument {
        timestamp_ms: NOW_MS - 3_600_000,
        ..bound_document()
    };
    for (doc, code) in [(debug, "nitro-debug"), (stale, "nitro-stale")] {
        let evidence = EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &doc)));
        let verdict = judge_remembering(&evidence, &policy, &statements, vec![], Some(&links));
        assert!(verdict.codes().contains(&code), "{code}: {verdict:#?}");
    }
    let other_image = EvidenceInput::Envelope(Box::new(snp_envelope(
        &world,
        binding_v1(&NONCE, b"", KEY_CONFIG),
        [7; 48],
    )));
    let verdict = judge_remembering(&other_image, &policy, &statements, crls, Some(&links));
    assert!(!verdict.accepted, "{verdict:#?}");
}

#[test]
fn a_debug_enclave_is_rejected_even_with_a_valid_chain_and_signature() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    let mut doc = bound_document();
    for i in [0u8, 1, 2] {
        doc.pcrs.insert(i, vec![0; 48]);
    }
    let verdict = judge(
        &EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &doc))),
        &policy,
        &statements,
        vec![],
    );
    assert!(!verdict.accepted);
    assert!(verdict.codes().contains(&"nitro-debug"), "{verdict:#?}");
    for name in ["certificate chain", "signature"] {
        assert!(
            verdict.checks.iter().any(|c| c.name == name && c.passed),
            "{name}: {verdict:#?}"
        );
    }
}

#[test]
fn statements_count_only_when_signed_by_enough_policy_keys_and_logged() {
    let mut world = World::new();
    let policy = world.policy("");
    let document = EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &bound_document())));

    let wrong_signer = vec![world.log(
        release("8.1.0").to_bytes(),
        EntryKind::Release,
        &[OTHER_KEY],
    )];
    let verdict = judge(&document, &policy, &wrong_signer, vec![]);
    assert!(!verdict.accepted);
    assert!(
        verdict.codes().contains(&"statement-signers"),
        "{verdict:#?}"
    );

    let mut unlogged = trusted_release(&mut world);
    unlogged[0].proof = None;
    let verdict = judge(&document, &policy, &unlogged, vec![]);
    assert!(
        verdict.codes().contains(&"statement-unlogged"),
        "{verdict:#?}"
    );

    // Logged as another kind of entry: the proof is for other leaf bytes.
    let wrong_kind = vec![world.log(
        release("8.1.0").to_bytes(),
        EntryKind::Rebuild,
        &[RELEASE_KEY],
    )];
    let verdict = judge(&document, &policy, &wrong_kind, vec![]);
    assert!(
        verdict.codes().contains(&"statement-unlogged"),
        "{verdict:#?}"
    );
}

const ALICE: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BOB: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const CAROL: &str = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

fn rebuild_report(release: &ReleaseStatement, verdict: RebuildVerdict, sha256: &str) -> Vec<u8> {
    let mut subject = release.subject.clone();
    subject[0]
        .digest
        .insert("sha256".to_owned(), sha256.to_owned());
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: subject.clone(),
        predicate_type: REBUILD_PREDICATE.to_owned(),
        predicate: RebuildPredicate {
            version: release.predicate.version.clone(),
            release_statement: Digest {
                sha256: release.sha256(),
            },
            verdict,
            rebuilder: None,
            rebuilt_statement: None,
            build_record: None,
            sizes: subject.iter().map(|s| (s.name.clone(), 1)).collect(),
            environment: BTreeMap::new(),
            findings: Vec::new(),
        },
    }
    .to_bytes()
}

#[test]
fn a_policy_requiring_rebuilders_counts_distinct_keys_whose_good_reports_match() {
    let mut world = World::new();
    let policy = world.policy(&format!(
        "[rebuilders]\nkeys = [\"{ALICE}\", \"{BOB}\", \"{CAROL}\"]\nthreshold = 2\n"
    ));
    let document = EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &bound_document())));
    let statement = release("8.1.0");
    let official = statement.subject[0].digest["sha256"].clone();
    let mut statements = trusted_release(&mut world);

    // No reports yet: the release is not trusted, and the reason says how many are missing.
    let verdict = judge(&document, &policy, &statements, vec![]);
    assert!(!verdict.accepted);
    assert!(
        verdict.codes().contains(&"release-unreproduced"),
        "{verdict:#?}"
    );

    // Alice twice, a GOOD claim over different bytes by Carol, and a stranger: still 1 of 2.
    let good = rebuild_report(&statement, RebuildVerdict::Good, &official);
    statements.push(world.log(good.clone(), EntryKind::Rebuild, &[ALICE]));
    statements.push(world.log(good.clone(), EntryKind::Rebuild, &[ALICE]));
    let lying = rebuild_report(&statement, RebuildVerdict::Good, &"e".repeat(64));
    statements.push(world.log(lying, EntryKind::Rebuild, &[CAROL]));
    statements.push(world.log(good.clone(), EntryKind::Rebuild, &[OTHER_KEY]));
    let verdict = judge(&document, &policy, &statements, vec![]);
    assert!(!verdict.accepted, "{verdict:#?}");
    assert!(
        verdict
            .reasons
            .iter()
            .any(|r| r.code == "release-unreproduced" && r.message.contains("1 of the 2")),
        "{verdict:#?}"
    );
    assert!(
        verdict.codes().contains(&"statement-signers"),
        "the stranger's report is named"
    );

    // Bob's GOOD report of the right bytes, but unlogged: not counted.
    let mut unlogged = world.log(good.clone(), EntryKind::Rebuild, &[BOB]);
    unlogged.proof = None;
    let mut with_unlogged = statements.clone();
    with_unlogged.push(unlogged);
    assert!(!judge(&document, &policy, &with_unlogged, vec![]).accepted);

    // Logged: 2 of 2, accepted.
    let mut agreed = statements.clone();
    agreed.push(world.log(good.clone(), EntryKind::Rebuild, &[BOB]));
    let verdict = judge(&document, &policy, &agreed, vec![]);
    assert!(verdict.accepted, "{verdict:#?}");

    // Alice also reported BAD for the same release: her word is contradicted and not counted.
    let bad = rebuild_report(&statement, RebuildVerdict::Bad, &"e".repeat(64));
    agreed.push(world.log(bad, EntryKind::Rebuild, &[ALICE]));
    assert!(!judge(&document, &policy, &agreed, vec![]).accepted);
}

#[test]
fn a_deprecated_set_is_named_as_the_reason() {
    let mut world = World::new();
    let release = release("8.1.0");
    let mut statements = vec![world.log(release.to_bytes(), EntryKind::Release, &[RELEASE_KEY])];
    statements.push(world.log(
        deprecation(&release).to_bytes(),
        EntryKind::Status,
        &[RELEASE_KEY],
    ));
    let policy = world.policy("");
    let verdict = judge(
        &EvidenceInput::Envelope(Box::new(nitro_envelope(&world, &bound_document()))),
        &policy,
        &statements,
        vec![],
    );
    assert!(!verdict.accepted);
    assert!(verdict.codes().contains(&"set-deprecated"), "{verdict:#?}");
}

fn snp_envelope(world: &World, report_data: [u8; 64], measurement: [u8; 48]) -> Envelope {
    Envelope {
        platform: EvidencePlatform::SevSnp,
        nonce: NONCE.to_vec(),
        tls_public_key: None,
        ohttp_key_config: KEY_CONFIG.to_vec(),
        binding: binding_v1(&NONCE, b"", KEY_CONFIG),
        evidence: world.snp.sign_report(report_data, measurement),
        snp_certificate_table: Some(world.snp.certificate_table()),
        snp_crls: vec![],
        staple: None,
        tpm: None,
        tdx_collateral: None,
    }
}

#[test]
fn a_bound_snp_report_is_accepted_with_its_launch_parameters_and_crl() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    let envelope = snp_envelope(&world, binding_v1(&NONCE, b"", KEY_CONFIG), SNP_MEASUREMENT);
    let evidence = EvidenceInput::Envelope(Box::new(envelope));

    let verdict = judge(&evidence, &policy, &statements, vec![world.snp.crl(&[])]);
    assert!(verdict.accepted, "{verdict:#?}");
    let matched = verdict.matched.unwrap();
    assert_eq!(matched.platform, "sev-snp");
    assert_eq!(matched.parameters["vcpus"], Value::from(4));

    // The CRL is on by default: without one, rejected, saying where to get it.
    let verdict = judge(&evidence, &policy, &statements, vec![]);
    assert!(verdict.codes().contains(&"snp-crl-missing"), "{verdict:#?}");
    // Turned off explicitly, and the verdict says so.
    let lax = world.policy("snp_check_crl = false");
    let verdict = judge(&evidence, &lax, &statements, vec![]);
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "crl" && c.detail.contains("not checked")));
}

#[test]
fn an_snp_crl_counts_from_the_evidence_or_the_policy_and_only_when_amd_signed_it() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    let with_crls = |crls: Vec<Vec<u8>>| {
        let mut envelope =
            snp_envelope(&world, binding_v1(&NONCE, b"", KEY_CONFIG), SNP_MEASUREMENT);
        envelope.snp_crls = crls;
        EvidenceInput::Envelope(Box::new(envelope))
    };

    // Stapled by the prover: enough on its own.
    let verdict = judge(
        &with_crls(vec![world.snp.crl(&[])]),
        &policy,
        &statements,
        vec![],
    );
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "crl" && c.detail.contains("1 by the evidence")));
    // A revoking CRL from the evidence revokes; a forged one from the evidence is refused,
    // never skipped.
    let verdict = judge(
        &with_crls(vec![world.snp.crl(&[0])]),
        &policy,
        &statements,
        vec![],
    );
    assert!(verdict.codes().contains(&"snp-revoked"), "{verdict:#?}");
    let forged = world.snp.crl_signed_by_another_key(&[]);
    let verdict = judge(&with_crls(vec![forged]), &policy, &statements, vec![]);
    assert!(verdict.codes().contains(&"snp-crl-invalid"), "{verdict:#?}");

    // Carried by the trust policy, as PEM.
    let pem =
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &world.snp.crl(&[])).unwrap();
    let with_policy_crl = world.policy(&format!("snp_crls = [\"\"\"\n{pem}\"\"\"]"));
    let verdict = judge(&with_crls(vec![]), &with_policy_crl, &statements, vec![]);
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "crl" && c.detail.contains("1 by the policy")));

    // A policy whose CRL is not PEM is refused when it is read, saying how to fix it.
    let text = world.policy_text("snp_crls = [\"MIIB\"]");
    let error = TrustPolicy::parse(&text).unwrap_err().to_string();
    assert!(error.contains("snp_crls[0] is not PEM"), "{error}");
}

#[test]
fn an_snp_report_for_another_channel_or_image_is_rejected() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("snp_check_crl = false");
    let other_channel = snp_envelope(
        &world,
        binding_v1(&[1; 32], b"", KEY_CONFIG),
        SNP_MEASUREMENT,
    );
    let verdict = judge(
        &EvidenceInput::Envelope(Box::new(other_channel)),
        &policy,
        &statements,
        vec![],
    );
    assert!(
        verdict.codes().contains(&"binding-mismatch"),
        "{verdict:#?}"
    );

    let other_image = snp_envelope(&world, binding_v1(&NONCE, b"", KEY_CONFIG), [0x43; 48]);
    let verdict = judge(
        &EvidenceInput::Envelope(Box::new(other_image)),
        &policy,
        &statements,
        vec![],
    );
    assert!(
        verdict.codes().contains(&"no-release-matched"),
        "{verdict:#?}"
    );
}

/// What a `tdx` envelope carries is verified as a DCAP quote: a Nitro document there is not one.
#[test]
fn a_tdx_envelope_is_never_accepted_unchecked() {
    let mut world = World::new();
    let statements = trusted_release(&mut world);
    let policy = world.policy("");
    let mut envelope = nitro_envelope(&world, &bound_document());
    envelope.platform = EvidencePlatform::Tdx;
    let verdict = judge(
        &EvidenceInput::Envelope(Box::new(envelope)),
        &policy,
        &statements,
        vec![],
    );
    assert!(!verdict.accepted);
    assert_eq!(verdict.codes(), ["tdx-quote-malformed"]);
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../shared/fixtures/nitro/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_recorded_aws_document_verifies_offline_against_expected_registers_only_when_unbound_is_allowed(
) {
    let doc = fixture("yawn-attestation.cose");
    let settings = AttestationSettings::default();
    let expected: BTreeMap<String, Vec<u8>> = [
        ("PCR0", "8bb159f202bb95d6d4d98e0e103918246cea734f1d57cd263e4fd56075ed53f6fa8c68854817a32749a241e11874c26b"),
        ("PCR1", "3b4a7e1b5f13c5a1000b3ed32ef8995ee13e9876329f9bc72650b918329ef9cf4e2e4d1e1e37375dab0ba56ba0974d03"),
        ("PCR2", "f4e86b12ad3df5f9fea962ff706c23ee190b463740a32f1a679a3cd1070a7731ddd83328fe3db5e8143ea94344b6fb95"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), hex::decode(v).unwrap()))
    .collect();
    let releases = TrustedReleases::ad_hoc("aws-nitro", expected.clone());
    let evidence = EvidenceInput::detect(&doc).unwrap();
    let at = |ms: u64, allow_unbound: bool| {
        verify(
            &evidence,
            &VerifyOptions {
                expected_nonce: None,
                now_unix_ms: ms,
                settings: &settings,
                releases: &releases,
                snp_leaf_certificate: None,
                snp_crls: vec![],
                tdx_collateral: None,
                allow_unbound,
                verified_links: None,
            },
        )
    };
    let own_time = 1_736_179_625_472;
    let verdict = at(own_time, true);
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(at(own_time, false).codes().contains(&"binding-unavailable"));
    let later = at(own_time + 4 * 3600 * 1000, true);
    assert!(!later.accepted);
    assert!(
        later.codes().contains(&"nitro-certificate-expired"),
        "{later:#?}"
    );

    // PCR8 expected (a signed EIF) but the document's is zero: rejected.
    let mut with_pcr8 = expected;
    with_pcr8.insert("PCR8".into(), vec![0x11; 48]);
    let releases = TrustedReleases::ad_hoc("aws-nitro", with_pcr8);
    let verdict = verify(
        &evidence,
        &VerifyOptions {
            expected_nonce: None,
            now_unix_ms: own_time,
            settings: &settings,
            releases: &releases,
            snp_leaf_certificate: None,
            snp_crls: vec![],
            tdx_collateral: None,
            allow_unbound: true,
            verified_links: None,
        },
    );
    assert!(
        verdict.codes().contains(&"nitro-pcr-mismatch"),
        "{verdict:#?}"
    );
}

#[test]
fn envelopes_are_parsed_strictly() {
    let world = World::new();
    let envelope = nitro_envelope(&world, &bound_document());
    let json = serde_json::json!({
        "format": ENVELOPE_FORMAT,
        "platform": "aws-nitro",
        "nonce": hex::encode(&envelope.nonce),
        "tls_public_key": hex::encode(TLS_SPKI),
        "ohttp_key_config": hex::encode(KEY_CONFIG),
        "binding": hex::encode(envelope.binding),
        "evidence": hex::encode(&envelope.evidence),
    });
    let parsed = Envelope::parse(json.to_string().as_bytes()).unwrap();
    assert_eq!(parsed, envelope);
    let mut unknown = json.clone();
    unknown["trust_me"] = Value::from(true);
    assert!(Envelope::parse(unknown.to_string().as_bytes()).is_err());
    let mut short_nonce = json.clone();
    short_nonce["nonce"] = Value::from("00");
    assert!(Envelope::parse(short_nonce.to_string().as_bytes())
        .unwrap_err()
        .to_string()
        .contains("nonce"));
    let mut future = json;
    future["format"] = Value::from("mpr-attestation/v9");
    assert!(matches!(
        Envelope::parse(future.to_string().as_bytes()),
        Err(EnvelopeError::UnknownFormat(_))
    ));
    assert!(matches!(
        Envelope::parse(&vec![b' '; MAX_ENVELOPE_BYTES + 1]),
        Err(EnvelopeError::TooLarge(_))
    ));
}
