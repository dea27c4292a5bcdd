//! The sustained UDP rate: the highest offered rate that loses less than
//! [`LOSS_LIMIT`], found by stepping down from what got through unlimited. Unlimited UDP
//! measures how fast the sender can write more than what the tunnel can carry (an
//! overloaded receiver drops most of it); this is the rate one could actually rely on.

use super::iperf::{Client, Udp};

/// Percent of datagrams lost that still counts as sustained.
pub const LOSS_LIMIT: f64 = 5.0;
/// The first step offers this share of what the unlimited test received...
const FIRST_STEP: f64 = 0.9;
/// ...and each further step this share of the one before.
const NEXT_STEP: f64 = 0.8;
const MAX_STEPS: u32 = 4;
/// Never ask for less: iperf3 reads `-b 0` as unlimited.
const MIN_RATE: f64 = 1e6;

#[derive(Debug, Clone, Copy, Default)]
pub struct Sustained {
    /// The step's figures (the unlimited test's if it already lost little enough).
    pub udp: Udp,
    /// The rate asked of iperf3 (`-b`), bit/s; 0 for the unlimited test.
    pub target: f64,
    /// Steps run; if none stayed under the limit, `udp` is the last one and `found` false.
    pub steps: u32,
    pub found: bool,
}

/// Steps down from `unlimited`, each step a test of `seconds`.
pub fn search(client: &Client, unlimited: Udp, seconds: u32) -> Result<Sustained, String> {
    if unlimited.loss < LOSS_LIMIT {
        return Ok(Sustained {
            udp: unlimited,
            target: 0.0,
            steps: 0,
            found: true,
        });
    }
    let mut result = Sustained::default();
    let mut target = unlimited.received * FIRST_STEP;
    for step in 1..=MAX_STEPS {
        target = target.max(MIN_RATE);
        let udp = client.udp(target, seconds)?;
        result = Sustained {
            udp,
            target,
            steps: step,
            found: udp.loss < LOSS_LIMIT,
        };
        if result.found {
            break;
        }
        target *= NEXT_STEP;
    }
    Ok(result)
}
