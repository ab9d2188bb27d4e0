//! `BrowserKms` in a page of headless Chromium, against the real KMS frame
//! (the release bundle of scripts/build-web.sh) served by kms-serve on
//! another origin: the handshake, direct calls, UI operations and the error
//! codes as a Rust app in a page sees them.
//!
//! Run by `scripts/test-browser-rust.sh`, which starts the servers, gives
//! this page the origin the KMS allows, and sets at build time:
//! - `KMS_TEST_KMS_ORIGIN`: a KMS that allows this page's origin;
//! - `KMS_TEST_FOREIGN_KMS_ORIGIN`: a KMS that allows another origin only.
//!
//! No test here can open a session: that needs a passphrase typed into (or
//! a passkey used in) the cross-origin frame, which this page cannot reach.
//! The Playwright tests (tests/browser/e2e/) do that for the JS client, which
//! `BrowserKms` wraps.

#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use kms_client::browser::{BrowserKms, ConnectOptions};
use kms_client::error::ChannelCode;
use kms_client::ClientError;
use kms_core::ids::UserId;
use kms_core::rpc::{InfoResult, METHOD_NAMES};
use kms_core::unlock::Method;
use kms_core::vapid::JwtRequest;
use kms_core::ErrorCode;
use serde_json::{json, Value};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn kms_origin() -> &'static str {
    // Read at build time, checked at run time: clippy and a plain build
    // compile this file without the servers.
    match option_env!("KMS_TEST_KMS_ORIGIN") {
        Some(origin) => origin,
        None => panic!("KMS_TEST_KMS_ORIGIN was not set when this test was built: run scripts/test-browser-rust.sh"),
    }
}

fn foreign_kms_origin() -> &'static str {
    match option_env!("KMS_TEST_FOREIGN_KMS_ORIGIN") {
        Some(origin) => origin,
        None => {
            panic!("KMS_TEST_FOREIGN_KMS_ORIGIN was not set when this test was built: run scripts/test-browser-rust.sh")
        }
    }
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

async fn connect() -> BrowserKms {
    BrowserKms::connect(kms_origin()).await.unwrap()
}

