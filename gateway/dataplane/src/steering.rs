//! Kernel steering: a classic-BPF program on the tunnel's `SO_REUSEPORT` group that sends
//! each datagram to the socket of the shard that owns its peer, so that handing datagrams
//! between shards becomes the exception.
//!
//! The kernel runs the program with the packet starting at the UDP payload and uses its
//! return value as an index into the group's sockets, which are in the order they were
//! bound: shard order. Data packets and cookie replies carry the receiver index at bytes
//! 4..8, handshake responses at 8..12, little-endian, so the shard (the index's top
//! `SHARD_BITS`) is the top bits of the last byte. Anything else (initiations, which name
//! their peer only inside the encryption) returns an out-of-range index, and the kernel
//! falls back to its flow hash. A short packet makes the load fail, the program return 0,
//! and shard 0 drop it.
#![allow(unsafe_code)] // setsockopt with a sock_fprog; the one use says why it is sound.

use crate::index::SHARD_BITS;
use std::io;
use std::os::fd::AsRawFd;
use wiregate_core::protocol::{MESSAGE_DATA, MESSAGE_HANDSHAKE_COOKIE, MESSAGE_HANDSHAKE_RESPONSE};

/// `SO_ATTACH_REUSEPORT_CBPF` from `<asm-generic/socket.h>` (x86, ARM, RISC-V; MIPS, SPARC
/// and PA-RISC number it differently and are not built for).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RSH_K: u16 = (libc::BPF_ALU | libc::BPF_RSH | libc::BPF_K) as u16;
const RET_A: u16 = (libc::BPF_RET | libc::BPF_A) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A message type as the program's 32-bit big-endian load of bytes 0..4 sees it.
fn type_word(message_type: u32) -> u32 {
    u32::from_be_bytes(message_type.to_le_bytes())
}

/// The steering program. Jumps are relative: `jt`/`jf` skip that many instructions.
pub fn program() -> Vec<libc::sock_filter> {
    let shift = 8 - SHARD_BITS; // the shard bits are the top of the last byte
    vec![
        /* 0 */ op(LD_W_ABS, 0, 0, 0),
        /* 1 */ op(JEQ_K, 2, 0, type_word(MESSAGE_DATA)), // -> 4
        /* 2 */ op(JEQ_K, 1, 0, type_word(MESSAGE_HANDSHAKE_COOKIE)), // -> 4
        /* 3 */
        op(JEQ_K, 2, 5, type_word(MESSAGE_HANDSHAKE_RESPONSE)), // -> 6, else -> 9
        /* 4 */ op(LD_B_ABS, 0, 0, 7),
        /* 5 */ op(JA, 0, 0, 1), // -> 7
        /* 6 */ op(LD_B_ABS, 0, 0, 11),
        /* 7 */ op(RSH_K, 0, 0, shift),
        /* 8 */ op(RET_A, 0, 0, 0),
        /* 9 */ op(RET_K, 0, 0, u32::MAX), // no such socket: the kernel hashes instead
    ]
}

/// Attaches the program to the reuseport group `socket` belongs to (all its sockets).
pub fn attach(socket: &impl AsRawFd) -> io::Result<()> {
    let filter = program();
    let fprog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `filter`, which outlives the call; the kernel copies the
    // program and checks it, and the option length is that of a `sock_fprog`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{MAX_SHARDS, MAX_SLOTS, PeerRef};
    use rand::{Rng, SeedableRng};

    /// The subset of classic BPF the program uses, run as the kernel would: a load that
    /// runs off the packet ends the program with 0.
    fn run(program: &[libc::sock_filter], packet: &[u8]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = program[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => match packet.get(i.k as usize..i.k as usize + 4) {
                    Some(b) => a = u32::from_be_bytes(b.try_into().unwrap()),
                    None => return 0,
                },
                LD_B_ABS => match packet.get(i.k as usize) {
                    Some(b) => a = u32::from(*b),
                    None => return 0,
                },
                JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JA => pc += i.k as usize,
                RSH_K => a >>= i.k,
                RET_A => return a,
                RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn steers_every_indexed_message_to_its_owner_and_hashes_the_rest() {
        let program = program();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..20_000 {
            let owner = PeerRef {
                shard: rng.gen_range(0..MAX_SHARDS as u16),
                slot: rng.gen_range(0..MAX_SLOTS as u32),
            };
            let receiver = (owner.peer_index() << 8) | rng.gen_range(0..256u32);
            let (message_type, at, len) = match rng.gen_range(0..3) {
                0 => (MESSAGE_DATA, 4, rng.gen_range(32..1500)),
                1 => (MESSAGE_HANDSHAKE_COOKIE, 4, 64),
                _ => (MESSAGE_HANDSHAKE_RESPONSE, 8, 92),
            };
            let mut packet: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            packet[..4].copy_from_slice(&message_type.to_le_bytes());
            packet[at..at + 4].copy_from_slice(&receiver.to_le_bytes());
            assert_eq!(
                run(&program, &packet),
                u32::from(owner.shard),
                "{message_type} {owner:?}"
            );
        }
        let mut initiation = vec![0u8; 148];
        initiation[0] = 1;
        assert_eq!(run(&program, &initiation), u32::MAX);
        assert_eq!(run(&program, &[4, 0, 0]), 0);
        assert_eq!(run(&program, &[]), 0);
    }
}
