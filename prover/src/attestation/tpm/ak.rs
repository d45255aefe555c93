//! Which attestation key (AK) signs the quotes, chosen once at start-up:
//! - Azure CVMs: the paravisor's persistent AK 0x81000003, whose public key the HCL report in NV
//!   0x01400001 carries (`HCLAkPub`) under the SEV-SNP/TDX report's REPORT_DATA;
//! - GCE (Shielded and Confidential VMs): a primary key created in the endorsement hierarchy from
//!   the AK template Google provisions in NV (RSA 0x01c10001, else ECC 0x01c10003), whose
//!   certificate is in 0x01c10000 (RSA) or 0x01c10002 (ECC) and chains to Google's EK/AK CA;
//! - anything else: TCG's standard RSA AK template, with no certificate. A wallet cannot tell such a
//!   key from one made by any software TPM: it can check the quote's signature and binding, but
//!   nothing says the key lives in a TPM of the platform it trusts.

use super::client::TpmClient;
use super::keys::TPM_RH_ENDORSEMENT;
use super::nv::DEFAULT_NV_CHUNK;
use super::public::{ak_template_rsa, parse_public, template_from_nv, KeyInfo};
use super::TpmError;

/// Azure: the HCL report (hardware report + runtime JSON with the AK public key).
pub const AZURE_HCL_REPORT_INDEX: u32 = 0x0140_0001;
/// Azure: the paravisor's persistent AK.
pub const AZURE_AK_HANDLE: u32 = 0x8100_0003;
/// GCE (go-tpm-tools `client/handles.go`): AK template and certificate indices, RSA then ECC.
pub const GCE_AK_TEMPLATE_RSA: u32 = 0x01c1_0001;
pub const GCE_AK_CERT_RSA: u32 = 0x01c1_0000;
pub const GCE_AK_TEMPLATE_ECC: u32 = 0x01c1_0003;
pub const GCE_AK_CERT_ECC: u32 = 0x01c1_0002;

/// Where the AK came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AkOrigin {
    Azure,
    Gce,
    StandardTemplate,
}

/// The AK in use and what is returned with every quote.
#[derive(Debug, Clone)]
pub struct AttestationKey {
    pub handle: u32,
    /// Created by us (flushed on drop) rather than persistent.
    pub transient: bool,
    /// TPMT_PUBLIC.
    pub public: Vec<u8>,
    pub info: KeyInfo,
    pub origin: AkOrigin,
    /// GCE: the AK certificate (DER) from NV.
    pub certificate: Option<Vec<u8>>,
    /// Azure: the HCL report from NV 0x01400001.
    pub azure_hcl_report: Option<Vec<u8>>,
}

/// Finds the platform's AK, creating it when it is a primary key (slow: key generation).
pub fn load_attestation_key(client: &mut TpmClient) -> Result<AttestationKey, TpmError> {
    // A TPM that will not say its NV buffer size still reads the PC Client minimum.
    let chunk = match client.nv_chunk_size() {
        Err(TpmError::Response { .. }) => DEFAULT_NV_CHUNK,
        other => other?,
    };
    if let Some(hcl) = client.nv_read_public(AZURE_HCL_REPORT_INDEX)? {
        let report = client.nv_read(&hcl, chunk)?;
        let public = client.read_public(AZURE_AK_HANDLE).map_err(|e| {
            TpmError::Key(format!(
                "NV {AZURE_HCL_REPORT_INDEX:#010x} (Azure HCL report) exists but the AK \
                 {AZURE_AK_HANDLE:#010x} cannot be read: {e}"
            ))
        })?;
        return finish(
            AZURE_AK_HANDLE,
            false,
            public,
            AkOrigin::Azure,
            None,
            Some(report),
        );
    }
    for (template_index, cert_index) in [
        (GCE_AK_TEMPLATE_RSA, GCE_AK_CERT_RSA),
        (GCE_AK_TEMPLATE_ECC, GCE_AK_CERT_ECC),
    ] {
        let Some(template_nv) = client.nv_read_public(template_index)? else {
            continue;
        };
        let template = client.nv_read(&template_nv, chunk)?;
        let (handle, public) =
            client.create_primary(TPM_RH_ENDORSEMENT, template_from_nv(&template))?;
        let certificate = match client.nv_read_public(cert_index) {
            Ok(Some(cert_nv)) => client.nv_read(&cert_nv, chunk),
            Ok(None) => {
                tracing::warn!(
                    index = format_args!("{cert_index:#010x}"),
                    "the AK template is provisioned but its certificate is not"
                );
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        };
        let certificate = match certificate {
            Ok(certificate) => certificate,
            Err(e) => {
                let _ = client.flush_context(handle);
                return Err(e);
            }
        };
        let certificate = (!certificate.is_empty()).then_some(certificate);
        return finish(handle, true, public, AkOrigin::Gce, certificate, None).inspect_err(|_| {
            let _ = client.flush_context(handle);
        });
    }
    let (handle, public) = client.create_primary(TPM_RH_ENDORSEMENT, &ak_template_rsa())?;
    finish(handle, true, public, AkOrigin::StandardTemplate, None, None).inspect_err(|_| {
        let _ = client.flush_context(handle);
    })
}

fn finish(
    handle: u32,
    transient: bool,
    public: Vec<u8>,
    origin: AkOrigin,
    certificate: Option<Vec<u8>>,
    azure_hcl_report: Option<Vec<u8>>,
) -> Result<AttestationKey, TpmError> {
    let info = parse_public(&public)
        .map_err(|e| TpmError::Key(format!("its public area does not parse: {e}")))?;
    if !info.is_signing_key() {
        return Err(TpmError::Key(format!(
            "{handle:#010x} is not a signing key (attributes {:#010x})",
            info.attributes
        )));
    }
    Ok(AttestationKey {
        handle,
        transient,
        public,
        info,
        origin,
        certificate,
        azure_hcl_report,
    })
}
