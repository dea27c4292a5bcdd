//! What every shard of a tunnel reads to find a packet's owner: the allowed-IPs table,
//! peers by public key, and the tunnel's identity. Built by the control plane and
//! published whole (an `ArcSwap`), so readers never lock and never see half an update.

use crate::allowedips::AllowedIps;
use crate::index::PeerRef;
use crate::peer::Identity;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A placed peer as a snapshot names it: where it lives, and which placement in that slot
/// it is. Slots are reused, and a packet routed by an older snapshot may reach the slot
/// after its peer was removed and another put there; the owner shard compares the
/// generation and drops such a packet rather than hand it to a stranger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    pub at: PeerRef,
    pub generation: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub allowed: AllowedIps<Owner>,
    pub by_key: FxHashMap<[u8; 32], Owner>,
    pub identity: Option<Arc<Identity>>,
}
