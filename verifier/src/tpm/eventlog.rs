//! The TCG firmware event log (`binary_bios_measurements`), little-endian (TCG PC Client
//! Platform Firmware Profile, §10):
//!
//! ```text
//! TCG_PCR_EVENT  (first event; every event of a legacy SHA-1 log):
//!   u32 pcrIndex, u32 eventType, [u8; 20] sha1, u32 eventSize, event
//! crypto-agile: the first event is EV_NO_ACTION with "Spec ID Event03", naming the banks:
//!   [u8; 16] signature, u32 platformClass, u8 minor, u8 major, u8 errata, u8 uintnSize,
//!   u32 numberOfAlgorithms, n × { u16 algId, u16 digestSize }, u8 vendorInfoSize, vendorInfo
//! TCG_PCR_EVENT2 (every later event of a crypto-agile log):
//!   u32 pcrIndex, u32 eventType, u32 count, count × { u16 algId, digest }, u32 eventSize, event
//! ```
//!
//! Replay: PCRs start at zero, except that a StartupLocality EV_NO_ACTION event sets PCR 0 to
//! 0…0‖locality; other EV_NO_ACTION events extend nothing; every other event extends
//! PCR = H(PCR ‖ digest) in each bank it carries a digest for.

use std::collections::BTreeMap;

use super::reader::Reader;
use super::{HashAlg, PcrBanks, TpmError, PCR_COUNT};

/// Real logs are 2-60 KiB; a log is carried in an envelope of at most 2 MiB.
pub const MAX_EVENT_LOG_BYTES: usize = 1 << 20;
/// One event's data (a Secure Boot database is the largest, tens of KiB).
const MAX_EVENT_DATA_BYTES: usize = 256 << 10;
const MAX_EVENTS: usize = 16 * 1024;
/// Banks a Spec ID event may list: the TCG registry has fewer than this.
const MAX_SPEC_ALGORITHMS: u32 = 16;
/// The largest digest a bank can have (SHA-512).
const MAX_DIGEST_BYTES: u16 = 64;

pub const EV_NO_ACTION: u32 = 0x0000_0003;
const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
const STARTUP_LOCALITY_SIGNATURE: &[u8; 16] = b"StartupLocality\0";

/// One measured event, with a digest per bank it was measured in (banks this crate cannot hash
/// are kept out; they are never replayed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub pcr: u32,
    pub event_type: u32,
    pub digests: Vec<(HashAlg, Vec<u8>)>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The banks the log measures, as its Spec ID event lists them (SHA-1 for a legacy log).
    pub banks: Vec<HashAlg>,
    pub events: Vec<Event>,
}

/// A PCR whose replayed value differs from the quoted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMismatch {
    pub bank: HashAlg,
    pub pcr: u8,
    pub replayed: Vec<u8>,
    pub quoted: Vec<u8>,
}

pub fn parse_event_log(bytes: &[u8]) -> Result<EventLog, TpmError> {
    read_log(bytes).map_err(TpmError::EventLogMalformed)
}

fn read_log(bytes: &[u8]) -> Result<EventLog, String> {
    let mut r = Reader::limited(bytes, MAX_EVENT_LOG_BYTES)?;
    let first = read_legacy_event(&mut r)?;
    let sizes = if first.event_type == EV_NO_ACTION && first.data.starts_with(SPEC_ID_SIGNATURE) {
        Some(read_spec_id(&first.data)?)
    } else {
        None
    };
    let mut log = EventLog {
        banks: match &sizes {
            Some(sizes) => sizes
                .iter()
                .filter_map(|(id, _)| HashAlg::from_id(*id))
                .collect(),
            None => vec![HashAlg::Sha1],
        },
        events: Vec::new(),
    };
    if sizes.is_none() {
        log.events.push(first);
    }
    while r.remaining() > 0 {
        if log.events.len() >= MAX_EVENTS {
            return Err(format!("more than {MAX_EVENTS} events"));
        }
        let event = match &sizes {
            Some(sizes) => read_agile_event(&mut r, sizes)?,
            None => read_legacy_event(&mut r)?,
        };
        if event.pcr as usize >= PCR_COUNT && event.event_type != EV_NO_ACTION {
            return Err(format!(
                "an event of type {:#x} extends PCR {}; a TPM has {PCR_COUNT}",
                event.event_type, event.pcr
            ));
        }
        log.events.push(event);
    }
    Ok(log)
}

fn read_legacy_event(r: &mut Reader) -> Result<Event, String> {
    let at = r.offset();
    let pcr = r.u32_le("pcrIndex")?;
    let event_type = r.u32_le("eventType")?;
    let digest = r.take(20, "SHA-1 digest")?.to_vec();
    let data = read_data(r, at)?;
    Ok(Event {
        pcr,
        event_type,
        digests: vec![(HashAlg::Sha1, digest)],
        data,
    })
}

