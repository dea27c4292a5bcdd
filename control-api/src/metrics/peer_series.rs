//! Cardinality control: which peers get per-peer series. Thousands of peers times three
//! series each must not melt a Prometheus, so an operator can turn them off or keep the
//! busiest only.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerSeries {
    /// Every peer (the default).
    #[default]
    All,
    /// None: per-tunnel figures only.
    None,
    /// The N peers of each tunnel with the most traffic (sent + received).
    Top(usize),
}

impl FromStr for PeerSeries {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            _ => s
                .strip_prefix("top:")
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .map(Self::Top)
                .ok_or_else(|| {
                    format!("peer_series {s:?} is not \"all\", \"none\" or \"top:N\" with N > 0")
                }),
        }
    }
}

impl fmt::Display for PeerSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::None => f.write_str("none"),
            Self::Top(n) => write!(f, "top:{n}"),
        }
    }
}

impl PeerSeries {
    /// How many of `total` peers get series.
    pub fn limit(self, total: usize) -> usize {
        match self {
            Self::All => total,
            Self::None => 0,
            Self::Top(n) => n.min(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_each_form() {
        for text in ["all", "none", "top:25"] {
            assert_eq!(text.parse::<PeerSeries>().unwrap().to_string(), text);
        }
        for bad in ["", "top:", "top:0", "top:-1", "most", "top:x"] {
            assert!(bad.parse::<PeerSeries>().is_err(), "{bad}");
        }
        assert_eq!(PeerSeries::Top(10).limit(3), 3);
        assert_eq!(PeerSeries::Top(10).limit(30), 10);
        assert_eq!(PeerSeries::None.limit(30), 0);
    }
}
