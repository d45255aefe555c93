//! The builder: turns a source revision into a bit-for-bit reproducible OCI image, Nitro EIF and
//! direct-boot CVM bundle, all built inside a pinned, network-less builder container.

pub mod archive;
pub mod docker;
pub mod hashing;
