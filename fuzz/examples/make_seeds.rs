//! Writes the seed corpora that are made by program rather than captured (see
//! `seeds/make`): batches of packets for `tun_coalesce`, WireGuardNT configuration
//! buffers for `nt_config`, the daemon's embedded configuration for `config_file`,
//! scripts of traffic for the live `engine`.
//! Usage: `make_seeds <seeds directory>`.

use ipnet::IpNet;
use std::path::Path;
use wiregate_core::PublicKey;
use wiregate_fuzz::engine::{self, Event};
use wiregate_fuzz::packets::{Batch, tcp_stream, udp_stream};
use wiregate_windows::layout::{interface_flags, peer_flags};
use wiregate_windows::{Configuration, Interface, Peer, encode};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("the seeds directory");
    std::fs::write(dir.join(name), bytes).expect("a seed file");
}

fn batches() -> Vec<(&'static str, Batch)> {
    let one = |udp_gso, packets| Batch {
        udp_gso,
        repair: true,
        packets,
    };
    let interleave = |a: Vec<Vec<u8>>, b: Vec<Vec<u8>>| {
        a.into_iter()
            .zip(b)
            .flat_map(|(x, y)| [x, y])
            .collect::<Vec<_>>()
    };
    let mut gap = tcp_stream(false, 40002, 7, 6, 1380);
    gap.remove(3);
    let mut corrupt = tcp_stream(false, 40003, 9, 5, 1200);
    corrupt[2][60] ^= 1;
    vec![
        (
            "tcp4-bulk",
            one(false, tcp_stream(false, 40000, 1, 12, 1380)),
        ),
        (
            "tcp6-bulk",
            one(false, tcp_stream(true, 40001, 1, 12, 1360)),
        ),
        ("tcp4-short-last", {
            let mut s = tcp_stream(false, 40004, 5, 4, 1380);
            s.extend(tcp_stream(false, 40004, 5 + 4 * 1380, 1, 200));
            one(false, s)
        }),
        ("tcp4-gap", one(false, gap)),
        (
            "tcp4-corrupt",
            Batch {
                repair: false,
                ..one(false, corrupt)
            },
        ),
        (
            "tcp-64-segments",
            one(false, tcp_stream(false, 40005, 3, 70, 100)),
        ),
        (
            "two-flows-interleaved",
            one(
                false,
                interleave(
                    tcp_stream(false, 40006, 1, 8, 1000),
                    tcp_stream(true, 40007, 1, 8, 1000),
                ),
            ),
        ),
        ("udp4-gso", one(true, udp_stream(false, 50000, 10, 1200))),
        ("udp6-gso", one(true, udp_stream(true, 50001, 10, 1200))),
        ("udp4-no-gso", one(false, udp_stream(false, 50002, 4, 1200))),
    ]
}

fn key(byte: u8) -> PublicKey {
    PublicKey([byte; 32])
}

fn configurations() -> Vec<(&'static str, Configuration)> {
    let net = |s: &str| s.parse::<IpNet>().expect("a prefix");
    let interface = Interface {
        flags: interface_flags::HAS_PRIVATE_KEY | interface_flags::HAS_LISTEN_PORT,
        listen_port: 51820,
        private_key: [7; 32],
        public_key: [8; 32],
    };
    let mut road_warrior = Peer::new(key(1));
    road_warrior.allowed_ips = vec![net("10.99.0.2/32"), net("fd99::2/128")];
    let mut site = Peer::new(key(2));
    site.flags |= peer_flags::HAS_ENDPOINT | peer_flags::HAS_PRESHARED_KEY;
    site.preshared_key = [9; 32];
    site.endpoint = Some("192.0.2.7:51820".parse().expect("an endpoint"));
    site.persistent_keepalive = 25;
    site.allowed_ips = vec![net("10.20.0.0/16"), net("192.168.5.0/24")];
    let mut v6 = Peer::new(key(3));
    v6.flags |= peer_flags::HAS_ENDPOINT;
    v6.endpoint = Some("[2001:db8::7]:51821".parse().expect("an endpoint"));
    v6.tx_bytes = 123_456;
    v6.rx_bytes = 654_321;
    v6.last_handshake = 133_000_000_000_000_000;
    v6.allowed_ips = vec![net("::/0")];
    vec![
        ("empty", Configuration::default()),
        (
            "interface-only",
            Configuration {
                interface: interface.clone(),
                peers: Vec::new(),
            },
        ),
        (
            "three-peers",
            Configuration {
                interface,
                peers: vec![road_warrior, site, v6],
            },
        ),
    ]
}

