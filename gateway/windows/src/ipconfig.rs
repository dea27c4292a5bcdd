//! The adapter's IP configuration through the IP Helper API, by the adapter's LUID: its
//! MTU, its addresses, and a route for every peer's allowed IPs. Changes are the
//! difference from what was last set, as on Linux (`netconf::sync_interface`).
#![allow(unsafe_code)]

use ipnet::IpNet;
use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use windows_sys::Win32::Foundation::{ERROR_NOT_FOUND, ERROR_OBJECT_ALREADY_EXISTS, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    CreateIpForwardEntry2, CreateUnicastIpAddressEntry, DeleteIpForwardEntry2,
    DeleteUnicastIpAddressEntry, GetIpInterfaceEntry, InitializeIpForwardEntry,
    InitializeIpInterfaceEntry, InitializeUnicastIpAddressEntry, MIB_IPFORWARD_ROW2,
    MIB_IPINTERFACE_ROW, MIB_UNICASTIPADDRESS_ROW, SetIpInterfaceEntry,
};
use windows_sys::Win32::NetworkManagement::Ndis::NET_LUID_LH;
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, IN_ADDR, IN_ADDR_0, IN6_ADDR, IN6_ADDR_0, IpDadStatePreferred, SOCKADDR_IN,
    SOCKADDR_IN6, SOCKADDR_INET,
};
use wiregate_core::TunnelConfig;

fn check(what: &str, status: u32) -> io::Result<()> {
    if status == NO_ERROR {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: {}",
            io::Error::from_raw_os_error(status as i32)
        )))
    }
}

fn luid(value: u64) -> NET_LUID_LH {
    NET_LUID_LH { Value: value }
}

fn sockaddr(address: IpAddr) -> SOCKADDR_INET {
    match address {
        IpAddr::V4(v4) => SOCKADDR_INET {
            Ipv4: SOCKADDR_IN {
                sin_family: AF_INET,
                sin_port: 0,
                sin_addr: IN_ADDR {
                    S_un: IN_ADDR_0 {
                        S_addr: u32::from_ne_bytes(v4.octets()),
                    },
                },
                sin_zero: [0; 8],
            },
        },
        IpAddr::V6(v6) => SOCKADDR_INET {
            Ipv6: SOCKADDR_IN6 {
                sin6_family: AF_INET6,
                sin6_addr: IN6_ADDR {
                    u: IN6_ADDR_0 { Byte: v6.octets() },
                },
                ..SOCKADDR_IN6::default()
            },
        },
    }
}

/// Sets the adapter's MTU for both families.
pub fn set_mtu(adapter: u64, mtu: u16) -> io::Result<()> {
    for family in [AF_INET, AF_INET6] {
        let mut row = MIB_IPINTERFACE_ROW::default();
        // SAFETY: `row` is a valid, writable row for each call.
        unsafe { InitializeIpInterfaceEntry(&mut row) };
        row.Family = family;
        row.InterfaceLuid = luid(adapter);
        check("reading the adapter's interface", unsafe {
            GetIpInterfaceEntry(&mut row)
        })?;
        row.NlMtu = u32::from(mtu);
        // Must be 0 when setting an IPv4 interface (MIB_IPINTERFACE_ROW's documentation).
        row.SitePrefixLength = 0;
        check("setting the adapter's MTU", unsafe {
            SetIpInterfaceEntry(&mut row)
        })?;
    }
    Ok(())
}

fn address_row(adapter: u64, net: &IpNet) -> MIB_UNICASTIPADDRESS_ROW {
    let mut row = MIB_UNICASTIPADDRESS_ROW::default();
    // SAFETY: a valid, writable row.
    unsafe { InitializeUnicastIpAddressEntry(&mut row) };
    row.InterfaceLuid = luid(adapter);
    row.Address = sockaddr(net.addr());
    row.OnLinkPrefixLength = net.prefix_len();
    row.DadState = IpDadStatePreferred;
    row
}

fn route_row(adapter: u64, net: &IpNet) -> MIB_IPFORWARD_ROW2 {
    let mut row = MIB_IPFORWARD_ROW2::default();
    // SAFETY: a valid, writable row.
    unsafe { InitializeIpForwardEntry(&mut row) };
    row.InterfaceLuid = luid(adapter);
    row.DestinationPrefix.Prefix = sockaddr(net.network());
    row.DestinationPrefix.PrefixLength = net.prefix_len();
    // On-link through the adapter: the unspecified next hop of the route's family.
    row.NextHop = sockaddr(match net {
        IpNet::V4(_) => IpAddr::from([0u8; 4]),
        IpNet::V6(_) => IpAddr::from([0u8; 16]),
    });
    row.Metric = 0;
    row
}

/// The routes a configuration needs: every peer's allowed IPs, but those the adapter's
/// own addresses' networks already cover.
fn routes(config: &TunnelConfig) -> BTreeSet<IpNet> {
    config
        .peers
        .iter()
        .flat_map(|p| p.allowed_ips.iter().map(IpNet::trunc))
        .filter(|net| !config.addresses.iter().any(|a| a.trunc() == *net))
        .collect()
}

/// Deletes what `had` has and `want` has not, then creates what is new. Already gone
/// and already there are fine: the adapter may have kept them across a restart.
fn change(
    what: &str,
    had: &BTreeSet<IpNet>,
    want: &BTreeSet<IpNet>,
    delete: impl Fn(&IpNet) -> u32,
    create: impl Fn(&IpNet) -> u32,
) -> io::Result<()> {
    for net in had.difference(want) {
        let status = delete(net);
        if status != ERROR_NOT_FOUND {
            check(&format!("removing {what} {net}"), status)?;
        }
    }
    for net in want.difference(had) {
        let status = create(net);
        if status != ERROR_OBJECT_ALREADY_EXISTS {
            check(&format!("adding {what} {net}"), status)?;
        }
    }
    Ok(())
}

/// Brings the adapter's MTU, addresses and routes from `previous` (`None`: nothing set
/// yet) to `desired`.
pub fn sync(
    adapter: u64,
    previous: Option<&TunnelConfig>,
    desired: &TunnelConfig,
) -> io::Result<()> {
    if previous.is_none_or(|p| p.mtu != desired.mtu) {
        set_mtu(adapter, desired.mtu)?;
    }
    let had: BTreeSet<IpNet> = previous
        .map(|p| p.addresses.iter().copied().collect())
        .unwrap_or_default();
    let want: BTreeSet<IpNet> = desired.addresses.iter().copied().collect();
    // SAFETY (both closures): the rows are valid for the call.
    change(
        "address",
        &had,
        &want,
        |net| unsafe { DeleteUnicastIpAddressEntry(&address_row(adapter, net)) },
        |net| unsafe { CreateUnicastIpAddressEntry(&address_row(adapter, net)) },
    )?;
    let had = previous.map(routes).unwrap_or_default();
    change(
        "route",
        &had,
        &routes(desired),
        |net| unsafe { DeleteIpForwardEntry2(&route_row(adapter, net)) },
        |net| unsafe { CreateIpForwardEntry2(&route_row(adapter, net)) },
    )?;
    Ok(())
}
