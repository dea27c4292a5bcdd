//! Interface configuration over rtnetlink: MTU, link up, addresses, and routes for the
//! peers' allowed IPs (what `wg-quick` does with `ip`, without spawning it).
//!
//! These run on the control path only, each on a short-lived current-thread runtime, as
//! rtnetlink is async.

use ipnet::IpNet;
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wiregate_core::{BackendError, TunnelConfig};

/// Runs `work` with a fresh rtnetlink connection on a short-lived runtime.
fn run<F, T>(work: impl FnOnce(Handle) -> F + Send) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
    T: Send,
{
    blocking(|| async {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let task = tokio::spawn(connection);
        let result = work(handle).await;
        task.abort();
        result
    })
}

/// Runs the future `work` makes to completion on a short-lived current-thread runtime,
/// for the netlink clients, which are async. Called from inside another runtime (an async
/// caller that did not move to a blocking thread), it runs on a scoped thread of its own,
/// as a runtime cannot block inside another.
pub fn blocking<F, T>(work: impl FnOnce() -> F + Send) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
    T: Send,
{
    let go = move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?
            .block_on(work())
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return go();
    }
    std::thread::scope(|scope| {
        scope
            .spawn(go)
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
    })
}

fn netlink_error(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => match m.code {
            Some(code) => io::Error::from_raw_os_error(-code.get()),
            None => io::Error::other("netlink acknowledged with no error"),
        },
        other => io::Error::other(other.to_string()),
    }
}

fn already_exists(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EEXIST)
}

pub fn ifindex(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

/// Sets the MTU, brings the link up and adds `addresses` (already present ones are kept).
pub fn configure_link(name: &str, mtu: u16, addresses: &[IpNet]) -> io::Result<()> {
    let index = ifindex(name)?;
    let context =
        |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{name}: {what}: {e}"));
    run(|h| async move {
        let msg = LinkUnspec::new_with_index(index)
            .mtu(u32::from(mtu))
            .up()
            .build();
        h.link()
            .set(msg)
            .execute()
            .await
            .map_err(netlink_error)
            .map_err(context(format!("setting MTU {mtu} and link up")))?;
        for net in addresses {
            if let Err(e) = h
                .address()
                .add(index, net.addr(), net.prefix_len())
                .execute()
                .await
            {
                let e = netlink_error(e);
                if !already_exists(&e) {
                    return Err(context(format!("adding address {net}"))(e));
                }
            }
        }
        Ok(())
    })
}

/// Removes the addresses of `name` that are not in `keep` (IPv6 link-local ones stay: the
/// kernel manages them), so that a changed address list is applied, not merged.
pub fn remove_other_addresses(name: &str, keep: &[IpNet]) -> io::Result<()> {
    use futures_util::TryStreamExt;
    use rtnetlink::packet_route::address::AddressAttribute;
    let index = ifindex(name)?;
    run(|h| async move {
        let mut stream = h.address().get().set_link_index_filter(index).execute();
        let mut stale = Vec::new();
        while let Some(message) = stream.try_next().await.map_err(netlink_error)? {
            let find = |want_local: bool| {
                message.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) if want_local => Some(*ip),
                    AddressAttribute::Address(ip) if !want_local => Some(*ip),
                    _ => None,
                })
            };
            // IFA_LOCAL is the address itself on point-to-point links such as TUN.
            let Some(ip) = find(true).or_else(|| find(false)) else {
                continue;
            };
            let link_local = matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local());
            let net = IpNet::new(ip, message.header.prefix_len)
                .map_err(|e| io::Error::other(e.to_string()))?;
            if !link_local && !keep.contains(&net) {
                stale.push((net, message));
            }
        }
        for (net, message) in stale {
            h.address()
                .del(message)
                .execute()
                .await
                .map_err(netlink_error)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("{name}: removing address {net}: {e}"))
                })?;
        }
        Ok(())
    })
}

/// Whether wiregate installs a route for this allowed IP. A default route (`/0`) is never
/// installed: it would take over the host's own traffic; route it deliberately instead.
pub fn routable(net: &IpNet) -> bool {
    net.prefix_len() != 0
}

fn route_message(index: u32, net: &IpNet) -> RouteMessage {
    match net.addr() {
        IpAddr::V4(a) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(a, net.prefix_len())
            .output_interface(index)
            .build(),
        IpAddr::V6(a) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(a, net.prefix_len())
            .output_interface(index)
            .build(),
    }
}

