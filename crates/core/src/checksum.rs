//! FNV-1a 64: the one cheap checksum of loev, for telling apart files or builds that should be
//! equal (a truncated checkpoint, two ranks running different binaries). Not a security hash.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hasher = Fnv1a64::new();
    hasher.update(bytes);
    hasher.finish()
}

/// FNV-1a 64 over data that arrives in pieces (a file read in blocks), equal to [`fnv1a64`] of
/// the pieces joined.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a64(u64);

impl Fnv1a64 {
    /// The hash of nothing yet.
    pub fn new() -> Self {
        Self(OFFSET_BASIS)
    }

    /// Adds the next piece.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// The hash of every piece so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_single_byte_changes() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        // The published FNV-1a 64 test vector for "a".
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a64(b"model 50"), fnv1a64(b"model 5X"));
    }

    #[test]
    fn pieces_hash_like_the_whole() {
        let whole = b"one training configuration, read in blocks";
        let mut hasher = Fnv1a64::new();
        for piece in whole.chunks(5) {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), fnv1a64(whole));
    }
}
