//! The values of the command line, parsed into types that say they passed
//! the checks: [`AllowedOrigin`] (`--allow-host`), [`SiteSpec`] (`--kms`,
//! `--host`, `--site`) and [`PushSpec`] (`--push`).

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
};

use super::ServeError;

/// An origin allowed to embed the KMS iframe (`kms_core::origin`): `http(s)://host[:port]` in
/// its ASCII serialization (WHATWG URL), which is what browsers put in
/// `MessageEvent.origin`: the iframe compares strings, and the same text is
/// a valid CSP `frame-ancestors` source. A value of this type:
///
/// - is its own origin serialization: no path (not even `/`), query,
///   fragment or userinfo, lowercase host, IDNs in punycode, no default port;
/// - has the scheme `http` or `https`;
/// - has a DNS name made of letters, digits and `-` (no `*` wildcard, which
///   CSP would honour and the iframe's exact comparison would not) or an
///   IPv4 address. IPv6 literals are refused: CSP host sources cannot name
///   them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    /// Checks an `--allow-host` value. The error says what is wrong and,
    /// where the value names an origin in another spelling, the one to use.
    pub fn parse(value: &str) -> Result<Self, ServeError> {
        kms_core::origin::check_app_origin(value)
            .map_err(|reason| ServeError::InvalidOrigin { value: value.to_owned(), reason })?;
        Ok(Self(value.to_owned()))
    }

    /// The origin as text, e.g. `http://localhost:8080`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AllowedOrigin {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One origin to serve: `ADDR=DIR`, a loopback socket address (the port may
/// be 0) and the directory whose files it serves. Browsers reach it as
/// `http://localhost:<port>`, so only loopback addresses are accepted; the
/// directory is checked when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSpec {
    addr: SocketAddr,
    dir: PathBuf,
}

impl SiteSpec {
    /// A spec from its parts, with the same checks as [`SiteSpec::parse`].
    pub fn new(addr: SocketAddr, dir: impl Into<PathBuf>) -> Result<Self, ServeError> {
        let dir = dir.into();
        match check_site(addr, &dir) {
            Ok(()) => Ok(Self { addr, dir }),
            Err(reason) => Err(ServeError::InvalidSiteSpec {
                value: format!("{addr}={}", dir.display()),
                reason: reason.to_owned(),
            }),
        }
    }

    /// Parses `ADDR=DIR`, e.g. `127.0.0.1:8081=dist/kms`.
    pub fn parse(value: &str) -> Result<Self, ServeError> {
        let refuse = |reason: &str| ServeError::InvalidSiteSpec { value: value.to_owned(), reason: reason.to_owned() };
        let (addr, dir) = value.split_once('=').ok_or_else(|| refuse("expected ADDR=DIR, e.g. 127.0.0.1:8080=dist"))?;
        let addr: SocketAddr =
            addr.parse().map_err(|_| refuse("ADDR must be an IP address and a port, e.g. 127.0.0.1:8080"))?;
        let dir = PathBuf::from(dir);
        check_site(addr, &dir).map_err(refuse)?;
        Ok(Self { addr, dir })
    }

    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory to serve, as given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Loopback only (the printed URL says `localhost`), and a directory named.
fn check_site(addr: SocketAddr, dir: &Path) -> Result<(), &'static str> {
    if !addr.ip().is_loopback() {
        return Err("ADDR must be a loopback address (127.0.0.1 or [::1]): browsers use http://localhost");
    }
    if dir.as_os_str().is_empty() {
        return Err("DIR is empty");
    }
    Ok(())
}

impl FromStr for SiteSpec {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where the local push service listens (`--push ADDR`): a loopback socket
/// address (the port may be 0). Its origin is `http://localhost:<port>`, the
/// `aud` every VAPID token sent to it must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushSpec {
    addr: SocketAddr,
}

impl PushSpec {
    /// A spec for `addr`, refused unless it is a loopback address.
    pub fn new(addr: SocketAddr) -> Result<Self, ServeError> {
        if addr.ip().is_loopback() {
            Ok(Self { addr })
        } else {
            Err(ServeError::InvalidSiteSpec {
                value: addr.to_string(),
                reason: "ADDR must be a loopback address (127.0.0.1 or [::1]): browsers use http://localhost".into(),
            })
        }
    }

    /// Parses `ADDR`, e.g. `127.0.0.1:8084`.
    pub fn parse(value: &str) -> Result<Self, ServeError> {
        let addr: SocketAddr = value.parse().map_err(|_| ServeError::InvalidSiteSpec {
            value: value.to_owned(),
            reason: "ADDR must be an IP address and a port, e.g. 127.0.0.1:8084".into(),
        })?;
        Self::new(addr)
    }

    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl FromStr for PushSpec {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `--host-group NAME=ORIGIN[,ORIGIN...]`: allowed hosts that share their
/// users (kms-config.json `host_groups`). Without it each host is an app
/// of its own, whose users no other host sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGroup {
    name: String,
    hosts: Vec<AllowedOrigin>,
}

impl HostGroup {
    /// Parses `NAME=ORIGIN[,ORIGIN...]`; the name is 1 to 32 of `a-z`,
    /// `0-9` and `-`.
    pub fn parse(value: &str) -> Result<Self, ServeError> {
        let refuse = |reason: &str| ServeError::InvalidSiteSpec { value: value.to_owned(), reason: reason.to_owned() };
        let (name, hosts) = value
            .split_once('=')
            .ok_or_else(|| refuse("expected NAME=ORIGIN[,ORIGIN...], e.g. shop=https://a.example,https://b.example"))?;
        let name_ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(refuse("the group name is 1 to 32 of a-z, 0-9 and -"));
        }
        let hosts = hosts.split(',').map(AllowedOrigin::parse).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { name: name.to_owned(), hosts })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its hosts.
    pub fn hosts(&self) -> &[AllowedOrigin] {
        &self.hosts
    }
}

impl FromStr for HostGroup {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
