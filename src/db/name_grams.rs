//! A filename filter's exact count from an index of assetd's own
//! (migration 20261203000004), the same on SQLite and PostgreSQL.
//!
//! An account's documents are numbered (`doc`, never reused) and cut into
//! blocks of 2^16. For each trigram of the folded names and each block, one
//! row of `name_grams` holds the trigram's postings: for each position in a
//! name where it occurs, the set of the block's documents (a roaring bitmap
//! of the low 16 bits). A needle of L characters occurs in a name at
//! position p when its trigram i occurs at p + i for every i, so its matches
//! in a block are the union over p of the intersections of those sets: a
//! few AND and OR of bitsets per block, reading L - 2 rows per block. A
//! needle of 2 characters is the start of a trigram wherever it occurs
//! (names are indexed with two end marks after them): the union of every
//! trigram that starts with it. Each character a name holds, and its kind,
//! are rows of their own (position 0): a needle of 1 character reads its
//! character's, and kinds are ANDed in.
//!
//! FTS5 and pg_trgm find the same documents but then walk each match (FTS5
//! decodes a position list per match and trigram; pg_trgm reads and
//! rechecks each match's row): 20-45 ms and 170 ms for 125,000 matches of
//! 1 M, against 1-6 ms here (docs/ARCHITECTURE.md).
//!
//! Writers do not touch the postings: the triggers of every insert, delete,
//! rename and new kind append a row to `name_changes` (a few hundred bytes,
//! where rewriting the postings would cost kilobytes per trigram), and
//! [`fold`] applies them in batches, in order, deleting them in the same
//! transaction. A count reads the postings and the account's unfolded
//! changes in one statement (one snapshot) and applies the changes on top,
//! so it is exact whether or not a fold has run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::time::Duration;

use roaring::RoaringBitmap;
use tokio_util::sync::CancellationToken;

use super::inline_reads::InlineReads;
use super::{Dialect, Pool, Statement};
use crate::domain::{AccountId, AssetKind};

/// Documents per block: 2^16, so that a document within its block is the
/// low half of a roaring bitmap's values (one container, at most 8 KiB).
const BLOCK_BITS: u32 = 16;

/// The start of a kind's key among the trigrams: a control character,
/// which no name (nor needle) holds, so no trigram or prefix of a needle
/// reaches it.
const KIND_KEY: &str = "\u{2}";

/// The start of the key of a character that a name holds (anywhere): a
/// needle of 1 character reads one row per block, not every trigram that
/// starts with it (all of them, for a digit: 30 ms at 1 M).
const CHARACTER_KEY: &str = "\u{3}";

/// Two of these end every name as it is indexed: a name of 1 or 2
/// characters then has trigrams too, and a needle of 2 characters is the
/// start of a trigram wherever it occurs (`ab` at the end of `xab` is the
/// start of `ab\u{1}`). A control character: no name or needle holds it.
const END: char = '\u{1}';

/// Changes applied per fold transaction.
pub const FOLD_BATCH: i64 = 4096;

/// How long a server waits, after a fold found little to do, before it
/// looks again. Counts stay exact meanwhile: they apply what is not folded.
const FOLD_PAUSE: Duration = Duration::from_millis(250);

/// PostgreSQL's advisory lock of the fold: one node folds at a time
/// (another's fold of the same rows would overwrite it).
const FOLD_LOCK: i64 = 0x6e61_6d65_6772_616d; // "namegram"

/// A block's postings of one key: for each position in a name, the
/// documents of the block that hold the key there.
#[derive(Debug, Default, Clone, PartialEq)]
struct Postings(BTreeMap<u16, RoaringBitmap>);

impl Postings {
    fn decode(bytes: &[u8]) -> io::Result<Self> {
        let frames = Encoded::parse(bytes)?.0;
        let positions = frames
            .into_iter()
            .map(|(position, body)| Ok((position, RoaringBitmap::deserialize_from(body)?)))
            .collect::<io::Result<_>>()?;
        Ok(Self(positions))
    }

