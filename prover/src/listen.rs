//! Listening addresses: TCP, and AF_VSOCK for Nitro Enclaves (which have no network; a host proxy
//! forwards TCP to the enclave's vsock port).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_vsock::{VsockAddr, VsockListener, VMADDR_CID_ANY};

/// One `--listen` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Vsock { cid: u32, port: u32 },
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = "expected tcp:ADDR:PORT (e.g. tcp:0.0.0.0:6300), vsock:PORT or vsock:CID:PORT";
        let (scheme, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        match scheme {
            "tcp" => rest
                .parse()
                .map(ListenAddr::Tcp)
                .map_err(|e| format!("{text:?}: {e}; {usage}")),
            "vsock" => {
                let number = |s: &str| {
                    s.parse::<u32>()
                        .map_err(|e| format!("{text:?}: {s:?} is not a number ({e}); {usage}"))
                };
                match rest.split_once(':') {
                    None => Ok(ListenAddr::Vsock {
                        cid: VMADDR_CID_ANY,
                        port: number(rest)?,
                    }),
                    Some((cid, port)) => Ok(ListenAddr::Vsock {
                        cid: number(cid)?,
                        port: number(port)?,
                    }),
                }
            }
            _ => Err(format!("{text:?}: unknown scheme {scheme:?}; {usage}")),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "tcp:{addr}"),
            ListenAddr::Vsock { cid, port } if *cid == VMADDR_CID_ANY => write!(f, "vsock:{port}"),
            ListenAddr::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

/// A bound listener of either kind.
pub enum Listener {
    Tcp(TcpListener),
    Vsock(VsockListener),
}

/// A byte stream from either kind of listener.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

impl Listener {
    pub async fn bind(addr: ListenAddr) -> std::io::Result<Listener> {
        match addr {
            ListenAddr::Tcp(socket) => TcpListener::bind(socket).await.map(Listener::Tcp),
            ListenAddr::Vsock { cid, port } => {
                VsockListener::bind(VsockAddr::new(cid, port)).map(Listener::Vsock)
            }
        }
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<ListenAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().map(ListenAddr::Tcp),
            Listener::Vsock(listener) => listener.local_addr().map(|addr| ListenAddr::Vsock {
                cid: addr.cid(),
                port: addr.port(),
            }),
        }
    }

    /// Waits for the next connection; the string names the peer for logs.
    pub async fn accept(&self) -> std::io::Result<(Box<dyn Connection>, String)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                // Proof requests are single large writes; Nagle only adds latency.
                stream.set_nodelay(true)?;
                Ok((Box::new(stream), peer.to_string()))
            }
            Listener::Vsock(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((
                    Box::new(stream),
                    format!("vsock:{}:{}", peer.cid(), peer.port()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for text in [
            "tcp:0.0.0.0:6300",
            "tcp:[::1]:7000",
            "vsock:6300",
            "vsock:16:5000",
        ] {
            let addr: ListenAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert_eq!(
            "vsock:6300".parse::<ListenAddr>().unwrap(),
            ListenAddr::Vsock {
                cid: VMADDR_CID_ANY,
                port: 6300
            }
        );
        for bad in [
            "6300",
            "tcp:6300",
            "vsock:x",
            "vsock:1:2:3",
            "unix:/tmp/s",
            "tcp:host:1",
        ] {
            let err = bad.parse::<ListenAddr>().unwrap_err();
            assert!(err.contains("expected tcp:ADDR:PORT"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn binds_tcp_and_vsock() {
        let tcp = Listener::bind("tcp:127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        assert!(matches!(tcp.local_addr().unwrap(), ListenAddr::Tcp(a) if a.port() != 0));
        // AF_VSOCK exists on Linux hosts even without a hypervisor transport; binding must work.
        let vsock = Listener::bind("vsock:0".parse().unwrap()).await.unwrap();
        assert!(matches!(
            vsock.local_addr().unwrap(),
            ListenAddr::Vsock { .. }
        ));
    }
}
