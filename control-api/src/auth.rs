//! API tokens. Every request but health carries `Authorization: Bearer <token>`; a token
//! is either an admin token (read and write) or a read-only one. Presented tokens are
//! compared in constant time against every configured token, so timing says nothing about
//! how much of a token was right. The set is replaced whole on a reload, so a token taken
//! out of the configuration stops working at once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use std::sync::RwLock;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Admin,
    ReadOnly,
}

struct TokenSet {
    admin: Vec<String>,
    read_only: Vec<String>,
}

pub struct Tokens {
    set: RwLock<TokenSet>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (admin, read_only) = self.counts();
        write!(f, "Tokens({admin} admin, {read_only} read-only)")
    }
}

/// A new random token: 32 bytes from the OS, URL-safe base64.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Tokens {
    pub fn new(admin: Vec<String>, read_only: Vec<String>) -> Self {
        Self {
            set: RwLock::new(TokenSet { admin, read_only }),
        }
    }

    /// Replaces every token: from the next request on, only these are accepted.
    pub fn replace(&self, admin: Vec<String>, read_only: Vec<String>) {
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = TokenSet { admin, read_only };
    }

    /// How many admin and read-only tokens there are.
    pub fn counts(&self) -> (usize, usize) {
        let set = self.set.read().unwrap_or_else(|e| e.into_inner());
        (set.admin.len(), set.read_only.len())
    }

    pub fn check(&self, presented: &str) -> Option<Access> {
        let set = self.set.read().unwrap_or_else(|e| e.into_inner());
        let matches = |list: &[String]| {
            // Every token is compared, whether or not an earlier one matched.
            list.iter()
                .fold(subtle::Choice::from(0), |found, t| {
                    found | t.as_bytes().ct_eq(presented.as_bytes())
                })
                .into()
        };
        if matches(&set.admin) {
            Some(Access::Admin)
        } else if matches(&set.read_only) {
            Some(Access::ReadOnly)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_their_access_and_nothing_else() {
        let (admin, read_only) = (generate(), generate());
        let tokens = Tokens::new(vec![admin.clone()], vec![read_only.clone()]);
        assert_eq!(tokens.check(&admin), Some(Access::Admin));
        assert_eq!(tokens.check(&read_only), Some(Access::ReadOnly));
        assert_eq!(tokens.check(""), None);
        assert_eq!(tokens.check(&admin[..10]), None);
        assert_ne!(generate(), generate());
    }

    #[test]
    fn a_replaced_token_is_refused_at_once() {
        let (old, new) = (generate(), generate());
        let tokens = Tokens::new(vec![old.clone()], vec![]);
        tokens.replace(vec![new.clone()], vec![old.clone()]);
        assert_eq!(tokens.check(&new), Some(Access::Admin));
        assert_eq!(tokens.check(&old), Some(Access::ReadOnly));
        tokens.replace(vec![new.clone()], vec![]);
        assert_eq!(tokens.check(&old), None);
        assert_eq!(tokens.counts(), (1, 0));
    }
}
