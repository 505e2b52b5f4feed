//! Tests of the `LMDscandata` codec: hand-made telegrams, truncation, round trips, and
//! arbitrary input.

use proptest::prelude::*;

use super::*;

pub(crate) fn sample() -> ScanData {
    ScanData {
        kind: ScanDataKind::Event,
        version: 1,
        device_number: 1,
        serial_number: 18_110_550,
        device_status: [0, 0],
        telegram_counter: 10_203,
        scan_counter: 10_335,
        time_since_power_up_us: 1_387_959_194,
        time_of_transmission_us: 1_387_999_963,
        input_status: [0, 0],
        output_status: [0, 0],
        layer_angle: 0,
        scan_frequency_hz_x100: 2500,
        measurement_frequency_hz_div100: 540,
        encoders: vec![],
        channels_16bit: vec![Channel {
            name: ChannelName::DIST1,
            scale_factor: 2.0,
            scale_offset: 10.0,
            start_angle_deg_x10000: -50_000,
            step_deg_x10000: 1667,
            values: vec![0, 1000, 3],
        }],
        channels_8bit: vec![Channel {
            name: ChannelName::RSSI1,
            scale_factor: 1.0,
            scale_offset: 0.0,
            start_angle_deg_x10000: -50_000,
            step_deg_x10000: 1667,
            values: vec![0, 200, 254],
        }],
        position: None,
        device_name: None,
        comment: None,
        time_stamp: Some(TimeStamp {
            year: 1970,
            month: 1,
            day: 1,
            hour: 1,
            minute: 34,
            second: 39,
            microsecond: 489_000,
        }),
        event: None,
    }
}

#[test]
fn encodes_the_documented_layout() {
    let payload = sample().encode().unwrap();
    assert!(payload.starts_with(b"sSN LMDscandata \x00\x01\x00\x01\x01\x14\x58\x56"));
    // Fixed header: 16 command bytes + 38 bytes up to the 16-bit channel count.
    assert_eq!(&payload[54..61], b"\x00\x01DIST1");
    assert_eq!(&payload[61..65], &2.0f32.to_be_bytes());
    assert_eq!(&payload[69..77], b"\xff\xff\x3c\xb0\x06\x83\x00\x03");
    assert_eq!(&payload[77..83], b"\x00\x00\x03\xe8\x00\x03");
    assert_eq!(
        &payload[payload.len() - 21..],
        b"\x00\x00\x00\x00\x00\x00\x00\x01\x07\xb2\x01\x01\x01\x22\x27\x00\x07\x76\x28\x00\x00"
    );
    assert_eq!(ScanData::decode(&payload).unwrap(), sample());
}

#[test]
fn optional_blocks_round_trip() {
    let mut scan = sample();
    scan.kind = ScanDataKind::Answer;
    scan.encoders = vec![Encoder {
        position_ticks: 7,
        speed_ticks_per_mm: 2,
    }];
    scan.position = Some(Position {
        x: 1.0,
        y: 2.0,
        z: 6.0,
        x_rotation: 0.0,
        y_rotation: 0.5,
        z_rotation: 0.0,
        rotation_type: 1,
    });
    scan.device_name = Some("gantry".into());
    scan.comment = Some("lane 1 and 2".into());
    scan.event = Some(EventInfo {
        kind: "FDIN".into(),
        encoder_position_ticks: 9,
        time_us: 1234,
        angle_deg_x10000: -50_000,
    });
    let payload = scan.encode().unwrap();
    assert!(payload.starts_with(b"sRA LMDscandata "));
    assert_eq!(ScanData::decode(&payload).unwrap(), scan);
}

#[test]
fn every_truncation_is_an_error() {
    let payload = sample().encode().unwrap();
    for len in 0..payload.len() {
        assert!(
            ScanData::decode(&payload[..len]).is_err(),
            "a payload cut at {len} bytes decoded"
        );
    }
}

#[test]
fn malformed_telegrams_give_clear_errors() {
    let good = sample().encode().unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    let mut bad_marker = good.clone();
    let marker_at = good.len() - 21;
    bad_marker[marker_at + 1] = 2;
    let mut bad_name = good.clone();
    bad_name[56] = 0xff;
    let cases: Vec<(&str, Vec<u8>, ColaError)> = vec![
        (
            "trailing byte",
            trailing,
            ColaError::TrailingBytes { count: 1 },
        ),
        (
            "marker neither 0 nor 1",
            bad_marker,
            ColaError::InvalidValue {
                field: "position marker",
                value: 2,
            },
        ),
        (
            "binary channel name",
            bad_name,
            ColaError::NotAscii {
                field: "channel name",
            },
        ),
        (
            "other command",
            b"sSN LMDscandatacfg ".to_vec(),
            ColaError::NotACommand,
        ),
    ];
    for (name, payload, expected) in cases {
        assert_eq!(ScanData::decode(&payload), Err(expected), "{name}");
    }
}

#[test]
fn encoding_refuses_what_the_telegram_cannot_carry() {
    let mut scan = sample();
    scan.channels_16bit[0].values = vec![1; 70_000];
    assert!(matches!(
        scan.encode(),
        Err(ColaError::TooLarge {
            field: "channel values",
            ..
        })
    ));
    let mut scan = sample();
    scan.device_name = Some("x".repeat(300));
    assert!(scan.encode().is_err());
}

