//! The proving work behind /k, /check, /prove and /proof-versions, done by the published Midnight
//! crates (ledger 8.1) exactly as the official proof server calls them. Everything here is blocking
//! and CPU-bound: the HTTP layer runs it on the job queue's workers.
//!
//! Requests and answers use Midnight's tagged binary encoding (`midnight:<type tag>:` + payload);
//! anything that does not decode as the expected tagged type is the client's error (400).

mod params;

use std::sync::Arc;

use introspection::Introspection;
use std::collections::HashMap;

use midnight_base_crypto::signatures::Signature;
use midnight_ledger::structure::{
    ProofPreimageMarker, ProofPreimageVersioned, ProofVersioned, Transaction,
};
use midnight_onchain_runtime::cost_model::INITIAL_COST_MODEL;
use midnight_serialize::{tagged_deserialize, tagged_serialize};
use midnight_storage::db::InMemoryDB;
use midnight_transient_crypto::commitment::PedersenRandomness;
use midnight_transient_crypto::curve::Fr;
use midnight_transient_crypto::proofs::{
    KeyLocation, ProvingKeyMaterial, Resolver as KeyResolver, WrappedIr, Zkir,
};
use midnight_zkir::IrSource;
use midnight_zkir::LocalProvingProvider;
use rand::rngs::OsRng;

pub use params::{ParamsConfig, PublicParams, FETCHABLE_K_MAX, STARTUP_K};

/// Why a request produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum ProvingError {
    /// The client sent something that cannot be proved or checked (400).
    #[error("{0}")]
    BadInput(String),
    /// The server failed (500): missing parameters, I/O, a proof that does not verify.
    #[error("{0}")]
    Internal(String),
}

/// The proving endpoints' logic over one set of public parameters and built-in keys.
#[derive(Clone)]
pub struct Prover {
    params: Arc<PublicParams>,
}

impl Prover {
    pub fn new(params: Arc<PublicParams>) -> Prover {
        Prover { params }
    }

    pub fn params(&self) -> &PublicParams {
        &self.params
    }

    /// POST /k: the circuit size exponent of a tagged ZKIR (v2) circuit, as decimal text.
    pub fn k(body: &[u8]) -> Result<String, ProvingError> {
        let ir: IrSource = tagged_deserialize(body)
            .map_err(|_| ProvingError::BadInput("Unsupported ZKIR version".into()))?;
        without_panics("size the circuit", || Ok(ir.k().to_string()))
    }

    /// POST /check: which public-transcript operations the preimage skips, without proving.
    pub fn check(&self, body: &[u8]) -> Result<Vec<u8>, ProvingError> {
        let (preimage, ir): (ProofPreimageVersioned, Option<WrappedIr>) =
            tagged_deserialize(body).map_err(undecodable)?;
        let ir_bytes = match ir {
            Some(ir) => ir.0,
            None => self.builtin_material(preimage.key_location())?.ir_source,
        };
        let ir: IrSource = tagged_deserialize(&ir_bytes[..])
            .map_err(|_| ProvingError::BadInput("Unsupported ZKIR version".into()))?;
        let preimage = match preimage {
            ProofPreimageVersioned::V2(preimage) => preimage,
            #[allow(unreachable_patterns)] // the enum is non-exhaustive: newer versions may appear
            _ => return Err(unsupported_version()),
        };
        let skips = without_panics("check the preimage", || {
            preimage.check(&ir).map_err(|e| {
                ProvingError::BadInput(format!("the preimage does not satisfy the circuit: {e}"))
            })
        })?;
        let skips: Vec<Option<u64>> = skips.into_iter().map(|s| s.map(|n| n as u64)).collect();
        encode(&skips)
    }

    /// POST /prove: a proof for the preimage, with the client's key material or the built-in key.
    pub fn prove(&self, body: &[u8]) -> Result<Vec<u8>, ProvingError> {
        let (preimage, material, binding): (
            ProofPreimageVersioned,
            Option<ProvingKeyMaterial>,
            Option<Fr>,
        ) = tagged_deserialize(body).map_err(undecodable)?;
        let preimage = match preimage {
            ProofPreimageVersioned::V2(preimage) => preimage,
            #[allow(unreachable_patterns)]
            _ => return Err(unsupported_version()),
        };
        let mut preimage = Arc::unwrap_or_clone(preimage);
        if let Some(binding) = binding {
            preimage.binding_input = binding;
        }
        let runtime = single_thread_runtime()?;
        let proved = without_panics("prove", || {
            Ok(match material {
                Some(material) => runtime.block_on(preimage.prove::<IrSource>(
                    OsRng,
                    self.params.resolver(),
                    &GivenKey(material),
                )),
                None => runtime.block_on(preimage.prove::<IrSource>(
                    OsRng,
                    self.params.resolver(),
                    self.params.resolver(),
                )),
            })
        })?;
        let (proof, _skips) =
            proved.map_err(|e| ProvingError::BadInput(format!("cannot prove: {e:#}")))?;
        encode(&ProofVersioned::V2(proof))
    }

