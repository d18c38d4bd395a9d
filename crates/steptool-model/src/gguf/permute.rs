//! llama.cpp's Q/K row permutation and its inverse.
//!
//! llama.cpp's RoPE rotates adjacent pairs `(x[2i], x[2i+1])` of each head, Hugging Face's
//! rotates `(x[i], x[i + d/2])`. `convert_hf_to_gguf.py` therefore permutes the rows of
//! `q_proj` (with `n_head` heads) and `k_proj` (with `n_head_kv` heads):
//!
//! ```text
//! permute(w)  = w.reshape(n_head, 2, d/2, cols).swapaxes(1, 2).reshape(rows, cols)
//! reverse(w)  = w.reshape(n_head, d/2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
//! ```
//!
//! (transformers `integrations/ggml.py` `reverse_permute_weights`). Row by row, within head
//! `h` with head size `d`: HF row `h*d + half*d/2 + i` is GGUF row `h*d + 2*i + half`.

/// Undoes llama.cpp's permutation of a row-major `[rows, cols]` matrix (or, with `cols = 1`, a
/// bias) split into `n_head` heads; `None` when `rows` is not a multiple of `2 * n_head`.
pub fn unpermute_rows(gguf: &[f32], rows: usize, cols: usize, n_head: usize) -> Option<Vec<f32>> {
    map_rows(gguf, rows, cols, n_head, |h, d, half, i| {
        (h * d + half * d / 2 + i, h * d + 2 * i + half)
    })
}

/// llama.cpp's permutation (the inverse of [`unpermute_rows`]), for tests and exports.
pub fn permute_rows(hf: &[f32], rows: usize, cols: usize, n_head: usize) -> Option<Vec<f32>> {
    map_rows(hf, rows, cols, n_head, |h, d, half, i| {
        (h * d + 2 * i + half, h * d + half * d / 2 + i)
    })
}

/// `out[dst] = src[from]` for every `(dst, from) = f(head, head_dim, half, i)`.
fn map_rows(
    src: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
    f: impl Fn(usize, usize, usize, usize) -> (usize, usize),
) -> Option<Vec<f32>> {
    if n_head == 0 || rows % (2 * n_head) != 0 || src.len() != rows * cols {
        return None;
    }
    let d = rows / n_head;
    let mut out = vec![0f32; src.len()];
    for h in 0..n_head {
        for half in 0..2 {
            for i in 0..d / 2 {
                let (dst, from) = f(h, d, half, i);
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&src[from * cols..(from + 1) * cols]);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_head_of_four_rows() {
        // HF rows [a0 a1 | b0 b1] (halves a, b) are stored interleaved by llama.cpp: a0 b0 a1 b1.
        let hf = [0.0, 1.0, 10.0, 11.0];
        let gguf = permute_rows(&hf, 4, 1, 1).expect("shape");
        assert_eq!(gguf, vec![0.0, 10.0, 1.0, 11.0]);
        assert_eq!(unpermute_rows(&gguf, 4, 1, 1).expect("shape"), hf.to_vec());
    }

    #[test]
    fn rejects_rows_not_divisible() {
        assert!(unpermute_rows(&[0.0; 6], 6, 1, 2).is_none());
    }
}
