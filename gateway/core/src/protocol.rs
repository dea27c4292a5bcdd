//! WireGuard protocol constants, named as in the whitepaper (section 6) and the kernel's
//! `messages.h`. Tunables live beside the code that uses them, marked as such; these never
//! change.

use std::time::Duration;

pub const MESSAGE_HANDSHAKE_INITIATION: u32 = 1;
pub const MESSAGE_HANDSHAKE_RESPONSE: u32 = 2;
pub const MESSAGE_HANDSHAKE_COOKIE: u32 = 3;
pub const MESSAGE_DATA: u32 = 4;

pub const HANDSHAKE_INITIATION_LEN: usize = 148;
pub const HANDSHAKE_RESPONSE_LEN: usize = 92;
pub const COOKIE_REPLY_LEN: usize = 64;
/// Where the sender's unencrypted ephemeral key starts: after type and sender index in an
/// initiation, after type, sender and receiver index in a response.
pub const INITIATION_EPHEMERAL_AT: usize = 8;
pub const RESPONSE_EPHEMERAL_AT: usize = 12;
/// Data message header (type, receiver, counter) plus the Poly1305 tag.
pub const DATA_OVERHEAD: usize = 32;
/// Data message header only: type (4), receiver index (4), counter (8).
pub const DATA_HEADER_LEN: usize = 16;
/// Plaintext is padded to a multiple of this before encryption.
pub const MESSAGE_PADDING_MULTIPLE: usize = 16;

pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
pub const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
pub const COOKIE_SECRET_MAX_AGE: Duration = Duration::from_secs(120);

/// Largest IP packet wiregate reads from a TUN or writes to one.
pub const MAX_IP_PACKET: usize = 65_535;