fn read_agile_event(r: &mut Reader, sizes: &[(u16, u16)]) -> Result<Event, String> {
    let at = r.offset();
    let pcr = r.u32_le("pcrIndex")?;
    let event_type = r.u32_le("eventType")?;
    let count = r.u32_le("digest count")?;
    if count as usize > sizes.len() {
        return Err(format!(
            "the event at offset {at} has {count} digests; the log has {} banks",
            sizes.len()
        ));
    }
    let mut digests = Vec::new();
    for _ in 0..count {
        let id = r.u16_le("digest algorithm")?;
        let size = sizes
            .iter()
            .find(|(alg, _)| *alg == id)
            .map(|(_, size)| *size)
            .ok_or_else(|| {
                format!("the event at offset {at} has a digest of algorithm {id:#06x}, which the Spec ID event does not list")
            })?;
        let digest = r.take(usize::from(size), "digest")?;
        if let Some(alg) = HashAlg::from_id(id) {
            if digests.iter().any(|(seen, _)| *seen == alg) {
                return Err(format!(
                    "the event at offset {at} has two {} digests",
                    alg.name()
                ));
            }
            digests.push((alg, digest.to_vec()));
        }
    }
    let data = read_data(r, at)?;
    Ok(Event {
        pcr,
        event_type,
        digests,
        data,
    })
}

fn read_data(r: &mut Reader, at: usize) -> Result<Vec<u8>, String> {
    let size = r.u32_le("eventSize")? as usize;
    if size > MAX_EVENT_DATA_BYTES {
        return Err(format!(
            "the event at offset {at} has {size} bytes of data, more than {MAX_EVENT_DATA_BYTES}"
        ));
    }
    Ok(r.take(size, "event data")?.to_vec())
}

/// The (algorithm, digest size) pairs of a Spec ID event; a known algorithm must have its size.
fn read_spec_id(data: &[u8]) -> Result<Vec<(u16, u16)>, String> {
    let mut r = Reader::new(data);
    r.take(16, "Spec ID signature")?;
    r.take(8, "Spec ID header")?;
    let count = r.u32_le("numberOfAlgorithms")?;
    if count == 0 || count > MAX_SPEC_ALGORITHMS {
        return Err(format!(
            "the Spec ID event lists {count} algorithms (1 to {MAX_SPEC_ALGORITHMS} accepted)"
        ));
    }
    let mut sizes: Vec<(u16, u16)> = Vec::new();
    for _ in 0..count {
        let id = r.u16_le("algorithmId")?;
        let size = r.u16_le("digestSize")?;
        if size > MAX_DIGEST_BYTES || sizes.iter().any(|(seen, _)| *seen == id) {
            return Err(format!(
                "the Spec ID event lists algorithm {id:#06x} twice or with a {size}-byte digest"
            ));
        }
        if let Some(alg) = HashAlg::from_id(id) {
            if usize::from(size) != alg.size() {
                return Err(format!(
                    "the Spec ID event gives {} a {size}-byte digest",
                    alg.name()
                ));
            }
        }
        sizes.push((id, size));
    }
    let vendor = r.u8("vendorInfoSize")?;
    r.take(usize::from(vendor), "vendorInfo")?;
    r.finish("Spec ID event")?;
    Ok(sizes)
}

impl EventLog {
    /// The PCR values the log replays to, per bank it measures: only PCRs it extends (or whose
    /// locality it sets) are listed, since the log says nothing about the others.
    pub fn replay(&self) -> PcrBanks {
        let mut banks: PcrBanks = self.banks.iter().map(|b| (*b, BTreeMap::new())).collect();
        for event in &self.events {
            if event.event_type == EV_NO_ACTION {
                if let Some(locality) = startup_locality(event) {
                    for (bank, pcrs) in banks.iter_mut() {
                        let mut value = vec![0u8; bank.size()];
                        value[bank.size() - 1] = locality;
                        // Only before PCR 0 is first extended: the locality is where it starts.
                        pcrs.entry(0).or_insert(value);
                    }
                }
                continue;
            }
            let Ok(pcr) = u8::try_from(event.pcr) else {
                continue;
            };
            for (bank, digest) in &event.digests {
                if let Some(pcrs) = banks.get_mut(bank) {
                    let old = pcrs.remove(&pcr).unwrap_or_else(|| vec![0u8; bank.size()]);
                    pcrs.insert(pcr, bank.digest(&[&old, digest]));
                }
            }
        }
        banks
    }

    /// Every PCR the log extends whose replayed value differs from `quoted`, in the banks both
    /// have. A PCR of a bank that was not quoted is not compared.
    pub fn mismatches(&self, quoted: &PcrBanks) -> Vec<ReplayMismatch> {
        let mut mismatches = Vec::new();
        for (bank, replayed) in self.replay() {
            let Some(quoted) = quoted.get(&bank) else {
                continue;
            };
            for (pcr, value) in replayed {
                if let Some(quoted) = quoted.get(&pcr) {
                    if *quoted != value {
                        mismatches.push(ReplayMismatch {
                            bank,
                            pcr,
                            replayed: value,
                            quoted: quoted.clone(),
                        });
                    }
                }
            }
        }
        mismatches
    }
}

fn startup_locality(event: &Event) -> Option<u8> {
    match event.data.strip_prefix(STARTUP_LOCALITY_SIGNATURE) {
        Some([locality]) if event.pcr == 0 => Some(*locality),
        _ => None,
    }
}
