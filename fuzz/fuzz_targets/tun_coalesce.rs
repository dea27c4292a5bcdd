//! The TUN write coalescer and the splitter on the other side of it: a batch of packets
//! (any bytes) is planned and gathered into writes as the engine writes them to the TUN,
//! and every write is then checked as the kernel would take it. Each packet is written
//! exactly once, in its order within its flow; a packet written alone is written as it
//! came; a super-packet, split again by tun-rs's `gso_split` (the code that splits the
//! kernel's super-packets on reads), gives back the packets that went in, with valid
//! checksums, differing only where segmentation rewrites (the IPv4 ID and checksums).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tun_rs::{VIRTIO_NET_HDR_LEN, VirtioNetHdr, gso_split};
use wiregate_dataplane::Coalescer;
use wiregate_fuzz::packets::{Batch, same_after_segmentation};

fuzz_target!(|data: &[u8]| {
    let batch = Batch::decode(data);
    let packets = &batch.packets;
    // As in the engine, a buffer goes on past its packet (it is reused batch to batch).
    let mut bufs: Vec<Vec<u8>> = packets
        .iter()
        .map(|p| [&p[..], &[0xa5; 64]].concat())
        .collect();
    let lens: Vec<usize> = packets.iter().map(Vec::len).collect();
    let mut coalescer = Coalescer::default();
    coalescer.plan(&mut bufs, &lens, batch.udp_gso);
    let mut written = vec![false; packets.len()];
    let refused = coalescer.gather(&bufs, &lens, |iov| {
        let members: Vec<usize> = iov[1..].iter().map(|s| owner(&bufs, s)).collect();
        assert!(members.windows(2).all(|w| w[0] < w[1]), "out of order");
        for &m in &members {
            assert!(!written[m], "packet {m} written twice");
            written[m] = true;
        }
        let bytes: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
        let (vnet, packet) = bytes.split_at(VIRTIO_NET_HDR_LEN);
        let hdr = VirtioNetHdr::decode(vnet).expect("a virtio header");
        if members.len() == 1 {
            assert_eq!(
                vnet, &[0; VIRTIO_NET_HDR_LEN],
                "a packet alone asks nothing"
            );
            assert_eq!(
                packet,
                &packets[members[0]][..],
                "a packet alone is unchanged"
            );
            return true;
        }
        // No segment is longer than the super-packet it is cut from.
        let mut out = vec![vec![0u8; packet.len()]; members.len() + 1];
        let mut sizes = vec![0; out.len()];
        let mut input = packet.to_vec();
        let v6 = packet[0] >> 4 == 6;
        let n = gso_split(&mut input, hdr, &mut out, &mut sizes, 0, v6).expect("splits");
        assert_eq!(n, members.len(), "segments of the super-packet");
        for (segment, &m) in out.iter().zip(&sizes).map(|(b, &n)| &b[..n]).zip(&members) {
            assert!(
                same_after_segmentation(segment, &packets[m]),
                "segment differs from packet {m}:\n{segment:02x?}\n{:02x?}",
                packets[m]
            );
        }
        true
    });
    assert_eq!(refused, 0);
    assert!(written.iter().all(|&w| w), "a packet was never written");
});

/// Which packet's buffer `slice` lies in.
fn owner(bufs: &[Vec<u8>], slice: &[u8]) -> usize {
    let at = slice.as_ptr() as usize;
    bufs.iter()
        .position(|b| {
            let start = b.as_ptr() as usize;
            (start..start + b.len()).contains(&at)
        })
        .expect("a write gathers only the batch's buffers")
}
