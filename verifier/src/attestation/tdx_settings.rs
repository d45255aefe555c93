//! The TDX keys of the `[attestation]` section (documented with the others in settings.rs):
//! `intel_roots`, `tdx_allowed_tcb_statuses` and `tdx_collateral`.

use crate::tdx::{
    TcbStatus, TdxCollateral, TdxTrust, ACCEPTABLE_TCB_STATUSES, INTEL_SGX_ROOT_CA_SHA256,
};

/// The keys as written, fingerprints already checked by settings.rs.
pub(super) struct RawTdx {
    pub intel_roots: Option<Vec<[u8; 32]>>,
    pub allowed_tcb_statuses: Option<Vec<String>>,
    pub collateral: Option<String>,
}

/// How TDX quotes are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxSettings {
    /// SHA-256 of the Intel roots accepted (default: the Intel SGX Root CA).
    pub intel_roots: Vec<[u8; 32]>,
    /// TCB statuses accepted besides UpToDate; Revoked can never be listed.
    pub allowed_tcb_statuses: Vec<TcbStatus>,
    /// Collateral the policy carries, used when neither the caller nor the evidence gives any.
    pub collateral: Option<TdxCollateral>,
}

impl Default for TdxSettings {
    fn default() -> Self {
        TdxSettings {
            intel_roots: vec![INTEL_SGX_ROOT_CA_SHA256],
            allowed_tcb_statuses: Vec::new(),
            collateral: None,
        }
    }
}

impl TdxSettings {
    pub(super) fn from_raw(raw: RawTdx) -> Result<TdxSettings, String> {
        let defaults = TdxSettings::default();
        let allowed_tcb_statuses = raw
            .allowed_tcb_statuses
            .unwrap_or_default()
            .iter()
            .map(|name| status(name))
            .collect::<Result<_, _>>()?;
        let collateral = raw
            .collateral
            .map(|json| {
                TdxCollateral::from_json(json.as_bytes())
                    .map_err(|e| format!("[attestation] tdx_collateral: {e}"))
            })
            .transpose()?;
        Ok(TdxSettings {
            intel_roots: raw.intel_roots.unwrap_or(defaults.intel_roots),
            allowed_tcb_statuses,
            collateral,
        })
    }

    pub fn trust(&self, allow_debug: bool) -> TdxTrust {
        TdxTrust {
            root_sha256: self.intel_roots.clone(),
            allowed_tcb_statuses: self.allowed_tcb_statuses.clone(),
            allow_debug,
        }
    }
}

fn status(name: &str) -> Result<TcbStatus, String> {
    let names = || {
        ACCEPTABLE_TCB_STATUSES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match serde_json::from_value::<TcbStatus>(serde_json::Value::String(name.to_owned())) {
        Ok(TcbStatus::Revoked) => Err(
            "[attestation] tdx_allowed_tcb_statuses lists Revoked: a revoked platform's keys may be compromised, no policy can accept it"
                .into(),
        ),
        Ok(status) => Ok(status),
        Err(_) => Err(format!(
            "[attestation] tdx_allowed_tcb_statuses: unknown status {name:?}; use UpToDate or any of {}",
            names()
        )),
    }
}
