//! Stored records are untrusted at rest: parsing them is total.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kms_core::unlock::EnrollmentRecord::decode(data);
    let _ = kms_core::throttle::ThrottleState::decode(data);
    let _ = serde_json::from_slice::<kms_core::vapid::VapidKeyRecord>(data);
    let _ = serde_json::from_slice::<kms_core::push::SubscriptionRecord>(data);
    let _ = serde_json::from_slice::<kms_core::lease::LeaseRecord>(data);
    let _ = serde_json::from_slice::<kms_core::audit::ChainState>(data);
    let _ = serde_json::from_slice::<Vec<kms_core::audit::AuditEntry>>(data);
    if let Ok(user) = kms_core::ids::UserId::parse("fuzz") {
        let _ = kms_worker::records::UserRecord::decode(data, &user);
    }
});
