//! Key commands: CreatePrimary (the AK from a template), ReadPublic (a persistent AK's public area)
//! and FlushContext (a transient AK when the attester goes away).

use super::client::{Command, TpmClient};
use super::wire::{Reader, Writer};
use super::TpmError;

const TPM_CC_CREATE_PRIMARY: u32 = 0x131;
const TPM_CC_FLUSH_CONTEXT: u32 = 0x165;
const TPM_CC_READ_PUBLIC: u32 = 0x173;
/// The endorsement hierarchy: keys under it are tied to the EK's seed, which is what an AK
/// certificate (GCE) vouches for.
pub const TPM_RH_ENDORSEMENT: u32 = 0x4000_000B;

impl TpmClient {
    /// CreatePrimary under `hierarchy` with `template` (a TPMT_PUBLIC), empty auth and no creation
    /// PCRs: the new object's transient handle and its TPMT_PUBLIC.
    pub fn create_primary(
        &mut self,
        hierarchy: u32,
        template: &[u8],
    ) -> Result<(u32, Vec<u8>), TpmError> {
        const NAME: &str = "TPM2_CreatePrimary";
        let marshal = |e: super::wire::WireError| TpmError::Key(e.0);
        let mut parameters = Writer::new();
        // TPM2B_SENSITIVE_CREATE: size 4, empty userAuth, empty data.
        parameters.u16(4).u16(0).u16(0);
        parameters.tpm2b(template).map_err(marshal)?;
        parameters.u16(0); // outsideInfo
        parameters.u32(0); // creationPCR: none
        let command = Command::new(NAME, TPM_CC_CREATE_PRIMARY)
            .authorized_handle(hierarchy)
            .parameters(parameters);
        let response = self.execute(&command, 1)?;
        // outPublic first; creation data, hash, ticket and name follow and are not needed.
        let public = Reader::new(&response.parameters)
            .tpm2b("outPublic")
            .map_err(TpmError::malformed(NAME))?;
        Ok((response.handles[0], public.to_vec()))
    }

    /// The TPMT_PUBLIC of the loaded or persistent object `handle`.
    pub fn read_public(&mut self, handle: u32) -> Result<Vec<u8>, TpmError> {
        const NAME: &str = "TPM2_ReadPublic";
        let response = self.execute(
            &Command::new(NAME, TPM_CC_READ_PUBLIC).handles(&[handle]),
            0,
        )?;
        let mut reader = Reader::new(&response.parameters);
        let parse = |reader: &mut Reader<'_>| -> Result<Vec<u8>, super::wire::WireError> {
            let public = reader.tpm2b("outPublic")?.to_vec();
            reader.tpm2b("name")?;
            reader.tpm2b("qualifiedName")?;
            reader.finish("ReadPublic response")?;
            Ok(public)
        };
        parse(&mut reader).map_err(TpmError::malformed(NAME))
    }

    /// Frees the transient object `handle` (the TPM has room for only a few).
    pub fn flush_context(&mut self, handle: u32) -> Result<(), TpmError> {
        let mut parameters = Writer::new();
        parameters.u32(handle);
        let command =
            Command::new("TPM2_FlushContext", TPM_CC_FLUSH_CONTEXT).parameters(parameters);
        self.execute(&command, 0)?;
        Ok(())
    }
}
