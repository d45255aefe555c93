//! The builder: turns a source revision into a bit-for-bit reproducible OCI image, Nitro EIF and
//! direct-boot CVM bundle and a measured boot disk (UKI) for GCP and Azure, all built inside a pinned, network-less builder container.

pub mod archive;
pub mod builder_image;
pub mod compile;
pub mod cvm;
pub mod diff;
pub mod docker;
pub mod hashing;
pub mod image;
pub mod inputs;
pub mod nitro;
pub mod output_dir;
pub mod pipeline;
pub mod recipe;
pub mod record;
pub mod source;
pub mod testing;
pub mod uki;
