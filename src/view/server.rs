//! The viewer's HTTP/1.1 server (hyper): bound to 127.0.0.1 only, GET and HEAD only, each
//! request answered by [`Viewer::get`] on a blocking thread. Pages may run their own inline
//! script and nothing else (a content security policy without any other origin); a report file
//! is served as an image or as plain text, in a sandbox, never as a page.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::pages::error_page;
use super::{Mode, Reply, ViewError, Viewer};

/// The largest report file served whole (a screenshot, a diff, a transcript).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

const PAGE_POLICY: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const FILE_POLICY: &str = "default-src 'none'; img-src 'self'; sandbox";

/// A listener on 127.0.0.1 (`port` 0: any free port). There is no way to bind elsewhere: the
/// viewer serves agents' output to whoever connects.
pub async fn bind(port: u16) -> Result<TcpListener, ViewError> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|source| ViewError::Bind { port, source })
}

/// Serves `viewer` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, viewer: Arc<Viewer>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of descriptors, a connection reset before it was accepted: the listener
            // itself is fine, so wait a moment rather than spin.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let viewer = Arc::clone(&viewer);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let viewer = Arc::clone(&viewer);
                async move { Ok::<_, Infallible>(respond(viewer, request).await) }
            });
            // A client that goes away mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Whether a request is addressed to this machine's loopback by name: a page elsewhere that
/// points its own name at 127.0.0.1 (DNS rebinding) sends its own name, and is refused.
fn addressed_to_loopback<B>(request: &Request<B>) -> bool {
    let Some(host) = request.headers().get(HOST) else {
        // HTTP/1.0 without a Host header: not a browser.
        return true;
    };
    let host = host.to_str().unwrap_or_default();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

async fn respond(viewer: Arc<Viewer>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if !addressed_to_loopback(&request) {
        return plain(
            StatusCode::FORBIDDEN,
            "the viewer answers requests addressed to 127.0.0.1 or localhost only",
        );
    }
    let head = request.method() == Method::HEAD;
    if request.method() != Method::GET && !head {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the viewer is read-only: GET and HEAD only",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let answered = tokio::task::spawn_blocking(move || {
        let reply = viewer.get(&path, query.as_deref(), Mode::Server);
        match reply {
            Reply::File { path, content_type } => {
                let read = std::fs::metadata(&path).and_then(|metadata| {
                    if metadata.len() > MAX_FILE_BYTES {
                        Err(std::io::Error::other(format!(
                            "{} bytes, more than the viewer serves",
                            metadata.len()
                        )))
                    } else {
                        std::fs::read(&path)
                    }
                });
                match read {
                    Ok(bytes) => Ok((bytes, content_type)),
                    Err(e) => Err(Reply::NotFound(format!(
                        "cannot read `{}`: {e}",
                        path.display()
                    ))),
                }
            }
            other => Err(other),
        }
    })
    .await;
    let mut response = match answered {
        Ok(Ok((bytes, content_type))) => {
            let mut response = Response::new(Full::new(Bytes::from(bytes)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                "content-security-policy",
                HeaderValue::from_static(FILE_POLICY),
            );
            response
        }
        Ok(Err(Reply::Html(html))) => page(StatusCode::OK, html),
        Ok(Err(Reply::NotFound(message))) => {
            page(StatusCode::NOT_FOUND, error_page("Not found", &message))
        }
        Ok(Err(Reply::Forbidden(message))) => {
            page(StatusCode::FORBIDDEN, error_page("Refused", &message))
        }
        Ok(Err(Reply::File { .. })) | Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be made",
        ),
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    if head {
        let length = hyper::body::Body::size_hint(response.body()).exact();
        *response.body_mut() = Full::new(Bytes::new());
        if let Some(length) = length {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    response
}

fn page(status: StatusCode, html: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(PAGE_POLICY),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
