//! Content hashes (SHA-256, lowercase hex) for cache keys and provenance.

use sha2::{Digest, Sha256};
use steptool_mdp::Trajectory;

use crate::error::{Error, Result};

/// SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of several parts, each length-prefixed so that `("ab", "c")` and `("a", "bc")` differ.
pub fn sha256_parts(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

/// The content hash of a trajectory: SHA-256 of its canonical JSON (query id, query, tools,
/// steps with raw argument strings and observations), so any change to what an annotator sees
/// changes the hash.
pub fn trajectory_hash(trajectory: &Trajectory) -> Result<String> {
    let json = serde_json::to_vec(trajectory).map_err(|source| {
        Error::json(
            format!(
                "serialising trajectory {} for hashing",
                trajectory.query_id().unwrap_or("<no id>")
            ),
            source,
        )
    })?;
    Ok(sha256_hex(&json))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_part_separation() {
        // sha256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(sha256_parts(&[b"ab", b"c"]), sha256_parts(&[b"a", b"bc"]));
    }
}
