//! Azure TDX confidential VMs: the TD quote of the HCL report's TDREPORT, from IMDS.
//!
//! On Azure the HCL report in NV 0x01400001 vouches for the vTPM's AK (its REPORT_DATA covers the
//! runtime JSON naming the AK). On SEV-SNP that report is signed by the chip; on TDX it holds a
//! TDREPORT, which is MACed for the local platform only: a remote wallet needs it turned into a
//! quote signed by the quoting enclave. Azure's guest attestation does that through IMDS (as
//! azure-cvm-tooling's `az-tdx-vtpm` does): POST `http://169.254.169.254/acc/tdquote` with
//! `{"report": base64url(TDREPORT), no padding}` and header `Metadata: true`, answered by
//! `{"quote": base64url(quote)}`.
//!
//! HCL report layout (little-endian): "HCLA", u32 version, u32 report_size, u32 request_type (the
//! IGVM request that made it: 2 = AK certificate, on SEV-SNP and TDX alike), u32 status, reserved;
//! the hardware report at 0x20 in a 1184-byte slot (for TDX the 1024-byte TDREPORT, whose
//! REPORT_DATA is at offset 128); then at 0x4C0 IgvmRequestData: u32 data_size, u32 version,
//! u32 report_type, which says the hardware: 2 = SEV-SNP, 4 = TDX (as azure-cvm-tooling's
//! `hcl_data.report_type` and the fixtures from real VMs have it).

use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::TpmError;
use crate::attestation::service::{self, Endpoint, Post};

/// IMDS's TD quote endpoint (link-local, plain HTTP, reachable only from the VM).
pub const DEFAULT_TD_QUOTE_URL: &str = "http://169.254.169.254/acc/tdquote";
pub const TD_REPORT_LEN: usize = 1024;
/// A DCAP quote with its PCK chain is ~5 KiB; base64 and JSON add a third.
pub const MAX_IMDS_ANSWER: usize = 64 * 1024;
const HCL_MAGIC: &[u8; 4] = b"HCLA";
/// IgvmRequestData (0x4C0) + 8: report_type.
const HCL_REPORT_TYPE_OFFSET: usize = 0x4C0 + 8;
const HCL_REPORT_TYPE_TDX: u32 = 4;
const HCL_REPORT_OFFSET: usize = 0x20;
const TD_REPORT_DATA_OFFSET: usize = 128;
/// DCAP quote: 48-byte header (u16 version, u16 key type, u32 TEE type), then the body; v5 puts a
/// u16 body type and a u32 body size before it. REPORT_DATA is at 520 in the TD body.
const QUOTE_HEADER_LEN: usize = 48;
const QUOTE_TEE_TYPE_TDX: u32 = 0x81;
const QUOTE_BODY_REPORT_DATA: usize = 520;

/// The TDREPORT inside an HCL report when it is a TDX one, None for SEV-SNP; an error when the
/// bytes are no HCL report at all.
pub fn hcl_td_report(hcl: &[u8]) -> Result<Option<&[u8]>, String> {
    let report_type = hcl
        .get(HCL_REPORT_TYPE_OFFSET..HCL_REPORT_TYPE_OFFSET + 4)
        .filter(|_| hcl.starts_with(HCL_MAGIC))
        .ok_or_else(|| {
            format!(
                "not an HCL report ({} bytes starting {:02x?}; expected \"HCLA\" and at least \
                 {} bytes)",
                hcl.len(),
                &hcl[..hcl.len().min(4)],
                HCL_REPORT_TYPE_OFFSET + 4
            )
        })?;
    let report_type = u32::from_le_bytes([
        report_type[0],
        report_type[1],
        report_type[2],
        report_type[3],
    ]);
    Ok((report_type == HCL_REPORT_TYPE_TDX)
        .then(|| &hcl[HCL_REPORT_OFFSET..HCL_REPORT_OFFSET + TD_REPORT_LEN]))
}

/// Where the TD quote comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureImds {
    endpoint: Endpoint,
    /// Path and query of the URL.
    path: String,
    /// The authority, for the Host header.
    host: String,
    url: String,
    pub timeout: Duration,
}

impl Default for AzureImds {
    fn default() -> Self {
        AzureImds::new(
            DEFAULT_TD_QUOTE_URL,
            crate::attestation::DEFAULT_SERVICE_TIMEOUT,
        )
        .expect("the default URL parses")
    }
}

#[derive(Serialize)]
struct QuoteRequest {
    report: String,
}

#[derive(Deserialize)]
struct QuoteAnswer {
    quote: String,
}

