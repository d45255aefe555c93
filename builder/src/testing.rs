//! Helpers shared by the builder's and the CLI's tests: real servers on loopback, no mocks.

pub mod release;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// An HTTP server on 127.0.0.1 answering `GET path` with `body` (other paths: 404), for up to
/// `requests` connections, on a thread of its own; returns its base URL (`http://127.0.0.1:PORT`).
pub fn serve_file(path: &'static str, body: Vec<u8>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            if BufReader::new(&stream).read_line(&mut request).is_err() {
                continue;
            }
            let found = request.split(' ').nth(1) == Some(path);
            let (status, content): (&str, &[u8]) = if found {
                ("200 OK", &body)
            } else {
                ("404 Not Found", b"")
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                content.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(content);
        }
    });
    format!("http://{address}")
}
