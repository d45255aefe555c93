//! What a client of the official Midnight proof server sees beyond the proofs themselves, over real
//! HTTP: the CORS of actix-cors 0.7 `Cors::permissive()` on every answer (browser dApps call a local
//! proof server), actix-web's 404 for a method a path is not served for, the deserialiser's own error
//! text and `/fetch-params/{k}`'s answers. Every expected value is upstream's (midnight-ledger
//! `proof-server/src/{lib,endpoints}.rs`, actix-cors `middleware.rs`/`inner.rs`, actix-web's `Path`
//! extractor), not read back from this server's code.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::running::{no_tee, start, start_fetching, Running};
use common::{read, test_params_dir};
use midnight_base_crypto::signatures::Signature;
use midnight_ledger::structure::{ProofPreimageMarker, ProofPreimageVersioned, Transaction};
use midnight_serialize::{tagged_deserialize, Deserializable, Tagged};
use midnight_storage::db::InMemoryDB;
use midnight_transient_crypto::commitment::PedersenRandomness;
use midnight_transient_crypto::curve::Fr;
use midnight_transient_crypto::proofs::{ProvingKeyMaterial, WrappedIr};
use reqwest::header::HeaderMap;
use reqwest::Method;

const DAPP: &str = "http://localhost:5173";
/// actix-cors' `Vary`, spelled as it spells it.
const VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
/// actix-cors' `ALL_METHODS_SET`: what `Cors::permissive()` allows (listed in hash order upstream).
const ALL_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "PATCH", "TRACE",
];

/// The upstream request types, to compute what its decoder says about a body.
type ProveBody = (
    ProofPreimageVersioned,
    Option<ProvingKeyMaterial>,
    Option<Fr>,
);
type CheckBody = (ProofPreimageVersioned, Option<WrappedIr>);
type ProveTxBody = (
    Transaction<Signature, ProofPreimageMarker, PedersenRandomness, InMemoryDB>,
    HashMap<String, ProvingKeyMaterial>,
);