    /// `[position u16][length u32][roaring bitmap]` for each position, all
    /// little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (position, documents) in &self.0 {
            out.extend_from_slice(&position.to_le_bytes());
            let length = u32::try_from(documents.serialized_size()).expect("at most 8 KiB");
            out.extend_from_slice(&length.to_le_bytes());
            documents
                .serialize_into(&mut out)
                .expect("writing to a Vec does not fail");
        }
        out
    }

    fn insert(&mut self, position: u16, document: u32) {
        self.0.entry(position).or_default().insert(document);
    }

    fn remove(&mut self, position: u16, document: u32) {
        if let Some(documents) = self.0.get_mut(&position) {
            documents.remove(document);
            if documents.is_empty() {
                self.0.remove(&position);
            }
        }
    }
}

/// Postings as stored, each position's bitmap decoded only when a count
/// needs it: a trigram that occurs at many positions is mostly read past.
struct Encoded<'a>(BTreeMap<u16, &'a [u8]>);

impl<'a> Encoded<'a> {
    /// Reads the frames that [`Postings::encode`] writes.
    fn parse(mut bytes: &'a [u8]) -> io::Result<Self> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidData, "truncated postings");
        let mut frames = BTreeMap::new();
        while !bytes.is_empty() {
            let head = bytes.get(..6).ok_or_else(invalid)?;
            let position = u16::from_le_bytes([head[0], head[1]]);
            let length = u32::from_le_bytes([head[2], head[3], head[4], head[5]]) as usize;
            frames.insert(position, bytes.get(6..6 + length).ok_or_else(invalid)?);
            bytes = &bytes[6 + length..];
        }
        Ok(Self(frames))
    }

    /// The documents in which a needle starts somewhere, given its
    /// trigrams' postings: this one's (its first), then each next one's.
    /// Only the positions at which every trigram lines up are decoded.
    fn starts_of(&self, next: &[Option<&Encoded<'_>>]) -> io::Result<RoaringBitmap> {
        let mut found = RoaringBitmap::new();
        'starts: for (&start, first) in &self.0 {
            let mut following = Vec::with_capacity(next.len());
            for (i, postings) in next.iter().enumerate() {
                let at = u16::try_from(i + 1)
                    .ok()
                    .and_then(|i| start.checked_add(i))
                    .and_then(|position| postings.as_ref()?.0.get(&position));
                match at {
                    Some(body) => following.push(*body),
                    None => continue 'starts,
                }
            }
            let mut here = RoaringBitmap::deserialize_from(*first)?;
            for body in following {
                here &= RoaringBitmap::deserialize_from(body)?;
                if here.is_empty() {
                    continue 'starts;
                }
            }
            found |= here;
        }
        Ok(found)
    }

    /// Every document with the key, at any position.
    fn documents(&self) -> io::Result<RoaringBitmap> {
        let mut all = RoaringBitmap::new();
        for body in self.0.values() {
            all |= RoaringBitmap::deserialize_from(*body)?;
        }
        Ok(all)
    }
}

/// A document's block and its place in it.
fn split(doc: i64) -> (i64, u32) {
    (doc >> BLOCK_BITS, (doc & ((1 << BLOCK_BITS) - 1)) as u32)
}

/// The trigrams of a folded name as indexed (ended by two [`END`]s).
fn name_trigrams(name: &str) -> Vec<(u16, String)> {
    trigrams(&format!("{name}{END}{END}"))
}

/// The trigrams of a needle (or, through [`name_trigrams`], of a name), by
/// character, with their positions.
fn trigrams(name: &str) -> Vec<(u16, String)> {
    let chars: Vec<char> = name.chars().collect();
    chars
        .windows(3)
        .enumerate()
        .filter_map(|(i, gram)| Some((u16::try_from(i).ok()?, gram.iter().collect())))
        .collect()
}

fn kind_key(kind: &str) -> String {
    format!("{KIND_KEY}{kind}")
}

fn character_key(character: char) -> String {
    format!("{CHARACTER_KEY}{character}")
}

