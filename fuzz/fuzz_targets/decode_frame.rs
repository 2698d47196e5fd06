//! The protocol decoder on arbitrary text from a client: it answers with a
//! frame or an error, and never panics.

#![no_main]

use breakglass::protocol::ClientFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClientFrame::decode(text);
    }
});
