//! The server-rendered pages in a real browser: headless Chromium (Debian's `chromium` package)
//! loads each page from the registry on a loopback port, the tests assert on the DOM that Chromium
//! serialises after the page's scripts ran (`--dump-dom`), and a screenshot of each page is kept
//! under `$CARGO_TARGET_DIR/registry-screenshots/` for people to look at. One test drives Chromium
//! over the DevTools protocol (on a pipe, `--remote-debugging-pipe`) to click copy buttons and read
//! the clipboard back.
//!
//! Chromium is required: without it these tests fail (`apt-get install chromium`), unless
//! `MPR_SKIP_BROWSER=1`. `MPR_CHROMIUM` names another Chromium binary.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{hex32, release, TestRegistry};

/// Per Chromium run: a cold start takes a second or two, a loaded CI machine much longer.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
const WINDOW: (u32, u32) = (1280, 2000);
/// A 1280×2000 screenshot of a page with a little text is about 25 KB; a blank one about 12 KB.
const MIN_SCREENSHOT_BYTES: u64 = 15_000;

// ---------------------------------------------------------------------------------------------
// The pages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_registry_says_no_release_is_recorded() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let registry = TestRegistry::start().await;

    let dom = browser.dom(&registry.url("/")).await;
    let page = Element::document(&dom);
    assert_eq!(page.one("title").text(), "Releases · mpr registry");
    assert_eq!(page.one("h1").text(), "Releases");
    assert!(
        page.one("main")
            .text()
            .contains("No release has been recorded yet."),
        "{dom}"
    );
    assert!(
        page.select("#releases").is_empty(),
        "no releases table when there is no release"
    );
    let nav: Vec<_> = page
        .one("header")
        .select("a")
        .iter()
        .map(|a| a.attr("href").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(nav, ["/", "/", "/keys", "/openapi.json"]);
    browser
        .screenshot(&registry.url("/"), "releases-empty")
        .await;

    let dom = browser.dom(&registry.url("/keys")).await;
    let page = Element::document(&dom);
    assert_eq!(page.one("h1").text(), "Signing keys");
    assert!(
        page.one("main").text().contains("No key is registered."),
        "{dom}"
    );
    assert!(page.select("#keys").is_empty(), "no empty keys table");
    browser
        .screenshot(&registry.url("/keys"), "keys-empty")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_page_shows_its_measurements_signature_status_and_rebuild_agreement() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let registry = TestRegistry::start().await;
    let submission = release("8.1.0", 1);
    let (status, created) = registry.post("/v1/releases", &submission).await;
    assert_eq!(status, 201, "{created}");
    let official = submission["build"]["artifacts"].clone();
    let (status, good) = registry
        .post(
            "/v1/releases/8.1.0/rebuilds",
            &json!({"rebuilder": "alice", "artifacts": official}),
        )
        .await;
    assert_eq!(
        (status, good["status"].as_str()),
        (201, Some("GOOD")),
        "{good}"
    );
    let mut different = official.clone();
    different[0]["sha256"] = json!(hex32(999));
    let (status, bad) = registry
        .post(
            "/v1/releases/8.1.0/rebuilds",
            &json!({"rebuilder": "bob", "artifacts": different, "summary": "proof-server differs"}),
        )
        .await;
    assert_eq!(
        (status, bad["status"].as_str()),
        (201, Some("BAD")),
        "{bad}"
    );

    let url = registry.url("/releases/8.1.0");
    let dom = browser.dom(&url).await;
    let page = Element::document(&dom);
    assert_eq!(page.one("title").text(), "prover 8.1.0 · mpr registry");
    assert_eq!(page.one("h1").text(), "prover 8.1.0");

    // Facts: the commit and recipe digest, copyable.
    let facts = page.one("table.facts");
    let commit = format!("{:040x}", 2);
    assert!(
        facts.text().contains("https://github.com/mpr-dev/mpr"),
        "{}",
        facts.inner
    );
    assert_copyable(&facts, &commit);
    assert_copyable(&facts, &hex32(3));
    assert!(
        facts.text().contains("1700000001"),
        "SOURCE_DATE_EPOCH: {}",
        facts.inner
    );
    let recorded = facts
        .select("tr")
        .into_iter()
        .find(|row| row.one("th").text() == "Recorded")
        .expect("Recorded");
    let recorded = recorded.one("td").text();
    assert!(
        recorded.len() == 23 && recorded.ends_with(" UTC"),
        "a time as in the builds table: {recorded}"
    );

    // Measurements: one set, active; a section per platform; every register value of the
    // submission in a row of its own with a copy button that copies exactly that value.
    let sets: Vec<_> = page
        .select("h3")
        .into_iter()
        .filter(|h3| h3.text().starts_with("Set "))
        .collect();
    assert_eq!(sets.len(), 1, "{dom}");
    assert_eq!(sets[0].one("code").text(), "default");
    let badge = sets[0].one("span.badge");
    assert_eq!(badge.text(), "active");
    assert!(badge.has_class("active"), "{:?}", badge.attrs);

    let sections = page.select("section.platform");
    let platforms: Vec<_> = sections
        .iter()
        .map(|s| s.attr("data-platform").unwrap_or_default())
        .collect();
    assert_eq!(platforms, ["aws-nitro", "sev-snp"]);
    assert!(sections[0]
        .one("h4")
        .text()
        .starts_with("AWS Nitro Enclaves"));
    assert!(sections[1].one("h4").text().starts_with("AMD SEV-SNP"));
    let mut copy_values = 0;
    for section in &sections {
        let platform = section.attr("data-platform").unwrap_or_default();
        let expected: Vec<Value> = submission["measurement_sets"][0]["measurements"]
            .as_array()
            .expect("measurements")
            .iter()
            .filter(|m| m["platform"] == platform)
            .map(|m| m["registers"].clone())
            .collect();
        let shown: Vec<Value> = section
            .select("table.measurement")
            .iter()
            .map(registers_of)
            .collect();
        assert_eq!(shown, expected, "registers on the {platform} tables");
        for registers in &expected {
            for value in registers.as_object().expect("registers").values() {
                assert_copyable(section, value.as_str().expect("hex"));
                copy_values += 1;
            }
        }
    }
    assert_eq!(copy_values, 5, "PCR0, PCR1, PCR2 and two MEASUREMENTs");
    let snp = sections[1].select("table.measurement");
    assert!(
        snp[0].text().contains("vcpus=2") && snp[1].text().contains("vcpus=4"),
        "{}",
        sections[1].inner
    );
    assert!(
        snp[0].text().contains("vmm=qemu"),
        "string parameters without quotes: {}",
        snp[0].inner
    );
    // Commit, recipe, manifest digest and the five registers: nothing else, nothing twice.
    assert_eq!(page.select("button.copy").len(), 8);

    // Signatures: none yet, and the raw manifest link serves the signed bytes.
    let signatures = page.one("#signatures");
    assert!(
        signatures.text().contains("unsigned"),
        "{}",
        signatures.inner
    );
    assert!(
        signatures.text().contains("no verified signature"),
        "{}",
        signatures.inner
    );
    assert!(signatures.one("span.badge").has_class("unsigned"));
    let manifest_sha256 = created["manifest_sha256"]
        .as_str()
        .expect("manifest_sha256");
    assert_copyable(&signatures, manifest_sha256);
    let raw = link(&signatures, "raw manifest");
    assert_eq!(raw, "/v1/releases/8.1.0/manifest");
    let response = registry
        .client
        .get(registry.url(&raw))
        .send()
        .await
        .expect("GET the raw manifest");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response.bytes().await.expect("manifest bytes");
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        manifest_sha256,
        "the page's digest is the raw manifest's"
    );
    let manifest: Value = serde_json::from_slice(&bytes).expect("the raw manifest is JSON");
    assert_eq!(manifest["version"], "8.1.0");
    let (status, listed) = registry.get(&link(&signatures, "signatures")).await;
    assert_eq!((status, listed), (200, json!([])));

    // Builds: the official one and both rebuilders, one of whom disagrees.
    let builds_heading = page
        .select("h2")
        .into_iter()
        .find(|h2| h2.text().starts_with("Builds"))
        .expect("Builds heading");
    assert_eq!(builds_heading.text(), "Builds 1 of 2 rebuilders agree");
    assert!(builds_heading.one("span.badge").has_class("bad"));
    let rows: Vec<(String, String)> = page
        .one("#builds")
        .one("tbody")
        .select("tr")
        .iter()
        .map(|row| {
            let cells = row.select("td");
            (cells[0].text(), cells[1].one("span.badge").text())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("official (release pipeline)".to_owned(), "GOOD".to_owned()),
            ("alice".to_owned(), "GOOD".to_owned()),
            ("bob".to_owned(), "BAD".to_owned())
        ]
    );
    let bob = &page.one("#builds").one("tbody").select("tr")[2];
    assert!(
        bob.text().contains("proof-server differs"),
        "the rebuilder's summary: {}",
        bob.inner
    );
    let artifacts: Vec<String> = bob.select("td")[3]
        .select("div")
        .iter()
        .map(Element::text)
        .collect();
    assert_eq!(
        artifacts,
        [
            format!("image.tar GOOD {}", &hex32(6)[..12]),
            format!("proof-server BAD {}", &hex32(999)[..12])
        ]
    );
    let (status, json) = registry.get(&link(&page, "This release as JSON")).await;
    assert_eq!((status, &json["version"]), (200, &json!("8.1.0")));
    browser.screenshot(&url, "release").await;

    // The list agrees with the page.
    let dom = browser.dom(&registry.url("/")).await;
    let row = Element::document(&dom)
        .one("#releases")
        .one("tbody")
        .one("tr");
    assert!(
        row.text().contains("1 of 2 rebuilders agree") && row.text().contains("unsigned"),
        "{}",
        row.inner
    );

    // Deprecating the set shows on the page at once (the cache is invalidated).
    let (status, changed) = registry
        .post(
            "/v1/releases/8.1.0/measurement-sets/default/status",
            &json!({"status": "deprecated"}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let dom = browser.dom(&url).await;
    let page = Element::document(&dom);
    let set = page
        .select("h3")
        .into_iter()
        .find(|h3| h3.text().starts_with("Set "))
        .expect("the set");
    let badge = set.one("span.badge");
    assert_eq!(badge.text(), "deprecated");
    assert!(
        badge.has_class("deprecated") && !badge.has_class("active"),
        "{:?}",
        badge.attrs
    );
    assert_eq!(
        page.select("section.platform").len(),
        2,
        "a deprecated set is still shown, for audit"
    );
    browser.screenshot(&url, "release-deprecated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_releases_list_is_newest_first_and_pages_to_older_releases() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let registry = TestRegistry::start().await;
    for (seed, version) in ["1.0.0", "1.1.0", "2.0.0"].into_iter().enumerate() {
        let (status, created) = registry
            .post("/v1/releases", &release(version, seed as u64 * 100))
            .await;
        assert_eq!(status, 201, "{created}");
    }

    let dom = browser.dom(&registry.url("/")).await;
    let page = Element::document(&dom);
    assert_eq!(versions(&page), ["2.0.0", "1.1.0", "1.0.0"]);
    assert!(older_link(&page).is_none(), "one page holds all three");
    let rows = page.one("#releases").one("tbody").select("tr");
    let first: Vec<String> = rows[0].select("td").iter().map(Element::text).collect();
    assert_eq!(
        first[..3],
        [
            "2.0.0".to_owned(),
            "prover".to_owned(),
            format!("{:040x}", 201)[..12].to_owned()
        ]
    );
    assert_eq!(first[4], "0 of 0 rebuilders agree");
    assert_eq!(first[5], "unsigned");
    browser.screenshot(&registry.url("/"), "releases").await;

    let dom = browser.dom(&registry.url("/?limit=2")).await;
    let page = Element::document(&dom);
    assert_eq!(versions(&page), ["2.0.0", "1.1.0"]);
    let older = older_link(&page).expect("an Older releases link");
    assert!(older.starts_with("/?"), "{older}");
    assert!(
        older.contains("limit=2"),
        "the next page keeps the page size: {older}"
    );
    browser
        .screenshot(&registry.url("/?limit=2"), "releases-page-1")
        .await;

    let dom = browser.dom(&registry.url(&older)).await;
    let page = Element::document(&dom);
    assert_eq!(versions(&page), ["1.0.0"]);
    assert!(
        older_link(&page).is_none(),
        "the last page has no older link"
    );
    browser
        .screenshot(&registry.url(&older), "releases-page-2")
        .await;

    // The version links lead to the release pages.
    let dom = browser.dom(&registry.url(&link(&page, "1.0.0"))).await;
    assert_eq!(Element::document(&dom).one("h1").text(), "prover 1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_pages_that_say_what_is_wrong() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let registry = TestRegistry::start().await;

    let url = registry.url("/releases/9.9.9");
    let response = registry.client.get(&url).send().await.expect("GET");
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/html"));
    let dom = browser.dom(&url).await;
    let page = Element::document(&dom);
    assert_eq!(page.one("title").text(), "Error · mpr registry");
    assert_eq!(page.one("h1").text(), "404 Not Found");
    let error = page.one("#error");
    assert!(error.text().contains("9.9.9"), "{}", error.inner);
    assert_eq!(link(&page, "All releases"), "/");
    browser.screenshot(&url, "error-404").await;

    // What the visitor typed is shown as text, never as markup.
    let dom = browser
        .dom(&registry.url("/releases/%3Cb%3Ebold%3C%2Fb%3E"))
        .await;
    let error = Element::document(&dom).one("#error");
    assert!(error.text().contains("<b>bold</b>"), "{}", error.inner);
    assert!(error.select("b").is_empty(), "{}", error.inner);

    let response = registry
        .client
        .get(registry.url("/?limit=0"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 422);
    let dom = browser.dom(&registry.url("/?limit=0")).await;
    let page = Element::document(&dom);
    assert_eq!(page.one("h1").text(), "422 Unprocessable Entity");
    assert!(
        page.one("#error")
            .text()
            .contains("limit must be from 1 to 100"),
        "{dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_release_shows_its_signer_and_the_keys_page_lists_the_key() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let registry = TestRegistry::start().await;
    let (status, created) = registry.post("/v1/releases", &release("3.0.0", 7)).await;
    assert_eq!(status, 201, "{created}");
    let signer = Signer::generate("Release Signer <release@mpr.example>");
    let response = registry
        .client
        .post(registry.url("/v1/keys"))
        .bearer_auth(&registry.token)
        .body(signer.armored_public_key())
        .send()
        .await
        .expect("POST key");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let manifest = registry
        .client
        .get(registry.url("/v1/releases/3.0.0/manifest"))
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("bytes");
    let response = registry
        .client
        .post(registry.url("/v1/releases/3.0.0/manifest/signatures"))
        .bearer_auth(&registry.token)
        .body(signer.sign(&manifest))
        .send()
        .await
        .expect("POST signature");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);

    let url = registry.url("/releases/3.0.0");
    let dom = browser.dom(&url).await;
    let signatures = Element::document(&dom).one("#signatures");
    let text = signatures.text();
    assert!(
        text.contains(&format!("verified Signed by {}", signer.fingerprint)),
        "{text}"
    );
    assert!(
        text.contains("(Release Signer <release@mpr.example>)"),
        "{text}"
    );
    assert!(!text.contains("unsigned"), "{text}");
    assert!(text.contains(" UTC "), "the signing time: {text}");
    browser.screenshot(&url, "release-signed").await;

    let dom = browser.dom(&registry.url("/")).await;
    let row = Element::document(&dom)
        .one("#releases")
        .one("tbody")
        .one("tr");
    assert_eq!(row.select("td")[5].text(), "verified 1");

    let dom = browser.dom(&registry.url("/keys")).await;
    let rows = Element::document(&dom)
        .one("#keys")
        .one("tbody")
        .select("tr");
    assert_eq!(rows.len(), 1);
    let cells: Vec<String> = rows[0].select("td").iter().map(Element::text).collect();
    assert_eq!(
        cells,
        [
            signer.fingerprint.clone(),
            "Release Signer <release@mpr.example>".to_owned(),
            "EdDSA".to_owned(),
            "active".to_owned()
        ]
    );
    let key_link = rows[0].one("a").attr("href").unwrap_or_default().to_owned();
    assert_eq!(key_link, format!("/v1/keys/{}", signer.fingerprint));
    let key = registry
        .client
        .get(registry.url(&key_link))
        .send()
        .await
        .expect("GET key");
    assert_eq!(key.status(), 200);
    assert!(key
        .text()
        .await
        .unwrap_or_default()
        .contains("BEGIN PGP PUBLIC KEY BLOCK"));
    browser.screenshot(&registry.url("/keys"), "keys").await;
}

/// The copy buttons in a browser: a real mouse click (a user gesture, as the clipboard API needs)
/// puts the button's value on the clipboard and the button says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_buttons_put_the_value_on_the_clipboard() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let registry = TestRegistry::start().await;
    let submission = release("8.2.0", 40);
    let (status, created) = registry.post("/v1/releases", &submission).await;
    assert_eq!(status, 201, "{created}");
    let measurements = &submission["measurement_sets"][0]["measurements"];
    let values = [
        measurements[0]["registers"]["PCR0"]
            .as_str()
            .expect("PCR0")
            .to_owned(),
        measurements[2]["registers"]["MEASUREMENT"]
            .as_str()
            .expect("MEASUREMENT")
            .to_owned(),
    ];
    let origin = registry.base.clone();
    let url = registry.url("/releases/8.2.0");
    browser
        .devtools("clicking copy buttons", move |cdp| {
            let session = cdp.open(&origin, &url);
            for value in &values {
                let button = format!("document.querySelector('button.copy[data-copy=\"{value}\"]')");
                let centre = cdp.evaluate(
                    &session,
                    &format!("(() => {{ const b = {button}; b.scrollIntoView({{block: 'center'}}); const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"),
                );
                let (x, y) = (centre[0].as_f64().expect("x"), centre[1].as_f64().expect("y"));
                for kind in ["mousePressed", "mouseReleased"] {
                    cdp.call(Some(&session), "Input.dispatchMouseEvent", json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}));
                }
                let label = cdp.wait_for(&session, &format!("{button}.textContent"), |label| label == "copied");
                assert_eq!(label, "copied", "the button acknowledges the copy");
                let clipboard = cdp.evaluate(&session, "navigator.clipboard.readText()");
                assert_eq!(clipboard, json!(value), "the clipboard holds the button's value");
                let label = cdp.wait_for(&session, &format!("{button}.textContent"), |label| label == "copy");
                assert_eq!(label, "copy", "the button goes back to its label");
            }
        })
        .await;
}

fn versions(page: &Element) -> Vec<String> {
    page.one("#releases")
        .one("tbody")
        .select("tr")
        .iter()
        .map(|row| row.one("a").text())
        .collect()
}

fn older_link(page: &Element) -> Option<String> {
    let links: Vec<_> = page
        .select("a")
        .into_iter()
        .filter(|a| a.text().starts_with("Older releases"))
        .collect();
    assert!(links.len() <= 1, "one Older releases link at most");
    links
        .first()
        .map(|a| a.attr("href").expect("href").to_owned())
}

/// The href of the one link in `within` whose text is `text`.
fn link(within: &Element, text: &str) -> String {
    let links: Vec<_> = within
        .select("a")
        .into_iter()
        .filter(|a| a.text() == text)
        .collect();
    assert_eq!(links.len(), 1, "one link {text:?} in {}", within.inner);
    links[0].attr("href").expect("href").to_owned()
}

/// `value` is shown in `within` next to a copy button that copies exactly it.
fn assert_copyable(within: &Element, value: &str) {
    let buttons: Vec<_> = within
        .select("button.copy")
        .into_iter()
        .filter(|b| b.attr("data-copy") == Some(value))
        .collect();
    assert_eq!(
        buttons.len(),
        1,
        "one copy button for {value} in {}",
        within.inner
    );
    assert_eq!(buttons[0].text(), "copy");
    assert_eq!(buttons[0].attr("type"), Some("button"));
    let shown: Vec<_> = within
        .select("span.hex")
        .into_iter()
        .filter(|s| s.text() == value)
        .collect();
    assert_eq!(shown.len(), 1, "{value} shown once in {}", within.inner);
}

/// A measurement table's registers as `{"PCR0": value, ...}`, checking that each row's shown
/// value and its copy button's value are the same.
fn registers_of(table: &Element) -> Value {
    let mut registers = serde_json::Map::new();
    for row in table.select("tr") {
        let name = row.one("th").text();
        if name == "Parameters" {
            continue;
        }
        let cell = row.one("td");
        let shown = cell.one("span.hex").text();
        assert_eq!(
            cell.one("button.copy").attr("data-copy"),
            Some(shown.as_str()),
            "row {name}"
        );
        registers.insert(name, Value::String(shown));
    }
    Value::Object(registers)
}

// ---------------------------------------------------------------------------------------------
// Chromium

struct Browser {
    program: PathBuf,
    /// A fresh profile per run, deleted with the test.
    profiles: tempfile::TempDir,
    runs: AtomicU32,
}

impl Browser {
    /// Chromium, or `None` (after a note) when MPR_SKIP_BROWSER=1; panics when it is missing.
    fn find() -> Option<Browser> {
        if std::env::var("MPR_SKIP_BROWSER").is_ok_and(|skip| skip == "1") {
            eprintln!("note: MPR_SKIP_BROWSER=1: the pages are not tested in a browser");
            return None;
        }
        let program = match std::env::var_os("MPR_CHROMIUM") {
            Some(program) => PathBuf::from(program),
            None => ["chromium", "chromium-browser"].into_iter().find_map(on_path).unwrap_or_else(|| {
                panic!(
                    "Chromium is not installed, and the pages are tested in it: `apt-get install chromium` \
                     (or set MPR_CHROMIUM to a Chromium binary, or MPR_SKIP_BROWSER=1 to skip these tests)"
                )
            }),
        };
        let profiles = tempfile::Builder::new()
            .prefix("mpr-chromium-")
            .tempdir()
            .expect("temp dir for Chromium profiles");
        Some(Browser {
            program,
            profiles,
            runs: AtomicU32::new(0),
        })
    }

    fn command(&self) -> tokio::process::Command {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let profile = self.profiles.path().join(format!("profile-{run}"));
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("--headless=new")
            // Chromium's sandbox cannot start as root (CI containers) nor without user namespaces;
            // the pages come from the test's own server on a loopback port.
            .arg("--no-sandbox")
            .args([
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
            ])
            .args([
                "--disable-background-networking",
                "--disable-extensions",
                "--disable-component-update",
            ])
            .args([
                "--hide-scrollbars",
                "--mute-audio",
                "--force-device-scale-factor=1",
            ])
            .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so that a timeout ends the renderers too.
            .process_group(0);
        command
    }

    /// Runs Chromium to completion and returns its output; panics when it fails or hangs.
    async fn run(&self, what: &str, args: &[String]) -> Output {
        let mut command = self.command();
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("starting {} for {what}: {error}", self.program.display())
        });
        let group = ProcessGroup::of(&child);
        let started = Instant::now();
        let output = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("Chromium did not finish {what} within {BROWSER_TIMEOUT:?}"))
            .unwrap_or_else(|error| panic!("waiting for Chromium ({what}): {error}"));
        group.exited();
        assert!(
            output.status.success(),
            "Chromium failed {what} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "chromium: {what} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        output
    }

    /// The page's DOM as Chromium serialises it once the page has loaded and its scripts ran.
    async fn dom(&self, url: &str) -> String {
        let output = self
            .run(
                &format!("dumping the DOM of {url}"),
                &["--dump-dom".to_owned(), url.to_owned()],
            )
            .await;
        let dom = String::from_utf8(output.stdout).expect("the DOM is UTF-8");
        assert!(
            dom.contains("<main>"),
            "Chromium dumped no page for {url}: {dom}"
        );
        dom
    }

    /// Saves a screenshot of the page as `<name>.png` and checks it is a real picture of the window.
    async fn screenshot(&self, url: &str, name: &str) -> PathBuf {
        let directory = screenshot_dir();
        std::fs::create_dir_all(&directory)
            .unwrap_or_else(|error| panic!("creating {}: {error}", directory.display()));
        let path = directory.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        self.run(
            &format!("taking a screenshot of {url}"),
            &[format!("--screenshot={}", path.display()), url.to_owned()],
        )
        .await;
        let png = std::fs::read(&path).unwrap_or_else(|error| {
            panic!("Chromium wrote no screenshot {}: {error}", path.display())
        });
        assert_eq!(
            png_size(&png),
            Some(WINDOW),
            "{} is a PNG of the window",
            path.display()
        );
        assert!(
            png.len() as u64 > MIN_SCREENSHOT_BYTES,
            "{} has only {} bytes: a blank page?",
            path.display(),
            png.len()
        );
        eprintln!("screenshot: {} ({} KB)", path.display(), png.len() / 1024);
        path
    }

    /// Runs `session` against a Chromium driven over the DevTools protocol on a pipe (fd 3 to
    /// Chromium, fd 4 from it), then closes the browser.
    async fn devtools(&self, what: &str, session: impl FnOnce(&mut Devtools) + Send + 'static) {
        let (to_browser_read, to_browser_write) = pipe();
        let (from_browser_read, from_browser_write) = pipe();
        let (child_in, child_out) = (to_browser_read.as_raw_fd(), from_browser_write.as_raw_fd());
        let log_path = self.profiles.path().join(format!(
            "devtools-{}.log",
            self.runs.load(Ordering::Relaxed)
        ));
        let log_file = std::fs::File::create(&log_path).expect("Chromium's log file");
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut command = self.command();
        command
            .args(["--remote-debugging-pipe", "about:blank"])
            .stdout(Stdio::null())
            .stderr(log_file);
        // SAFETY: between fork and exec, only async-signal-safe calls on the child's own
        // descriptors. The pipe ends are first copied above 9 so that moving one to 3 cannot
        // overwrite the other; the copies on 3 and 4 are the only ones without close-on-exec.
        unsafe {
            command.pre_exec(move || {
                let to_browser = libc::fcntl(child_in, libc::F_DUPFD_CLOEXEC, 10);
                let from_browser = libc::fcntl(child_out, libc::F_DUPFD_CLOEXEC, 10);
                if to_browser == -1
                    || from_browser == -1
                    || libc::dup2(to_browser, 3) == -1
                    || libc::dup2(from_browser, 4) == -1
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap_or_else(|error| {
            panic!("starting {} for {what}: {error}", self.program.display())
        });
        let group = ProcessGroup::of(&child);
        drop((to_browser_read, from_browser_write));
        let started = Instant::now();
        let mut devtools = Devtools {
            to: std::fs::File::from(to_browser_write),
            from: BufReader::new(std::fs::File::from(from_browser_read)),
            next_id: 0,
        };
        let conversation = tokio::task::spawn_blocking(move || {
            session(&mut devtools);
            // Chromium may close the pipe before it answers.
            devtools.send(None, "Browser.close", json!({}));
        });
        match tokio::time::timeout(BROWSER_TIMEOUT, conversation).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("Chromium's output:\n{}", log());
                std::panic::resume_unwind(error.into_panic())
            }
            Err(_) => panic!(
                "Chromium did not finish {what} within {BROWSER_TIMEOUT:?}: {}",
                log()
            ),
        }
        let status = tokio::time::timeout(BROWSER_TIMEOUT, child.wait())
            .await
            .unwrap_or_else(|_| panic!("Chromium did not close after {what}"))
            .expect("wait for Chromium");
        group.exited();
        assert!(
            status.success(),
            "Chromium failed {what}: {status}: {}",
            log()
        );
        eprintln!(
            "chromium: {what} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|directory| directory.join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// `$CARGO_TARGET_DIR/registry-screenshots`, or next to the test binary's `target/<profile>/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("test binary path");
            // target/debug/deps/web_pages-<hash>
            exe.ancestors()
                .nth(3)
                .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        });
    target.join("registry-screenshots")
}

