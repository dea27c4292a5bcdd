//! Receive offload for TUN writes: the decrypted packets of one batch that continue a
//! TCP or UDP flow are written as one super-packet, a virtio GSO header followed by the
//! first packet and then the payloads of the others, so the kernel's stack handles one
//! large packet where it would handle dozens.
//!
//! What may join follows the kernel's own GRO rules: the same addresses, ports and IP
//! header fields, contiguous TCP sequence numbers with the same ACK, window and options,
//! segments of one size but for a shorter last one, and no PSH but on the last. Every
//! segment's checksum is checked first: the kernel trusts the checksum of a super-packet
//! it is told to complete, so a corrupt segment must not hide in one.
//!
//! Nothing is copied or allocated per packet: a super-packet is gathered by `writev`
//! from the packets' own buffers, and only the first packet's headers are rewritten.
//! (tun-rs, which this replaced, copied each packet to the heap and then once more into
//! the first one's buffer: a fifth of the decrypt path's CPU.)

#[cfg(not(target_os = "linux"))]
use crate::checksum::{checksum, checksum_no_fold};
use rustc_hash::FxHashMap;
use std::io::IoSlice;
#[cfg(target_os = "linux")]
use tun_rs::{checksum, checksum_no_fold};

/// Bytes of the `struct virtio_net_hdr` that leads each packet on a TUN device with
/// offloads (Linux's ABI).
pub(crate) const VIRTIO_NET_HDR_LEN: usize = 10;

/// Segments per super-packet: UDP GSO's limit on kernels before 6.2 (`UDP_MAX_SEGMENTS`),
/// applied to TCP too, which reaches the 64 KiB bound first at full-size segments.
const MAX_SEGMENTS: u16 = 64;
/// An IP packet's length field is 16 bits (IPv6's counts the payload only; this is the
/// stricter IPv4 bound, applied to both).
const MAX_LEN: usize = u16::MAX as usize;
/// Buffers gathered by one write: the virtio header, then one per segment.
const MAX_IOV: usize = 1 + MAX_SEGMENTS as usize;

const NONE: u16 = u16::MAX;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_ECE: u8 = 0x40;
const TCP_CWR: u8 = 0x80;
/// virtio_net_hdr flags and GSO types (include/uapi/linux/virtio_net.h).
const NEEDS_CSUM: u8 = 1;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_UDP_L4: u8 = 5;

/// What makes two packets one flow. For TCP the acknowledgement number is part of it:
/// segments that acknowledge different data are not one super-packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    src: [u8; 16],
    dst: [u8; 16],
    ports: [u8; 4],
    proto: u8,
    v6: bool,
    ack: u32,
}

/// The parts of a packet's headers that coalescing reads.
#[derive(Debug, Clone, Copy)]
struct Segment {
    key: FlowKey,
    /// IP header length (20 or 40: packets with IPv4 options or IPv6 extension headers
    /// are written alone).
    ip_len: usize,
    /// IP plus TCP or UDP header.
    header_len: usize,
    payload: usize,
    seq: u32,
    psh: bool,
}

impl Segment {
    fn parse(packet: &[u8], udp: bool) -> Option<Segment> {
        let (ip_len, proto, v6, addrs) = match packet.first()? >> 4 {
            4 => {
                let header = packet.get(..20)?;
                let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
                // No options, the whole packet, not a fragment.
                let fragment = (header[6] & 0x3f) != 0 || header[7] != 0;
                if header[0] != 0x45 || total != packet.len() || fragment {
                    return None;
                }
                (20, header[9], false, &header[12..20])
            }
            6 => {
                let header = packet.get(..40)?;
                let payload = usize::from(u16::from_be_bytes([header[4], header[5]]));
                if payload + 40 != packet.len() {
                    return None;
                }
                (40, header[6], true, &header[8..40])
            }
            _ => return None,
        };
        let half = addrs.len() / 2;
        let mut key = FlowKey {
            src: [0; 16],
            dst: [0; 16],
            ports: [0; 4],
            proto,
            v6,
            ack: 0,
        };
        key.src[..half].copy_from_slice(&addrs[..half]);
        key.dst[..half].copy_from_slice(&addrs[half..]);
        let l4 = &packet[ip_len..];
        key.ports.copy_from_slice(l4.get(..4)?);
        let (header_len, seq, psh) = match proto {
            PROTO_TCP => {
                let tcp = l4.get(..20)?;
                let len = usize::from(tcp[12] >> 4) * 4;
                let flags = tcp[13];
                let refused = TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR;
                if len < 20 || len > l4.len() || flags & refused != 0 || flags & TCP_ACK == 0 {
                    return None;
                }
                key.ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
                let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
                (ip_len + len, seq, flags & TCP_PSH != 0)
            }
            // A zero UDP checksum (none, over IPv4) is not one the kernel may be told to
            // complete; such packets are written alone.
            PROTO_UDP if udp => {
                let header = l4.get(..8)?;
                let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
                if len != l4.len() || header[6..8] == [0, 0] {
                    return None;
                }
                (ip_len + 8, 0, false)
            }
            _ => return None,
        };
        let payload = packet.len() - header_len;
        (payload > 0).then_some(Segment {
            key,
            ip_len,
            header_len,
            payload,
            seq,
            psh,
        })
    }

