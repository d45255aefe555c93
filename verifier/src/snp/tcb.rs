//! AMD products and their TCB_VERSION encodings.

use std::fmt;

/// The AMD EPYC generation a report comes from. It decides the TCB layout and the root of trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    Milan,
    Genoa,
    Turin,
}

impl Product {
    /// The name AMD KDS uses in its URLs and certificate names.
    pub fn name(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// The product of a VCEK/VLEK `productName` extension: `Milan-B0`, `Genoa`, `Turin`, `Milan`
    /// (VLEK). The part after a `-` is the stepping, which does not change the root of trust.
    pub fn from_product_name(name: &str) -> Option<Product> {
        match name.split('-').next()? {
            "Milan" => Some(Product::Milan),
            "Genoa" => Some(Product::Genoa),
            "Turin" => Some(Product::Turin),
            _ => None,
        }
    }

    /// The product named by the CPUID family/model bytes of a version ≥ 3 report. The model
    /// ranges are those of virtee/sev's `Generation::identify_cpu` (Bergamo and Siena share
    /// Genoa's keys).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Product> {
        match (family, model) {
            (0x19, 0x00..=0x0f) => Some(Product::Milan),
            (0x19, 0x10..=0x1f) | (0x19, 0xa0..=0xaf) => Some(Product::Genoa),
            (0x1a, 0x00..=0x11) => Some(Product::Turin),
            _ => None,
        }
    }
}

/// A decoded TCB_VERSION. The byte layout depends on the product, not on the report version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tcb {
    /// Only Turin has an FMC (first mutable code) security patch level.
    pub fmc: Option<u8>,
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
}

impl Tcb {
    /// Decodes a raw TCB_VERSION (little-endian u64) with `product`'s layout.
    pub fn decode(raw: u64, product: Product) -> Tcb {
        let b = raw.to_le_bytes();
        match product {
            Product::Milan | Product::Genoa => Tcb {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            },
            Product::Turin => Tcb {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            },
        }
    }

    /// True when every component is at least `minimum`'s. The FMC level only counts when both
    /// carry one (Turin), so one `min_tcb` can serve several products.
    pub fn meets(&self, minimum: &Tcb) -> bool {
        let fmc_ok = match (self.fmc, minimum.fmc) {
            (Some(have), Some(need)) => have >= need,
            _ => true,
        };
        fmc_ok
            && self.bootloader >= minimum.bootloader
            && self.tee >= minimum.tee
            && self.snp >= minimum.snp
            && self.microcode >= minimum.microcode
    }
}

impl fmt::Display for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc {fmc}, ")?;
        }
        write!(
            f,
            "bootloader {}, tee {}, snp {}, microcode {}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_readme_examples() {
        let milan = Tcb::decode(0xdb18000000000004, Product::Milan);
        assert_eq!(
            milan,
            Tcb {
                fmc: None,
                bootloader: 4,
                tee: 0,
                snp: 24,
                microcode: 219
            }
        );
        let turin = Tcb::decode(0x4700000002000100, Product::Turin);
        assert_eq!(
            turin,
            Tcb {
                fmc: Some(0),
                bootloader: 1,
                tee: 0,
                snp: 2,
                microcode: 71
            }
        );
    }

    #[test]
    fn meets_compares_every_component() {
        let have = Tcb {
            fmc: Some(1),
            bootloader: 4,
            tee: 0,
            snp: 24,
            microcode: 219,
        };
        assert!(have.meets(&have));
        assert!(have.meets(&Tcb { fmc: None, ..have }));
        assert!(!have.meets(&Tcb {
            microcode: 220,
            ..have
        }));
        assert!(!have.meets(&Tcb { snp: 25, ..have }));
        assert!(!have.meets(&Tcb {
            fmc: Some(2),
            ..have
        }));
    }

    #[test]
    fn product_names_and_cpuid() {
        assert_eq!(Product::from_product_name("Milan-B0"), Some(Product::Milan));
        assert_eq!(Product::from_product_name("Genoa"), Some(Product::Genoa));
        assert_eq!(Product::from_product_name("Rome"), None);
        assert_eq!(Product::from_cpuid(0x19, 0x01), Some(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1a, 0x02), Some(Product::Turin));
        assert_eq!(Product::from_cpuid(0x17, 0x31), None);
    }
}