/// Adds (`add`) or removes routes through `name` for `nets`. Adding a route that exists or
/// removing one that is gone is not an error: the outcome is what was asked for.
pub fn set_routes(name: &str, nets: &[IpNet], add: bool) -> io::Result<()> {
    let index = ifindex(name)?;
    run(|h| async move {
        for net in nets.iter().filter(|n| routable(n)) {
            let msg = route_message(index, net);
            let result = if add {
                h.route().add(msg).execute().await
            } else {
                h.route().del(msg).execute().await
            };
            if let Err(e) = result {
                let e = netlink_error(e);
                let benign = if add { libc::EEXIST } else { libc::ESRCH };
                if e.raw_os_error() != Some(benign) {
                    let verb = if add { "adding" } else { "removing" };
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{name}: {verb} route {net}: {e}"),
                    ));
                }
            }
        }
        Ok(())
    })
}

/// The link `name`'s kind (`IFLA_INFO_KIND`: "wireguard", "tun", ...), `None` if it has
/// none, or `NotFound` if there is no such link.
pub fn link_kind(name: &str) -> io::Result<Option<String>> {
    use futures_util::TryStreamExt;
    use rtnetlink::packet_route::link::{LinkAttribute, LinkInfo};
    let name = name.to_owned();
    run(|h| async move {
        let missing = || io::Error::new(io::ErrorKind::NotFound, format!("no link {name}"));
        let mut links = h.link().get().match_name(name.clone()).execute();
        let link = match links.try_next().await.map_err(netlink_error) {
            Ok(Some(link)) => link,
            Ok(None) => return Err(missing()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Err(missing()),
            Err(e) => return Err(e),
        };
        Ok(link.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                LinkInfo::Kind(kind) => Some(kind.to_string()),
                _ => None,
            }),
            _ => None,
        }))
    })
}

/// Creates a link of kind `wireguard` named `name` in this network namespace (whose
/// sockets the device will use). The kernel loads its module on demand; without one the
/// answer is `EOPNOTSUPP` (kept as the error's OS code, for the caller to explain).
pub fn add_wireguard_link(name: &str) -> io::Result<()> {
    let name = name.to_owned();
    run(|h| async move {
        let msg = rtnetlink::LinkWireguard::new(&name).build();
        h.link().add(msg).execute().await.map_err(netlink_error)
    })
}

/// Deletes the link `name`, with its addresses and routes.
pub fn delete_link(name: &str) -> io::Result<()> {
    let index = ifindex(name)?;
    run(|h| async move { h.link().del(index).execute().await.map_err(netlink_error) })
}

fn routed(config: &TunnelConfig) -> BTreeSet<IpNet> {
    config
        .peers
        .iter()
        .flat_map(|p| p.allowed_ips.iter().copied())
        .collect()
}

/// Makes the interface of `desired` match it around the data plane, as wg-quick would:
/// MTU, addresses and link state when they changed since `previous` (what was applied
/// before, `None` at first), and routes for the peers' allowed IPs added and removed by
/// their difference.
pub fn sync_interface(
    previous: Option<&TunnelConfig>,
    desired: &TunnelConfig,
) -> Result<(), BackendError> {
    let name = &desired.name;
    let link_changed =
        previous.is_none_or(|a| a.mtu != desired.mtu || a.addresses != desired.addresses);
    if link_changed {
        // Stale addresses go first: removing a primary IPv4 address also removes the
        // secondaries of its subnet, which a new address of that subnet would be.
        remove_other_addresses(name, &desired.addresses)
            .and_then(|()| configure_link(name, desired.mtu, &desired.addresses))
            .map_err(|e| BackendError::io("configuring the interface", e))?;
    }
    let before = previous.map(routed).unwrap_or_default();
    let after = routed(desired);
    let gone: Vec<IpNet> = before.difference(&after).copied().collect();
    let new: Vec<IpNet> = after.difference(&before).copied().collect();
    set_routes(name, &gone, false).map_err(|e| BackendError::io("removing routes", e))?;
    set_routes(name, &new, true).map_err(|e| BackendError::io("adding routes", e))?;
    for net in new.iter().filter(|n| !routable(n)) {
        tracing::warn!(tunnel = %name, %net, "not installing a default route through the tunnel; add it yourself if you mean it");
    }
    Ok(())
}
