//! The configuration file's tunnels in the store: imported the first time they are seen;
//! afterwards the file still decides their `backend` and their file peers (see
//! `wiregate_control::control::FILE_TAG`), at every start and on SIGHUP. Their other
//! settings are the store's (the API's) once imported.

use crate::config::ConfiguredTunnel;
use ipnet::IpNet;
use wiregate_control::control::{Control, FILE_TAG};
use wiregate_control::model::{PeerRecord, TunnelRecord, now};
use wiregate_control::types::TunnelPatch;

/// What [`apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Tunnels new to the store: stored only, for the reconciler to bring up. (Changes
    /// to stored tunnels were reconciled as they were made.)
    pub imported: Vec<String>,
    /// What could not be applied, tunnel by tunnel (that tunnel is left as it was).
    pub refused: Vec<String>,
}

/// Brings the store in line with the file's tunnels, each on its own.
pub fn apply(control: &Control, tunnels: &[ConfiguredTunnel]) -> Applied {
    let mut applied = Applied::default();
    for tunnel in tunnels {
        let name = &tunnel.config.name;
        match apply_one(control, tunnel) {
            Ok(true) => applied.imported.push(name.clone()),
            Ok(false) => {}
            Err(e) => applied.refused.push(format!("tunnel {name}: {e}")),
        }
    }
    applied
}

/// True if the tunnel was imported (new to the store).
fn apply_one(control: &Control, tunnel: &ConfiguredTunnel) -> Result<bool, String> {
    let (record, peers) = records(tunnel);
    let name = record.name.clone();
    if control
        .import(record, peers.clone())
        .map_err(|e| e.detail)?
    {
        tracing::info!(tunnel = %name, "imported from the configuration file");
        return Ok(true);
    }
    switch_backend(control, &name, tunnel.backend.as_deref())?;
    let sync = control
        .sync_file_peers(&name, peers)
        .map_err(|e| e.detail)?;
    if sync.changed() {
        tracing::info!(tunnel = %name, added = sync.added, updated = sync.updated, removed = sync.removed, "peers of the configuration file applied");
    }
    Ok(false)
}

/// The store's records for a tunnel of the file. A peer's host prefixes inside the pools
/// (or the tunnel's own networks) are its addresses; anything else is a route.
fn records(t: &ConfiguredTunnel) -> (TunnelRecord, Vec<PeerRecord>) {
    let at = now();
    let c = &t.config;
    let networks: Vec<IpNet> = if t.pools.is_empty() {
        c.addresses.iter().map(IpNet::trunc).collect()
    } else {
        t.pools.clone()
    };
    let is_address = |n: &IpNet| {
        n.prefix_len() == n.max_prefix_len() && networks.iter().any(|p| p.contains(&n.addr()))
    };
    let tunnel = TunnelRecord {
        name: c.name.clone(),
        listen_port: c.listen_port,
        private_key: c.private_key.clone(),
        addresses: c.addresses.clone(),
        mtu: c.mtu,
        pools: t.pools.clone(),
        public_endpoint: t.public_endpoint.clone(),
        dns: t.dns.clone(),
        keep_private_keys: t.keep_private_keys,
        backend: t.backend.clone().unwrap_or_else(|| "userspace".into()),
        created_at: at,
        updated_at: at,
        fwmark: c.fwmark,
        routable: t.routable.clone(),
        placement: Default::default(),
    };
    let peers = c
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| PeerRecord {
            id: 0,
            tunnel: c.name.clone(),
            name: format!("{}-peer{}", c.name, i + 1),
            tags: vec![FILE_TAG.into()],
            public_key: p.public_key,
            preshared_key: p.preshared_key.clone(),
            private_key: None,
            addresses: p.allowed_ips.iter().copied().filter(is_address).collect(),
            routes: p
                .allowed_ips
                .iter()
                .copied()
                .filter(|n| !is_address(n))
                .collect(),
            endpoint: p.endpoint,
            persistent_keepalive: p.persistent_keepalive,
            enabled: true,
            expires_at: None,
            created_at: at,
            updated_at: at,
        })
        .collect();
    (tunnel, peers)
}

/// The data plane is a property of the host, so a `backend` the file names wins over the
/// stored one at every start: an operator switches a tunnel's backend by editing the file
/// and restarting. Peers, keys and addresses stay as stored.
fn switch_backend(control: &Control, name: &str, backend: Option<&str>) -> Result<(), String> {
    let Some(backend) = backend else {
        return Ok(());
    };
    let stored = control
        .tunnel(name)
        .map_err(|e| format!("tunnel {name}: {}", e.detail))?;
    if stored.backend != backend {
        tracing::info!(tunnel = %name, from = %stored.backend, to = backend, "backend switched by the configuration file");
        let patch = TunnelPatch {
            backend: Some(backend.to_owned()),
            ..TunnelPatch::default()
        };
        control
            .update_tunnel(name, patch)
            .map_err(|e| format!("tunnel {name}: {}", e.detail))?;
    }
    Ok(())
}
