//! Request decoding is total: any bytes give a request or a typed error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kms_core::rpc::Request::decode(data);
    let _ = kms_core::rpc::Response::decode(data);
});
