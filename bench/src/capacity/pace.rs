//! How fast a data sender goes. On a 2-core machine a sender that floods takes CPU from
//! the gateway for packets the gateway then drops at its full sockets; a window keeps
//! just enough in flight to keep the gateway busy, so it measures what the gateway can
//! take rather than what is left of the machine.

use std::time::{Duration, Instant};

/// A window that sees no progress for this long is assumed lost (dropped on the way) and
/// written off, so that losses cannot stall the sender.
const STALL: Duration = Duration::from_millis(5);
/// How long a sender that may not send waits before it asks again.
const WAIT_WINDOW: Duration = Duration::from_micros(50);
const WAIT_RATE: Duration = Duration::from_micros(200);

pub enum Pace<'a> {
    /// As fast as the sender can.
    Flood,
    /// A fixed rate, in packets per second.
    Rate(f64),
    /// At most `packets` sent and not yet seen at the far end, as `done` counts them.
    Window {
        packets: usize,
        done: Box<dyn FnMut() -> u64 + Send + 'a>,
    },
}

pub struct Pacer<'a> {
    pace: Pace<'a>,
    start: Instant,
    last_done: u64,
    last_progress: Instant,
    written_off: u64,
    /// Times a stalled window was written off.
    pub write_offs: u64,
}

impl<'a> Pacer<'a> {
    pub fn new(pace: Pace<'a>) -> Self {
        let now = Instant::now();
        Self {
            pace,
            start: now,
            last_done: 0,
            last_progress: now,
            written_off: 0,
            write_offs: 0,
        }
    }

    /// How many packets may go now, `sent` having gone so far. Zero means not yet: it has
    /// already waited a little, so the caller just asks again.
    pub fn allowance(&mut self, sent: u64) -> usize {
        match &mut self.pace {
            Pace::Flood => usize::MAX,
            Pace::Rate(rate) => {
                let due = (*rate * self.start.elapsed().as_secs_f64()) as u64;
                if due <= sent {
                    std::thread::sleep(WAIT_RATE);
                    return 0;
                }
                (due - sent) as usize
            }
            Pace::Window { packets, done } => {
                let done = done();
                let now = Instant::now();
                if done > self.last_done {
                    (self.last_done, self.last_progress) = (done, now);
                }
                let in_flight = sent.saturating_sub(done + self.written_off) as usize;
                if in_flight < *packets {
                    return *packets - in_flight;
                }
                if now - self.last_progress > STALL {
                    self.written_off += in_flight as u64;
                    self.write_offs += 1;
                    self.last_progress = now;
                    return *packets;
                }
                std::thread::sleep(WAIT_WINDOW);
                0
            }
        }
    }
}