/// The keys a document of this kind and name is filed under, with their
/// positions: its kind's, its characters' (position 0), its trigrams.
fn keys_of(kind: &str, name: &str) -> Vec<(String, u16)> {
    let mut keys = vec![(kind_key(kind), 0)];
    let characters: BTreeSet<char> = name.chars().collect();
    keys.extend(characters.into_iter().map(|c| (character_key(c), 0)));
    keys.extend(name_trigrams(name).into_iter().map(|(p, g)| (g, p)));
    keys
}

/// The keys a count of this needle reads.
enum NeedleKeys {
    /// 3 characters or more: its trigrams, to line up.
    Trigrams(Vec<String>),
    /// 2 characters: every trigram that starts with them, as a range.
    Prefix(String),
    /// 1 character: its key.
    Character(String),
}

impl NeedleKeys {
    fn of(needle: &str) -> Self {
        let mut characters = needle.chars();
        if let (Some(only), None) = (characters.next(), characters.next()) {
            return Self::Character(character_key(only));
        }
        let grams: Vec<String> = trigrams(needle).into_iter().map(|(_, g)| g).collect();
        if grams.is_empty() {
            Self::Prefix(needle.to_string())
        } else {
            Self::Trigrams(grams)
        }
    }
}

/// A row of `name_changes`: an asset's document as it was (none for an
/// insert) and as it is (none for a delete), as the triggers record them.
#[derive(sqlx::FromRow)]
struct Change {
    seq: i64,
    account_id: String,
    doc: i64,
    old_kind: Option<String>,
    old_name: Option<String>,
    new_kind: Option<String>,
    new_name: Option<String>,
}

/// A postings row's key.
type RowKey = (String, String, i64);

/// Applies up to `limit` of the oldest changes to the postings and deletes
/// them, in one transaction; how many it applied. On PostgreSQL a node that
/// finds another folding does nothing.
pub async fn fold(pool: &Pool, limit: i64) -> sqlx::Result<usize> {
    // Nothing to fold takes no write lock.
    let pending: Option<(i64,)> = sqlx::query_as("SELECT seq FROM name_changes LIMIT 1")
        .fetch_optional(pool)
        .await?;
    if pending.is_none() {
        return Ok(0);
    }
    let dialect = Dialect::of(pool);
    let mut tx = super::begin_write(pool).await?;
    if dialect == Dialect::Postgres {
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
            .bind(FOLD_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(0);
        }
    }
    let changes: Vec<Change> = sqlx::query_as(
        "SELECT seq, account_id, doc, old_kind, old_name, new_kind, new_name
           FROM name_changes ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;

    // Each change as removals of its old keys and additions of its new
    // ones, in the changes' order.
    let mut edits: Vec<(RowKey, u16, u32, bool)> = Vec::new();
    for change in &changes {
        let (block, document) = split(change.doc);
        let mut edit = |kind: &Option<String>, name: &Option<String>, add: bool| {
            if let (Some(kind), Some(name)) = (kind, name) {
                for (key, position) in keys_of(kind, name) {
                    let row = (change.account_id.clone(), key, block);
                    edits.push((row, position, document, add));
                }
            }
        };
        edit(&change.old_kind, &change.old_name, false);
        edit(&change.new_kind, &change.new_name, true);
    }

    let mut rows = load(&mut tx, edits.iter().map(|(row, ..)| row)).await?;
    for (row, position, document, add) in edits {
        let postings = rows.entry(row).or_default();
        if add {
            postings.insert(position, document);
        } else {
            postings.remove(position, document);
        }
    }
    for ((account_id, gram, block), postings) in &rows {
        let statement = if postings.0.is_empty() {
            sqlx::query("DELETE FROM name_grams WHERE account_id = $1 AND gram = $2 AND block = $3")
        } else {
            sqlx::query(
                "INSERT INTO name_grams (account_id, gram, block, postings) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, gram, block) DO UPDATE SET postings = excluded.postings",
            )
        };
        let mut statement = statement.bind(account_id).bind(gram).bind(*block);
        if !postings.0.is_empty() {
            statement = statement.bind(postings.encode());
        }
        statement.execute(&mut *tx).await?;
    }
    // Exactly the rows read: on PostgreSQL a change with a lower number may
    // commit after this read, and is folded next time.
    for seqs in changes.chunks(500) {
        let mut delete = Statement::new("DELETE FROM name_changes WHERE seq IN ");
        delete.push_list(seqs.iter().map(|change| change.seq));
        delete.query().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(changes.len())
}

/// The postings rows with these keys (those that exist), read by account
/// and block.
async fn load<'k>(
    tx: &mut super::Transaction<'_>,
    keys: impl Iterator<Item = &'k RowKey>,
) -> sqlx::Result<HashMap<RowKey, Postings>> {
    let mut by_block: BTreeMap<(&str, i64), HashSet<&str>> = BTreeMap::new();
    for (account_id, gram, block) in keys {
        by_block
            .entry((account_id, *block))
            .or_default()
            .insert(gram);
    }
    let mut rows = HashMap::new();
    for ((account_id, block), grams) in by_block {
        let grams: Vec<&str> = grams.into_iter().collect();
        for some in grams.chunks(500) {
            let mut select =
                Statement::new("SELECT gram, postings FROM name_grams WHERE account_id = ");
            select
                .push_bind(account_id)
                .push(" AND block = ")
                .push_bind(block)
                .push(" AND gram IN ")
                .push_list(some.iter().copied());
            for (gram, bytes) in select
                .query_as::<(String, Vec<u8>)>()
                .fetch_all(&mut **tx)
                .await?
            {
                let postings =
                    Postings::decode(&bytes).map_err(|e| sqlx::Error::Decode(e.into()))?;
                rows.insert((account_id.to_string(), gram, block), postings);
            }
        }
    }
    Ok(rows)
}

/// Folds on this server until `stop`: at once while there is a backlog
/// (a migrated database, a bulk load), else every [`FOLD_PAUSE`].
pub fn spawn_folding(pool: Pool, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = match fold(&pool, FOLD_BATCH).await {
                Ok(folded) if folded as i64 == FOLD_BATCH => Duration::ZERO,
                Ok(_) => FOLD_PAUSE,
                Err(e) => {
                    tracing::warn!(error = %e, "could not fold filename changes into their index");
                    FOLD_PAUSE * 4
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => break,
            }
        }
    })
}

