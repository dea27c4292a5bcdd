//! The state directory's access list through Windows' own calls, under Wine: the
//! directory is created with the protected list, an existing one is checked, a secret
//! file is given its list. Wine 8 keeps no access lists (it maps them to Unix modes and
//! reports a list made up from them), so the exact list is read back only on a system
//! that keeps it, a Windows host; the judgment of a list is unit-tested in `acl_check.rs`
//! on every platform. docs/windows.md says what only Windows can confirm.

#![cfg(windows)]

use std::path::PathBuf;
use wiregate_windows::acl;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wiregate-acl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Whether this system keeps the access lists it is given (Windows does, Wine 8 not).
fn keeps_access_lists(sddl: &str) -> bool {
    sddl.starts_with("D:P")
}

#[test]
fn the_state_directory_is_created_for_system_and_administrators_only() {
    let dir = scratch("new").join("wiregate");
    acl::create_private_dir(&dir).expect("created and checked");
    assert!(dir.is_dir());
    acl::create_private_dir(&dir).expect("an existing private directory passes");
    let token = dir.join("api-token");
    std::fs::write(&token, "secret").unwrap();
    acl::protect_file(&token).expect("the file's list set");
    let (dir_list, file_list) = (
        acl::dacl_sddl(&dir).unwrap(),
        acl::dacl_sddl(&token).unwrap(),
    );
    if keeps_access_lists(&dir_list) {
        assert_eq!(dir_list, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
        assert_eq!(file_list, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
    } else {
        eprintln!("this system keeps no access lists (Wine): read back {dir_list} and {file_list}");
    }
}

#[test]
fn a_shared_directory_is_refused_where_the_system_keeps_its_list() {
    let dir = scratch("shared");
    std::fs::create_dir_all(&dir).unwrap();
    // Users may add files, as in a folder made under C:\ or C:\ProgramData by hand.
    acl::set_dacl_sddl(
        &dir,
        "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x100006;;;BU)",
    )
    .expect("the list set");
    let list = acl::dacl_sddl(&dir).unwrap();
    if keeps_access_lists(&list) {
        let text = acl::check_private_dir(&dir).unwrap_err().to_string();
        assert!(
            text.contains("S-1-5-32-545") && text.contains("may change it"),
            "{text}"
        );
    } else {
        eprintln!("this system keeps no access lists (Wine): read back {list}");
    }
}
