//! A session stays sans-IO: its normal dependency tree has no runtime, network or storage crate.

use std::process::Command;

#[test]
fn session_dependency_tree_has_no_io_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "nexo-session", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.contains("nexo-proto"), "unexpected cargo tree output: {tree}");
    for banned in ["tokio", "mio", "hyper", "nexo-storage", "socket2", "signal-hook"] {
        let found = tree.lines().any(|line| line.split_whitespace().next() == Some(banned));
        assert!(!found, "nexo-session depends on {banned}:\n{tree}");
    }
}
