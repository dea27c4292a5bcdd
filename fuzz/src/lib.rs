//! What the fuzz targets share: models to compare with, input formats, the gateway the
//! API target talks to.

pub mod api;
pub mod engine;
pub mod packets;
pub mod uapi_model;
