//! The start-up check that every rank runs the same loev on the same configuration.
//!
//! Ranks that disagree would not fail: a rank with another batch size or model would stall a
//! collective or sum gradients of other parameters, and a rank with another build could draw
//! other augmentations from the same seed. So each rank describes itself (loev's version, a
//! checksum of the executable it runs, a digest of its configuration supplied by the caller,
//! and its host for the message), the descriptions are gathered on every rank, and every rank
//! reaches the same verdict, with a message that names the ranks that differ.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use loev_core::checksum::Fnv1a64;

/// What a rank contributes to the start-up check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// loev's version.
    pub version: String,
    /// FNV-1a 64 of the running executable's bytes, or why it could not be read. Content, not
    /// path or modification time: copies of one build on several machines agree.
    pub binary: Result<u64, String>,
    /// The caller's digest of its configuration.
    pub config: u64,
    /// The host (`MPI_Get_processor_name`), only to name it in the message.
    pub host: String,
}

/// The tag that starts an encoded identity: a build that encodes them otherwise is reported as
/// such, instead of being misread.
const FORMAT: &[u8] = b"loev-identity-1\n";

impl Identity {
    /// This process's identity.
    pub fn of_this_process(config: u64, host: &str) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            binary: executable_checksum().map_err(|e| e.to_string()),
            config,
            host: host.to_string(),
        }
    }

    /// The bytes a rank sends.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = FORMAT.to_vec();
        bytes.extend(self.config.to_le_bytes());
        match &self.binary {
            Ok(sum) => {
                bytes.push(1);
                bytes.extend(sum.to_le_bytes());
            }
            Err(reason) => {
                bytes.push(0);
                put_text(&mut bytes, reason);
            }
        }
        put_text(&mut bytes, &self.version);
        put_text(&mut bytes, &self.host);
        bytes
    }

    /// The identity in `bytes`, or `None` if they are not an identity of this format.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes.strip_prefix(FORMAT)?;
        let config = u64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?);
        let binary = match take(&mut rest, 1)?[0] {
            1 => Ok(u64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?)),
            0 => Err(take_text(&mut rest)?),
            _ => return None,
        };
        let version = take_text(&mut rest)?;
        let host = take_text(&mut rest)?;
        rest.is_empty().then_some(Self {
            version,
            binary,
            config,
            host,
        })
    }
}

fn put_text(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend((text.len() as u64).to_le_bytes());
    bytes.extend(text.as_bytes());
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_text(rest: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(u64::from_le_bytes(take(rest, 8)?.try_into().ok()?)).ok()?;
    String::from_utf8(take(rest, len)?.to_vec()).ok()
}

/// FNV-1a 64 of the running executable. On Linux `/proc/self/exe` is the file this process
/// was started from even if it has been replaced on disk since.
pub fn executable_checksum() -> io::Result<u64> {
    let path = if cfg!(target_os = "linux") {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe()?
    };
    let mut file = File::open(&path)?;
    let mut hasher = Fnv1a64::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&block[..n]);
    }
}

/// The verdict on the gathered encodings, rank by rank: `Ok` when every rank agrees, otherwise
/// a message that names, for each field that differs, which ranks hold which value. Every rank
/// computes it from the same bytes, so every rank reaches the same verdict.
pub(crate) fn compare(encoded: &[Vec<u8>]) -> Result<(), String> {
    let identities: Vec<Option<Identity>> = encoded.iter().map(|bytes| Identity::decode(bytes)).collect();
    let unreadable: Vec<usize> = (0..identities.len()).filter(|&r| identities[r].is_none()).collect();
    if !unreadable.is_empty() {
        return Err(format!(
            "{} sent a start-up description this build cannot read: {} a different loev build; start every \
             rank from the same loev build",
            ranks(&unreadable),
            if unreadable.len() == 1 { "it runs" } else { "they run" },
        ));
    }
    let identities: Vec<Identity> = identities.into_iter().flatten().collect();
    let mut differences = Vec::new();
    for field in FIELDS {
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (rank, identity) in identities.iter().enumerate() {
            groups.entry((field.value)(identity)).or_default().push(rank);
        }
        if groups.len() > 1 {
            let mut groups: Vec<(String, Vec<usize>)> = groups.into_iter().collect();
            groups.sort_by_key(|(_, members)| members[0]);
            let described: Vec<String> = groups
                .iter()
                .map(|(value, members)| format!("{} on {}: {value}", ranks(members), hosts(members, &identities)))
                .collect();
            differences.push(format!("{} differs: {}", field.name, described.join("; ")));
        }
    }
    // Ranks that could not read their executable agree on nothing about it, even if they all
    // failed alike.
    let blind: Vec<usize> = (0..identities.len())
        .filter(|&r| identities[r].binary.is_err())
        .collect();
    if !blind.is_empty() && !differences.iter().any(|d| d.starts_with(EXECUTABLE)) {
        let reason = identities[blind[0]].binary.clone().err().unwrap_or_default();
        differences.push(format!(
            "{EXECUTABLE} is unreadable on {} ({}): {reason}",
            ranks(&blind),
            hosts(&blind, &identities)
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the {} ranks do not run the same loev on the same configuration, so none of them starts. {}. Start \
             every rank from the same loev build with the same configuration.",
            identities.len(),
            differences.join(". ")
        ))
    }
}

