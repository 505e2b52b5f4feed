//! The SOPAS variables and methods around the scan stream that a driver reads and sets while
//! it starts an LMS5xx up (SICK's own sick_scan_xd asks for device state, identity, scan and
//! output configuration, and switches on a few event streams): the emulator answers them as
//! the scanner does, in CoLa-B. Settings are acknowledged and kept as they are: the emulator
//! scans with its own configuration, which it reports when asked.

use bytes::BufMut;

use vod_lidar::cola::{Response, ScanData, put_string16};

/// SOPAS error codes the emulator answers with (`sFA`).
const ERROR_METHOD_UNKNOWN: u16 = 2;
const ERROR_VARIABLE_UNKNOWN: u16 = 3;
/// `SCdevicestate`: 0 busy, 1 ready, 2 error.
const DEVICE_READY: u8 = 1;
const DEVICE_IDENT: &str = "LMS511-10100 PRO";
const FIRMWARE_VERSION: &str = "V1.10";
/// `LMDscandatacfg` of the emulated scans: channel DIST1, RSSI in 8 bits, unit mm, no
/// encoder, position, device name, comment or time stamp, every scan sent.
const SCAN_DATA_CONTENT: [u8; 13] = [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// How the emulated scanner scans, as `LMPscancfg` and `LMPoutputRange` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanConfig {
    pub frequency_hz_x100: u32,
    pub step_deg_x10000: u32,
    pub start_deg_x10000: i32,
    pub stop_deg_x10000: i32,
    pub serial_number: u32,
}

impl ScanConfig {
    /// The configuration that produced `scan`: its frequency and its first distance channel's
    /// angles (a scan without one reports an empty sector at 0 deg).
    pub(crate) fn of_scan(scan: &ScanData) -> ScanConfig {
        let (step, start, count) = scan.channels_16bit.first().map_or((0, 0, 0), |channel| {
            (
                channel.step_deg_x10000,
                channel.start_angle_deg_x10000,
                channel.values.len(),
            )
        });
        let span = i64::from(step) * (count.saturating_sub(1) as i64);
        ScanConfig {
            frequency_hz_x100: scan.scan_frequency_hz_x100,
            step_deg_x10000: u32::from(step),
            start_deg_x10000: start,
            stop_deg_x10000: i32::try_from(i64::from(start) + span).unwrap_or(i32::MAX),
            serial_number: scan.serial_number,
        }
    }
}

/// The answer to a command that the stream itself does not need (`command` is its type and
/// name, as `sRN SCdevicestate`; `args` its binary arguments).
pub(crate) fn answer(command: &str, args: &[u8], scan: &ScanConfig) -> Response {
    let Some((kind, name)) = command.split_once(' ') else {
        return Response::Error {
            code: ERROR_METHOD_UNKNOWN,
        };
    };
    let reply = |kind: &str, args: Vec<u8>| Response::Other {
        command: format!("{kind} {name}"),
        args,
    };
    match (kind, name) {
        ("sRN", "SCdevicestate") => reply("sRA", vec![DEVICE_READY]),
        ("sRN", "DeviceIdent") => reply("sRA", strings(&[DEVICE_IDENT, FIRMWARE_VERSION])),
        ("sRN", "FirmwareVersion") => reply("sRA", strings(&[FIRMWARE_VERSION])),
        ("sRN", "SerialNumber") => reply("sRA", strings(&[&scan.serial_number.to_string()])),
        // A new device: no operating hours yet, switched on once, no location set.
        ("sRN", "ODoprh") => reply("sRA", 0u32.to_be_bytes().to_vec()),
        ("sRN", "ODpwrc") => reply("sRA", 1u32.to_be_bytes().to_vec()),
        ("sRN", "LocationName") => reply("sRA", strings(&[""])),
        ("sRN", "LMPscancfg") => reply("sRA", scan_config(scan)),
        ("sRN", "LMPoutputRange") => reply("sRA", output_range(scan)),
        // No evaluation fields are configured and the digital inputs are all low.
        ("sRN", field) if field.strip_prefix("field").is_some_and(is_field_index) => {
            reply("sRA", unconfigured_field(scan))
        }
        ("sRN", "LIDinputstate") => reply("sRA", input_state()),
        ("sRN", "LMDscandatacfg") => reply("sRA", SCAN_DATA_CONTENT.to_vec()),
        // The scanner reports its configuration after a change; the emulator keeps its own.
        ("sMN", "mLMPsetscancfg") => {
            let mut out = vec![0];
            out.extend(scan_config(scan));
            reply("sAN", out)
        }
        ("sMN", "mEEwriteall") => reply("sAN", vec![1]),
        ("sMN", "LMCstopmeas") => reply("sAN", vec![0]),
        // Settings (scan data content, output range, filters) are acknowledged.
        ("sWN", _) => reply("sWA", Vec::new()),
        // Event streams other than the scans (field and I/O states) are acknowledged and
        // never fire: the emulated scanner has no fields or I/O.
        ("sEN", _) => reply("sEA", args.to_vec()),
        ("sRN", _) => Response::Error {
            code: ERROR_VARIABLE_UNKNOWN,
        },
        _ => Response::Error {
            code: ERROR_METHOD_UNKNOWN,
        },
    }
}

