//! Read-only views of the Store's keys for the dashboard: a SCAN-like page of keys with a value
//! preview, size and time to live.
//!
//! Owns [`KeyView`], [`KeyPage`] and [`Store::key_page`]. It must not change anything: unlike
//! SCAN it neither reclaims expired keys nor counts as an access (LRU order and hit counters stay
//! as they are), and its work per call is bounded by [`KEY_PAGE_MAX_EXAMINED`] slots and
//! [`KEY_PAGE_MAX_STEPS`] steps of glob matching (it runs inline on `nexo`'s network thread).

use bytes::Bytes;

use super::Store;
use crate::glob::{Glob, MatchState, Verdict};
use crate::time::Now;

/// Most bytes of a value a [`KeyView`] carries.
pub const VALUE_HEAD_BYTES: usize = 1024;

/// Most keys one [`Store::key_page`] returns.
pub const KEY_PAGE_MAX: usize = 500;

/// Most slots one [`Store::key_page`] examines (bounds the time a page can take).
pub const KEY_PAGE_MAX_EXAMINED: usize = 50_000;

/// Most glob-matching steps one [`Store::key_page`] spends (a few milliseconds). A key whose
/// match alone would take more is counted in [`KeyPage::skipped`] instead of listed: a page
/// keeps no state between calls, so it cannot resume a match the way KEYS does.
pub const KEY_PAGE_MAX_STEPS: u64 = 4 * super::WALK_STEPS_PER_TURN;

/// One key as the dashboard sees it (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    /// The key.
    pub key: Bytes,
    /// Value size in bytes.
    pub value_len: u64,
    /// The first [`VALUE_HEAD_BYTES`] bytes of the value.
    pub value_head: Bytes,
    /// Milliseconds left before the key expires; `None` when it has no deadline.
    pub ttl_ms: Option<u64>,
}

/// One page of keys (an owned snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// Matching live keys, in visiting order.
    pub keys: Vec<KeyView>,
    /// Cursor of the next page; `0` when the walk is complete (as SCAN).
    pub next_cursor: u64,
    /// Slots examined by this call.
    pub examined: u64,
    /// Keys passed over because matching them alone costs more than [`KEY_PAGE_MAX_STEPS`]
    /// (listed by KEYS or SCAN, which resume long matches).
    pub skipped: u64,
}

impl Store {
    /// Up to `limit` (at most [`KEY_PAGE_MAX`]) live keys matching the glob `pattern`, walking
    /// slots downward from `cursor` exactly as SCAN does (cursor `0` starts at the top; every key
    /// present for the whole walk is returned at least once). Stops after
    /// [`KEY_PAGE_MAX_EXAMINED`] slots even when fewer keys matched; the page then carries a
    /// non-zero `next_cursor` to continue from; likewise when its matching has spent
    /// [`KEY_PAGE_MAX_STEPS`]. A pattern longer than `glob::MAX_PATTERN_BYTES` gives an empty
    /// page (the dashboard refuses it before asking).
    pub fn key_page(&self, now: Now, cursor: u64, pattern: &str, limit: usize) -> KeyPage {
        let Ok(glob) = Glob::compile(pattern) else { return KeyPage::default() };
        let mut budget = KEY_PAGE_MAX_STEPS;
        let limit = limit.clamp(1, KEY_PAGE_MAX);
        let len = self.table.len();
        let mut top = if cursor == 0 { len } else { usize::try_from(cursor).unwrap_or(usize::MAX).min(len) };
        let floor = top.saturating_sub(KEY_PAGE_MAX_EXAMINED);
        let mut page = KeyPage::default();
        while top > floor && page.keys.len() < limit {
            let pos = top - 1;
            let Some(entry) = self.table.get(pos) else {
                top = pos;
                continue;
            };
            if entry.is_expired(now.mono_ms) {
                (top, page.examined) = (pos, page.examined + 1);
                continue;
            }
            let spent_before = budget;
            match glob.match_within(entry.key(), MatchState::default(), &mut budget) {
                Verdict::Match => {}
                Verdict::NoMatch => {
                    (top, page.examined) = (pos, page.examined + 1);
                    continue;
                }
                // Out of budget: a key that had the whole budget is skipped; otherwise it is the
                // next page's first key.
                Verdict::Paused(_) if spent_before == KEY_PAGE_MAX_STEPS => {
                    (top, page.examined, page.skipped) = (pos, page.examined + 1, page.skipped + 1);
                    break;
                }
                Verdict::Paused(_) => break,
            }
            (top, page.examined) = (pos, page.examined + 1);
            let value = entry.value();
            page.keys.push(KeyView {
                // Copies, so the page does not pin the entry's buffer.
                key: Bytes::copy_from_slice(entry.key()),
                value_len: value.len() as u64,
                value_head: Bytes::copy_from_slice(&value[..value.len().min(VALUE_HEAD_BYTES)]),
                ttl_ms: entry.deadline_ms().map(|d| d.saturating_sub(now.mono_ms)),
            });
        }
        page.next_cursor = top as u64;
        page
    }
}

