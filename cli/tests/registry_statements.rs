//! `mpr registry set-status` and `mpr registry addendum` as a publisher runs them against
//! `mpr serve`: render the statement file, sign it with GnuPG, submit it with its signature, and
//! submit it again (harmless).

mod registry_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use registry_support::{gpg, traversable_tempdir, Server};
use serde_json::{json, Value};

fn mpr(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpr"))
        .args(args)
        .current_dir(dir)
        .env_remove("MPR_REGISTRY_URL")
        .env_remove("MPR_PUBLISHER_TOKEN_FILE")
        .output()
        .expect("mpr runs")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "mpr failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_deprecates_a_set_and_adds_one_with_signed_statements() {
    let dir = traversable_tempdir();
    let work = dir.path();
    let token_file = work.join("token");
    let mut server = Server::embedded(&work.join("pg"), &token_file, &work.join("serve.log"));
    server.wait_ready(Duration::from_secs(90)).await;
    let token = std::fs::read_to_string(&token_file).expect("token");
    let client = reqwest::Client::new();
    let release = registry_api::testing::sample_release("8.1.0", 1);
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token.trim())
        .json(&release)
        .send()
        .await
        .expect("POST release");
    assert_eq!(response.status(), 201);

    let home = work.join("gnupg");
    std::fs::create_dir(&home).expect("GNUPGHOME");
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let uid = "Release Signer <release@mpr.invalid>";
    gpg(&home, &["--quick-gen-key", uid, "ed25519", "sign", "never"]);
    let key = gpg(&home, &["--armor", "--export", uid]);
    let admin_token =
        std::fs::read_to_string(registry_support::admin_token_file(&token_file)).expect("admin");
    let response = client
        .post(server.url("/v1/keys"))
        .bearer_auth(admin_token.trim())
        .body(key)
        .send()
        .await
        .expect("POST key");
    assert_eq!(response.status(), 201);

    let registry = server.url("");
    let token_arg = token_file.to_str().expect("path");
    let base = [
        "registry",
        "set-status",
        "--version",
        "8.1.0",
        "--set",
        "default",
        "--status",
        "deprecated",
        "--reason",
        "SEV firmware advisory",
        "--registry",
        &registry,
        "--token-file",
        token_arg,
    ];
    let printed = ok(mpr(&base, work));
    let file = work.join("set-status-8.1.0-default-1.intoto.json");
    assert!(
        printed.contains("set-status-8.1.0-default-1.intoto.json"),
        "{printed}"
    );
    let bytes = std::fs::read(&file).expect("the statement file");
    let statement = verifier::statement::parse_set_status_statement(&bytes).expect("it parses");
    assert_eq!(statement.predicate.sequence, 1);
    gpg(
        &home,
        &[
            "--armor",
            "--detach-sign",
            "--local-user",
            uid,
            file.to_str().unwrap(),
        ],
    );

    let mut submit: Vec<&str> = base.to_vec();
    submit.extend([
        "--out",
        "set-status-8.1.0-default-1.intoto.json",
        "--signature",
        "set-status-8.1.0-default-1.intoto.json.asc",
    ]);
    assert!(ok(mpr(&submit, work)).contains("recorded statement"));
    assert!(
        ok(mpr(&submit, work)).contains("already has statement"),
        "a repeat is harmless"
    );
    let detail: Value = client
        .get(server.url("/v1/releases/8.1.0"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(detail["measurement_sets"][0]["status"], "deprecated");

    // Arguments that disagree with the signed file are refused before anything is sent.
    let mut other: Vec<&str> = submit.clone();
    other[9] = "another reason";
    let refused = mpr(&other, work);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not what the arguments say"));

    // An addendum: a set for 8 vCPUs.
    let set = json!({"name": "milan-8", "measurements": [{"platform": "sev-snp",
        "parameters": {"vcpus": 8, "vmm": "qemu", "firmware_sha256": registry_api::testing::hex32(21)},
        "registers": {"MEASUREMENT": registry_api::testing::hex48(77)}}]});
    std::fs::write(work.join("set.json"), serde_json::to_vec(&set).unwrap()).expect("set file");
    let add = [
        "registry",
        "addendum",
        "--version",
        "8.1.0",
        "--set-file",
        "set.json",
        "--registry",
        &registry,
        "--token-file",
        token_arg,
        "--out",
        "addendum.json",
    ];
    ok(mpr(&add, work));
    gpg(
        &home,
        &[
            "--armor",
            "--detach-sign",
            "--local-user",
            uid,
            work.join("addendum.json").to_str().unwrap(),
        ],
    );
    let mut submit_add = add.to_vec();
    submit_add.extend(["--signature", "addendum.json.asc", "--json"]);
    let answer: Value = serde_json::from_str(&ok(mpr(&submit_add, work))).expect("--json");
    assert_eq!(answer["kind"], "set-addendum");
    let lookup: Value = client
        .get(server.url(&format!(
            "/v1/measurements/{}",
            registry_api::testing::hex48(77)
        )))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        lookup["matches"][0]["statement"]["sha256"],
        answer["sha256"]
    );
    server.terminate(Duration::from_secs(30));
}
