//! What the page tests need besides the registry: headless Chromium (`chromium`), driven over the
//! DevTools protocol for clicks and the clipboard (`devtools`), a reader for the DOM it serialises
//! (`dom`), assertions on what the registry's pages show (`pages`), and a publisher's signing key
//! made for the test (`signer`).

mod chromium;
mod devtools;
mod dom;
mod pages;
mod signer;

pub use chromium::{png_size, Browser};
pub use dom::Element;
pub use pages::{assert_copyable, link, older_link, registers_of, versions};
pub use signer::Signer;
