//! Whether a state directory's owner and access list are safe: what `acl.rs` reads from
//! Windows, judged by plain code that is tested on every platform (Wine keeps no access
//! lists, so this is where the judgment can be shown).

/// SIDs that may own and change the state directory besides this process's user.
pub const SYSTEM: &str = "S-1-5-18";
pub const ADMINISTRATORS: &str = "S-1-5-32-544";

/// Access rights that change a directory or what is in it: write and append data (add
/// files and folders), extended attributes, delete a child, attributes, delete, change
/// the access list or the owner, and generic all and write.
pub const WRITE_RIGHTS: u32 =
    0x2 | 0x4 | 0x10 | 0x40 | 0x100 | 0x1_0000 | 0x4_0000 | 0x8_0000 | 0x1000_0000 | 0x4000_0000;

/// One allow entry of an access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sid: String,
    pub mask: u32,
    /// Applies only to what is created inside, not to the directory itself.
    pub inherit_only: bool,
}

/// A directory's owner and its access list's allow entries (`None`: no access list, which
/// lets everyone do everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    pub owner: String,
    pub allowed: Option<Vec<Entry>>,
}

/// `Ok` if only SYSTEM, Administrators or `me` own and may change the directory, else
/// why not.
pub fn judge(security: &Security, me: &str) -> Result<(), String> {
    let trusted = |sid: &str| sid == SYSTEM || sid == ADMINISTRATORS || sid == me;
    if !trusted(&security.owner) {
        return Err(format!("it is owned by {}", security.owner));
    }
    let Some(allowed) = &security.allowed else {
        return Err("it has no access list (everyone may change it)".into());
    };
    match allowed
        .iter()
        .find(|e| !e.inherit_only && e.mask & WRITE_RIGHTS != 0 && !trusted(&e.sid))
    {
        Some(e) => Err(format!("{} may change it (access 0x{:08x})", e.sid, e.mask)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "S-1-5-21-1-2-3-1000";

    fn entry(sid: &str, mask: u32) -> Entry {
        Entry {
            sid: sid.into(),
            mask,
            inherit_only: false,
        }
    }

    fn security(owner: &str, allowed: Vec<Entry>) -> Security {
        Security {
            owner: owner.into(),
            allowed: Some(allowed),
        }
    }

    const FULL: u32 = 0x1f_01ff;
    const READ: u32 = 0x12_00a9;

    #[test]
    fn only_system_administrators_and_the_service_user_may_change_it() {
        let protected = vec![entry(SYSTEM, FULL), entry(ADMINISTRATORS, FULL)];
        judge(&security(ADMINISTRATORS, protected.clone()), ME).unwrap();
        judge(&security(SYSTEM, protected.clone()), ME).unwrap();
        judge(&security(ME, vec![entry(ME, FULL)]), ME).unwrap();
        // Others may read (a folder under C:\ProgramData): not a change.
        let mut readable = protected.clone();
        readable.push(entry("S-1-5-32-545", READ));
        judge(&security(ADMINISTRATORS, readable), ME).unwrap();
        // Creator Owner, inherit-only: applies to what is created inside, not here.
        let mut creator = protected.clone();
        creator.push(Entry {
            sid: "S-1-3-0".into(),
            mask: FULL,
            inherit_only: true,
        });
        judge(&security(ADMINISTRATORS, creator), ME).unwrap();
    }

    #[test]
    fn others_who_may_write_or_own_it_are_refused() {
        let protected = vec![entry(SYSTEM, FULL), entry(ADMINISTRATORS, FULL)];
        // Authenticated Users with modify rights: what C:\var\lib\wiregate inherited.
        let mut modify = protected.clone();
        modify.push(entry("S-1-5-11", 0x13_01bf));
        let why = judge(&security(ADMINISTRATORS, modify), ME).unwrap_err();
        assert!(why.contains("S-1-5-11"), "{why}");
        // Users who may only add files (ProgramData's own rights on new folders).
        for mask in [
            0x2,
            0x4,
            0x4_0000,
            0x8_0000,
            0x1000_0000,
            0x4000_0000,
            0x1_0000,
        ] {
            let mut adding = protected.clone();
            adding.push(entry("S-1-5-32-545", mask));
            assert!(
                judge(&security(ADMINISTRATORS, adding), ME).is_err(),
                "{mask:x}"
            );
        }
        let why = judge(&security("S-1-5-21-9-9-9-1001", protected.clone()), ME).unwrap_err();
        assert!(why.contains("owned by S-1-5-21-9-9-9-1001"), "{why}");
        let null = Security {
            owner: ADMINISTRATORS.into(),
            allowed: None,
        };
        assert!(judge(&null, ME).unwrap_err().contains("no access list"));
    }
}
