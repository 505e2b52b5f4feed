//! Any bytes through the CoLa framer (in chunks, either framing) and every frame through the
//! telegram decoders: a value or an error, never a panic. A decoded scan encodes to bytes
//! that decode again and encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vod_lidar::cola::{Framer, Framing, Request, Response, ScanData};

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let framing = if control & 0x80 == 0 {
        Framing::ColaB
    } else {
        Framing::ColaA
    };
    let chunk_len = usize::from(control & 0x7f) + 1;
    let mut framer = Framer::new(framing);
    for chunk in stream.chunks(chunk_len) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame() {
            let Ok(frame) = frame else { continue };
            let _value_or_error = Request::decode(&frame.payload);
            if let Ok(Response::ScanData(scan)) = Response::decode(&frame.payload) {
                check_round_trip(&scan);
            }
        }
    }
    // The whole input as one payload, for the decoders' sake.
    let _value_or_error = Request::decode(stream);
    if let Ok(scan) = ScanData::decode(stream) {
        check_round_trip(&scan);
    }
});

fn check_round_trip(scan: &ScanData) {
    let encoded = scan.encode().expect("a decoded scan encodes");
    let again = ScanData::decode(&encoded).expect("an encoded scan decodes");
    assert_eq!(again.encode().expect("and encodes again"), encoded);
}