/// What upstream's decoder says about a body that does not decode as `T`.
fn decoder_text<T: Deserializable + Tagged>(body: &[u8]) -> String {
    match tagged_deserialize::<T>(body) {
        Ok(_) => panic!("the body decodes as {}", T::tag()),
        Err(error) => error.to_string(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

/// A comma-separated header as a set: upstream's order changes with every process.
fn list(headers: &HeaderMap, name: &str) -> BTreeSet<String> {
    header(headers, name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_ascii_lowercase()).collect()
}

async fn preflight(server: &Running, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client.request(Method::OPTIONS, server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The headers actix-cors adds to an answer that is not a preflight: `exposed` are the answer's own
/// header names (actix-cors' "expose any header" with credentials).
fn assert_actual_cors(headers: &HeaderMap, origin: Option<&str>, exposed: &[&str], what: &str) {
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        origin,
        "{what}"
    );
    if exposed.is_empty() {
        assert_eq!(
            header(headers, "access-control-expose-headers"),
            None,
            "{what}"
        );
    } else {
        assert_eq!(
            list(headers, "access-control-expose-headers"),
            set(exposed),
            "{what}"
        );
    }
    assert_eq!(
        header(headers, "access-control-allow-credentials"),
        Some("true"),
        "{what}"
    );
    assert_eq!(header(headers, "vary"), Some(VARY), "{what}");
    assert_eq!(header(headers, "access-control-max-age"), None, "{what}");
    assert_eq!(
        header(headers, "access-control-allow-methods"),
        None,
        "{what}"
    );
}

#[tokio::test]
async fn a_browser_preflight_gets_the_answer_of_actix_cors_permissive() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    // actix-cors answers preflights before routing: every path, known or not.
    for path in [
        "/prove",
        "/check",
        "/k",
        "/prove-tx",
        "/health",
        "/no-such-path",
    ] {
        let response = preflight(
            &server,
            path,
            &[
                ("Origin", DAPP),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "content-type,x-requested-with",
                ),
            ],
        )
        .await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(header(&headers, "access-control-allow-origin"), Some(DAPP));
        assert_eq!(
            list(&headers, "access-control-allow-methods"),
            set(&ALL_METHODS)
        );
        // Any header: the requested ones, echoed as sent.
        assert_eq!(
            header(&headers, "access-control-allow-headers"),
            Some("content-type,x-requested-with")
        );
        assert_eq!(
            header(&headers, "access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(header(&headers, "access-control-max-age"), Some("3600"));
        assert_eq!(header(&headers, "vary"), Some(VARY));
        for absent in ["access-control-expose-headers", "allow", "content-type"] {
            assert_eq!(header(&headers, absent), None, "{path}: {absent}");
        }
        assert!(response.bytes().await.unwrap().is_empty(), "{path}");
    }

    // No Origin and no requested headers: still 200, nothing to echo.
    let response = preflight(
        &server,
        "/prove",
        &[("Access-Control-Request-Method", "PATCH")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), None);
    assert_eq!(header(headers, "access-control-allow-headers"), None);
    assert_eq!(header(headers, "access-control-max-age"), Some("3600"));

    // A method outside actix-cors' set: its error, 400, without CORS headers or Content-Type.
    let response = preflight(
        &server,
        "/prove",
        &[
            ("Origin", DAPP),
            ("Access-Control-Request-Method", "PROPFIND"),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let headers = response.headers().clone();
    for absent in ["access-control-allow-origin", "vary", "content-type"] {
        assert_eq!(header(&headers, absent), None, "{absent}");
    }
    assert_eq!(
        response.text().await.unwrap(),
        "Requested method is not allowed"
    );

    // An OPTIONS without Access-Control-Request-Method is no preflight: routed, and no route takes
    // OPTIONS, so 404 with the CORS headers of an ordinary answer.
    let response = preflight(&server, "/prove", &[("Origin", DAPP)]).await;
    assert_eq!(response.status(), 404);
    assert_actual_cors(
        response.headers(),
        Some(DAPP),
        &["access-control-allow-origin"],
        "OPTIONS without a requested method",
    );
    server.stop().await;
}

#[tokio::test]
async fn every_answer_carries_the_cors_headers_of_actix_cors_permissive() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    let get = |path: &str, origin: Option<&str>| {
        let mut request = server.client.get(server.url(path));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.send()
    };

    // Text and JSON answers expose their own Content-Type, and the origin header once echoed.
    let version = get("/version", Some(DAPP)).await.unwrap();
    assert_eq!(version.status(), 200);
    assert_actual_cors(
        version.headers(),
        Some(DAPP),
        &["content-type", "access-control-allow-origin"],
        "/version",
    );
    let ready = get("/ready", Some("https://wallet.example")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        header(ready.headers(), "content-type"),
        Some("application/json")
    );
    assert_actual_cors(
        ready.headers(),
        Some("https://wallet.example"),
        &["content-type", "access-control-allow-origin"],
        "/ready",
    );
    // Without an Origin the other headers are still there (actix-cors adds them regardless).
    let health = get("/health", None).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_actual_cors(health.headers(), None, &["content-type"], "/health");

    // Errors too: a 400 from the decoder and actix's bare 404.
    let bad = server
        .client
        .post(server.url("/prove"))
        .header("Origin", DAPP)
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_actual_cors(
        bad.headers(),
        Some(DAPP),
        &["content-type", "access-control-allow-origin"],
        "400",
    );
    let missing = get("/no-such-path", Some(DAPP)).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_actual_cors(
        missing.headers(),
        Some(DAPP),
        &["access-control-allow-origin"],
        "404",
    );
    // A 404 without Origin has no header of its own to expose.
    let missing = get("/no-such-path", None).await.unwrap();
    assert_actual_cors(missing.headers(), None, &[], "404 without Origin");
    server.stop().await;
}

#[tokio::test]
async fn a_method_a_path_is_not_served_for_is_404_as_in_actix() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    // actix's method guards: no 405, no Allow, no body; HEAD is not GET.
    for (method, path) in [
        (Method::GET, "/prove"),
        (Method::GET, "/check"),
        (Method::GET, "/k"),
        (Method::GET, "/prove-tx"),
        (Method::PUT, "/prove"),
        (Method::DELETE, "/k"),
        (Method::POST, "/health"),
        (Method::POST, "/"),
        (Method::POST, "/version"),
        (Method::HEAD, "/health"),
        (Method::HEAD, "/prove"),
        // Fetching is off: the route does not exist at all.
        (Method::GET, "/fetch-params/8"),
    ] {
        let what = format!("{method} {path}");
        let response = server
            .client
            .request(method, server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{what}");
        let headers = response.headers().clone();
        assert_eq!(header(&headers, "allow"), None, "{what}");
        assert_eq!(header(&headers, "content-type"), None, "{what}");
        assert_eq!(header(&headers, "content-length"), Some("0"), "{what}");
        assert!(response.bytes().await.unwrap().is_empty(), "{what}");
    }
    server.stop().await;
}

#[tokio::test]
async fn undecodable_bodies_get_the_deserialisers_own_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    let post = |path: &str, body: Vec<u8>| server.client.post(server.url(path)).body(body).send();
    let prove_request = read("requests/prove-zswap-output-builtin.req");
    let check_request = read("requests/check-zswap-output-with-ir.req");
    let prove_tx_request = common::prove_tx_request(4);
    let doubled = |body: &[u8]| -> Vec<u8> { [body, body].concat() };

    type Decoder = fn(&[u8]) -> String;
    for (path, decoder, valid) in [
        (
            "/prove",
            decoder_text::<ProveBody> as Decoder,
            &prove_request,
        ),
        ("/check", decoder_text::<CheckBody>, &check_request),
        ("/prove-tx", decoder_text::<ProveTxBody>, &prove_tx_request),
    ] {
        // Upstream's own tests: an empty body, a JSON body, a body sent twice.
        let cases = [
            ("empty", Vec::new()),
            ("json", br#"{"key": "value"}"#.to_vec()),
            ("doubled", doubled(valid)),
        ];
        for (case, body) in cases {
            let expected = decoder(&body);
            let response = post(path, body).await.unwrap();
            assert_eq!(response.status(), 400, "{path} {case}");
            assert_eq!(
                header(response.headers(), "content-type"),
                Some("text/plain; charset=utf-8"),
                "{path} {case}"
            );
            let text = response.text().await.unwrap();
            assert_eq!(text, expected, "{path} {case}");
            match case {
                "empty" => assert!(
                    text.starts_with("expected header tag 'midnight:")
                        && text.ends_with("', got ''"),
                    "{path}: {text}"
                ),
                "json" => assert!(text.starts_with("expected header tag "), "{path}: {text}"),
                _ => assert_eq!(
                    text.strip_prefix("Not all bytes read deserializing 'midnight:")
                        .and_then(|rest| rest.split_once("'; "))
                        .map(|(_, count)| count.to_string()),
                    Some(format!("{} bytes remaining", valid.len())),
                    "{path}: {text}"
                ),
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn proving_answers_are_bare_bodies_without_a_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], no_tee(dir.path())).await;
    // actix's HttpResponse::Ok().body(…): no Content-Type, so CORS exposes only the origin header.
    for (path, request, expected) in [
        (
            "/k",
            read("ledger-8.1.0/zswap-output.bzkir"),
            b"14".to_vec(),
        ),
        (
            "/check",
            read("requests/check-zswap-output-with-ir.req"),
            read("requests/check-zswap-output.resp"),
        ),
    ] {
        let response = server
            .client
            .post(server.url(path))
            .header("Origin", DAPP)
            .body(request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(response.headers(), "content-type"), None, "{path}");
        assert_actual_cors(
            response.headers(),
            Some(DAPP),
            &["access-control-allow-origin"],
            path,
        );
        assert_eq!(response.bytes().await.unwrap().to_vec(), expected, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn fetch_params_answers_bad_ks_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let params_dir = dir.path().join("params");
    test_params_dir(&params_dir, false);
    let server = start_fetching(&params_dir, no_tee(dir.path())).await;
    let get = |path: String| server.client.get(server.url(&path)).send();

    // 0..=25 exist; a larger u8 is refused before any work, in upstream's words.
    for k in [26, 30, 255] {
        let response = get(format!("/fetch-params/{k}")).await.unwrap();
        assert_eq!(response.status(), 400, "{k}");
        assert_eq!(
            response.text().await.unwrap(),
            format!("k={k} out of range")
        );
    }
    // Not a u8: actix's path extractor answers 404 with serde's text.
    for (segment, shown) in [
        ("256", "256"),
        ("-1", "-1"),
        ("abc", "abc"),
        ("1.5", "1.5"),
        ("%41", "A"),
        ("%FF", "\u{FFFD}"),
    ] {
        let response = get(format!("/fetch-params/{segment}")).await.unwrap();
        assert_eq!(response.status(), 404, "{segment}");
        assert_eq!(
            header(response.headers(), "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            response.text().await.unwrap(),
            format!("can not parse \"{shown}\" to a u8"),
            "{segment}"
        );
    }
    // A k whose official file is at hand (however it is written): checked against its built-in
    // digest, no download.
    for segment in ["10", "+10", "%31%30"] {
        let response = get(format!("/fetch-params/{segment}")).await.unwrap();
        assert_eq!(response.status(), 200, "{segment}");
        assert_eq!(response.text().await.unwrap(), "success");
    }
    server.stop().await;
}
