//! A test hook: a shard stopped at will, standing for one that a flood keeps from its
//! work. What must hold while a shard is stuck (the API, metrics and other tunnels keep
//! answering; a change for its peers queues instead of hanging) is tested with it.

use std::sync::{Condvar, Mutex};

/// Holds a shard until opened.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    /// Blocks the calling shard until [`Gate::open`].
    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }
}

/// A stalled shard; dropping it lets the shard go on.
#[derive(Debug)]
pub struct ShardStall {
    pub(crate) gate: std::sync::Arc<Gate>,
}

impl Drop for ShardStall {
    fn drop(&mut self) {
        self.gate.open();
    }
}
