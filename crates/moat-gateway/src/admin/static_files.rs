//! Serving the console: its embedded files, with a strict content
//! security policy (no inline script or style, nothing from elsewhere).

use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::console;

/// `/` and `/console` → `/console/`.
pub(crate) async fn redirect() -> Redirect {
    Redirect::to("/console/")
}

/// `/console/`.
pub(crate) async fn index() -> Response {
    serve("index.html")
}

/// `/console/{file}`.
pub(crate) async fn file(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(path: &str) -> Response {
    let Some((content_type, bytes)) = console::asset(path) else {
        return (StatusCode::NOT_FOUND, "no such console file\n").into_response();
    };
    let mut resp = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response();
    for (name, value) in console::HEADERS {
        resp.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    resp
}
