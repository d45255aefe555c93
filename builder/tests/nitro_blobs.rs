//! AWS's real Nitro `init` and `nsm.ko` (nitro-cli 1.5.0, in ../shared/fixtures/nitro/blobs-x86_64):
//! the bootstrap ramdisk mpr writes from them is byte for byte the one nitro-cli writes (its size and
//! SHA-384, as the fixture's README records them), so PCR1 matches for any kernel.

use std::path::PathBuf;

use builder::archive::write_bootstrap;
use builder::hashing::HashingWriter;

fn blobs() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/nitro/blobs-x86_64");
    assert!(
        dir.join("init").is_file(),
        "AWS's Nitro blobs are missing at {}: the shared fixtures must sit beside the repository",
        dir.display()
    );
    dir
}

#[test]
fn the_bootstrap_ramdisk_of_aws_blobs_is_nitro_clis() {
    let dir = blobs();
    let writer = write_bootstrap(
        &dir.join("init"),
        &dir.join("nsm.ko"),
        HashingWriter::new(std::io::sink()),
    )
    .unwrap();
    let (_, digests) = writer.finish();
    assert_eq!(digests.size, 764_416);
    assert_eq!(
        digests.sha384.as_deref(),
        Some("8cd1a7c92774b5351c4969f6998f07f6715dbb291ef8a7ade6c3126435a2227d72904343f41ca3df9984e1f7fa036371")
    );
}

#[test]
fn the_blobs_are_the_ones_the_readme_names() {
    let dir = blobs();
    for (file, size, sha384) in [
        ("init", 742_968, "ba660d640a91dbebffd62dc272e9d88fba86c0ed67f5ca643f5f028db00333305302070c0cdd2c5231383b99b6488959"),
        ("nsm.ko", 20_504, "993d1f27554ffa16672a06a3ce0c84bd862c05bbec5eccd69fab94414f4d4ea37e2520aa60bc2c9c5d3ad2c5d4657b50"),
    ] {
        let digests = builder::hashing::digest_file(&dir.join(file)).unwrap();
        assert_eq!((digests.size, digests.sha384.as_deref()), (size, Some(sha384)), "{file}");
    }
}
