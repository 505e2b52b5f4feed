//! SICK's CoLa protocol: the framing of telegrams on the wire (CoLa-B binary, CoLa-A ASCII),
//! the binary `LMDscandata` scan telegram, and the few command telegrams a client needs.
//!
//! Everything here is pure: bytes in, values or errors out. Any byte sequence decodes to a
//! value or to a [`ColaError`], never to a panic.

mod command;
mod error;
mod framer;
mod scandata;
mod wire;

pub use command::{DeviceState, Request, Response, SICK_CLIENT_PASSWORD_HASH};
pub use error::ColaError;
pub use framer::{Frame, Framer, Framing, MAX_PAYLOAD_LEN, encode_cola_a, encode_cola_b};
pub use scandata::{
    Channel, ChannelName, Encoder, EventInfo, Position, ScanData, ScanDataKind, TimeStamp,
};
pub use wire::put_string16;
