#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hubhook_fuzz::duve_checks::parse_bytes(data));
