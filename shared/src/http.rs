//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, for the client SDK's login, the
//! load-test bots and tests: one request per connection (`Connection: close`), the body framed by
//! `Content-Length` when the server sends one, else read to end of stream. Chunked transfer
//! encoding is not supported (the Starforge server always sends `Content-Length`) and is reported
//! as an error rather than misread.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The connect, read and write timeout of [`get`] and [`post_json`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response accepted (head and body), in bytes.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// An HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// `GET path` with [`DEFAULT_TIMEOUT`].
pub fn get(addr: SocketAddr, path: &str) -> io::Result<Response> {
    request(addr, "GET", path, &[], None, DEFAULT_TIMEOUT)
}

/// `POST path` with `body` serialized as JSON and [`DEFAULT_TIMEOUT`].
pub fn post_json(addr: SocketAddr, path: &str, body: &impl serde::Serialize) -> io::Result<Response> {
    let bytes = serde_json::to_vec(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    request(addr, "POST", path, &[("Content-Type", "application/json")], Some(&bytes), DEFAULT_TIMEOUT)
}

/// Sends one request on a new connection and reads the whole response.
///
/// `Host`, `Connection: close` and (with a body) `Content-Length` are added; `headers` must not
/// repeat them. `timeout` applies to connecting and to each read and write. Errors: I/O errors,
/// `InvalidInput` for a CR or LF in the method, path or headers, `InvalidData` for a response
/// that is not HTTP/1.x, is larger than [`MAX_RESPONSE_BYTES`] or is chunked, `UnexpectedEof` for
/// a body shorter than its `Content-Length`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Response> {
    let fields = [method, path].into_iter().chain(headers.iter().flat_map(|(n, v)| [*n, *v]));
    if fields.clone().any(|f| f.contains(['\r', '\n'])) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "CR or LF in the request line or a header"));
    }
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");

    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let mut out = head.into_bytes();
    out.extend_from_slice(body.unwrap_or_default());
    // A server may answer early (e.g. 413 before reading a large body) and close: still read
    // what it said before reporting the write error.
    let written = stream.write_all(&out).and_then(|()| stream.flush());

    let mut raw = Vec::new();
    let read = (&mut stream).take(MAX_RESPONSE_BYTES + 1).read_to_end(&mut raw);
    match (written, read) {
        (Err(e), _) if raw.is_empty() => return Err(e),
        // A reset after the server's answer (it closed with our unread bytes still queued):
        // what arrived is the answer; `parse_response` catches a truncated one.
        (_, Err(e)) if raw.is_empty() || !is_reset(&e) => return Err(e),
        _ => {}
    }
    if raw.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(invalid(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
    }
    parse_response(&raw)
}

/// Why a request to a server named by URL failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host:port[/prefix]`.
    #[error("bad server URL {0:?}: expected http://HOST:PORT")]
    Url(String),
    /// Resolving, connecting, sending or receiving failed, or the answer is not HTTP.
    #[error("HTTP request to {addr} failed: {source}")]
    Io {
        /// Server address.
        addr: String,
        /// Cause.
        source: io::Error,
    },
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

/// [`request`] to a server given by its base URL (`http://host:port[/prefix]`), with `body` sent
/// as JSON when given.
pub fn request_url(
    method: &str,
    base_url: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let (host, prefix) = split_url(base_url)?;
    let io = |source| HttpError::Io { addr: host.clone(), source };
    let addr = host.to_socket_addrs().map_err(io)?.next().ok_or_else(|| HttpError::Url(base_url.to_owned()))?;
    let headers: &[(&str, &str)] = if body.is_some() { &[("Content-Type", "application/json")] } else { &[] };
    request(addr, method, &format!("{prefix}{path}"), headers, body.map(str::as_bytes), timeout).map_err(io)
}

fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Parses a complete response (everything up to the end of the stream).
pub fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "response ended before the end of its headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| invalid("response head is not UTF-8"))?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("not an HTTP/1.x response: {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| invalid(format!("bad status line: {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| invalid(format!("bad header line: {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let response = Response { status, headers, body: Vec::new() };
    if let Some(te) = response.header("transfer-encoding")
        && !te.eq_ignore_ascii_case("identity")
    {
        return Err(invalid(format!("unsupported transfer encoding {te:?}")));
    }
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        &[][..]
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        rest.get(..len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("body truncated: Content-Length {len}, received {}", rest.len()),
            )
        })?
    } else {
        rest
    };
    Ok(Response { body: body.to_vec(), ..response })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_read_to_end() {
        let r = parse_response(b"HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
            .expect("response");
        assert_eq!(r.status, 201);
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(r.text(), "hello");
        // Without Content-Length the body runs to the end of the stream.
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nall of it").expect("response");
        assert_eq!(r.body, b"all of it");
        // Extra bytes after Content-Length are ignored.
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokjunk").expect("response");
        assert_eq!(r.body, b"ok");
        let r = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n").expect("response");
        assert!(r.body.is_empty());
    }

    #[test]
    fn rejects_bad_responses() {
        let kind = |raw: &[u8]| parse_response(raw).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"), Err(io::ErrorKind::UnexpectedEof));
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nContent-Length: 5"), Err(io::ErrorKind::UnexpectedEof));
        assert_eq!(kind(b""), Err(io::ErrorKind::UnexpectedEof));
        assert_eq!(kind(b"SSH-2.0-OpenSSH\r\n\r\n"), Err(io::ErrorKind::InvalidData));
        assert_eq!(kind(b"HTTP/1.1 abc OK\r\n\r\n"), Err(io::ErrorKind::InvalidData));
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), Err(io::ErrorKind::InvalidData));
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n"), Err(io::ErrorKind::InvalidData));
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            Err(io::ErrorKind::InvalidData)
        );
    }

    #[test]
    fn urls() {
        assert_eq!(split_url("http://127.0.0.1:7000").expect("ok"), ("127.0.0.1:7000".into(), String::new()));
        assert_eq!(split_url("127.0.0.1:7000/api/").expect("ok"), ("127.0.0.1:7000".into(), "/api".into()));
        assert!(split_url("http://nohost").is_err());
    }

    #[test]
    fn refuses_header_injection() {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let err = request(addr, "GET", "/x\r\nEvil: 1", &[], None, DEFAULT_TIMEOUT).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = request(addr, "GET", "/", &[("A", "b\nc")], None, DEFAULT_TIMEOUT).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
