//! Errors as clients see them: RFC 9457 `application/problem+json` with a stable `code`
//! that programs can match on. Internal failures say only that they happened (details go
//! to the log), so nothing about the host leaks to a client.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`: the `code` says what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable: `not_found`, `invalid_key`, `allowed_ips_overlap`, ...
    pub code: &'static str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
        }
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }
    /// A failure that is ours, not the client's: logged in full, reported in general.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway failed to carry out the request; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict(detail) => Self::conflict("conflict", detail),
            crate::store::StoreError::Stale(tunnel) => Self::conflict(
                "concurrent_change",
                format!(
                    "tunnel {tunnel:?} kept changing under this request (other writers committed first); nothing was changed by it; try again"
                ),
            ),
            crate::store::StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "the store cannot be reached");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store cannot be reached now; nothing was changed, and the data plane keeps forwarding as last configured; try again",
                )
            }
            other => Self::internal(other),
        }
    }
}

impl From<crate::ipam::IpamError> for ApiError {
    fn from(e: crate::ipam::IpamError) -> Self {
        use crate::ipam::IpamError::*;
        match e {
            Exhausted(_) => Self::conflict("pool_exhausted", e.to_string()),
            Taken(_) => Self::conflict("address_taken", e.to_string()),
            OutsidePools(_) | NotHost(_) | Reserved(_) => {
                Self::invalid("invalid_address", e.to_string())
            }
        }
    }
}

impl From<wiregate_core::ConfigError> for ApiError {
    fn from(e: wiregate_core::ConfigError) -> Self {
        use wiregate_core::ConfigError::*;
        match e {
            Overlap { .. } => Self::conflict("allowed_ips_overlap", e.to_string()),
            DuplicatePeer { .. } => Self::conflict("public_key_exists", e.to_string()),
            BadName(_) => Self::invalid("invalid_name", e.to_string()),
            BadMtu { .. } => Self::invalid("invalid_mtu", e.to_string()),
            HostBits { .. } => Self::invalid("invalid_prefix", e.to_string()),
            OwnKey { .. } | ZeroPresharedKey { .. } => Self::invalid("invalid_key", e.to_string()),
            EndpointPortZero { .. } => Self::invalid("invalid_endpoint", e.to_string()),
        }
    }
}
