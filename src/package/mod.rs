//! The package format: packing lists, archives, patterns and metadata.

pub mod archive;
pub mod meta;
pub mod pack;
pub mod pattern;
pub mod plist;
pub mod signed;
pub mod summary;
