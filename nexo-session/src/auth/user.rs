//! A user: name, on/off, password hashes and [`Rules`]; and how a password is checked against
//! one stored hash.
//!
//! Passwords are never kept in clear: a stored password is an Argon2 PHC string (salted, the
//! KDF's parameters inside it) or, for Redis's `ACL SETUSER #<sha256>` only, an unsalted
//! SHA-256. Making a hash needs a salt, which the caller supplies (this crate has no randomness).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::rules::Rules;

/// Argon2id memory cost in KiB (19 MiB: OWASP's first recommended setting).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const ARGON2_PASSES: u32 = 2;
/// Argon2id lanes.
pub const ARGON2_LANES: u32 = 1;
/// Longest password accepted anywhere (longer ones are refused before any hashing).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest user name accepted.
pub const MAX_USER_BYTES: usize = 256;

/// One stored password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// An Argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    Argon2(String),
    /// An unsalted SHA-256 (Redis's `#<hex>` form), kept for `ACL SETUSER` compatibility.
    Sha256([u8; 32]),
}

impl Password {
    /// Reads a stored hash: a PHC string (`$argon2...`) or 64 hex digits of SHA-256.
    ///
    /// # Errors
    /// Neither form.
    pub fn from_stored(text: &str) -> Result<Self, String> {
        if text.starts_with("$argon2") {
            let hash = PasswordHash::new(text).map_err(|e| format!("not a valid Argon2 hash: {e}"))?;
            if hash.salt.is_none() || hash.hash.is_none() || Algorithm::try_from(hash.algorithm).is_err() {
                return Err("not a valid Argon2 hash: it needs an algorithm, a salt and a hash".into());
            }
            return Ok(Self::Argon2(text.to_owned()));
        }
        let bytes = text.as_bytes();
        if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err("a password hash is an Argon2 PHC string or 64 hex digits of SHA-256".into());
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
        }
        Ok(Self::Sha256(out))
    }

    /// Hashes `plain` with Argon2id and `salt` (at least 8 bytes of the caller's randomness).
    ///
    /// # Errors
    /// The salt is too short or too long, or the password is over [`MAX_PASSWORD_BYTES`].
    pub fn hash(plain: &[u8], salt: &[u8]) -> Result<Self, String> {
        if plain.len() > MAX_PASSWORD_BYTES {
            return Err(format!("a password is at most {MAX_PASSWORD_BYTES} bytes"));
        }
        let salt = SaltString::encode_b64(salt).map_err(|e| format!("bad salt: {e}"))?;
        let hash = kdf().hash_password(plain, &salt).map_err(|e| format!("cannot hash: {e}"))?;
        Ok(Self::Argon2(hash.to_string()))
    }

    /// How it is shown (ACL LIST, GETUSER): `#` and the hash.
    pub fn shown(&self) -> String {
        match self {
            Self::Argon2(phc) => format!("#{phc}"),
            Self::Sha256(digest) => format!("#{}", hex(digest)),
        }
    }

    /// Whether `plain` is this password. Costly for Argon2 (run it off the network thread);
    /// comparisons are constant-time.
    pub fn verify(&self, plain: &[u8]) -> bool {
        match self {
            Self::Argon2(phc) => {
                PasswordHash::new(phc).is_ok_and(|hash| kdf().verify_password(plain, &hash).is_ok())
            }
            Self::Sha256(digest) => bool::from(sha256(plain).ct_eq(digest)),
        }
    }
}

/// The Argon2id instance Nexo hashes with (verification reads the parameters from the hash).
fn kdf() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The name.
    pub name: String,
    /// Whether it may log in at all.
    pub enabled: bool,
    /// Any password is accepted (Redis's `nopass`).
    pub nopass: bool,
    /// Stored passwords; any one of them logs in.
    pub passwords: Vec<Password>,
    /// What it may do.
    pub rules: Rules,
}

impl User {
    /// A new user as Redis creates one: off, no password, no permissions.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            rules: Rules::default(),
        }
    }

    /// The open `default` user: on, no password, every permission.
    pub fn open_default() -> Self {
        Self {
            name: "default".into(),
            enabled: true,
            nopass: true,
            passwords: Vec::new(),
            rules: Rules::all(),
        }
    }

    /// Whether connections are logged in as this user without AUTH (on and `nopass`).
    pub fn is_open(&self) -> bool {
        self.enabled && self.nopass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip_and_sha256_form() {
        let stored = Password::hash(b"s3cret", b"0123456789abcdef").unwrap();
        assert!(stored.verify(b"s3cret"));
        assert!(!stored.verify(b"s3cret "));
        let Password::Argon2(phc) = &stored else { panic!("argon2 expected") };
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(Password::from_stored(phc).unwrap(), stored);
        let hex_text = hex(&sha256(b"pw"));
        let sha = Password::from_stored(&hex_text).unwrap();
        assert!(sha.verify(b"pw") && !sha.verify(b"pW"));
        assert_eq!(sha.shown(), format!("#{hex_text}"));
        assert!(Password::from_stored("nothex").is_err());
        assert!(Password::from_stored("$argon2id$garbage").is_err());
        assert!(Password::hash(&[b'x'; MAX_PASSWORD_BYTES + 1], b"0123456789abcdef").is_err());
    }
}
