//! What the release tests share: the fixture crate with a recipe, a registry on its embedded
//! PostgreSQL with an mpr-generated release key registered, and the trust policy a wallet would
//! hold for them.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::build_support::{builder_image, fixture_recipe, fixture_repo, SERVED_PARAMS};
use crate::registry_support::{admin_token_file, traversable_tempdir, Server};
use crate::signing_support::{export_key, generate_key};

pub const VERSION: &str = "0.1.0";

pub struct ReleaseBed {
    pub work: tempfile::TempDir,
    /// Serves the recipe's `[[files]]` entry fetched by URL.
    pub files_url: String,
    pub recipe: PathBuf,
    pub key: PathBuf,
    pub passphrase: PathBuf,
    pub fingerprint: String,
    pub token_file: PathBuf,
    pub registry: Server,
}

/// What `mpr rebuild verify --submit` needs: a key, its passphrase, a rebuilder token.
pub struct Rebuilder {
    pub key: PathBuf,
    pub passphrase: PathBuf,
    pub fingerprint: String,
    pub token_file: PathBuf,
}

impl Rebuilder {
    /// The `--submit` arguments.
    pub fn submit_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--submit".into(),
            "--token-file".into(),
            self.token_file.clone().into(),
            "--key".into(),
            self.key.clone().into(),
            "--passphrase-file".into(),
            self.passphrase.clone().into(),
        ]
    }
}

impl ReleaseBed {
    /// The fixture repository and recipe, a release key, and a registry that knows the key.
    pub async fn start() -> ReleaseBed {
        Self::start_with(&[]).await
    }

    /// The same with `extra` files (path, content) committed in the fixture repository.
    pub async fn start_with(extra: &[(&str, &str)]) -> ReleaseBed {
        let work = traversable_tempdir();
        let repo = work.path().join("hello");
        fixture_repo(&repo, extra);
        let files_url = builder::testing::serve_file("/params", SERVED_PARAMS.to_vec(), 64);
        let recipe = fixture_recipe(&repo, &builder_image(), &files_url);
        let keys = work.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let (key, fingerprint) = generate_key(&keys, "release-key.asc");
        let public = export_key(&key, &keys);
        let token_file = work.path().join("publisher-token");
        let registry = start_registry(work.path(), &token_file).await;
        register_key(&registry, &token_file, &public, "release").await;
        ReleaseBed {
            files_url,
            recipe,
            passphrase: keys.join("passphrase"),
            key,
            fingerprint,
            token_file,
            registry,
            work,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// A rebuilder's key (with a passphrase file) made in `dir`, registered with role rebuilder,
    /// and a rebuilder token in `dir/token`; `register: false` leaves the key unknown to the
    /// registry (a stranger).
    pub async fn rebuilder(&self, dir: &Path, name: &str, register: bool) -> Rebuilder {
        std::fs::create_dir_all(dir).unwrap();
        let (key, fingerprint) = generate_key(dir, "rebuilder-key.asc");
        if register {
            let public = export_key(&key, dir);
            register_key(&self.registry, &self.token_file, &public, "rebuilder").await;
        }
        let admin = std::fs::read_to_string(admin_token_file(&self.token_file)).unwrap();
        let response = reqwest::Client::new()
            .post(self.registry.url("/v1/tokens"))
            .bearer_auth(admin.trim())
            .json(&serde_json::json!({"name": name, "role": "rebuilder"}))
            .send()
            .await
            .unwrap();
        let created: serde_json::Value = response.json().await.unwrap();
        let token_file = dir.join("token");
        std::fs::write(&token_file, created["token"].as_str().expect("a token")).unwrap();
        Rebuilder {
            passphrase: dir.join("passphrase"),
            key,
            fingerprint,
            token_file,
        }
    }

    /// Stops the registry and starts it again on the same database (on another port).
    pub async fn restart_registry(&mut self) {
        self.registry.terminate(Duration::from_secs(30));
        self.registry = start_registry(self.work.path(), &self.token_file).await;
    }

    /// The trust policy a wallet holds: this release key, this registry's log.
    pub fn policy(&self) -> PathBuf {
        let log_key = std::fs::read_to_string(self.path("log-key")).unwrap();
        let log_key = verifier::tlog::NoteSigner::from_secret_key_text(log_key.trim())
            .unwrap()
            .verifier();
        let policy = self.path("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "[release]\nkeys = [\"{}\"]\nthreshold = 1\n\n[log]\norigin = \"{}\"\nkey = \"{}\"\n",
                self.fingerprint,
                log_key.name(),
                log_key.vkey()
            ),
        )
        .unwrap();
        policy
    }

    /// `mpr release` of [`VERSION`] into `out` against the registry, with `extra` arguments and
    /// environment; GitHub tokens of the calling environment never reach it.
    pub fn release(&self, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
        self.release_against(&self.registry.url(""), out, extra, env)
    }

    pub fn release_against(
        &self,
        registry: &str,
        out: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        self.release_command(registry, out, extra, env)
            .output()
            .unwrap()
    }

    pub fn release_command(
        &self,
        registry: &str,
        out: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mpr"));
        command
            .args(["--json", "release", "--version", VERSION, "--no-load"])
            .arg("--recipe")
            .arg(&self.recipe)
            .arg("--out")
            .arg(out)
            .args(["--registry", registry])
            .arg("--token-file")
            .arg(&self.token_file)
            .arg("--key")
            .arg(&self.key)
            .arg("--passphrase-file")
            .arg(&self.passphrase)
            .args(["--log-wait", "60"])
            .args(extra)
            .env_remove("GITHUB_TOKEN")
            .env_remove("MPR_GITHUB_TOKEN")
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("GITHUB_API_URL")
            .env_remove("MPR_KEY_PASSPHRASE");
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }
}

/// Registers the armored certificate `public` for `role` with the registry's admin token.
async fn register_key(registry: &Server, token_file: &Path, public: &Path, role: &str) {
    let admin = std::fs::read_to_string(admin_token_file(token_file)).unwrap();
    let response = reqwest::Client::new()
        .post(registry.url(&format!("/v1/keys?role={role}")))
        .bearer_auth(admin.trim())
        .body(std::fs::read(public).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn start_registry(work: &Path, token_file: &Path) -> Server {
    let mut server = Server::embedded(&work.join("pg"), token_file, &work.join("serve.log"));
    server.wait_ready(Duration::from_secs(90)).await;
    server
}

/// The outcome `mpr release --json` reported for each stage, in order.
pub fn outcomes(journal: &serde_json::Value) -> Vec<(String, String)> {
    journal["stages"]
        .as_array()
        .expect("the journal lists its stages")
        .iter()
        .map(|stage| {
            (
                stage["stage"].as_str().unwrap().to_owned(),
                stage["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The stage/outcome pairs as `outcomes` gives them, from string literals.
pub fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(stage, outcome)| (stage.to_string(), outcome.to_string()))
        .collect()
}