    /// POST /prove-tx (deprecated upstream in favour of /prove): proves every proof of an unproven
    /// transaction, with built-in keys or the key material sent along, and answers the proven
    /// transaction.
    pub fn prove_tx(&self, body: &[u8]) -> Result<Vec<u8>, ProvingError> {
        let (transaction, keys): (
            UnprovenTransaction,
            HashMap<KeyLocation, ProvingKeyMaterial>,
        ) = tagged_deserialize(body).map_err(undecodable)?;
        let resolver = BuiltinThenGiven {
            builtin: self.params.resolver(),
            given: keys,
        };
        let runtime = single_thread_runtime()?;
        let proven = without_panics("prove the transaction", || {
            let provider = LocalProvingProvider {
                rng: OsRng,
                resolver: &resolver,
                params: self.params.resolver(),
            };
            runtime
                .block_on(transaction.prove(provider, &INITIAL_COST_MODEL))
                .map_err(|e| ProvingError::BadInput(format!("cannot prove the transaction: {e:?}")))
        })?;
        encode(&proven)
    }

    /// GET /proof-versions: the proof formats this server produces, e.g. `["V2"]`.
    pub fn proof_versions() -> String {
        let mut versions = ProofVersioned::introspection().fields;
        versions.retain(|name| name != "Dummy");
        format!("{versions:?}")
    }

    fn builtin_material(&self, location: &KeyLocation) -> Result<ProvingKeyMaterial, ProvingError> {
        single_thread_runtime()?
            .block_on(self.params.resolver().resolve_key(location.clone()))
            .map_err(|e| ProvingError::Internal(format!("cannot load the built-in key {}: {e}", location.0)))?
            .ok_or_else(|| {
                ProvingError::BadInput(format!(
                    "no built-in key for {}: send the circuit (or the key material) with the request",
                    location.0
                ))
            })
    }
}

/// Runs a call into the Midnight crates, turning a panic into a 400: they assume well-formed circuits
/// and panic on some malformed ones (e.g. an instruction reading a memory slot that does not exist,
/// found by fuzzing), and a request must never take a worker down with it.
fn without_panics<T>(
    what: &str,
    call: impl FnOnce() -> Result<T, ProvingError>,
) -> Result<T, ProvingError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(ProvingError::BadInput(format!(
            "cannot {what}: the circuit or preimage is malformed ({message})"
        )))
    })
}

/// The transaction type /prove-tx takes, as upstream.
type UnprovenTransaction =
    Transaction<Signature, ProofPreimageMarker, PedersenRandomness, InMemoryDB>;

/// Built-in keys first (as upstream), then the ones sent with the transaction.
struct BuiltinThenGiven<'a> {
    builtin: &'a midnight_ledger::prove::Resolver,
    given: HashMap<KeyLocation, ProvingKeyMaterial>,
}

impl KeyResolver for BuiltinThenGiven<'_> {
    async fn resolve_key(&self, key: KeyLocation) -> std::io::Result<Option<ProvingKeyMaterial>> {
        match self.builtin.resolve_key(key.clone()).await? {
            Some(material) => Ok(Some(material)),
            None => Ok(self.given.get(&key).cloned()),
        }
    }
}

/// The client's own key material, used instead of a built-in key.
struct GivenKey(ProvingKeyMaterial);

impl KeyResolver for GivenKey {
    async fn resolve_key(&self, _key: KeyLocation) -> std::io::Result<Option<ProvingKeyMaterial>> {
        Ok(Some(self.0.clone()))
    }
}

/// The Midnight APIs are async over blocking I/O; each job drives them on its own small runtime, as
/// the official server does (parameter downloads need a reactor).
fn single_thread_runtime() -> Result<tokio::runtime::Runtime, ProvingError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProvingError::Internal(format!("cannot start a job runtime: {e}")))
}

fn encode<T: midnight_serialize::Serializable + midnight_serialize::Tagged>(
    value: &T,
) -> Result<Vec<u8>, ProvingError> {
    let mut out = Vec::new();
    tagged_serialize(value, &mut out)
        .map_err(|e| ProvingError::Internal(format!("cannot encode the answer: {e}")))?;
    Ok(out)
}

/// A body that does not decode: the deserialiser's text alone, as the official server answers it.
/// It names the expected type tag and what was wrong (e.g. `expected header tag 'midnight:…', got
/// '…'` or `Not all bytes read deserializing '…'; 3 bytes remaining`), and clients match it.
fn undecodable(error: std::io::Error) -> ProvingError {
    ProvingError::BadInput(error.to_string())
}

fn unsupported_version() -> ProvingError {
    ProvingError::BadInput(
        "unsupported proof preimage version: this server proves V2 preimages".into(),
    )
}
