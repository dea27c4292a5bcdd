//! Records as rows, the same for every engine: the column lists, and the encoding of a
//! record's fields as integers and text (lists as JSON, keys as base64), with the decoding
//! that names the field a bad value was found in.

use super::{Result, StoreError};
use crate::model::{NodeRecord, PeerRecord, Placement, TunnelRecord};
use wiregate_core::{PresharedKey, PrivateKey, PublicKey};

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// A client-facing value read back: one that a version before these checks stored and
/// that no longer parses (text that would inject lines into a client's configuration) is
/// dropped with an error in the log, rather than refusing the whole store.
fn checked<T: std::str::FromStr<Err = wiregate_core::host::HostError>>(
    tunnel: &str,
    field: &str,
    text: &str,
) -> Option<T> {
    text.parse()
        .inspect_err(|e| tracing::error!(tunnel, field, error = %e, "stored value dropped: it would not be safe in a client configuration"))
        .ok()
}

pub(crate) fn corrupt(what: &'static str) -> impl Fn(wiregate_core::KeyError) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

pub(crate) const TUNNEL_COLUMNS: &str = "name, listen_port, private_key, addresses, mtu, pools, public_endpoint, dns, keep_private_keys, backend, created_at, updated_at, fwmark, routable, placement";
pub(crate) const PEER_COLUMNS: &str = "id, tunnel, name, tags, public_key, preshared_key, private_key, addresses, routes, endpoint, persistent_keepalive, enabled, expires_at, created_at, updated_at";

/// A column value as both engines keep it: an integer or text, either possibly NULL.
/// (Booleans are integers 0 and 1, lists JSON text, keys base64 text.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

/// A row's values, in the order of its column list.
pub(crate) type Raw = Vec<Value>;

/// How many columns a column list names.
pub(crate) fn count(columns: &str) -> usize {
    columns.split(',').count()
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) => s.as_deref(),
        Value::Int(_) => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => *i,
        Value::Text(_) => None,
    }
}

/// Typed reads of a row's raw values, naming the field in the error when a value is not
/// of the type the schema promises.
struct Cols(Raw);

impl Cols {
    fn bad(what: &'static str) -> StoreError {
        StoreError::Corrupt {
            what,
            detail: "wrong type".into(),
        }
    }
    fn text(&self, i: usize, what: &'static str) -> Result<&str> {
        text(&self.0[i]).ok_or_else(|| Self::bad(what))
    }
    fn int(&self, i: usize, what: &'static str) -> Result<i64> {
        int(&self.0[i]).ok_or_else(|| Self::bad(what))
    }
    fn opt_text(&self, i: usize) -> Option<&str> {
        text(&self.0[i])
    }
    fn opt_int(&self, i: usize) -> Option<i64> {
        int(&self.0[i])
    }
}

pub(crate) fn tunnel_from(raw: Raw) -> Result<TunnelRecord> {
    let v = Cols(raw);
    let bad = Cols::bad;
    let s = |i: usize, what| v.text(i, what);
    let n = |i: usize, what| v.int(i, what);
    Ok(TunnelRecord {
        name: s(0, "tunnel name")?.to_owned(),
        listen_port: u16::try_from(n(1, "listen_port")?).map_err(|_| bad("listen_port"))?,
        private_key: PrivateKey::from_base64(s(2, "private_key")?)
            .map_err(corrupt("tunnel private_key"))?,
        addresses: parse_json("tunnel addresses", s(3, "addresses")?)?,
        mtu: u16::try_from(n(4, "mtu")?).map_err(|_| bad("mtu"))?,
        pools: parse_json("tunnel pools", s(5, "pools")?)?,
        public_endpoint: v
            .opt_text(6)
            .and_then(|text| checked(s(0, "tunnel name").unwrap_or("?"), "public_endpoint", text)),
        dns: parse_json::<Vec<String>>("tunnel dns", s(7, "dns")?)?
            .iter()
            .filter_map(|text| checked(s(0, "tunnel name").unwrap_or("?"), "dns", text))
            .collect(),
        keep_private_keys: n(8, "keep_private_keys")? != 0,
        backend: s(9, "backend")?.to_owned(),
        created_at: n(10, "created_at")?,
        updated_at: n(11, "updated_at")?,
        fwmark: u32::try_from(n(12, "fwmark")?).map_err(|_| bad("fwmark"))?,
        routable: parse_json("tunnel routable", s(13, "routable")?)?,
        placement: Placement::from_nodes(
            v.opt_text(14)
                .map(|text| parse_json("tunnel placement", text))
                .transpose()?,
        ),
    })
}

