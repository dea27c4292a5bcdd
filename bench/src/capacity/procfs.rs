//! What /proc tells about a process's network namespace: interface counters and UDP
//! counters (its resident memory is `host::rss_kib`). `/proc/<pid>/net/` shows the namespace of that
//! process, so the gateway's TUN is read from outside its namespace without `ip netns exec`.

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// One interface's counters from /proc/<pid>/net/dev. RX and TX are the kernel's view:
/// on a TUN, RX is what the userspace program wrote, TX what it was given to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
}

impl Link {
    pub fn since(self, earlier: Link) -> Link {
        Link {
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            rx_packets: self.rx_packets - earlier.rx_packets,
            rx_dropped: self.rx_dropped - earlier.rx_dropped,
            tx_bytes: self.tx_bytes - earlier.tx_bytes,
            tx_packets: self.tx_packets - earlier.tx_packets,
            tx_dropped: self.tx_dropped - earlier.tx_dropped,
        }
    }
}

pub fn link(pid: u32, iface: &str) -> Result<Link, String> {
    let path = format!("/proc/{pid}/net/dev");
    let text = read(&path)?;
    let line = text
        .lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name.trim() == iface).then_some(rest)
        })
        .ok_or_else(|| format!("no {iface} in {path}"))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    if v.len() < 16 {
        return Err(format!("unexpected line in {path}: {line}"));
    }
    Ok(Link {
        rx_bytes: v[0],
        rx_packets: v[1],
        rx_dropped: v[3],
        tx_bytes: v[8],
        tx_packets: v[9],
        tx_dropped: v[11],
    })
}

/// The `Udp:` counters of /proc/<pid>/net/snmp (pass "self" for our own namespace), by
/// name: InDatagrams, RcvbufErrors, SndbufErrors, ...
pub fn udp(pid: &str) -> Result<Vec<(String, u64)>, String> {
    let path = format!("/proc/{pid}/net/snmp");
    let text = read(&path)?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return Err(format!("no Udp lines in {path}"));
    };
    Ok(names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .map(|(n, v)| (n.to_owned(), v.parse().unwrap_or(0)))
        .collect())
}

/// One named counter's growth between two `udp` readings.
pub fn delta(before: &[(String, u64)], after: &[(String, u64)], name: &str) -> u64 {
    let get = |s: &[(String, u64)]| s.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
    get(after).saturating_sub(get(before))
}
