//! What a stranger sends to the example servers: the request parsers of the
//! local push service (`kms-serve`) and of the relay (`kms-relay`) are total,
//! and every refusal is a well-formed HTTP answer.
//!
//! The input is a script: the first byte picks the service, the rest is
//! requests separated by `\0\n`, each `METHOD target`, header lines
//! `name: value`, a blank line and the body (bytes). In a target, `{id}`
//! stands for the push service's latest subscription (its ids are random,
//! so the script cannot know them). Two more modes hand the bytes straight
//! to the push service's checks that sit behind a VAPID signature.
#![no_main]
use kms_core::push::PushServicePolicy;
use kms_examples::http::{Request, Response};
use kms_examples::relay::{PushAnswer, PushTransport, Relay, RelayConfig};
use kms_examples::serve::push_service::{check_authorization, check_push_message, PushHeaders, PushService};
use kms_examples::serve::AllowedOrigin;

const NOW_MS: u64 = 1_800_000_000_000;
const PAGE: &str = "http://localhost:8000";

/// Pushes go nowhere: the relay's rules, not the network.
struct Accepting;
impl PushTransport for Accepting {
    fn send(&self, _: &kms_client::relay::PushRequest) -> Result<PushAnswer, String> {
        Ok(PushAnswer { status: 201, error: None })
    }
}

fn requests<'a>(script: &'a [u8], id: impl Fn() -> String + 'a) -> impl Iterator<Item = Request> + 'a {
    script.split(|b| *b == 0).map(|r| r.strip_prefix(b"\n").unwrap_or(r)).map(move |one| {
        let split = one.windows(2).position(|w| w == b"\n\n");
        let (head, body) = match split {
            Some(i) => (&one[..i], &one[i + 2..]),
            None => (one, &[][..]),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let first = lines.next().unwrap_or_default();
        let (method, target) = first.split_once(' ').unwrap_or((first, "/"));
        let mut request = Request::new(method, &target.replace("{id}", &id())).with_body(body.to_vec());
        for line in lines {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            request = request.with_header(name, value.trim_start());
        }
        request
    })
}

fn well_formed(response: &Response) {
    assert!((100..600).contains(&response.status), "status {}", response.status);
    if response.status >= 400 && !response.body.is_empty() {
        let v: serde_json::Value = serde_json::from_slice(&response.body).expect("a refusal is JSON");
        assert!(v["error"].is_string(), "a refusal says why: {v}");
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, script)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            let service = PushService::new(8001, vec![AllowedOrigin::parse(PAGE).expect("an origin")]);
            let latest = std::cell::RefCell::new(String::new());
            for request in requests(script, || latest.borrow().clone()) {
                let response = service.handle(&request, NOW_MS);
                well_formed(&response);
                if let Some(location) = response.header("Location") {
                    if let Some(id) = location.rsplit('/').next() {
                        *latest.borrow_mut() = id.to_owned();
                    }
                }
            }
        }
        1 => {
            let config = RelayConfig {
                relay_id: "fuzz-relay".into(),
                contact: "mailto:ops@example.com".into(),
                token_ttl_s: 3600,
                refresh_margin_s: 600,
                batch: 2,
                policy: PushServicePolicy::default().with_loopback(true),
                allowed_origins: vec![PAGE.into()],
            };
            let relay = Relay::new(config, Box::new(Accepting));
            for (i, request) in requests(script, String::new).enumerate() {
                let response = relay.handle(&request, NOW_MS + 1000 * i as u64);
                well_formed(&response);
                if response.status >= 400 {
                    let v: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
                    assert!(v["code"].is_string(), "a relay refusal has a code: {v}");
                }
            }
        }
        2 => {
            // Header values, then the body: `TTL\nContent-Encoding\nUrgency\nTopic\n\nbody`.
            let split = script.windows(2).position(|w| w == b"\n\n");
            let (head, body) = split.map_or((script, &[][..]), |i| (&script[..i], &script[i + 2..]));
            let head = String::from_utf8_lossy(head);
            let mut values = head.split('\n').map(|v| Some(v).filter(|v| !v.is_empty()));
            let headers = PushHeaders {
                ttl: values.next().flatten(),
                content_encoding: values.next().flatten(),
                urgency: values.next().flatten(),
                topic: values.next().flatten(),
            };
            if let Ok(delivery) = check_push_message(headers, body) {
                assert!(delivery.ttl <= kms_examples::serve::push_service::MAX_TTL_S);
            }
        }
        _ => {
            let value = String::from_utf8_lossy(script);
            let _ = check_authorization(Some(&value), "http://localhost:8001", NOW_MS);
        }
    }
});