    fn tcp(&self) -> bool {
        self.key.proto == PROTO_TCP
    }

    /// Whether the TCP or UDP checksum verifies, pseudo-header included, and for IPv4
    /// the header checksum (the head's is rewritten, so a bad one must not pass).
    fn checksum_valid(&self, packet: &[u8]) -> bool {
        let l4 = &packet[self.ip_len..];
        (self.key.v6 || checksum(&packet[..20], 0) == 0xffff)
            && checksum(l4, self.pseudo_header(l4.len())) == 0xffff
    }

    /// The unfolded one's-complement sum of the pseudo-header for `l4_len` bytes of
    /// TCP or UDP.
    fn pseudo_header(&self, l4_len: usize) -> u64 {
        let n = if self.key.v6 { 16 } else { 4 };
        let sum = checksum_no_fold(&self.key.src[..n], 0);
        let sum = checksum_no_fold(&self.key.dst[..n], sum);
        let len = (l4_len as u16).to_be_bytes();
        checksum_no_fold(&[0, self.key.proto, len[0], len[1]], sum)
    }
}

/// Whether two packets' IP headers agree on everything a super-packet keeps only once:
/// ToS, the DF bit and TTL for IPv4; traffic class, flow label and hop limit for IPv6.
fn ip_headers_match(a: &[u8], b: &[u8], v6: bool) -> bool {
    if v6 {
        a[..4] == b[..4] && a[7] == b[7]
    } else {
        a[1] == b[1] && a[6] >> 5 == b[6] >> 5 && a[8] == b[8]
    }
}

/// One write: a packet alone, or a super-packet of a flow's packets in order.
#[derive(Debug, Clone, Copy)]
struct Group {
    head: u16,
    tail: u16,
    count: u16,
    /// The head's parsed headers (None: written alone as it is).
    segment: Option<Segment>,
    /// Bytes of the super-packet: the head whole, the others' payloads.
    len: usize,
    next_seq: u32,
    /// Whether another packet may still join (closed by PSH, a short segment, a limit,
    /// or a head whose checksum failed).
    open: bool,
    head_checked: bool,
    psh: bool,
    vnet: [u8; VIRTIO_NET_HDR_LEN],
}

impl Group {
    fn new(index: usize, len: usize, segment: Option<Segment>) -> Self {
        Group {
            head: index as u16,
            tail: index as u16,
            count: 1,
            segment,
            len,
            next_seq: segment.map_or(0, |s| s.seq.wrapping_add(s.payload as u32)),
            open: segment.is_some_and(|s| !s.psh),
            head_checked: false,
            psh: false,
            vnet: [0; VIRTIO_NET_HDR_LEN],
        }
    }
}

/// Plans the writes of one batch and gathers them; its tables are reused batch to batch.
#[derive(Debug, Default)]
pub struct Coalescer {
    open: FxHashMap<FlowKey, usize>,
    groups: Vec<Group>,
    /// The packet after each packet in its group (`NONE` for the last).
    next: Vec<u16>,
}

impl Coalescer {
    /// Groups `packets` (the first `lens[i]` bytes of `bufs[i]`) into writes and
    /// rewrites each super-packet's head; UDP joins only when `udp` (the device accepts
    /// UDP GSO). Then [`gather`](Self::gather) yields the writes.
    pub fn plan(&mut self, bufs: &mut [Vec<u8>], lens: &[usize], udp: bool) {
        self.open.clear();
        self.groups.clear();
        self.next.clear();
        self.next.resize(lens.len(), NONE);
        // The flow of the packet before: a peer's packets come in runs, and comparing
        // keys is cheaper than hashing one.
        let mut last: Option<(FlowKey, usize)> = None;
        for (i, &len) in lens.iter().enumerate() {
            let packet = &bufs[i][..len];
            let segment = Segment::parse(packet, udp);
            if let Some(s) = segment {
                let open = match last {
                    Some((key, g)) if key == s.key => Some(g),
                    _ => self.open.get(&s.key).copied(),
                };
                if let Some(g) = open
                    && self.join(g, bufs, lens, i, &s)
                {
                    last = Some((s.key, g));
                    continue;
                }
                self.open.insert(s.key, self.groups.len());
                last = Some((s.key, self.groups.len()));
            }
            self.groups.push(Group::new(i, len, segment));
        }
        for group in &mut self.groups {
            let head = usize::from(group.head);
            finish(group, &mut bufs[head][..lens[head]]);
        }
    }