/// Documents per chunk of `doc_times` (migration 20261204000001), whose
/// rows bound when a chunk's documents were created: 2^9. A page reads the
/// rows of the chunks that hold it (at most a few of 512), and a search
/// reads every chunk's bounds (1,953 rows at 1 M).
const CHUNK_BITS: u32 = 9;

/// A page of a name filter's matches, and how many there are.
#[derive(Debug)]
pub struct NamePage {
    pub total: u64,
    /// The account's numbers for the documents that hold the page (and
    /// those ranked with them), ascending: `assets.doc` on PostgreSQL, the
    /// low 36 bits of `asset_search.doc` on SQLite.
    pub documents: Vec<i64>,
    /// How many of those documents' rows, newest first, come before the page.
    pub skip: u64,
}

/// The matches of the account's assets of these kinds (None: any) whose
/// folded names hold the (non-empty) needle: their number, and the
/// documents of the page at `offset`. On SQLite (`inline`) the statement
/// is read by rusqlite on the same blocking thread that computes the
/// matches: through sqlx each of its rows (128 postings of 16 KiB for an
/// 8-trigram needle at 1 M) would cross a channel and be copied.
pub async fn search(
    pool: &Pool,
    inline: Option<&InlineReads>,
    account: AccountId,
    needle: &str,
    kinds: Option<&[AssetKind]>,
    (offset, limit): (u64, u64),
) -> sqlx::Result<NamePage> {
    let statement = statement(account, needle, kinds);
    let source = match inline {
        Some(reads) => Source::Inline(statement, reads.clone()),
        None => Source::Read(statement.query_as().fetch_all(pool).await?),
    };
    let (needle, kinds) = (needle.to_string(), kinds.map(<[AssetKind]>::to_vec));
    // Off the async workers: a needle with many trigrams over many blocks
    // is milliseconds of CPU.
    tokio::task::spawn_blocking(move || {
        let rows: Vec<SearchRow> = match source {
            Source::Read(rows) => rows,
            Source::Inline(statement, reads) => statement
                .rows_inline(&reads)
                .map_err(super::statement::inline_error)?,
        };
        let found = Found::of(&rows, &needle, kinds.as_deref()).map_err(decode)?;
        let times = chunk_times(&rows).map_err(decode)?;
        Ok(found.page(&times, offset, limit))
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("searching a name's matches: {e}")))?
}

