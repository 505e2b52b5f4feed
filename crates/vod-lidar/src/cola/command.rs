//! The command telegrams a client and a scanner exchange before and around the scan stream,
//! in their binary (CoLa-B) form: what the client sends ([`Request`]) and what the scanner
//! sends ([`Response`], scans included).

use bytes::BufMut;
use serde::Serialize;

use super::ColaError;
use super::scandata::{ScanData, ScanDataKind};
use super::wire::{Reader, ascii_string, put_string16};

/// The password hash of SICK's "authorized client" user level (3) on LMS1xx/LMS5xx.
pub const SICK_CLIENT_PASSWORD_HASH: u32 = 0xF472_4744;

/// What a client sends to a scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// `sMN SetAccessMode <level> <password hash>`: log in.
    SetAccessMode { user_level: u8, password_hash: u32 },
    /// `sMN LMCstartmeas`: switch the laser on and start measuring.
    StartMeasurement,
    /// `sMN Run`: leave configuration mode.
    Run,
    /// `sEN LMDscandata 1|0`: start or stop the scan stream.
    SubscribeScanData { enabled: bool },
    /// `sRN STlms`: read the device state.
    ReadDeviceState,
    /// Any other command, kept as it came.
    Other { command: String, args: Vec<u8> },
}

/// What a scanner sends to a client: answers to requests, and scans.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// `sAN SetAccessMode 1|0`
    AccessMode { granted: bool },
    /// `sAN LMCstartmeas <error code>`, 0 when measurement started.
    StartMeasurement { error_code: u8 },
    /// `sAN Run 1|0`
    Run { success: bool },
    /// `sEA LMDscandata 1|0`
    ScanDataSubscription { enabled: bool },
    /// `sRA STlms ...`
    DeviceState(DeviceState),
    /// `sSN LMDscandata ...` or `sRA LMDscandata ...`
    ScanData(Box<ScanData>),
    /// `sFA <code>`: the scanner refused a request.
    Error { code: u16 },
    /// Any other command, kept as it came.
    Other { command: String, args: Vec<u8> },
}

/// The answer to `sRN STlms`: status code u16, temperature within range u8 (0/1), time and
/// date as u16-length-prefixed ASCII (`HH:MM:SS`, `DD.MM.YYYY`), then three LED states u16.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceState {
    /// 0 undefined, 1 initialisation, 2 configuration, 3 idle, 4 rotated, 5 in preparation,
    /// 6 ready, 7 ready for measurement.
    pub status_code: u16,
    pub temperature_ok: bool,
    pub time: String,
    pub date: String,
    pub leds: [u16; 3],
}

impl DeviceState {
    pub const READY_FOR_MEASUREMENT: u16 = 7;
}

/// A payload split into command type (`sMN`), name (`SetAccessMode`) and binary arguments.
struct Command<'a> {
    kind: &'a [u8],
    name: &'a [u8],
    args: &'a [u8],
}

impl<'a> Command<'a> {
    fn split(payload: &'a [u8]) -> Result<Self, ColaError> {
        let (kind, rest) = payload.split_at_checked(3).ok_or(ColaError::NotACommand)?;
        if kind[0] != b's' || !kind[1..].iter().all(u8::is_ascii_uppercase) {
            return Err(ColaError::NotACommand);
        }
        let Some(rest) = rest.strip_prefix(b" ") else {
            // `sFA` carries its error code right after the type.
            return Ok(Command {
                kind,
                name: b"",
                args: rest,
            });
        };
        let (name, args) = match rest.iter().position(|&b| b == b' ') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        Ok(Command { kind, name, args })
    }

    fn other(&self) -> Result<(String, Vec<u8>), ColaError> {
        let kind = ascii_string(self.kind, "command type")?;
        let name = ascii_string(self.name, "command name")?;
        Ok((format!("{kind} {name}"), self.args.to_vec()))
    }
}

fn flag_only(args: &[u8], field: &'static str) -> Result<bool, ColaError> {
    let mut r = Reader::new(args);
    let flag = r.flag8(field)?;
    r.finish()?;
    Ok(flag)
}

fn no_args(args: &[u8]) -> Result<(), ColaError> {
    Reader::new(args).finish()
}

