//! The one error type of the codec: framing problems and malformed telegrams.

/// What went wrong reading or writing a telegram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColaError {
    #[error("skipped {skipped} bytes of garbage before the next start of telegram")]
    Garbage { skipped: usize },
    #[error("bad checksum: telegram says {received:#04x}, payload gives {computed:#04x}")]
    BadChecksum { received: u8, computed: u8 },
    #[error("telegram length {len} bytes is over the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    #[error("telegram ends inside {field} (at byte {offset}, {needed} more bytes needed)")]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
    },
    #[error("{count} unexpected bytes after the end of the telegram")]
    TrailingBytes { count: usize },
    #[error("not a CoLa command telegram (it should start with a command type such as `sSN `)")]
    NotACommand,
    #[error("{field} has the invalid value {value}")]
    InvalidValue { field: &'static str, value: u64 },
    #[error("{field} is not printable ASCII")]
    NotAscii { field: &'static str },
    #[error("the scan has no DIST1 channel")]
    NoDistanceChannel,
    #[error("{field} has {len} entries, more than the telegram can carry ({max})")]
    TooLarge {
        field: &'static str,
        len: usize,
        max: usize,
    },
}
