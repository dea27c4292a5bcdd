//! The pairs measured: what runs on each end of the topology.

use super::implementation::Implementation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pair {
    /// The veth alone, no WireGuard: what the tunnels are measured against.
    Ceiling,
    /// `server` on the server end (iperf3 server, where a gateway sits), `client` on
    /// the other.
    Tunnel {
        server: Implementation,
        client: Implementation,
    },
}

impl Pair {
    /// `ceiling`, the implementation's name when both ends run it, else
    /// `<server>-<client>` (`wiregate-boringtun`).
    pub fn name(self) -> String {
        match self {
            Self::Ceiling => "ceiling".into(),
            Self::Tunnel { server, client } if server == client => server.name().into(),
            Self::Tunnel { server, client } => format!("{}-{}", server.name(), client.name()),
        }
    }

    /// The default set: the ceiling, each implementation facing itself, and wiregate as
    /// the server facing each other implementation.
    pub fn defaults() -> Vec<Pair> {
        let same = Implementation::ALL.map(|i| Self::Tunnel {
            server: i,
            client: i,
        });
        let cross = Implementation::ALL[1..].iter().map(|&client| Self::Tunnel {
            server: Implementation::Wiregate,
            client,
        });
        std::iter::once(Self::Ceiling)
            .chain(same)
            .chain(cross)
            .collect()
    }

    /// The pairs named on the command line, in that order: any of the defaults, or any
    /// other `<server>-<client>` combination.
    pub fn select(names: &[String]) -> Result<Vec<Pair>, String> {
        if names.is_empty() {
            return Ok(Self::defaults());
        }
        let known: Vec<Pair> = std::iter::once(Self::Ceiling)
            .chain(Implementation::ALL.iter().flat_map(|&server| {
                Implementation::ALL
                    .iter()
                    .map(move |&client| Self::Tunnel { server, client })
            }))
            .collect();
        names
            .iter()
            .map(|name| {
                known
                    .iter()
                    .copied()
                    .find(|p| p.name() == name.trim())
                    .ok_or_else(|| {
                        let defaults: Vec<String> =
                            Self::defaults().into_iter().map(Self::name).collect();
                        format!(
                            "unknown pair {name:?}; known: {} (or any <server>-<client>)",
                            defaults.join(", ")
                        )
                    })
            })
            .collect()
    }

    /// The implementations it needs.
    pub fn implementations(self) -> Vec<Implementation> {
        match self {
            Self::Ceiling => Vec::new(),
            Self::Tunnel { server, client } => vec![server, client],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let names: Vec<String> = Pair::defaults().into_iter().map(Pair::name).collect();
        assert_eq!(
            names,
            [
                "ceiling",
                "wiregate",
                "wireguard-go",
                "boringtun",
                "gotatun",
                "wiregate-wireguard-go",
                "wiregate-boringtun",
                "wiregate-gotatun"
            ]
        );
        assert_eq!(Pair::select(&names).unwrap(), Pair::defaults());
        let other = Pair::select(&["boringtun-wiregate".into()]).unwrap();
        assert_eq!(
            other,
            [Pair::Tunnel {
                server: Implementation::Boringtun,
                client: Implementation::Wiregate
            }]
        );
        assert!(Pair::select(&["kernel".into()]).is_err());
    }
}