/// Scripts for the engine: handshakes either way, flows both ways (the coalescer's seed
/// flows, whose addresses the engine's peer may use), replays and altered datagrams,
/// strangers, packets from addresses the peer may not use, time passing.
fn scripts() -> Vec<(&'static str, Vec<Event>)> {
    let sealed = |shard, packet| Event::Sealed {
        shard,
        repair: false,
        packet,
    };
    let plain = |packet| Event::Plain {
        repair: false,
        packet,
    };
    let mut bulk: Vec<Event> = vec![Event::Handshake { shard: 0 }];
    bulk.extend(
        tcp_stream(false, 40000, 1, 8, 1380)
            .into_iter()
            .map(|p| sealed(1, p)),
    );
    bulk.extend(udp_stream(false, 50000, 4, 1200).into_iter().map(plain));
    let mut v6: Vec<Event> = vec![Event::Handshake { shard: 1 }];
    v6.extend(
        tcp_stream(true, 40001, 1, 4, 1360)
            .into_iter()
            .map(|p| sealed(0, p)),
    );
    v6.extend(udp_stream(true, 50001, 3, 1000).into_iter().map(plain));
    let mut spoofed = udp_stream(false, 50002, 1, 64).remove(0);
    spoofed[12..16].copy_from_slice(&[10, 1, 2, 3]);
    let first = |v: Vec<Vec<u8>>| v.into_iter().next().expect("a packet");
    vec![
        ("peer-initiates-bulk", bulk),
        ("ipv6", v6),
        (
            "gateway-initiates",
            vec![
                plain(first(udp_stream(false, 50003, 1, 200))),
                sealed(0, first(udp_stream(false, 50004, 1, 300))),
                Event::Advance { ticks: 40 },
                plain(first(tcp_stream(false, 40002, 9, 1, 500))),
            ],
        ),
        (
            "replayed-and-altered",
            vec![
                Event::Handshake { shard: 0 },
                sealed(1, first(udp_stream(false, 50005, 1, 100))),
                Event::Altered {
                    shard: 1,
                    at: 0,
                    xor: 0,
                },
                Event::Altered {
                    shard: 0,
                    at: 20,
                    xor: 1,
                },
                Event::Altered {
                    shard: 0,
                    at: 5,
                    xor: 0x80,
                },
                Event::Handshake { shard: 1 },
                Event::Altered {
                    shard: 0,
                    at: 0,
                    xor: 0,
                },
            ],
        ),
        (
            "spoofed-source",
            vec![Event::Handshake { shard: 0 }, sealed(0, spoofed)],
        ),
        (
            "strangers",
            vec![
                Event::Raw {
                    shard: 0,
                    stranger: true,
                    data: [&[1u8, 0, 0, 0][..], &[0x5a; 144]].concat(),
                },
                Event::Raw {
                    shard: 1,
                    stranger: false,
                    data: [&[4u8, 0, 0, 0][..], &[0xa5; 44]].concat(),
                },
                Event::Raw {
                    shard: 1,
                    stranger: true,
                    data: [&[3u8, 0, 0, 0][..], &[0x11; 60]].concat(),
                },
                Event::Raw {
                    shard: 0,
                    stranger: false,
                    data: [&[2u8, 0, 0, 0][..], &[0x22; 88]].concat(),
                },
            ],
        ),
        (
            "time-passes",
            vec![
                Event::Handshake { shard: 0 },
                sealed(0, first(udp_stream(false, 50006, 1, 100))),
                Event::Advance { ticks: 255 },
                Event::Advance { ticks: 255 },
                plain(first(udp_stream(false, 50007, 1, 100))),
                Event::Advance { ticks: 255 },
            ],
        ),
    ]
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: make_seeds <seeds directory>");
    let dir = Path::new(&dir);
    for (name, batch) in batches() {
        write(dir, "tun_coalesce", name, &batch.encode());
    }
    for (name, config) in configurations() {
        write(dir, "nt_config", name, &encode(&config));
    }
    for (name, script) in scripts() {
        write(dir, "engine", name, &engine::encode(&script));
    }
    write(
        dir,
        "config_file",
        "embedded-default.toml",
        wiregate::config::EMBEDDED_DEFAULT.as_bytes(),
    );
}
