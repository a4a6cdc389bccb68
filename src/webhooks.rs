//! Webhook endpoints: the rules for making one (a URL the SSRF guard takes,
//! known event types, a bounded number per account, a fresh secret), shared
//! by `POST /v1.3/webhooks` and `assetd webhooks add`. What is delivered is
//! `assets::events` (the outbox) and `jobs/webhook.rs` (the delivery).

use anyhow::bail;
use rand::RngCore;

use crate::assets::events::taken_by;
use crate::assets::EventType;
use crate::config::WebhooksCommand;
use crate::db::{self, webhooks::WebhookRow, Pool};
use crate::domain::AccountId;
use crate::fetch::{FetchError, UrlFetcher};

/// At most this many endpoints per account.
pub const MAX_PER_ACCOUNT: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the {0} parameter is missing")]
    Missing(&'static str),
    #[error("the {name} parameter is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// The URL's address is one the guard refuses (as for URL uploads).
    #[error("{0}")]
    NotAllowed(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Makes an endpoint of `account` for `url`, taking `events` (all when None).
/// The row holds the secret: show it to its owner once.
pub async fn create(
    pool: &Pool,
    fetcher: &UrlFetcher,
    account: AccountId,
    url: Option<&str>,
    events: Option<&[String]>,
) -> Result<WebhookRow, CreateError> {
    let raw_url = url.ok_or(CreateError::Missing("url"))?;
    // The same guard as URL uploads: no private address unless allowed. A
    // name is resolved, and checked, again at every delivery.
    let url = fetcher.parse(raw_url).map_err(|e| match e {
        FetchError::NotAllowed(message) => CreateError::NotAllowed(message),
        other => CreateError::Invalid {
            name: "url",
            // The error says it in a sentence of its own; the reason is a clause.
            reason: other.to_string().trim_end_matches('.').to_string(),
        },
    })?;
    let events = match events {
        None => EventType::ALL.to_vec(),
        Some([]) => {
            return Err(CreateError::Invalid {
                name: "events",
                reason: "it must name at least one event".into(),
            })
        }
        Some(names) => names
            .iter()
            .map(|name| {
                EventType::parse(name).ok_or_else(|| CreateError::Invalid {
                    name: "events",
                    reason: format!(
                        "'{name}' is not one of {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if db::webhooks::list(pool, account).await?.len() >= MAX_PER_ACCOUNT {
        return Err(CreateError::Invalid {
            name: "url",
            reason: format!("an account may have at most {MAX_PER_ACCOUNT} webhooks"),
        });
    }
    let mut secret = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut secret);
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    let row = WebhookRow {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        account_id: account.as_string(),
        url: url.to_string(),
        secret: format!("whsec_{}", hex::encode(secret)),
        events: serde_json::to_string(&names).expect("a list of names serialises"),
        created_at: db::now_millis(),
    };
    db::webhooks::insert(pool, &row).await?;
    Ok(row)
}

/// `assetd webhooks add|list|remove`.
pub async fn run(command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Add {
            account,
            url,
            events,
            allow_private_urls,
            data_dir,
        } => {
            let pool = db::open(&data_dir).await?;
            let account = account_named(&pool, &account).await?;
            let fetcher = UrlFetcher::new(allow_private_urls, std::time::Duration::from_secs(10))?;
            let row = create(&pool, &fetcher, account, Some(&url), events.as_deref()).await?;
            println!("{}", row.id);
            println!("{}", row.secret);
        }
        WebhooksCommand::List { account, data_dir } => {
            let pool = db::open(&data_dir).await?;
            let account = account_named(&pool, &account).await?;
            println!("{:<35}  {:<40}  events", "id", "url");
            for row in db::webhooks::list(&pool, account).await? {
                let events: Vec<&str> = taken_by(&row).into_iter().map(EventType::as_str).collect();
                println!("{:<35}  {:<40}  {}", row.id, row.url, events.join(","));
            }
        }
        WebhooksCommand::Remove {
            id,
            account,
            data_dir,
        } => {
            let pool = db::open(&data_dir).await?;
            let account = account_named(&pool, &account).await?;
            if !db::webhooks::delete(&pool, account, &id).await? {
                bail!("account has no webhook {id}");
            }
            println!("removed {id}");
        }
    }
    Ok(())
}

/// The account of this name (as `assetd keys create --account` made it).
async fn account_named(pool: &Pool, name: &str) -> anyhow::Result<AccountId> {
    match db::keys::find_account(pool, name.trim()).await? {
        Some(account) => Ok(account),
        None => bail!(
            "there is no account named '{name}' (make one with `assetd keys create --account`)"
        ),
    }
}
