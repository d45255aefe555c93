//! The wallet's side end to end: `mpr attest` and `mpr prove --attested` against the real
//! `proof-server` binary running as if inside an SEV-SNP confidential VM. Its configfs-tsm device is
//! a FUSE file system (crate fake-tsm) whose reports are signed by a test ARK/ASK/VCEK chain; the
//! release statement is signed with `mpr manifest sign` and logged in a log built here; the trust
//! policy pins the test ARK. Everything else is production code.

mod registry_support;
mod signing_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_tsm::{FakeTsm, SnpTestSigner};
use rand::{rngs::StdRng, SeedableRng};
use registry_support::gpg;
use sha2::Digest;
use signing_support::*;
use verifier::statement::{
    Digest as StatementDigest, Measurement, MeasurementSet, ReleasePredicate, Source, Statement,
    Subject, RELEASE_PREDICATE, STATEMENT_TYPE,
};
use verifier::tlog::{
    Checkpoint, EntryKind, KeyKind, LogEntry, MemoryTree, Note, NoteSigner, ProofBundle,
};

const ORIGIN: &str = "mpr.example/log";
const MEASUREMENT: [u8; 48] = [0x6d; 48];

fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(path)
}

/// The proof-server binary of this workspace, which `cargo test --workspace` builds beside this test.
fn proof_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/proof-server
    let server = exe.parent().unwrap().parent().unwrap().join("proof-server");
    assert!(
        server.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p prover --bin proof-server` first)",
        server.display()
    );
    server
}

/// Public parameters and the zswap output keys, as an enclave image bakes them.
fn params_dir(dir: &Path) -> PathBuf {
    let params = dir.join("params");
    std::fs::create_dir_all(params.join("zswap/9")).unwrap();
    for k in 0..=14 {
        let name = format!("bls_midnight_2p{k}");
        std::os::unix::fs::symlink(
            shared(&format!("midnight/params/{name}")),
            params.join(&name),
        )
        .unwrap();
    }
    for ext in ["bzkir", "verifier"] {
        std::os::unix::fs::symlink(
            shared(&format!("midnight/ledger-8.1.0/zswap-output.{ext}")),
            params.join(format!("zswap/9/output.{ext}")),
        )
        .unwrap();
    }
    params
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(params: &Path, tsm_reports: &Path, extra: &[&str]) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("tcp:127.0.0.1:{port}");
    let mut args = vec![
        "--listen",
        &listen,
        "--no-fetch-params",
        "--params-dir",
        path_str(params),
        "--tsm-reports",
        path_str(tsm_reports),
    ];
    args.extend_from_slice(extra);
    let child = Command::new(proof_server())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("proof-server starts");
    let tls = extra.contains(&"--tls");
    let url = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
    let server = Server { child, url };
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "proof-server did not listen within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// A release whose sev-snp set has MEASUREMENT, signed and logged; returns the mpr flags that
/// trust it offline, and the policy file.
fn trusted_release(dir: &Path, ark_sha256: [u8; 32]) -> Vec<String> {
    let statement = Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![Subject {
            name: "proof-server".to_owned(),
            digest: [("sha256".to_owned(), "a".repeat(64))].into(),
        }],
        predicate_type: RELEASE_PREDICATE.to_owned(),
        predicate: ReleasePredicate {
            package: "prover".to_owned(),
            version: "8.1.0".to_owned(),
            source: Source {
                repository: "https://github.com/mpr-dev/mpr".to_owned(),
                commit: "c".repeat(40),
            },
            source_date_epoch: 1_700_000_000,
            recipe: StatementDigest {
                sha256: "d".repeat(64),
            },
            builder_image: None,
            build_record: None,
            measurement_sets: vec![MeasurementSet {
                name: "snp-4-vcpus".to_owned(),
                measurements: vec![Measurement {
                    platform: "sev-snp".to_owned(),
                    parameters: [("vcpus".to_owned(), serde_json::Value::from(4))].into(),
                    registers: [("MEASUREMENT".to_owned(), hex::encode(MEASUREMENT))].into(),
                }],
            }],
        },
    }
    .to_bytes();
    let statement_path = dir.join("release.json");
    std::fs::write(&statement_path, &statement).unwrap();
    let (key, fingerprint) = generate_key(dir, "release.key");
    let keyring = export_key(&key, dir);
    let signature = dir.join("release.json.asc");
    ok(&mpr(
        &[
            "manifest",
            "sign",
            "--key",
            path_str(&key),
            "--passphrase-file",
            path_str(&passphrase_file(dir)),
            "--statement",
            path_str(&statement_path),
            "--out",
            path_str(&signature),
        ],
        &[],
    ));

    let mut rng = StdRng::seed_from_u64(5);
    let log_key = NoteSigner::from_secret_key_text(
        &NoteSigner::generate(ORIGIN, KeyKind::Ed25519, &mut rng)
            .unwrap()
            .secret_key,
    )
    .unwrap();
    let mut tree = MemoryTree::new();
    tree.push(LogEntry::new(EntryKind::Release, [1; 32]).leaf_hash());
    let index = tree.push(
        LogEntry::new(EntryKind::Release, sha2::Sha256::digest(&statement).into()).leaf_hash(),
    );
    let text = Checkpoint::new(ORIGIN, tree.size(), tree.root()).format();
    let mut note = Note::new(&text).unwrap();
    note.add_signature(log_key.sign(&text).unwrap()).unwrap();
    let bundle = ProofBundle {
        extra: None,
        index,
        proof: tree.inclusion_proof(index, tree.size()).unwrap(),
        checkpoint: note,
    };
    let proof = dir.join("release.proof");
    std::fs::write(&proof, bundle.format()).unwrap();

    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[release]\nkeys = [\"{fingerprint}\"]\nthreshold = 1\n\n[log]\norigin = \"{ORIGIN}\"\nkey = \"{}\"\n\n\
             [attestation]\namd_arks = [\"{}\"]\n",
            log_key.verifier().vkey(),
            hex::encode(ark_sha256)
        ),
    )
    .unwrap();
    [
        "--policy",
        path_str(&policy),
        "--statement",
        path_str(&statement_path),
        "--signature",
        path_str(&signature),
        "--proof",
        path_str(&proof),
        "--keyring",
        path_str(&keyring),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A fake SEV-SNP guest device under `dir/tsm` whose reports carry MEASUREMENT, signed by a
/// fresh test chain.
fn snp_device(dir: &Path) -> (Arc<SnpTestSigner>, FakeTsm) {
    let signer = Arc::new(SnpTestSigner::new(
        verifier::snp::testing::TestChain::generate(),
        MEASUREMENT,
    ));
    std::fs::create_dir(dir.join("tsm")).unwrap();
    let tsm = FakeTsm::mount(&dir.join("tsm"), signer.clone()).expect(
        "mounting the fake configfs-tsm (needs /dev/fuse and fusermount3 from Debian's fuse3)",
    );
    (signer, tsm)
}

/// A current CRL of the test chain's ARK revoking nothing, written to `dir/amd.crl`.
fn current_crl(dir: &Path, signer: &SnpTestSigner) -> PathBuf {
    let crl = dir.join("amd.crl");
    std::fs::write(&crl, signer.chain().crl(&[])).unwrap();
    crl
}

fn run(args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mpr(&args, &[])
}

#[test]
fn a_wallet_attests_an_snp_prover_and_proves_through_its_encrypted_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, tsm) = snp_device(dir.path());
    let crl = current_crl(dir.path(), &signer);
    let trust = trusted_release(dir.path(), signer.chain().ark_sha256());
    let params = params_dir(dir.path());
    let server = start_server(&params, tsm.reports_dir(), &["--require-encryption"]);

    // Attest: fresh nonce, the report read through configfs-tsm, every check passed.
    let mut attest = vec![
        "attest".to_string(),
        server.url.clone(),
        "--snp-crl".into(),
        path_str(&crl).into(),
    ];
    attest.extend(trust.iter().cloned());
    let out = ok(&run(&attest));
    assert!(
        out.contains("ACCEPTED sev-snp evidence: prover 8.1.0, measurement set \"snp-4-vcpus\""),
        "{out}"
    );
    assert!(out.contains("ok   binding"), "{out}");
    assert!(tsm.reports_served() >= 1);

    // Without the CRL (on by default) the same prover is rejected, saying how to get one.
    let mut no_crl = vec!["attest".to_string(), server.url.clone()];
    no_crl.extend(trust.iter().cloned());
    let err = failed(&run(&no_crl));
    assert!(err.contains("[snp-crl-missing]"), "{err}");

    // Plaintext proving is refused; through the attested channel the same request is served.
    let request = shared("midnight/requests/check-zswap-output-with-ir.req");
    let plain = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(format!("{}/check", server.url))
            .body(std::fs::read(&request).unwrap())
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(plain, 403);
    let answer = dir.path().join("check.resp");
    let mut prove = vec![
        "prove".to_string(),
        "--attested".into(),
        server.url.clone(),
        "--route".into(),
        "/check".into(),
        "--snp-crl".into(),
        path_str(&crl).into(),
        "--out".into(),
        path_str(&answer).into(),
        path_str(&request).into(),
    ];
    prove.extend(trust.iter().cloned());
    ok(&run(&prove));
    assert_eq!(
        std::fs::read(&answer).unwrap(),
        std::fs::read(shared("midnight/requests/check-zswap-output.resp")).unwrap()
    );

    // A wallet that pins another AMD root refuses the prover and sends nothing.
    let other_policy = std::fs::read_to_string(&trust[1])
        .unwrap()
        .replace(&hex::encode(signer.chain().ark_sha256()), &"ab".repeat(32));
    let other = dir.path().join("other-policy.toml");
    std::fs::write(&other, other_policy).unwrap();
    let mut refused = prove.clone();
    let at = refused.iter().position(|a| a == "--policy").unwrap();
    refused[at + 1] = path_str(&other).into();
    std::fs::remove_file(&answer).unwrap();
    let err = failed(&run(&refused));
    assert!(err.contains("REJECTED sev-snp evidence"), "{err}");
    assert!(err.contains("[snp-root-not-pinned]"), "{err}");
    assert!(!answer.exists());
}

/// A prover deployed with its release's statement, signature and log proof stapled, and AMD's CRL:
/// the wallet needs only its policy and the release keys, and fetches nothing else.
#[test]
fn a_stapled_prover_with_its_crl_is_verified_with_the_policy_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, tsm) = snp_device(dir.path());
    let crl = current_crl(dir.path(), &signer);
    let trust = trusted_release(dir.path(), signer.chain().ark_sha256());
    let flag = |name: &str| {
        let at = trust.iter().position(|a| a == name).unwrap();
        trust[at + 1].clone()
    };
    let (policy, keyring) = (flag("--policy"), flag("--keyring"));
    let params = params_dir(dir.path());
    let deploy = |statement: &str| {
        [
            "--staple-statement".to_string(),
            statement.to_string(),
            "--staple-signature".into(),
            flag("--signature"),
            "--staple-proof".into(),
            flag("--proof"),
            "--snp-crl".into(),
            path_str(&crl).into(),
        ]
    };
    let stapled = deploy(&flag("--statement"));
    let stapled: Vec<&str> = stapled.iter().map(String::as_str).collect();
    let server = start_server(&params, tsm.reports_dir(), &stapled);

    let attest = |url: &str| {
        run(&[
            "attest".to_string(),
            url.to_string(),
            "--policy".into(),
            policy.clone(),
            "--keyring".into(),
            keyring.clone(),
        ])
    };
    let out = ok(&attest(&server.url));
    assert!(
        out.contains("ACCEPTED sev-snp evidence: prover 8.1.0, measurement set \"snp-4-vcpus\""),
        "{out}"
    );
    assert!(out.contains("1 by the evidence"), "{out}");
    drop(server);

    // A host that swaps the stapled statement (here: one more byte) gains nothing: the signature
    // no longer covers it, so no trusted release is left.
    let forged = dir.path().join("forged.json");
    let mut bytes = std::fs::read(flag("--statement")).unwrap();
    bytes.push(b' ');
    std::fs::write(&forged, bytes).unwrap();
    let forged = deploy(path_str(&forged));
    let forged: Vec<&str> = forged.iter().map(String::as_str).collect();
    let server = start_server(&params, tsm.reports_dir(), &forged);
    let err = failed(&attest(&server.url));
    assert!(err.contains("REJECTED sev-snp evidence"), "{err}");
}

/// `mpr attest --registry`: the wallet trusts nothing the registry says unsigned. The release and
/// the addendum that adds the prover's measurement set are signed with GnuPG and logged by
/// `mpr serve`; the wallet fetches them, their signatures, the policy's key and the log proofs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_attests_against_statements_it_fetches_from_a_registry() {
    let dir = registry_support::traversable_tempdir();
    let work = dir.path();
    let (signer, tsm) = snp_device(work);
    let token_file = work.join("token");
    let mut registry =
        registry_support::Server::embedded(&work.join("pg"), &token_file, &work.join("serve.log"));
    registry.wait_ready(Duration::from_secs(90)).await;
    let token = std::fs::read_to_string(&token_file).unwrap();
    let admin = std::fs::read_to_string(registry_support::admin_token_file(&token_file)).unwrap();
    let client = reqwest::Client::new();
    let release = registry_api::testing::sample_release("8.1.0", 1);
    let pipeline_key = registry.register_release_key().await;
    let response = client
        .post(registry.url("/v1/releases"))
        .bearer_auth(token.trim())
        .json(&registry_support::signed(&release, &pipeline_key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let home = work.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let uid = "Release Signer <release@mpr.invalid>";
    gpg(&home, &["--quick-gen-key", uid, "ed25519", "sign", "never"]);
    let key = gpg(&home, &["--armor", "--export", uid]);
    let response = client
        .post(registry.url("/v1/keys"))
        .bearer_auth(admin.trim())
        .body(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let fingerprint = String::from_utf8(gpg(&home, &["--with-colons", "--fingerprint", uid]))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|rest| rest.trim_matches(':').to_string())
        })
        .unwrap();

    // Sign the release statement the registry rendered.
    let statement = client
        .get(registry.url("/v1/releases/8.1.0/statement"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(work.join("release.json"), &statement).unwrap();
    gpg(
        &home,
        &[
            "--armor",
            "--detach-sign",
            "--local-user",
            uid,
            path_str(&work.join("release.json")),
        ],
    );
    let signature = std::fs::read_to_string(work.join("release.json.asc")).unwrap();
    let response = client
        .post(registry.url("/v1/releases/8.1.0/statement/signatures"))
        .bearer_auth(token.trim())
        .body(signature)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );

    // The prover's measurement set, added with a signed addendum.
    let set = serde_json::json!({"name": "snp-4-vcpus", "measurements": [{"platform": "sev-snp",
        "parameters": {"vcpus": 4, "vmm": "qemu", "firmware_sha256": registry_api::testing::hex32(21)},
        "registers": {"MEASUREMENT": hex::encode(MEASUREMENT)}}]});
    std::fs::write(work.join("set.json"), serde_json::to_vec(&set).unwrap()).unwrap();
    let registry_url = registry.url("");
    let (set_file, addendum) = (work.join("set.json"), work.join("addendum.json"));
    let add = [
        "registry",
        "addendum",
        "--version",
        "8.1.0",
        "--set-file",
        path_str(&set_file),
        "--registry",
        &registry_url,
        "--token-file",
        path_str(&token_file),
        "--out",
        path_str(&addendum),
    ];
    ok(&mpr(&add, &[]));
    gpg(
        &home,
        &[
            "--armor",
            "--detach-sign",
            "--local-user",
            uid,
            path_str(&work.join("addendum.json")),
        ],
    );
    let mut submit = add.to_vec();
    let addendum_signature = work.join("addendum.json.asc");
    submit.extend(["--signature", path_str(&addendum_signature)]);
    ok(&mpr(&submit, &[]));

    // The wallet's policy: the release key, the registry's log (its key generated on first start).
    let log_key = std::fs::read_to_string(work.join("log-key")).unwrap();
    let log_key = NoteSigner::from_secret_key_text(log_key.trim())
        .unwrap()
        .verifier();
    let policy = work.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[release]\nkeys = [\"{fingerprint}\"]\nthreshold = 1\n\n[log]\norigin = \"{}\"\nkey = \"{}\"\n\n\
             [attestation]\namd_arks = [\"{}\"]\nsnp_check_crl = false\n",
            log_key.name(),
            log_key.vkey(),
            hex::encode(signer.chain().ark_sha256())
        ),
    )
    .unwrap();
    let params = params_dir(work);
    let server = start_server(&params, tsm.reports_dir(), &[]);
    // The log integrates and signs a checkpoint shortly after each write.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let attempt = mpr(
            &[
                "attest",
                &server.url,
                "--registry",
                &registry_url,
                "--policy",
                path_str(&policy),
            ],
            &[],
        );
        if attempt.status.success() || Instant::now() > deadline {
            break attempt;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let out = ok(&out);
    assert!(
        out.contains("ACCEPTED sev-snp evidence: prover 8.1.0, measurement set \"snp-4-vcpus\""),
        "{out}"
    );
    assert!(out.contains("statement(s) from"), "{out}");
    drop(server);
    registry.terminate(Duration::from_secs(30));
}
