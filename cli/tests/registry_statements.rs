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

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("GET");
    response.json().await.expect("JSON")
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
    let pipeline_key = server.register_release_key().await;
    let response = client
        .post(server.url("/v1/releases"))
        .bearer_auth(token.trim())
        .json(&registry_support::signed(&release, &pipeline_key))
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
    let detail = get_json(&client, &server.url("/v1/releases/8.1.0")).await;
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

/// A release key made with `mpr key generate` (unencrypted: a test key), and its public file.
fn release_key(dir: &Path, name: &str) -> (String, String) {
    let secret = dir.join(format!("{name}.asc"));
    let public = dir.join(format!("{name}.pub.asc"));
    let user_id = format!("{name} <{name}@mpr.invalid>");
    let secret_arg = secret.to_str().expect("UTF-8 path");
    ok(mpr(
        &[
            "key",
            "generate",
            "--user-id",
            &user_id,
            "--out",
            secret_arg,
            "--no-passphrase",
        ],
        dir,
    ));
    let public_arg = public.to_str().expect("UTF-8 path");
    ok(mpr(
        &["key", "export", "--key", secret_arg, "--out", public_arg],
        dir,
    ));
    (secret_arg.to_owned(), public_arg.to_owned())
}

/// `mpr registry publish` signs the statement it records: refused with a key nobody registered
/// (saying how to register it), recorded once the admin registers the key, harmless to repeat,
/// and a second release key co-signs by publishing the same release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpr_registry_publish_records_only_releases_signed_by_a_registered_key() {
    let dir = traversable_tempdir();
    let work = dir.path();
    let token_file = work.join("token");
    let mut server = Server::embedded(&work.join("pg"), &token_file, &work.join("serve.log"));
    server.wait_ready(Duration::from_secs(90)).await;
    let admin =
        std::fs::read_to_string(registry_support::admin_token_file(&token_file)).expect("admin");
    let submission = work.join("submission").join("release.json");
    std::fs::create_dir(submission.parent().unwrap()).expect("mkdir");
    std::fs::write(
        &submission,
        registry_api::testing::sample_release("8.1.0", 1).to_string(),
    )
    .expect("submission");
    let url = server.url("");
    let publish = |key: &str| {
        mpr(
            &[
                "registry",
                "publish",
                "--submission",
                submission.to_str().unwrap(),
                "--registry",
                &url,
                "--token-file",
                token_file.to_str().unwrap(),
                "--key",
                key,
            ],
            work,
        )
    };

    let (first, first_public) = release_key(work, "first");
    let refused = publish(&first);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not a registered key"), "{stderr}");
    assert!(stderr.contains("registered as a release key?"), "{stderr}");
    assert!(stderr.contains("/v1/keys?role=release"), "{stderr}");
    let client = reqwest::Client::new();
    let release = client.get(server.url("/v1/releases/8.1.0")).send().await;
    assert_eq!(release.expect("GET").status(), 404, "nothing was recorded");

    let register = |public: String| {
        let client = client.clone();
        let url = server.url("/v1/keys?role=release");
        let admin = admin.trim().to_owned();
        async move {
            let response = client
                .post(url)
                .bearer_auth(admin)
                .body(std::fs::read(public).expect("public key"))
                .send()
                .await
                .expect("POST key");
            assert_eq!(response.status(), 201);
        }
    };
    register(first_public).await;
    let recorded = ok(publish(&first));
    assert!(recorded.contains("recorded release 8.1.0"), "{recorded}");
    let statement = std::fs::read(work.join("submission/statement.json")).expect("statement");
    let served = client
        .get(server.url("/v1/releases/8.1.0/statement"))
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    assert_eq!(
        &served[..],
        &statement[..],
        "the statement signed is the one served"
    );
    let signature = work.join("submission/statement.json.asc");
    ok(mpr(
        &[
            "manifest",
            "verify",
            "--statement",
            work.join("submission/statement.json").to_str().unwrap(),
            "--signature",
            signature.to_str().unwrap(),
            "--keyring",
            work.join("first.pub.asc").to_str().unwrap(),
        ],
        work,
    ));

    let again = ok(publish(&first));
    assert!(
        again.contains("already recorded with this content")
            && again.contains("carries this key's signature"),
        "{again}"
    );
    let (second, second_public) = release_key(work, "second");
    register(second_public).await;
    let cosigned = ok(publish(&second));
    assert!(
        cosigned.contains("now carries this key's signature too"),
        "{cosigned}"
    );
    let signatures = get_json(
        &client,
        &server.url("/v1/releases/8.1.0/statement/signatures"),
    )
    .await;
    assert_eq!(signatures.as_array().map(Vec::len), Some(2), "{signatures}");
}