/// A search's rows: read through sqlx already, or to read inline.
enum Source {
    Read(Vec<SearchRow>),
    Inline(Statement, InlineReads),
}

fn decode(e: io::Error) -> sqlx::Error {
    sqlx::Error::Decode(e.into())
}

/// One row of a search's statement, by part: 0, a postings row (block,
/// key, postings); 1, an unfolded change (seq, doc, new name, new kind);
/// 2, every chunk's bounds (as text, see [`chunk_times`]).
type SearchRow = (
    i64,
    i64,
    i64,
    Option<String>,
    Option<Vec<u8>>,
    Option<String>,
);

/// The one statement (one snapshot) that reads the postings a search of
/// the needle needs, the account's unfolded changes and its chunks' bounds.
fn statement(account: AccountId, needle: &str, kinds: Option<&[AssetKind]>) -> Statement {
    let mut keys: Vec<String> = kinds
        .unwrap_or_default()
        .iter()
        .map(|kind| kind_key(kind.as_str()))
        .collect();
    let mut statement = Statement::new(
        "SELECT CAST(0 AS BIGINT), block, CAST(0 AS BIGINT), gram, postings, CAST(NULL AS TEXT)
           FROM name_grams WHERE account_id = ",
    );
    statement.push_bind(account.as_string()).push(" AND (");
    match NeedleKeys::of(needle) {
        NeedleKeys::Trigrams(grams) => keys.extend(grams),
        NeedleKeys::Character(key) => keys.push(key),
        NeedleKeys::Prefix(start) => {
            // Every string of 3 characters that starts with `start` sorts
            // between it and it followed by the last characters there are
            // (by bytes, as SQLite's BINARY and PostgreSQL's "C" compare).
            let last = format!("{start}{}", String::from(char::MAX).repeat(2));
            statement
                .push("gram >= ")
                .push_bind(start)
                .push(" AND gram <= ")
                .push_bind(last);
            if !keys.is_empty() {
                statement.push(" OR ");
            }
        }
    }
    if !keys.is_empty() {
        keys.sort_unstable();
        keys.dedup();
        statement.push("gram IN ").push_list(keys);
    }
    statement
        .push(")")
        .push(
            " UNION ALL SELECT 1, seq, doc, new_name, NULL, new_kind
                FROM name_changes WHERE account_id = ",
        )
        .push_bind(account.as_string())
        .push(
            " UNION ALL SELECT 2, 0, 0, string_agg(chunk || ' ' || first_created_at || ' '
                                                 || last_created_at, ' '), NULL, NULL
                FROM doc_times WHERE account_id = ",
        )
        .push_bind(account.as_string());
    statement
}

/// When a chunk's documents were created: no earlier than `first`, no
/// later than `last`.
#[derive(Debug)]
struct ChunkTimes {
    chunk: i64,
    first: i64,
    last: i64,
}

/// The chunks' bounds from a search's rows (one text of `chunk first last`
/// triples: 1,953 rows at 1 M cost more to hand over one by one than to
/// parse).
fn chunk_times(rows: &[SearchRow]) -> io::Result<Vec<ChunkTimes>> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "chunk bounds");
    let Some(text) = rows
        .iter()
        .find(|row| row.0 == 2)
        .and_then(|row| row.3.as_deref())
    else {
        return Ok(Vec::new());
    };
    let numbers: Vec<i64> = text
        .split_ascii_whitespace()
        .map(|n| n.parse().map_err(|_| invalid()))
        .collect::<io::Result<_>>()?;
    if !numbers.len().is_multiple_of(3) {
        return Err(invalid());
    }
    Ok(numbers
        .chunks_exact(3)
        .map(|c| ChunkTimes {
            chunk: c[0],
            first: c[1],
            last: c[2],
        })
        .collect())
}

