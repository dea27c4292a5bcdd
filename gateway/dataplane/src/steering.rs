//! Kernel steering: a classic-BPF program on the tunnel's `SO_REUSEPORT` group that sends
//! each datagram to the socket of the shard that owns its peer, so that handing datagrams
//! between shards becomes the exception.
//!
//! The kernel runs the program with the packet starting at the UDP payload and uses its
//! return value as an index into the group's sockets, which are in the order they were
//! bound: shard order. Data packets and cookie replies carry the receiver index at bytes
//! 4..8, handshake responses at 8..12. The index is a Speck32/64 block under the
//! device's key (`index_cipher.rs`), read as the program's word load reads it (bytes in
//! order, big-endian); the program decrypts it with the round keys as constants and
//! returns the top `SHARD_BITS` of the plaintext: the owning shard. Anything else
//! (initiations, which name their peer only inside the encryption) returns an
//! out-of-range index, and the kernel falls back to its flow hash; so does an index that
//! decrypts to a shard the group does not have. A short packet makes the load fail, the
//! program return 0, and shard 0 drop it.
#![allow(unsafe_code)] // setsockopt with a sock_fprog; the one use says why it is sound.

use crate::index::SHARD_BITS;
use crate::index_cipher::IndexCipher;
use std::io;
use std::os::fd::AsRawFd;
use wiregate_core::protocol::{MESSAGE_DATA, MESSAGE_HANDSHAKE_COOKIE, MESSAGE_HANDSHAKE_RESPONSE};

