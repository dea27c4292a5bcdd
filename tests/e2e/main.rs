//! End-to-end tests of the wiregate gateway against real WireGuard peers.
//!
//! Each test builds its own network namespaces (a gateway namespace and one per client,
//! joined by veth links), runs `wiregate serve` in the gateway's, and talks to it with
//! wireguard-go clients and the stock `wg`, `wg-quick`, `ping` and `iperf3`. No traffic
//! leaves those namespaces.
//!
//! They need root, /dev/net/tun, wireguard-go, wireguard-tools, iproute2, iperf3,
//! iputils-ping and procps: `tests/run` installs them and runs everything. A missing
//! prerequisite fails the tests with a message saying what is missing.
//!
//! Tests run in parallel: every interface and namespace name is unique to the process and
//! test (see `names`), because UAPI sockets live in the one shared /var/run/wireguard.
//! `WIREGATE_E2E_BIN=/path/to/wiregate` runs them against another build of the gateway.
#![cfg(target_os = "linux")]

// The harness, one concern per module.
mod agreement;
mod cmd;
mod database;
mod gateway;
mod iperf;
mod names;
mod netns;
mod ping;
mod prereq;
mod scrape;
mod stats;
mod topo;
mod wg;
mod wggo;

// The tests.
mod api_provisioning;
mod backend_switch;
mod bad_config;
mod cli;
mod fleet;
mod hub;
mod integrity;
mod kernel_api;
mod kernel_backend;
mod lifecycle;
mod low_order;
mod metrics;
mod multi_tunnel;
mod padding;
mod postgres_store;
mod reload;
mod roaming;
mod shards;
mod sockets;
mod stalled_shard;
mod sticky_source;
mod store_outage;
mod systemd_notify;
mod throughput;
mod timers;
mod underlay_v6;
mod unknown_peer;
mod wg_cli;
mod wg_quick;