impl AzureImds {
    /// `url` must be `http://HOST[:PORT]/PATH`: IMDS has no TLS.
    pub fn new(url: &str, timeout: Duration) -> Result<AzureImds, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url:?}: IMDS is plain http://, nothing else"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} names no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(AzureImds {
            endpoint: Endpoint::Tcp {
                host: host.to_owned(),
                port: authority.port_u16().unwrap_or(80),
            },
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            host: authority.as_str().to_owned(),
            url: url.to_owned(),
            timeout,
        })
    }

    pub fn with_timeout(self, timeout: Duration) -> AzureImds {
        AzureImds { timeout, ..self }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The quote of `td_report`, checked to be a TDX quote carrying the TDREPORT's REPORT_DATA
    /// (a wrong URL or a confused IMDS would otherwise hand the wallet something unverifiable).
    /// Blocking.
    pub fn td_quote(&self, td_report: &[u8]) -> Result<Vec<u8>, TpmError> {
        let error = |problem: String| TpmError::AzureTdQuote {
            url: self.url.clone(),
            problem,
        };
        let expected = td_report
            .get(TD_REPORT_DATA_OFFSET..TD_REPORT_DATA_OFFSET + 64)
            .filter(|_| td_report.len() == TD_REPORT_LEN)
            .ok_or_else(|| {
                error(format!(
                    "a TDREPORT is {TD_REPORT_LEN} bytes, not {}",
                    td_report.len()
                ))
            })?;
        let body = serde_json::to_vec(&QuoteRequest {
            report: URL_SAFE_NO_PAD.encode(td_report),
        })
        .map_err(|e| error(format!("cannot encode the request: {e}")))?;
        let answer = service::post(Post {
            endpoint: &self.endpoint,
            path: &self.path,
            host: &self.host,
            headers: &[("metadata", "true"), ("accept", "application/json")],
            body,
            timeout: self.timeout,
            max_answer: MAX_IMDS_ANSWER,
        })
        .map_err(|e| {
            error(format!(
                "{e}; IMDS answers only inside an Azure VM (--azure-imds-url to use another)"
            ))
        })?;
        if answer.status != 200 {
            return Err(error(format!(
                "HTTP {}: {}",
                answer.status,
                answer.excerpt()
            )));
        }
        let QuoteAnswer { quote } = serde_json::from_slice(&answer.body)
            .map_err(|e| error(format!("the answer is not {{\"quote\": …}}: {e}")))?;
        // base64url as Azure writes it, with or without padding.
        let lenient = GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let quote = lenient
            .decode(quote.trim())
            .map_err(|e| error(format!("the quote is not base64url: {e}")))?;
        match quote_report_data(&quote) {
            Some(report_data) if report_data == expected => Ok(quote),
            Some(_) => Err(error(
                "the quote's REPORT_DATA is not the TDREPORT's: a quote of another report".into(),
            )),
            None => Err(error(format!(
                "the {} bytes answered are not a TDX quote (v4 or v5, TEE type 0x81)",
                quote.len()
            ))),
        }
    }
}

/// REPORT_DATA of a v4 or v5 TDX quote.
fn quote_report_data(quote: &[u8]) -> Option<&[u8]> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(quote.get(at..at + 2)?.try_into().ok()?));
    let tee_type = u32::from_le_bytes(quote.get(4..8)?.try_into().ok()?);
    if tee_type != QUOTE_TEE_TYPE_TDX {
        return None;
    }
    let body = match u16_at(0)? {
        4 => QUOTE_HEADER_LEN,
        5 => QUOTE_HEADER_LEN + 2 + 4,
        _ => return None,
    };
    quote.get(body + QUOTE_BODY_REPORT_DATA..body + QUOTE_BODY_REPORT_DATA + 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_reports_are_told_apart_and_garbage_is_refused() {
        let mut hcl = vec![0u8; 2600];
        hcl[..4].copy_from_slice(b"HCLA");
        hcl[12] = 2; // request_type: an AK certificate request, whatever the hardware
        hcl[0x4C8] = 2;
        assert_eq!(hcl_td_report(&hcl).unwrap(), None);
        hcl[0x4C8] = 4;
        hcl[0x20] = 0xaa;
        let td_report = hcl_td_report(&hcl).unwrap().unwrap();
        assert_eq!(td_report.len(), TD_REPORT_LEN);
        assert_eq!(td_report[0], 0xaa);
        assert!(hcl_td_report(&hcl[..0x4C8 + 3]).is_err());
        assert!(hcl_td_report(b"HC")
            .unwrap_err()
            .contains("not an HCL report"));
        hcl[0] = b'X';
        assert!(hcl_td_report(&hcl).is_err());
    }

    #[test]
    fn urls_are_plain_http_with_a_host() {
        let imds = AzureImds::new(
            "http://127.0.0.1:8080/acc/tdquote?x=1",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            imds.endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(imds.path, "/acc/tdquote?x=1");
        assert_eq!(imds.host, "127.0.0.1:8080");
        let default = AzureImds::default();
        assert_eq!(default.url(), DEFAULT_TD_QUOTE_URL);
        assert_eq!(default.host, "169.254.169.254");
        assert!(AzureImds::new("https://169.254.169.254/acc/tdquote", Duration::ZERO).is_err());
        assert!(AzureImds::new("/acc/tdquote", Duration::ZERO).is_err());
        assert!(AzureImds::new("not a url", Duration::ZERO).is_err());
    }

    #[test]
    fn quote_report_data_reads_v4_and_v5_and_refuses_others() {
        let mut v4 = vec![0u8; 48 + 584];
        v4[0] = 4;
        v4[4] = 0x81;
        v4[48 + 520] = 7;
        assert_eq!(quote_report_data(&v4).unwrap()[0], 7);
        let mut v5 = vec![0u8; 48 + 6 + 648];
        v5[0] = 5;
        v5[4] = 0x81;
        v5[54 + 520] = 9;
        assert_eq!(quote_report_data(&v5).unwrap()[0], 9);
        v4[4] = 0;
        assert_eq!(quote_report_data(&v4), None, "an SGX quote");
        assert_eq!(quote_report_data(&v5[..100]), None);
        assert_eq!(quote_report_data(&[]), None);
    }
}
