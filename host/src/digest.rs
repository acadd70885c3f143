//! The one digest of a set of files, shared by packages (their content
//! hash) and the SDKs built into op (their cache folder's name).

use sha2::{Digest, Sha256};

/// SHA-256, in hex, over each file's path, length and bytes, in the order
/// given.
pub fn files_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex::encode(hasher.finalize())
}
