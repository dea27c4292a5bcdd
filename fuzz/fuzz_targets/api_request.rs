//! Every API request through the router, as the daemon serves it: the real control plane
//! over a real SQLite store (not started, so no tunnel is brought up), with the admin
//! token. The input is a request as text: `METHOD /path?query`, a newline, then the body
//! (sent as JSON). Whatever it is, the answer is a status below 500: a bad request is the
//! client's error, and nothing it holds may make the gateway fail.
//!
//! The store starts with a tunnel `wg0` and its peer 1, so paths reach real objects, and
//! keeps what inputs create; it is started afresh every `RESET_EVERY` inputs so it stays
//! small (a crash input is replayed against the fresh store).
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use std::sync::Mutex;
use tower::ServiceExt;
use wiregate_fuzz::api::{ADMIN_TOKEN, Gateway};

const RESET_EVERY: u32 = 20_000;

struct State {
    runtime: tokio::runtime::Runtime,
    gateway: Option<Gateway>,
    inputs: u32,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some(request) = request(data) else {
        return;
    };
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let state = state.get_or_insert_with(|| State {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
        gateway: None,
        inputs: 0,
    });
    state.inputs += 1;
    if state.inputs % RESET_EVERY == 1 {
        state.gateway = None;
        state.gateway = Some(Gateway::open());
    }
    let router = state.gateway.as_ref().expect("opened").router.clone();
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = state
        .runtime
        .block_on(router.oneshot(request))
        .expect("the router answers");
    assert!(
        !response.status().is_server_error(),
        "{method} {uri}: {}",
        response.status()
    );
});

/// The request `data` describes, if it is one an HTTP client could send.
fn request(data: &[u8]) -> Option<Request<Body>> {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = std::str::from_utf8(&data[..split]).ok()?;
    let body = data.get(split + 1..).unwrap_or_default().to_vec();
    let (method, uri) = line.split_once(' ')?;
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(uri)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .ok()
}
