//! Datagrams and TUN packets into a live two-shard engine through its I/O seam (the
//! in-memory doubles): a fresh engine and peer for every input, then the input's script
//! of events (`wiregate_fuzz::engine`). Nothing may panic, the engine must fall quiet
//! after every event, and what it writes to its TUN must be what the peer sealed, from
//! an address the peer may use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiregate_fuzz::engine::{Scenario, decode};

fuzz_target!(|data: &[u8]| {
    let events = decode(data);
    Scenario::new().play(&events);
});
