//! Any text given as a recipe parses or is refused with a message, never a panic; a recipe that
//! parses has a canonical digest and per-platform commands.
#![no_main]

use std::path::Path;

use builder::recipe::Recipe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(recipe) = Recipe::parse(text, Path::new("fuzz.toml"), Path::new("/recipes")) {
        let _ = recipe.canonical_sha256("https://example.invalid/r");
        let _ = (recipe.eif_runtime(), recipe.cvm_runtime());
    }
});
