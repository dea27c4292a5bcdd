//! wiregate's control plane: the store that is the source of truth for tunnels and peers,
//! IP pools, the REST API, and the reconcile loop that makes the backends match the store.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod clientconfig;
pub mod control;
pub mod error;
pub mod fanout;
pub mod ipam;
pub mod metrics;
pub mod model;
pub mod nodes;
pub mod placement;
pub mod qr;
pub mod reconcile;
pub mod store;
pub mod types;
