//! Incoming handshake initiations, queued per shard and opened after the batch's data.
//!
//! An initiation costs four or five X25519 operations, a data packet a few microseconds
//! of ChaCha20, so initiations wait in a queue of their own and a shard opens at most
//! `BUDGET` of them between two batches of data: a flood of initiations slows
//! handshakes, not established tunnels. The queue is also the load signal, as in the
//! kernel: a shard whose queue holds an eighth of its capacity is under load (and stays
//! so for a second), and while under load an initiation is queued only if it carries a
//! valid cookie MAC (mac2); otherwise it gets a cookie reply, which costs no
//! Diffie-Hellman. A fixed rate would send cookies to thousands of peers rekeying in
//! normal operation; a queue that keeps up never does.
//!
//! One thing differs from the kernel: initiations turned away for want of a cookie keep
//! the load on while they come as fast as would have filled that eighth of the queue in
//! a second. The kernel's load ends a second after its queue was last long, though the
//! flood goes on; the next initiations are queued again, and each of those costs
//! Diffie-Hellmans until the queue is long again: a burst of hundreds every second, on
//! the shard that carries data too.

use crate::io::Path;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wiregate_core::protocol::HANDSHAKE_INITIATION_LEN;

/// Initiations a shard holds before it drops new ones (the kernel's
/// MAX_QUEUED_INCOMING_HANDSHAKES).
pub(crate) const QUEUE_CAPACITY: usize = 4096;
/// Queue length at which a shard is under load (the kernel's: an eighth).
const UNDER_LOAD_LENGTH: usize = QUEUE_CAPACITY / 8;
/// How long a shard stays under load after its queue was that long (the kernel's).
pub(crate) const UNDER_LOAD_AFTER: Duration = Duration::from_secs(1);
/// Initiations opened between two batches of data (tunable).
pub(crate) const BUDGET: usize = 64;

#[derive(Debug)]
pub(crate) struct Pending {
    pub from: Path,
    pub data: [u8; HANDSHAKE_INITIATION_LEN],
}

#[derive(Debug, Default)]
pub(crate) struct HandshakeQueue {
    pending: VecDeque<Pending>,
    under_load_until: Option<Instant>,
    /// Initiations turned away for want of a cookie in the second that began then.
    turned_away: Option<(Instant, usize)>,
}

impl HandshakeQueue {
    /// Whether new initiations must prove their address with a cookie.
    pub fn under_load(&mut self, now: Instant) -> bool {
        if self.pending.len() >= UNDER_LOAD_LENGTH {
            self.under_load_until = Some(now + UNDER_LOAD_AFTER);
            return true;
        }
        self.under_load_until.is_some_and(|until| now < until)
    }

    /// Notes an initiation turned away under load for want of a cookie: as many in a
    /// second as would make the queue long keep the load on.
    pub fn turned_away(&mut self, now: Instant) {
        let (since, count) = match self.turned_away {
            Some((since, count)) if now.saturating_duration_since(since) < UNDER_LOAD_AFTER => {
                (since, count + 1)
            }
            _ => (now, 1),
        };
        self.turned_away = Some((since, count));
        if count >= UNDER_LOAD_LENGTH {
            self.under_load_until = Some(now + UNDER_LOAD_AFTER);
        }
    }

    /// Queues an initiation (`data` is exactly one); false if the queue is full.
    pub fn push(&mut self, from: Path, data: &[u8]) -> bool {
        let Ok(data) = data.try_into() else {
            return false;
        };
        if self.pending.len() >= QUEUE_CAPACITY {
            return false;
        }
        self.pending.push_back(Pending { from, data });
        true
    }

    pub fn pop(&mut self) -> Option<Pending> {
        self.pending.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: Path = Path {
        remote: std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::LOCALHOST,
            1,
        )),
        local: None,
    };

    #[test]
    fn load_follows_the_queue_and_lingers_a_second() {
        let mut q = HandshakeQueue::default();
        let t0 = Instant::now();
        let init = [0u8; HANDSHAKE_INITIATION_LEN];
        for _ in 0..UNDER_LOAD_LENGTH - 1 {
            assert!(q.push(FROM, &init));
        }
        assert!(!q.under_load(t0), "below an eighth of the queue");
        assert!(q.push(FROM, &init));
        assert!(q.under_load(t0), "at an eighth of the queue");
        while q.pop().is_some() {}
        assert!(q.under_load(t0 + Duration::from_millis(999)), "lingers");
        assert!(!q.under_load(t0 + UNDER_LOAD_AFTER), "and ends");
    }

    /// Under load, initiations turned away for want of a cookie at the rate that makes
    /// load keep it on; fewer let it end on time.
    #[test]
    fn a_flood_of_initiations_without_cookies_keeps_the_load_on() {
        let mut q = HandshakeQueue::default();
        let t0 = Instant::now();
        let init = [0u8; HANDSHAKE_INITIATION_LEN];
        for _ in 0..UNDER_LOAD_LENGTH {
            assert!(q.push(FROM, &init));
        }
        assert!(q.under_load(t0));
        while q.pop().is_some() {}
        let tick = UNDER_LOAD_AFTER / UNDER_LOAD_LENGTH as u32;
        let mut t = t0;
        for _ in 0..3 * UNDER_LOAD_LENGTH {
            t += tick;
            q.turned_away(t);
        }
        assert!(
            q.under_load(t + UNDER_LOAD_AFTER / 2),
            "a flood keeps it on"
        );
        let mut q2 = HandshakeQueue::default();
        for _ in 0..UNDER_LOAD_LENGTH {
            q2.push(FROM, &init);
        }
        assert!(q2.under_load(t0));
        while q2.pop().is_some() {}
        for i in 0..UNDER_LOAD_LENGTH as u32 / 2 {
            q2.turned_away(t0 + 2 * tick * i);
        }
        assert!(!q2.under_load(t0 + UNDER_LOAD_AFTER), "a trickle does not");
    }

    #[test]
    fn a_full_queue_refuses_and_wrong_sizes_are_refused() {
        let mut q = HandshakeQueue::default();
        let init = [0u8; HANDSHAKE_INITIATION_LEN];
        for _ in 0..QUEUE_CAPACITY {
            assert!(q.push(FROM, &init));
        }
        assert!(!q.push(FROM, &init));
        assert_eq!(q.len(), QUEUE_CAPACITY);
        let mut q = HandshakeQueue::default();
        assert!(!q.push(FROM, &init[1..]));
        assert!(q.is_empty());
    }
}