/// A tunnel's columns, in `TUNNEL_COLUMNS` order.
pub(crate) fn tunnel_values(t: &TunnelRecord) -> Raw {
    use Value::{Int, Text};
    vec![
        Text(Some(t.name.clone())),
        Int(Some(t.listen_port.into())),
        Text(Some(t.private_key.expose_base64())),
        Text(Some(json(&t.addresses))),
        Int(Some(t.mtu.into())),
        Text(Some(json(&t.pools))),
        Text(t.public_endpoint.as_ref().map(ToString::to_string)),
        Text(Some(json(
            &t.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ))),
        Int(Some(t.keep_private_keys.into())),
        Text(Some(t.backend.clone())),
        Int(Some(t.created_at)),
        Int(Some(t.updated_at)),
        Int(Some(t.fwmark.into())),
        Text(Some(json(&t.routable))),
        // NULL: every node.
        Text(t.placement.nodes().map(|nodes| json(&nodes))),
    ]
}

/// A peer's columns, in `PEER_COLUMNS` order; `id` is `None` for an insert (the engine
/// assigns it).
pub(crate) fn peer_values(p: &PeerRecord, id: Option<i64>) -> Raw {
    use Value::{Int, Text};
    vec![
        Int(id),
        Text(Some(p.tunnel.clone())),
        Text(Some(p.name.clone())),
        Text(Some(json(&p.tags))),
        Text(Some(p.public_key.to_base64())),
        Text(p.preshared_key.as_ref().map(PresharedKey::expose_base64)),
        Text(p.private_key.as_ref().map(PrivateKey::expose_base64)),
        Text(Some(json(&p.addresses))),
        Text(Some(json(&p.routes))),
        Text(p.endpoint.map(|e| e.to_string())),
        Int(p.persistent_keepalive.map(i64::from)),
        Int(Some(p.enabled.into())),
        Int(p.expires_at),
        Int(Some(p.created_at)),
        Int(Some(p.updated_at)),
    ]
}

pub(crate) fn peer_from(raw: Raw) -> Result<PeerRecord> {
    let v = Cols(raw);
    let bad = Cols::bad;
    let s = |i: usize, what| v.text(i, what);
    let n = |i: usize, what| v.int(i, what);
    Ok(PeerRecord {
        id: n(0, "peer id")?,
        tunnel: s(1, "peer tunnel")?.to_owned(),
        name: s(2, "peer name")?.to_owned(),
        tags: parse_json("peer tags", s(3, "tags")?)?,
        public_key: PublicKey::from_base64(s(4, "public_key")?)
            .map_err(corrupt("peer public_key"))?,
        preshared_key: v
            .opt_text(5)
            .map(PresharedKey::from_base64)
            .transpose()
            .map_err(corrupt("peer preshared_key"))?,
        private_key: v
            .opt_text(6)
            .map(PrivateKey::from_base64)
            .transpose()
            .map_err(corrupt("peer private_key"))?,
        addresses: parse_json("peer addresses", s(7, "addresses")?)?,
        routes: parse_json("peer routes", s(8, "routes")?)?,
        endpoint: v
            .opt_text(9)
            .map(|e| e.parse().map_err(|_| bad("peer endpoint")))
            .transpose()?,
        persistent_keepalive: v
            .opt_int(10)
            .map(|k| u16::try_from(k).map_err(|_| bad("persistent_keepalive")))
            .transpose()?,
        enabled: n(11, "enabled")? != 0,
        expires_at: v.opt_int(12),
        created_at: n(13, "created_at")?,
        updated_at: n(14, "updated_at")?,
    })
}

/// A node's columns as written (`last_seen` is the store's clock, not a parameter).
pub(crate) const NODE_COLUMNS: &str = "name, version, started_at, stopped, serving";

/// A node's columns, in `NODE_COLUMNS` order.
pub(crate) fn node_values(n: &NodeRecord) -> Raw {
    use Value::{Int, Text};
    vec![
        Text(Some(n.name.clone())),
        Text(Some(n.version.clone())),
        Int(Some(n.started_at)),
        Int(Some(n.stopped.into())),
        Text(Some(json(&n.serving))),
    ]
}

/// A node read as `NODE_COLUMNS`, then `last_seen` and `seen_ago`.
pub(crate) fn node_from(raw: Raw) -> Result<NodeRecord> {
    let v = Cols(raw);
    Ok(NodeRecord {
        name: v.text(0, "node name")?.to_owned(),
        version: v.text(1, "node version")?.to_owned(),
        started_at: v.int(2, "node started_at")?,
        stopped: v.int(3, "node stopped")? != 0,
        serving: parse_json("node serving", v.text(4, "node serving")?)?,
        last_seen: v.int(5, "node last_seen")?,
        seen_ago: v.int(6, "node seen_ago")?,
    })
}
