//! The server-rendered pages in a real browser: headless Chromium (Debian's `chromium` package)
//! loads each page from the registry on a loopback port, the tests assert on the DOM that Chromium
//! serialises after the page's scripts ran (`--dump-dom`), and a screenshot of each page is kept
//! under `$CARGO_TARGET_DIR/registry-screenshots/` for people to look at. One test drives Chromium
//! over the DevTools protocol (on a pipe, `--remote-debugging-pipe`) to click copy buttons and read
//! the clipboard back.
//!
//! Chromium is required: without it these tests fail (`apt-get install chromium`), unless
//! `MPR_SKIP_BROWSER=1`. `MPR_CHROMIUM` names another Chromium binary.

mod browser;
mod support;

use browser::{
    assert_copyable, link, older_link, png_size, registers_of, versions, Browser, Element, Signer,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{hex32, release, TestRegistry};

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
    let (status, created) = registry.publish(&submission).await;
    assert_eq!(status, 201, "{created}");
    let official = submission["build"]["artifacts"].clone();
    let alice = support::signer::Signer::generate("alice <alice@mpr.example>");
    let bob = support::signer::Signer::generate("bob <bob@mpr.example>");
    registry.register_rebuilder(&alice).await;
    registry.register_rebuilder(&bob).await;
    let (status, good) = registry
        .report_rebuild(
            &alice,
            "8.1.0",
            &json!({"release": "8.1.0", "artifacts": official}),
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
        .report_rebuild(
            &bob,
            "8.1.0",
            &json!({"release": "8.1.0", "artifacts": different, "summary": "proof-server differs"}),
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
    // The release statement entered the transparency log with the release: the first entry.
    assert_eq!(
        page.one("#log-index").text(),
        "transparency log index 0",
        "the page names the release statement's log index"
    );

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

    // Signatures: the one the release was recorded with, and the raw manifest link serves the
    // signed bytes.
    let signatures = page.one("#signatures");
    let recorded_with = registry.release_key().await.fingerprint();
    assert!(
        signatures
            .text()
            .contains(&format!("verified Signed by {recorded_with}")),
        "{}",
        signatures.inner
    );
    assert!(signatures.one("span.badge").has_class("verified"));
    let manifest_sha256 = created["manifest_sha256"]
        .as_str()
        .expect("manifest_sha256");
    assert_copyable(&signatures, manifest_sha256);
    let raw = link(&signatures, "release statement");
    assert_eq!(raw, "/v1/releases/8.1.0/statement");
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
    assert_eq!(manifest["predicate"]["version"], "8.1.0");
    let (status, listed) = registry.get(&link(&signatures, "signatures")).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed[0]["key_fingerprint"],
        recorded_with.as_str(),
        "{listed}"
    );
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

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
            ("alice <alice@mpr.example>".to_owned(), "GOOD".to_owned()),
            ("bob <bob@mpr.example>".to_owned(), "BAD".to_owned())
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
        row.text().contains("1 of 2 rebuilders agree") && row.text().contains("verified 1"),
        "{}",
        row.inner
    );

    // Deprecating the set with a signed statement shows on the page at once (the cache is
    // invalidated), with the status history naming the signer.
    let signer = Signer::generate("Release Signer <release@mpr.example>");
    let (status, key) = registry.register_key(signer.armored_public_key()).await;
    assert_eq!(status, 201, "{key}");
    let deprecation = registry_api::statement::set_status_statement(
        "8.1.0",
        manifest_sha256,
        "default",
        1,
        verifier::statement::SetStatus::Deprecated,
        "firmware advisory",
    )
    .to_bytes();
    let signature = String::from_utf8(signer.sign(&deprecation)).expect("armored");
    let (status, changed) = registry
        .post(
            "/v1/statements",
            &json!({"statement": String::from_utf8(deprecation.clone()).expect("UTF-8"), "signatures": [signature]}),
        )
        .await;
    assert_eq!(status, 201, "{changed}");
    let dom = browser.dom(&url).await;
    let page = Element::document(&dom);
    let history = page.one("#status-history");
    let text = history.text();
    assert!(
        text.contains("firmware advisory")
            && text.contains("deprecated")
            && text.contains(&signer.fingerprint)
            && text.contains("Release Signer <release@mpr.example>"),
        "{text}"
    );
    let deprecation_sha256 = hex::encode(Sha256::digest(&deprecation));
    assert_eq!(
        link(&history, &deprecation_sha256[..12]),
        format!("/v1/statements/{deprecation_sha256}")
    );
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
        let (status, created) = registry.publish(&release(version, seed as u64 * 100)).await;
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
    assert_eq!(first[5], "verified 1", "recorded signed");
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
    let (status, created) = registry.publish(&release("3.0.0", 7)).await;
    assert_eq!(status, 201, "{created}");
    let signer = Signer::generate("Release Signer <release@mpr.example>");
    let response = registry
        .client
        .post(registry.url("/v1/keys"))
        .bearer_auth(&registry.admin_token)
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
    assert_eq!(
        row.select("td")[5].text(),
        "verified 2",
        "the recording key's and this one"
    );

    let dom = browser.dom(&registry.url("/keys")).await;
    let rows = Element::document(&dom)
        .one("#keys")
        .one("tbody")
        .select("tr");
    assert_eq!(rows.len(), 2, "the recording key and this one");
    let row = rows
        .iter()
        .find(|row| row.select("td")[0].text() == signer.fingerprint)
        .expect("the key is listed");
    let cells: Vec<String> = row.select("td").iter().map(Element::text).collect();
    assert_eq!(
        cells,
        [
            signer.fingerprint.clone(),
            "Release Signer <release@mpr.example>".to_owned(),
            "EdDSA".to_owned(),
            "active".to_owned()
        ]
    );
    let key_link = row.one("a").attr("href").unwrap_or_default().to_owned();
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
    let (status, created) = registry.publish(&submission).await;
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

// ---------------------------------------------------------------------------------------------
// Reading what Chromium gives back: the DOM reader and the screenshots' size

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
