//! `kms-relay`: the demo's relay (the server is `kms_examples::relay`).
//!
//! ```text
//! kms-relay --listen 127.0.0.1:8083 --allow-origin http://localhost:8080 --allow-loopback-push
//! ```
//!
//! Once it listens, stdout gets `kms-relay: listening http://localhost:<port>`
//! and `kms-relay: ready`. Stop it with SIGINT or SIGTERM.

use std::{
    net::{SocketAddr, TcpListener},
    process::ExitCode,
    sync::Arc,
};

use clap::Parser;
use kms_client::relay::{PushServicePolicy, DEFAULT_PUSH_SERVICES};
use kms_core::lease::RelayLabel;
use kms_core::vapid::{self, JwtRequest};
use kms_examples::http::{
    self,
    server::{Limits, Server},
};
use kms_examples::relay::{HttpTransport, Relay, RelayConfig, MAX_BODY_LEN};
use kms_examples::serve::AllowedOrigin;
use zeroize::Zeroize as _;

/// The demo's relay: holds a user's push subscription and lease credential,
/// gets VAPID tokens through the user's page, sends encrypted pushes.
#[derive(Debug, Parser)]
#[command(name = "kms-relay", version)]
struct Cli {
    /// Where to listen (loopback; port 0 picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// An origin whose pages may call the relay (CORS), e.g.
    /// http://localhost:8080; repeatable.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<AllowedOrigin>,
    /// The relay's id: the `relay` label of the leases granted to it.
    #[arg(long, default_value = "demo-relay")]
    relay_id: String,
    /// The operator's contact: the tokens' `sub` (mailto: or https:).
    #[arg(long, default_value = "mailto:relay@example.com")]
    contact: String,
    /// Lifetime asked for the longest-lived token of a batch, in seconds
    /// (more than 60; the KMS caps it at 24 h and the lease's end).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(61..=86_400))]
    token_ttl_s: u64,
    /// Ask for new tokens when none is valid for this many more seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    refresh_margin_s: u64,
    /// Tokens per request (at most the lease's max_batch).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    batch: u32,
    /// Also send to push endpoints on loopback (the local push service of
    /// the demo). Never in production.
    #[arg(long)]
    allow_loopback_push: bool,
    /// Log one line per request to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.listen.ip().is_loopback() {
        eprintln!("kms-relay: --listen must be a loopback address (a demo relay has no authentication)");
        return ExitCode::from(2);
    }
    if cli.refresh_margin_s >= cli.token_ttl_s {
        eprintln!("kms-relay: --refresh-margin-s must be below --token-ttl-s, or every poll asks for tokens");
        return ExitCode::from(2);
    }
    if let Err(e) = check_settings(&cli.relay_id, &cli.contact) {
        eprintln!("kms-relay: {e}");
        return ExitCode::from(2);
    }
    let policy = match PushServicePolicy::new(DEFAULT_PUSH_SERVICES.iter().copied()) {
        Ok(policy) => policy.with_loopback(cli.allow_loopback_push),
        Err(e) => {
            eprintln!("kms-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = RelayConfig {
        relay_id: cli.relay_id,
        contact: cli.contact,
        token_ttl_s: cli.token_ttl_s,
        refresh_margin_s: cli.refresh_margin_s,
        batch: cli.batch,
        policy,
        allowed_origins: cli.allow_origin.iter().map(|o| o.as_str().to_owned()).collect(),
    };
    let relay = Arc::new(Relay::new(config, Box::new(HttpTransport::new())));

    let listener = match TcpListener::bind(cli.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("kms-relay: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let verbose = cli.verbose;
    let handler = Arc::new(move |mut request: http::Request| {
        let response = relay.handle(&request, http::now_ms());
        // Bodies may carry a lease credential or tokens.
        if let http::RequestBody::Bytes(body) = &mut request.body {
            body.zeroize();
        }
        if verbose {
            eprintln!("kms-relay: {} {:?} {}", request.method, request.target, response.status);
        }
        response
    });
    let server = match Server::start(listener, "kms-relay", Limits::with_max_body(MAX_BODY_LEN), handler) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("kms-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("kms-relay: listening http://localhost:{port}");
    println!("kms-relay: ready");
    // SIGINT and SIGTERM: stop accepting, let the requests in flight finish.
    let waited = http::server::wait_for_signal();
    server.shutdown();
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-relay: cannot wait for signals: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The relay id and contact as the KMS will judge them (a lease's `relay`
/// label, a token's `sub`): a relay whose every request would be refused
/// does not start.
fn check_settings(relay_id: &str, contact: &str) -> Result<(), String> {
    RelayLabel::parse(relay_id).map_err(|e| format!("--relay-id: {e}"))?;
    let now_ms = http::now_ms();
    let probe = JwtRequest {
        aud: "https://fcm.googleapis.com".into(),
        sub: contact.to_owned(),
        exp: now_ms / 1000 + 3600,
        jti: None,
    };
    vapid::validate(&probe, now_ms).map(|_| ()).map_err(|e| format!("--contact: {e}"))
}
