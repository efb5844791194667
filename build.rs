//! Link depot's hot functions together.
//!
//! `link/hot-functions.txt` (made by `link/regenerate.py`) lists the functions
//! depot's quick commands run, a view change's first. rust-lld, the default linker
//! of `x86_64-unknown-linux-gnu`, puts them at the start of `.text` in that
//! order: a cold view change then touches about half as many pages of code, and
//! took 0.4 ms less (docs/notes.md, session 17). Where another linker is set up
//! (it may not know the option), or with `DEPOT_NO_SYMBOL_ORDERING` set, the
//! binary is linked as usual.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=link/hot-functions.txt");
    println!("cargo:rerun-if-env-changed=DEPOT_NO_SYMBOL_ORDERING");
    let target = |key: &str| env::var(format!("CARGO_CFG_TARGET_{key}")).unwrap_or_default();
    let rust_lld = target("ARCH") == "x86_64" && target("OS") == "linux" && target("ENV") == "gnu";
    let other_linker = env::var_os("RUSTC_LINKER").is_some()
        || env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|flags| flags.contains("linker"));
    if !rust_lld || other_linker || env::var_os("DEPOT_NO_SYMBOL_ORDERING").is_some() {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={dir}/link/hot-functions.txt");
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
