//! Changes made through other gateways sharing the store, applied here as the store
//! announces them: a peer created through any gateway's API is served by every other one
//! within milliseconds, not at the next periodic pass (which stays the backstop).

use crate::reconcile::Reconciler;
use crate::store::{Announced, Store, StoreError, Watch};
use std::sync::Arc;
use std::time::SystemTime;

/// Follows `store`'s announcements until the returned watch is dropped; `None` when no
/// other process writes to the store.
pub fn follow(store: &dyn Store, reconciler: Arc<Reconciler>) -> Result<Option<Watch>, StoreError> {
    store.watch(Box::new(move |announced| match announced {
        Announced::Tunnel { name, at } => {
            reconciler.tunnel(&name);
            if let Ok(late) = SystemTime::now().duration_since(at) {
                reconciler.metrics().fanout.observe(late.as_secs_f64());
            }
        }
        Announced::Anything => reconciler.all(),
    }))
}
