//! The firmware's TCG event log (`binary_bios_measurements`): what lets a verifier see which
//! measurements make up PCRs 0-9 rather than only their final values.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::TpmError;

/// A UEFI event log is tens of KiB; securityfs does not report a size, so read up to a bound.
pub const MAX_EVENT_LOG: u64 = 1 << 20;

/// The log, or None when the kernel exposes none (no TPM driver, no securityfs in a container):
/// the wallet then judges the PCR values alone. Unreadable or oversized logs are errors.
pub fn read_event_log(path: &Path) -> Result<Option<Vec<u8>>, TpmError> {
    let error = |problem: String| TpmError::EventLog {
        path: path.to_owned(),
        problem,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "no TPM event log: the evidence carries PCR values only");
            return Ok(None);
        }
        Err(e) => return Err(error(format!("cannot open it: {e}"))),
    };
    let mut log = Vec::new();
    file.take(MAX_EVENT_LOG + 1)
        .read_to_end(&mut log)
        .map_err(|e| error(format!("cannot read it: {e}")))?;
    if log.len() as u64 > MAX_EVENT_LOG {
        return Err(error(format!(
            "larger than {MAX_EVENT_LOG} bytes; not a firmware event log"
        )));
    }
    Ok(Some(log))
}
