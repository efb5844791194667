//! The `depot` binary (and, by multi-call name, `pkg_add`, `pkg_delete`,
//! `pkg_info`, `pkg_create`, `pkg_admin`): everything is in the library.

fn main() {
    depot::main();
}
