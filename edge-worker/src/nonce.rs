//! Nonces for signed requests: minting fresh ones, and remembering seen ones
//! so a captured request cannot be replayed inside the signature's skew window.

use worker::kv::KvStore;

/// How long a seen nonce is remembered: longer than the ±300 s window it guards.
const REMEMBER_SECS: u64 = 2 * shared::signing::MAX_SKEW_SECS as u64;

/// 128 random bits, hex.
pub fn fresh() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// Records `nonce`; `Ok(false)` if it was already seen (a replay).
pub async fn first_use(kv: &KvStore, nonce: &str) -> Result<bool, worker::kv::KvError> {
    let key = format!("nonce:{nonce}");
    if kv.get(&key).bytes().await?.is_some() {
        return Ok(false);
    }
    kv.put(&key, "1")?.expiration_ttl(REMEMBER_SECS).execute().await?;
    Ok(true)
}
