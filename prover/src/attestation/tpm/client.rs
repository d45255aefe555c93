//! Command framing and response unframing (TPM 2.0 Library Part 1, 18; Part 3, 5): a header, the
//! handle area, for commands that need authorization one password session per authorized handle,
//! and the parameters.

use std::time::Duration;

use super::transport::{Transport, HEADER_LEN};
use super::wire::{Reader, Writer};
use super::{rc, TpmError};

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
/// The password session: authorization by a plain (here empty) password, no HMAC, no nonces.
const TPM_RS_PW: u32 = 0x4000_0009;
/// How often a warning like TPM_RC_RETRY or TPM_RC_YIELDED is answered by sending again.
const RETRIES: usize = 5;

/// A command ready to be framed.
#[derive(Debug, Clone)]
pub struct Command {
    /// For errors: "TPM2_Quote".
    pub name: &'static str,
    pub code: u32,
    pub handles: Vec<u32>,
    /// How many of the leading handles need authorization (each gets an empty-password session).
    pub authorized: usize,
    pub parameters: Vec<u8>,
}

impl Command {
    /// A command with no handles, sessions or parameters yet.
    pub fn new(name: &'static str, code: u32) -> Command {
        Command {
            name,
            code,
            handles: Vec::new(),
            authorized: 0,
            parameters: Vec::new(),
        }
    }

    /// Handles that need no authorization.
    pub fn handles(mut self, handles: &[u32]) -> Command {
        self.handles.extend_from_slice(handles);
        self
    }

    /// A handle authorized by an empty-password session (comes before any plain handles).
    pub fn authorized_handle(mut self, handle: u32) -> Command {
        self.handles.insert(self.authorized, handle);
        self.authorized += 1;
        self
    }

    pub fn parameters(mut self, parameters: Writer) -> Command {
        self.parameters = parameters.into_bytes();
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Writer::new();
        for handle in &self.handles {
            body.u32(*handle);
        }
        if self.authorized > 0 {
            // TPMS_AUTH_COMMAND: handle (4), empty nonce (2), attributes (1), empty password (2).
            body.u32(9 * self.authorized as u32);
            for _ in 0..self.authorized {
                body.u32(TPM_RS_PW).u16(0).u8(0).u16(0);
            }
        }
        body.bytes(&self.parameters);
        let tag = if self.authorized > 0 {
            TPM_ST_SESSIONS
        } else {
            TPM_ST_NO_SESSIONS
        };
        let mut framed = Writer::new();
        framed
            .u16(tag)
            .u32((HEADER_LEN + body.len()) as u32)
            .u32(self.code)
            .bytes(&body.into_bytes());
        framed.into_bytes()
    }
}

/// A successful response's handle area and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub handles: Vec<u32>,
    pub parameters: Vec<u8>,
}

/// Unframes a response to `command`, which returns `handles` handles. A non-zero response code is
/// [`TpmError::Response`]; anything that does not add up is [`TpmError::Malformed`].
pub fn parse_response(
    command: &'static str,
    bytes: &[u8],
    handles: usize,
    sessions: bool,
) -> Result<Response, TpmError> {
    let malformed = |problem: String| TpmError::Malformed { command, problem };
    let mut reader = Reader::new(bytes);
    let tag = reader.u16("tag").map_err(|e| malformed(e.0))?;
    let size = reader.u32("size").map_err(|e| malformed(e.0))?;
    let code = reader.u32("response code").map_err(|e| malformed(e.0))?;
    if size as usize != bytes.len() {
        return Err(malformed(format!(
            "the header declares {size} bytes, the response has {}",
            bytes.len()
        )));
    }
    if code != 0 {
        return Err(TpmError::Response { command, rc: code });
    }
    let expected = if sessions {
        TPM_ST_SESSIONS
    } else {
        TPM_ST_NO_SESSIONS
    };
    if tag != expected {
        return Err(malformed(format!(
            "tag {tag:#06x}, expected {expected:#06x}"
        )));
    }
    let mut handle_values = Vec::with_capacity(handles);
    for _ in 0..handles {
        handle_values.push(reader.u32("handle").map_err(|e| malformed(e.0))?);
    }
    let parameters = if sessions {
        let len = reader.u32("parameter size").map_err(|e| malformed(e.0))?;
        let parameters = reader
            .take(len as usize, "parameters")
            .map_err(|e| malformed(e.0))?;
        // One TPMS_AUTH_RESPONSE per session: nonce, attributes, hmac (all empty for a password).
        let mut auth = Reader::new(reader.remaining());
        auth.tpm2b("session nonce").map_err(|e| malformed(e.0))?;
        auth.u8("session attributes").map_err(|e| malformed(e.0))?;
        auth.tpm2b("session hmac").map_err(|e| malformed(e.0))?;
        auth.finish("authorization area")
            .map_err(|e| malformed(e.0))?;
        parameters.to_vec()
    } else {
        reader.remaining().to_vec()
    };
    Ok(Response {
        handles: handle_values,
        parameters,
    })
}

/// One open TPM.
#[derive(Debug)]
pub struct TpmClient {
    transport: Transport,
}

impl TpmClient {
    pub fn new(transport: Transport) -> TpmClient {
        TpmClient { transport }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Sends `command` and unframes its answer, sending again after a transient warning.
    pub fn execute(&mut self, command: &Command, handles: usize) -> Result<Response, TpmError> {
        let bytes = command.to_bytes();
        let mut attempt = 0;
        loop {
            let answer = self.transport.transact(command.name, &bytes)?;
            match parse_response(command.name, &answer, handles, command.authorized > 0) {
                Err(TpmError::Response { rc: code, .. })
                    if rc::is_retryable(code) && attempt < RETRIES =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20 << attempt));
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_a_password_session_and_unframes_its_answer() {
        let command = Command {
            name: "TPM2_NV_Read",
            code: 0x14E,
            handles: vec![0x4000_0001, 0x0140_0001],
            authorized: 1,
            parameters: vec![0, 8, 0, 0],
        };
        let bytes = command.to_bytes();
        assert_eq!(
            hex::encode(&bytes),
            "8002000000230000014e40000001014000010000000940000009000000000000080000"
        );
        let answer = hex::decode(
            "80020000001d000000000000000a0008010203040506070800000100 00".replace(' ', ""),
        )
        .unwrap();
        let response = parse_response("TPM2_NV_Read", &answer, 0, true).unwrap();
        assert_eq!(
            response.parameters,
            hex::decode("000801020304050607 08".replace(' ', "")).unwrap()
        );
        let error = hex::decode("80010000000a0000018b").unwrap();
        let err = parse_response("TPM2_NV_ReadPublic", &error, 0, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TPM2_NV_ReadPublic failed: TPM_RC_HANDLE (handle 1) (response code 0x18b)"
        );
        let short = hex::decode("80010000000c00000000").unwrap();
        assert!(matches!(
            parse_response("TPM2_ReadPublic", &short, 0, false),
            Err(TpmError::Malformed { .. })
        ));
    }
}
