//! `kms subscription …`, `kms lease …` and `kms push …`.

use std::path::Path;

use kms_core::ids::UserId;
use kms_core::lease::{IssueRequest, LeaseParams};
use kms_core::push::PushServicePolicy;
use kms_core::rpc::{Call, LeaseCreateResult, LeaseIssueResult};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::args::{parse_ttl, LeaseCmd, PushCmd, SubscriptionCmd};
use super::commands::{out, unlock, CliError, Client};
use super::files::{read_capped, OutputFile, MAX_INPUT_FILE};
use super::inputs;
use super::prompt::Prompter;
use crate::relay::{self, PushOptions, Topic, Ttl, Urgency};

/// A field of a JSON result, for display ("" when absent).
fn f(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn user_id(s: &str) -> Result<UserId, CliError> {
    UserId::parse(s).map_err(|e| CliError::Usage(e.to_string()))
}

fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    read_capped(path, MAX_INPUT_FILE)
}

/// The path as messages name it.
fn name(path: &Path) -> String {
    path.display().to_string()
}

async fn raw(client: &Client, method: &str, params: Value) -> Result<Value, CliError> {
    let call = Call::from_parts(method, &params.to_string()).map_err(|e| CliError::Client(e.into()))?;
    Ok(client.call_raw(call).await?)
}

/// Runs a command inside an unlocked session and always locks afterwards.
async fn with_session(
    client: &Client,
    prompt: &Prompter,
    user: &UserId,
    method: &str,
    mut params: Value,
) -> Result<Value, CliError> {
    let s = unlock(client, prompt, user).await?;
    if let Some(obj) = params.as_object_mut() {
        obj.insert("user".into(), json!(user));
        obj.insert("session".into(), json!(s.token));
    }
    let r = raw(client, method, params).await;
    client.lock(&s).await?;
    r
}

pub(super) async fn subscription(
    client: &Client,
    prompt: &Prompter,
    j: bool,
    cmd: SubscriptionCmd,
) -> Result<(), CliError> {
    match cmd {
        SubscriptionCmd::Add { user, file } => {
            let user = user_id(&user.user)?;
            let sub = inputs::subscription(&name(&file), &read_file(&file)?)?;
            let r = with_session(client, prompt, &user, "subscription_add", json!({"subscription": sub})).await?;
            out(j, r.clone(), || {
                format!("stored subscription {} at {} (key {})", f(&r, "id"), f(&r, "origin"), f(&r, "kid"))
            });
        }
        SubscriptionCmd::List(u) => {
            let user = user_id(&u.user)?;
            let r = with_session(client, prompt, &user, "subscription_list", json!({})).await?;
            out(j, r.clone(), || {
                r.get("subscriptions")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|s| format!("{} {} key={}", f(s, "id"), f(s, "origin"), f(s, "kid")))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            });
        }
        SubscriptionCmd::Remove { user, id } => {
            let user = user_id(&user.user)?;
            let r = with_session(client, prompt, &user, "subscription_remove", json!({"id": id})).await?;
            out(j, r.clone(), || {
                format!(
                    "removed {}; leases left without a subscription there: {}",
                    f(&r, "removed"),
                    f(&r, "affected_leases")
                )
            });
        }
    }
    Ok(())
}

