//! Audit exports come from anywhere: parsing and verifying them is total.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let report = kms_core::audit::verify::verify_export(text, &Default::default());
        assert!(report.valid == report.first_failure.is_none());
    }
});
