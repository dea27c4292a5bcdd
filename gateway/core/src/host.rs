//! Hosts as clients are told them: a tunnel's `public_endpoint` and `dns`, which the API
//! writes into the wg-quick configurations it exports. They are parsed into these types
//! at every door (API, CLI, configuration file) and only ever written back from them,
//! never passed through as text: wg-quick runs a client's configuration as root, so a
//! newline smuggled into one would become a `PostUp` line on every client that imports
//! it. Nothing outside each field's syntax (control characters, spaces, `#`, `=`) can
//! reach the rendered text.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error(
        "{0:?} is not an IP address or a host name (labels of letters, digits and '-', separated by dots, 253 characters at most)"
    )]
    Host(String),
    #[error(
        "{0:?} is not host:port (a host name, an IPv4 address or a bracketed IPv6 address, then a port 1-65535)"
    )]
    Endpoint(String),
}

/// A DNS host name (RFC 1123): dot-separated labels of 1-63 letters, digits and hyphens,
/// neither starting nor ending with a hyphen, 253 characters in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostName(String);

impl HostName {
    fn valid(s: &str) -> bool {
        let label = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        (1..=253).contains(&s.len()) && s.split('.').all(label)
    }
}

/// An IP address or a host name: a DNS server or a search domain in a client's `DNS =`
/// line (wg-quick tells them apart the same way), or the host of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Name(HostName),
}

impl FromStr for Host {
    type Err = HostError;
    fn from_str(s: &str) -> Result<Self, HostError> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            Ok(Host::Ip(ip))
        } else if HostName::valid(s) {
            Ok(Host::Name(HostName(s.to_owned())))
        } else {
            Err(HostError::Host(s.to_owned()))
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Name(name) => f.write_str(&name.0),
        }
    }
}

/// Where clients reach a tunnel: `host:port`, with an IPv6 address in brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

impl FromStr for Endpoint {
    type Err = HostError;
    fn from_str(s: &str) -> Result<Self, HostError> {
        let bad = || HostError::Endpoint(s.to_owned());
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return (addr.port() != 0)
                .then(|| Endpoint {
                    host: Host::Ip(addr.ip()),
                    port: addr.port(),
                })
                .ok_or_else(bad);
        }
        // Not an address: a host name, whose part before the port has no ':' or brackets.
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad)?;
        if !HostName::valid(host) {
            return Err(bad());
        }
        Ok(Endpoint {
            host: Host::Name(HostName(host.to_owned())),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_endpoints_round_trip() {
        for text in ["10.8.0.1", "fd08::1", "corp.example", "a-b.c0", "localhost"] {
            assert_eq!(text.parse::<Host>().unwrap().to_string(), text);
        }
        for text in [
            "vpn.example.net:51820",
            "192.0.2.1:1",
            "[2001:db8::1]:65535",
            "x:51820",
        ] {
            assert_eq!(text.parse::<Endpoint>().unwrap().to_string(), text);
        }
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(long.len(), 253);
        assert!(long.parse::<Host>().is_ok());
        assert!(format!("{long}:1").parse::<Endpoint>().is_ok());
    }

    #[test]
    fn nothing_outside_the_syntax_gets_in() {
        let hostile_hosts = [
            "",
            "10.61.0.1\nPostUp = touch /tmp/pwned",
            "10.61.0.1\rPostUp = id",
            "a b",
            "a#b",
            "a=b",
            "a\tb",
            "-leading.example",
            "trailing-.example",
            "dot..dot",
            "trailing.dot.",
            "under_score",
            "ünïcode",
            "a\0b",
            &"a".repeat(64),
            &vec!["a".repeat(63); 4].join("."),
        ];
        for text in hostile_hosts {
            assert!(text.parse::<Host>().is_err(), "{text:?}");
            assert!(
                format!("{text}:51820").parse::<Endpoint>().is_err(),
                "{text:?}"
            );
        }
        let hostile_endpoints = [
            "vpn.example.net:51601\nPreUp = id",
            "vpn.example.net",
            "vpn.example.net:",
            "vpn.example.net:0",
            "vpn.example.net:65536",
            "vpn.example.net:+1",
            "vpn.example.net: 1",
            "2001:db8::1:51820",
            "[2001:db8::1]:0",
            "192.0.2.1:0",
            "[vpn.example.net]:1",
            ":51820",
        ];
        for text in hostile_endpoints {
            assert!(text.parse::<Endpoint>().is_err(), "{text:?}");
        }
    }
}