pub(super) async fn lease(client: &Client, prompt: &Prompter, j: bool, cmd: LeaseCmd) -> Result<(), CliError> {
    match cmd {
        LeaseCmd::Create { user, relay, audiences, lifetime, tokens_per_hour, max_batch, credential_file } => {
            let user = user_id(&user.user)?;
            let lifetime_s = lifetime.as_deref().map(parse_ttl).transpose().map_err(CliError::Usage)?;
            let params = LeaseParams { relay, audiences, lifetime_s, tokens_per_hour, max_batch };
            // The credential exists once: the file it goes to is created
            // before the lease is, or no lease is made.
            let file = credential_file
                .as_deref()
                .map(|p| OutputFile::create_new(p, true, "no lease was created"))
                .transpose()?;
            let r = with_session(client, prompt, &user, "lease_create", json!({"lease": params})).await?;
            let created: LeaseCreateResult =
                serde_json::from_value(r).map_err(|e| CliError::Usage(format!("unexpected response: {e}")))?;
            // The CLI asks without a relay key: the credential comes back
            // in the clear, to this terminal or file.
            let credential = created
                .credential
                .as_ref()
                .ok_or_else(|| CliError::Usage("unexpected response: no credential".into()))?;
            let text = credential.dangerous_to_text();
            let print = || {
                out(j, json!({"lease": created.lease, "credential": text.as_str()}), || {
                    format!(
                        "lease {} for {} until {} ms\ncredential (shown once; give it to the relay, keep it secret):\n{}",
                        created.lease.id.as_str(),
                        created.lease.relay.as_str(),
                        created.lease.expires_ms,
                        text.as_str()
                    )
                })
            };
            match file {
                Some(file) => {
                    let path = file.path().to_owned();
                    match file.write(text.as_bytes()) {
                        Ok(()) => out(j, json!({"lease": created.lease, "credential_file": path}), || {
                            format!(
                                "lease {} for {}; credential written to {}",
                                created.lease.id.as_str(),
                                created.lease.relay.as_str(),
                                path.display()
                            )
                        }),
                        Err(e) => {
                            // The lease exists: its credential must not be lost.
                            eprintln!("{}; the credential follows on standard output", e.message());
                            print();
                        }
                    }
                }
                None => print(),
            }
        }
        LeaseCmd::List(u) => {
            let user = user_id(&u.user)?;
            let r = with_session(client, prompt, &user, "lease_list", json!({})).await?;
            out(j, r.clone(), || {
                r.get("leases")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|l| {
                                format!(
                                    "{} relay={} state={} until={} left_this_hour={}",
                                    f(l, "id"),
                                    f(l, "relay"),
                                    f(l, "state"),
                                    f(l, "expires_ms"),
                                    f(l, "tokens_left_this_hour")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            });
        }
        LeaseCmd::Revoke { user, id } => {
            let user = user_id(&user.user)?;
            let r = with_session(client, prompt, &user, "lease_revoke", json!({"lease_id": id})).await?;
            out(j, r.clone(), || format!("lease {} is {}", f(&r, "id"), f(&r, "state")));
        }
        LeaseCmd::Extend { user, id, lifetime } => {
            let user = user_id(&user.user)?;
            let lifetime_s = parse_ttl(&lifetime).map_err(CliError::Usage)?;
            let r =
                with_session(client, prompt, &user, "lease_extend", json!({"lease_id": id, "lifetime_s": lifetime_s}))
                    .await?;
            out(j, r.clone(), || format!("lease {} now ends at {} ms", f(&r, "id"), f(&r, "expires_ms")));
        }
        LeaseCmd::Issue { user, credential_file, aud, sub, count, ttl } => {
            let user = user_id(&user.user)?;
            let credential = match &credential_file {
                Some(p) => inputs::lease_credential(&name(p), &Zeroizing::new(read_file(p)?))?,
                None => inputs::lease_credential(
                    "standard input",
                    prompt.read("Lease credential: ").map_err(CliError::Usage)?.as_bytes(),
                )?,
            };
            let ttl_s = ttl.as_deref().map(parse_ttl).transpose().map_err(CliError::Usage)?;
            let request = IssueRequest { aud, sub, count, ttl_s };
            let call = Call::LeaseIssue(kms_core::rpc::LeaseIssueParams { user, credential, request });
            let r: LeaseIssueResult = serde_json::from_value(client.call_raw(call).await?)
                .map_err(|e| CliError::Usage(format!("unexpected response: {e}")))?;
            out(j, json!(r), || r.tokens.iter().map(|t| t.authorization.clone()).collect::<Vec<_>>().join("\n"));
        }
    }
    Ok(())
}

fn policy(allow_loopback: bool) -> PushServicePolicy {
    PushServicePolicy::default().with_loopback(allow_loopback)
}

/// `kms push …`: relay-side, needs no store.
pub(super) fn push(j: bool, cmd: PushCmd) -> Result<(), CliError> {
    let mut rng = rand_core::OsRng;
    match cmd {
        PushCmd::Encrypt { subscription, payload, output, allow_loopback } => {
            let file =
                output.as_deref().map(|p| OutputFile::create_or_replace(p, "nothing was encrypted")).transpose()?;
            let sub = inputs::validated_subscription(
                &name(&subscription),
                &read_file(&subscription)?,
                &policy(allow_loopback),
            )?;
            let body = relay::encrypt(&sub, &read_file(&payload)?, &mut rng).map_err(relay_err)?;
            match file {
                Some(file) => {
                    let path = file.path().to_owned();
                    file.write(&body)?;
                    out(j, json!({"file": path, "bytes": body.len()}), || {
                        format!("wrote {} bytes to {}", body.len(), path.display())
                    });
                }
                None if j => println!("{}", json!({"body": kms_core::b64::encode(&body), "bytes": body.len()})),
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&body).map_err(|e| CliError::Usage(format!("stdout: {e}")))?;
                }
            }
        }
        PushCmd::Request { subscription, payload, tokens, ttl, urgency, topic, allow_loopback } => {
            let sub = inputs::validated_subscription(
                &name(&subscription),
                &read_file(&subscription)?,
                &policy(allow_loopback),
            )?;
            let holder = inputs::token_holder(&name(&tokens), &read_file(&tokens)?)?;
            let mut opts = PushOptions::new(Ttl::from_secs(ttl).map_err(relay_err)?);
            opts.urgency = urgency.parse::<Urgency>().map_err(relay_err)?;
            opts.topic = topic.as_deref().map(Topic::parse).transpose().map_err(relay_err)?;
            let now_s = kms_core::env::Clock::now_ms(&crate::native::SystemClock) / 1000;
            let req = relay::build_push_request(&sub, &read_file(&payload)?, &holder, &opts, now_s, &mut rng)
                .map_err(relay_err)?;
            let headers: serde_json::Map<String, Value> =
                req.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let v = json!({"method": req.method, "url": req.url, "headers": headers, "body_b64": kms_core::b64::encode(&req.body)});
            out(true, v, String::new);
            let _ = j;
        }
    }
    Ok(())
}

fn relay_err(e: relay::RelayError) -> CliError {
    CliError::Client(crate::ClientError::Rpc(kms_core::rpc::RpcError::new(e.code(), e.to_string())))
}