    /// Appends packet `i` to group `g` if it continues it.
    fn join(&mut self, g: usize, bufs: &[Vec<u8>], lens: &[usize], i: usize, s: &Segment) -> bool {
        let group = &mut self.groups[g];
        let Some(head) = group.segment.filter(|_| group.open) else {
            return false;
        };
        let head_packet = &bufs[usize::from(group.head)][..lens[usize::from(group.head)]];
        let packet = &bufs[i][..lens[i]];
        let fits = s.header_len == head.header_len
            && s.payload <= head.payload
            && group.count < MAX_SEGMENTS
            && group.len + s.payload <= MAX_LEN
            && ip_headers_match(head_packet, packet, head.key.v6);
        // TCP: the next bytes of the stream, with the head's reserved bits and AE flag
        // (byte 12, as the kernel's GRO compares them), window, urgent pointer and
        // options (all but the checksum, from byte 14 of the TCP header on).
        let continues = !head.tcp()
            || (s.seq == group.next_seq
                && packet[s.ip_len + 12] == head_packet[head.ip_len + 12]
                && packet[s.ip_len + 14..s.ip_len + 16]
                    == head_packet[head.ip_len + 14..head.ip_len + 16]
                && packet[s.ip_len + 18..s.header_len]
                    == head_packet[head.ip_len + 18..head.header_len]);
        if !fits || !continues {
            return false;
        }
        if !group.head_checked {
            if !head.checksum_valid(head_packet) {
                group.open = false;
                return false;
            }
            group.head_checked = true;
        }
        if !s.checksum_valid(packet) {
            return false;
        }
        self.next[usize::from(group.tail)] = i as u16;
        group.tail = i as u16;
        group.count += 1;
        group.len += s.payload;
        group.next_seq = group.next_seq.wrapping_add(s.payload as u32);
        group.psh |= s.psh;
        group.open = !s.psh && s.payload == head.payload;
        true
    }

    /// Calls `write` once per planned write, in the order of their first packets, with
    /// the buffers to gather; returns the packets of writes that failed.
    pub fn gather(
        &self,
        bufs: &[Vec<u8>],
        lens: &[usize],
        mut write: impl FnMut(&[IoSlice<'_>]) -> bool,
    ) -> usize {
        let mut refused = 0;
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        for group in &self.groups {
            let head = usize::from(group.head);
            iov[0] = IoSlice::new(&group.vnet);
            iov[1] = IoSlice::new(&bufs[head][..lens[head]]);
            let skip = group.segment.map_or(0, |s| s.header_len);
            let mut n = 2;
            let mut at = self.next[head];
            while at != NONE {
                let i = usize::from(at);
                iov[n] = IoSlice::new(&bufs[i][skip..lens[i]]);
                n += 1;
                at = self.next[i];
            }
            if !write(&iov[..n]) {
                refused += usize::from(group.count);
            }
        }
        refused
    }

    /// Writes planned by the last [`plan`](Self::plan).
    #[cfg(test)]
    pub fn writes(&self) -> usize {
        self.groups.len()
    }
}

/// Makes a group's head describe the whole super-packet (lengths, the IPv4 header
/// checksum, PSH, and the pseudo-header sum in the checksum field for the kernel to
/// complete), and fills in its virtio header. A packet alone keeps its bytes and gets
/// a header that asks nothing of the kernel.
fn finish(group: &mut Group, head: &mut [u8]) {
    let Some(s) = group.segment.filter(|_| group.count > 1) else {
        return;
    };
    let total = group.len;
    let l4_len = total - s.ip_len;
    if s.key.v6 {
        head[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    } else {
        head[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        head[10..12].fill(0);
        let sum = !checksum(&head[..20], 0);
        head[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let (csum_offset, gso_type) = if s.tcp() {
        if group.psh {
            head[s.ip_len + 13] |= TCP_PSH;
        }
        (16, if s.key.v6 { GSO_TCPV6 } else { GSO_TCPV4 })
    } else {
        head[s.ip_len + 4..s.ip_len + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        (6, GSO_UDP_L4)
    };
    let at = s.ip_len + csum_offset;
    head[at..at + 2].copy_from_slice(&checksum(&[], s.pseudo_header(l4_len)).to_be_bytes());
    // struct virtio_net_hdr, in host byte order (the TUN device is not told otherwise).
    let fields = [
        s.header_len as u16,
        s.payload as u16,
        s.ip_len as u16,
        csum_offset as u16,
    ];
    group.vnet[0] = NEEDS_CSUM;
    group.vnet[1] = gso_type;
    for (at, field) in fields.iter().enumerate() {
        group.vnet[2 + 2 * at..4 + 2 * at].copy_from_slice(&field.to_ne_bytes());
    }
}

// Checked by splitting with tun-rs, which is Linux only.
#[cfg(all(test, target_os = "linux"))]
#[path = "coalesce_tests.rs"]
mod tests;
