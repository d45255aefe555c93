//! NV indices: NV_ReadPublic (does it exist, how large, who may read it) and NV_Read in chunks no
//! larger than the TPM's NV buffer (GetCapability TPM_PT_NV_BUFFER_MAX).

use super::client::{Command, TpmClient};
use super::rc;
use super::wire::{Reader, WireError, Writer};
use super::TpmError;

const TPM_CC_NV_READ: u32 = 0x14E;
const TPM_CC_NV_READ_PUBLIC: u32 = 0x169;
const TPM_CC_GET_CAPABILITY: u32 = 0x17A;
const TPM_CAP_TPM_PROPERTIES: u32 = 6;
const TPM_PT_NV_BUFFER_MAX: u32 = 0x100 + 44;
pub const TPM_RH_OWNER: u32 = 0x4000_0001;
const TPMA_NV_OWNERREAD: u32 = 1 << 17;
const TPMA_NV_AUTHREAD: u32 = 1 << 18;
/// When the TPM does not say: every TPM 2.0 takes at least this much (PC Client profile).
pub const DEFAULT_NV_CHUNK: u16 = 512;
/// Keeps an NV_Read response well inside the transport's response limit.
const MAX_NV_CHUNK: u16 = 2048;

/// An NV index's public area, as far as reading it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvPublic {
    pub index: u32,
    pub attributes: u32,
    pub size: u16,
}

/// Parses NV_ReadPublic's parameters: TPM2B_NV_PUBLIC then TPM2B_NAME.
pub fn parse_nv_public(parameters: &[u8]) -> Result<NvPublic, WireError> {
    let mut outer = Reader::new(parameters);
    let public = outer.tpm2b("nvPublic")?;
    outer.tpm2b("nvName")?;
    outer.finish("NV_ReadPublic response")?;
    let mut reader = Reader::new(public);
    let index = reader.u32("nvIndex")?;
    reader.u16("nameAlg")?;
    let attributes = reader.u32("attributes")?;
    reader.tpm2b("authPolicy")?;
    let size = reader.u16("dataSize")?;
    reader.finish("TPMS_NV_PUBLIC")?;
    Ok(NvPublic {
        index,
        attributes,
        size,
    })
}

impl TpmClient {
    /// The public area of NV `index`, or None when the TPM has no such index.
    pub fn nv_read_public(&mut self, index: u32) -> Result<Option<NvPublic>, TpmError> {
        const NAME: &str = "TPM2_NV_ReadPublic";
        let response = self.execute(
            &Command::new(NAME, TPM_CC_NV_READ_PUBLIC).handles(&[index]),
            0,
        );
        let response = match response {
            Err(TpmError::Response { rc: code, .. }) if rc::is_handle_error(code) => {
                return Ok(None)
            }
            other => other?,
        };
        let public = parse_nv_public(&response.parameters).map_err(TpmError::malformed(NAME))?;
        if public.index != index {
            return Err(TpmError::Nv {
                index,
                problem: format!("the TPM answered for index {:#010x}", public.index),
            });
        }
        Ok(Some(public))
    }

    /// TPM_PT_NV_BUFFER_MAX, capped to what the transport carries, or the default chunk size.
    pub fn nv_chunk_size(&mut self) -> Result<u16, TpmError> {
        const NAME: &str = "TPM2_GetCapability";
        let mut parameters = Writer::new();
        parameters
            .u32(TPM_CAP_TPM_PROPERTIES)
            .u32(TPM_PT_NV_BUFFER_MAX)
            .u32(1);
        let command = Command::new(NAME, TPM_CC_GET_CAPABILITY).parameters(parameters);
        let response = self.execute(&command, 0)?;
        let value = tpm_property(&response.parameters, TPM_PT_NV_BUFFER_MAX)
            .map_err(TpmError::malformed(NAME))?;
        Ok(match value {
            Some(value) if value > 0 => value.min(u32::from(MAX_NV_CHUNK)) as u16,
            _ => DEFAULT_NV_CHUNK,
        })
    }

    /// The whole contents of NV `public.index`, authorized by the index itself (empty auth) when
    /// it allows that, else by the owner hierarchy (empty owner auth, as on cloud vTPMs).
    pub fn nv_read(&mut self, public: &NvPublic, chunk: u16) -> Result<Vec<u8>, TpmError> {
        const NAME: &str = "TPM2_NV_Read";
        let auth = if public.attributes & TPMA_NV_AUTHREAD != 0 {
            public.index
        } else if public.attributes & TPMA_NV_OWNERREAD != 0 {
            TPM_RH_OWNER
        } else {
            return Err(TpmError::Nv {
                index: public.index,
                problem: format!(
                    "readable neither with its own auth nor the owner's (attributes {:#010x})",
                    public.attributes
                ),
            });
        };
        let chunk = chunk.max(1);
        let mut data = Vec::with_capacity(usize::from(public.size));
        while data.len() < usize::from(public.size) {
            let offset = data.len() as u16;
            let want = chunk.min(public.size - offset);
            let mut parameters = Writer::new();
            parameters.u16(want).u16(offset);
            let command = Command::new(NAME, TPM_CC_NV_READ)
                .authorized_handle(auth)
                .handles(&[public.index])
                .parameters(parameters);
            let response = self.execute(&command, 0)?;
            let mut reader = Reader::new(&response.parameters);
            let piece = reader
                .tpm2b("data")
                .and_then(|piece| reader.finish("NV_Read response").map(|()| piece))
                .map_err(TpmError::malformed(NAME))?;
            if piece.len() != usize::from(want) {
                return Err(TpmError::Malformed {
                    command: NAME,
                    problem: format!(
                        "asked for {want} bytes at offset {offset}, got {}",
                        piece.len()
                    ),
                });
            }
            data.extend_from_slice(piece);
        }
        Ok(data)
    }
}

/// The value of `property` in GetCapability(TPM_CAP_TPM_PROPERTIES)'s parameters, if listed.
pub fn tpm_property(parameters: &[u8], property: u32) -> Result<Option<u32>, WireError> {
    let mut reader = Reader::new(parameters);
    reader.u8("moreData")?;
    let capability = reader.u32("capability")?;
    if capability != TPM_CAP_TPM_PROPERTIES {
        return Err(WireError(format!(
            "capability {capability:#x} answered, TPM properties asked"
        )));
    }
    let count = reader.u32("count")?;
    let mut found = None;
    for _ in 0..count {
        let tag = reader.u32("property")?;
        let value = reader.u32("value")?;
        if tag == property {
            found = Some(value);
        }
    }
    reader.finish("GetCapability response")?;
    Ok(found)
}
