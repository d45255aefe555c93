//! What verifying one TDX quote costs through `verifier::tdx::verify_quote` (size limits, our
//! parse, the pinned-root choice, dcap-qvl, the TCB status judged) against calling dcap-qvl's
//! RustCrypto verifier directly with the same quote, collateral, root and time, in the same run.
//!
//! ```text
//! nice -n 19 cargo bench -p verifier --bench tdx -- --warm-up-time 2 --measurement-time 5
//! ```

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::verify::QuoteVerifier;
use verifier::tdx::{verify_quote, TcbStatus, TdxCollateral, TdxTrust, INTEL_SGX_ROOT_CA_DER};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/tdx");
/// dcap-qvl's own verification time for its v4 sample, inside the collateral's window.
const AT: u64 = 1_752_919_234;

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

fn tdx(c: &mut Criterion) {
    let quote = read("dcapqvl-tdx_quote_v4.bin");
    let collateral =
        TdxCollateral::from_json(&read("dcapqvl-tdx_quote_v4_collateral.json")).unwrap();
    let trust = TdxTrust::default();
    let ours = verify_quote(&quote, &collateral, &trust, AT).expect("the sample verifies");
    assert_eq!(ours.tcb_status, TcbStatus::UpToDate);
    let direct = || {
        QuoteVerifier::new(INTEL_SGX_ROOT_CA_DER.to_vec())
            .with_config::<RustCryptoConfig>()
            .verify(black_box(&quote), collateral.as_dcap(), AT)
            .unwrap()
    };
    assert_eq!(direct().status, "UpToDate");

    let mut group = c.benchmark_group("tdx quote v4");
    group.throughput(Throughput::Elements(1));
    group.bench_function("dcap-qvl QuoteVerifier (RustCrypto), direct", |b| {
        b.iter(direct)
    });
    group.bench_function("verifier::tdx::verify_quote", |b| {
        b.iter(|| verify_quote(black_box(&quote), &collateral, &trust, AT).unwrap())
    });
    group.finish();
}

criterion_group!(benches, tdx);
criterion_main!(benches);