impl Request {
    pub fn decode(payload: &[u8]) -> Result<Request, ColaError> {
        let command = Command::split(payload)?;
        Ok(match (command.kind, command.name) {
            (b"sMN", b"SetAccessMode") => {
                let mut r = Reader::new(command.args);
                let request = Request::SetAccessMode {
                    user_level: r.u8("user level")?,
                    password_hash: r.u32("password hash")?,
                };
                r.finish()?;
                request
            }
            (b"sMN", b"LMCstartmeas") => {
                no_args(command.args)?;
                Request::StartMeasurement
            }
            (b"sMN", b"Run") => {
                no_args(command.args)?;
                Request::Run
            }
            (b"sEN", b"LMDscandata") => Request::SubscribeScanData {
                enabled: flag_only(command.args, "scan data subscription")?,
            },
            (b"sRN", b"STlms") => {
                no_args(command.args)?;
                Request::ReadDeviceState
            }
            _ => {
                let (command, args) = command.other()?;
                Request::Other { command, args }
            }
        })
    }

    /// The payload, ready for [`super::encode_cola_b`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Request::SetAccessMode {
                user_level,
                password_hash,
            } => {
                out.put_slice(b"sMN SetAccessMode ");
                out.put_u8(*user_level);
                out.put_u32(*password_hash);
            }
            Request::StartMeasurement => out.put_slice(b"sMN LMCstartmeas"),
            Request::Run => out.put_slice(b"sMN Run"),
            Request::SubscribeScanData { enabled } => {
                out.put_slice(b"sEN LMDscandata ");
                out.put_u8((*enabled).into());
            }
            Request::ReadDeviceState => out.put_slice(b"sRN STlms"),
            Request::Other { command, args } => put_other(&mut out, command, args),
        }
        out
    }
}

fn put_other(out: &mut Vec<u8>, command: &str, args: &[u8]) {
    out.put_slice(command.as_bytes());
    if !args.is_empty() {
        out.put_u8(b' ');
        out.put_slice(args);
    }
}

impl Response {
    pub fn decode(payload: &[u8]) -> Result<Response, ColaError> {
        let command = Command::split(payload)?;
        Ok(match (command.kind, command.name) {
            (b"sSN", b"LMDscandata") => Response::ScanData(Box::new(ScanData::decode_body(
                ScanDataKind::Event,
                command.args,
            )?)),
            (b"sRA", b"LMDscandata") => Response::ScanData(Box::new(ScanData::decode_body(
                ScanDataKind::Answer,
                command.args,
            )?)),
            (b"sAN", b"SetAccessMode") => Response::AccessMode {
                granted: flag_only(command.args, "access granted")?,
            },
            (b"sAN", b"LMCstartmeas") => {
                let mut r = Reader::new(command.args);
                let error_code = r.u8("start measurement error code")?;
                r.finish()?;
                Response::StartMeasurement { error_code }
            }
            (b"sAN", b"Run") => Response::Run {
                success: flag_only(command.args, "run success")?,
            },
            (b"sEA", b"LMDscandata") => Response::ScanDataSubscription {
                enabled: flag_only(command.args, "scan data subscription")?,
            },
            (b"sRA", b"STlms") => Response::DeviceState(decode_device_state(command.args)?),
            (b"sFA", b"") => {
                let mut r = Reader::new(command.args);
                let code = r.u16("error code")?;
                r.finish()?;
                Response::Error { code }
            }
            _ => {
                let (command, args) = command.other()?;
                Response::Other { command, args }
            }
        })
    }

    /// The payload, ready for [`super::encode_cola_b`]; fails only for a scan or a device
    /// state with more data than the telegram's length fields can describe.
    pub fn encode(&self) -> Result<Vec<u8>, ColaError> {
        let mut out = Vec::new();
        match self {
            Response::AccessMode { granted } => {
                out.put_slice(b"sAN SetAccessMode ");
                out.put_u8((*granted).into());
            }
            Response::StartMeasurement { error_code } => {
                out.put_slice(b"sAN LMCstartmeas ");
                out.put_u8(*error_code);
            }
            Response::Run { success } => {
                out.put_slice(b"sAN Run ");
                out.put_u8((*success).into());
            }
            Response::ScanDataSubscription { enabled } => {
                out.put_slice(b"sEA LMDscandata ");
                out.put_u8((*enabled).into());
            }
            Response::DeviceState(state) => {
                out.put_slice(b"sRA STlms ");
                out.put_u16(state.status_code);
                out.put_u8(state.temperature_ok.into());
                put_string16(&mut out, &state.time, "device time")?;
                put_string16(&mut out, &state.date, "device date")?;
                for led in state.leds {
                    out.put_u16(led);
                }
            }
            Response::ScanData(scan) => return scan.encode(),
            Response::Error { code } => {
                out.put_slice(b"sFA");
                out.put_u16(*code);
            }
            Response::Other { command, args } => put_other(&mut out, command, args),
        }
        Ok(out)
    }
}

