//! A shard that never returns to its work (a flood keeps it busy; here the test hook
//! `Device::stall_shard` holds it) must not hang the control plane. Commands used to share
//! the shard's bounded inbox and were sent with a blocking send, under the device's lock:
//! past 1,024 queued commands the next change blocked forever, and with it every reader of
//! the device. Now a change queues, says so (`commands_pending`), and is applied once the
//! shard goes on; the device's other shard and other devices keep working meanwhile.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{device_with_client, own_namespace, total};
use wiregate_core::{PeerConfig, PrivateKey};
use wiregate_dataplane::DeviceError;

/// Runs `f` on a thread of its own, in this test's namespace; `None` if it takes longer
/// than `within` (it is then left behind, hung).
fn within<T: Send + 'static>(
    within: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let ns = std::fs::File::open("/proc/thread-self/ns/net").expect("this thread's namespace");
    std::thread::spawn(move || {
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let _ = tx.send(f());
    });
    rx.recv_timeout(within).ok()
}

#[test]
fn a_stalled_shard_queues_changes_instead_of_hanging_the_control_plane() {
    own_namespace();
    let (device, mut client) = device_with_client("stall0");
    let (other, mut other_client) = device_with_client("stall1");
    client.handshake();

    let stall = device.stall_shard(0).expect("shard 0");
    // 3,000 new peers: about half are placed on the stalled shard, more commands than its
    // inbox once held.
    let peers: Vec<PeerConfig> = (0..3000u32)
        .map(|i| {
            let mut peer = PeerConfig::new(PrivateKey::generate().public_key());
            peer.allowed_ips = vec![
                format!("10.{}.{}.{}/32", 100 + i / 65_536, (i / 256) % 256, i % 256)
                    .parse()
                    .unwrap(),
            ];
            peer
        })
        .collect();
    let started = Instant::now();
    let committed = within(Duration::from_secs(10), {
        let device = device.clone();
        move || {
            device.update(|current| {
                let mut config = current.clone();
                config.peers.extend(peers);
                Ok::<_, DeviceError>((config, vec![]))
            })
        }
    });
    assert!(
        matches!(committed, Some(Ok(()))),
        "a change for a stalled shard hung (or failed): {committed:?}"
    );
    eprintln!(
        "3,000 peers committed with a shard stalled in {:?}",
        started.elapsed()
    );
    // Readers of the device answer; the change is queued and says so.
    let report = within(Duration::from_secs(5), {
        let device = device.clone();
        move || device.report().peers.len()
    });
    assert_eq!(report, Some(3001), "the device's report hung");
    let pending = device.shard_counters()[0].commands_pending;
    assert!(
        pending >= 1000,
        "{pending} commands pending on the stalled shard"
    );
    // Another tunnel is untouched.
    other_client.handshake();

    drop(stall);
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&device).commands_pending > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = total(&device);
    assert_eq!(after.commands_pending, 0, "{after:?}");
    assert_eq!(after.peers, 3001, "{after:?}");
    // And the first peer's tunnel still works.
    client.handshake();
    drop(other);
}
