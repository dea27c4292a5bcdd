//! The REST API (`/v1`): routes, the bearer-token check, and the OpenAPI document, which
//! is generated from these handlers and types (never written by hand).

use crate::auth::{Access, Tokens};
use crate::control::Control;
use crate::error::{ApiError, Problem};
use crate::metrics::ApiMetrics;
use crate::types::*;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};

/// Largest request body (tunable): enough for a bulk request of 10,000 peers.
pub const MAX_BODY: usize = 16 << 20;
/// Most peers one bulk request may create.
pub const MAX_BULK: usize = 10_000;

#[derive(Debug, Clone)]
pub struct AppState {
    pub control: Arc<Control>,
    pub tokens: Arc<Tokens>,
    /// Request counts and latencies (registered with the metrics by the daemon).
    pub metrics: ApiMetrics,
}

/// A JSON body whose rejections (bad JSON, unknown field, too large) are problem+json.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "body_too_large"
                } else {
                    "invalid_body"
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// Path and query parameters whose rejections are problem+json.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Params(p.0))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text()))
    }
}

#[derive(Debug)]
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryOf(q.0))
            .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))
    }
}

/// Runs a control operation on the blocking pool: they touch SQLite and interfaces.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&Control) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let control = state.control.clone();
    tokio::task::spawn_blocking(move || op(&control))
        .await
        .map_err(ApiError::internal)?
}

/// `ok`, or `degraded` while the store cannot be reached (the tunnels keep forwarding as
/// last configured; changes are refused with `store_unavailable`). Always 200: the
/// process is alive and its data plane works, so a probe must not restart it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    /// Why it is degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPeers {
    pub peers: Vec<NewPeer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPeers {
    pub items: Vec<CreatedPeer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TunnelList {
    pub items: Vec<Tunnel>,
}

#[utoipa::path(get, path = "/v1/health", tag = "health", security(()),
    responses((status = 200, body = Health)))]
async fn health(State(s): State<AppState>) -> Json<Health> {
    let control = s.control.clone();
    let detail = match tokio::task::spawn_blocking(move || control.store_reachable()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    Json(Health {
        status: if detail.is_none() { "ok" } else { "degraded" },
        detail,
    })
}

#[utoipa::path(get, path = "/v1/nodes", tag = "nodes",
    responses((status = 200, body = NodeList), (status = 401, body = Problem), (status = 503, body = Problem)))]
async fn list_nodes(State(s): State<AppState>) -> Result<Json<NodeList>, ApiError> {
    let items = blocking(&s, |c| c.nodes()).await?;
    Ok(Json(NodeList { items }))
}

#[utoipa::path(get, path = "/v1/tunnels", tag = "tunnels",
    responses((status = 200, body = TunnelList), (status = 401, body = Problem)))]
async fn list_tunnels(State(s): State<AppState>) -> Result<Json<TunnelList>, ApiError> {
    let items = blocking(&s, |c| c.tunnels()).await?;
    Ok(Json(TunnelList { items }))
}

#[utoipa::path(post, path = "/v1/tunnels", tag = "tunnels", request_body = NewTunnel,
    responses((status = 201, body = Tunnel), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tunnel(
    State(s): State<AppState>,
    Body(new): Body<NewTunnel>,
) -> Result<(StatusCode, Json<Tunnel>), ApiError> {
    let tunnel = blocking(&s, move |c| c.create_tunnel(new)).await?;
    Ok((StatusCode::CREATED, Json(tunnel)))
}

#[utoipa::path(get, path = "/v1/tunnels/{tunnel}", tag = "tunnels",
    params(("tunnel" = String, Path)),
    responses((status = 200, body = Tunnel), (status = 404, body = Problem)))]
async fn get_tunnel(
    State(s): State<AppState>,
    Params(name): Params<String>,
) -> Result<Json<Tunnel>, ApiError> {
    Ok(Json(blocking(&s, move |c| c.tunnel(&name)).await?))
}

