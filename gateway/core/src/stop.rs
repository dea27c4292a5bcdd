//! A stop flag that background threads check and wait on: raised once, it wakes every
//! waiter at once, so a thread that sleeps between rounds of work stops without sleeping
//! its round out.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `timeout`; true once stopped.
    pub fn wait(&self, timeout: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (stopped, _) = self
            .changed
            .wait_timeout_while(stopped, timeout, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        *stopped
    }
}

/// A thread that runs until its handle is dropped: dropping it raises the thread's stop
/// flag and waits for the thread to end.
#[derive(Debug)]
pub struct Worker {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts `work` on a thread named `name`; `work` returns once its flag is raised.
    pub fn spawn(name: &str, work: impl FnOnce(&Stop) + Send + 'static) -> std::io::Result<Self> {
        let stop = Arc::new(Stop::default());
        let thread = std::thread::Builder::new().name(name.into()).spawn({
            let stop = stop.clone();
            move || work(&stop)
        })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_waiter_wakes_when_stopped_not_at_its_timeout() {
        let stop = Arc::new(Stop::default());
        assert!(!stop.wait(Duration::from_millis(1)));
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (stop.wait(Duration::from_secs(30)), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
        let (stopped, waited) = waiter.join().unwrap();
        assert!(stopped && waited < Duration::from_secs(5), "{waited:?}");
        assert!(stop.is_stopped() && stop.wait(Duration::ZERO));
    }

    #[test]
    fn dropping_a_worker_stops_it_and_waits_for_it() {
        let ended = Arc::new(Mutex::new(false));
        let worker = Worker::spawn("test-worker", {
            let ended = ended.clone();
            move |stop| {
                while !stop.wait(Duration::from_secs(30)) {}
                *ended.lock().unwrap() = true;
            }
        })
        .unwrap();
        drop(worker);
        assert!(*ended.lock().unwrap());
    }
}
