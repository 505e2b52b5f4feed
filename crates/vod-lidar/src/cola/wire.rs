//! A cursor over a telegram's bytes whose every read returns an error on short input, and the
//! matching writer helpers. CoLa-B numbers are big-endian.

use bytes::BufMut;

use super::ColaError;

/// Reads big-endian values from a byte slice; never reads past its end.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], ColaError> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < len {
            return Err(ColaError::Truncated {
                field,
                offset: self.offset,
                needed: len - rest.len(),
            });
        }
        self.offset += len;
        Ok(&rest[..len])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ColaError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ColaError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, ColaError> {
        self.array(field).map(u16::from_be_bytes)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, ColaError> {
        self.array(field).map(i16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, ColaError> {
        self.array(field).map(u32::from_be_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, ColaError> {
        self.array(field).map(i32::from_be_bytes)
    }

    pub(crate) fn f32(&mut self, field: &'static str) -> Result<f32, ColaError> {
        self.array(field).map(f32::from_be_bytes)
    }

    /// A `uint_16` that must be 0 or 1, such as the "block present" markers.
    pub(crate) fn flag16(&mut self, field: &'static str) -> Result<bool, ColaError> {
        match self.u16(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(ColaError::InvalidValue {
                field,
                value: value.into(),
            }),
        }
    }

    /// A `uint_8` that must be 0 or 1.
    pub(crate) fn flag8(&mut self, field: &'static str) -> Result<bool, ColaError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(ColaError::InvalidValue {
                field,
                value: value.into(),
            }),
        }
    }

    /// `len` bytes of printable ASCII.
    pub(crate) fn ascii(&mut self, len: usize, field: &'static str) -> Result<String, ColaError> {
        ascii_string(self.take(len, field)?, field)
    }

    /// A string preceded by its length as `uint_8`.
    pub(crate) fn string8(&mut self, field: &'static str) -> Result<String, ColaError> {
        let len = self.u8(field)?;
        self.ascii(len.into(), field)
    }

    /// A string preceded by its length as `uint_16`.
    pub(crate) fn string16(&mut self, field: &'static str) -> Result<String, ColaError> {
        let len = self.u16(field)?;
        self.ascii(len.into(), field)
    }

    pub(crate) fn finish(self) -> Result<(), ColaError> {
        match self.bytes.len() - self.offset {
            0 => Ok(()),
            count => Err(ColaError::TrailingBytes { count }),
        }
    }
}

pub(crate) fn ascii_string(bytes: &[u8], field: &'static str) -> Result<String, ColaError> {
    if bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        Err(ColaError::NotAscii { field })
    }
}

/// A string preceded by its length as `uint_8`.
pub(crate) fn put_string8(
    out: &mut Vec<u8>,
    text: &str,
    field: &'static str,
) -> Result<(), ColaError> {
    let len = u8::try_from(text.len()).map_err(|_| ColaError::TooLarge {
        field,
        len: text.len(),
        max: u8::MAX.into(),
    })?;
    out.put_u8(len);
    out.put_slice(text.as_bytes());
    Ok(())
}

/// A string preceded by its length as `uint_16`.
pub fn put_string16(out: &mut Vec<u8>, text: &str, field: &'static str) -> Result<(), ColaError> {
    out.put_u16(len_u16(text.len(), field)?);
    out.put_slice(text.as_bytes());
    Ok(())
}

pub(crate) fn len_u16(len: usize, field: &'static str) -> Result<u16, ColaError> {
    u16::try_from(len).map_err(|_| ColaError::TooLarge {
        field,
        len,
        max: u16::MAX.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_an_error_with_its_place() {
        let mut reader = Reader::new(&[0, 1, 2]);
        assert_eq!(reader.u16("a").unwrap(), 1);
        assert_eq!(
            reader.u32("b"),
            Err(ColaError::Truncated {
                field: "b",
                offset: 2,
                needed: 3
            })
        );
        assert_eq!(reader.u8("c").unwrap(), 2);
        reader.finish().unwrap();
    }

    #[test]
    fn flags_accept_only_zero_and_one() {
        assert_eq!(
            Reader::new(&[0, 2]).flag16("f"),
            Err(ColaError::InvalidValue {
                field: "f",
                value: 2
            })
        );
        assert!(Reader::new(&[1]).flag8("f").unwrap());
    }

    #[test]
    fn strings_must_be_printable_ascii() {
        assert_eq!(Reader::new(&[2, b'o', b'k']).string8("s").unwrap(), "ok");
        assert_eq!(
            Reader::new(&[0, 1, 0xff]).string16("s"),
            Err(ColaError::NotAscii { field: "s" })
        );
    }
}
