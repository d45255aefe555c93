//! How command bytes reach a TPM: the kernel's character device (`/dev/tpmrm0`: one `write` is one
//! command, one `read` one whole response) or a Unix stream socket carrying raw TPM commands (swtpm's
//! `--server type=unixio` data channel: no framing beyond the TPM header's own size field).
//!
//! The connection stays open for the attester's life: through the kernel's resource manager
//! (`/dev/tpmrm0`) transient objects such as the attestation key are flushed when the file is closed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::TpmError;

/// The largest response accepted: the kernel's TPM_BUFSIZE, which no command used here comes near
/// (a CreatePrimary answer with an RSA-2048 key is under 1 KiB; NV chunks are capped at 2 KiB).
pub const MAX_RESPONSE: usize = 4096;
/// Every response starts with tag (2), size (4) and response code (4).
pub const HEADER_LEN: usize = 10;
/// A hardware TPM may take tens of seconds to generate an RSA key; a socket peer that says nothing
/// for this long is gone.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
enum Channel {
    Device(File),
    Socket(UnixStream),
}

#[derive(Debug)]
pub struct Transport {
    path: PathBuf,
    channel: Channel,
    /// Set when a socket response could not be framed: later bytes would be read out of step.
    desynchronized: bool,
}

impl Transport {
    /// Opens the character device or connects to the socket at `path`.
    pub fn open(path: &Path) -> Result<Transport, TpmError> {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TpmError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(TpmError::Open {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let file_type = metadata.file_type();
        let open_error = |source| TpmError::Open {
            path: path.to_owned(),
            source,
        };
        let channel = if file_type.is_char_device() {
            Channel::Device(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(open_error)?,
            )
        } else if file_type.is_socket() {
            let stream = UnixStream::connect(path).map_err(open_error)?;
            stream
                .set_read_timeout(Some(SOCKET_TIMEOUT))
                .map_err(open_error)?;
            stream
                .set_write_timeout(Some(SOCKET_TIMEOUT))
                .map_err(open_error)?;
            Channel::Socket(stream)
        } else {
            return Err(TpmError::NotATpm {
                path: path.to_owned(),
                problem: "neither a character device (/dev/tpmrm0) nor a Unix socket (swtpm)"
                    .into(),
            });
        };
        Ok(Transport {
            path: path.to_owned(),
            channel,
            desynchronized: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one command and returns its whole response, header included, after checking that the
    /// header's size matches the bytes received and stays within [`MAX_RESPONSE`].
    pub fn transact(&mut self, command: &'static str, bytes: &[u8]) -> Result<Vec<u8>, TpmError> {
        if self.desynchronized {
            return Err(TpmError::Malformed {
                command,
                problem: "the TPM socket is out of step after an earlier malformed response; \
                          restart the server"
                    .into(),
            });
        }
        let io_error = |source| TpmError::Io { command, source };
        match &mut self.channel {
            Channel::Device(file) => {
                // The driver takes a command only whole, in one write.
                let written = file.write(bytes).map_err(io_error)?;
                if written != bytes.len() {
                    return Err(TpmError::Malformed {
                        command,
                        problem: format!("the device took {written} of {} bytes", bytes.len()),
                    });
                }
                let mut buffer = vec![0u8; MAX_RESPONSE];
                let read = file.read(&mut buffer).map_err(io_error)?;
                buffer.truncate(read);
                check_size(command, &buffer, read)?;
                Ok(buffer)
            }
            Channel::Socket(stream) => {
                stream.write_all(bytes).map_err(io_error)?;
                let mut buffer = vec![0u8; HEADER_LEN];
                if let Err(source) = stream.read_exact(&mut buffer) {
                    self.desynchronized = true;
                    return Err(truncated_or_io(command, source));
                }
                let size = declared_size(&buffer);
                if let Err(error) = check_declared(command, size) {
                    self.desynchronized = true;
                    return Err(error);
                }
                buffer.resize(size, 0);
                if let Err(source) = stream.read_exact(&mut buffer[HEADER_LEN..]) {
                    self.desynchronized = true;
                    return Err(truncated_or_io(command, source));
                }
                Ok(buffer)
            }
        }
    }
}

fn declared_size(header: &[u8]) -> usize {
    u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize
}

fn check_declared(command: &'static str, size: usize) -> Result<(), TpmError> {
    if !(HEADER_LEN..=MAX_RESPONSE).contains(&size) {
        return Err(TpmError::Malformed {
            command,
            problem: format!(
                "the response header declares {size} bytes (accepted: {HEADER_LEN} to {MAX_RESPONSE})"
            ),
        });
    }
    Ok(())
}

/// A device read must hold exactly the response its header declares.
fn check_size(command: &'static str, response: &[u8], read: usize) -> Result<(), TpmError> {
    if read < HEADER_LEN {
        return Err(TpmError::Malformed {
            command,
            problem: format!("the response is {read} bytes, shorter than a header"),
        });
    }
    let size = declared_size(response);
    check_declared(command, size)?;
    if size != read {
        return Err(TpmError::Malformed {
            command,
            problem: format!("the header declares {size} bytes but {read} were read"),
        });
    }
    Ok(())
}

fn truncated_or_io(command: &'static str, source: io::Error) -> TpmError {
    if source.kind() == io::ErrorKind::UnexpectedEof {
        TpmError::Malformed {
            command,
            problem: "the TPM closed the connection in the middle of a response (truncated)".into(),
        }
    } else {
        TpmError::Io { command, source }
    }
}