/// A search's matching documents, by block.
struct Found(BTreeMap<i64, RoaringBitmap>);

impl Found {
    /// The matches from a search's rows.
    fn of(rows: &[SearchRow], needle: &str, kinds: Option<&[AssetKind]>) -> io::Result<Self> {
        let needle_keys = NeedleKeys::of(needle);
        let mut blocks: BTreeMap<i64, HashMap<&str, Encoded<'_>>> = BTreeMap::new();
        let mut changes = Vec::new();
        // Unordered: an ORDER BY would copy every postings row through a sorter.
        for (part, number, doc, text, bytes, kind) in rows {
            match (part, text, bytes) {
                (0, Some(key), Some(bytes)) => {
                    blocks
                        .entry(*number)
                        .or_default()
                        .insert(key, Encoded::parse(bytes)?);
                }
                (1, name, _) => changes.push((*number, *doc, name.as_deref(), kind.as_deref())),
                _ => {}
            }
        }

        let wanted =
            |kind: &str| kinds.is_none_or(|kinds| kinds.iter().any(|k| k.as_str() == kind));
        let mut found: BTreeMap<i64, RoaringBitmap> = BTreeMap::new();
        for (block, postings) in &blocks {
            let mut here = match &needle_keys {
                NeedleKeys::Trigrams(grams) => {
                    let mut lists = grams.iter().map(|g| postings.get(g.as_str()));
                    let Some(Some(first)) = lists.next() else {
                        continue;
                    };
                    let next: Vec<Option<&Encoded<'_>>> = lists.collect();
                    first.starts_of(&next)?
                }
                NeedleKeys::Character(key) => match postings.get(key.as_str()) {
                    Some(encoded) => encoded.documents()?,
                    None => continue,
                },
                // Anywhere in any trigram that starts with it.
                NeedleKeys::Prefix(start) => {
                    let mut found = RoaringBitmap::new();
                    for (key, encoded) in postings {
                        // Kinds' and characters' keys start with a control
                        // character, which no needle holds.
                        if key.starts_with(start.as_str()) {
                            found |= encoded.documents()?;
                        }
                    }
                    found
                }
            };
            if let Some(kinds) = kinds {
                let mut of_kinds = RoaringBitmap::new();
                for kind in kinds {
                    if let Some(documents) = postings.get(kind_key(kind.as_str()).as_str()) {
                        of_kinds |= documents.documents()?;
                    }
                }
                here &= of_kinds;
            }
            found.insert(*block, here);
        }
        changes.sort_unstable_by_key(|&(seq, ..)| seq);
        for (_, doc, name, kind) in changes {
            let (block, document) = split(doc);
            let here = found.entry(block).or_default();
            here.remove(document);
            if let (Some(name), Some(kind)) = (name, kind) {
                if name.contains(needle) && wanted(kind) {
                    here.insert(document);
                }
            }
        }
        Ok(Self(found))
    }

