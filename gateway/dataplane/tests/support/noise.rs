//! WireGuard's handshake and data messages for the test side, written from the whitepaper
//! (section 5.4) and independent of boringtun, which the data plane runs on.
//!
//! A test can only show that the data plane refuses a handshake with a low-order key if
//! it can make one, and boringtun, like every honest implementation, will not. So each
//! Diffie-Hellman here goes through a [`Key`]: a real key pair, or a public key alone with
//! the result its Diffie-Hellman is taken to give. For a low-order point that is all
//! zeros, which is what X25519 gives the other side whatever its private key, so the
//! other side derives the same keys and the forgery is a valid message.
//!
//! Only what the tests need: mac2 is zero (no cookies: the device is never under load
//! here), and a session neither rekeys nor keeps a replay window.

use blake2::digest::consts::U16;
use blake2::{Blake2s256, Blake2sMac, Digest};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Mac, SimpleHmac};
use std::time::{SystemTime, UNIX_EPOCH};
use x25519_dalek::{PublicKey, StaticSecret};

pub type Bytes32 = [u8; 32];

const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";
const LABEL_MAC1: &[u8] = b"mac1----";
const LABEL_COOKIE: &[u8] = b"cookie--";

pub const MESSAGE_INITIATION: u8 = 1;
pub const MESSAGE_RESPONSE: u8 = 2;
pub const MESSAGE_COOKIE: u8 = 3;
pub const MESSAGE_DATA: u8 = 4;
pub const INITIATION_LEN: usize = 148;
pub const RESPONSE_LEN: usize = 92;
/// Data message header (type, receiver index, counter).
const DATA_HEADER_LEN: usize = 16;
const TAG_LEN: usize = 16;

fn hash(parts: &[&[u8]]) -> Bytes32 {
    let mut h = Blake2s256::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Bytes32 {
    // SimpleHmac: BLAKE2 has no block-level core for `Hmac`; the result is the same.
    let mut m = <SimpleHmac<Blake2s256> as Mac>::new_from_slice(key).expect("any key length");
    parts.iter().for_each(|p| m.update(p));
    m.finalize().into_bytes().into()
}

/// KDF_n: τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i-1) || i).
fn kdf<const N: usize>(key: &Bytes32, input: &[u8]) -> [Bytes32; N] {
    let t0 = hmac(key, &[input]);
    let mut out = [[0; 32]; N];
    let mut previous: Vec<u8> = Vec::new();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = hmac(&t0, &[&previous, &[i as u8 + 1]]);
        previous = slot.to_vec();
    }
    out
}

/// mac1 = MAC(HASH(LABEL_MAC1 || receiver's static public), message up to mac1), where
/// MAC is keyed BLAKE2s with a 16-byte output.
fn mac1(receiver_static: &Bytes32, message: &[u8]) -> [u8; 16] {
    keyed_mac(&hash(&[LABEL_MAC1, receiver_static]), message)
}

/// mac2 = MAC(cookie, message up to mac2): what a message carries after its sender got
/// `cookie` in a cookie reply.
pub fn mac2(cookie: &[u8; 16], message: &[u8]) -> [u8; 16] {
    keyed_mac(cookie, message)
}

fn keyed_mac(key: &[u8], message: &[u8]) -> [u8; 16] {
    let mut m = <Blake2sMac<U16> as Mac>::new_from_slice(key).expect("a 16- or 32-byte key");
    m.update(message);
    m.finalize().into_bytes().into()
}

