//! Tests over the real SICK recordings in tests/data/lidar and over hand-made exports.

use serde_json::json;

use bytes::Bytes;

use super::*;
use crate::cola::{ChannelName, ScanData, encode_cola_b};

fn recording(name: &str) -> Recording {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lidar")
        .join(name);
    Recording::load(&path).unwrap()
}

fn scans(recording: &Recording) -> Vec<(Duration, ScanData)> {
    recording
        .telegrams()
        .into_iter()
        .filter_map(|t| match t.telegram {
            Ok(Response::ScanData(scan)) => Some((t.at, *scan)),
            _ => None,
        })
        .collect()
}

struct Expected {
    file: &'static str,
    scans: usize,
    points: usize,
    start_deg_x10000: i32,
    step_deg_x10000: u16,
    scan_frequency_hz: f64,
    rssi: &'static str,
}

const RECORDINGS: [Expected; 3] = [
    Expected {
        file: "20210301_lms511.pcapng.json",
        scans: 136,
        points: 1141,
        start_deg_x10000: -50_000,
        step_deg_x10000: 1667,
        scan_frequency_hz: 25.0,
        rssi: "8-bit",
    },
    Expected {
        file: "20210302_lms111.pcapng.json",
        scans: 175,
        points: 541,
        start_deg_x10000: -450_000,
        step_deg_x10000: 5000,
        scan_frequency_hz: 50.0,
        rssi: "none",
    },
    Expected {
        file: "20210113_tim871s_elephant.pcapng.json",
        scans: 150,
        points: 811,
        start_deg_x10000: -450_000,
        step_deg_x10000: 3333,
        scan_frequency_hz: 15.0,
        rssi: "16-bit",
    },
];

#[test]
fn real_recordings_decode_completely() {
    for expected in RECORDINGS {
        let recording = recording(expected.file);
        let errors: Vec<_> = recording
            .telegrams()
            .into_iter()
            .filter_map(|t| t.telegram.err())
            .collect();
        assert_eq!(errors, [], "{}", expected.file);
        let scans = scans(&recording);
        assert_eq!(scans.len(), expected.scans, "{}", expected.file);
        for (at, scan) in &scans {
            let dist = &scan.channels_16bit[0];
            assert_eq!(dist.name, ChannelName::DIST1, "{}", expected.file);
            assert_eq!(dist.values.len(), expected.points, "{}", expected.file);
            assert_eq!(dist.start_angle_deg_x10000, expected.start_deg_x10000);
            assert_eq!(dist.step_deg_x10000, expected.step_deg_x10000);
            assert_eq!(scan.scan_frequency_hz(), expected.scan_frequency_hz);
            let rssi = match (&scan.channels_16bit[1..], &scan.channels_8bit[..]) {
                ([], []) => "none",
                ([c], []) if c.name == ChannelName::RSSI1 => "16-bit",
                ([], [c]) if c.name == ChannelName::RSSI1 && c.values.len() == expected.points => {
                    "8-bit"
                }
                _ => "unexpected",
            };
            assert_eq!(rssi, expected.rssi, "{} at {at:?}", expected.file);
            assert!(*at > Duration::ZERO);
        }
        let times: Vec<_> = scans.iter().map(|(at, _)| *at).collect();
        assert!(times.is_sorted(), "{}", expected.file);
    }
}

