//! Interface configuration over rtnetlink: MTU, link up, addresses, and routes for the
//! peers' allowed IPs (what `wg-quick` does with `ip`, without spawning it).
//!
//! These run on the control path only, each on a short-lived current-thread runtime, as
//! rtnetlink is async.

use ipnet::IpNet;
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Runs `work` with a fresh rtnetlink connection on a short-lived runtime. Called from
/// inside another runtime (an async caller that did not move to a blocking thread), it
/// runs on a scoped thread of its own, as a runtime cannot block inside another.
fn run<F, T>(work: impl FnOnce(Handle) -> F + Send) -> io::Result<T>
where
    F: Future<Output = io::Result<T>>,
    T: Send,
{
    let go = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        runtime.block_on(async {
            let (connection, handle, _) = rtnetlink::new_connection()?;
            let task = tokio::spawn(connection);
            let result = work(handle).await;
            task.abort();
            result
        })
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
