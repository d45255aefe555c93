//! Everything that can go wrong talking to a TPM, each naming the command or file involved.

use std::path::PathBuf;

use super::rc;

#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    #[error("no TPM at {}", path.display())]
    Missing { path: PathBuf },
    #[error("{}: {problem}", path.display())]
    NotATpm { path: PathBuf, problem: String },
    #[error("cannot open the TPM at {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{command}: TPM I/O failed: {source}")]
    Io {
        command: &'static str,
        source: std::io::Error,
    },
    #[error("{command} failed: {} (response code {rc:#x})", rc::describe(*rc))]
    Response { command: &'static str, rc: u32 },
    #[error("{command}: malformed TPM response: {problem}")]
    Malformed {
        command: &'static str,
        problem: String,
    },
    #[error("NV index {index:#010x}: {problem}")]
    Nv { index: u32, problem: String },
    #[error("attestation key: {0}")]
    Key(String),
    #[error("the PCRs kept changing while they were quoted ({attempts} attempts); retry")]
    PcrsKeptChanging { attempts: usize },
    #[error("event log {}: {problem}", path.display())]
    EventLog { path: PathBuf, problem: String },
    #[error("Azure TD quote from {url}: {problem}")]
    AzureTdQuote { url: String, problem: String },
}

impl TpmError {
    /// For `map_err`: a response part of `command` that did not parse.
    pub fn malformed(command: &'static str) -> impl Fn(super::wire::WireError) -> TpmError + Copy {
        move |e| TpmError::Malformed {
            command,
            problem: e.0,
        }
    }

    /// The TPM's response code, when the TPM answered with one.
    pub fn response_code(&self) -> Option<u32> {
        match self {
            TpmError::Response { rc, .. } => Some(*rc),
            _ => None,
        }
    }
}