/// `SO_ATTACH_REUSEPORT_CBPF` from `<asm-generic/socket.h>` (x86, ARM, RISC-V; MIPS, SPARC
/// and PA-RISC number it differently and are not built for).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_MEM: u16 = (libc::BPF_LD | libc::BPF_MEM) as u16;
const LDX_MEM: u16 = (libc::BPF_LDX | libc::BPF_MEM) as u16;
const ST: u16 = libc::BPF_ST as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RSH_K: u16 = (libc::BPF_ALU | libc::BPF_RSH | libc::BPF_K) as u16;
const LSH_K: u16 = (libc::BPF_ALU | libc::BPF_LSH | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const XOR_K: u16 = (libc::BPF_ALU | libc::BPF_XOR | libc::BPF_K) as u16;
const XOR_X: u16 = (libc::BPF_ALU | libc::BPF_XOR | libc::BPF_X) as u16;
const OR_X: u16 = (libc::BPF_ALU | libc::BPF_OR | libc::BPF_X) as u16;
const SUB_X: u16 = (libc::BPF_ALU | libc::BPF_SUB | libc::BPF_X) as u16;
const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
const RET_A: u16 = (libc::BPF_RET | libc::BPF_A) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Scratch memory cells: Speck's two words, and a temporary.
const X: u32 = 0;
const Y: u32 = 1;
const T: u32 = 2;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn ops(code: u16, k: u32) -> libc::sock_filter {
    op(code, 0, 0, k)
}

/// A message type as the program's 32-bit big-endian load of bytes 0..4 sees it.
fn type_word(message_type: u32) -> u32 {
    u32::from_be_bytes(message_type.to_le_bytes())
}

/// `A = rotate(A, left by r)` on a 16-bit word held in A, with `T` as scratch.
fn rotate_left16(r: u32, program: &mut Vec<libc::sock_filter>) {
    program.extend([
        ops(ST, T),
        ops(LSH_K, r),
        ops(AND_K, 0xffff),
        ops(TAX, 0),
        ops(LD_MEM, T),
        ops(RSH_K, 16 - r),
        ops(OR_X, 0),
    ]);
}

/// The steering program for indices made with `cipher`. Jumps are relative: `jt`/`jf`
/// skip that many instructions.
pub fn program(cipher: &IndexCipher) -> Vec<libc::sock_filter> {
    let mut program = vec![
        /* 0 */ ops(LD_W_ABS, 0),
        /* 1 */ op(JEQ_K, 3, 0, type_word(MESSAGE_DATA)), // -> 5
        /* 2 */ op(JEQ_K, 2, 0, type_word(MESSAGE_HANDSHAKE_COOKIE)), // -> 5
        /* 3 */ op(JEQ_K, 3, 0, type_word(MESSAGE_HANDSHAKE_RESPONSE)), // -> 7
        /* 4 */ ops(RET_K, u32::MAX), // no such socket: the kernel hashes instead
        /* 5 */ ops(LD_W_ABS, 4),
        /* 6 */ ops(JA, 1), // -> 8
        /* 7 */ ops(LD_W_ABS, 8),
        // x = the block's high word, y = its low word.
        /* 8 */ ops(ST, T),
        ops(RSH_K, 16),
        ops(ST, X),
        ops(LD_MEM, T),
        ops(AND_K, 0xffff),
        ops(ST, Y),
    ];
    // Speck's decryption rounds: y = ror(y ^ x, 2); x = rol((x ^ k) - y, 7).
    for &k in cipher.round_keys().iter().rev() {
        program.extend([ops(LDX_MEM, X), ops(LD_MEM, Y), ops(XOR_X, 0)]);
        rotate_left16(14, &mut program);
        program.extend([
            ops(ST, Y),
            ops(TAX, 0),
            ops(LD_MEM, X),
            ops(XOR_K, u32::from(k)),
            ops(SUB_X, 0),
            ops(AND_K, 0xffff),
        ]);
        rotate_left16(7, &mut program);
        program.push(ops(ST, X));
    }
    // The shard is the plaintext's top bits: the top of x.
    program.extend([ops(RSH_K, 16 - SHARD_BITS), ops(RET_A, 0)]);
    program
}

/// Attaches the program for `cipher`'s indices to the reuseport group `socket` belongs
/// to (all its sockets).
pub fn attach(socket: &impl AsRawFd, cipher: &IndexCipher) -> io::Result<()> {
    let filter = program(cipher);
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
    use crate::index::MAX_SHARDS;
    use rand::{Rng, SeedableRng};

    /// The subset of classic BPF the program uses, run as the kernel would: a load that
    /// runs off the packet ends the program with 0.
    fn run(program: &[libc::sock_filter], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let i = program[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => match packet.get(i.k as usize..i.k as usize + 4) {
                    Some(b) => a = u32::from_be_bytes(b.try_into().unwrap()),
                    None => return 0,
                },
                LD_MEM => a = mem[i.k as usize],
                LDX_MEM => x = mem[i.k as usize],
                ST => mem[i.k as usize] = a,
                TAX => x = a,
                JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JA => pc += i.k as usize,
                RSH_K => a >>= i.k,
                LSH_K => a <<= i.k,
                AND_K => a &= i.k,
                XOR_K => a ^= i.k,
                XOR_X => a ^= x,
                OR_X => a |= x,
                SUB_X => a = a.wrapping_sub(x),
                RET_A => return a,
                RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_program_decrypts_as_the_cipher_does() {
        let cipher = IndexCipher::random();
        let program = program(&cipher);
        assert!(program.len() < 4096, "BPF_MAXINSNS");
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..20_000 {
            let index: u32 = rng.r#gen();
            let mut packet = vec![0u8; 32];
            packet[..4].copy_from_slice(&MESSAGE_DATA.to_le_bytes());
            packet[4..8].copy_from_slice(&index.to_le_bytes());
            assert_eq!(run(&program, &packet), u32::from(cipher.shard_of(index)));
        }
    }

    #[test]
    fn steers_every_indexed_message_to_its_owner_and_hashes_the_rest() {
        let cipher = IndexCipher::random();
        let program = program(&cipher);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..20_000 {
            let owner = rng.gen_range(0..MAX_SHARDS as u16);
            let receiver = cipher.fresh_index(owner);
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
                u32::from(owner),
                "{message_type} {owner:?}"
            );
        }
        let mut initiation = vec![0u8; 148];
        initiation[0] = 1;
        assert_eq!(run(&program, &initiation), u32::MAX);
        assert_eq!(run(&program, &[4, 0, 0]), 0);
        assert_eq!(run(&program, &[4, 0, 0, 0, 1]), 0);
        assert_eq!(run(&program, &[]), 0);
    }
}
