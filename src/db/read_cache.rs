//! On PostgreSQL, each node keeps the answers to `GET /assets/{id}` and to
//! list pages in memory for a short while, so that a read asked again needs
//! no round trip to the database (on two cores the database's processes
//! took more than half the CPU of a read). SQLite needs none of this: its
//! reads run on the calling thread (`inline_reads`).
//!
//! An answer is kept with the *marks* of its account and of the whole node
//! as they were before it was read; it is served only while both are
//! unchanged. A mark moves:
//! - when any node, job or command changes an account's assets: a trigger
//!   on `assets` (migration 20261205000001) notifies channel
//!   [`CHANNEL`] with the account's id when the change commits, and every
//!   node listens ([`spawn_listening`]);
//! - on this node, when a request that may have written answers
//!   ([`ReadCache::forget_everything`], from the HTTP layer): what a client
//!   changed through a node, that node shows at once;
//! - when the listening connection is lost or comes back: while it is
//!   down, nothing is kept or served, and whatever was kept before is
//!   forgotten, since its changes may have been missed.
//!
//! So a change made elsewhere shows here as soon as PostgreSQL delivers its
//! notification (well under a millisecond on one machine), and never later
//! than the cache's time to live even if the connection silently stalls.
//! An answer is never kept from a read that began before a change it may
//! have missed: the mark is taken before the read.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::assets::{AssetRecord, ListFilter};
use super::Pool;
use crate::domain::{AccountId, AssetId};

/// The channel the `assets` trigger notifies, with the account's id.
pub const CHANNEL: &str = "assetd_asset_changes";

/// Bytes of answers kept at most (as [`Answer::weight`] counts them);
/// beyond, the least used are forgotten first.
const CAPACITY_BYTES: u64 = 16 << 20;

/// Accounts' marks, shared by hash: an account's change moves the mark of
/// the others in its slot too, which only costs them a read.
const ACCOUNT_SLOTS: usize = 1024;

/// How long to wait before listening again after the connection failed.
const RELISTEN_PAUSE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ReadCache(Arc<Inner>);

struct Inner {
    answers: moka::sync::Cache<Question, Kept>,
    node_mark: AtomicU64,
    account_marks: Box<[AtomicU64]>,
    slot_hasher: std::hash::RandomState,
    /// False until the first LISTEN, and while the connection is down.
    listening: AtomicBool,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Question {
    Asset(AccountId, AssetId),
    Page {
        account: AccountId,
        filter: ListFilter,
        offset: u64,
        limit: u32,
    },
}

impl Question {
    fn account(&self) -> AccountId {
        match self {
            Question::Asset(account, _) | Question::Page { account, .. } => *account,
        }
    }
}

#[derive(Clone)]
struct Kept {
    mark: Mark,
    answer: Arc<Answer>,
}

// Always behind an Arc: the variants' sizes cost nothing.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Asset(AssetRecord),
    Page(Vec<AssetRecord>, u64),
}

