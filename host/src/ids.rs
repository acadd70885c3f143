//! Random ids and tokens (instance ids, workspace names, the simulator's
//! tokens), from the operating system's generator (`getrandom`).

/// 32 hex characters that nobody can guess (tokens, instance ids).
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    if let Err(err) = getrandom::fill(&mut bytes) {
        // Not seen on the systems op runs on: then the clock, the process,
        // a counter and the address space's layout, hashed.
        tracing::warn!("the operating system gave no random bytes: {err}");
        use sha2::{Digest, Sha256};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = Sha256::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        hasher.update(now.as_nanos().to_le_bytes());
        hasher.update(std::process::id().to_le_bytes());
        hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let probe = Box::new(0u8);
        hasher.update((&*probe as *const u8 as usize).to_le_bytes());
        bytes.copy_from_slice(&hasher.finalize()[..16]);
    }
    hex::encode(bytes)
}