/// ChaCha20-Poly1305's nonce: 32 zero bits, then the counter, little-endian.
fn nonce(counter: u64) -> Nonce {
    let mut n = [0; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n.into()
}

fn aead_seal(key: &Bytes32, counter: u64, msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(&nonce(counter), Payload { msg, aad })
        .expect("ChaCha20-Poly1305 encrypts any length we use")
}

fn aead_open(key: &Bytes32, counter: u64, msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher.decrypt(&nonce(counter), Payload { msg, aad }).ok()
}

/// TAI64N of `at`: 2^62 + seconds, then nanoseconds, both big-endian. The responder only
/// asks that each initiation's be greater than the last's.
pub fn tai64n(at: SystemTime) -> [u8; 12] {
    let since = at.duration_since(UNIX_EPOCH).expect("after 1970");
    let mut stamp = [0; 12];
    stamp[..8].copy_from_slice(&((1u64 << 62) + since.as_secs()).to_be_bytes());
    stamp[8..].copy_from_slice(&since.subsec_nanos().to_be_bytes());
    stamp
}

fn bytes32(slice: &[u8]) -> Bytes32 {
    slice.try_into().expect("32 bytes")
}

fn u32_at(message: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(message[at..at + 4].try_into().expect("4 bytes"))
}

/// One side of the Diffie-Hellmans a handshake does.
#[derive(Clone)]
pub enum Key {
    Real(StaticSecret),
    /// A public key without its private key; every Diffie-Hellman with it is taken to
    /// give `dh` (zeros for a low-order point, as X25519 does).
    Forged {
        public: Bytes32,
        dh: Bytes32,
    },
}

impl Key {
    pub fn generate() -> Self {
        Key::Real(StaticSecret::random_from_rng(rand::rngs::OsRng))
    }

    /// A low-order point, whose Diffie-Hellman results are all zeros.
    pub fn low_order(public: Bytes32) -> Self {
        Key::Forged {
            public,
            dh: [0; 32],
        }
    }

    pub fn public(&self) -> Bytes32 {
        match self {
            Key::Real(secret) => PublicKey::from(secret).to_bytes(),
            Key::Forged { public, .. } => *public,
        }
    }

    fn dh(&self, theirs: &Bytes32) -> Bytes32 {
        match self {
            Key::Real(secret) => secret.diffie_hellman(&PublicKey::from(*theirs)).to_bytes(),
            Key::Forged { dh, .. } => *dh,
        }
    }
}

/// The chaining key C and hash H both sides carry through the handshake.
#[derive(Clone)]
struct Transcript {
    chaining: Bytes32,
    hash: Bytes32,
}

impl Transcript {
    /// C = HASH(CONSTRUCTION), H = HASH(HASH(C || IDENTIFIER) || responder's static).
    fn start(responder_static: &Bytes32) -> Self {
        let chaining = hash(&[CONSTRUCTION]);
        let hash = hash(&[&hash(&[&chaining, IDENTIFIER]), responder_static]);
        Self { chaining, hash }
    }

    fn mix_hash(&mut self, data: &[u8]) {
        self.hash = hash(&[&self.hash, data]);
    }

    /// An ephemeral public key goes in both: C = KDF1(C, e), H = HASH(H || e).
    fn mix_ephemeral(&mut self, public: &Bytes32) {
        self.mix_chain(public);
        self.mix_hash(public);
    }

    /// C = KDF1(C, input).
    fn mix_chain(&mut self, input: &[u8]) {
        [self.chaining] = kdf(&self.chaining, input);
    }

    /// (C, κ) = KDF2(C, input); returns κ.
    fn mix_key(&mut self, input: &[u8]) -> Bytes32 {
        let [chaining, key] = kdf(&self.chaining, input);
        self.chaining = chaining;
        key
    }

    /// (C, τ, κ) = KDF3(C, Q), H = HASH(H || τ); returns κ.
    fn mix_psk(&mut self, psk: &Bytes32) -> Bytes32 {
        let [chaining, tau, key] = kdf(&self.chaining, psk);
        self.chaining = chaining;
        self.mix_hash(&tau);
        key
    }

    /// AEAD(κ, 0, plain, H), then H = HASH(H || sealed).
    fn seal(&mut self, key: &Bytes32, plain: &[u8]) -> Vec<u8> {
        let sealed = aead_seal(key, 0, plain, &self.hash);
        self.mix_hash(&sealed);
        sealed
    }

    fn open(&mut self, key: &Bytes32, sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        let plain = aead_open(key, 0, sealed, &self.hash).ok_or("a field does not open")?;
        self.mix_hash(sealed);
        Ok(plain)
    }

    /// The transport keys, (initiator's sending, responder's sending) = KDF2(C, ε).
    fn split(&self) -> [Bytes32; 2] {
        kdf(&self.chaining, &[])
    }
}

/// What an initiation is made of; either key may be forged.
pub struct Initiation {
    pub static_key: Key,
    pub ephemeral: Key,
    pub responder: Bytes32,
    pub sender: u32,
    pub timestamp: [u8; 12],
    pub psk: Option<Bytes32>,
}

impl Initiation {
    /// The message, and the initiator's state to read the response with.
    pub fn build(self) -> ([u8; INITIATION_LEN], Initiator) {
        let mut t = Transcript::start(&self.responder);
        let ephemeral = self.ephemeral.public();
        t.mix_ephemeral(&ephemeral);
        let key = t.mix_key(&self.ephemeral.dh(&self.responder));
        let sealed_static = t.seal(&key, &self.static_key.public());
        let key = t.mix_key(&self.static_key.dh(&self.responder));
        let sealed_timestamp = t.seal(&key, &self.timestamp);
        let mut m = [0; INITIATION_LEN];
        m[0] = MESSAGE_INITIATION;
        m[4..8].copy_from_slice(&self.sender.to_le_bytes());
        m[8..40].copy_from_slice(&ephemeral);
        m[40..88].copy_from_slice(&sealed_static);
        m[88..116].copy_from_slice(&sealed_timestamp);
        let mac = mac1(&self.responder, &m[..116]);
        m[116..132].copy_from_slice(&mac);
        (m, Initiator { t, init: self })
    }
}

pub struct Initiator {
    t: Transcript,
    init: Initiation,
}

impl Initiator {
    /// Reads the response to our initiation and derives the session.
    pub fn consume_response(&self, m: &[u8]) -> Result<Session, &'static str> {
        if m.len() != RESPONSE_LEN || m[..4] != [MESSAGE_RESPONSE, 0, 0, 0] {
            return Err("not a handshake response");
        }
        let own_static = self.init.static_key.public();
        if m[60..76] != mac1(&own_static, &m[..60]) {
            return Err("bad mac1");
        }
        if u32_at(m, 8) != self.init.sender {
            return Err("a response to another initiation");
        }
        let mut t = self.t.clone();
        let ephemeral = bytes32(&m[12..44]);
        t.mix_ephemeral(&ephemeral);
        t.mix_chain(&self.init.ephemeral.dh(&ephemeral));
        t.mix_chain(&self.init.static_key.dh(&ephemeral));
        let key = t.mix_psk(&self.init.psk.unwrap_or_default());
        t.open(&key, &m[44..60])?;
        let [send, receive] = t.split();
        Ok(Session::new(send, receive, self.init.sender, u32_at(m, 4)))
    }
}

