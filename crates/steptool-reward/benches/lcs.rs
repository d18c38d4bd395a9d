//! LCS for the Contribution rule: bit-parallel (`lcs_len`) against the O(m·n) DP the reference
//! notebook uses (`lcs_len_dp`), on observation/answer pairs of growing length.
//!
//! Run: `cargo bench -p steptool-reward --bench lcs`.

use criterion::{black_box, criterion_main, BenchmarkId, Criterion};
use steptool_reward::lcs::{lcs_len, lcs_len_dp};

/// Deterministic pseudo-text that looks like a JSON tool observation (xorshift, no RNG crate).
fn text(len: usize, seed: u64) -> String {
    const WORDS: [&str; 12] = [
        "\"name\": ",
        "\"album\"",
        " track",
        " https://",
        "bandcamp",
        ".com/",
        "{\"id\": ",
        "1234",
        ", ",
        "Kurdish radio",
        " station",
        "\\u0645",
    ];
    let mut x = seed | 1;
    let mut s = String::with_capacity(len + 16);
    while s.chars().count() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
    }
    s.chars().take(len).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lcs");
    group.sample_size(20);
    for &(obs, answer) in &[
        (256usize, 256usize),
        (1027, 600),
        (4096, 2048),
        (16384, 4096),
    ] {
        let a = text(obs, 7);
        let b = text(answer, 11);
        let id = format!("{obs}x{answer}");
        group.bench_with_input(
            BenchmarkId::new("bit_parallel", &id),
            &(&a, &b),
            |bench, (a, b)| bench.iter(|| lcs_len(black_box(a), black_box(b))),
        );
        if obs <= 4096 {
            group.bench_with_input(BenchmarkId::new("dp", &id), &(&a, &b), |bench, (a, b)| {
                bench.iter(|| lcs_len_dp(black_box(a), black_box(b)))
            });
        }
    }
    group.finish();
}

// The macros generate undocumented items.
#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
