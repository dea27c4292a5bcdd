//! API tokens. Every request but health carries `Authorization: Bearer <token>`; a token
//! is either an admin token (read and write) or a read-only one. Presented tokens are
//! compared in constant time against every configured token, so timing says nothing about
//! how much of a token was right.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Admin,
    ReadOnly,
}

pub struct Tokens {
    admin: Vec<String>,
    read_only: Vec<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tokens({} admin, {} read-only)",
            self.admin.len(),
            self.read_only.len()
        )
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
        Self { admin, read_only }
    }

    pub fn check(&self, presented: &str) -> Option<Access> {
        let matches = |list: &[String]| {
            // Every token is compared, whether or not an earlier one matched.
            list.iter()
                .fold(subtle::Choice::from(0), |found, t| {
                    found | t.as_bytes().ct_eq(presented.as_bytes())
                })
                .into()
        };
        if matches(&self.admin) {
            Some(Access::Admin)
        } else if matches(&self.read_only) {
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
        let tokens = Tokens::new(vec![generate()], vec![generate()]);
        assert_eq!(tokens.check(&tokens.admin[0].clone()), Some(Access::Admin));
        assert_eq!(
            tokens.check(&tokens.read_only[0].clone()),
            Some(Access::ReadOnly)
        );
        assert_eq!(tokens.check(""), None);
        assert_eq!(tokens.check(&tokens.admin[0][..10]), None);
        assert_ne!(generate(), generate());
    }
}