#[test]
fn converts_dist1_to_millimetres() {
    let now = Instant::now();
    let utc = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    let scan = sample().to_scan("gantry".into(), now, utc).unwrap();
    assert_eq!(scan.ranges_mm, [0.0, 2010.0, 16.0]);
    assert_eq!(scan.start_angle_deg, -5.0);
    assert_eq!(scan.step_deg, 0.1667);
    assert_eq!(scan.scan_frequency_hz, 25.0);
    assert_eq!(scan.scan_counter, 10_335);
    assert_eq!(scan.received_utc, utc);

    let mut no_dist = sample();
    no_dist.channels_16bit.clear();
    assert_eq!(
        no_dist.to_scan("gantry".into(), now, utc).unwrap_err(),
        ColaError::NoDistanceChannel
    );
}

#[test]
fn channel_names_are_five_ascii_characters() {
    assert_eq!(ChannelName::new("DIST1"), Some(ChannelName::DIST1));
    assert_eq!(ChannelName::new("DIST"), None);
    assert_eq!(ChannelName::new("DIST\u{e9}"), None);
    assert_eq!(
        serde_json::to_string(&ChannelName::RSSI1).unwrap(),
        "\"RSSI1\""
    );
}

fn channel<T: Arbitrary + Clone + 'static>() -> impl Strategy<Value = Channel<T>> {
    (
        "[A-Z]{4}[0-9]",
        -1e6f32..1e6,
        -1e6f32..1e6,
        any::<i32>(),
        any::<u16>(),
        prop::collection::vec(any::<T>(), 0..40),
    )
        .prop_map(
            |(name, scale_factor, scale_offset, start, step, values)| Channel {
                name: ChannelName::new(&name).unwrap_or(ChannelName::DIST1),
                scale_factor,
                scale_offset,
                start_angle_deg_x10000: start,
                step_deg_x10000: step,
                values,
            },
        )
}

fn scan_data() -> impl Strategy<Value = ScanData> {
    let header = (
        any::<bool>(),
        any::<(u16, u16, u32, [u8; 2], u16, u16)>(),
        any::<(u32, u32, [u8; 2], [u8; 2], i16, u32, u32)>(),
    );
    let body = (
        prop::collection::vec(any::<(u32, u16)>(), 0..3),
        prop::collection::vec(channel::<u16>(), 0..3),
        prop::collection::vec(channel::<u8>(), 0..3),
        prop::option::of((prop::array::uniform6(-1e3f32..1e3), any::<u8>())),
        prop::option::of("[ -~]{0,16}"),
        prop::option::of("[ -~]{0,40}"),
        prop::option::of(any::<(u16, u8, u8, u8, u8, u8, u32)>()),
        prop::option::of(("[A-Z]{4}", any::<(u32, u32, i32)>())),
    );
    (header, body).prop_map(|(h, b)| {
        let (answer, (version, device_number, serial_number, device_status, telegram, scan)) =
            (h.0, h.1);
        let (power_up, transmission, inputs, outputs, layer, scan_hz, shot_hz) = h.2;
        let (encoders, channels_16bit, channels_8bit, position, name, comment, time, event) = b;
        ScanData {
            kind: if answer {
                ScanDataKind::Answer
            } else {
                ScanDataKind::Event
            },
            version,
            device_number,
            serial_number,
            device_status,
            telegram_counter: telegram,
            scan_counter: scan,
            time_since_power_up_us: power_up,
            time_of_transmission_us: transmission,
            input_status: inputs,
            output_status: outputs,
            layer_angle: layer,
            scan_frequency_hz_x100: scan_hz,
            measurement_frequency_hz_div100: shot_hz,
            encoders: encoders
                .into_iter()
                .map(|(position_ticks, speed_ticks_per_mm)| Encoder {
                    position_ticks,
                    speed_ticks_per_mm,
                })
                .collect(),
            channels_16bit,
            channels_8bit,
            position: position.map(|(p, rotation_type)| Position {
                x: p[0],
                y: p[1],
                z: p[2],
                x_rotation: p[3],
                y_rotation: p[4],
                z_rotation: p[5],
                rotation_type,
            }),
            device_name: name,
            comment,
            time_stamp: time.map(|(year, month, day, hour, minute, second, microsecond)| {
                TimeStamp {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    microsecond,
                }
            }),
            event: event.map(
                |(kind, (encoder_position_ticks, time_us, angle))| EventInfo {
                    kind,
                    encoder_position_ticks,
                    time_us,
                    angle_deg_x10000: angle,
                },
            ),
        }
    })
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_same_scan(scan in scan_data()) {
        let payload = scan.encode().unwrap();
        prop_assert_eq!(ScanData::decode(&payload).unwrap(), scan);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut payload = b"sSN LMDscandata ".to_vec();
        payload.extend_from_slice(&tail);
        let _value_or_error = ScanData::decode(&payload);
        let _value_or_error = ScanData::decode(&tail);
    }

    #[test]
    fn decoding_mutated_telegrams_never_panics(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut payload = sample().encode().unwrap();
        for (at, value) in flips {
            let at = at.index(payload.len());
            payload[at] = value;
        }
        let _value_or_error = ScanData::decode(&payload);
    }
}