/// An initiation as its responder read it.
pub struct ReceivedInitiation {
    pub sender: u32,
    pub initiator_static: Bytes32,
    initiator_ephemeral: Bytes32,
    t: Transcript,
    psk: Bytes32,
}

/// Reads an initiation as the responder holding `responder`.
pub fn consume_initiation(
    responder: &Key,
    m: &[u8],
    psk: Option<Bytes32>,
) -> Result<ReceivedInitiation, &'static str> {
    if m.len() != INITIATION_LEN || m[..4] != [MESSAGE_INITIATION, 0, 0, 0] {
        return Err("not a handshake initiation");
    }
    if m[116..132] != mac1(&responder.public(), &m[..116]) {
        return Err("bad mac1");
    }
    let mut t = Transcript::start(&responder.public());
    let initiator_ephemeral = bytes32(&m[8..40]);
    t.mix_ephemeral(&initiator_ephemeral);
    let key = t.mix_key(&responder.dh(&initiator_ephemeral));
    let initiator_static = bytes32(&t.open(&key, &m[40..88])?);
    let key = t.mix_key(&responder.dh(&initiator_static));
    // Authenticated, and the only check a fresh responder makes of it.
    t.open(&key, &m[88..116])?;
    Ok(ReceivedInitiation {
        sender: u32_at(m, 4),
        initiator_static,
        initiator_ephemeral,
        t,
        psk: psk.unwrap_or_default(),
    })
}

impl ReceivedInitiation {
    /// A response with `ephemeral` (forge it for a low-order one), and its session.
    pub fn respond(&self, ephemeral: &Key, sender: u32) -> ([u8; RESPONSE_LEN], Session) {
        let mut t = self.t.clone();
        let public = ephemeral.public();
        t.mix_ephemeral(&public);
        t.mix_chain(&ephemeral.dh(&self.initiator_ephemeral));
        t.mix_chain(&ephemeral.dh(&self.initiator_static));
        let key = t.mix_psk(&self.psk);
        let empty = t.seal(&key, &[]);
        let mut m = [0; RESPONSE_LEN];
        m[0] = MESSAGE_RESPONSE;
        m[4..8].copy_from_slice(&sender.to_le_bytes());
        m[8..12].copy_from_slice(&self.sender.to_le_bytes());
        m[12..44].copy_from_slice(&public);
        m[44..60].copy_from_slice(&empty);
        let mac = mac1(&self.initiator_static, &m[..60]);
        m[60..76].copy_from_slice(&mac);
        let [receive, send] = t.split();
        (m, Session::new(send, receive, sender, self.sender))
    }
}