/// The engine's code of an error, with the error shown when it is another kind.
fn rpc_code(e: &ClientError) -> ErrorCode {
    match e {
        ClientError::Rpc(rpc) => rpc.code,
        other => panic!("expected an error of the KMS, got {other:?}"),
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn connects_and_calls_info() {
    let kms = connect().await;
    let info: InfoResult = kms.call("info", &json!({})).await.unwrap();
    assert_eq!(info.protocol_version, 1);
    assert_eq!(info.methods.len(), METHOD_NAMES.len(), "{:?}", info.methods);
    assert!(info.methods.iter().any(|m| m == "sign_jwt"), "{:?}", info.methods);
    // The KMS is its own relying party: its host, which tells that this is
    // the KMS at that origin answering.
    let host = kms_origin().split("://").nth(1).unwrap().split(':').next().unwrap();
    assert_eq!(info.rp_id, host);
    // The typed helper sends the same call; `()` params are `{}`.
    assert_eq!(kms.info().await.unwrap(), info);
    assert_eq!(kms.call::<_, InfoResult>("info", &()).await.unwrap(), info);
    // The build: in `info` and on the connection, the same 64 hex digits.
    let build = kms.build().expect("the frame reports its build");
    assert_eq!(build.len(), 64, "{build}");
    assert_eq!(info.build.as_deref(), Some(build.as_str()));
}

#[wasm_bindgen_test]
async fn expect_build_refuses_another_build_and_accepts_its_own() {
    let build = connect().await.build().unwrap();
    let own = BrowserKms::connect_with(ConnectOptions::new(kms_origin()).expect_build(&build[..12])).await;
    assert_eq!(own.unwrap().build().as_deref(), Some(build.as_str()));
    let other = if build.starts_with('0') { "1".repeat(12) } else { "0".repeat(12) };
    let e = BrowserKms::connect_with(ConnectOptions::new(kms_origin()).expect_build(other)).await.err().unwrap();
    assert_eq!(e.code(), ErrorCode::Integrity, "{e}");
}

#[wasm_bindgen_test]
async fn unlock_of_an_unknown_user_is_not_found_before_any_prompt() {
    let mut kms = connect().await;
    let attention = Rc::new(RefCell::new(Vec::new()));
    let seen = attention.clone();
    kms.set_on_attention(move |needed| seen.borrow_mut().push(needed));
    for method in [None, Some(Method::Passphrase), Some(Method::PasskeyPrf)] {
        let e = kms.unlock(&user("nobody-rust"), method).await.unwrap_err();
        assert_eq!(rpc_code(&e), ErrorCode::NotFound, "{method:?}: {e}");
        assert_eq!(e.code_str(), "not_found");
        assert!(e.to_string().contains("nobody-rust"), "{e}");
    }
    // The frame checked the enrollments first: it never asked for the user
    // (it says `false` as each request ends, shown or not).
    assert_eq!(*attention.borrow(), vec![false; 3]);
}

#[wasm_bindgen_test]
async fn vapid_public_of_an_unknown_user_is_not_found() {
    let kms = connect().await;
    let e = kms.vapid_public(&user("nobody-rust")).await.unwrap_err();
    let ClientError::Rpc(rpc) = &e else { panic!("{e:?}") };
    assert_eq!(rpc.code, ErrorCode::NotFound);
    assert_eq!(rpc.retry_after_ms, None);
    assert!(!rpc.message.is_empty());
    assert_eq!(e.code_str(), "not_found");
    assert_eq!(e.code(), ErrorCode::NotFound);
    let e = kms.list_enrollments(&user("nobody-rust")).await.unwrap_err();
    assert_eq!(rpc_code(&e), ErrorCode::NotFound, "{e}");
}

#[wasm_bindgen_test]
async fn methods_that_carry_secrets_are_refused_as_direct_calls() {
    let kms = connect().await;
    let unlock = json!({"user": "nobody-rust", "credential": {"kind": "passphrase", "passphrase": "x"}});
    for (method, params) in [
        ("unlock", unlock),
        ("setup", json!({"user": "nobody-rust"})),
        ("prf_begin", json!({"user": "nobody-rust"})),
        ("gate_begin", json!({"user": "nobody-rust"})),
    ] {
        let e = kms.call::<_, Value>(method, &params).await.unwrap_err();
        assert_eq!(rpc_code(&e), ErrorCode::InvalidInput, "{method}: {e}");
        assert!(e.to_string().contains("only the KMS frame asks for it"), "{method}: {e}");
    }
    let e = kms.call::<_, Value>("no_such_method", &json!({})).await.unwrap_err();
    assert_eq!(rpc_code(&e), ErrorCode::InvalidInput, "{e}");
    assert!(e.to_string().contains("unknown method"), "{e}");
}

#[wasm_bindgen_test]
async fn the_page_never_passes_a_session() {
    let kms = connect().await;
    let e = kms.call::<_, Value>("vapid_public", &json!({"user": "nobody-rust", "session": "abc"})).await.unwrap_err();
    assert_eq!(rpc_code(&e), ErrorCode::InvalidInput, "{e}");
    assert!(e.to_string().contains("`session` is kept by the KMS"), "{e}");
}

#[wasm_bindgen_test]
async fn calls_that_need_a_session_are_not_found_for_an_unknown_user() {
    let kms = connect().await;
    let claims = JwtRequest {
        aud: "https://push.example.net".into(),
        sub: "mailto:ops@example.com".into(),
        exp: 4_000_000_000,
        jti: None,
    };
    // `status` says what to do: set the user up. Every call that needs a
    // session says the same, `not_found` (not `locked`: there is nothing to
    // unlock).
    let who = user("nobody-rust");
    let status = kms.status(&who).await.unwrap();
    assert_eq!(status.state, kms_core::rpc::UserState::Unknown);
    assert_eq!(status.session, Some(false));
    let e = kms.sign_jwt(&who, &claims).await.unwrap_err();
    assert_eq!(rpc_code(&e), ErrorCode::NotFound, "{e}");
    assert_eq!(e.code_str(), "not_found");
    assert_eq!(rpc_code(&kms.vapid_generate(&who).await.unwrap_err()), ErrorCode::NotFound);
    assert_eq!(rpc_code(&kms.audit_export(&who).await.unwrap_err()), ErrorCode::NotFound);
    assert_eq!(rpc_code(&kms.session_status(&who).await.unwrap_err()), ErrorCode::NotFound);
    assert_eq!(rpc_code(&kms.lock(&who).await.unwrap_err()), ErrorCode::NotFound);
}

#[wasm_bindgen_test]
async fn params_that_are_not_an_object_are_refused_here() {
    let kms = connect().await;
    for params in [json!([1, 2]), json!("text"), json!(5)] {
        let e = kms.call::<_, Value>("info", &params).await.unwrap_err();
        assert_eq!(rpc_code(&e), ErrorCode::InvalidInput, "{params}: {e}");
        assert!(e.to_string().contains("params must be a JSON object"), "{e}");
    }
}

#[wasm_bindgen_test]
async fn a_result_of_another_shape_is_a_protocol_error() {
    let kms = connect().await;
    // `info` answers an object, not a number.
    let e = kms.call::<_, u32>("info", &json!({})).await.unwrap_err();
    assert!(matches!(e, ClientError::Protocol(_)), "{e:?}");
    assert_eq!(e.code_str(), "protocol");
}

#[wasm_bindgen_test]
async fn connect_refuses_what_is_not_an_origin() {
    let with_path = format!("{}/kms.html", kms_origin());
    for origin in ["not a url", with_path.as_str(), "javascript:alert(1)"] {
        let e = BrowserKms::connect(origin).await.unwrap_err();
        assert_eq!(rpc_code(&e), ErrorCode::InvalidInput, "{origin}: {e}");
    }
}

#[wasm_bindgen_test]
async fn the_frame_goes_into_the_container_and_dropping_removes_it() {
    let document = web_sys::window().unwrap().document().unwrap();
    let container = document.create_element("div").unwrap();
    container.set_id("kms-container");
    document.body().unwrap().append_child(&container).unwrap();

    let kms = BrowserKms::connect_with(ConnectOptions::new(kms_origin()).container_id("kms-container")).await.unwrap();
    let frame = container.query_selector("iframe").unwrap().expect("the KMS iframe is in the container");
    assert_eq!(frame.get_attribute("src").unwrap(), format!("{}/kms.html", kms_origin()));
    assert!(kms.info().await.is_ok());
    kms.close();
    assert!(container.query_selector("iframe").unwrap().is_none(), "close removes the frame");

    let e =
        BrowserKms::connect_with(ConnectOptions::new(kms_origin()).container_id("no-such-element")).await.unwrap_err();
    assert_eq!(rpc_code(&e), ErrorCode::InvalidInput, "{e}");
    assert!(e.to_string().contains("no-such-element"), "{e}");
}

#[wasm_bindgen_test]
async fn setup_prompts_in_the_frame_and_an_unanswered_prompt_times_out() {
    let options = ConnectOptions::new(kms_origin()).ui_timeout(Duration::from_millis(1500));
    let mut kms = BrowserKms::connect_with(options).await.unwrap();
    let attention = Rc::new(RefCell::new(Vec::new()));
    let seen = attention.clone();
    kms.set_on_attention(move |needed| seen.borrow_mut().push(needed));

    let started = now_ms();
    let e = kms.setup(&user("rust-setup-unanswered"), Method::Passphrase, Some("laptop")).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Channel { code: ChannelCode::Timeout, .. }),
        "{e:?} after {} ms",
        now_ms() - started
    );
    assert_eq!(e.code_str(), "timeout");
    assert!(now_ms() - started >= 1400.0, "timed out after {} ms", now_ms() - started);
    // The frame showed its prompt; the timeout cancelled it there too.
    for _ in 0..40 {
        if attention.borrow().len() >= 2 {
            break;
        }
        sleep(50).await;
    }
    assert_eq!(*attention.borrow(), vec![true, false]);
}

#[wasm_bindgen_test]
async fn a_kms_that_does_not_allow_this_host_times_out() {
    // The foreign KMS may not be framed here (frame-ancestors) and would not
    // answer this origin anyway: the handshake gets no answer at all.
    let options = ConnectOptions::new(foreign_kms_origin()).ready_timeout(Duration::from_millis(2000));
    let started = now_ms();
    let e = BrowserKms::connect_with(options).await.unwrap_err();
    let waited = now_ms() - started;
    let ClientError::Channel { code, message } = &e else { panic!("{e:?}") };
    assert_eq!(*code, ChannelCode::Timeout);
    assert!(message.contains("allowlist") || message.contains("did not load"), "{message}");
    assert_eq!(e.code_str(), "timeout");
    assert!(waited >= 1900.0, "gave up after {waited} ms");
    // The page's own KMS still connects: the refusal was about the origin.
    assert!(connect().await.info().await.is_ok());
}