    /// The page at `offset` of the matches ranked newest first, given when
    /// each chunk's documents were created. Chunks are ranked by their
    /// last time; chunks whose times overlap are one group, whose matches
    /// only their rows can rank; groups that do not overlap rank whole. The
    /// page is in the groups that hold ranks `offset..offset + limit`.
    /// Only the chunks ranked before the page's end are counted.
    fn page(&self, chunks: &[ChunkTimes], offset: u64, limit: u64) -> NamePage {
        let total: u64 = self.0.values().map(RoaringBitmap::len).sum();
        if offset >= total {
            return NamePage {
                total,
                documents: Vec::new(),
                skip: 0,
            };
        }
        let matches_in = |chunk: i64| {
            let (block, start) = split(chunk << CHUNK_BITS);
            self.0.get(&block).map_or(0, |documents| {
                documents.range_cardinality(start..start + (1 << CHUNK_BITS))
            })
        };
        let mut ranked: Vec<&ChunkTimes> = chunks.iter().collect();
        ranked.sort_unstable_by_key(|times| std::cmp::Reverse((times.last, times.first)));

        let end = offset.saturating_add(limit).min(total);
        let (mut before, mut page_chunks, mut skip) = (0u64, Vec::new(), 0u64);
        let mut chunks = ranked.into_iter().peekable();
        while before < end {
            let Some(times) = chunks.next() else {
                // A matching document whose chunk has no bounds (the
                // triggers and migration give each one): rank them all.
                return NamePage {
                    total,
                    documents: self.documents_in(None),
                    skip: offset,
                };
            };
            let mut matches = matches_in(times.chunk);
            if matches == 0 {
                continue;
            }
            let (mut first, mut group) = (times.first, vec![times.chunk]);
            // Later chunks' last times are no later: one that reaches this
            // group's first time may hold a match that ranks inside it.
            while let Some(next) = chunks.next_if(|next| next.last >= first) {
                let more = matches_in(next.chunk);
                if more > 0 {
                    first = first.min(next.first);
                    group.push(next.chunk);
                    matches += more;
                }
            }
            if before + matches > offset {
                if page_chunks.is_empty() {
                    skip = offset - before;
                }
                page_chunks.extend(group);
            }
            before += matches;
        }
        NamePage {
            total,
            documents: self.documents_in(Some(page_chunks)),
            skip,
        }
    }

