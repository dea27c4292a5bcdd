//! Transport padding: WireGuard pads every data message's plaintext with zeros to the next
//! multiple of 16 bytes, so that a packet's length says less about its content (whitepaper
//! section 5.4.6), but never past the interface's MTU, which the padded packet must still
//! fit once decrypted. Keepalives (empty) stay empty. The receiver trims the padding by
//! the IP header's length.
//!
//! The kernel and wireguard-go follow the same rule, including its corner: a packet larger
//! than the MTU (which a TUN does not normally hand out) is padded as if only its
//! remainder modulo the MTU were left. boringtun's `encapsulate` seals what it is given,
//! so the plaintext is padded in place before it is handed over or encrypted: every TUN
//! buffer keeps [`TAIL_ROOM`] spare bytes after the largest packet it can hold.

use wiregate_core::protocol::MESSAGE_PADDING_MULTIPLE;

/// Spare bytes every plaintext buffer keeps after its packet for the padding.
pub(crate) const TAIL_ROOM: usize = MESSAGE_PADDING_MULTIPLE;

/// The length a plaintext of `len` bytes is padded to on an interface of `mtu` bytes
/// (0: no MTU known, pad to the multiple only).
pub(crate) fn padded_len(len: usize, mtu: usize) -> usize {
    if mtu == 0 {
        return len.next_multiple_of(MESSAGE_PADDING_MULTIPLE);
    }
    let last_unit = if len > mtu { len % mtu } else { len };
    let padded_unit = last_unit
        .next_multiple_of(MESSAGE_PADDING_MULTIPLE)
        .min(mtu);
    len + (padded_unit - last_unit)
}

/// Pads the packet `buf[..len]` in place and returns it padded. The padding is clipped to
/// the buffer, which never happens with [`TAIL_ROOM`] spare (and would only cost padding).
pub(crate) fn pad(buf: &mut [u8], len: usize, mtu: usize) -> &[u8] {
    let len = len.min(buf.len());
    let padded = padded_len(len, mtu).min(buf.len());
    buf[len..padded].fill(0);
    &buf[..padded]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_sixteen_without_passing_the_mtu() {
        let cases = [
            // (packet, MTU, padded)
            (0, 1420, 0), // a keepalive stays empty
            (1, 1420, 16),
            (84, 1420, 96),   // an IPv4 ping
            (104, 1420, 112), // an IPv6 ping
            (96, 1420, 96),   // already a multiple
            (1400, 1420, 1408),
            (1412, 1420, 1420), // would be 1424: clipped at the MTU
            (1419, 1420, 1420),
            (1420, 1420, 1420), // exactly the MTU: nothing added
            (1421, 1420, 1436), // past the MTU: its remainder (1) padded to 16
            (1280, 1280, 1280),
            (1500, 0, 1504), // no MTU: the multiple only
        ];
        for (len, mtu, padded) in cases {
            assert_eq!(padded_len(len, mtu), padded, "{len} bytes, MTU {mtu}");
        }
    }

    #[test]
    fn agrees_with_a_naive_reference() {
        // Add zeros one at a time until the length is a multiple of 16 or an added byte
        // would pass the MTU (for packets within the MTU).
        for mtu in [1280, 1337, 1420, 1500, 9000] {
            for len in 0..=mtu {
                let mut naive = len;
                while naive % MESSAGE_PADDING_MULTIPLE != 0 && naive < mtu {
                    naive += 1;
                }
                assert_eq!(padded_len(len, mtu), naive, "{len} bytes, MTU {mtu}");
            }
        }
    }

    #[test]
    fn pad_zeroes_in_place_and_stays_in_the_buffer() {
        let mut buf = [0xaa; 100];
        let padded = pad(&mut buf, 84, 1420);
        assert_eq!(padded.len(), 96);
        assert!(padded[..84].iter().all(|&b| b == 0xaa));
        assert!(padded[84..].iter().all(|&b| b == 0));
        assert_eq!(buf[96], 0xaa);
        // No tail room: clipped, never a panic.
        let mut tight = [0xaa; 90];
        assert_eq!(pad(&mut tight, 84, 1420).len(), 90);
        assert_eq!(pad(&mut tight, 200, 1420).len(), 90);
    }
}
