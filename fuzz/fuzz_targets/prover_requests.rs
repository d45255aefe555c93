//! Any body POSTed to /k, /check, /prove or /prove-tx yields an answer or a 400-class error, never a panic: the
//! request decoding entry points of the proof server.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use prover::proving::{ParamsConfig, Prover, PublicParams};

/// No parameters on disk and no fetching: decoding is what is under test, not proving.
fn prover() -> &'static Prover {
    static PROVER: OnceLock<Prover> = OnceLock::new();
    PROVER.get_or_init(|| {
        // libFuzzer's hook aborts on any panic, even one the server catches on purpose (the Midnight
        // crates panic on some malformed circuits; `Prover` turns those into 400s). Keep only the
        // check that matters: a panic escaping `Prover` still aborts, in libfuzzer-sys's harness.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = std::env::temp_dir().join("mpr-fuzz-empty-params");
        let params = PublicParams::new(&ParamsConfig { dir: Some(dir), fetch: false })
            .expect("parameter store");
        Prover::new(Arc::new(params))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Prover::k(data);
    let _ = prover().check(data);
    let _ = prover().prove(data);
    let _ = prover().prove_tx(data);
});
