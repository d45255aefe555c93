//! The reproducibility proof: a fixture crate built by `mpr build` under different conditions on
//! the host (and, as root, once more by another user) gives byte-identical records, hence the same binary, image digest, EIF PCRs and
//! SEV-SNP launch digest. Needs Docker and a builder image (`MPR_BUILDER_IMAGE`, or one is created).

use std::path::{Path, PathBuf};
use std::process::Command;

mod build_support;
use build_support::{
    builder_image, check, copy_dir, fixture_recipe as recipe, rebuilder_user, sha256_file,
    SERVED_PARAMS,
};

fn fixture_repo(dir: &Path) -> String {
    build_support::fixture_repo(dir, &[])
}

/// How a build's host differs from the other's.
struct Variation {
    umask: &'static str,
    env: Vec<(&'static str, String)>,
    jobs: u32,
    wrap: Vec<String>,
    mpr: PathBuf,
}

fn run_build(recipe: &Path, out: &Path, variation: &Variation) -> serde_json::Value {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {}; exec \"$@\"", variation.umask))
        .arg("sh");
    command.args(&variation.wrap);
    command
        .arg(&variation.mpr)
        .args(["--json", "build", "--recipe"])
        .arg(recipe);
    command
        .arg("--out")
        .arg(out)
        .args(["--jobs", &variation.jobs.to_string()]);
    for (key, value) in &variation.env {
        command.env(key, value);
    }
    let output = check(command.output().unwrap(), "mpr build");
    serde_json::from_slice(&output.stdout).expect("mpr build --json prints the record")
}

/// A host git configuration that would change every file `git archive` or a checkout writes:
/// CRLF line ends, a smudge filter, export-subst and export-ignore, from the global configuration,
/// a global attributes file and the clone's own info/attributes. Returns the HOME to use.
fn hostile_git_home(dir: &Path, repo: &Path) -> PathBuf {
    let home = dir.join("hostile-home");
    std::fs::create_dir_all(&home).unwrap();
    let attributes = home.join("attributes");
    std::fs::write(&attributes, "* text eol=crlf filter=hostile export-subst\n").unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        format!(
            "[core]\n\tautocrlf = true\n\teol = crlf\n\tattributesFile = {}\n[filter \"hostile\"]\n\tsmudge = sed s/42/43/\n\tclean = cat\n[tar]\n\tumask = 0\n",
            attributes.display()
        ),
    )
    .unwrap();
    std::fs::write(
        repo.join(".git/info/attributes"),
        "*.rs export-subst\nCargo.toml export-ignore\n",
    )
    .unwrap();
    home
}

