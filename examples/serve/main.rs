//! `kms-serve`: serves the KMS origin, the host origin and any other sites
//! of the browser tests and the demo on loopback. The command line only:
//! the server is `kms_examples::serve`.
//!
//! ```text
//! kms-serve --kms 127.0.0.1:8081=dist/kms --host 127.0.0.1:8080=dist/pwa \
//!           --push 127.0.0.1:8084 --allow-host http://localhost:8080
//! ```
//!
//! Port 0 picks a free port. Once every origin listens, stdout gets one line
//! per origin, `kms-serve: <role> http://localhost:<port> <dir>` (the push
//! service last, with `-` for its directory), then `kms-serve: ready`. Stop
//! it with SIGINT or SIGTERM.

use std::{io, process::ExitCode};

use clap::{ArgGroup, Parser};
use kms_examples::serve::{
    self, AllowedOrigin, HostGroup, KmsPolicy, Options, OriginConfig, PushConfig, PushSpec, Role, SiteSpec,
};

/// Static HTTP server for the KMS origin and its hosts, on loopback.
#[derive(Debug, Parser)]
#[command(name = "kms-serve", version)]
#[command(group(ArgGroup::new("origins").required(true).multiple(true).args(["kms", "host", "sites", "push"])))]
// What --allow-host is for: the KMS iframe's embedders, the push service's CORS.
#[command(group(ArgGroup::new("allow_host_users").multiple(true).args(["kms", "push"])))]
struct Cli {
    /// The KMS origin (iframe page, worker script, WASM bundle), served with
    /// strict security headers and a generated /kms-config.json.
    #[arg(long, value_name = "ADDR=DIR", requires = "allow_host")]
    kms: Option<SiteSpec>,
    /// The host origin (the PWA): plain static files.
    #[arg(long, value_name = "ADDR=DIR")]
    host: Option<SiteSpec>,
    /// Another plain static origin; repeatable.
    #[arg(long = "site", value_name = "ADDR=DIR")]
    sites: Vec<SiteSpec>,
    /// The local push service (a stand-in for FCM and the like, for the demo
    /// and the tests), reached at http://localhost and the port of ADDR.
    /// Never in production.
    #[arg(long, value_name = "ADDR")]
    push: Option<PushSpec>,
    /// An origin allowed to embed the KMS iframe, e.g. http://localhost:8080;
    /// repeatable. Goes into frame-ancestors and kms-config.json, and is the
    /// origin whose pages may call the push service (CORS).
    #[arg(long, value_name = "ORIGIN", requires = "allow_host_users")]
    allow_host: Vec<AllowedOrigin>,
    /// Allowed hosts that share their users, as NAME=ORIGIN[,ORIGIN...];
    /// repeatable. Without it each host's users are its own: no other host
    /// sees them.
    #[arg(long, value_name = "NAME=ORIGINS", requires = "kms")]
    host_group: Vec<HostGroup>,
    /// Let the KMS accept push endpoints on loopback (the local push service
    /// of the tests and the demo). Never in production.
    #[arg(long, requires = "kms")]
    allow_loopback_push: bool,
    /// Forbid enrolling gate-mode passkeys (they protect the keys by policy,
    /// not at rest); passkeys with PRF and passphrases stay.
    #[arg(long, requires = "kms")]
    forbid_passkey_gate: bool,
    /// Log one line per request to stderr.
    #[arg(long, short)]
    verbose: bool,
}

/// Exit code of a refused command line (clap's own).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut origins = Vec::new();
    let push = cli.push.map(|spec| PushConfig { spec, allowed_origins: cli.allow_host.clone() });
    if let Some(spec) = cli.kms {
        let policy = match KmsPolicy::new(cli.allow_host, cli.allow_loopback_push)
            .and_then(|p| p.with_host_groups(cli.host_group))
            .and_then(|p| p.with_bundle_manifest(spec.dir()))
        {
            Ok(policy) if cli.forbid_passkey_gate => policy.forbid_passkey_gate(),
            Ok(policy) => policy,
            Err(e) => {
                eprintln!("kms-serve: {e}");
                return ExitCode::from(USAGE);
            }
        };
        origins.push(OriginConfig { role: Role::Kms(policy), spec });
    }
    if let Some(spec) = cli.host {
        origins.push(OriginConfig { role: Role::Host, spec });
    }
    origins.extend(cli.sites.into_iter().map(|spec| OriginConfig { role: Role::Site, spec }));

    let running = match serve::start_with_push(origins, push, Options { verbose: cli.verbose }) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("kms-serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = running.announce(&mut io::stdout().lock()) {
        eprintln!("kms-serve: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    // SIGINT and SIGTERM: stop accepting, let the requests in flight finish.
    let waited = kms_examples::http::server::wait_for_signal();
    running.shutdown();
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-serve: cannot wait for signals: {e}");
            ExitCode::FAILURE
        }
    }
}
