//! Any text given as a recipe parses or is refused with a message, never a panic; a recipe that
//! parses has a canonical digest and per-platform commands. The same text read as the registry's
//! canonical JSON (what `mpr rebuild watch` builds from) likewise, and a recipe it gives is
//! written as TOML and reads back with the same digest.
#![no_main]

use std::path::Path;

use builder::recipe::Recipe;
use libfuzzer_sys::fuzz_target;

const URL: &str = "https://example.invalid/r";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(recipe) = Recipe::parse(text, Path::new("fuzz.toml"), Path::new("/recipes")) {
        let _ = recipe.canonical_sha256(URL);
        let _ = (recipe.eif_runtime(), recipe.cvm_runtime());
    }
    if let Ok(recipe) = Recipe::from_canonical(text, Some("/srv/mirror"), Path::new("/srv/files")) {
        let reread = Recipe::parse(
            &recipe.to_toml(),
            Path::new("w.toml"),
            Path::new("/elsewhere"),
        )
        .expect("a recipe from canonical text reads back from its TOML");
        assert_eq!(reread.canonical_sha256(URL), recipe.canonical_sha256(URL));
    }
});
