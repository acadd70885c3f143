//! A raw-socket client: sends bytes exactly as given (no URL parser in
//! between, which would clean a path up before the gateway sees it) and
//! reads what comes back.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a raw exchange may take before the test gives up on it (a
/// safety net against a hang, not an assertion).
const GIVE_UP: Duration = Duration::from_secs(30);

/// A request `METHOD target HTTP/1.1` with `Host` and `Connection: close`,
/// `headers` (`"Name: value"` lines) and `body` (with its Content-Length
/// unless `headers` frame it).
pub fn request(method: &str, target: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out =
        format!("{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n")
            .into_bytes();
    for header in headers {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let framed = headers.iter().any(|h| {
        let lower = h.to_ascii_lowercase();
        lower.starts_with("content-length:") || lower.starts_with("transfer-encoding:")
    });
    if !framed && !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Sends `bytes` on a new connection to `origin` (`http://HOST:PORT`) and
/// returns everything read until the server closes it (or resets it).
pub async fn exchange(origin: &str, bytes: &[u8]) -> Vec<u8> {
    let addr = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.split();
    let write = async {
        // The server may answer and close before it has read everything.
        let _ = writer.write_all(bytes).await;
        let _ = writer.flush().await;
    };
    let read = async {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        answer
    };
    let (_, answer) = tokio::time::timeout(GIVE_UP, async { tokio::join!(write, read) })
        .await
        .expect("the gateway neither answered nor closed the connection");
    answer
}

/// Sends `bytes` and returns the status of every response read back, in
/// order (a pipelined exchange gets several; a body that happens to hold
/// `HTTP/1.1 NNN ` would count too, which the tests' bodies do not).
pub async fn statuses(origin: &str, bytes: &[u8]) -> Vec<u16> {
    let answer = exchange(origin, bytes).await;
    let text = String::from_utf8_lossy(&answer);
    text.match_indices("HTTP/1.1 ")
        .filter(|(at, _)| text.get(at + 12..at + 13) == Some(" "))
        .filter_map(|(at, _)| text.get(at + 9..at + 12)?.parse().ok())
        .collect()
}

/// The status of the one response to `bytes`, `None` when the server
/// closed the connection without answering.
pub async fn status(origin: &str, bytes: &[u8]) -> Option<u16> {
    statuses(origin, bytes).await.first().copied()
}

/// The whole answer to `bytes`, as text.
pub async fn text(origin: &str, bytes: &[u8]) -> String {
    String::from_utf8_lossy(&exchange(origin, bytes).await).into_owned()
}