#[test]
fn two_builds_under_different_conditions_are_identical() {
    let image = builder_image();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();

    let repo_a = a.path().join("src");
    let repo_b = b.path().join("elsewhere/deeper/checkout-b");
    let commit = fixture_repo(&repo_a);
    assert_eq!(
        fixture_repo(&repo_b),
        commit,
        "the fixture commit must not depend on its directory"
    );
    let files_url = builder::testing::serve_file("/params", SERVED_PARAMS.to_vec(), 16);
    let recipe_a = recipe(&repo_a, &image, &files_url);
    let recipe_b = recipe(&repo_b, &image, &files_url);
    let hostile_home = hostile_git_home(b.path(), &repo_b);
    // The configuration is hostile indeed: `git archive` of the same commit differs under it.
    let archive = |repo: &Path, home: &Path| {
        check(
            Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["archive", "--format=tar", "HEAD"])
                .env("HOME", home)
                .output()
                .unwrap(),
            "git archive",
        )
        .stdout
    };
    assert_ne!(
        archive(&repo_a, a.path()),
        archive(&repo_b, &hostile_home),
        "the hostile git configuration must change what `git archive` exports"
    );

    let plain = Variation {
        umask: "022",
        env: vec![
            ("TZ", "UTC".into()),
            ("LANG", "C.UTF-8".into()),
            (
                "MPR_FILE_CACHE",
                a.path().join("file-cache").display().to_string(),
            ),
        ],
        jobs: 2,
        wrap: vec![],
        mpr: env!("CARGO_BIN_EXE_mpr").into(),
    };
    let mut wrap = vec![
        // Another host name, one CPU, and a clock three years ahead.
        "unshare".to_owned(),
        "--uts".to_owned(),
        "sh".to_owned(),
        "-c".to_owned(),
        "hostname mpr-variation-b && exec \"$@\"".to_owned(),
        "sh".to_owned(),
        "taskset".to_owned(),
        "-c".to_owned(),
        "0".to_owned(),
    ];
    if Path::new("/usr/bin/faketime").exists() {
        wrap.extend(["faketime".to_owned(), "-f".to_owned(), "+3y".to_owned()]);
    }
    let varied = Variation {
        umask: "077",
        env: vec![
            ("TZ", "Pacific/Chatham".into()),
            ("LANG", "de_DE.UTF-8".into()),
            ("LC_ALL", "de_DE.UTF-8".into()),
            // Host settings that must not reach the hermetic build.
            ("RUSTFLAGS", "-C opt-level=0".into()),
            ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16".into()),
            ("SOURCE_DATE_EPOCH", "1".into()),
            ("MPR_UNRELATED_NOISE", "x".repeat(100)),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
            // The host's git configuration must not reach the source archive.
            ("HOME", hostile_home.display().to_string()),
            (
                "MPR_FILE_CACHE",
                b.path().join("file-cache").display().to_string(),
            ),
            // A cold vendor cache: the crates are vendored again from crates.io.
            (
                "MPR_VENDOR_CACHE",
                b.path().join("vendor-cache").display().to_string(),
            ),
        ],
        jobs: 1,
        wrap,
        mpr: env!("CARGO_BIN_EXE_mpr").into(),
    };

    let out_a = a.path().join("out");
    let out_b = b.path().join("x/y/out");
    let record_a = run_build(&recipe_a, &out_a, &plain);
    let record_b = run_build(&recipe_b, &out_b, &varied);

    assert_eq!(record_a, record_b);
    assert_eq!(record_a["inputs"]["commit"], commit.as_str());

    // A third build by another, unprivileged user (in the docker group).
    let c = tempfile::tempdir().unwrap();
    {
        let user = rebuilder_user().to_owned();
        let repo_c = c.path().join("repo");
        fixture_repo(&repo_c);
        let recipe_c = recipe(&repo_c, &image, &files_url);
        let mpr_c = c.path().join("mpr");
        std::fs::copy(env!("CARGO_BIN_EXE_mpr"), &mpr_c).unwrap();
        copy_dir(
            &b.path().join("vendor-cache"),
            &c.path().join("vendor-cache"),
        );
        std::fs::create_dir(c.path().join("home")).unwrap();
        let chown = Command::new("chown")
            .args(["-R", &user])
            .arg(c.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let other_user = Variation {
            umask: "027",
            env: vec![
                ("HOME", c.path().join("home").display().to_string()),
                (
                    "MPR_VENDOR_CACHE",
                    c.path().join("vendor-cache").display().to_string(),
                ),
                (
                    "MPR_FILE_CACHE",
                    c.path().join("file-cache").display().to_string(),
                ),
                // git refuses repositories of other users unless told they are safe.
                ("GIT_CONFIG_COUNT", "1".into()),
                ("GIT_CONFIG_KEY_0", "safe.directory".into()),
                ("GIT_CONFIG_VALUE_0", "*".into()),
            ],
            jobs: 2,
            wrap: vec!["runuser".into(), "-u".into(), user, "--".into()],
            mpr: mpr_c,
        };
        let record_c = run_build(&recipe_c, &c.path().join("out"), &other_user);
        assert_eq!(record_a, record_c);
    }

    // The named outputs, explicitly.
    let outputs = &record_a["outputs"];
    for key in ["sha256", "size"] {
        assert!(!outputs["binary"][key].is_null());
    }
    assert!(outputs["image"]["config_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    for pcr in ["pcr0", "pcr1", "pcr2"] {
        assert_eq!(outputs["eif"]["pcrs"][pcr].as_str().unwrap().len(), 96);
    }
    assert_eq!(outputs["cvm"]["snp"].as_array().unwrap().len(), 2);

    // The files themselves are identical too.
    for file in [
        "build-record.json",
        "image/image.tar",
        "eif/hello.eif",
        "eif/customer-initrd.img",
        "cvm/initrd.img",
    ] {
        assert_eq!(
            sha256_file(&out_a.join(file)),
            sha256_file(&out_b.join(file)),
            "{file}"
        );
    }

    // No path of the machine that built it is in the binary (taken from the image's layer).
    let layer = out_a
        .join("image/oci/blobs/sha256")
        .join(outputs["image"]["layer"]["sha256"].as_str().unwrap());
    let work = tempfile::tempdir().unwrap();
    let layer_tree = builder::archive::import_tar(
        std::fs::File::open(layer).unwrap(),
        work.path(),
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    // The [[files]] are in the image, at their place and mode, and listed in the record.
    let served = layer_tree
        .get("params/served.bin")
        .expect("params/served.bin is in the image");
    assert_eq!(served.mode, 0o640);
    let builder::archive::NodeKind::File(served) = &served.kind else {
        panic!("params/served.bin is not a file");
    };
    assert_eq!(served.read().unwrap(), SERVED_PARAMS);
    let placed = record_a["inputs"]["placed_files"].as_array().unwrap();
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[1]["dest"], "params/served.bin");
    assert_eq!(placed[1]["url"], format!("{files_url}/params").as_str());
    assert_eq!(
        record_a["inputs"]["repository"],
        "https://example.invalid/mpr/hello.git"
    );
    let Some(builder::archive::NodeKind::File(builder::archive::FileData::Disk { path, .. })) =
        layer_tree.get("usr/local/bin/hello").map(|node| &node.kind)
    else {
        panic!("the layer has no usr/local/bin/hello file");
    };
    let binary = std::fs::read(path).unwrap();
    let host_paths = [
        "/build/".to_owned(),
        "/root/".to_owned(),
        "cargo-home".to_owned(),
        repo_a.display().to_string(),
        std::env::temp_dir().display().to_string() + "/",
    ];
    for host_path in host_paths {
        let found = binary
            .windows(host_path.len())
            .any(|w| w == host_path.as_bytes());
        assert!(
            !found,
            "the binary contains the build host's path {host_path:?}"
        );
    }

    // `mpr diff` agrees: the two output directories are identical.
    let diff = Command::new(env!("CARGO_BIN_EXE_mpr"))
        .arg("diff")
        .arg(&out_a)
        .arg(&out_b)
        .output()
        .unwrap();
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );

    // The EIF's PCRs as read back from the file equal the record's.
    let described = check(
        Command::new(env!("CARGO_BIN_EXE_mpr"))
            .args(["--json", "eif", "describe"])
            .arg(out_a.join("eif/hello.eif"))
            .output()
            .unwrap(),
        "mpr eif describe",
    );
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(
        described["Measurements"]["PCR0"].as_str().unwrap(),
        outputs["eif"]["pcrs"]["pcr0"].as_str().unwrap()
    );

    // And the image runs: loaded by the build, started with no network.
    let config_digest = outputs["image"]["config_digest"].as_str().unwrap();
    let run = check(
        Command::new("docker")
            .args(["run", "--rm", "--network", "none", config_digest])
            .output()
            .unwrap(),
        "docker run",
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from mpr's fixture: 42 (src/main.rs)\n"
    );
}
