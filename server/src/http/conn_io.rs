//! Wrappers around the socket of an accepted HTTP connection, under hyper: [`JsonErrors`] gives
//! hyper's own error answers our JSON body, [`SendTimeout`] ends connections whose client stops
//! reading.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::{ErrorResponse, MAX_HEAD_BYTES, MAX_HEADERS};

/// Gives hyper's own error answers the JSON body that PROTOCOL.md §2 promises for every error.
///
/// hyper answers a request it cannot parse by itself, before any service runs: 400 for a
/// malformed request line or header, 431 for a head over the size limits, 414 for an over-long
/// target. It writes only a head with `content-length: 0` and closes the connection
/// (`Http1Transaction::on_error` in hyper 1.12's `proto/h1/role.rs`); no builder option or hook
/// changes that answer. The alternatives were parsing request heads ourselves before hyper (a
/// second HTTP parser, the very thing hyper is for) or a patched hyper. So this wrapper
/// recognises such a head where hyper writes it and sends, in its place, the same status line and
/// headers with a JSON body `{"error": "<sentence>"}` and `connection: close`.
///
/// The recognition is narrow and cannot misfire on our own answers: a write must be exactly one
/// whole response head (nothing after the blank line), with a status of 400 or more and
/// `content-length: 0`; the router never answers an error without a body. The head reaches
/// `poll_write` whole and from its first byte because this wrapper reports no vectored writes:
/// hyper then flattens each message into one buffer and hands over what is left of it.
pub(super) struct JsonErrors<T> {
    inner: T,
    /// A replacement answer being sent, from `pending[sent..]`.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonErrors<T> {
    /// Wraps a connection's socket.
    pub(super) fn new(inner: T) -> Self {
        Self { inner, pending: Vec::new(), sent: 0 }
    }
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    /// Sends what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.sent = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some(answer) = json_error(buf) {
            // Ours replaces hyper's whole head: report that written and send ours, now as far as
            // the socket takes it, the rest from `poll_flush`, which hyper calls next.
            this.pending = answer;
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        // See the type's documentation: hyper must hand over each message in one buffer.
        false
    }
}

/// If `buf` is exactly one response head with a status of 400 or more and `content-length: 0`
/// (hyper's own error answer), the same answer with our JSON body.
fn json_error(buf: &[u8]) -> Option<Vec<u8>> {
    // A cheap test first: every answer passes through here.
    if !(buf.starts_with(b"HTTP/1.") && buf.len() <= 4096 && buf.ends_with(b"\r\n\r\n")) {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None; // a head and more: not one bodiless answer
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.get(9..12)?.parse().ok()?;
    if status < 400 || !matches!(status_line.get(..9), Some("HTTP/1.1 " | "HTTP/1.0 ")) {
        return None;
    }
    let mut empty = false;
    let mut kept = String::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let is = |h: &str| name.trim().eq_ignore_ascii_case(h);
        if is("content-length") && value.trim() == "0" {
            empty = true;
        } else if is("content-length") || is("transfer-encoding") {
            return None;
        } else if !is("content-type") && !is("connection") {
            kept.push_str(line);
            kept.push_str("\r\n");
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::to_string(&ErrorResponse { error: framing_error(status) }).ok()?;
    let length = body.len();
    Some(
        format!(
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n{kept}\r\n{body}"
        )
        .into_bytes(),
    )
}

/// The sentence for an answer hyper gives by itself.
fn framing_error(status: u16) -> String {
    match status {
        400 => "the request is not valid HTTP/1.1: malformed request line or headers".to_string(),
        414 => "the request target (URI) is too long".to_string(),
        431 => format!(
            "the request line and headers are too large: at most {MAX_HEAD_BYTES} bytes and {MAX_HEADERS} headers"
        ),
        _ => format!("the request could not be handled (HTTP status {status})"),
    }
}

/// Ends a connection whose client stops reading: a write, flush or shutdown that makes no
/// progress for `limit` fails with `TimedOut`, and hyper drops the connection.
///
/// hyper has no write timeout. Without this, a client that sends requests and never reads the
/// answers (pipelining `GET /metrics`, say) would hold its connection, and its slot under
/// `--http-max-connections`, forever once the socket buffers are full.
pub(super) struct SendTimeout<T> {
    inner: T,
    limit: Duration,
    /// Running while the socket takes nothing.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    /// Wraps a connection's socket.
    pub(super) fn new(inner: T, limit: Duration) -> Self {
        Self { inner, limit, stall: None }
    }

    /// Passes on `poll`, or the timeout when the socket has taken nothing for `limit`.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stall = None;
            return poll;
        }
        let limit = self.limit;
        let stall = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if stall.as_mut().poll(cx).is_ready() {
            self.stall = None;
            let message = format!("the client read nothing of the answer for {} s", limit.as_secs_f64());
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, message)));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::json_error;

    const HYPER_400: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";

    #[test]
    fn hyper_error_heads_get_a_json_body() {
        let answer = String::from_utf8(json_error(HYPER_400).expect("rewritten")).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: application/json\r\n"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n") && head.contains("\r\ndate: Sun"), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert!(v["error"].as_str().expect("error").contains("malformed"), "{v}");
    }

    #[test]
    fn other_writes_pass_untouched() {
        let cases: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            b"{\"error\":\"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
        ];
        for case in cases {
            assert!(json_error(case).is_none(), "{:?}", String::from_utf8_lossy(case));
        }
    }
}
