//! `wiregate stats <tunnel>` output: one `shard=N key=value ...` line per shard, then a
//! `shard=total ...` line with the same keys summed.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Stats {
    /// Counters by shard ("0", "1", ..., "total"), then by key.
    pub shards: HashMap<String, HashMap<String, u64>>,
    /// The text they were parsed from, for messages.
    pub raw: String,
}

impl Stats {
    /// Lines that do not start with `shard=` and values that are not numbers are ignored.
    pub fn parse(text: &str) -> Stats {
        let mut shards = HashMap::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(shard) = fields.next().and_then(|f| f.strip_prefix("shard=")) else {
                continue;
            };
            let counters: HashMap<String, u64> = fields
                .filter_map(|field| field.split_once('='))
                .filter_map(|(key, value)| Some((key.to_owned(), value.parse().ok()?)))
                .collect();
            shards.insert(shard.to_owned(), counters);
        }
        Stats {
            shards,
            raw: text.to_owned(),
        }
    }

    /// One counter; panics (showing the whole output) if the shard or key is missing.
    pub fn get(&self, shard: &str, key: &str) -> u64 {
        self.shards
            .get(shard)
            .and_then(|counters| counters.get(key))
            .copied()
            .unwrap_or_else(|| {
                panic!(
                    "no {key} for shard={shard} in `wiregate stats`:\n{}",
                    self.raw
                )
            })
    }

    pub fn total(&self, key: &str) -> u64 {
        self.get("total", key)
    }

    /// The numbered shards, sorted.
    pub fn shard_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .shards
            .keys()
            .filter(|s| *s != "total")
            .cloned()
            .collect();
        ids.sort();
        ids
    }
}

#[test]
fn parses_per_shard_and_total_lines() {
    let text = "shard=0 peers=2 rx_data_packets=123 rx_bytes=4000 handshakes=3 drop_unknown_peer=0\n\
                shard=1 peers=1 rx_data_packets=7 rx_bytes=100 handshakes=1 drop_unknown_peer=4\n\
                shard=total peers=3 rx_data_packets=130 rx_bytes=4100 handshakes=4 drop_unknown_peer=4\n";
    let stats = Stats::parse(text);
    assert_eq!(stats.shard_ids(), ["0", "1"]);
    assert_eq!(stats.get("0", "rx_data_packets"), 123);
    assert_eq!(stats.get("1", "peers"), 1);
    assert_eq!(stats.total("drop_unknown_peer"), 4);
    assert_eq!(stats.shards["total"].len(), 5);
}

#[test]
#[should_panic(expected = "no tx_bytes for shard=0")]
fn missing_counter_is_an_error() {
    Stats::parse("shard=0 peers=1\nshard=total peers=1\n").get("0", "tx_bytes");
}
