//! The simulated-time protocol tests live in `tests/`; this library only pins the clock
//! they share: boringtun's (`mock_instant`, one per thread) and the engine's move together.

use std::time::Duration;
use wiregate_dataplane::sim::Engine;

/// A `shards`-shard engine whose clock also moves boringtun's.
pub fn engine(shards: usize) -> Engine {
    Engine::new("sim0", shards, 0)
        .expect("engine")
        .with_clock(|step: Duration| mock_instant::MockClock::advance(step))
}
