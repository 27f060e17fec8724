//! `sha256:<hex>` digests: computing them, and checking one that came from a registry
//! before it names a file in the cache.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a well-formed `sha256:` digest (64 lowercase hex digits), or why it is
/// not one. Digests come from manifests a registry sent, and become file names: nothing
/// else may pass.
pub fn sha256_hex(digest: &str) -> Result<&str, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest `{digest}` is not a sha256 digest"))?;
    let well_formed = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if well_formed {
        Ok(hex)
    } else {
        Err(format!("digest `{digest}` is malformed"))
    }
}

/// Hashes a file as it streams through, for checking large blobs without loading them.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_sha256_digests_pass() {
        let good = sha256_digest(b"hello");
        assert_eq!(sha256_hex(&good).unwrap().len(), 64);
        for bad in [
            "sha512:abcd",
            "sha256:../../etc/passwd",
            "sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
            "sha256:abc",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ] {
            assert!(sha256_hex(bad).is_err(), "{bad} passed");
        }
    }
}
