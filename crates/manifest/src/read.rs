//! Reading the files a user names (manifests, runtime configs, SQL scripts, components,
//! certificates) with a size cap, so `/dev/zero` or a runaway file is an error instead
//! of a process that reads forever.

use std::io::Read;
use std::path::Path;

/// The most a text file (manifest, runtime config, SQL, PEM) may hold.
pub const MAX_TEXT_FILE: u64 = 16 << 20;

/// The most a component or module may hold.
pub const MAX_WASM_FILE: u64 = 1 << 30;

/// Reads at most `max` bytes of `path`; a longer file (or an endless one) is an error
/// saying so.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "the file is larger than {} MiB, the most wisp reads",
            max >> 20
        )));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most [`MAX_TEXT_FILE`] bytes.
pub fn read_text_capped(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, MAX_TEXT_FILE)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_an_error_not_a_hang() {
        let err = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }

    #[test]
    fn a_file_within_the_cap_reads_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_text_capped(&path).unwrap(), "hello");
        assert_eq!(read_capped(&path, 5).unwrap(), b"hello");
        assert!(read_capped(&path, 4).is_err());
    }
}
