//! wiregate's control plane: the store that is the source of truth for tunnels and peers,
//! IP pools, the REST API, the reconcile loop that makes the backends match the store,
//! and the fleet's machinery (nodes, placement, fan-out) for gateways sharing a store.
//! [`ControlPlane`] is the entry point: it assembles and runs the rest.
#![forbid(unsafe_code)]

mod api;
pub mod auth;
mod clientconfig;
pub mod control;
mod error;
mod fanout;
mod ipam;
pub mod metrics;
pub mod model;
mod nodes;
mod placement;
mod plane;
pub mod qr;
mod reconcile;
pub mod store;
pub mod types;

pub use nodes::valid_name as valid_node_name;
pub use plane::{ControlPlane, Settings, StoreLocation, serve};
