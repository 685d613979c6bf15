//! Reading request bodies under a limit, and HTML/OAuth2 form encoding: shared by the web doors
//! (the HTTP API's token endpoint and the upload page's forms).
//!
//! A door puts its request's deadline on the request ([`BodyDeadline`], in its extensions)
//! when it starts handling it; every body read here ([`read_body`], [`timed_body`]) ends with
//! [`BodyTimedOut`] when the body is not complete by then, so a client that stalls while
//! sending is told 408 (its fault), never a system error.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::CONTENT_LENGTH;
use hyper::Request;
use tokio::time::{Instant, Sleep};

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the limit (declared or actual).
    TooLarge,
    /// Not complete by the request's deadline: the client stalled or was too slow.
    TimedOut,
    /// The connection broke or the framing was bad.
    Broken(String),
}

/// When a request's body must have arrived in full (a request extension set by the door).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Instant);

/// The error of a body read past its [`BodyDeadline`].
#[derive(Debug)]
pub struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl Error for BodyTimedOut {}

/// A request's body that fails with [`BodyTimedOut`] once its deadline has passed without it
/// being complete (no deadline on the request: no time limit here).
pub struct TimedBody {
    inner: Incoming,
    deadline: Option<(Instant, Pin<Box<Sleep>>)>,
}

/// The body of `req`, bounded by the request's [`BodyDeadline`].
pub fn timed_body(req: Request<Incoming>) -> TimedBody {
    let deadline = req
        .extensions()
        .get::<BodyDeadline>()
        .map(|d| (d.0, Box::pin(tokio::time::sleep_until(d.0))));
    TimedBody {
        inner: req.into_body(),
        deadline,
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                let Some((at, sleep)) = &mut this.deadline else {
                    return Poll::Pending;
                };
                // The clock is read too: a caller woken by its own timer at the same deadline
                // sees the body's time out, whichever of the two timers fired first.
                if sleep.as_mut().poll(cx).is_ready() || Instant::now() >= *at {
                    Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The whole body, refusing one over `limit` bytes before reading it when its length is
/// declared, and as soon as it passes the limit otherwise; [`BodyError::TimedOut`] when it is
/// not complete by the request's [`BodyDeadline`].
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    if declared_length(&req).is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(timed_body(req), limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) if e.is::<BodyTimedOut>() => Err(BodyError::TimedOut),
        Err(e) => Err(BodyError::Broken(e.to_string())),
    }
}

/// The `Content-Length` a request declares, if any.
pub fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// One `application/x-www-form-urlencoded` component (`+` is a space).
pub fn form_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

/// `application/x-www-form-urlencoded` pairs, in order.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

/// The value of the first field `name` of a parsed form ("" when absent).
pub fn form_field(form: &[(String, String)], name: &str) -> String {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        assert_eq!(
            parse_form(b"grant_type=password&username=a%40b&password=p+w%26x&x"),
            vec![
                ("grant_type".to_string(), "password".to_string()),
                ("username".to_string(), "a@b".to_string()),
                ("password".to_string(), "p w&x".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        let form = parse_form(b"a=1&b=2&a=3");
        assert_eq!(form_field(&form, "a"), "1", "the first one counts");
        assert_eq!(form_field(&form, "c"), "");
    }
}