/// Transport keys and indices of one side of a session.
pub struct Session {
    send: Bytes32,
    receive: Bytes32,
    /// The index the other side addresses us by.
    pub local_index: u32,
    /// The index we address the other side by.
    pub remote_index: u32,
    next_counter: u64,
}

impl Session {
    fn new(send: Bytes32, receive: Bytes32, local_index: u32, remote_index: u32) -> Self {
        Self {
            send,
            receive,
            local_index,
            remote_index,
            next_counter: 0,
        }
    }

    /// Makes `counter` the next message's counter (a session that has sent that many).
    pub fn skip_to(&mut self, counter: u64) {
        self.next_counter = counter;
    }

    /// A data message carrying `packet`, zero-padded to a multiple of 16 bytes.
    pub fn seal(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut plain = packet.to_vec();
        plain.resize(packet.len().next_multiple_of(16), 0);
        let counter = self.next_counter;
        self.next_counter = counter.wrapping_add(1);
        let mut m = vec![MESSAGE_DATA, 0, 0, 0];
        m.extend_from_slice(&self.remote_index.to_le_bytes());
        m.extend_from_slice(&counter.to_le_bytes());
        m.extend_from_slice(&aead_seal(&self.send, counter, &plain, &[]));
        m
    }

    /// The plaintext (padding included; empty for a keepalive) of a data message sealed
    /// under this session's receiving key, whatever receiver index it names: `None` if
    /// it is not a data message or does not open.
    pub fn open(&self, m: &[u8]) -> Option<Vec<u8>> {
        if m.len() < DATA_HEADER_LEN + TAG_LEN || m[..4] != [MESSAGE_DATA, 0, 0, 0] {
            return None;
        }
        let counter = u64::from_le_bytes(m[8..16].try_into().expect("8 bytes"));
        aead_open(&self.receive, counter, &m[DATA_HEADER_LEN..], &[])
    }
}

/// A cookie reply (section 5.4.7) to `initiation`, from the responder whose static public
/// key is `responder`: `cookie` sealed with XChaCha20-Poly1305 under HASH("cookie--" ||
/// responder), with the initiation's mac1 as associated data. Anyone who saw the
/// initiation and knows the responder's public key can make one: it authenticates nothing
/// about where it comes from.
pub fn cookie_reply(responder: &Bytes32, initiation: &[u8], cookie: [u8; 16]) -> Vec<u8> {
    use chacha20poly1305::XChaCha20Poly1305;
    let key = hash(&[LABEL_COOKIE, responder]);
    let nonce = [0x5a; 24];
    let sealed = XChaCha20Poly1305::new(&key.into())
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &cookie,
                aad: &initiation[116..132],
            },
        )
        .expect("sealing a cookie");
    let mut m = vec![MESSAGE_COOKIE, 0, 0, 0];
    m.extend_from_slice(&initiation[4..8]); // the initiator's sender index
    m.extend_from_slice(&nonce);
    m.extend_from_slice(&sealed);
    m
}

/// The cookie a cookie reply to `initiation` carries, from the responder whose static
/// public key is `responder`; `None` if it does not open.
pub fn open_cookie_reply(responder: &Bytes32, initiation: &[u8], reply: &[u8]) -> Option<[u8; 16]> {
    use chacha20poly1305::XChaCha20Poly1305;
    if reply.len() != 64 || reply[..4] != [MESSAGE_COOKIE, 0, 0, 0] {
        return None;
    }
    let key = hash(&[LABEL_COOKIE, responder]);
    let cookie = XChaCha20Poly1305::new(&key.into())
        .decrypt(
            reply[8..32].into(),
            Payload {
                msg: &reply[32..],
                aad: &initiation[116..132],
            },
        )
        .ok()?;
    cookie.try_into().ok()
}

/// Gives the handshake message `m` the mac2 that `cookie` makes.
pub fn set_mac2(m: &mut [u8], cookie: &[u8; 16]) {
    let at = m.len() - 16;
    let mac = mac2(cookie, &m[..at]);
    m[at..].copy_from_slice(&mac);
}
