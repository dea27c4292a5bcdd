//! The limits of one core, measured in this process on one thread with the code the
//! gateway runs: X25519 from x25519-dalek (which boringtun's handshake calls), and
//! ChaCha20-Poly1305 from ring (which boringtun's data path seals and opens with). The
//! gateway's figures are then given as a share of these limits.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use std::hint::black_box;
use std::time::{Duration, Instant};
use x25519_dalek::{PublicKey, StaticSecret};

/// X25519 operations a responder does per initiation, by the protocol: DH(S_r, E_i) and
/// DH(S_r, S_i) to open the initiation, DH(E_r, E_i) and DH(E_r, S_i) for the response.
/// (Making E_r costs a fixed-base multiplication on top, which is cheaper.)
pub const DH_PER_HANDSHAKE: f64 = 4.0;
/// How many X25519 wiregate does per initiation today: it opens the static key once to
/// find the peer, then boringtun opens the whole initiation again.
pub const WIREGATE_DH_PER_HANDSHAKE: f64 = 5.0;
/// Each measurement runs in slices and keeps the fastest: on a shared machine the other
/// processes only ever slow a slice down, so the fastest is the closest to the core's own
/// limit.
const SLICE: Duration = Duration::from_millis(250);
const SLICES: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub x25519_per_second: f64,
    /// ChaCha20-Poly1305 on 1420-byte buffers, in place.
    pub seal_bytes_per_second: f64,
    pub open_bytes_per_second: f64,
}

impl Calibration {
    /// Handshakes one core could answer if X25519 were all it did.
    pub fn handshakes_per_core(&self) -> f64 {
        self.x25519_per_second / DH_PER_HANDSHAKE
    }
}

pub fn measure() -> Calibration {
    Calibration {
        x25519_per_second: x25519(),
        seal_bytes_per_second: chacha(false),
        open_bytes_per_second: chacha(true),
    }
}

/// Runs `batch` for `SLICES` slices; returns the fastest slice's operations per second.
fn rate(mut batch: impl FnMut() -> u64) -> f64 {
    (0..SLICES)
        .map(|_| {
            let start = Instant::now();
            let mut done = 0;
            while start.elapsed() < SLICE {
                done += batch();
            }
            done as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn x25519() -> f64 {
    let secret = StaticSecret::random_from_rng(rand::rngs::OsRng);
    let mut public = PublicKey::from(&StaticSecret::random_from_rng(rand::rngs::OsRng));
    rate(|| {
        for _ in 0..100 {
            // Feed each result back in, so no call can be skipped or hoisted.
            public = PublicKey::from(secret.diffie_hellman(black_box(&public)).to_bytes());
        }
        100
    })
}

fn chacha(open: bool) -> f64 {
    const LEN: usize = 1420;
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("key"));
    let mut buf = vec![0u8; LEN + 16];
    let nonce = |n: u64| {
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&n.to_le_bytes());
        Nonce::assume_unique_for_key(bytes)
    };
    // One sealed message, opened again and again: opening decrypts in place, so each
    // open starts from a copy of it (a 1.4 KB copy, small beside the AEAD).
    let tag = key
        .seal_in_place_separate_tag(nonce(0), Aad::empty(), &mut buf[..LEN])
        .expect("seal");
    buf[LEN..].copy_from_slice(tag.as_ref());
    let sealed = buf.clone();
    let mut counter = 0u64;
    let per_second = rate(|| {
        for _ in 0..100 {
            if open {
                buf.copy_from_slice(&sealed);
                key.open_in_place(nonce(0), Aad::empty(), &mut buf)
                    .expect("open");
            } else {
                counter += 1;
                let tag = key
                    .seal_in_place_separate_tag(nonce(counter), Aad::empty(), &mut buf[..LEN])
                    .expect("seal");
                let _ = black_box(tag);
            }
        }
        100
    });
    per_second * LEN as f64
}
