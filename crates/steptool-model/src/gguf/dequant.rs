//! ggml tensor types and their dequantisation to `f32`.
//!
//! Block layouts (llama.cpp `ggml-common.h`; 32 elements per block, little-endian):
//!
//! | type | bytes per block | layout | element `j` of the block |
//! |---|---|---|---|
//! | `Q8_0` | 34 | `f16 d`, `i8 qs[32]` | `qs[j] * d` |
//! | `Q4_0` | 18 | `f16 d`, `u8 qs[16]` | `(nib(j) - 8) * d` |
//! | `Q4_1` | 20 | `f16 d`, `f16 m`, `u8 qs[16]` | `nib(j) * d + m` |
//!
//! where `nib(j)` is the low nibble of `qs[j]` for `j < 16` and the high nibble of `qs[j - 16]`
//! for `j >= 16`. `F32`, `F16` and `BF16` are plain arrays of one element each.

use super::error::{Error, Result};

/// A ggml tensor type id (`enum ggml_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType(pub u32);

impl GgmlType {
    /// `GGML_TYPE_F32`.
    pub const F32: Self = Self(0);
    /// `GGML_TYPE_F16`.
    pub const F16: Self = Self(1);
    /// `GGML_TYPE_Q4_0`.
    pub const Q4_0: Self = Self(2);
    /// `GGML_TYPE_Q4_1`.
    pub const Q4_1: Self = Self(3);
    /// `GGML_TYPE_Q8_0`.
    pub const Q8_0: Self = Self(8);
    /// `GGML_TYPE_BF16`.
    pub const BF16: Self = Self(30);

    /// The type's name in llama.cpp (`Q4_K`, ...), `unknown` for an id ggml does not define.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 31] = [
            "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K",
            "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
            "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
            "BF16",
        ];
        NAMES.get(self.0 as usize).copied().unwrap_or("unknown")
    }

    /// `(elements per block, bytes per block)` for the types this module dequantises.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q8_0 => (32, 34),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            _ => return None,
        })
    }

    /// Bytes that `elements` elements take, `None` when the type is not supported, the count is
    /// not a whole number of blocks, or it overflows.
    pub fn byte_size(self, elements: u64) -> Option<u64> {
        let (per_block, bytes) = self.block()?;
        if elements % per_block != 0 {
            return None;
        }
        (elements / per_block).checked_mul(bytes)
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// IEEE half to single precision (exact: every f16 is an f32).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        // Subnormal: mant * 2^-24.
        (0, _) => {
            let v = mant as f32 * f32::from_bits(0x3380_0000); // 2^-24
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// bfloat16 to single precision (exact).
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// Single precision to bfloat16, rounding to nearest even (NaN stays NaN), as torch does.
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// Dequantises `bytes` of type `ty` into `out` (whose length is the element count).
///
/// `name` and `offset` (the tensor's data offset) only label errors: an unsupported type, or a
/// byte count that does not match `out.len()` elements of `ty`.
pub fn dequantize(
    ty: GgmlType,
    bytes: &[u8],
    out: &mut [f32],
    name: &str,
    offset: u64,
) -> Result<()> {
    let unsupported = || Error::UnsupportedType {
        name: name.to_string(),
        offset,
        type_name: ty.name(),
        type_id: ty.0,
    };
    let (per_block, block_bytes) = ty.block().ok_or_else(unsupported)?;
    let expected = ty.byte_size(out.len() as u64);
    if expected != Some(bytes.len() as u64) {
        return Err(Error::Tensor {
            name: name.to_string(),
            message: format!(
                "{} elements of {ty} need {} bytes, got {}",
                out.len(),
                expected.map_or_else(
                    || format!("a multiple of {per_block} elements and"),
                    |n| n.to_string()
                ),
                bytes.len()
            ),
        });
    }
    let blocks = bytes.chunks_exact(block_bytes as usize);
    let outs = out.chunks_exact_mut(per_block as usize);
    match ty {
        GgmlType::F32 => {
            for (b, o) in blocks.zip(outs) {
                o[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            for (b, o) in blocks.zip(outs) {
                o[0] = f16_to_f32(le16(b, 0));
            }
        }
        GgmlType::BF16 => {
            for (b, o) in blocks.zip(outs) {
                o[0] = bf16_to_f32(le16(b, 0));
            }
        }
        GgmlType::Q8_0 => {
            for (b, o) in blocks.zip(outs) {
                let d = f16_to_f32(le16(b, 0));
                for (x, &q) in o.iter_mut().zip(&b[2..34]) {
                    *x = (q as i8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_0 => {
            for (b, o) in blocks.zip(outs) {
                let d = f16_to_f32(le16(b, 0));
                let qs = &b[2..18];
                for (j, &q) in qs.iter().enumerate() {
                    o[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
                    o[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_1 => {
            for (b, o) in blocks.zip(outs) {
                let d = f16_to_f32(le16(b, 0));
                let m = f16_to_f32(le16(b, 2));
                let qs = &b[4..20];
                for (j, &q) in qs.iter().enumerate() {
                    o[j] = (q & 0x0f) as f32 * d + m;
                    o[j + 16] = (q >> 4) as f32 * d + m;
                }
            }
        }
        _ => return Err(unsupported()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3800), 0.5);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8000), -0.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn bf16_rounding() {
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
        assert_eq!(f32_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(bf16_to_f32(0x3f82), 1.015625);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
    }
}
