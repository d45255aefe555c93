//! Public parameters (KZG SRS `bls_midnight_2p{k}`) and the built-in keys of the zswap and dust
//! circuits, read from a local directory and checked against the SHA-256 digests built into the
//! Midnight crates on every read, or fetched from Midnight's server when fetching is on.
//!
//! Inside an enclave there is no network: bake the files into the image (the builder's recipe names
//! them) and run with `--no-fetch-params`; nothing is then fetched, ever, at request time.

use std::borrow::Cow;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use midnight_base_crypto::data_provider::{FetchMode, MidnightDataProvider, OutputMode};
use midnight_ledger::dust::{DustResolver, DUST_EXPECTED_FILES};
use midnight_ledger::prove::Resolver as LedgerResolver;
use midnight_transient_crypto::proofs::{KeyLocation, ParamsProverProvider, Resolver};
use midnight_zswap::prove::ZswapResolver;
use midnight_zswap::ZSWAP_EXPECTED_FILES;

use super::{single_thread_runtime, ProvingError};

/// SRS sizes the official server downloads at start-up (unless told not to).
pub const STARTUP_K: RangeInclusive<u8> = 10..=15;
/// The largest SRS `GET /fetch-params/{k}` accepts.
pub const FETCHABLE_K_MAX: u8 = 25;
/// The built-in circuits whose keys the server loads at start-up when fetching.
const BUILTIN_KEYS: [&str; 4] = [
    "midnight/zswap/spend",
    "midnight/zswap/output",
    "midnight/zswap/sign",
    "midnight/dust/spend",
];

/// Where parameters come from.
#[derive(Debug, Clone, Default)]
pub struct ParamsConfig {
    /// The directory holding `bls_midnight_2p{k}`, `zswap/<v>/…` and `dust/<v>/…`; default: the Midnight
    /// crates' choice ($MIDNIGHT_PP, else $XDG_CACHE_HOME/midnight/zk-params, else ~/.cache/…).
    pub dir: Option<PathBuf>,
    /// Download missing files from $MIDNIGHT_PARAM_SOURCE (default https://srs.midnight.network/).
    pub fetch: bool,
}

pub struct PublicParams {
    resolver: LedgerResolver,
    fetch: bool,
    dir: PathBuf,
}

impl PublicParams {
    pub fn new(config: &ParamsConfig) -> Result<PublicParams, ProvingError> {
        let provider = |expected: &[(&'static str, [u8; 32], &'static str)]| {
            let mode = if config.fetch {
                FetchMode::OnDemand
            } else {
                FetchMode::Synchronous
            };
            let mut provider = MidnightDataProvider::new(mode, OutputMode::Log, expected.to_vec())
                .map_err(|e| {
                    ProvingError::Internal(format!("cannot set up the parameter store: {e}"))
                })?;
            if let Some(dir) = &config.dir {
                provider.dir = dir.clone();
            }
            Ok::<_, ProvingError>(provider)
        };
        let zswap = provider(ZSWAP_EXPECTED_FILES)?;
        let dir = zswap.dir.clone();
        let resolver = LedgerResolver::new(
            ZswapResolver(zswap),
            DustResolver(provider(DUST_EXPECTED_FILES)?),
            // Keys that are not built in come with the request (see `GivenKey`), never from here.
            Box::new(|_| Box::pin(std::future::ready(Ok(None)))),
        );
        Ok(PublicParams {
            resolver,
            fetch: config.fetch,
            dir,
        })
    }

    pub(super) fn resolver(&self) -> &LedgerResolver {
        &self.resolver
    }

    pub fn fetch_enabled(&self) -> bool {
        self.fetch
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Whether an SRS exists for 2^k (Midnight publishes k <= [`FETCHABLE_K_MAX`]); the error is the
    /// official server's text, which clients match.
    pub fn check_fetchable(k: u8) -> Result<(), ProvingError> {
        if k > FETCHABLE_K_MAX {
            return Err(ProvingError::BadInput(format!("k={k} out of range")));
        }
        Ok(())
    }

    /// GET /fetch-params/{k}: makes the SRS for 2^k available (downloaded and checked if missing).
    pub fn fetch_k(&self, k: u8) -> Result<(), ProvingError> {
        PublicParams::check_fetchable(k)?;
        single_thread_runtime()?
            .block_on(self.resolver.get_params(k))
            .map(drop)
            .map_err(|e| {
                ProvingError::Internal(format!("cannot load the parameters for k = {k}: {e}"))
            })
    }

    /// What the official server does at start-up when fetching: every SRS in [`STARTUP_K`] and the
    /// built-in keys, downloaded if missing, each checked against its digest.
    pub fn fetch_startup(&self) -> Result<(), ProvingError> {
        for k in STARTUP_K {
            self.fetch_k(k)?;
        }
        let runtime = single_thread_runtime()?;
        for key in BUILTIN_KEYS {
            runtime
                .block_on(self.resolver.resolve_key(KeyLocation(Cow::Borrowed(key))))
                .map_err(|e| {
                    ProvingError::Internal(format!("cannot load the built-in key {key}: {e}"))
                })?;
        }
        Ok(())
    }
}
