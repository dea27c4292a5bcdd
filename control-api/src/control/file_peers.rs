//! The configuration file's peers of a tunnel, kept as the file says. Peers that came from
//! the file carry the tag [`FILE_TAG`]; at every start and reload they are brought in line
//! with the file (added, changed, removed), so editing the file and sending SIGHUP (or
//! restarting) is how an operator who keeps peers in the file changes them. Peers made
//! through the API are never touched, and what the API changed on a file peer beyond
//! what the file says (enabled, expiry, name, tags) stays.

use super::{Control, validate};
use crate::error::ApiError;
use crate::model::{PeerRecord, now};
use crate::store::{Change, Snapshot};
use std::collections::{HashMap, HashSet};
use wiregate_core::PublicKey;

/// The tag of peers that the configuration file declares.
pub const FILE_TAG: &str = "config-file";

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSync {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

impl FileSync {
    pub fn changed(self) -> bool {
        self != Self::default()
    }
}

/// Whether `stored` already says what the file says of the peer.
fn same(stored: &PeerRecord, file: &PeerRecord) -> bool {
    stored.addresses == file.addresses
        && stored.routes == file.routes
        && stored.preshared_key == file.preshared_key
        && stored.endpoint == file.endpoint
        && stored.persistent_keepalive == file.persistent_keepalive
}

impl Control {
    /// Makes the tunnel's file peers what `file` lists: all of it, or (an invalid result,
    /// a key the API already uses) nothing.
    pub fn sync_file_peers(
        &self,
        tunnel: &str,
        file: Vec<PeerRecord>,
    ) -> Result<FileSync, ApiError> {
        let _guard = self.write_lock();
        let mut sync = FileSync::default();
        self.commit(tunnel, |current| {
            let change = file_change(current, &file)?;
            sync = FileSync {
                added: change.insert.len(),
                updated: change.update.len(),
                removed: change.delete.len(),
            };
            Ok((change, ()))
        })
        .map(|_| sync)
    }
}

/// The change that makes the tunnel's file peers what `file` lists, checked whole.
fn file_change(current: &Snapshot, file: &[PeerRecord]) -> Result<Change, ApiError> {
    let by_key: HashMap<PublicKey, &PeerRecord> =
        current.peers.iter().map(|p| (p.public_key, p)).collect();
    let mut change = Change::to(current);
    for peer in file {
        match by_key.get(&peer.public_key) {
            None => change.insert.push(peer.clone()),
            Some(have) if !have.tags.iter().any(|t| t == FILE_TAG) => {
                return Err(ApiError::conflict(
                    "peer_exists",
                    format!(
                        "peer {} is in the configuration file and was also created through the API (id {}); remove one of them",
                        peer.public_key, have.id
                    ),
                ));
            }
            Some(have) if same(have, peer) => {}
            Some(have) => change.update.push(PeerRecord {
                addresses: peer.addresses.clone(),
                routes: peer.routes.clone(),
                preshared_key: peer.preshared_key.clone(),
                endpoint: peer.endpoint,
                persistent_keepalive: peer.persistent_keepalive,
                updated_at: now(),
                ..(*have).clone()
            }),
        }
    }
    let in_file: HashSet<PublicKey> = file.iter().map(|p| p.public_key).collect();
    change.delete = current
        .peers
        .iter()
        .filter(|p| p.tags.iter().any(|t| t == FILE_TAG) && !in_file.contains(&p.public_key))
        .map(|p| p.id)
        .collect();
    // The whole result is checked before anything is written.
    let changed: HashMap<i64, &PeerRecord> = change.update.iter().map(|p| (p.id, p)).collect();
    let gone: HashSet<i64> = change.delete.iter().copied().collect();
    let mut after: Vec<PeerRecord> = current
        .peers
        .iter()
        .filter(|p| !gone.contains(&p.id))
        .map(|p| {
            changed
                .get(&p.id)
                .map_or_else(|| p.clone(), |u| (*u).clone())
        })
        .collect();
    after.extend(change.insert.iter().cloned());
    validate(&current.tunnel, &after)?;
    Ok(change)
}
