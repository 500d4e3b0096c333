//! How a pool's pacing is kept in the app's record between decisions: the
//! JSON `Pacer::memory` writes and `Pacer::restore` reads back, bounded to
//! fit the store's column, and checked (a memory edited by hand, from an
//! older version or from the future is nothing remembered).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest `Pacer::memory` can be: the store's column holds 1,000.
pub const MEMORY_MAX_CHARS: usize = 600;
/// The longest memory read back: the column's size, which the text format
/// of earlier versions could fill.
const LEGACY_MAX_CHARS: usize = 1_000;

/// `Pacer::memory` as stored: the latest wish (`d`), when the first wish
/// came (`f`, ms), the earlier higher wishes with when they ended (`s`)
/// and the starts of the last calls the change budget counts (`c`, ms;
/// left out when none is counted).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Memory {
    pub d: Option<u32>,
    pub f: Option<u64>,
    pub s: Vec<(u64, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<u64>,
}

impl Memory {
    /// The memory in `text`, if it is one `Pacer::memory` could have
    /// written by `now` (ms): bounded, its times past, its wishes in order.
    pub fn read(text: &str, now: Duration) -> Option<Memory> {
        if text.is_empty() || text.len() > LEGACY_MAX_CHARS {
            return None;
        }
        let memory = serde_json::from_str(text)
            .ok()
            .or_else(|| Memory::read_legacy(text))?;
        let now = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let times_past = memory
            .f
            .iter()
            .chain(memory.s.iter().map(|(at, _)| at))
            .all(|&at| at <= now);
        let in_order = memory
            .s
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 > w[1].1);
        (times_past && in_order).then_some(memory)
    }

    /// The text earlier versions wrote (`d3 f100000 s105000:8`), read for
    /// one release so that an upgrade keeps the scale-down delay's memory.
    fn read_legacy(text: &str) -> Option<Memory> {
        let mut memory = Memory::default();
        for token in text.split_whitespace() {
            let mut chars = token.chars();
            let tag = chars.next()?;
            let value = chars.as_str();
            match tag {
                'd' => memory.d = Some(value.parse().ok()?),
                'f' => memory.f = Some(value.parse().ok()?),
                's' => {
                    let (at, workers) = value.split_once(':')?;
                    memory.s.push((at.parse().ok()?, workers.parse().ok()?));
                }
                _ => return None,
            }
        }
        Some(memory)
    }
}
