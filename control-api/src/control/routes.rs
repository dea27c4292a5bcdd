//! What a peer made through the API may route. A peer's `routes` become routes in the
//! host's main table (so that the host sends those networks into the tunnel), so an API
//! client that could route anything could take the host's own traffic: `0.0.0.0/1` and
//! `128.0.0.0/1` override its default route, a `/32` its resolver's or the cloud metadata
//! service's. The operator decides instead: a route must lie inside the tunnel's pools, its
//! own networks, or a network the tunnel declares `routable` (the sites behind its peers).
//! Loopback, link-local (the metadata address among it) and multicast ranges are never
//! routed, declared or not. Peers of the configuration file are the operator's own and are
//! not held to this.

use crate::error::ApiError;
use crate::model::TunnelRecord;
use ipnet::IpNet;

/// Never routed to a peer through the API.
const NEVER: [&str; 8] = [
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/3",
    "::/127",
    "fe80::/10",
    "ff00::/8",
    "::ffff:0:0/96",
];

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

fn never(net: &IpNet) -> Option<IpNet> {
    NEVER
        .iter()
        .map(|n| n.parse::<IpNet>().expect("a valid prefix"))
        .find(|n| overlaps(n, net))
}

fn host_bits(net: &IpNet) -> Result<(), ApiError> {
    if net.trunc() == *net {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_prefix",
            format!("{net} has host bits set (did you mean {}?)", net.trunc()),
        ))
    }
}

/// A tunnel's `routable` networks: prefixes without host bits, none in a range that is
/// never routed.
pub(super) fn check_routable(networks: &[IpNet]) -> Result<(), ApiError> {
    for net in networks {
        host_bits(net)?;
        if let Some(range) = never(net) {
            return Err(ApiError::invalid(
                "invalid_prefix",
                format!("routable {net} overlaps {range}, which is never routed to a peer"),
            ));
        }
    }
    Ok(())
}

/// A peer's `routes`, as the API may set them on `tunnel`.
pub(super) fn check_routes(tunnel: &TunnelRecord, routes: &[IpNet]) -> Result<(), ApiError> {
    let mut allowed: Vec<IpNet> = tunnel
        .pools
        .iter()
        .copied()
        .chain(tunnel.addresses.iter().map(IpNet::trunc))
        .chain(tunnel.routable.iter().copied())
        .collect();
    allowed.sort();
    allowed.dedup();
    for route in routes {
        host_bits(route)?;
        if let Some(range) = never(route) {
            return Err(ApiError::invalid(
                "route_not_allowed",
                format!("route {route} overlaps {range}, which is never routed to a peer"),
            ));
        }
        if !allowed.iter().any(|net| net.contains(route)) {
            let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            return Err(ApiError::invalid(
                "route_not_allowed",
                format!(
                    "route {route} is outside the networks this tunnel may route ({}); declare its network in the tunnel's `routable` first",
                    list.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn tunnel() -> TunnelRecord {
        crate::store::sqlite::tests::tunnel("wg0")
    }

    #[test]
    fn only_declared_networks_are_routed() {
        // The test tunnel: 10.8.0.1/24, pools 10.8.0.0/24 and fd08::/64, routable
        // 192.168.50.0/24.
        let t = tunnel();
        for fine in [
            "192.168.50.0/24",
            "192.168.50.128/25",
            "10.8.0.64/26",
            "fd08::/80",
        ] {
            check_routes(&t, &nets(&[fine])).unwrap_or_else(|e| panic!("{fine}: {e:?}"));
        }
        for refused in [
            "0.0.0.0/0",
            "0.0.0.0/1",
            "128.0.0.0/1",
            "169.254.169.254/32",
            "10.0.0.53/32",
            "192.168.0.0/16",
            "fe80::1/128",
            "::/0",
        ] {
            let e = check_routes(&t, &nets(&[refused])).unwrap_err();
            assert_eq!(e.code, "route_not_allowed", "{refused}");
        }
        assert_eq!(
            check_routes(&t, &nets(&["192.168.50.1/24"]))
                .unwrap_err()
                .code,
            "invalid_prefix"
        );
    }

    #[test]
    fn link_local_and_loopback_are_never_declared_routable() {
        for refused in [
            "169.254.0.0/16",
            "169.254.169.254/32",
            "127.0.0.0/8",
            "0.0.0.0/0",
            "fe80::/64",
            "::/0",
        ] {
            assert!(check_routable(&nets(&[refused])).is_err(), "{refused}");
        }
        check_routable(&nets(&["192.168.50.0/24", "172.16.0.0/12", "fd00:1::/48"])).unwrap();
    }
}