#[test]
fn real_scan_telegrams_encode_back_to_the_same_bytes() {
    for expected in RECORDINGS {
        let recording = recording(expected.file);
        let mut framer = Framer::new(Framing::ColaB);
        let mut checked = 0;
        for chunk in recording.scanner_chunks() {
            framer.push(&chunk.bytes);
            while let Some(frame) = framer.next_frame() {
                let payload = frame.unwrap().payload;
                if let Response::ScanData(scan) = Response::decode(&payload).unwrap() {
                    assert_eq!(scan.encode().unwrap(), payload, "{}", expected.file);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, expected.scans, "{}", expected.file);
    }
}

#[test]
fn the_scanner_stream_holds_only_the_scanners_telegrams() {
    for expected in RECORDINGS {
        for telegram in recording(expected.file).telegrams() {
            if let Ok(Response::Other { command, .. }) = &telegram.telegram {
                let kind = &command.as_bytes()[..3];
                assert!(
                    !CLIENT_COMMAND_TYPES.contains(&kind),
                    "{}: {command}",
                    expected.file
                );
            }
        }
    }
}

/// The first scan of each recording, its channel values replaced by their count.
#[test]
fn first_scan_headers() {
    let expected = [
        json!({"kind": "event", "version": 0, "device_number": 1, "serial_number": 18110550,
            "device_status": [1, 0], "telegram_counter": 10203, "scan_counter": 10335,
            "time_since_power_up_us": 1387959194u32, "time_of_transmission_us": 1387999963u32,
            "input_status": [0, 0], "output_status": [0, 0], "layer_angle": 0,
            "scan_frequency_hz_x100": 2500, "measurement_frequency_hz_div100": 540,
            "encoders": [],
            "channels_16bit": [{"name": "DIST1", "scale_factor": 1.0, "scale_offset": 0.0,
                "start_angle_deg_x10000": -50000, "step_deg_x10000": 1667, "values": 1141}],
            "channels_8bit": [{"name": "RSSI1", "scale_factor": 1.0, "scale_offset": 0.0,
                "start_angle_deg_x10000": -50000, "step_deg_x10000": 1667, "values": 1141}],
            "position": null, "device_name": null, "comment": null,
            "time_stamp": {"year": 1970, "month": 1, "day": 1, "hour": 1, "minute": 34,
                "second": 39, "microsecond": 489000},
            "event": null, "at_ms": 1742}),
        json!({"kind": "event", "version": 1, "device_number": 1, "serial_number": 18090362,
            "device_status": [1, 0], "telegram_counter": 63336, "scan_counter": 4,
            "time_since_power_up_us": 1948810585u32, "time_of_transmission_us": 1948813715u32,
            "input_status": [0, 0], "output_status": [1, 0], "layer_angle": 0,
            "scan_frequency_hz_x100": 5000, "measurement_frequency_hz_div100": 360,
            "encoders": [],
            "channels_16bit": [{"name": "DIST1", "scale_factor": 1.0, "scale_offset": 0.0,
                "start_angle_deg_x10000": -450000, "step_deg_x10000": 5000, "values": 541}],
            "channels_8bit": [],
            "position": null, "device_name": null, "comment": null,
            "time_stamp": {"year": 1970, "month": 1, "day": 1, "hour": 2, "minute": 55,
                "second": 34, "microsecond": 889000},
            "event": null, "at_ms": 1626}),
        json!({"kind": "event", "version": 1, "device_number": 1, "serial_number": 18480390,
            "device_status": [0, 0], "telegram_counter": 60522, "scan_counter": 60532,
            "time_since_power_up_us": 4203225459u32, "time_of_transmission_us": 4203233461u32,
            "input_status": [0, 0], "output_status": [0, 0], "layer_angle": 0,
            "scan_frequency_hz_x100": 1500, "measurement_frequency_hz_div100": 162,
            "encoders": [],
            "channels_16bit": [
                {"name": "DIST1", "scale_factor": 1.0, "scale_offset": 0.0,
                    "start_angle_deg_x10000": -450000, "step_deg_x10000": 3333, "values": 811},
                {"name": "RSSI1", "scale_factor": 1.0, "scale_offset": 0.0,
                    "start_angle_deg_x10000": -450000, "step_deg_x10000": 3333, "values": 811}],
            "channels_8bit": [],
            "position": null, "device_name": null, "comment": null,
            "time_stamp": {"year": 1970, "month": 1, "day": 1, "hour": 3, "minute": 33,
                "second": 13, "microsecond": 162000},
            "event": null, "at_ms": 1845}),
    ];
    for (recording_spec, expected) in RECORDINGS.iter().zip(expected) {
        let (at, first) = scans(&recording(recording_spec.file)).remove(0);
        let mut actual = serde_json::to_value(&first).unwrap();
        for channel in ["channels_16bit", "channels_8bit"] {
            for c in actual[channel].as_array_mut().unwrap() {
                c["values"] = json!(c["values"].as_array().unwrap().len());
            }
        }
        actual["at_ms"] = json!(at.as_millis());
        assert_eq!(actual, expected, "{}", recording_spec.file);
    }
}

fn segment(at_s: f64, bytes: &[u8]) -> serde_json::Value {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    json!({"_source": {"layers": {"tcp": {
        "Timestamps": {"tcp.time_relative": at_s.to_string()},
        "tcp.payload": hex.join(":"),
    }}}})
}

#[test]
fn split_telegrams_stay_with_their_side() {
    let request = encode_cola_b(b"sRN STlms").unwrap();
    let answer = encode_cola_b(b"sAN Run \x01").unwrap();
    let export = json!([
        segment(0.1, &answer[..5]),
        segment(0.2, &request[..12]),
        segment(0.3, &answer[5..]),
        segment(0.4, &request[12..]),
        {"_source": {"layers": {"tcp": {"Timestamps": {"tcp.time_relative": "0.5"}}}}},
    ]);
    let recording = Recording::from_json(&export.to_string()).unwrap();
    assert_eq!(
        recording.scanner_chunks(),
        [
            Chunk {
                at: Duration::from_millis(100),
                utc: None,
                bytes: Bytes::copy_from_slice(&answer[..5]),
            },
            Chunk {
                at: Duration::from_millis(300),
                utc: None,
                bytes: Bytes::copy_from_slice(&answer[5..]),
            },
        ]
    );
    assert_eq!(
        recording.telegrams(),
        [RecordedTelegram {
            at: Duration::from_millis(300),
            telegram: Ok(Response::Run { success: true }),
        }]
    );
}

#[test]
fn malformed_exports_give_clear_errors() {
    let cases = [
        ("not json", "{"),
        (
            "bad hex",
            r#"[{"_source":{"layers":{"tcp":{"Timestamps":{"tcp.time_relative":"1"},"tcp.payload":"0g"}}}}]"#,
        ),
        (
            "bad time",
            r#"[{"_source":{"layers":{"tcp":{"Timestamps":{"tcp.time_relative":"-1"},"tcp.payload":"02"}}}}]"#,
        ),
    ];
    for (name, text) in cases {
        assert!(Recording::from_json(text).is_err(), "{name}");
    }
    assert!(matches!(
        Recording::load(Path::new("/nonexistent.json")),
        Err(RecordingError::Read { .. })
    ));
}

/// `vod lidar decode --json`'s object for the first scan of each recording; the values were
/// read from the exports' hex independently of this codec.
#[test]
fn first_scan_json_objects() {
    let expected = [
        json!({"scan_counter": 10335, "telegram_counter": 10203,
            "time_since_power_up_us": 1387959194u32, "scan_frequency_hz": 25.0,
            "channels": [
                {"name": "DIST1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -5.0,
                    "step_deg": 0.1667, "count": 1141, "first": [1305, 1300, 1299, 1299]},
                {"name": "RSSI1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -5.0,
                    "step_deg": 0.1667, "count": 1141, "first": [254, 254, 254, 254]}]}),
        json!({"scan_counter": 4, "telegram_counter": 63336,
            "time_since_power_up_us": 1948810585u32, "scan_frequency_hz": 50.0,
            "channels": [
                {"name": "DIST1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -45.0,
                    "step_deg": 0.5, "count": 541, "first": [93, 80, 86, 89]}]}),
        json!({"scan_counter": 60532, "telegram_counter": 60522,
            "time_since_power_up_us": 4203225459u32, "scan_frequency_hz": 15.0,
            "channels": [
                {"name": "DIST1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -45.0,
                    "step_deg": 0.3333, "count": 811, "first": [767, 731, 692, 688]},
                {"name": "RSSI1", "scale": 1.0, "offset": 0.0, "start_angle_deg": -45.0,
                    "step_deg": 0.3333, "count": 811, "first": [8440, 8694, 8996, 9184]}]}),
    ];
    for (recording_spec, expected) in RECORDINGS.iter().zip(expected) {
        let scans = scans(&recording(recording_spec.file));
        let objects: Vec<_> = scans.iter().map(|(_, s)| ScanJson::from(s)).collect();
        assert_eq!(
            objects.len(),
            recording_spec.scans,
            "{}",
            recording_spec.file
        );
        let mut actual = serde_json::to_value(&objects[0]).unwrap();
        for c in actual["channels"].as_array_mut().unwrap() {
            let values = c["values"].as_array().unwrap().clone();
            c["count"] = json!(values.len());
            c["first"] = json!(values[..4]);
            c.as_object_mut().unwrap().remove("values");
        }
        assert_eq!(actual, expected, "{}", recording_spec.file);
    }
}

#[test]
fn scan_payloads_are_the_streamed_scans() {
    for expected in RECORDINGS {
        let recording = recording(expected.file);
        let payloads = recording.scan_payloads();
        let decoded: Vec<_> = scans(&recording).into_iter().map(|(_, s)| s).collect();
        assert_eq!(payloads.len(), decoded.len(), "{}", expected.file);
        for (payload, scan) in payloads.iter().zip(&decoded) {
            assert_eq!(ScanData::decode(&payload.payload).as_ref(), Ok(scan));
        }
    }
}

#[test]
fn a_recorded_stream_reads_back_and_a_file_cut_short_reads_up_to_its_last_whole_telegram() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.pcapng.json");
    let started = std::time::Instant::now();
    let dropped = prometheus::IntCounter::new("dropped", "dropped").unwrap();
    let recorder = TelegramRecorder::create(&path, started, dropped.clone()).unwrap();
    for i in 0..3u64 {
        let payload = Bytes::from(format!("sSN LMDscandata {i}"));
        let utc = chrono::DateTime::from_timestamp(1_780_000_000, 123_456_789).unwrap()
            + chrono::TimeDelta::milliseconds(20 * i as i64);
        recorder.record(started + Duration::from_millis(20 * i), utc, &payload);
    }
    drop(recorder);
    // The writer closes the array once the last handle is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.trim_end().ends_with(']') {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "never closed: {text}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(dropped.get(), 0);
    let payloads = Recording::from_json(&text).unwrap().scan_payloads();
    // The host's clock to the microsecond, truncated.
    assert_eq!(
        payloads[1].utc,
        chrono::DateTime::from_timestamp(1_780_000_000, 143_456_000)
    );
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.at, String::from_utf8_lossy(&p.payload).into_owned()))
        .collect();
    assert_eq!(
        got,
        (0..3u64)
            .map(|i| (
                Duration::from_millis(20 * i),
                format!("sSN LMDscandata {i}")
            ))
            .collect::<Vec<_>>()
    );

    // Killed while writing the third: its line is cut, the bracket never written.
    let cut = &text[..text.rfind("tcp.payload").unwrap()];
    assert_eq!(
        Recording::from_json(cut).unwrap().scan_payloads().len(),
        2,
        "{cut}"
    );
    // Cut right after a brace inside the last element: still the two before it.
    let inner = &text[..text.rfind("\"},\"tcp.payload").unwrap() + 2];
    assert!(inner.ends_with("\"}"), "{inner}");
    assert_eq!(
        Recording::from_json(inner).unwrap().scan_payloads().len(),
        2
    );
    assert!(Recording::from_json("[\n{\"_source\"").is_err());
}
