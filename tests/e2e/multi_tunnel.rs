//! Two tunnels in one gateway process, on different ports and subnets, used at once.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{ping, ping_once};
use crate::topo::{Site, SiteSpec};
use crate::wg::Keypair;
use std::thread;

#[test]
fn two_tunnels_serve_their_clients_concurrently() {
    let _exclusive = crate::cmd::heavy_traffic();
    let gw_ns = Netns::new();
    let plans = [(51820u16, "10.70.0"), (51821u16, "10.71.0")];
    let keys: Vec<Keypair> = plans.iter().map(|_| Keypair::generate()).collect();
    let sites: Vec<Site> = plans
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, ((port, net), key))| {
            let spec = SiteSpec {
                link: i as u8 + 1,
                addresses: vec![format!("{net}.2/24")],
                routes: vec![format!("{net}.0/24")],
                gateway_key: key.public.clone(),
                gateway_port: *port,
                preshared_key: None,
            };
            Site::new(&gw_ns, &spec)
        })
        .collect();
    let tunnels: Vec<TunnelSpec> = plans
        .iter()
        .zip(&keys)
        .zip(&sites)
        .map(|(((port, net), key), site)| {
            let mut tunnel = TunnelSpec::new(&unique("wgm"), *port, key, &[&format!("{net}.1/24")]);
            tunnel.peers = vec![site.gateway_peer()];
            tunnel
        })
        .collect();
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(tunnels.clone()), &[]);

    for ((tunnel, key), site) in tunnels.iter().zip(&keys).zip(&sites) {
        let dump = gw.dump(&tunnel.name);
        assert_eq!(dump.listen_port, tunnel.listen_port, "{}", tunnel.name);
        assert_eq!(dump.public_key, key.public, "{}", tunnel.name);
        assert_eq!(gw.peers(&tunnel.name), [site.client.keys.public.as_str()]);
    }

    let gateway_ip = |site: &Site| site.spec.routes[0].replace(".0/24", ".1");
    // First contact (both handshakes at once), then a burst from both at once.
    thread::scope(|s| {
        let pings: Vec<_> = sites
            .iter()
            .map(|site| s.spawn(move || ping(&site.ns, &gateway_ip(site), 3)))
            .collect();
        for (site, handle) in sites.iter().zip(pings) {
            assert!(
                handle.join().unwrap(),
                "no ping reply from {}",
                gateway_ip(site)
            );
        }
    });
    thread::scope(|s| {
        let bursts: Vec<_> = sites
            .iter()
            .map(|site| s.spawn(move || ping_once(&site.ns, &gateway_ip(site), 100, "0.01")))
            .collect();
        for (site, handle) in sites.iter().zip(bursts) {
            let result = handle.join().unwrap();
            assert!(
                result.received >= 95,
                "{} answered {} of 100:\n{}",
                gateway_ip(site),
                result.received,
                result.output
            );
        }
    });
}
