//! A cursor over a journal record's little-endian fields: the one reader every broker's journal
//! decoder uses.
//!
//! It owns bounds checks only and never allocates or panics; what a field means (names, ids,
//! payloads, validation) belongs to each broker's `journal` module, which adds its own methods.

use std::marker::PhantomData;

/// The error a journal decoder reports when a record ends before a field does.
pub(crate) trait TooShort {
    /// That error.
    fn too_short() -> Self;
}

/// Reads fields off the front of a record; `E` is the decoder's error type.
#[derive(Debug)]
pub(crate) struct LeReader<'a, E> {
    /// What has not been read yet.
    pub(crate) rest: &'a [u8],
    error: PhantomData<E>,
}

impl<'a, E: TooShort> LeReader<'a, E> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes, error: PhantomData }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], E> {
        if self.rest.len() < n {
            return Err(E::too_short());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], E> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A `u8`.
    pub(crate) fn u8(&mut self) -> Result<u8, E> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, E> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, E> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, E> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Short;

    impl TooShort for Short {
        fn too_short() -> Self {
            Short
        }
    }

    #[test]
    fn reads_little_endian_and_stops_at_the_end() {
        let mut r = LeReader::<Short>::new(&[1, 2, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u32(), Ok(3));
        assert_eq!(r.u64(), Ok(4));
        assert_eq!(r.u64(), Err(Short));
        assert_eq!(r.u8(), Ok(9), "a failed read consumes nothing");
        assert!(r.rest.is_empty());
    }
}