#[utoipa::path(patch, path = "/v1/tunnels/{tunnel}", tag = "tunnels", request_body = TunnelPatch,
    params(("tunnel" = String, Path)),
    responses((status = 200, body = Tunnel), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_tunnel(
    State(s): State<AppState>,
    Params(name): Params<String>,
    Body(patch): Body<TunnelPatch>,
) -> Result<Json<Tunnel>, ApiError> {
    Ok(Json(
        blocking(&s, move |c| c.update_tunnel(&name, patch)).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/tunnels/{tunnel}", tag = "tunnels",
    params(("tunnel" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_tunnel(
    State(s): State<AppState>,
    Params(name): Params<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&s, move |c| c.delete_tunnel(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/tunnels/{tunnel}/peers", tag = "peers",
    params(("tunnel" = String, Path), PeerQuery),
    responses((status = 200, body = PeerPage), (status = 404, body = Problem)))]
async fn list_peers(
    State(s): State<AppState>,
    Params(tunnel): Params<String>,
    QueryOf(query): QueryOf<PeerQuery>,
) -> Result<Json<PeerPage>, ApiError> {
    Ok(Json(blocking(&s, move |c| c.peers(&tunnel, &query)).await?))
}

#[utoipa::path(post, path = "/v1/tunnels/{tunnel}/peers", tag = "peers", request_body = NewPeer,
    params(("tunnel" = String, Path)),
    responses((status = 201, body = CreatedPeer), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_peer(
    State(s): State<AppState>,
    Params(tunnel): Params<String>,
    Body(new): Body<NewPeer>,
) -> Result<(StatusCode, Json<CreatedPeer>), ApiError> {
    let mut created = blocking(&s, move |c| c.create_peers(&tunnel, vec![new])).await?;
    let peer = created
        .pop()
        .ok_or_else(|| ApiError::internal("no peer created"))?;
    Ok((StatusCode::CREATED, Json(peer)))
}

#[utoipa::path(post, path = "/v1/tunnels/{tunnel}/peers/bulk", tag = "peers", request_body = BulkPeers,
    params(("tunnel" = String, Path)),
    responses((status = 201, body = CreatedPeers), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_peers(
    State(s): State<AppState>,
    Params(tunnel): Params<String>,
    Body(bulk): Body<BulkPeers>,
) -> Result<(StatusCode, Json<CreatedPeers>), ApiError> {
    if bulk.peers.is_empty() || bulk.peers.len() > MAX_BULK {
        return Err(ApiError::invalid(
            "invalid_body",
            format!("a bulk request creates 1-{MAX_BULK} peers"),
        ));
    }
    let items = blocking(&s, move |c| c.create_peers(&tunnel, bulk.peers)).await?;
    Ok((StatusCode::CREATED, Json(CreatedPeers { items })))
}

#[utoipa::path(get, path = "/v1/tunnels/{tunnel}/peers/{id}", tag = "peers",
    params(("tunnel" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Peer), (status = 404, body = Problem)))]
async fn get_peer(
    State(s): State<AppState>,
    Params((tunnel, id)): Params<(String, i64)>,
) -> Result<Json<Peer>, ApiError> {
    Ok(Json(blocking(&s, move |c| c.peer(&tunnel, id)).await?))
}

#[utoipa::path(patch, path = "/v1/tunnels/{tunnel}/peers/{id}", tag = "peers", request_body = PeerPatch,
    params(("tunnel" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Peer), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_peer(
    State(s): State<AppState>,
    Params((tunnel, id)): Params<(String, i64)>,
    Body(patch): Body<PeerPatch>,
) -> Result<Json<Peer>, ApiError> {
    Ok(Json(
        blocking(&s, move |c| c.update_peer(&tunnel, id, patch)).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/tunnels/{tunnel}/peers/{id}", tag = "peers",
    params(("tunnel" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_peer(
    State(s): State<AppState>,
    Params((tunnel, id)): Params<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    blocking(&s, move |c| c.delete_peer(&tunnel, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/tunnels/{tunnel}/peers/{id}/config", tag = "peers",
    params(("tunnel" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "wg-quick configuration", content_type = "text/plain", body = String), (status = 404, body = Problem)))]
async fn peer_config(
    State(s): State<AppState>,
    Params((tunnel, id)): Params<(String, i64)>,
) -> Result<Response, ApiError> {
    let text = blocking(&s, move |c| c.peer_config(&tunnel, id)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[utoipa::path(get, path = "/v1/tunnels/{tunnel}/peers/{id}/config/qr.svg", tag = "peers",
    params(("tunnel" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "the wg-quick configuration as a QR code", content_type = "image/svg+xml", body = String), (status = 404, body = Problem)))]
async fn peer_config_svg(
    State(s): State<AppState>,
    Params((tunnel, id)): Params<(String, i64)>,
) -> Result<Response, ApiError> {
    let text = blocking(&s, move |c| c.peer_config(&tunnel, id)).await?;
    let svg =
        crate::qr::svg(&text).map_err(|e| ApiError::invalid("config_too_long", e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[utoipa::path(get, path = "/v1/tunnels/{tunnel}/peers/{id}/config/qr.png", tag = "peers",
    params(("tunnel" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "the wg-quick configuration as a QR code", content_type = "image/png", body = Vec<u8>), (status = 404, body = Problem)))]
async fn peer_config_png(
    State(s): State<AppState>,
    Params((tunnel, id)): Params<(String, i64)>,
) -> Result<Response, ApiError> {
    let text = blocking(&s, move |c| c.peer_config(&tunnel, id)).await?;
    let png =
        crate::qr::png(&text).map_err(|e| ApiError::invalid("config_too_long", e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "wiregate", description = "Provision and manage WireGuard tunnels and peers."),
    paths(health, list_nodes, list_tunnels, create_tunnel, get_tunnel, update_tunnel, delete_tunnel,
          list_peers, create_peer, create_peers, get_peer, update_peer, delete_peer, peer_config,
          peer_config_svg, peer_config_png),
    components(schemas(Problem, Health, NodeList, TunnelList, PeerPage, CreatedPeers, BulkPeers)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Every route but health needs a token. Read-only tokens may only read, and not the
/// client configs: those hold preshared (and perhaps private) keys.
async fn authorize(
    State(s): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // The scheme name is case-insensitive (RFC 9110, section 11.1).
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let access = presented.and_then(|token| s.tokens.check(token));
    let secret = request.uri().path().contains("/config");
    match access {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )),
        Some(Access::ReadOnly) if !request.method().is_safe() || secret => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only",
            "this token may only read, and not client configs (they hold keys)",
        )),
        Some(_) => Ok(next.run(request).await),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/nodes", get(list_nodes))
        .route("/v1/tunnels", get(list_tunnels).post(create_tunnel))
        .route(
            "/v1/tunnels/{tunnel}",
            get(get_tunnel).patch(update_tunnel).delete(delete_tunnel),
        )
        .route(
            "/v1/tunnels/{tunnel}/peers",
            get(list_peers).post(create_peer),
        )
        .route(
            "/v1/tunnels/{tunnel}/peers/bulk",
            axum::routing::post(create_peers),
        )
        .route(
            "/v1/tunnels/{tunnel}/peers/{id}",
            get(get_peer).patch(update_peer).delete(delete_peer),
        )
        .route("/v1/tunnels/{tunnel}/peers/{id}/config", get(peer_config))
        .route(
            "/v1/tunnels/{tunnel}/peers/{id}/config/qr.svg",
            get(peer_config_svg),
        )
        .route(
            "/v1/tunnels/{tunnel}/peers/{id}/config/qr.png",
            get(peer_config_png),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    let metrics = state.metrics.clone();
    Router::new()
        .route("/v1/health", get(health))
        .merge(protected)
        .route_layer(middleware::from_fn(move |request, next| {
            let metrics = metrics.clone();
            async move { metrics.track(request, next).await }
        }))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