fn is_field_index(digits: &str) -> bool {
    digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `fieldNNN` of an LMS5xx whose field is not set up: distance and angle scaling, field type
/// and number, then segmented, rectangular, radial and dynamic shapes all absent.
fn unconfigured_field(scan: &ScanConfig) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_f32(1.0);
    out.put_f32(0.0);
    out.put_u32(scan.step_deg_x10000);
    out.put_i32(scan.start_deg_x10000);
    out.put_u8(0);
    out.put_u8(0);
    for _shape in 0..4 {
        out.put_u16(0);
    }
    out
}

/// `LIDinputstate`: version, system counter, the four inputs (all low), no time stamp.
fn input_state() -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u16(0);
    out.put_u32(0);
    out.put_slice(&[0; 4]);
    out.put_u16(0);
    out
}

fn strings(values: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        // The values are constants and decimal numbers, well within a u16 length.
        let _ = put_string16(&mut out, value, "device identity");
    }
    out
}

/// `LMPscancfg`: frequency, one sector with its step, start and stop angle.
fn scan_config(scan: &ScanConfig) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32(scan.frequency_hz_x100);
    out.put_u16(1);
    out.put_u32(scan.step_deg_x10000);
    out.put_i32(scan.start_deg_x10000);
    out.put_i32(scan.stop_deg_x10000);
    out
}

/// `LMPoutputRange`: one range with its step, start and stop angle.
fn output_range(scan: &ScanConfig) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u16(1);
    out.put_u32(scan.step_deg_x10000);
    out.put_i32(scan.start_deg_x10000);
    out.put_i32(scan.stop_deg_x10000);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LMS511_25HZ: ScanConfig = ScanConfig {
        frequency_hz_x100: 2500,
        step_deg_x10000: 1667,
        start_deg_x10000: -50_000,
        stop_deg_x10000: 1_850_000,
        serial_number: 20_240_001,
    };

    fn payload(command: &str, args: &[u8]) -> Vec<u8> {
        answer(command, args, &LMS511_25HZ).encode().unwrap()
    }

    #[test]
    fn the_device_state_is_ready() {
        assert_eq!(payload("sRN SCdevicestate", b""), b"sRA SCdevicestate \x01");
    }

    #[test]
    fn identity_strings_carry_their_length() {
        assert_eq!(
            payload("sRN DeviceIdent", b""),
            b"sRA DeviceIdent \x00\x10LMS511-10100 PRO\x00\x05V1.10"
        );
        assert_eq!(
            payload("sRN SerialNumber", b""),
            b"sRA SerialNumber \x00\x0820240001"
        );
    }

    #[test]
    fn the_scan_configuration_is_the_emulated_one() {
        let expected = [
            &b"sRA LMPscancfg "[..],
            &2500u32.to_be_bytes(),
            &1u16.to_be_bytes(),
            &1667u32.to_be_bytes(),
            &(-50_000i32).to_be_bytes(),
            &1_850_000i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(payload("sRN LMPscancfg", b""), expected);
        // A request to change it is answered with status 0 and the configuration kept.
        let changed = payload("sMN mLMPsetscancfg", b"\x00\x00\x13\x88");
        assert_eq!(&changed[..21], b"sAN mLMPsetscancfg \x00\x00");
        assert_eq!(&changed[20..], &expected[15..]);
    }

    #[test]
    fn fields_are_unconfigured_and_inputs_low() {
        let field = payload("sRN field007", b"");
        assert!(
            field.starts_with(b"sRA field007 \x3f\x80\x00\x00"),
            "{field:?}"
        );
        assert_eq!(field.len(), "sRA field007 ".len() + 26);
        assert!(field[13 + 16..].iter().all(|&b| b == 0));
        assert_eq!(payload("sRN fieldABC", b""), b"sFA\x00\x03");
        assert_eq!(
            payload("sRN LIDinputstate", b""),
            b"sRA LIDinputstate \0\0\0\0\0\0\0\0\0\0\0\0"
        );
    }

    #[test]
    fn settings_and_event_streams_are_acknowledged() {
        assert_eq!(
            payload("sWN LMDscandatacfg", b"\x01\x00\x01"),
            b"sWA LMDscandatacfg"
        );
        assert_eq!(payload("sEN LFErec", b"\x01"), b"sEA LFErec \x01");
    }

    #[test]
    fn unknown_variables_and_methods_are_refused_with_their_codes() {
        assert_eq!(payload("sRN NoSuchVariable", b""), b"sFA\x00\x03");
        assert_eq!(payload("sMN NoSuchMethod", b""), b"sFA\x00\x02");
        assert_eq!(payload("sXY", b""), b"sFA\x00\x02");
    }
}
