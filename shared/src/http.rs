//! A minimal blocking HTTP/1.1 client for the login call (`Connection: close`, bodies with
//! `Content-Length` or read to the end), so the SDK needs no HTTP stack.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host:port[/path]`.
    #[error("bad server URL {0:?}: expected http://HOST:PORT")]
    Url(String),
    /// Connecting, sending or receiving failed.
    #[error("HTTP request to {addr} failed: {source}")]
    Io {
        /// Server address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The answer is not HTTP.
    #[error("malformed HTTP response from {0}")]
    Malformed(String),
}

/// Splits `http://host:port/prefix` into `("host:port", "/prefix")`.
pub fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() || !host.contains(':') {
        return Err(HttpError::Url(url.to_owned()));
    }
    Ok((host.to_owned(), path.to_owned()))
}

/// Sends one request (`body` as JSON when given) and reads the whole response.
pub fn request(
    method: &str,
    base_url: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let (host, prefix) = split_url(base_url)?;
    let io = |source| HttpError::Io { addr: host.clone(), source };
    let addr = host.to_socket_addrs().map_err(io)?.next().ok_or_else(|| HttpError::Url(base_url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {prefix}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse_response(&raw).ok_or_else(|| HttpError::Malformed(host.clone()))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = &raw[end + 4..];
    for line in head.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            let n: usize = v.trim().parse().ok()?;
            body = body.get(..n)?;
        }
    }
    Some(Response { status, body: String::from_utf8_lossy(body).into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse_response(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 5\r\n\r\nhello+junk").expect("parses");
        assert_eq!(r, Response { status: 401, body: "hello".into() });
        assert!(parse_response(b"garbage").is_none());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort").is_none());
    }

    #[test]
    fn urls() {
        assert_eq!(split_url("http://127.0.0.1:7000").expect("ok"), ("127.0.0.1:7000".into(), String::new()));
        assert_eq!(split_url("127.0.0.1:7000/api/").expect("ok"), ("127.0.0.1:7000".into(), "/api".into()));
        assert!(split_url("http://nohost").is_err());
    }
}
