//! The API tests' harness: the router over a real store (SQLite in a temporary directory)
//! and real userspace backends, each test in a network namespace of its own.
// Each test file uses its own part of the harness.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::Request;
pub use axum::http::{Method, StatusCode};
use http_body_util::BodyExt;
pub use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::ServiceExt;
use wiregate_control::control::Control;
use wiregate_control::{ControlPlane, Settings, StoreLocation};
use wiregate_core::PrivateKey;
use wiregate_dataplane::UserspaceFactory;

pub const ADMIN: &str = "admin-token-for-tests";
pub const READER: &str = "read-only-token-for-tests";

pub struct Api {
    pub router: Router,
    pub control: Arc<Control>,
    pub plane: ControlPlane,
    pub db: PathBuf,
    pub _dir: tempfile::TempDir,
}

/// A tunnel name no other test (or host interface) uses: UAPI sockets share one folder.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 10_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The control plane over the database `db`, through its front door (not started: the
/// tests reconcile when they mean to), as the node `test-node`.
pub fn open(db: PathBuf, dir: tempfile::TempDir) -> Api {
    let plane = ControlPlane::open(Settings {
        store: StoreLocation::Sqlite(db.clone()),
        node: "test-node".into(),
        backends: Box::new(UserspaceFactory { shards: 2 }),
        admin_tokens: vec![ADMIN.into()],
        read_only_tokens: vec![READER.into()],
    })
    .expect("control plane");
    Api {
        control: plane.control().clone(),
        router: plane.api(),
        plane,
        db,
        _dir: dir,
    }
}

/// Runs `test` in a fresh network namespace, on a runtime whose threads live there too.
pub fn in_netns<F: std::future::Future<Output = ()>>(test: impl FnOnce(Api) -> F) {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("these tests need root: each makes a network namespace and TUN devices");
    let dir = tempfile::tempdir().unwrap();
    let api = open(dir.path().join("wiregate.db"), dir);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test(api));
}

impl Api {
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text, _) = self
            .raw(method, uri, token, body.map(|b| b.to_string()))
            .await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, String, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
            content_type,
        )
    }

    /// A GET with a raw `Authorization` header.
    pub async fn raw_auth(
        &self,
        method: Method,
        uri: &str,
        authorization: &str,
    ) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", authorization)
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// An admin call with a body that is not (necessarily) JSON.
    pub async fn text(&self, method: Method, uri: &str, body: &str) -> (StatusCode, Value) {
        let (status, text, _) = self
            .raw(method, uri, Some(ADMIN), Some(body.to_owned()))
            .await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A GET whose answer is binary (a PNG).
    pub async fn bytes(&self, uri: &str) -> Vec<u8> {
        let request = Request::builder()
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    pub async fn admin(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, uri, Some(ADMIN), body).await
    }

    /// An admin call that must be refused with `status` and the problem `code`; returns
    /// the problem.
    pub async fn refused(
        &self,
        method: Method,
        uri: &str,
        body: Value,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let (got, problem) = self.admin(method, uri, Some(body)).await;
        assert_problem(got, &problem, status, code);
        problem
    }

    pub async fn create_tunnel(&self, name: &str, port: u16) -> Value {
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/tunnels",
                Some(json!({
                    "name": name, "listen_port": port,
                    "addresses": ["10.8.0.1/24", "fd08::1/64"],
                    "pools": ["10.8.0.0/24", "fd08::/64"],
                    "public_endpoint": "vpn.example.net:51820",
                    "dns": ["10.8.0.1"],
                    "routable": ["192.168.0.0/16"]
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Reads a QR code with a real decoder (zbarimg, from Debian's zbar-tools).
pub fn decode_qr(png: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), png).unwrap();
    let out = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(file.path())
        .output()
        .expect("zbarimg (zbar-tools) is needed to read QR codes back; tests/run installs it");
    assert!(
        out.status.success(),
        "zbarimg could not read the code: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // zbarimg ends its output with a newline of its own.
    let mut text = String::from_utf8(out.stdout).unwrap();
    text.pop();
    text
}

pub fn public_key() -> String {
    PrivateKey::generate().public_key().to_base64()
}

pub fn assert_problem(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], want.as_u16(), "{body}");
}
