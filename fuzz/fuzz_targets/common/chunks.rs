//! Cuts a fuzz input into pseudo-random chunks (a seeded linear congruential generator), the way
//! socket reads would, so a target can check that chunked decoding equals whole decoding.

/// Yields `wire` in chunks of 1 to `max` bytes chosen by `seed`.
pub struct Chunks<'a> {
    state: u32,
    rest: &'a [u8],
    max: usize,
}

impl<'a> Chunks<'a> {
    /// Chunks of `wire` of at most `max` bytes, sized by `seed`.
    pub fn new(seed: u8, wire: &'a [u8], max: usize) -> Self {
        Self { state: u32::from(seed) | 1, rest: wire, max: max.max(1) }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (self.state as usize >> 16) % self.max + 1;
        let (chunk, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        Some(chunk)
    }
}