/// Width and height from a PNG's IHDR chunk, when `png` starts like a PNG.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let rest = png.strip_prefix(SIGNATURE)?;
    // The first chunk: length 13, type IHDR, width, height (big-endian), ...
    if rest.get(..8)? != b"\0\0\0\x0dIHDR" {
        return None;
    }
    let number = |at: usize| Some(u32::from_be_bytes(rest.get(at..at + 4)?.try_into().ok()?));
    Some((number(8)?, number(12)?))
}

/// A child's process group (its id is the child's), killed unless the child exited normally.
struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    fn of(child: &tokio::process::Child) -> ProcessGroup {
        ProcessGroup(child.id().and_then(|id| i32::try_from(id).ok()))
    }

    fn exited(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // SAFETY: a signal to the process group this test started; no memory is involved.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array, which we then own.
    let result = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(result, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The Chrome DevTools protocol over `--remote-debugging-pipe`: JSON messages ended by NUL.
/// Blocking; run on a blocking thread.
struct Devtools {
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next_id: u64,
}

impl Devtools {
    /// Sends a command (to the page `session`, or to the browser) and returns its result;
    /// events in between are ignored.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.send(session, method, params);
        loop {
            let mut reply = Vec::new();
            let read = self
                .from
                .read_until(0, &mut reply)
                .unwrap_or_else(|error| panic!("reading from Chromium: {error}"));
            assert!(
                read > 0 && reply.pop() == Some(0),
                "Chromium closed the DevTools pipe while {method} was pending"
            );
            let reply: Value = serde_json::from_slice(&reply).expect("DevTools message is JSON");
            if reply["id"] == id {
                assert!(
                    reply.get("error").is_none(),
                    "{method} failed: {}",
                    reply["error"]
                );
                return reply["result"].clone();
            }
        }
    }

    /// Sends a command without waiting for its result; returns its id.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .unwrap_or_else(|error| panic!("sending {method} to Chromium: {error}"));
        self.next_id
    }

    /// Opens `url` in a new page with clipboard access for `origin`, waits until it has loaded
    /// and returns the page's session.
    fn open(&mut self, origin: &str, url: &str) -> String {
        let page = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": page["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        self.call(
            None,
            "Browser.grantPermissions",
            json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        );
        // A headless page never has the focus that the clipboard API wants.
        self.call(
            Some(&session),
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        let navigated = self.call(Some(&session), "Page.navigate", json!({"url": url}));
        assert!(
            navigated.get("errorText").is_none(),
            "loading {url}: {navigated}"
        );
        self.wait_for(&session, "document.readyState", |state| state == "complete");
        session
    }

    /// The value of a JavaScript expression in the page, awaited when it is a promise.
    fn evaluate(&mut self, session: &str, expression: &str) -> Value {
        let result = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it gives a string that `done` accepts (or 10 s pass) and
    /// returns the last value.
    fn wait_for(&mut self, session: &str, expression: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.evaluate(session, expression);
            let value = value.as_str().unwrap_or_default().to_owned();
            if done(&value) || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading Chromium's serialised DOM

/// An element in the HTML that Chromium serialises: lower-case names, attribute values in
/// double quotes with `&`, `"`, `<`, `>` escaped, text with `&`, `<`, `>` escaped. Just enough of
/// a parser to find elements by tag, id, class and attribute and read their text.
#[derive(Debug, Clone)]
struct Element<'a> {
    tag: String,
    attrs: Vec<(String, String)>,
    /// The markup between the start and the end tag.
    inner: &'a str,
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];
const RAW_TEXT: &[&str] = &["script", "style"];

impl<'a> Element<'a> {
    fn document(html: &'a str) -> Element<'a> {
        Element {
            tag: "#document".to_owned(),
            attrs: Vec::new(),
            inner: html,
        }
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|classes| classes.split_ascii_whitespace().any(|c| c == class))
    }

    /// Every element inside this one, in document order, that matches a simple selector:
    /// `tag`, `#id`, `.class`, `[attr]`, `[attr=value]`, combined as in `section.platform[data-platform=x]`.
    fn select(&self, selector: &str) -> Vec<Element<'a>> {
        let selector = Selector::parse(selector);
        descendants(self.inner)
            .into_iter()
            .filter(|element| selector.matches(element))
            .collect()
    }

    /// The one element inside this one that matches; panics when there is none or more.
    fn one(&self, selector: &str) -> Element<'a> {
        let mut found = self.select(selector);
        assert_eq!(
            found.len(),
            1,
            "expected one {selector} in <{}>: {}",
            self.tag,
            self.inner
        );
        found.remove(0)
    }

    /// The text content, with white space collapsed as a reader sees it.
    fn text(&self) -> String {
        let mut text = String::new();
        let mut rest = self.inner;
        while let Some(start) = rest.find('<') {
            text.push_str(&rest[..start]);
            // Elements separate words, as they do on screen (near enough for these pages).
            text.push(' ');
            rest = &rest[start..];
            let end = rest.find('>').map_or(rest.len(), |end| end + 1);
            let opening = !rest[1..].starts_with('/');
            let tag = tag_name(&rest[1..]);
            rest = &rest[end..];
            if opening && RAW_TEXT.contains(&tag) {
                rest = &rest[end_tag(rest, tag).map_or(rest.len(), |(_, after)| after)..];
            }
        }
        text.push_str(rest);
        decode(&text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

struct Selector {
    tag: Option<String>,
    id: Option<String>,
    classes: Vec<String>,
    attrs: Vec<(String, Option<String>)>,
}

impl Selector {
    fn parse(selector: &str) -> Selector {
        let mut parsed = Selector {
            tag: None,
            id: None,
            classes: Vec::new(),
            attrs: Vec::new(),
        };
        let name_end = selector.find(['#', '.', '[']).unwrap_or(selector.len());
        if name_end > 0 {
            parsed.tag = Some(selector[..name_end].to_owned());
        }
        let mut rest = &selector[name_end..];
        while !rest.is_empty() {
            if let Some(attr) = rest.strip_prefix('[') {
                let end = attr
                    .find(']')
                    .unwrap_or_else(|| panic!("unclosed [ in {selector}"));
                let (name, value) = match attr[..end].split_once('=') {
                    Some((name, value)) => (name, Some(value.trim_matches('"').to_owned())),
                    None => (&attr[..end], None),
                };
                parsed.attrs.push((name.to_owned(), value));
                rest = &attr[end + 1..];
            } else {
                let end = rest[1..]
                    .find(['#', '.', '['])
                    .map_or(rest.len(), |end| end + 1);
                let name = rest[1..end].to_owned();
                if rest.starts_with('#') {
                    parsed.id = Some(name);
                } else {
                    parsed.classes.push(name);
                }
                rest = &rest[end..];
            }
        }
        parsed
    }

    fn matches(&self, element: &Element) -> bool {
        self.tag.as_ref().is_none_or(|tag| *tag == element.tag)
            && self
                .id
                .as_ref()
                .is_none_or(|id| element.attr("id") == Some(id))
            && self.classes.iter().all(|class| element.has_class(class))
            && self.attrs.iter().all(|(name, value)| match value {
                Some(value) => element.attr(name) == Some(value),
                None => element.attr(name).is_some(),
            })
    }
}

/// All elements in `html`, nested ones included, in document order.
fn descendants(html: &str) -> Vec<Element<'_>> {
    let mut elements = Vec::new();
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset;
        let rest = &html[start + 1..];
        if rest.starts_with("!--") {
            at = start + rest.find("-->").map_or(rest.len(), |end| end + 4);
            continue;
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            at = start + 1;
            continue;
        }
        let (tag, attrs, after) = start_tag(html, start + 1);
        let inner = if VOID.contains(&tag.as_str()) {
            ""
        } else {
            let end = end_tag(&html[after..], &tag).map_or(html.len(), |(end, _)| after + end);
            &html[after..end]
        };
        // The text of scripts and styles is no markup.
        at = if RAW_TEXT.contains(&tag.as_str()) {
            after + inner.len()
        } else {
            after
        };
        elements.push(Element { tag, attrs, inner });
    }
    elements
}

fn tag_name(markup: &str) -> &str {
    let markup = markup.strip_prefix('/').unwrap_or(markup);
    &markup[..markup
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(markup.len())]
}

/// The start tag whose name begins at `at`: its name, attributes and where its content begins.
fn start_tag(html: &str, at: usize) -> (String, Vec<(String, String)>, usize) {
    let tag = tag_name(&html[at..]).to_ascii_lowercase();
    let mut at = at + tag.len();
    let mut attrs = Vec::new();
    let bytes = html.as_bytes();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        match bytes.get(at) {
            None => return (tag, attrs, at),
            Some(b'>') => return (tag, attrs, at + 1),
            Some(b'/') => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let name_end = html[at..]
            .find(|c: char| c.is_ascii_whitespace() || "=>/".contains(c))
            .map_or(html.len(), |end| at + end);
        let name = html[at..name_end].to_ascii_lowercase();
        at = name_end;
        let mut value = String::new();
        if bytes.get(at) == Some(&b'=') {
            at += 1;
            let quote = bytes.get(at).copied().filter(|q| *q == b'"' || *q == b'\'');
            let value_end = match quote {
                Some(quote) => {
                    at += 1;
                    html[at..]
                        .find(quote as char)
                        .map_or(html.len(), |end| at + end)
                }
                None => html[at..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .map_or(html.len(), |end| at + end),
            };
            value = decode(&html[at..value_end]);
            at = value_end + usize::from(quote.is_some());
        }
        attrs.push((name, value));
    }
}

/// Where the end tag that closes an open `tag` starts in `html` (the markup after the start tag)
/// and where it ends, counting nested elements of the same name.
fn end_tag(html: &str, tag: &str) -> Option<(usize, usize)> {
    let mut depth = 1;
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset;
        let rest = &html[start + 1..];
        let closing = rest.starts_with('/');
        let name = tag_name(rest);
        let after = start + rest.find('>').map_or(rest.len(), |end| end + 2);
        if name.eq_ignore_ascii_case(tag) {
            if closing {
                depth -= 1;
                if depth == 0 {
                    return Some((start, after));
                }
            } else if !RAW_TEXT.contains(&tag) {
                depth += 1;
            }
            at = after;
        } else if !closing && RAW_TEXT.contains(&name) {
            at = after + end_tag(&html[after..], name).map_or(html.len() - after, |(_, end)| end);
        } else {
            at = start + 1;
        }
    }
    None
}

fn decode(text: &str) -> String {
    text.replace("&nbsp;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn the_dom_reader_reads_chromiums_serialisation() {
    let html = r#"<html><head><style>p > a { }</style></head><body><div id="a" class="x y"><p>one &amp; <b>two</b></p><div class="x" data-v="&quot;q&amp;&lt;">inner</div><br><script>if (1 < 2) {}</script></div><p>three</p></body></html>"#;
    let page = Element::document(html);
    let outer = page.one("#a");
    assert_eq!(outer.tag, "div");
    assert!(outer.has_class("y"));
    assert_eq!(outer.text(), "one & two inner");
    assert_eq!(page.select("div.x").len(), 2);
    assert_eq!(page.one("div[data-v]").attr("data-v"), Some("\"q&<"));
    assert_eq!(page.one("div.x[data-v]").text(), "inner");
    assert_eq!(page.select("div[data-v=q]").len(), 0);
    assert_eq!(
        page.select("p")
            .iter()
            .map(Element::text)
            .collect::<Vec<_>>(),
        ["one & two", "three"]
    );
    assert_eq!(
        page.one("body").select("a").len(),
        0,
        "no elements in styles or scripts"
    );
    assert_eq!(
        png_size(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x05\0\0\0\x07\xd0"),
        Some((1280, 2000))
    );
    assert_eq!(png_size(b"GIF89a"), None);
}

// ---------------------------------------------------------------------------------------------
// Signing a manifest as a publisher would, with a key made for the test

struct Signer {
    cert: sequoia_openpgp::Cert,
    fingerprint: String,
}

impl Signer {
    fn generate(user_id: &str) -> Signer {
        use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
        let (cert, _revocation) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_userid(user_id)
            .add_signing_subkey()
            .generate()
            .expect("generate an Ed25519 key");
        let fingerprint = cert.fingerprint().to_hex();
        Signer { cert, fingerprint }
    }

    fn armored_public_key(&self) -> Vec<u8> {
        use sequoia_openpgp::serialize::SerializeInto;
        self.cert.armored().to_vec().expect("armor the public key")
    }

    /// An ASCII-armored detached signature of `data`, as `gpg --armor --detach-sign` makes.
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        use sequoia_openpgp::serialize::stream::{Armorer, Message, Signer as StreamSigner};
        let policy = sequoia_openpgp::policy::StandardPolicy::new();
        let key = self
            .cert
            .keys()
            .with_policy(&policy, None)
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .secret()
            .next()
            .expect("a signing subkey");
        let keypair = key.key().clone().into_keypair().expect("key pair");
        let mut signature = Vec::new();
        let message = Message::new(&mut signature);
        let message = Armorer::new(message)
            .kind(sequoia_openpgp::armor::Kind::Signature)
            .build()
            .expect("armorer");
        let mut signer = StreamSigner::new(message, keypair)
            .expect("signer")
            .detached()
            .build()
            .expect("signer");
        signer.write_all(data).expect("sign");
        signer.finalize().expect("finish the signature");
        signature
    }
}
