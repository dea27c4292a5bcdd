//! The test topology: a gateway namespace, and client sites (a namespace with a veth link
//! to the gateway's and a wireguard-go client) around it.
//!
//! Address plan (private to the namespaces, so tests reuse it freely):
//! - underlay of link N: 10.200.N.1/24 on the gateway side, 10.200.N.2/24 on the client;
//! - tunnel: 10.70.0.0/24 and fd70::/64 (10.71.0.0/24 for a second tunnel), gateway at .1.

use crate::gateway::PeerSpec;
use crate::netns::{self, Netns};
use crate::wg::Keypair;
use crate::wggo::{PeerSetting, WgGoClient};

/// The port gateways listen on unless a test needs several.
pub const GW_PORT: u16 = 51820;
/// The port clients start on.
pub const CLIENT_PORT: u16 = 51900;

/// One client site: what to build.
#[derive(Debug, Clone)]
pub struct SiteSpec {
    /// N in 10.200.N.0/24; distinct per site around one gateway namespace.
    pub link: u8,
    /// The client's tunnel addresses, with the tunnel's prefix ("10.70.0.11/24").
    pub addresses: Vec<String>,
    /// The client's allowed IPs for the gateway peer ("10.70.0.0/24").
    pub routes: Vec<String>,
    pub gateway_key: String,
    pub gateway_port: u16,
    pub preshared_key: Option<String>,
}

impl SiteSpec {
    /// A client of the hub tunnel 10.70.0.0/24 + fd70::/64 at 10.70.0.<host> and
    /// fd70::<host>, on underlay link `link`.
    pub fn hub(link: u8, host: u8, gateway_key: &str) -> Self {
        SiteSpec {
            link,
            addresses: vec![format!("10.70.0.{host}/24"), format!("fd70::{host}/64")],
            routes: vec!["10.70.0.0/24".into(), "fd70::/64".into()],
            gateway_key: gateway_key.to_owned(),
            gateway_port: GW_PORT,
            preshared_key: None,
        }
    }
}

/// A built client site. The client is declared before the namespace so that it stops
/// before the namespace goes.
#[derive(Debug)]
pub struct Site {
    pub client: WgGoClient,
    pub ns: Netns,
    pub spec: SiteSpec,
}

impl Site {
    /// Creates the namespace, links it to `gw_ns` and starts a wireguard-go client whose
    /// one peer is the gateway at 10.200.<link>.1:<gateway_port>.
    pub fn new(gw_ns: &Netns, spec: &SiteSpec) -> Self {
        Self::with_keys(gw_ns, spec, Keypair::generate())
    }

    pub fn with_keys(gw_ns: &Netns, spec: &SiteSpec, keys: Keypair) -> Self {
        let ns = Netns::new();
        let link = spec.link;
        netns::link(
            gw_ns,
            &format!("10.200.{link}.1/24"),
            &ns,
            &format!("10.200.{link}.2/24"),
        );
        let peer = PeerSetting {
            public_key: spec.gateway_key.clone(),
            endpoint: Some(format!("10.200.{link}.1:{}", spec.gateway_port)),
            allowed_ips: spec.routes.clone(),
            preshared_key: spec.preshared_key.clone(),
        };
        let client = WgGoClient::start(&ns, keys, CLIENT_PORT, &spec.addresses, &peer);
        Site {
            client,
            ns,
            spec: spec.clone(),
        }
    }

    /// The client's `i`th tunnel address, without prefix.
    pub fn ip(&self, i: usize) -> &str {
        let addr = &self.spec.addresses[i];
        addr.split_once('/').map_or(addr.as_str(), |(ip, _)| ip)
    }

    /// The client's underlay address and current UDP port, as the gateway should see it.
    pub fn endpoint(&self) -> String {
        format!("10.200.{}.2:{}", self.spec.link, self.client.listen_port)
    }

    /// This client as a peer in the gateway's configuration: its key, its tunnel
    /// addresses as host routes, its preshared key.
    pub fn gateway_peer(&self) -> PeerSpec {
        let hosts: Vec<String> = (0..self.spec.addresses.len())
            .map(|i| {
                let ip = self.ip(i);
                if ip.contains(':') {
                    format!("{ip}/128")
                } else {
                    format!("{ip}/32")
                }
            })
            .collect();
        PeerSpec {
            public_key: self.client.keys.public.clone(),
            allowed_ips: hosts,
            preshared_key: self.spec.preshared_key.clone(),
            endpoint: None,
            persistent_keepalive: None,
        }
    }
}
