//! SHA-1 at compile time, for the digests Redis knows scripts by: every [`crate::script::Script`]
//! is a `static`, so its digest is computed by the compiler and no SHA-1 code ships.

/// The lower-case hex SHA-1 of `text`, as ASCII.
pub(crate) const fn hex_digest(text: &str) -> [u8; 40] {
    let digest = digest(text.as_bytes());
    let mut out = [0u8; 40];
    let mut i = 0;
    while i < 20 {
        out[2 * i] = HEX[(digest[i] >> 4) as usize];
        out[2 * i + 1] = HEX[(digest[i] & 15) as usize];
        i += 1;
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// FIPS 180-4 SHA-1 of `data`.
const fn digest(data: &[u8]) -> [u8; 20] {
    let mut state: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    // The message, a 0x80 byte, zeros, and the bit length: a whole number of 64-byte blocks.
    let blocks = (data.len() + 8) / 64 + 1;
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut block = 0;
    while block < blocks {
        let mut w = [0u32; 80];
        let mut t = 0;
        while t < 16 {
            let mut word = 0u32;
            let mut b = 0;
            while b < 4 {
                let at = block * 64 + t * 4 + b;
                let byte = if at < data.len() {
                    data[at]
                } else if at == data.len() {
                    0x80
                } else if at >= blocks * 64 - 8 {
                    (bits >> (8 * (blocks * 64 - 1 - at))) as u8
                } else {
                    0
                };
                word = (word << 8) | byte as u32;
                b += 1;
            }
            w[t] = word;
            t += 1;
        }
        while t < 80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
            t += 1;
        }
        let [mut a, mut b, mut c, mut d, mut e] = state;
        t = 0;
        while t < 80 {
            let (f, k) = match t / 20 {
                0 => ((b & c) | (!b & d), 0x5A82_7999),
                1 => (b ^ c ^ d, 0x6ED9_EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let next = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(w[t]);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = next;
            t += 1;
        }
        state = [
            state[0].wrapping_add(a),
            state[1].wrapping_add(b),
            state[2].wrapping_add(c),
            state[3].wrapping_add(d),
            state[4].wrapping_add(e),
        ];
        block += 1;
    }
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 5 {
        let bytes = state[i].to_be_bytes();
        out[4 * i] = bytes[0];
        out[4 * i + 1] = bytes[1];
        out[4 * i + 2] = bytes[2];
        out[4 * i + 3] = bytes[3];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against an independent implementation, across the lengths where padding changes shape.
    #[test]
    fn matches_sha1_smol_at_every_padding_boundary() {
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 20_000] {
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let ours = hex_digest(&text);
            assert_eq!(std::str::from_utf8(&ours).unwrap(), sha1_smol::Sha1::from(&text).digest().to_string(), "length {len}");
        }
        // FIPS 180-2, appendix A.1.
        assert_eq!(&hex_digest("abc"), b"a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
