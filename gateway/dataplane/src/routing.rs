//! What every shard of a tunnel reads to find a packet's owner: the allowed-IPs table,
//! peers by public key, and the tunnel's identity. Built by the control plane and
//! published whole (an `ArcSwap`), so readers never lock and never see half an update.

use crate::allowedips::AllowedIps;
use crate::index::PeerRef;
use crate::peer::Identity;
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub allowed: AllowedIps<PeerRef>,
    pub by_key: FxHashMap<[u8; 32], PeerRef>,
    pub identity: Option<Arc<Identity>>,
}