const EXECUTABLE: &str = "executable (FNV-1a 64 of its bytes)";

/// A part of the identity that every rank must share: its name in messages and its value as
/// text.
struct Field {
    name: &'static str,
    value: fn(&Identity) -> String,
}

const FIELDS: [Field; 3] = [
    Field {
        name: "loev version",
        value: |id| id.version.clone(),
    },
    Field {
        name: EXECUTABLE,
        value: |id| match &id.binary {
            Ok(sum) => format!("{sum:016x}"),
            Err(reason) => format!("unreadable ({reason})"),
        },
    },
    Field {
        name: "configuration digest",
        value: |id| format!("{:016x}", id.config),
    },
];

/// "rank 3" or "ranks 0, 1, 2".
fn ranks(members: &[usize]) -> String {
    let list: Vec<String> = members.iter().map(usize::to_string).collect();
    match list.len() {
        1 => format!("rank {}", list[0]),
        _ => format!("ranks {}", list.join(", ")),
    }
}

/// The distinct hosts of `members`, in rank order.
fn hosts(members: &[usize], identities: &[Identity]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for &rank in members {
        let host = identities[rank].host.as_str();
        if !seen.contains(&host) {
            seen.push(host);
        }
    }
    seen.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(config: u64, binary: u64, host: &str) -> Identity {
        Identity {
            version: "0.1.0".into(),
            binary: Ok(binary),
            config,
            host: host.into(),
        }
    }

    #[test]
    fn identities_survive_the_wire() {
        let ok = identity(42, 7, "node-3");
        assert_eq!(Identity::decode(&ok.encode()), Some(ok));
        let unreadable = Identity {
            binary: Err("permission denied".into()),
            ..identity(1, 0, "node-4")
        };
        assert_eq!(Identity::decode(&unreadable.encode()), Some(unreadable.clone()));
        let mut truncated = unreadable.encode();
        truncated.pop();
        assert_eq!(Identity::decode(&truncated), None);
        assert_eq!(Identity::decode(b"something else"), None);
    }

    #[test]
    fn equal_ranks_agree() {
        let all = vec![identity(42, 7, "a").encode(), identity(42, 7, "b").encode()];
        assert_eq!(compare(&all), Ok(()));
    }

    #[test]
    fn a_differing_configuration_names_the_ranks_on_each_side() {
        let all: Vec<Vec<u8>> = [(42, "a"), (43, "a"), (42, "b")]
            .iter()
            .map(|&(config, host)| identity(config, 7, host).encode())
            .collect();
        let message = compare(&all).expect_err("they differ");
        assert!(
            message.contains(
                "configuration digest differs: ranks 0, 2 on a, b: 000000000000002a; rank 1 on a: 000000000000002b"
            ),
            "{message}"
        );
        assert!(!message.contains("executable"), "{message}");
    }

    #[test]
    fn an_unreadable_executable_or_identity_is_refused() {
        let mut unreadable = identity(42, 0, "a");
        unreadable.binary = Err("no such file".into());
        let message = compare(&[unreadable.encode(), unreadable.encode()]).expect_err("unreadable");
        assert!(
            message.contains("executable (FNV-1a 64 of its bytes) is unreadable on ranks 0, 1 (a): no such file"),
            "{message}"
        );
        let message = compare(&[identity(42, 7, "a").encode(), unreadable.encode()]).expect_err("one unreadable");
        assert!(
            message.contains("differs: rank 0 on a: 0000000000000007; rank 1 on a: unreadable (no such file)"),
            "{message}"
        );
        let message = compare(&[identity(1, 1, "a").encode(), b"garbage".to_vec()]).expect_err("garbage");
        assert!(message.starts_with("rank 1 sent"), "{message}");
    }

    #[test]
    fn this_executable_has_a_checksum() {
        let first = executable_checksum().expect("readable");
        assert_eq!(executable_checksum().expect("readable"), first);
    }
}