#[cfg(test)]
mod tests {
    use nexo_proto::options::SetOptions;
    use nexo_proto::request::StoreRequest;

    use super::*;
    use crate::broker::Broker;
    use crate::ids::ConnId;
    use crate::store::StoreConfig;

    fn set(store: &mut Store, now: Now, key: &str, value: &[u8], ttl: Option<u64>) {
        let options = SetOptions { ttl, persist: ttl.is_none() };
        let request = StoreRequest::Set {
            key: Bytes::copy_from_slice(key.as_bytes()),
            options,
            value: Bytes::copy_from_slice(value),
        };
        store.handle_request(now, ConnId(1), 1, request);
        while store.poll_output().is_some() {}
    }

    #[test]
    fn pages_cover_every_key_without_touching_counters() {
        let mut store = Store::new(StoreConfig::default(), 7);
        let now = Now::at(1_000);
        for i in 0..25 {
            set(&mut store, now, &format!("user:{i}"), format!("v{i}").as_bytes(), None);
        }
        set(&mut store, now, "other", b"x", Some(10));
        let before = store.stats();
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = store.key_page(now, cursor, "user:*", 10);
            assert!(page.keys.len() <= 10);
            seen.extend(page.keys.iter().map(|k| String::from_utf8_lossy(&k.key).into_owned()));
            cursor = page.next_cursor;
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 25);
        assert_eq!(store.stats(), before, "a page is not an access");
        let other = store.key_page(now, 0, "other", 10);
        assert_eq!(other.keys.len(), 1);
        assert_eq!(other.keys[0].ttl_ms, Some(10_000));
        assert_eq!(other.keys[0].value_head, Bytes::from_static(b"x"));
        // Past its deadline the key is not listed (and not removed either).
        assert!(store.key_page(now.plus(10_000), 0, "other", 10).keys.is_empty());
        assert_eq!(store.stats().keys, before.keys);
    }

    #[test]
    fn a_key_too_costly_to_match_is_skipped_not_stalled_on() {
        let mut store = Store::new(StoreConfig::default(), 1);
        let now = Now::at(0);
        set(&mut store, now, &"a".repeat(60_000), b"v", None);
        set(&mut store, now, "b", b"v", None);
        // About 30,000 × 30,000 steps for the long key: far past one page's budget.
        let pattern = format!("*{}b*", "a".repeat(30_000));
        let (mut cursor, mut skipped, mut pages) = (0, 0, 0);
        loop {
            let page = store.key_page(now, cursor, &pattern, 10);
            assert!(page.keys.is_empty());
            (cursor, skipped, pages) = (page.next_cursor, skipped + page.skipped, pages + 1);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!((skipped, pages), (1, 1));
    }

    #[test]
    fn value_head_is_bounded() {
        let mut store = Store::new(StoreConfig::default(), 1);
        let now = Now::at(0);
        set(&mut store, now, "big", &vec![7u8; 5000], None);
        let page = store.key_page(now, 0, "*", 0);
        assert_eq!(page.keys[0].value_len, 5000);
        assert_eq!(page.keys[0].value_head.len(), VALUE_HEAD_BYTES);
        assert_eq!(page.next_cursor, 0);
    }
}
