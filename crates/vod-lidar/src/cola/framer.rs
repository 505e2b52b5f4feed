//! Cutting a byte stream into telegrams: CoLa-B (`02 02 02 02`, 4-byte big-endian length,
//! payload, XOR checksum) and CoLa-A (`02`, ASCII payload, `03`). Bytes may arrive in any
//! chunks; garbage is skipped up to the next start of telegram and reported.

use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;

use super::ColaError;

/// The longest payload accepted; SICK's largest scan telegrams are a few tens of KiB.
pub const MAX_PAYLOAD_LEN: usize = 1 << 20;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
const COLA_B_STX: [u8; 4] = [STX; 4];
const COLA_B_HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Binary: `02 02 02 02`, length, payload, checksum.
    ColaB,
    /// ASCII: `02`, payload, `03`.
    ColaA,
}

/// One telegram, without its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub framing: Framing,
    pub payload: Bytes,
}

/// Accepts bytes in arbitrary chunks and yields whole telegrams.
#[derive(Debug)]
pub struct Framer {
    framing: Framing,
    buffer: BytesMut,
}

impl Framer {
    pub fn new(framing: Framing) -> Self {
        Framer {
            framing,
            buffer: BytesMut::new(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a whole telegram.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole telegram, an error about the bytes skipped to find it, or `None` until
    /// more bytes arrive. Call it until it returns `None` after each [`Framer::push`].
    pub fn next_frame(&mut self) -> Option<Result<Frame, ColaError>> {
        match self.framing {
            Framing::ColaB => self.next_cola_b(),
            Framing::ColaA => self.next_cola_a(),
        }
    }

    fn next_cola_b(&mut self) -> Option<Result<Frame, ColaError>> {
        let start = find_cola_b_start(&self.buffer);
        if start > 0 {
            return Some(Err(self.skip(start)));
        }
        let header = self.buffer.get(..COLA_B_HEADER_LEN)?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if len > MAX_PAYLOAD_LEN {
            // Skip only the first STX byte: the real start may hide in what follows.
            self.buffer.advance(1);
            return Some(Err(ColaError::TooLong {
                len,
                max: MAX_PAYLOAD_LEN,
            }));
        }
        let total = COLA_B_HEADER_LEN + len + 1;
        if self.buffer.len() < total {
            return None;
        }
        let telegram = self.buffer.split_to(total).freeze();
        let payload = telegram.slice(COLA_B_HEADER_LEN..total - 1);
        let received = telegram[total - 1];
        let computed = checksum(&payload);
        if received != computed {
            return Some(Err(ColaError::BadChecksum { received, computed }));
        }
        Some(Ok(Frame {
            framing: Framing::ColaB,
            payload,
        }))
    }

    fn next_cola_a(&mut self) -> Option<Result<Frame, ColaError>> {
        let start = self
            .buffer
            .iter()
            .position(|&b| b == STX)
            .unwrap_or(self.buffer.len());
        if start > 0 {
            return Some(Err(self.skip(start)));
        }
        let Some(end) = self
            .buffer
            .iter()
            .skip(1)
            .position(|&b| b == ETX || b == STX)
        else {
            if self.buffer.len() > MAX_PAYLOAD_LEN + 1 {
                let len = self.buffer.len() - 1;
                self.buffer.advance(1);
                return Some(Err(ColaError::TooLong {
                    len,
                    max: MAX_PAYLOAD_LEN,
                }));
            }
            return None;
        };
        let end = end + 1;
        if self.buffer[end] == STX {
            // A new telegram starts before this one ended: this one is garbage.
            return Some(Err(self.skip(end)));
        }
        if end - 1 > MAX_PAYLOAD_LEN {
            self.buffer.advance(1);
            return Some(Err(ColaError::TooLong {
                len: end - 1,
                max: MAX_PAYLOAD_LEN,
            }));
        }
        let telegram = self.buffer.split_to(end + 1).freeze();
        Some(Ok(Frame {
            framing: Framing::ColaA,
            payload: telegram.slice(1..end),
        }))
    }

    fn skip(&mut self, skipped: usize) -> ColaError {
        self.buffer.advance(skipped);
        ColaError::Garbage { skipped }
    }
}

/// Where the next CoLa-B start of telegram begins: the first offset from which the buffer
/// reads `02 02 02 02`, or as much of it as the buffer holds.
fn find_cola_b_start(buffer: &[u8]) -> usize {
    (0..buffer.len())
        .find(|&i| {
            let candidate = &buffer[i..buffer.len().min(i + COLA_B_STX.len())];
            candidate.iter().all(|&b| b == STX)
        })
        .unwrap_or(buffer.len())
}

fn checksum(payload: &[u8]) -> u8 {
    payload.iter().fold(0, |sum, b| sum ^ b)
}

/// Frames `payload` as a CoLa-B telegram.
pub fn encode_cola_b(payload: &[u8]) -> Result<Vec<u8>, ColaError> {
    let len = checked_len(payload)?;
    let mut out = Vec::with_capacity(COLA_B_HEADER_LEN + payload.len() + 1);
    out.extend_from_slice(&COLA_B_STX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.push(checksum(payload));
    Ok(out)
}

/// Frames `payload`, which must be ASCII without STX and ETX, as a CoLa-A telegram.
pub fn encode_cola_a(payload: &[u8]) -> Result<Vec<u8>, ColaError> {
    checked_len(payload)?;
    if payload
        .iter()
        .any(|&b| b == STX || b == ETX || !b.is_ascii())
    {
        return Err(ColaError::NotAscii {
            field: "CoLa-A payload",
        });
    }
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.push(STX);
    out.extend_from_slice(payload);
    out.push(ETX);
    Ok(out)
}

fn checked_len(payload: &[u8]) -> Result<u32, ColaError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(ColaError::TooLarge {
            field: "payload",
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        });
    }
    Ok(payload.len() as u32)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A test case: name, the chunks pushed, the telegrams or errors expected.
    type Case<'a> = (&'a str, Vec<&'a [u8]>, Vec<Result<Bytes, ColaError>>);

    fn drain(framer: &mut Framer) -> Vec<Result<Bytes, ColaError>> {
        std::iter::from_fn(|| framer.next_frame())
            .map(|item| item.map(|frame| frame.payload))
            .collect()
    }

    fn frames_of(framing: Framing, chunks: &[&[u8]]) -> Vec<Result<Bytes, ColaError>> {
        let mut framer = Framer::new(framing);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            out.extend(drain(&mut framer));
        }
        out
    }

    fn ok(payload: &'static [u8]) -> Result<Bytes, ColaError> {
        Ok(Bytes::from_static(payload))
    }

    #[test]
    fn cola_b_cases() {
        let a = encode_cola_b(b"sAN SetAccessMode \x01").unwrap();
        let b = encode_cola_b(b"sEA LMDscandata \x01").unwrap();
        let both = [a.clone(), b.clone()].concat();
        let mut bad_checksum = a.clone();
        *bad_checksum.last_mut().unwrap() ^= 0xff;
        let absurd = [&COLA_B_STX[..], &[0x7f, 0, 0, 0], b"xyz"].concat();
        let cases: Vec<Case> = vec![
            ("whole", vec![&a], vec![ok(b"sAN SetAccessMode \x01")]),
            (
                "two in one read",
                vec![&both],
                vec![ok(b"sAN SetAccessMode \x01"), ok(b"sEA LMDscandata \x01")],
            ),
            (
                "split inside the STX and the payload",
                vec![&both[..2], &both[2..13], &both[13..]],
                vec![ok(b"sAN SetAccessMode \x01"), ok(b"sEA LMDscandata \x01")],
            ),
            (
                "garbage before",
                vec![b"\x00junk\x02", &a],
                vec![
                    Err(ColaError::Garbage { skipped: 5 }),
                    // The stray 02 makes the length field start with 02: absurd.
                    Err(ColaError::TooLong {
                        len: 0x0200_0000,
                        max: MAX_PAYLOAD_LEN,
                    }),
                    ok(b"sAN SetAccessMode \x01"),
                ],
            ),
            (
                "bad checksum, then goes on",
                vec![&bad_checksum, &b],
                vec![
                    Err(ColaError::BadChecksum {
                        received: 0x38 ^ 0xff,
                        computed: 0x38,
                    }),
                    ok(b"sEA LMDscandata \x01"),
                ],
            ),
            (
                "absurd length, resynchronizes",
                vec![&absurd, &b],
                vec![
                    Err(ColaError::TooLong {
                        len: 0x7f00_0000,
                        max: MAX_PAYLOAD_LEN,
                    }),
                    Err(ColaError::Garbage { skipped: 10 }),
                    ok(b"sEA LMDscandata \x01"),
                ],
            ),
        ];
        for (name, chunks, expected) in cases {
            assert_eq!(frames_of(Framing::ColaB, &chunks), expected, "{name}");
        }
    }

    #[test]
    fn cola_a_cases() {
        let cases: Vec<Case> = vec![
            (
                "two, split",
                vec![b"\x02sEA LMDsc", b"andata 1\x03\x02sRA STlms 7\x03"],
                vec![ok(b"sEA LMDscandata 1"), ok(b"sRA STlms 7")],
            ),
            (
                "garbage and an unterminated telegram",
                vec![b"xx\x02sAN Run", b"\x02sAN Run 1\x03"],
                vec![
                    Err(ColaError::Garbage { skipped: 2 }),
                    Err(ColaError::Garbage { skipped: 8 }),
                    ok(b"sAN Run 1"),
                ],
            ),
        ];
        for (name, chunks, expected) in cases {
            assert_eq!(frames_of(Framing::ColaA, &chunks), expected, "{name}");
        }
    }

    #[test]
    fn cola_a_refuses_control_bytes() {
        assert_eq!(encode_cola_a(b"sRN STlms").unwrap(), b"\x02sRN STlms\x03");
        assert!(encode_cola_a(b"s\x03").is_err());
    }

    #[test]
    fn real_set_access_mode_telegram_frames() {
        let wire = [
            0x02, 0x02, 0x02, 0x02, 0x00, 0x00, 0x00, 0x17, 0x73, 0x4d, 0x4e, 0x20, 0x53, 0x65,
            0x74, 0x41, 0x63, 0x63, 0x65, 0x73, 0x73, 0x4d, 0x6f, 0x64, 0x65, 0x20, 0x03, 0xf4,
            0x72, 0x47, 0x44, 0xb3,
        ];
        assert_eq!(encode_cola_b(&wire[8..31]).unwrap(), wire);
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_telegrams(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..6),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| encode_cola_b(p).unwrap()).collect();
            let mut cut_at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cut_at.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for at in cut_at.into_iter().chain([stream.len()]) {
                chunks.push(&stream[from..at]);
                from = at;
            }
            let expected: Vec<_> = payloads.into_iter().map(|p| Ok(Bytes::from(p))).collect();
            prop_assert_eq!(frames_of(Framing::ColaB, &chunks), expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            for framing in [Framing::ColaB, Framing::ColaA] {
                let mut framer = Framer::new(framing);
                framer.push(&bytes);
                let mut steps = 0;
                while framer.next_frame().is_some() {
                    steps += 1;
                    prop_assert!(steps <= bytes.len() + 1, "the framer must make progress");
                }
            }
        }
    }
}