impl Answer {
    /// About the bytes it holds: its records' texts and their fixed part.
    fn weight(&self) -> u32 {
        let record_bytes = |r: &AssetRecord| {
            let texts = [&r.technical_metadata, &r.user_metadata, &r.error_message]
                .into_iter()
                .chain([&r.source_url, &r.hls_error, &r.thumbnail_error])
                .map(|text| text.as_ref().map_or(0, String::len))
                .sum::<usize>();
            let fixed = r.filename.len() + r.file_type.len() + r.sha256.len();
            std::mem::size_of::<AssetRecord>() + fixed + texts
        };
        let bytes = match self {
            Answer::Asset(record) => record_bytes(record),
            Answer::Page(records, _) => records.iter().map(record_bytes).sum(),
        };
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Mark {
    node: u64,
    account: u64,
}

impl ReadCache {
    /// A cache whose answers live at most `ttl`; it serves nothing until
    /// [`spawn_listening`] listens.
    pub fn new(ttl: Duration) -> Self {
        let answers = moka::sync::Cache::builder()
            .max_capacity(CAPACITY_BYTES)
            .weigher(|_: &Question, kept: &Kept| kept.answer.weight())
            .time_to_live(ttl)
            .build();
        Self(Arc::new(Inner {
            answers,
            node_mark: AtomicU64::new(0),
            account_marks: (0..ACCOUNT_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            slot_hasher: std::hash::RandomState::new(),
            listening: AtomicBool::new(false),
        }))
    }

    /// `GET /assets/{id}`: [`super::assets::find`], or its kept answer.
    pub async fn find(
        &self,
        pool: &Pool,
        account: AccountId,
        id: AssetId,
    ) -> sqlx::Result<Option<AssetRecord>> {
        let question = Question::Asset(account, id);
        if let Some(Answer::Asset(record)) = self.kept(&question).as_deref() {
            return Ok(Some(record.clone()));
        }
        let mark = self.mark(account);
        let record = super::assets::find(pool, account, id).await?;
        // An unknown id is not kept: anyone could fill the cache with them.
        if let (Some(mark), Some(record)) = (mark, &record) {
            self.keep(question, mark, Answer::Asset(record.clone()));
        }
        Ok(record)
    }

    /// A list page: [`super::assets::list`], or its kept answer.
    pub async fn list(
        &self,
        pool: &Pool,
        account: AccountId,
        filter: &ListFilter,
        offset: u64,
        limit: u32,
    ) -> sqlx::Result<(Vec<AssetRecord>, u64)> {
        let question = Question::Page {
            account,
            filter: filter.clone(),
            offset,
            limit,
        };
        if let Some(Answer::Page(records, total)) = self.kept(&question).as_deref() {
            return Ok((records.clone(), *total));
        }
        let mark = self.mark(account);
        let (records, total) =
            super::assets::list(pool, None, account, filter, offset, limit).await?;
        if let Some(mark) = mark {
            self.keep(question, mark, Answer::Page(records.clone(), total));
        }
        Ok((records, total))
    }

    /// Whatever this node keeps is forgotten: it may have just changed.
    pub fn forget_everything(&self) {
        self.0.node_mark.fetch_add(1, Ordering::SeqCst);
    }

    fn changed(&self, account: AccountId) {
        self.account_mark(account).fetch_add(1, Ordering::SeqCst);
    }

    fn set_listening(&self, listening: bool) {
        // Forgotten in both directions: while the connection was down (or
        // before it was first up) changes went unheard.
        self.forget_everything();
        self.0.listening.store(listening, Ordering::SeqCst);
        self.forget_everything();
    }

    fn kept(&self, question: &Question) -> Option<Arc<Answer>> {
        let mark = self.mark(question.account())?;
        let kept = self.0.answers.get(question)?;
        (kept.mark == mark).then_some(kept.answer)
    }

    fn keep(&self, question: Question, mark: Mark, answer: Answer) {
        // A mark that moved during the read would make the answer useless.
        if self.mark(question.account()) == Some(mark) {
            let answer = Arc::new(answer);
            self.0.answers.insert(question, Kept { mark, answer });
        }
    }

    /// None while nothing may be kept or served.
    fn mark(&self, account: AccountId) -> Option<Mark> {
        if !self.0.listening.load(Ordering::SeqCst) {
            return None;
        }
        Some(Mark {
            node: self.0.node_mark.load(Ordering::SeqCst),
            account: self.account_mark(account).load(Ordering::SeqCst),
        })
    }

    fn account_mark(&self, account: AccountId) -> &AtomicU64 {
        let slot = self.0.slot_hasher.hash_one(account) as usize % ACCOUNT_SLOTS;
        &self.0.account_marks[slot]
    }
}

/// Listens for the changes of every node (see the module's comment) until
/// `stop`; a lost connection is opened again after a pause, and the cache
/// serves nothing meanwhile.
pub fn spawn_listening(
    cache: ReadCache,
    database_url: String,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Said once per outage, not at every try to listen again.
        let mut said = false;
        loop {
            let listened = tokio::select! {
                listened = listen(&cache, &database_url) => listened,
                () = stop.cancelled() => break,
            };
            cache.set_listening(false);
            // Ok: it listened, then lost the connection (a new outage).
            let error = match listened {
                Ok(()) => Some("connection lost".to_string()),
                Err(e) => (!said).then(|| e.to_string()),
            };
            if let Some(error) = error {
                tracing::warn!(%error, "not listening for other nodes' changes: answers are read afresh until it listens again");
                said = true;
            }
            tokio::select! {
                () = tokio::time::sleep(RELISTEN_PAUSE) => {}
                () = stop.cancelled() => break,
            }
        }
    })
}

/// Listens until the connection is lost (Ok) or cannot be opened (Err).
async fn listen(cache: &ReadCache, database_url: &str) -> sqlx::Result<()> {
    let mut listener = PgListener::connect(database_url).await?;
    // A lost connection must end this listener: changes made before a new
    // one listens are unheard, and only `set_listening` accounts for them.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    cache.set_listening(true);
    tracing::info!("listening for other nodes' changes: reads are answered from memory");
    while let Some(notification) = listener.try_recv().await? {
        match AccountId::parse(notification.payload()) {
            Ok(account) => cache.changed(account),
            // Not one of ours: whatever it meant, read afresh.
            Err(_) => cache.forget_everything(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: AssetId) -> AssetRecord {
        AssetRecord {
            id,
            method: crate::domain::AssetMethod::Direct,
            status: crate::domain::AssetStatus::Ready,
            kind: crate::domain::AssetKind::Image,
            filename: "a.png".into(),
            file_type: "image/png".into(),
            size_bytes: 1,
            sha256: String::new(),
            duration_seconds: None,
            technical_metadata: None,
            error_message: None,
            user_metadata: None,
            source_url: None,
            hls_status: None,
            hls_error: None,
            thumbnail_status: None,
            thumbnail_error: None,
            created_at: 0,
        }
    }

    fn kept_asset(cache: &ReadCache, account: AccountId, id: AssetId) -> bool {
        cache.kept(&Question::Asset(account, id)).is_some()
    }

    #[test]
    fn an_answer_is_served_only_while_its_marks_stand() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let (account, other) = (AccountId::new(), AccountId::new());
        let id = AssetId::new();
        let keep = |cache: &ReadCache| {
            let mark = cache.mark(account);
            if let Some(mark) = mark {
                cache.keep(
                    Question::Asset(account, id),
                    mark,
                    Answer::Asset(record(id)),
                );
            }
        };

        // Not listening yet: nothing kept.
        keep(&cache);
        assert!(!kept_asset(&cache, account, id));
        cache.set_listening(true);
        keep(&cache);
        assert!(kept_asset(&cache, account, id));
        // Another account's question never finds it.
        assert!(!kept_asset(&cache, other, id));

        // The account changed (a notification), or this node wrote.
        cache.changed(account);
        assert!(!kept_asset(&cache, account, id));
        keep(&cache);
        cache.forget_everything();
        assert!(!kept_asset(&cache, account, id));

        // A read that began before a change is not kept.
        let mark = cache.mark(account).unwrap();
        cache.changed(account);
        cache.keep(
            Question::Asset(account, id),
            mark,
            Answer::Asset(record(id)),
        );
        assert!(!kept_asset(&cache, account, id));

        // The connection lost: nothing served, and nothing from before
        // comes back with it.
        keep(&cache);
        cache.set_listening(false);
        assert!(!kept_asset(&cache, account, id));
        cache.set_listening(true);
        assert!(!kept_asset(&cache, account, id));
    }
}
