//! Names that are unique across every test running on the machine.
//!
//! Interface names matter most: a WireGuard UAPI socket lives at
//! `/var/run/wireguard/<iface>.sock`, in the file system that all network namespaces
//! share, so two tests (or two test processes) must never pick the same one.

use std::sync::atomic::{AtomicU32, Ordering};

/// Linux's limit on interface names (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// `prefix` + this process's id (fixed width, base 36) + a per-process counter.
/// With a prefix of at most 4 characters the result fits an interface name.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}{}", base36(std::process::id(), 5), base36(n, 1));
    assert!(name.len() <= MAX_IFNAME, "name {name} too long");
    name
}

fn base36(mut value: u32, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while value > 0 || out.len() < width {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

#[test]
fn names_are_fixed_width_and_distinct() {
    assert_eq!(base36(0, 5), "00000");
    assert_eq!(base36(35, 1), "z");
    assert_eq!(base36(36, 1), "10");
    assert_eq!(base36(4_194_304, 5), "2hwcg");
    let a = unique("wgt");
    let b = unique("wgt");
    assert_ne!(a, b);
    assert!(a.len() <= MAX_IFNAME);
}