fn decode_device_state(args: &[u8]) -> Result<DeviceState, ColaError> {
    let mut r = Reader::new(args);
    let state = DeviceState {
        status_code: r.u16("status code")?,
        temperature_ok: r.flag8("temperature ok")?,
        time: r.string16("device time")?,
        date: r.string16("device date")?,
        leds: [r.u16("LED 1")?, r.u16("LED 2")?, r.u16("LED 3")?],
    };
    r.finish()?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn requests_match_the_recorded_bytes() {
        let cases: [(Request, &[u8]); 5] = [
            (
                Request::SetAccessMode {
                    user_level: 3,
                    password_hash: SICK_CLIENT_PASSWORD_HASH,
                },
                b"sMN SetAccessMode \x03\xf4\x72\x47\x44",
            ),
            (Request::StartMeasurement, b"sMN LMCstartmeas"),
            (Request::Run, b"sMN Run"),
            (
                Request::SubscribeScanData { enabled: true },
                b"sEN LMDscandata \x01",
            ),
            (Request::ReadDeviceState, b"sRN STlms"),
        ];
        for (request, payload) in cases {
            assert_eq!(request.encode(), payload, "{request:?}");
            assert_eq!(Request::decode(payload).unwrap(), request);
        }
    }

    #[test]
    fn responses_match_the_recorded_bytes() {
        let state = DeviceState {
            status_code: DeviceState::READY_FOR_MEASUREMENT,
            temperature_ok: true,
            time: "00:34:19".into(),
            date: "01.01.1970".into(),
            leds: [0, 0, 0],
        };
        let cases: [(Response, &[u8]); 7] = [
            (
                Response::AccessMode { granted: true },
                b"sAN SetAccessMode \x01",
            ),
            (
                Response::StartMeasurement { error_code: 0 },
                b"sAN LMCstartmeas \x00",
            ),
            (Response::Run { success: true }, b"sAN Run \x01"),
            (
                Response::ScanDataSubscription { enabled: true },
                b"sEA LMDscandata \x01",
            ),
            (
                Response::DeviceState(state),
                b"sRA STlms \x00\x07\x01\x00\x0800:34:19\x00\x0a01.01.1970\x00\x00\x00\x00\x00\x00",
            ),
            (Response::Error { code: 3 }, b"sFA\x00\x03"),
            (
                Response::Other {
                    command: "sRA FirmwareVersion".into(),
                    args: b"\x00\x05V1.80".to_vec(),
                },
                b"sRA FirmwareVersion \x00\x05V1.80",
            ),
        ];
        for (response, payload) in cases {
            assert_eq!(response.encode().unwrap(), payload, "{response:?}");
            assert_eq!(Response::decode(payload).unwrap(), response);
        }
    }

    #[test]
    fn malformed_commands_give_clear_errors() {
        let cases: [(&[u8], ColaError); 5] = [
            (b"", ColaError::NotACommand),
            (b"xyz LMCstartmeas", ColaError::NotACommand),
            (
                b"sAN SetAccessMode \x02",
                ColaError::InvalidValue {
                    field: "access granted",
                    value: 2,
                },
            ),
            (
                b"sAN LMCstartmeas ",
                ColaError::Truncated {
                    field: "start measurement error code",
                    offset: 0,
                    needed: 1,
                },
            ),
            (b"sAN Run \x01\x01", ColaError::TrailingBytes { count: 1 }),
        ];
        for (payload, expected) in cases {
            assert_eq!(Response::decode(payload), Err(expected), "{payload:?}");
        }
        assert_eq!(
            Request::decode(b"sRN \xff"),
            Err(ColaError::NotAscii {
                field: "command name"
            })
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _value_or_error = Request::decode(&bytes);
            let _value_or_error = Response::decode(&bytes);
        }

        #[test]
        fn other_commands_round_trip(name in "[A-Za-z]{1,12}", args in prop::collection::vec(any::<u8>(), 0..16)) {
            let response = Response::Other { command: format!("sRA {name}"), args };
            let payload = response.encode().unwrap();
            let decoded = Response::decode(&payload).unwrap();
            if !matches!(name.as_str(), "STlms" | "LMDscandata") {
                prop_assert_eq!(decoded, response);
            }
        }
    }
}