    /// The matching documents, ascending, of these chunks (None: all).
    fn documents_in(&self, chunks: Option<Vec<i64>>) -> Vec<i64> {
        let Some(mut chunks) = chunks else {
            let mut documents = Vec::new();
            for (&block, here) in &self.0 {
                documents.extend(
                    here.iter()
                        .map(|document| (block << BLOCK_BITS) + i64::from(document)),
                );
            }
            return documents;
        };
        chunks.sort_unstable();
        let mut documents = Vec::new();
        for chunk in chunks {
            let (block, start) = split(chunk << CHUNK_BITS);
            if let Some(here) = self.0.get(&block) {
                let within = here.range(start..start + (1 << CHUNK_BITS));
                documents
                    .extend(within.map(|document| (block << BLOCK_BITS) + i64::from(document)));
            }
        }
        documents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_survive_encoding() {
        let mut postings = Postings::default();
        for document in (0..70_000u32).step_by(7) {
            postings.insert((document % 5) as u16, document & 0xffff);
        }
        postings.insert(300, 65_535);
        let decoded = Postings::decode(&postings.encode()).unwrap();
        assert_eq!(decoded, postings);
        assert!(Postings::decode(&postings.encode()[..10]).is_err());
    }

    #[test]
    fn trigrams_are_by_character() {
        assert_eq!(
            trigrams("été.mp4"),
            [(0, "été"), (1, "té."), (2, "é.m"), (3, ".mp"), (4, "mp4")]
                .map(|(p, g)| (p, g.to_string()))
        );
        assert!(trigrams("ab").is_empty());
        assert_eq!(
            name_trigrams("ab"),
            [(0, "ab\u{1}"), (1, "b\u{1}\u{1}")].map(|(p, g)| (p, g.to_string()))
        );
    }

    /// The matches of a needle computed from postings are exactly the
    /// names that hold it: repeated trigrams, overlapping occurrences,
    /// a trigram present at the wrong distance.
    #[test]
    fn a_needle_starts_where_each_trigram_follows_the_one_before() {
        let names = [
            "aaaa",
            "aaa",
            "abcabc",
            "abc-bca",
            "xabcx",
            "bcab",
            "ab",
            "cabca",
            "été été",
        ];
        let mut postings: HashMap<String, Postings> = HashMap::new();
        for (document, name) in names.iter().enumerate() {
            for (position, gram) in trigrams(name) {
                postings
                    .entry(gram)
                    .or_default()
                    .insert(position, document as u32);
            }
        }
        let stored: HashMap<&str, Vec<u8>> = postings
            .iter()
            .map(|(gram, postings)| (gram.as_str(), postings.encode()))
            .collect();
        let rows: HashMap<&str, Encoded<'_>> = stored
            .iter()
            .map(|(gram, bytes)| (*gram, Encoded::parse(bytes).unwrap()))
            .collect();
        for needle in [
            "aaa", "aaaa", "abca", "bcab", "cabc", "abc", "été ", "té é", "bca",
        ] {
            let grams: Vec<Option<&Encoded<'_>>> = trigrams(needle)
                .iter()
                .map(|(_, g)| rows.get(g.as_str()))
                .collect();
            let found = match grams.split_first() {
                Some((Some(first), next)) => first.starts_of(next).unwrap(),
                _ => RoaringBitmap::new(),
            };
            let expected: RoaringBitmap = names
                .iter()
                .enumerate()
                .filter(|(_, name)| name.contains(needle))
                .map(|(document, _)| document as u32)
                .collect();
            assert_eq!(found, expected, "{needle}");
        }
    }

    /// Pages ranked through chunk bounds come out exactly as sorting every
    /// match by time would: chunks in time order, out of order, with
    /// overlapping and equal bounds, pages across group edges and deep.
    #[test]
    fn a_page_holds_exactly_the_ranks_it_is_asked_for() {
        let chunk = 1i64 << CHUNK_BITS;
        // Documents 0..6 chunks; a document's time decides its rank. Chunk
        // 3 is older than chunks 1-2 (out of order), chunk 4 overlaps 5.
        let time = |doc: i64| -> i64 {
            let (c, i) = (doc / chunk, doc % chunk);
            match c {
                3 => 10 + i,
                4 => 5_000 + 2 * i,
                5 => 5_000 + 2 * i + 1,
                c => 1_000 * c + i,
            }
        };
        let docs: Vec<i64> = (0..6 * chunk)
            .filter(|d| d % 7 == 0 || d % 11 == 0)
            .collect();
        let mut bounds = BTreeMap::new();
        for &d in &docs {
            let b = bounds.entry(d / chunk).or_insert((i64::MAX, i64::MIN));
            *b = (b.0.min(time(d)), b.1.max(time(d)));
        }
        // A delete leaves its chunk's bounds wider than its documents.
        bounds.get_mut(&1).unwrap().1 += 3_000;
        // A chunk whose documents are all deleted, ranked first.
        bounds.insert(9, (0, i64::MAX));
        let chunks: Vec<ChunkTimes> = bounds
            .into_iter()
            .map(|(chunk, (first, last))| ChunkTimes { chunk, first, last })
            .collect();
        let mut found = Found(BTreeMap::new());
        for &d in &docs {
            let (block, document) = split(d);
            found.0.entry(block).or_default().insert(document);
        }
        let mut ranked = docs.clone();
        ranked.sort_by_key(|&d| std::cmp::Reverse(time(d)));
        for (offset, limit) in [
            (0, 50),
            (37, 50),
            (100, 1),
            (250, 100),
            (400, 50),
            (1_000, 5),
        ] {
            let page = found.page(&chunks, offset, limit);
            assert_eq!(page.total, docs.len() as u64);
            let mut rows = page.documents.clone();
            rows.sort_by_key(|&d| std::cmp::Reverse(time(d)));
            let got: Vec<i64> = rows
                .into_iter()
                .skip(page.skip as usize)
                .take(limit as usize)
                .collect();
            let expected: Vec<i64> = ranked
                .iter()
                .copied()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            assert_eq!(got, expected, "offset {offset}");
            if offset == 0 {
                // Only the newest group (chunks 4 and 5, which overlap)
                // is read, not the chunk without matches ranked above it.
                assert!(page.documents.iter().all(|d| [4, 5].contains(&(d / chunk))));
            }
            if offset >= page.total {
                assert!(page.documents.is_empty());
            }
        }
    }
}
